"""Backend API 1.0: everything a device package implements and may import from ie_core.

A device is a :class:`Backend` subclass, found through the ``ie_core.backends``
entry-point group (:mod:`ie_core.hookspecs`). Its life cycle:

1. The registry imports the package and reads ``device_name``, ``api_version``
   (the Backend API version it targets; a major version other than
   :data:`API_VERSION`'s, or a newer minor one, is refused at discovery),
   ``capabilities`` and ``config_options``.
2. ``IEPlugin(device)`` creates the backend (on the calling thread).
   ``set_config``/``get_config``/``get_metric`` configure and describe it.
3. ``query(graph, config)`` says per layer whether the device runs it natively
   (:class:`LayerSupport`); ``compile(graph, config, num_requests)`` turns a private,
   shape-inferred :class:`~ie_core.graph.Graph` into a :class:`CompiledModel`.
   The default ``query`` compiles and asks the compiled model, so the two never
   disagree.
4. The compiled model creates :class:`BackendRequest` s. Each describes one
   inference as :class:`~ie_core.pipeline.Stage` s that the core runs on the
   devices' :class:`~ie_core.pipeline.TaskExecutor` s: synchronously on the caller's
   thread, asynchronously stage by stage.
5. Tensors cross the boundary in the compiled model's memory
   (:meth:`CompiledModel.allocator`): numpy arrays for host memory (zero copy), a
   :class:`~ie_core.tensor.Tensor` for a device with memory of its own.

Devices without kernels of their own for an op use the core's numpy reference
(:func:`reference_kernel`), under the device's :class:`~ie_core.numerics.Numerics`;
:class:`GraphExecutor` is the one executor that runs a graph from per-layer kernels
or from a backend's own plan of fused :class:`Step` s.
"""

from abc import ABC, abstractmethod
from typing import Callable, NamedTuple

from . import errors
from .errors import *  # noqa: F401,F403  (every error a backend raises is importable from here)
from .errors import ConfigError, NotSupportedError
from .execution import (
    GraphExecutor,
    Kernel,
    LayerClock,
    LayerSupport,
    PerfCount,
    Step,
    kernel_step,
    merge_perf_counts,
    reference_kernel,
    slot_layout,
)
from .graph import SOURCE_TYPES, Graph, Node, Output, output_name
from .hookspecs import hookimpl
from .ir import read_network
from .mapped import release_pages
from .numerics import F32, Numerics
from .ops import OpContext, OpDef, get_op, registered_ops
from .pipeline import Stage, TaskExecutor, run_stages, start_stages
from .tensor import HOST, Allocator, Tensor, to_allocator, to_host
from .types import canonical_element_type, element_type_name, precision_name, to_dtype

#: The Backend API version of this ie_core: "major.minor". A backend declares the
#: version it was written for in ``Backend.api_version``.
API_VERSION = "1.0"

__all__ = [
    "API_VERSION",
    "Allocator",
    "Backend",
    "BackendRequest",
    "Capability",
    "CompiledModel",
    "ConfigOption",
    "ExecutorModel",
    "ExecutorRequest",
    "F32",
    "Graph",
    "GraphExecutor",
    "HOST",
    "Kernel",
    "LayerClock",
    "LayerSupport",
    "Node",
    "Numerics",
    "OpContext",
    "OpDef",
    "Output",
    "PerfCount",
    "SOURCE_TYPES",
    "Stage",
    "Step",
    "TaskExecutor",
    "Tensor",
    "canonical_element_type",
    "element_type_name",
    "get_op",
    "hookimpl",
    "kernel_step",
    "layer_set_support",
    "merge_perf_counts",
    "output_name",
    "precision_name",
    "read_network",
    "reference_kernel",
    "refuse_unsupported",
    "registered_ops",
    "release_pages",
    "run_stages",
    "slot_layout",
    "start_stages",
    "to_allocator",
    "to_dtype",
    "to_host",
    "yes_no",
] + errors.__all__


class ConfigOption(NamedTuple):
    """A configuration key a backend accepts: its default, a value check and a one-line doc."""

    default: str
    check: Callable[[str], bool]
    doc: str
    expected: str = ""


def yes_no(doc, default="NO"):
    """A YES/NO configuration option."""
    return ConfigOption(default, lambda v: v in ("YES", "NO"), doc, "YES/NO")


class Capability:
    """What a device can do besides compiling networks; the core asks these, never the device's name."""

    #: ``add_extension`` loads custom-op libraries (``IEPlugin.add_cpu_extension``).
    EXTENSIONS = "EXTENSIONS"
    #: ``initial_affinity`` assigns layers to devices (``IEPlugin.set_initial_affinity``).
    AFFINITY = "AFFINITY"
    #: compiled models export to a file and ``import_network`` reads it back.
    EXPORT_IMPORT = "EXPORT_IMPORT"
    #: tensors live in memory of the device's own (an :class:`~ie_core.tensor.Allocator` subclass).
    DEVICE_MEMORY = "DEVICE_MEMORY"


