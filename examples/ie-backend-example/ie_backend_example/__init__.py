"""The EXAMPLE device: ie-core's reference ops, and one kernel of its own in C++ (Relu on float32).

A complete backend package in a few lines: a :class:`~ie_core.backend.Backend`
subclass, the ``ie_core_backends`` hook and the entry point in ``pyproject.toml``.
It imports nothing from ie-core but :mod:`ie_core.backend`.
"""

import numpy as np

from ie_core.backend import Backend, ExecutorModel, GraphExecutor, Kernel, get_op, hookimpl, reference_kernel

from . import _kernels

__version__ = "0.1.0"

RELU = get_op("Relu")  # IRs write the type "ReLU"; the op definition is the same


class ExampleBackend(Backend):
    device_name = "EXAMPLE"
    version = __version__
    description = "example backend: numpy reference ops, Relu in C++ (pybind11)"
    api_version = "1.0"

    def compile(self, graph, config, num_requests):
        return ExecutorModel(GraphExecutor(graph, kernel_for), config)


def kernel_for(node):
    """The native Relu for float32 layers, the core's reference for every other layer."""
    if node.op is RELU:
        src = node.inputs[0]
        if src.node.output_dtypes[src.index] == np.float32:
            return Kernel(_kernels.relu, "example_relu_cpp")
    return reference_kernel(node)


@hookimpl
def ie_core_backends():
    return [ExampleBackend]
