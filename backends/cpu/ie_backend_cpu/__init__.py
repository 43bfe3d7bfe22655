"""The ie-core CPU device: oneDNN kernels, with the core's numpy reference for everything else.

Registered under the ``ie_core.backends`` entry-point group; :func:`ie_core_backends`
returns :class:`CPUBackend` (device name ``"CPU"``).

Native (oneDNN, f32, plain layouts): Convolution, GroupConvolution (incl.
depthwise), MatMul, MaxPool, AvgPool, Add, Subtract, Multiply, Divide,
Maximum, Minimum, Relu, Sigmoid, Tanh, Clamp, Elu, Exp, Log, Sqrt, Abs, Gelu,
Swish, HSwish, HSigmoid, SoftPlus, Mish, PRelu and Softmax. Every other layer,
and any of those on non-f32 tensors or with attributes oneDNN cannot express,
runs the reference implementation (exec_type ``"ref_numpy"``).
"""

import contextlib
import os
import threading

from ie_core.backend import (
    Backend,
    ConfigOption,
    ExecutorModel,
    GraphExecutor,
    hookimpl,
    yes_no,
)

from ._preload import preload as _preload

_DNNL_PATH = _preload()

from . import _ext  # noqa: E402  (after the preload)
from .kernels import NATIVE_TYPES, kernel_for  # noqa: E402

__version__ = "0.1.0"
__all__ = ["CPUBackend", "NATIVE_TYPES", "dnnl_version", "ie_core_backends", "streams_for", "threads_for"]


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

    ``DYN_BATCH_ENABLED``/``DYN_BATCH_LIMIT`` are not accepted: kernels are built
    for the network's static shapes.
    """

    device_name = "CPU"
    version = __version__
    description = f"ie-core CPU device (oneDNN {_ext.dnnl_version()}, f32)"
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
    }

    dnnl_version = staticmethod(dnnl_version)

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


class CPUCompiledModel(ExecutorModel):
    """A graph with a kernel per node, built once; requests share its (stateless) executor.

    At most ``streams`` inferences run at once, each with ``threads`` OpenMP
    threads; the kernels release the GIL while they compute.
    """

    def __init__(self, graph, config, num_requests=1):
        self.config = dict(config)
        self.threads = threads_for(self.config, num_requests)
        self.streams = streams_for(self.config, num_requests)
        self._streams = threading.BoundedSemaphore(self.streams)
        self.exclusive = self.config.get("EXCLUSIVE_ASYNC_REQUESTS") == "YES"
        consumers = graph.consumers()

        def build(node):
            used = {i for i in range(node.num_outputs) if consumers.get(node.output(i))}
            return kernel_for(node, self.threads, used)

        super().__init__(GraphExecutor(graph, build), self.config)

    def run(self, inputs):
        with _EXCLUSIVE if self.exclusive else contextlib.nullcontext(), self._streams:
            return super().run(inputs)


@hookimpl
def ie_core_backends():
    return [CPUBackend]
