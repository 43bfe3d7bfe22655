"""The ie-core CPU device: oneDNN kernels, with the core's numpy reference for everything else.

Registered under the ``ie_core.backends`` entry-point group; :func:`ie_core_backends`
returns :class:`CPUBackend` (device name ``"CPU"``).

Networks are compiled at load (:mod:`ie_backend_cpu.compiler`): bias, scale,
residual-add and activation layers are fused into convolutions and MatMuls as
oneDNN post-ops, runs of native layers become one native program that keeps
oneDNN's blocked layouts between layers and reuses the buffers of a
per-stream arena. Native (oneDNN): Convolution, GroupConvolution (incl.
depthwise), MatMul, MaxPool, AvgPool, global ReduceMean, Add, Subtract,
Multiply, Divide, Maximum, Minimum, Relu, Sigmoid, Tanh, Clamp, Elu, Exp,
Sqrt, Abs, Gelu, Swish, HSwish, HSigmoid, SoftPlus, Mish, PRelu, Softmax and
Reshape/Squeeze/Unsqueeze; ScaledDotProductAttention and LayerNorm (MVN over
the last axis) run the kernels of :mod:`ie_backend_cpu.transformer` inside the
programs. Every other layer, and any of those on non-f32 tensors or with
attributes the kernels cannot express, runs an extra kernel provider's kernel
(``kernels.KERNEL_PROVIDERS``), a native per-layer kernel
(``kernels.STANDALONE_PROVIDERS``: transformer and data-movement layers) or the
reference implementation (exec_type ``"ref_numpy"``).
"""

import os
import threading

from ie_core.backend import (
    SOURCE_TYPES,
    Backend,
    BackendRequest,
    Capability,
    CompiledModel,
    ConfigOption,
    GraphExecutor,
    RequestError,
    Stage,
    TaskExecutor,
    hookimpl,
    start_stages,
    yes_no,
)

from ._preload import bound_spinning as _bound_spinning
from ._preload import preload as _preload

SPIN_POLICY = _bound_spinning()  # before anything loads libgomp
_DNNL_PATH = _preload()

from . import _ext  # noqa: E402  (after the preload)
from .compiler import CompiledGraph  # noqa: E402
from .policy import macs  # noqa: E402
from .extension import CPUExtensions, include_dir  # noqa: E402
from .kernels import KERNEL_PROVIDERS, NATIVE_TYPES, kernel_for  # noqa: E402
from .sharing import PROCESS_CPUS, process_cpu_count  # noqa: E402

__version__ = "0.1.0"
__all__ = [
    "BF16_ISAS",
    "CPUBackend",
    "KERNEL_PROVIDERS",
    "NATIVE_TYPES",
    "SPIN_POLICY",
    "compute_precision",
    "cpu_isa",
    "dnnl_version",
    "ie_core_backends",
    "include_dir",
    "kernel_for",
    "native_isa",
    "stream_masks",
    "streams_for",
    "threads_for",
]


def dnnl_version():
    """The version of the oneDNN library in use, ``"major.minor.patch"``."""
    return _ext.dnnl_version()


def cpu_isa():
    """oneDNN's effective instruction set (``"avx2"``, ``"avx512_core_bf16"``, ...): the CPU's,
    capped by the ``ONEDNN_MAX_CPU_ISA`` environment variable when it is set."""
    return _ext.cpu_isa()


#: oneDNN instruction sets with native bf16 arithmetic (avx512_bf16, AMX)
BF16_ISAS = frozenset({"avx512_core_bf16", "avx512_core_fp16", "avx512_core_amx", "avx512_core_amx_fp16"})


def compute_precision(config):
    """What convolutions and MatMuls compute in under ``config``: bf16 when ``INFERENCE_PRECISION_HINT``
    asks for it and :func:`cpu_isa` has native bf16, else f32. Like OpenVINO's CPU plugin, which keeps f32
    on other CPUs: oneDNN's emulated bf16 is slower than f32 there."""
    if config.get("INFERENCE_PRECISION_HINT", "f32") == "bf16" and cpu_isa() in BF16_ISAS:
        return "bf16"
    return "f32"


def native_isa():
    """The instruction set the backend's own kernels run on (``"avx512_core"``, ``"avx2"`` or
    ``"sse2"``): the widest they were compiled for that :func:`cpu_isa` includes."""
    return _ext.native_isa()


def _non_negative_int(value):
    return value.isdigit()


