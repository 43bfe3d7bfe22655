"""The ie-core CPU device: oneDNN kernels, with the core's numpy reference for everything else.

Registered under the ``ie_core.backends`` entry-point group; :func:`ie_core_backends`
returns :class:`CPUBackend` (device name ``"CPU"``).

Networks are compiled at load (:mod:`ie_backend_cpu.compiler`): bias, scale,
residual-add and activation layers are fused into convolutions and MatMuls as
oneDNN post-ops, runs of native layers become one native program that keeps
oneDNN's blocked layouts between layers and reuses the buffers of a
per-request arena. Native (oneDNN): Convolution, GroupConvolution (incl.
depthwise), MatMul, MaxPool, AvgPool, global ReduceMean, Add, Subtract,
Multiply, Divide, Maximum, Minimum, Relu, Sigmoid, Tanh, Clamp, Elu, Exp, Log,
Sqrt, Abs, Gelu, Swish, HSwish, HSigmoid, SoftPlus, Mish, PRelu, Softmax and
Reshape/Squeeze/Unsqueeze. Every other layer, and any of those on non-f32
tensors or with attributes oneDNN cannot express, runs an extra kernel
provider's kernel (``kernels.KERNEL_PROVIDERS``) or the reference
implementation (exec_type ``"ref_numpy"``).
"""

import os
import threading

from ie_core.backend import (
    Backend,
    BackendRequest,
    CompiledModel,
    ConfigOption,
    hookimpl,
    yes_no,
)

from ._preload import preload as _preload

_DNNL_PATH = _preload()

from . import _ext  # noqa: E402  (after the preload)
from .compiler import CompiledGraph  # noqa: E402
from .extension import CPUExtensions, include_dir  # noqa: E402
from .kernels import KERNEL_PROVIDERS, NATIVE_TYPES, kernel_for  # noqa: E402

__version__ = "0.1.0"
__all__ = [
    "CPUBackend",
    "KERNEL_PROVIDERS",
    "NATIVE_TYPES",
    "dnnl_version",
    "ie_core_backends",
    "include_dir",
    "kernel_for",
    "streams_for",
    "threads_for",
]


def dnnl_version():
    """The version of the oneDNN library in use, ``"major.minor.patch"``."""
    return _ext.dnnl_version()


def _non_negative_int(value):
    return value.isdigit()


def _streams(value):
    return value in ("", "CPU_THROUGHPUT_AUTO", "CPU_THROUGHPUT_NUMA") or (value.isdigit() and int(value) > 0)


def _cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _numa_nodes():
    try:
        return max(1, sum(1 for d in os.listdir("/sys/devices/system/node") if d[4:].isdigit() and d.startswith("node")))
    except OSError:
        return 1


# EXCLUSIVE_ASYNC_REQUESTS=YES serialises inferences of every compiled model that set it.
_EXCLUSIVE = threading.Lock()


class CPUBackend(Backend):
    """The CPU device.

    Configuration keys (``IEPlugin.set_config`` / ``load(config=...)``):

    ``PERF_COUNT`` (YES/NO)
        measure per-layer real/cpu times for ``get_perf_counts()``.
    ``CPU_THREADS_NUM`` (non-negative integer; 0 = all cores)
        OpenMP threads each inference uses: set with ``omp_set_num_threads`` on
        the executing thread around every oneDNN call and when primitives are created.
        With the default (0), a native program of fewer than
        ``compiler.SMALL_PROGRAM_MACS`` multiply-accumulates (a tiny network) runs
        on one thread: forking a team would cost more than its layers.
    ``SINGLE_THREAD`` (YES/NO)
        YES runs every kernel on one thread (same as ``CPU_THREADS_NUM=1``).
    ``CPU_THROUGHPUT_STREAMS`` (positive integer, ``CPU_THROUGHPUT_AUTO``, ``CPU_THROUGHPUT_NUMA``)
        how many inferences of the network run at once, each on
        ``threads // streams`` threads (at least 1); further requests wait for a
        free stream. This keeps concurrent requests from oversubscribing the
        cores (OpenMP teams slow down badly when they do). The default is one
        stream per infer request, up to the number of cores, so that
        ``load(net, num_requests=N)`` runs N requests at once; AUTO picks one
        stream per 4 cores (at least 1), NUMA one per NUMA node.
    ``CPU_BIND_THREAD`` (YES/NO/NUMA/HYBRID_AWARE)
        accepted and ignored: pinning of OpenMP threads is decided by the OpenMP
        runtime at process start (``OMP_PROC_BIND``/``OMP_PLACES``) and cannot be
        changed per network.
    ``EXCLUSIVE_ASYNC_REQUESTS`` (YES/NO)
        YES runs the inferences of such networks one at a time (process-wide lock).

    ``INFERENCE_PRECISION_HINT`` (f32/bf16)
        ``f32`` (default) computes in f32. ``bf16`` runs convolutions and MatMuls
        with constant weights on bf16 weights and activations (f32 accumulation;
        activations between them stay bf16, network outputs are f32). Fastest on
        CPUs with avx512_bf16 or AMX; oneDNN emulates it elsewhere.

    ``DYN_BATCH_ENABLED``/``DYN_BATCH_LIMIT`` are not accepted: kernels are built
    for the network's static shapes.
    """

    device_name = "CPU"
    version = __version__
    description = f"ie-core CPU device (oneDNN {_ext.dnnl_version()}, f32/bf16)"
    config_options = {
        **Backend.config_options,
        "CPU_THREADS_NUM": ConfigOption(
            "0", _non_negative_int, "OpenMP threads per inference (0 = all cores)", "a non-negative integer"
        ),
        "SINGLE_THREAD": yes_no("run every kernel on one thread"),
        "CPU_THROUGHPUT_STREAMS": ConfigOption(
            "",
            _streams,
            "inferences run at once; threads are divided among them (default: one per request, up to the cores)",
            "a positive integer, CPU_THROUGHPUT_AUTO or CPU_THROUGHPUT_NUMA",
        ),
        "CPU_BIND_THREAD": ConfigOption(
            "YES",
            lambda v: v in ("YES", "NO", "NUMA", "HYBRID_AWARE"),
            "accepted, no effect: thread pinning is the OpenMP runtime's (OMP_PROC_BIND)",
            "YES/NO/NUMA/HYBRID_AWARE",
        ),
        "EXCLUSIVE_ASYNC_REQUESTS": yes_no("run inferences one at a time"),
        "INFERENCE_PRECISION_HINT": ConfigOption(
            "f32",
            lambda v: v in ("f32", "bf16"),
            "precision of convolutions and MatMuls: f32 (exact) or bf16 (bf16 weights and activations, f32 "
            "accumulation; outputs stay f32)",
            "f32/bf16",
        ),
    }

    dnnl_version = staticmethod(dnnl_version)

    def __init__(self, target="", registry=None):
        super().__init__(target, registry)
        self._extensions = CPUExtensions()

    def add_extension(self, path):
        """Load a custom-op library (``IEPlugin.add_cpu_extension``); the ABI is ``include/ie_core_cpu_extension.h``."""
        self._extensions.add(path)

    def extension_ops(self):
        return self._extensions.ops()

    def compile(self, graph, config, num_requests):
        return CPUCompiledModel(graph, self.validate_config(config), num_requests)


