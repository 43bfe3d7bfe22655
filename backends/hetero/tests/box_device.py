"""BOX: a test-only device with memory of its own (bytearrays) that runs Add, MatMul and Relu.

Its requests take and return only tensors of its memory, so HETERO must move every
tensor crossing a cut with the allocators' hooks; :data:`TRACE` counts the copies
into and out of BOX memory and the transfers between two BOX devices (``BOX.0`` and
``BOX.1`` are devices with memories of their own). Each model runs its requests
one at a time on its own queue (a TaskExecutor), as a device with one command
queue does. ``BOX_OUTPUT_PRECISION=FP16`` stores float outputs as float16, as an
FP16 device hands them over. Register it with ``IEPlugin(..., plugin_dirs=PLUGIN_DIR)``.
"""

import threading
from pathlib import Path

import numpy as np

from ie_core.backend import (
    SOURCE_TYPES,
    Allocator,
    Backend,
    BackendRequest,
    Capability,
    CompiledModel,
    ConfigOption,
    GraphExecutor,
    InferenceError,
    Kernel,
    LayerSupport,
    NotSupportedError,
    Stage,
    TaskExecutor,
    Tensor,
    reference_kernel,
)

#: The op types BOX runs (IRs spell Relu "ReLU").
OPS = ("Add", "MatMul", "ReLU")

#: The ``plugin_dirs`` that registers BOX.
PLUGIN_DIR = str(Path(__file__).parent / "box_plugin")


class Trace:
    """What the BOX devices did: ``counts`` of copyin/copyout/transfer, the ``configs`` they compiled
    with ((device, config) pairs) and ``kernel_hook(device, layer)``, called before every kernel."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        self.counts = {"copyin": 0, "copyout": 0, "transfer": 0}
        self.configs = []
        self.kernel_hook = None

    def count(self, what):
        with self._lock:
            self.counts[what] += 1


TRACE = Trace()


def view(tensor):
    """The device's own access to a tensor of its memory (what its kernels compute on)."""
    return np.frombuffer(tensor.handle, tensor.dtype).reshape(tensor.shape)


class BoxMemory(Allocator):
    """The memory of one BOX device: tensors whose handle is a bytearray."""

    def __init__(self, device):
        self.device = device

    def allocate(self, shape, dtype):
        return Tensor(shape, dtype, self, bytearray(int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize))

    def copyin(self, dst, array):
        TRACE.count("copyin")
        view(dst)[...] = array

    def copyout(self, src):
        TRACE.count("copyout")
        return view(src).copy()

    def transfer(self, dst, src):
        if not isinstance(src.allocator, BoxMemory):
            return False
        TRACE.count("transfer")
        dst.handle[:] = src.handle
        return True


def refused(graph):
    """The layers BOX cannot run: name -> why."""
    return {
        n.name: f"BOX runs only {', '.join(OPS)} on f32 tensors"
        for n in graph.nodes
        if n.type not in SOURCE_TYPES + ("Result",) and not n.is_constant()
        and (n.type.lower() not in {op.lower() for op in OPS} or any(d != np.float32 for d in n.output_dtypes))
    }


def box_kernel(node, device):
    compute = reference_kernel(node, fallback=False).run

    def run(*inputs):
        if TRACE.kernel_hook is not None:
            TRACE.kernel_hook(device, node.name)
        return compute(*inputs)

    return Kernel(run, f"box_{node.type.lower()}")


class BoxBackend(Backend):
    device_name = "BOX"
    version = "0.0.1"
    description = "test-only device with memory of its own (Add, MatMul, Relu)"
    capabilities = frozenset({Capability.DEVICE_MEMORY})
    config_options = {
        **Backend.config_options,
        "BOX_OUTPUT_PRECISION": ConfigOption(
            "FP32", lambda v: v in ("FP32", "FP16"), "precision of float outputs", "FP32/FP16"
        ),
    }

    def query(self, graph, config=None):
        why = refused(graph)
        if not why:
            return super().query(graph, config)
        return {
            n.name: LayerSupport(False, False, "", reason=why[n.name]) if n.name in why
            else LayerSupport(True, True, "FP32")
            for n in graph.nodes
            if n.type != "Result"
        }

    def compile(self, graph, config, num_requests):
        why = refused(graph)
        if why:
            raise NotSupportedError(f"{self.full_name} cannot run layers {sorted(why)}: {next(iter(why.values()))}")
        config = self.validate_config(config)
        TRACE.configs.append((self.full_name, config))
        return BoxModel(graph, config, self.full_name)


class BoxModel(CompiledModel):
    def __init__(self, graph, config, device):
        self.memory = BoxMemory(device)
        self.executor = GraphExecutor(graph, lambda n: box_kernel(n, device))
        self.profile = config["PERF_COUNT"] == "YES"
        self.half = config["BOX_OUTPUT_PRECISION"] == "FP16"
        self.queue = TaskExecutor(f"{device}-queue")

    def allocator(self):
        return self.memory

    def create_request(self):
        return BoxRequest(self)

    def layer_support(self):
        return self.executor.support

    def release(self):
        self.queue.close()

    def to_device(self, array):
        """A kernel's result as a tensor of the device's memory (written by the device, not copied in)."""
        dtype = np.float16 if self.half and array.dtype == np.float32 else array.dtype
        tensor = self.memory.allocate(array.shape, dtype)
        view(tensor)[...] = array
        return tensor


class BoxRequest(BackendRequest):
    def __init__(self, model):
        self.model = model
        self.state = model.executor.new_state()
        self.times = None

    def infer(self, inputs):
        model = self.model
        for name, tensor in inputs.items():
            if not isinstance(tensor, Tensor) or not model.memory.owns(tensor):
                raise InferenceError(f"{model.memory.device} input {name}: not a tensor of its memory: {tensor!r}")
        outputs, self.times = model.executor.run(
            {name: view(tensor) for name, tensor in inputs.items()}, model.profile, self.state
        )
        return {name: model.to_device(array) for name, array in outputs.items()}

    def stages(self):
        return [Stage(self.model.queue, self.infer)]

    def perf_counts(self):
        return self.model.executor.perf_counts(self.times)