class Backend(ABC):
    """A device. Subclasses set ``device_name``, ``version`` and ``description`` and implement :meth:`compile`.

    ``target`` is the part of the device string after ``:`` (``"FPGA,CPU"`` in
    ``"HETERO:FPGA,CPU"``); ``device_id`` the part after ``.`` (``"1"`` in
    ``"MYRIAD.1"``); ``registry`` the :class:`~ie_core.plugins.DeviceRegistry` that
    created the backend: a device that delegates to others (HETERO) creates them
    through it, never by importing another backend. Every method is called on the
    user's thread, unless its docstring says otherwise.
    """

    device_name = ""
    version = "0.0.0"
    description = ""
    #: The Backend API version the backend was written for ("major.minor").
    api_version = API_VERSION
    #: True for a software emulator of a device (shown by ``ie devices`` and in ``IEPlugin.version``).
    emulator = False
    #: :class:`Capability` names.
    capabilities = frozenset()
    config_options = {
        "PERF_COUNT": yes_no("measure per-layer times for get_perf_counts()"),
    }

    def __init__(self, target="", registry=None, device_id=""):
        self.target = target
        self.registry = registry
        self.device_id = device_id
        self.config = {k: opt.default for k, opt in self.config_options.items()}

    @property
    def full_name(self):
        """The device string this backend stands for, e.g. ``"MYRIAD.1"``."""
        name = f"{self.device_name}.{self.device_id}" if self.device_id else self.device_name
        return f"{name}:{self.target}" if self.target else name

    # ------------------------------------------------------------------ configuration

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
        """Validate and apply configuration keys (``IEPlugin.set_config``)."""
        self.config = self.validate_config(config)

    def get_config(self, key):
        """The current value of configuration key ``key``; ConfigError for a key the device does not have."""
        if key not in self.config:
            raise ConfigError(f"[NOT_FOUND] Unsupported property {key} by {self.device_name} plugin")
        return self.config[key]

    def available_devices(self):
        """Ids of the devices of this kind present here (``""``: the one device, unnumbered)."""
        return [""]

    def metrics(self):
        """The device's metrics (``get_metric``): name -> value. Subclasses extend the dict."""
        return {
            "FULL_DEVICE_NAME": self.description,
            "AVAILABLE_DEVICES": self.available_devices(),
            "SUPPORTED_CONFIG_KEYS": sorted(self.config_options),
            "OPTIMIZATION_CAPABILITIES": ["FP32"],
            "RANGE_FOR_ASYNC_INFER_REQUESTS": (1, 64, 1),
            "BACKEND_API_VERSION": self.api_version,
            "EMULATOR": self.emulator,
            "CAPABILITIES": sorted(self.capabilities),
        }

    def get_metric(self, name):
        """Metric ``name`` (``SUPPORTED_METRICS`` lists them); ConfigError for an unknown one."""
        metrics = self.metrics()
        if name == "SUPPORTED_METRICS":
            return sorted(metrics) + ["SUPPORTED_METRICS"]
        if name not in metrics:
            raise ConfigError(f"[NOT_FOUND] Unsupported metric {name} by {self.device_name} plugin")
        return metrics[name]

    # ------------------------------------------------------------------ networks

    def query(self, graph, config=None):
        """How the device runs each layer of ``graph``: layer name -> :class:`LayerSupport`.

        ``graph`` is a private shape-inferred copy; ``config`` is merged over the
        current settings. The default compiles ``graph`` and asks the compiled model
        (:meth:`CompiledModel.layer_support`), so query and compile agree; a device
        that refuses a network at load answers with what it would refuse instead.
        """
        return self.compile(graph, self.validate_config(config), 1).layer_support()

    @abstractmethod
    def compile(self, graph, config, num_requests):
        """Compile a shape-inferred private copy of the network for this device; returns a CompiledModel.

        ``config`` is the validated configuration; ``num_requests`` is how many
        requests the caller creates, whose inferences may run at the same time. Layers
        the device cannot run at all raise NotSupportedError naming them.
        """

    def import_network(self, path, config, num_requests):
        """``(graph, compiled_model)`` read from a file that :meth:`CompiledModel.export` wrote
        (:data:`Capability.EXPORT_IMPORT`): the shape-inferred graph the model runs, and the model."""
        raise NotSupportedError(f"the {self.device_name} device cannot import networks")

    def add_extension(self, path):
        """Load a library of custom kernels (``IEPlugin.add_cpu_extension``; :data:`Capability.EXTENSIONS`)."""
        raise NotSupportedError(f"add_cpu_extension is not supported by the {self.device_name} device")

    def extension_ops(self):
        """Custom ops loaded with :meth:`add_extension`: op type -> :class:`~ie_core.ops.OpDef`.

        The core uses them, ahead of its own op set, for shape inference and as
        the layers' reference kernels when it loads a network on this device.
        """
        return {}

    def initial_affinity(self, graph, config=None):
        """The device each layer of ``graph`` should run on: layer name -> device string
        (``IEPlugin.set_initial_affinity``; :data:`Capability.AFFINITY`)."""
        raise NotSupportedError(
            f"set_initial_affinity method applicable only for HETERO device, not {self.device_name}"
        )


