"""The public backend API: what a device package implements and may import from ie_core.

A device is a :class:`Backend` subclass. ``compile()`` turns a shape-inferred
:class:`~ie_core.graph.Graph` into a :class:`CompiledModel`, which creates
:class:`BackendRequest` objects that run inferences. A backend that has no
kernel of its own for an op runs the core's numpy reference through
:func:`reference_kernel`; :class:`GraphExecutor` runs a graph from per-node
kernels. Backends are found through the ``ie_core.backends`` entry-point
group (see :mod:`ie_core.hookspecs`).
"""

import queue
import threading
import weakref
from abc import ABC, abstractmethod
from typing import Callable, NamedTuple

from .errors import ConfigError, InferenceError, NotSupportedError
from .execution import GraphExecutor, Kernel, LayerClock, PerfCount, merge_perf_counts, reference_kernel, slot_layout
from .graph import Graph, Node, Output, output_name
from .hookspecs import hookimpl
from .ops import OpContext, OpDef, get_op, registered_ops
from .types import canonical_element_type, to_dtype

__all__ = [
    "Backend",
    "BackendRequest",
    "canonical_element_type",
    "CompiledModel",
    "ConfigOption",
    "ExecutorModel",
    "ExecutorRequest",
    "Graph",
    "GraphExecutor",
    "Kernel",
    "LayerClock",
    "Node",
    "OpContext",
    "OpDef",
    "Output",
    "PerfCount",
    "get_op",
    "hookimpl",
    "merge_perf_counts",
    "output_name",
    "reference_kernel",
    "registered_ops",
    "slot_layout",
    "start_worker",
    "to_dtype",
    "yes_no",
]


class ConfigOption(NamedTuple):
    """A configuration key a backend accepts: its default, a value check and a one-line doc."""

    default: str
    check: Callable[[str], bool]
    doc: str
    expected: str = ""


def yes_no(doc, default="NO"):
    """A YES/NO configuration option."""
    return ConfigOption(default, lambda v: v in ("YES", "NO"), doc, "YES/NO")


class Backend(ABC):
    """A device. Subclasses set ``device_name``, ``version`` and ``description`` and implement :meth:`compile`.

    ``target`` is the part of the device string after ``:`` (e.g. ``"FPGA,CPU"``
    in ``"HETERO:FPGA,CPU"``); ``registry`` is the :class:`~ie_core.plugins.DeviceRegistry`
    that created the backend, for devices that delegate to other devices.
    """

    device_name = ""
    version = "0.0.0"
    description = ""
    config_options = {
        "PERF_COUNT": yes_no("measure per-layer times for get_perf_counts()"),
    }

    def __init__(self, target="", registry=None):
        self.target = target
        self.registry = registry
        self.config = {k: opt.default for k, opt in self.config_options.items()}

    def validate_config(self, config):
        """``config`` merged over the current settings; raises ConfigError for unknown keys or bad values."""
        merged = dict(self.config)
        for key, value in (config or {}).items():
            option = self.config_options.get(key)
            if option is None:
                raise ConfigError(
                    f"[NOT_FOUND] Unsupported property {key} by {self.device_name} plugin; "
                    f"supported keys: {', '.join(sorted(self.config_options))}"
                )
            value = str(value)
            if not option.check(value):
                raise ConfigError(
                    f"Wrong value {value!r} for property key {key}. Expected {option.expected or option.doc}"
                )
            merged[key] = value
        return merged

    def set_config(self, config):
        """Validate and apply configuration keys."""
        self.config = self.validate_config(config)

    def query(self, graph):
        """Names of the layers of ``graph`` this device can run (default: every layer with an op)."""
        return {n.name for n in graph.nodes}

    @abstractmethod
    def compile(self, graph, config, num_requests):
        """Compile a shape-inferred private copy of the network for this device; returns a CompiledModel.

        ``config`` is the validated configuration; ``num_requests`` is how many
        requests the caller creates, whose inferences may run at the same time.
        """

    def add_extension(self, path):
        """Load a library of custom kernels (``IEPlugin.add_cpu_extension``)."""
        raise NotSupportedError(f"add_cpu_extension is not supported by the {self.device_name} device")

    def extension_ops(self):
        """Custom ops loaded with :meth:`add_extension`: op type -> :class:`~ie_core.ops.OpDef`.

        The core uses them, ahead of its own op set, for shape inference and as
        the layers' reference kernels when it loads a network on this device.
        """
        return {}

    def set_initial_affinity(self, network):
        """Assign each layer of an IENetwork to a device (``IEPlugin.set_initial_affinity``)."""
        raise NotSupportedError(
            f"set_initial_affinity method applicable only for HETERO device, not {self.device_name}"
        )