def _streams(value):
    return value in ("", "CPU_THROUGHPUT_AUTO", "CPU_THROUGHPUT_NUMA") or (value.isdigit() and int(value) > 0)


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
        ``policy.SMALL_PROGRAM_MACS`` multiply-accumulates (a tiny network) runs
        on one thread: forking a team would cost more than its layers.
    ``SINGLE_THREAD`` (YES/NO)
        YES runs every kernel on one thread (same as ``CPU_THREADS_NUM=1``).
    ``CPU_THROUGHPUT_STREAMS`` (positive integer, ``CPU_THROUGHPUT_AUTO``, ``CPU_THROUGHPUT_NUMA``)
        how many inferences of the network run at once, each on
        ``threads // streams`` threads (at least 1) and its own working memory;
        further requests queue for a free stream. This keeps concurrent requests
        from oversubscribing the cores (OpenMP teams slow down badly when they
        do). The default is one stream per infer request, up to the number of
        cores, so that ``load(net, num_requests=N)`` runs N requests at once; AUTO
        picks streams of at most 4 threads, at least min(cores, 4) of them (as
        many as cores on small machines, one per 4 cores on large ones: what
        reaches a machine's throughput with that many requests in flight); NUMA
        one per NUMA node.
    ``CPU_BIND_THREAD`` (YES/NO/NUMA/HYBRID_AWARE; default NO)
        NO leaves placement to the OS. YES pins each stream's threads to CPUs of
        their own, one CPU per thread (HYBRID_AWARE does the same: there is no
        core-type scheduling); NUMA keeps each stream's threads on one NUMA node.
        Asynchronous inferences run on the stream's worker thread, which is
        pinned with its OpenMP team; a synchronous ``infer()`` runs on the
        calling thread, which is never pinned (only its OpenMP team threads are).
        Pin only when the process has its CPUs to itself: every process numbers
        the CPUs of its affinity mask from the first, so two pinned processes
        stack their threads on the same CPUs.
    ``EXCLUSIVE_ASYNC_REQUESTS`` (YES/NO)
        YES runs the inferences of such networks one at a time (process-wide lock).

    ``INFERENCE_PRECISION_HINT`` (f32/bf16)
        ``f32`` (default) computes in f32. ``bf16`` runs convolutions, MatMuls
        with constant weights and the attention's products on bf16 weights and
        activations (f32 accumulation; network outputs are f32), except a
        convolution reading a network input of at most 4 channels. Only on
        CPUs with avx512_bf16 or AMX (:data:`BF16_ISAS`); elsewhere the network
        runs in f32, as OpenVINO's does (emulated bf16 would be slower).

    ``DYN_BATCH_ENABLED``/``DYN_BATCH_LIMIT`` are not accepted: kernels are built
    for the network's static shapes.

    Sharing the machine (README, "Sharing the machine"): threads are not pinned
    unless ``CPU_BIND_THREAD`` asks; GNU OpenMP's idle threads spin briefly, then
    sleep (:data:`SPIN_POLICY`; ``GOMP_SPINCOUNT``/``OMP_WAIT_POLICY`` set by the
    user win); an inference whose OpenMP team has several threads starts only when
    that many of the process's CPUs are free of other running inferences, of any
    network (:mod:`ie_backend_cpu.sharing`). ``ONEDNN_MAX_CPU_ISA`` caps the
    instruction set of oneDNN and of the backend's own kernels (:func:`cpu_isa`).
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
            "NO",
            lambda v: v in ("YES", "NO", "NUMA", "HYBRID_AWARE"),
            "pin each stream's threads: to a CPU each (YES, HYBRID_AWARE), to a NUMA node (NUMA), not at all (NO)",
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

    capabilities = frozenset({Capability.EXTENSIONS})
    dnnl_version = staticmethod(dnnl_version)

    def __init__(self, target="", registry=None, device_id=""):
        super().__init__(target, registry, device_id)
        self._extensions = CPUExtensions()

    def add_extension(self, path):
        """Load a custom-op library (``IEPlugin.add_cpu_extension``); the ABI is ``include/ie_core_cpu_extension.h``."""
        self._extensions.add(path)

    def extension_ops(self):
        return self._extensions.ops()

    def compile(self, graph, config, num_requests):
        return CPUCompiledModel(graph, self.validate_config(config), num_requests)

    def query(self, graph, config=None):
        """The layer support of the plan :meth:`compile` makes (without creating its streams)."""
        return compiled_graph(graph, self.validate_config(config), 1).support


def compiled_graph(graph, config, num_requests):
    """The :class:`~ie_backend_cpu.compiler.CompiledGraph` of ``graph`` under ``config`` (a validated config dict)."""
    auto_threads = config.get("CPU_THREADS_NUM", "0") == "0" and config.get("SINGLE_THREAD") != "YES"
    return CompiledGraph(graph, threads_for(config, num_requests), compute_precision(config), auto_threads)


def streams_for(config, num_requests=1):
    """How many inferences run at once under ``config`` (a validated config dict) with ``num_requests`` requests."""
    streams = config.get("CPU_THROUGHPUT_STREAMS", "")
    if streams == "":
        return max(1, min(num_requests, process_cpu_count()))
    if streams == "CPU_THROUGHPUT_AUTO":
        return max(min(process_cpu_count(), 4), process_cpu_count() // 4)
    if streams == "CPU_THROUGHPUT_NUMA":
        return max(1, len(_numa_node_cpus()))
    return int(streams)


def threads_for(config, num_requests=1):
    """The OpenMP thread count one inference uses under ``config`` (a validated config dict)."""
    threads = int(config.get("CPU_THREADS_NUM", "0")) or _ext.default_threads()
    if config.get("SINGLE_THREAD") == "YES":
        threads = 1
    return max(1, threads // streams_for(config, num_requests))


def stream_masks(config, streams, threads):
    """Per stream, the CPU set of each of its ``threads`` team threads under ``CPU_BIND_THREAD``
    (a tuple of ``threads`` tuples of CPU numbers), or None where its threads are not pinned.

    YES and HYBRID_AWARE give stream k its own ``threads`` CPUs of the process's
    affinity set, one per thread (wrapping around when streams × threads exceed
    it); NUMA lets the threads of stream k float over the CPUs of NUMA node
    k mod nodes; NO pins nothing.
    """
    mode = config.get("CPU_BIND_THREAD", "NO")
    if mode == "NO":
        return [None] * streams
    cpus = sorted(os.sched_getaffinity(0))
    if mode == "NUMA":
        nodes = [tuple(sorted(set(node) & set(cpus))) for node in _numa_node_cpus()]
        nodes = [node for node in nodes if node] or [tuple(cpus)]
        return [(nodes[k % len(nodes)],) * threads for k in range(streams)]
    return [tuple((cpus[(k * threads + t) % len(cpus)],) for t in range(threads)) for k in range(streams)]


def _numa_node_cpus():
    """The CPU numbers of each NUMA node (empty where the kernel does not tell)."""
    nodes = []
    try:
        names = [d for d in os.listdir("/sys/devices/system/node") if d.startswith("node") and d[4:].isdigit()]
    except OSError:
        return nodes
    for name in sorted(names, key=lambda d: int(d[4:])):
        try:
            with open(f"/sys/devices/system/node/{name}/cpulist") as f:
                nodes.append(_cpu_list(f.read()))
        except (OSError, ValueError):
            continue
    return nodes


def _cpu_list(text):
    cpus = []
    for part in text.strip().split(","):
        if part:
            lo, _, hi = part.partition("-")
            cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


#: A network of native programs only with fewer multiply-accumulates than this (element counts for
#: other layers) takes less time than handing its inference to a stream's thread and back: an
#: asynchronous inference of a request that owns its stream runs on the calling thread (Stage.inline).
INLINE_MACS = 250_000

# per thread: the (masks, master) of its last _bind
_bound = threading.local()


def _bind(masks, master):
    """Pin the calling thread's OpenMP team (and the thread itself if ``master``) to ``masks``, once."""
    key = (masks, master)
    if getattr(_bound, "key", None) != key:
        _ext.bind_threads(masks, master)
        _bound.key = key


class CPUCompiledModel(CompiledModel):
    """A network compiled once (fusions, native programs, memory plan; see compiler.py) and its streams.

    Requests share its (immutable) ``executor``, the core's
    :class:`~ie_core.backend.GraphExecutor` running the steps of ``plan`` (a
    :class:`~ie_backend_cpu.compiler.CompiledGraph`).
    Working memory belongs to the :class:`Stream` objects: ``streams`` of them, each
    running one inference at a time with ``threads`` OpenMP threads (pinned per
    ``CPU_BIND_THREAD``). With no more requests than streams, each request owns a
    stream and its asynchronous inferences run on the stream's worker thread;
    otherwise the requests' inferences queue on ``pool``, one worker thread per
    stream. The native programs release the GIL while they compute.
    """

    def __init__(self, graph, config, num_requests=1):
        self.config = dict(config)
        self.profile = self.config.get("PERF_COUNT") == "YES"
        self.threads = threads_for(self.config, num_requests)
        self.exclusive = self.config.get("EXCLUSIVE_ASYNC_REQUESTS") == "YES"
        self.plan = compiled_graph(graph, self.config, num_requests)
        self.executor = GraphExecutor(graph, steps=self.plan.steps, static_counts=self.plan.static_counts,
                                      support=self.plan.support)
        # the OpenMP team an inference leads (tiny networks' programs run on one thread)
        self.team = max((p.threads for p in self.plan.programs), default=self.threads)
        count = min(streams_for(self.config, num_requests), max(1, num_requests))
        self.streams = [Stream(self, masks) for masks in stream_masks(self.config, count, self.threads)]
        self.shared = num_requests > count
        # only native programs: an extension's or the reference's kernel may take any time
        self.inline = len(self.plan.steps) == len(self.plan.programs) and sum(
            macs(n) for n in graph.nodes
            if n.type not in SOURCE_TYPES + ("Result",) and not n.is_constant()) < INLINE_MACS
        masks = [stream.masks for stream in self.streams]
        self.pool = TaskExecutor("cpu-stream", len(self.streams), lambda k: _pin_worker(masks[k]))
        self._requests = 0

    def create_request(self):
        if self.shared:
            return CPURequest(self, None)
        if self._requests >= len(self.streams):
            raise RequestError(f"the network was compiled for {len(self.streams)} request(s)")
        self._requests += 1
        return CPURequest(self, self.streams[self._requests - 1])

    def layer_support(self):
        return self.plan.support

    def release(self):
        self.pool.close()
        for stream in self.streams:
            stream.executor.close()

    def run(self, stream, inputs):
        """One inference on ``stream``'s memory, once its team's CPUs are free: (outputs, per-layer times or None)."""
        if self.exclusive:
            with _EXCLUSIVE, PROCESS_CPUS.held(self.team):
                return self.executor.run(inputs, self.profile, stream.state)
        cpus = PROCESS_CPUS.acquire(self.team)
        try:
            return self.executor.run(inputs, self.profile, stream.state)
        finally:
            PROCESS_CPUS.release(cpus)

    def run_pooled(self, request, inputs):
        """Run ``request`` on the stream of the calling pool worker, or queue it for the first free one and wait."""
        if self.pool.is_current():
            return request.run_on(self.streams[TaskExecutor.worker_index()], inputs)
        done = _Done()
        start_stages([Stage(self.pool, lambda x: self.run_pooled(request, x))], inputs, done)
        return done.result()


def _pin_worker(masks):
    if masks is not None:
        _bind(masks, True)


class Stream:
    """One inference at a time: the arenas of the network's programs, and the CPUs its threads run on.

    ``masks`` is its part of :func:`stream_masks` (None: not pinned). Its worker
    thread (``executor``), started at the first asynchronous inference, pins itself and
    its OpenMP team there; a synchronous inference runs on the caller's thread, of
    which only the OpenMP team threads are pinned.
    """

    def __init__(self, model, masks):
        self.masks = masks
        self.state = model.executor.new_state()
        self.executor = TaskExecutor("cpu-stream", 1, lambda _: _pin_worker(masks))


class CPURequest(BackendRequest):
    """A request: its stream (None: it shares the streams) and the layer times of its last inference.

    The output arrays it returns view its stream's memory when it owns the stream
    (rewritten by its next inference) and are copies otherwise.
    """

    def __init__(self, model, stream):
        self.model = model
        self.stream = stream
        self.times = None

    def infer(self, inputs):
        stream = self.stream
        if stream is None:
            return self.model.run_pooled(self, inputs)
        if stream.masks is not None and not stream.executor.is_current():
            _bind(stream.masks, False)
        return self.run_on(stream, inputs)

    def stages(self):
        if self.stream is None:
            return [Stage(self.model.pool, self.infer)]
        return [Stage(self.stream.executor, self.infer, inline=self.model.inline)]

    def run_on(self, stream, inputs):
        """Run on ``stream``, timing the layers when the model profiles."""
        outputs, self.times = self.model.run(stream, inputs)
        if self.stream is None:
            outputs = {name: value.copy() for name, value in outputs.items()}
        return outputs

    def perf_counts(self):
        return self.model.executor.perf_counts(self.times)


class _Done:
    """``on_done`` of a synchronous inference handed to a stream's thread."""

    def __init__(self):
        self._event = threading.Event()
        self._outputs = self._error = None

    def __call__(self, outputs, error):
        self._outputs, self._error = outputs, error
        self._event.set()

    def result(self):
        self._event.wait()
        if self._error is not None:
            raise self._error
        return self._outputs


@hookimpl
def ie_core_backends():
    return [CPUBackend]