class CompiledModel(ABC):
    """A network compiled for one device, ready to create inference requests."""

    @abstractmethod
    def create_request(self):
        """A new :class:`BackendRequest` with its own working memory (called on the user's thread)."""

    def allocator(self):
        """The :class:`~ie_core.tensor.Allocator` of the memory the requests' tensors live in.

        The default is host memory, where tensors are numpy arrays. The core moves
        inputs there before an inference and reads outputs from there after it.
        """
        return HOST

    def layer_support(self):
        """How each layer of the compiled graph runs: layer name -> :class:`LayerSupport`."""
        raise NotImplementedError(f"{type(self).__name__} does not report layer support")

    def export(self, path):
        """Write the compiled network to ``path`` (:data:`Capability.EXPORT_IMPORT`)."""
        raise NotSupportedError(f"{type(self).__name__} cannot be exported")

    def release(self):
        """The network was released: cancel queued work and free device resources. Idempotent."""


class BackendRequest(ABC):
    """One inference request's state on a device: its working memory and last layer times."""

    @abstractmethod
    def infer(self, inputs):
        """Run one inference on ``inputs`` (name -> tensor in the compiled model's memory, of the
        network's shape and dtype; the request must not modify them).

        Returns name -> tensor for every network output. The caller copies what it
        keeps, so the tensors may be buffers the request reuses. Called on whichever
        thread runs the stage (never on two at once for one request).
        """

    def stages(self):
        """The inference as :class:`~ie_core.pipeline.Stage` s, asked once per request.

        The default is one stage, :meth:`infer`, on an executor of the request's own
        (one worker thread that lives as long as the request, so thread pools of the
        kernels' runtime, e.g. OpenMP teams, are reused from one inference to the
        next). A device with streams, queues or sub-devices returns its own.
        """
        return [Stage(TaskExecutor(f"{type(self).__name__}-worker"), self.infer)]

    def perf_counts(self):
        """``get_perf_counts()`` of the last inference: layer name -> :class:`PerfCount`."""
        return {}


class ExecutorModel(CompiledModel):
    """A compiled model whose requests run one shared :class:`GraphExecutor`, each with its own state.

    Subclasses override :meth:`run` to wrap an inference (e.g. limit how many run at once).
    """

    def __init__(self, executor, config):
        self.executor = executor
        self.profile = config.get("PERF_COUNT") == "YES"

    def create_request(self):
        return ExecutorRequest(self)

    def layer_support(self):
        return self.executor.support

    def run(self, inputs, state):
        """One inference: (outputs, per-layer times or None)."""
        return self.executor.run(inputs, self.profile, state)


class ExecutorRequest(BackendRequest):
    """A request of an :class:`ExecutorModel`; keeps its state and the layer times of its last inference."""

    def __init__(self, model):
        self.model = model
        self.state = model.executor.new_state()
        self.times = None

    def infer(self, inputs):
        outputs, self.times = self.model.run(inputs, self.state)
        return outputs

    def perf_counts(self):
        return self.model.executor.perf_counts(self.times)


def layer_set_support(graph, precision, check):
    """:meth:`Backend.query` of a device with a fixed layer set (an accelerator that runs the layers it
    supports and refuses the network otherwise), for ``graph``: layer name -> :class:`LayerSupport`.

    Parameters, Consts and the layers constant folding computes are supported (exec_type ``""`` and
    ``"constant_folded"``); every other layer gets ``check(node)``, which returns ``(reason, exec_type)``:
    ``reason`` None when the device runs the layer (``exec_type`` then names how), else why it cannot.
    Result layers are left out. ``precision`` is what the device computes in (e.g. ``"FP16"``).
    """
    support = {}
    for node in graph.nodes:
        if node.type == "Result":
            continue
        if node.type in SOURCE_TYPES or node.is_constant():
            support[node.name] = LayerSupport(True, True, precision, "" if node.type in SOURCE_TYPES
                                              else "constant_folded")
            continue
        reason, exec_type = check(node)
        support[node.name] = (LayerSupport(False, False, "", reason=reason) if reason
                              else LayerSupport(True, True, precision, exec_type))
    return support


def refuse_unsupported(device, graph, support):
    """Raise :class:`NotSupportedError` naming the layers (the first five) ``support`` (a
    :meth:`Backend.query` result) says ``device`` cannot run, with their reasons and the
    ``HETERO:device,CPU`` way to run them; return when there are none."""
    refused = [(name, s.reason) for name, s in support.items() if not s.supported]
    if refused:
        layers = "; ".join(f"'{name}' ({reason})" for name, reason in refused[:5])
        more = f" and {len(refused) - 5} more" if len(refused) > 5 else ""
        raise NotSupportedError(f"{device} cannot run network '{graph.name}': layer(s) {layers}{more}. Load it on "
                                f"HETERO:{device},CPU to run those layers on the CPU")