class CompiledModel(ABC):
    """A network compiled for one device, ready to create inference requests."""

    @abstractmethod
    def create_request(self):
        """A new :class:`BackendRequest` with its own working memory."""


class BackendRequest(ABC):
    """One inference request's state on a device."""

    @abstractmethod
    def infer(self, inputs):
        """Run one inference on ``inputs`` (name -> array of the network's shape and dtype).

        Returns name -> array for every network output. The caller copies what it
        keeps, so the arrays may be buffers the request reuses.
        """

    def perf_counts(self):
        """``get_perf_counts()`` of the last inference: layer name -> dict with status,
        exec_type, layer_type, real_time and cpu_time (µs)."""
        return {}

    def start(self, inputs, on_done):
        """Begin an inference without blocking; call ``on_done(outputs, error)`` when it ends.

        The default runs :meth:`infer` on the request's own worker thread
        (:func:`start_worker`), which lives as long as the request, so thread pools of
        the kernels' runtime (e.g. OpenMP teams) are reused from one inference to the
        next. A device with its own queues or threads (OpenCL, CPU streams) overrides this.
        """
        jobs = getattr(self, "_jobs", None)
        if jobs is None:
            jobs = self._jobs = queue.SimpleQueue()
            start_worker(self, jobs)
        jobs.put((inputs, on_done))


def start_worker(owner, jobs):
    """Start a daemon thread that serves ``jobs`` (a :class:`queue.SimpleQueue`) for ``owner``.

    Each job is ``(inputs, on_done)``: the thread calls ``owner.infer(inputs)`` and
    then ``on_done(outputs, None)``, or ``on_done(None, exc)`` if it raised. The thread
    holds only weak references, and ends within a second of ``owner`` or ``jobs``
    being garbage. Several workers (of several owners) may serve one queue.
    """
    threading.Thread(target=_serve, args=(weakref.ref(owner), weakref.ref(jobs)), daemon=True).start()


def _serve(owner_ref, jobs_ref):
    while True:
        jobs = jobs_ref()
        if jobs is None:
            return
        try:
            inputs, on_done = jobs.get(timeout=1.0)
        except queue.Empty:
            continue
        finally:
            del jobs
        owner = owner_ref()
        if owner is None:
            on_done(None, InferenceError("the request's device was released before the inference ran"))
            return
        try:
            outputs = owner.infer(inputs)
        except BaseException as exc:  # reported through wait()'s status
            on_done(None, exc)
        else:
            on_done(outputs, None)
        del owner, inputs, on_done


class ExecutorModel(CompiledModel):
    """A compiled model whose requests run one shared :class:`GraphExecutor`.

    Subclasses override :meth:`run` to wrap an inference (e.g. limit how many run at once).
    """

    def __init__(self, executor, config):
        self.executor = executor
        self.profile = config.get("PERF_COUNT") == "YES"

    def create_request(self):
        return ExecutorRequest(self)

    def run(self, inputs):
        """One inference: (outputs, per-layer times or None)."""
        return self.executor.run(inputs, self.profile)


class ExecutorRequest(BackendRequest):
    """A request of an :class:`ExecutorModel`; keeps the layer times of its last inference."""

    def __init__(self, model):
        self.model = model
        self.times = None

    def infer(self, inputs):
        outputs, self.times = self.model.run(inputs)
        return outputs

    def perf_counts(self):
        return self.model.executor.perf_counts(self.times)
