"""The REFERENCE device: every layer runs with the core's numpy reference implementation.

It is the oracle the native devices are tested against and needs nothing but numpy.
"""

import functools

from . import __version__
from .backend import Backend, ExecutorModel, GraphExecutor, hookimpl, reference_kernel


class ReferenceBackend(Backend):
    device_name = "REFERENCE"
    version = __version__
    description = "numpy reference implementation of every op (slow, exact; the test oracle)"

    def compile(self, graph, config, num_requests):
        return ExecutorModel(GraphExecutor(graph, functools.partial(reference_kernel, fallback=False)), config)


@hookimpl
def ie_core_backends():
    return [ReferenceBackend]