def streams_for(config, num_requests=1):
    """How many inferences run at once under ``config`` (a validated config dict) with ``num_requests`` requests."""
    streams = config.get("CPU_THROUGHPUT_STREAMS", "")
    if streams == "":
        return max(1, min(num_requests, _cpu_count()))
    if streams == "CPU_THROUGHPUT_AUTO":
        return max(1, _cpu_count() // 4)
    if streams == "CPU_THROUGHPUT_NUMA":
        return _numa_nodes()
    return int(streams)


def threads_for(config, num_requests=1):
    """The OpenMP thread count one inference uses under ``config`` (a validated config dict)."""
    threads = int(config.get("CPU_THREADS_NUM", "0")) or _ext.default_threads()
    if config.get("SINGLE_THREAD") == "YES":
        threads = 1
    return max(1, threads // streams_for(config, num_requests))


class CPUCompiledModel(CompiledModel):
    """A network compiled once (fusions, native programs, memory plan; see compiler.py).

    Requests share its (immutable) ``executor``, a :class:`~ie_backend_cpu.compiler.CompiledGraph`,
    and each owns the working memory of its programs. At most ``streams``
    inferences run at once, each with ``threads`` OpenMP threads; the native
    programs release the GIL while they compute.
    """

    def __init__(self, graph, config, num_requests=1):
        self.config = dict(config)
        self.profile = self.config.get("PERF_COUNT") == "YES"
        self.threads = threads_for(self.config, num_requests)
        self.streams = streams_for(self.config, num_requests)
        self._streams = threading.BoundedSemaphore(self.streams)
        self._requests, self._limited = 0, False
        self.exclusive = self.config.get("EXCLUSIVE_ASYNC_REQUESTS") == "YES"
        self.precision = self.config.get("INFERENCE_PRECISION_HINT", "f32")
        auto_threads = self.config.get("CPU_THREADS_NUM", "0") == "0" and self.config.get("SINGLE_THREAD") != "YES"
        self.executor = CompiledGraph(graph, self.threads, self.precision, auto_threads)

    def create_request(self):
        self._requests += 1
        # with no more requests than streams the limit cannot bind: skip the semaphore
        self._limited = self._requests > self.streams
        return CPURequest(self)

    def run(self, state, inputs):
        """One inference on a request's ``state``: (outputs, per-layer times or None)."""
        if self.exclusive:
            with _EXCLUSIVE, self._streams:
                return self.executor.run(state, inputs, self.profile)
        if self._limited:
            with self._streams:
                return self.executor.run(state, inputs, self.profile)
        return self.executor.run(state, inputs, self.profile)


class CPURequest(BackendRequest):
    """A request: its programs' arenas and the layer times of its last inference.

    The output arrays it returns view its own memory and are rewritten by its next inference.
    """

    def __init__(self, model):
        self.model = model
        self.state = model.executor.new_state()
        self.times = None

    def infer(self, inputs):
        outputs, self.times = self.model.run(self.state, inputs)
        return outputs

    def perf_counts(self):
        return self.model.executor.perf_counts(self.times)


@hookimpl
def ie_core_backends():
    return [CPUBackend]
