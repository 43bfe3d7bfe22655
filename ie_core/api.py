"""The Inference Engine Python API as scripts of 2018 to 2021 used it, on one object model.

IENetwork, IENetLayer, IEPlugin, ExecutableNetwork and InferRequest are the seed's
classes (2018 R3); IECore (2019 R2 – 2021) loads networks through the same IEPlugin
and ExecutableNetwork objects. The values later releases changed serve both forms
at once: ``net.inputs[name]`` is a list of dims with ``shape``/``precision``/``layout``
(:class:`InputInfo`), ``net.outputs`` a list of names that is also a mapping of
name -> :class:`OutputInfo` (:class:`Outputs`).
"""

import importlib
import importlib.metadata
import importlib.util
import os
import re
import tempfile
import threading
import time
import warnings
import weakref
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from . import config
from .backend import Capability, LayerSupport
from .errors import (
    ConfigError,
    DeviceNotFoundError,
    DeviceNotRegisteredError,
    InferenceError,
    InputError,
    InputNameError,
    LayerNotFoundError,
    NetworkArgumentError,
    NotSupportedError,
    OutOfMemoryError,
    ParamsTypeError,
    PluginRegistrationError,
    RequestError,
)
from .graph import Node, Output, output_name
from .ir import read_network
from .ir.writer import write_ir
from .limits import tensor_bytes
from .pipeline import run_stages, start_stages
from .plugins import ENTRY_POINT_GROUP, KNOWN_DEVICES, DeviceRegistry, _backend_problem, registry_for
from .tensor import HOST, Tensor, to_allocator, to_host
from .types import precision_name, to_dtype

#: The precisions an input or output can be given (``InputInfo.precision``, ``add_outputs``).
supported_precisions = ["FP32", "FP16", "FP64", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL"]
#: The layouts an input can be given (``InputInfo.layout``); the names of the Inference Engine of 2020.
supported_layouts = [
    "ANY", "NCHW", "NHWC", "NCDHW", "NDHWC", "OIHW", "GOIHW", "OIDHW", "GOIDHW",
    "SCALAR", "C", "CHW", "HWC", "HW", "NC", "CN", "BLOCKED",
]
_RANK_LAYOUTS = {0: "SCALAR", 1: "C", 2: "NC", 3: "CHW", 4: "NCHW", 5: "NCDHW"}


def _rank_layout(shape):
    """The layout the Inference Engine gave data of ``shape`` by default."""
    return _RANK_LAYOUTS.get(len(shape), "BLOCKED") if shape is not None else "ANY"


def _checked_precision(precision):
    """``precision`` upper-cased if it is one of :data:`supported_precisions`, else the original AttributeError."""
    name = str(precision).upper()
    if name not in supported_precisions:
        raise NetworkArgumentError(
            f"Unsupported precision {precision}! List of supported precisions: {supported_precisions}"
        )
    return name


class StatusCode:
    """InferenceEngine::StatusCode values returned by :meth:`InferRequest.wait`."""

    OK = 0
    GENERAL_ERROR = -1
    NOT_IMPLEMENTED = -2
    NETWORK_NOT_LOADED = -3
    PARAMETER_MISMATCH = -4
    NOT_FOUND = -5
    OUT_OF_BOUNDS = -6
    UNEXPECTED = -7
    REQUEST_BUSY = -8
    RESULT_NOT_READY = -9
    NOT_ALLOCATED = -10
    INFER_NOT_STARTED = -11
    NETWORK_NOT_READ = -12


class WaitMode:
    """The special timeouts of :meth:`InferRequest.wait` (2019 R2 on)."""

    RESULT_READY = -1
    STATUS_ONLY = 0


class TensorDesc(NamedTuple):
    """Precision, dims and layout of an input or output (``tensor_desc``, 2020 on)."""

    precision: str
    dims: list
    layout: str


class Blob(NamedTuple):
    """A request's input or output array (``InferRequest.input_blobs``/``output_blobs``, 2020 on)."""

    buffer: np.ndarray
    tensor_desc: TensorDesc


class InputInfo(list):
    """An input of an IENetwork in each form scripts used, at once.

    * 2018 R3: a list of its dims (``n, c, h, w = net.inputs['data']``, ``== [1, 3, 224, 224]``);
    * 2018 R4 on: ``shape``, ``precision`` and ``layout``, the last two settable (an
      unsupported value raises the original AttributeError);
    * 2020 on (``net.input_info[name]``): ``name``, ``input_data`` (the same object) and ``tensor_desc``.

    Setting ``precision`` (e.g. "U8") gives the requests' input arrays that type; they are
    converted to the network's type before each inference. ``layout`` is recorded and
    reported; arrays are always indexed in ``shape`` order. The dims are those at the
    time of access (read ``net.inputs`` again after ``reshape``).
    """

    def __init__(self, network, name):
        self._network = network
        self.name = name
        super().__init__(network._parameter(name).output_shapes[0])

    @property
    def shape(self):
        return list(self)

    @property
    def precision(self):
        return self._network._precisions.get(self.name) or precision_name(
            self._network._parameter(self.name).output_dtypes[0]
        )

    @precision.setter
    def precision(self, precision):
        self._network._precisions[self.name] = _checked_precision(precision)

    @property
    def layout(self):
        return self._network._layouts.get(self.name) or _rank_layout(self)

    @layout.setter
    def layout(self, layout):
        if layout not in supported_layouts:
            raise NetworkArgumentError(f"Unsupported layout {layout}! List of supported layouts: {supported_layouts}")
        self._network._layouts[self.name] = layout

    @property
    def input_data(self):
        return self

    @property
    def tensor_desc(self):
        return TensorDesc(self.precision, self.shape, self.layout)


class OutputInfo:
    """An output of an IENetwork (``net.outputs[name]``, 2018 R4 on): ``name``, ``shape``, ``layout`` and
    ``precision``, which is settable (the requests' output arrays then have that type)."""

    def __init__(self, network, name):
        self._network = network
        self.name = name

    def __repr__(self):
        return f"<OutputInfo {self.name!r} {self.precision} {self.shape}>"

    def _port(self):
        return next(src for src in self._network._output_ports() if output_name(src) == self.name)

    @property
    def shape(self):
        src = self._port()
        shape = src.node.output_shapes[src.index]
        return list(shape) if shape is not None else []

    @property
    def precision(self):
        src = self._port()
        return self._network._precisions.get(self.name) or precision_name(src.node.output_dtypes[src.index])

    @precision.setter
    def precision(self, precision):
        self._network._precisions[self.name] = _checked_precision(precision)

    @property
    def layout(self):
        src = self._port()
        return _rank_layout(src.node.output_shapes[src.index])

    @property
    def tensor_desc(self):
        return TensorDesc(self.precision, self.shape, self.layout)


class Outputs(list):
    """``net.outputs``: the list of output names (2018 R3) that is also a mapping name -> OutputInfo (R4 on).

    As a list, ``outputs[0]``, ``len``, iteration and ``in`` see the names; as a mapping,
    ``outputs['prob']``, ``keys()``, ``values()``, ``items()`` and ``get()`` give
    :class:`OutputInfo` s. ``==`` compares the names in order, with a list of names or
    with a mapping's keys.
    """

    def __init__(self, network, names):
        super().__init__(names)
        self._network = network

    def __getitem__(self, key):
        if not isinstance(key, str):
            return super().__getitem__(key)
        if key not in self:
            raise LayerNotFoundError(f"{key} is not an output of network {self._network.name}; its outputs are {list(self)}")
        return OutputInfo(self._network, key)

    def __eq__(self, other):
        return list(self) == (list(other) if isinstance(other, Mapping) else other)

    def __ne__(self, other):
        return not self == other

    __hash__ = None

    def keys(self):
        return list(self)

    def values(self):
        return [self[name] for name in self]

    def items(self):
        return [(name, self[name]) for name in self]

    def get(self, name, default=None):
        return self[name] if name in self else default


class IENetLayer:
    """One layer of an IENetwork: the seed's members, and ``parents``, ``children``, ``shape``,
    ``layout`` and a ``precision`` setter (2018 R5 on).

    ``weights`` maps names to the layer's constant inputs (values after load-time
    folding, e.g. fp16-compressed weights already decompressed): a Const layer's
    own value is ``"custom"``; input port 1 of Convolution-like, MatMul and PRelu
    layers is ``"weights"``; any other constant input port ``i`` is ``"port<i>"``.
    """

    WEIGHTED_TYPES = (
        "Convolution",
        "GroupConvolution",
        "ConvolutionBackpropData",
        "GroupConvolutionBackpropData",
        "MatMul",
        "PRelu",
        "BinaryConvolution",
        "DeformableConvolution",
    )

    def __init__(self, node, graph):
        self._node = node
        self._graph = graph

    def __repr__(self):
        return f"<IENetLayer {self.name!r} type={self.type}>"

    @property
    def name(self):
        return self._node.name

    @property
    def type(self):
        return self._node.type

    @property
    def precision(self):
        """The precision set on the layer, else that of its first output ("UNSPECIFIED" before shape inference)."""
        if "precision" in self._node.rt_info:
            return self._node.rt_info["precision"]
        dtype = self._node.output_dtypes[0] if self._node.output_dtypes else None
        return precision_name(dtype) if dtype is not None else "UNSPECIFIED"

    @precision.setter
    def precision(self, precision):
        """Recorded (upper-cased, unchecked, as in 2018 R4) and reported; the device computes as its numerics say."""
        self._node.rt_info["precision"] = str(precision).upper()

    @property
    def shape(self):
        """The dims of the layer's first output ([] where shape inference could not run)."""
        shape = self._node.output_shapes[0] if self._node.output_shapes else None
        return list(shape) if shape is not None else []

    @property
    def layout(self):
        return _rank_layout(self._node.output_shapes[0] if self._node.output_shapes else None)

    @property
    def parents(self):
        """The names of the data the layer reads: its producers' names (``layer.N`` for a port of a
        multi-output layer)."""
        return [output_name(src) for src in self._node.inputs]

    @property
    def children(self):
        """The names of the layers that read the layer's outputs, in topological order."""
        return [
            n.name
            for n in self._graph.nodes
            if n.type != "Result" and any(src.node is self._node for src in n.inputs)
        ]

    @property
    def affinity(self):
        return self._node.rt_info.get("affinity", "")

    @affinity.setter
    def affinity(self, device):
        if not isinstance(device, str):
            raise ParamsTypeError(f"affinity must be a device name string, got {device!r}")
        self._node.rt_info["affinity"] = device

    @property
    def weights(self):
        node = self._node
        if node.type == "Const":
            return {"custom": node.values[0]}
        blobs = {}
        for i, src in enumerate(node.inputs):
            value = src.node.values[src.index]
            if value is None:
                continue
            key = "weights" if i == 1 and node.type in self.WEIGHTED_TYPES else f"port{i}"
            blobs[key] = value
        return blobs

    @property
    def params(self):
        return dict(self._node.attrs)

    @params.setter
    def params(self, new_params):
        if not isinstance(new_params, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in new_params.items()
        ):
            raise ParamsTypeError("Only string keys and values are allowed!")
        self._node.attrs = dict(new_params)


class IENetwork:
    """A network read from IR.

    Forms: ``IENetwork(model=xml, weights=bin)`` (``weights`` defaults to the .xml's
    name with .bin; 2019 R2's ``init_from_buffer=True`` takes the .xml text and the
    .bin bytes themselves), ``IENetwork.from_ir(model, weights)`` (the seed's; warns
    as 2018 R5 on did) and ``IECore.read_network``.
    """

    def __init__(self, model=None, weights=None, init_from_buffer=False):
        if model is None:
            raise NetworkArgumentError("IENetwork needs the path of the model's .xml file")
        if init_from_buffer:
            self._graph = _read_buffers(model, weights)
        else:
            model = os.fspath(model)
            weights = os.fspath(weights) if weights else os.path.splitext(model)[0] + ".bin"
            self._graph = read_network(model, weights)
        self._extra_outputs = []
        self._precisions = {}  # input or output name -> the precision set on it
        self._layouts = {}  # input name -> the layout set on it

    @classmethod
    def from_ir(cls, model, weights):
        """Read the IR at ``model`` (.xml) and ``weights`` (.bin); deprecated since 2018 R5 (DeprecationWarning)."""
        warnings.warn(
            "from_ir() method of IENetwork is deprecated. Please use IENetwork class constructor to create "
            "valid IENetwork instance",
            DeprecationWarning,
            stacklevel=2,
        )
        return cls(model=model, weights=weights)

    @property
    def name(self):
        return self._graph.name

    def _parameter(self, name):
        return next(p for p in self._graph.parameters if p.name == name)

    @property
    def inputs(self):
        """Input name -> :class:`InputInfo` (a list of dims with ``shape``, ``precision``, ``layout``)."""
        return OrderedDict((p.name, InputInfo(self, p.name)) for p in self._graph.parameters)

    @property
    def input_info(self):
        """The 2020 name of :attr:`inputs`: the same :class:`InputInfo` s (``input_info[n].input_data.shape``)."""
        return self.inputs

    def _output_ports(self):
        ports = [r.inputs[0] for r in self._graph.results]
        return list(OrderedDict.fromkeys(ports + self._extra_outputs))

    @property
    def outputs(self):
        """The output names, as a list that is also a mapping of name -> :class:`OutputInfo` (:class:`Outputs`)."""
        return Outputs(self, OrderedDict.fromkeys(output_name(src) for src in self._output_ports()))

    @property
    def layers(self):
        return OrderedDict((n.name, IENetLayer(n, self._graph)) for n in self._graph.nodes if n.type != "Result")

    @property
    def batch_size(self):
        params = self._graph.parameters
        return params[0].output_shapes[0][0] if params and params[0].output_shapes[0] else 1

    @batch_size.setter
    def batch_size(self, batch):
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch <= 0:
            raise NetworkArgumentError(f"Invalid batch size {batch}! Batch size should be positive integer value")
        self.reshape({p.name: (int(batch),) + tuple(p.output_shapes[0][1:]) for p in self._graph.parameters})

    def reshape(self, input_shapes):
        """Give inputs new shapes (name -> dims) and re-run shape inference; on failure nothing changes."""
        params = {p.name: p for p in self._graph.parameters}
        for name, dims in input_shapes.items():
            if name not in params:
                raise InputNameError(f"Specified {name} layer not in network inputs {list(params)}! ")
            if not all(isinstance(d, (int, np.integer)) and d >= 0 for d in dims):
                raise NetworkArgumentError(f"input {name}: invalid shape {list(dims)}")
        old = {n: p.output_shapes[0] for n, p in params.items()}
        for name, dims in input_shapes.items():
            params[name].output_shapes[0] = tuple(int(d) for d in dims)
        try:
            if self._graph.can_infer():
                self._graph.infer_shapes()
        except Exception:
            for n, shape in old.items():
                params[n].output_shapes[0] = shape
            if self._graph.can_infer():
                self._graph.infer_shapes()
            raise

    def add_outputs(self, outputs, precision=None):
        """Also return the tensors of these layers (a name or list of names; ``layer.N`` picks port N).

        ``precision`` (2018 R4 on; checked against :data:`supported_precisions`) converts the
        added outputs to that type; None keeps each tensor's own.
        """
        if isinstance(outputs, str):
            outputs = [outputs]
        precision = _checked_precision(precision) if precision is not None else None
        for name in outputs:
            for src in self._resolve_output(name):
                if src not in self._output_ports():
                    self._extra_outputs.append(src)
                    if precision:
                        self._precisions[output_name(src)] = precision

    def _resolve_output(self, name):
        node = self._graph.node(name)
        if node is not None:
            return [Output(node, i) for i in range(node.num_outputs)]
        base, _, port = name.rpartition(".")
        node = self._graph.node(base) if port.isdigit() else None
        if node is None or int(port) >= node.num_outputs:
            raise LayerNotFoundError(f"Layer {name} not found in network")
        return [Output(node, int(port))]

    def _graph_for_load(self, extra_ops=None):
        """A private, shape-inferred copy of the graph with a Result for every added output.

        ``extra_ops`` are a device's custom ops (type -> OpDef) for layers the op set lacks.
        """
        graph = self._graph.copy()
        graph.resolve_ops(extra_ops)
        by_name = {n.name: n for n in graph.nodes}
        extra = []
        for i, src in enumerate(self._extra_outputs):
            producer = by_name[src.node.name]
            extra.append(Node(f"extra_result_{i}", f"{output_name(src)}/added_result", "Result", "opset1", {}, [Output(producer, src.index)], 0))
        if extra:
            graph = type(graph)(graph.name, graph.nodes + extra)
        graph.infer_shapes()
        return graph

    def _io_dtypes(self):
        """Input and output name -> the numpy dtype of the precision set on it."""
        return {name: to_dtype(precision) for name, precision in self._precisions.items()}

    def serialize(self, path_to_xml, path_to_bin=""):
        """Write the network as IR v11 (2018 R5 on); ``path_to_bin`` defaults to the .xml's name with .bin.

        It is the network as ie_core reads it (:mod:`ie_core.ir.writer`), with the current
        input shapes and the added outputs; ie_core and OpenVINO read it back.
        """
        path_to_xml = os.fspath(path_to_xml)
        path_to_bin = os.fspath(path_to_bin) if path_to_bin else os.path.splitext(path_to_xml)[0] + ".bin"
        write_ir(self._graph_for_load(), path_to_xml, path_to_bin)


def _read_buffers(model, weights):
    """The graph of an IR given as its .xml text (str or bytes) and its .bin bytes."""
    if not isinstance(model, (str, bytes)) or not isinstance(weights, (bytes, bytearray, memoryview)):
        raise NetworkArgumentError(
            "init_from_buffer=True takes the model's .xml text (str or bytes) and the weights' bytes, "
            f"got {type(model).__name__} and {type(weights).__name__}"
        )
    with tempfile.TemporaryDirectory(prefix="ie_core_buffer_") as tmp:
        xml, binf = os.path.join(tmp, "model.xml"), os.path.join(tmp, "model.bin")
        with open(xml, "wb") as f:
            f.write(model.encode() if isinstance(model, str) else model)
        with open(binf, "wb") as f:
            f.write(weights)
        return read_network(xml, binf)


class IEPlugin:
    """A device: ``IEPlugin(device="CPU", plugin_dirs=None)``.

    ``registry``: the DeviceRegistry to find the device in (an IECore passes its own);
    by default the installed devices, plus those in ``plugin_dirs``. Unlike 2020.2 on,
    creating one does not warn: IEPlugin is the seed's device class and stays ie-core's.
    """

    def __init__(self, device, plugin_dirs=None, *, registry=None):
        self._registry = registry if registry is not None else registry_for(plugin_dirs)
        self._backend = self._registry.create(device)
        self._device = device
        #: the :class:`ie_core.config.Settings` of the file :meth:`from_config` read, else None
        self.settings = None

    @classmethod
    def from_config(cls, path=None, plugin_dirs=None):
        """The plugin of the first usable device of a YAML configuration file, with its configuration keys set.

        ``path`` defaults to the file the ``IE_CORE_CONFIG`` environment variable
        names; the schema is in :mod:`ie_core.config`. The file's settings
        (``num_requests``, ``model``, ...) are the plugin's ``settings``.
        """
        registry = registry_for(plugin_dirs)
        settings = config.load(path, registry)
        choice = config.choose(settings, registry)
        plugin = cls(choice.device, plugin_dirs)
        plugin.set_config(choice.config)
        plugin.settings = settings
        return plugin

    @property
    def device(self):
        return self._device

    @property
    def version(self):
        backend = self._backend
        return f"{backend.version} (software emulator)" if backend.emulator else backend.version

    def load(self, network, num_requests=1, config=None):
        """Compile ``network`` for the device; returns an ExecutableNetwork with ``num_requests`` requests."""
        if not isinstance(network, IENetwork):
            raise NetworkArgumentError(f"load() needs an IENetwork, got {type(network).__name__}")
        _check_num_requests(num_requests)
        merged = self._backend.validate_config(config)
        graph = network._graph_for_load(self._backend.extension_ops())
        compiled = self._backend.compile(graph, merged, int(num_requests))
        return ExecutableNetwork(compiled, graph, int(num_requests), merged, network._io_dtypes())

    def import_network(self, model_file, num_requests=1, config=None):
        """Load a network that ``ExecutableNetwork.export`` wrote to ``model_file`` on this kind of device."""
        if Capability.EXPORT_IMPORT not in self._backend.capabilities:
            raise NotSupportedError(f"import_network is not supported by the {self._device} device")
        _check_num_requests(num_requests)
        merged = self._backend.validate_config(config)
        graph, compiled = self._backend.import_network(os.fspath(model_file), merged, int(num_requests))
        return ExecutableNetwork(compiled, graph, int(num_requests), merged)

    def set_config(self, config):
        self._backend.set_config(config)

    def get_config(self, key):
        """The current value of configuration key ``key``."""
        return self._backend.get_config(key)

    def get_metric(self, name):
        """Device metric ``name`` (``get_metric("SUPPORTED_METRICS")`` lists them)."""
        return self._backend.get_metric(name)

    def query(self, net, config=None):
        """How the device would run each layer of ``net``: layer name -> LayerSupport.

        Layers of a type no op (nor loaded extension) implements are unsupported; a
        network with such layers cannot be compiled, so its other layers are reported
        supported through the reference, not queried on the device.
        """
        graph = net._graph.copy()
        graph.resolve_ops(self._backend.extension_ops())
        unknown = {n.name for n in graph.unsupported()}
        if unknown:
            return {
                n.name: LayerSupport(False, False, "", reason=f"no op implements type {n.type}")
                if n.name in unknown
                else LayerSupport(True, False, "", reason="the network has layers of unknown types")
                for n in graph.nodes
                if n.type != "Result"
            }
        return self._backend.query(net._graph_for_load(self._backend.extension_ops()), config)

    def get_supported_layers(self, net):
        """Names of the layers of ``net`` this device can run (natively or through the reference)."""
        layers = set(net.layers)
        return {name for name, s in self.query(net).items() if s.supported and name in layers}

    def add_cpu_extension(self, extension_path):
        if Capability.EXTENSIONS not in self._backend.capabilities:
            raise NotSupportedError("add_cpu_extension method applicable only for CPU or HETERO devices")
        self._backend.add_extension(extension_path)

    def set_initial_affinity(self, net):
        if Capability.AFFINITY not in self._backend.capabilities:
            raise NotSupportedError("set_initial_affinity method applicable only for HETERO device")
        nodes = {n.name: n for n in net._graph.nodes}
        for name, device in self._default_affinity(net).items():
            nodes[name].rt_info["affinity"] = device

    def _default_affinity(self, net, config=None):
        """The device an AFFINITY device would give each layer of ``net`` by default: layer name -> device."""
        graph = net._graph_for_load(self._backend.extension_ops())
        layers = net.layers
        return {name: device for name, device in self._backend.initial_affinity(graph, config).items() if name in layers}


class ExecutableNetwork:
    """A network loaded on a device, with its inference requests (``requests``: a tuple, as in the seed).

    ``io_dtypes`` (name -> numpy dtype) are the precisions set on inputs and outputs
    (``InputInfo.precision``, ``OutputInfo.precision``): the requests' arrays have them.
    """

    def __init__(self, compiled, graph, num_requests, config, io_dtypes=None):
        self._compiled = compiled
        self._config = dict(config)
        self._name = graph.name
        specs = {p.name: (p.output_shapes[0], p.output_dtypes[0]) for p in graph.parameters}
        results = [r.name for r in graph.results] if config.get("PERF_COUNT") == "YES" else None
        allocator = compiled.allocator()
        self.requests = tuple(
            InferRequest(compiled.create_request(), specs, allocator, results, self, io_dtypes)
            for _ in range(num_requests)
        )
        weakref.finalize(self, compiled.release)

    def infer(self, inputs=None):
        """Run request 0 synchronously; returns copies of its outputs (name -> array)."""
        request = self.requests[0]
        request.infer(inputs)
        return {name: value.copy() for name, value in request.outputs.items()}

    def start_async(self, request_id, inputs=None):
        """Start request ``request_id`` asynchronously; returns that InferRequest."""
        if isinstance(request_id, bool) or not isinstance(request_id, (int, np.integer)) or not (
            0 <= request_id < len(self.requests)
        ):
            raise RequestError("Incorrect request_id specified!")
        request = self.requests[request_id]
        request.async_infer(inputs)
        return request

    def export(self, model_file):
        """Write the compiled network to ``model_file``, for ``IEPlugin.import_network`` and
        ``IECore.import_network`` (devices with Capability.EXPORT_IMPORT)."""
        self._compiled.export(os.fspath(model_file))

    def get_config(self, key):
        """The value of configuration key ``key`` the network was loaded with."""
        if key not in self._config:
            raise ConfigError(f"[NOT_FOUND] Unsupported property {key}")
        return self._config[key]

    def get_metric(self, name):
        """``NETWORK_NAME``, ``OPTIMAL_NUMBER_OF_INFER_REQUESTS``, ``SUPPORTED_CONFIG_KEYS`` or ``SUPPORTED_METRICS``."""
        metrics = {
            "NETWORK_NAME": self._name,
            "OPTIMAL_NUMBER_OF_INFER_REQUESTS": len(self.requests),
            "SUPPORTED_CONFIG_KEYS": sorted(self._config),
        }
        metrics["SUPPORTED_METRICS"] = sorted(metrics) + ["SUPPORTED_METRICS"]
        if name not in metrics:
            raise ConfigError(f"[NOT_FOUND] Unsupported metric {name}")
        return metrics[name]


class InferRequest:
    """One inference request: persistent input arrays, the last outputs, sync and async runs.

    States: idle (never started, or its last inference ended) and busy (between a
    start and the end of that inference); starting a busy request raises
    ``[REQUEST_BUSY]``. ``set_tensor`` binds an input to a tensor of the device's
    memory (or a host array) used as it is, without copying into ``inputs``.
    """

    def __init__(self, backend_request, input_specs, allocator, profiled_results=None, network=None, io_dtypes=None):
        self._request = backend_request
        self._allocator = allocator
        self._stages = None
        self._network = network  # the ExecutableNetwork stays alive while its requests are used
        self._io_dtypes = dict(io_dtypes or {})
        self.inputs = {
            name: _zeros(name, shape, self._io_dtypes.get(name, dtype)) for name, (shape, dtype) in input_specs.items()
        }
        self._specs = input_specs
        # host devices whose inputs and outputs need no conversion take and give the arrays as they are
        self._host_inputs = allocator is HOST and all(
            self.inputs[name].dtype == dtype for name, (_, dtype) in input_specs.items())
        self._host_outputs = allocator is HOST and all(name in input_specs for name in self._io_dtypes)
        self._bound = {}
        self._output_tensors = {}
        self.outputs = {}
        self.latency = 0.0
        self.error = None
        self._callback = None
        # held from a start until the request is idle again and its completion callback has run
        # (a lock rather than an Event: its acquire and release cost far less per inference)
        self._running = threading.Lock()
        self._running_held = False
        self._started = False
        self._busy = False  # an inference is running (a completion callback may start the next one)
        self._lock = threading.Lock()
        # the Result layer names (PERF_COUNT=YES, else None); the ns stamps of the last
        # run's start, device call, device return and end
        self._results = profiled_results
        self._stamps = [0, 0, 0, 0]

    def infer(self, inputs=None):
        """Run synchronously; the results land in ``outputs``."""
        tensors = self._begin(inputs, time.perf_counter_ns())
        try:
            outputs = run_stages(self._pipeline(), tensors)
        except BaseException as exc:
            self._finish(None, exc)
            raise
        self._finish(outputs, None)

    def async_infer(self, inputs=None):
        """Start without blocking; ``wait()`` tells when ``outputs`` hold the results."""
        tensors = self._begin(inputs, time.perf_counter_ns())
        start_stages(self._pipeline(), tensors, self._finish)

    def _pipeline(self):
        if self._stages is None:
            self._stages = list(self._request.stages())
        return self._stages

    def set_completion_callback(self, py_callback, py_data=None):
        """Call ``py_callback(status, py_data)`` when an inference ends (on the device's thread).

        As from 2019 R2, ``wait()`` returns after the callback has run; the callback may
        start the request's next inference (``async_infer``), and ``wait()`` then waits for that one.
        """
        self._callback = (py_callback, py_data)

    def set_tensor(self, name, tensor):
        """Bind input ``name`` to ``tensor`` (a Tensor of the device's memory, or an array) for the next inferences."""
        if name not in self._specs:
            raise InputNameError(f"No input with name {name} found in network; its inputs are {list(self._specs)}")
        shape, dtype = self._specs[name]
        if tuple(tensor.shape) != tuple(shape) or np.dtype(tensor.dtype) != np.dtype(dtype):
            raise InputError(
                f"input {name}: expected a tensor of shape {list(shape)} and type {np.dtype(dtype)}, "
                f"got {list(tensor.shape)} {np.dtype(tensor.dtype)}"
            )
        if not isinstance(tensor, (Tensor, np.ndarray)):
            raise InputError(f"input {name}: expected a Tensor or a numpy array, got {type(tensor).__name__}")
        self._bound[name] = tensor

    def get_tensor(self, name):
        """Input ``name`` as the device will read it, or output ``name`` of the last inference, in device memory."""
        if name in self._output_tensors:
            return self._output_tensors[name]
        if name in self._specs:
            return self._bound.get(name, self.inputs[name])
        raise InputNameError(f"No input or output with name {name} found in network")

    def wait(self, timeout=-1):
        """Wait up to ``timeout`` ms (-1: until done; 0: status only); returns a StatusCode value."""
        if timeout is None:
            timeout = -1
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float, np.integer, np.floating)):
            raise ParamsTypeError(f"wait() timeout must be a number of milliseconds, got {timeout!r}")
        if timeout < -1:
            raise RequestError(f"[PARAMETER_MISMATCH] Timeout can't be less -1 for InferRequest::Wait, got {timeout}")
        if not self._started:
            return StatusCode.INFER_NOT_STARTED
        if not self._running.acquire(timeout=-1 if timeout == -1 else timeout / 1000.0):
            return StatusCode.RESULT_NOT_READY
        self._running.release()
        return StatusCode.OK if self.error is None else StatusCode.GENERAL_ERROR

    def get_perf_counts(self):
        """Per-layer status, exec_type, layer_type, real_time and cpu_time (µs) of the last inference.

        With PERF_COUNT=YES the request's own work is counted too, so that the
        executed layers add up to ``latency``: the Parameter layers (exec_type
        ``"input"``) get the time from the start to the device's first layer
        (checking and copying the inputs, waiting for and dispatching to the
        device), the Result layers (``"output"``) handing back the outputs.
        """
        counts = {name: pc.as_dict() for name, pc in self._request.perf_counts().items()}
        start, call, back, end = self._stamps
        if self._results is None or not end:
            return counts
        layers_us = sum(pc["real_time"] for pc in counts.values() if pc["status"] == "EXECUTED")
        device_overhead = max(0, back - call - layers_us * 1000)
        for names, ns, exec_type, layer_type in (
            (list(self.inputs), call - start + device_overhead, "input", "Parameter"),
            (self._results, end - back, "output", "Result"),
        ):
            for k, name in enumerate(names):
                us = round(ns * (k + 1) / len(names) / 1000) - round(ns * k / len(names) / 1000)
                counts[name] = {"status": "EXECUTED", "exec_type": exec_type, "layer_type": layer_type,
                                "real_time": us, "cpu_time": us}
        return counts

    def _begin(self, inputs, start):
        """Mark the request busy with ``inputs`` copied in; returns the device tensors to run on."""
        with self._lock:
            if self._busy:
                raise InferenceError("[REQUEST_BUSY] the request is still running; wait() for it first")
            self._fill(inputs)
            if self._host_inputs and not self._bound:
                tensors = dict(self.inputs)
            else:
                allocator = self._allocator
                tensors = {
                    name: to_allocator(self._bound.get(name, array), allocator, self._specs[name][1])
                    for name, array in self.inputs.items()
                }
            if not self._running_held:  # held already when a completion callback starts the next inference
                self._running.acquire()
                self._running_held = True
            self._started = True
            self._busy = True
            self.error = None
            self._stamps = [start, time.perf_counter_ns(), 0, 0]
            return tensors

    def _finish(self, outputs, error):
        stamps = self._stamps
        stamps[2] = time.perf_counter_ns()
        if error is None:
            self._output_tensors = outputs
            if self._host_outputs:
                self.outputs = outputs
            else:
                self.outputs = {name: self._as_set(name, to_host(value)) for name, value in outputs.items()}
        else:
            self.error = error if isinstance(error, Exception) else InferenceError(str(error))
        stamps[3] = time.perf_counter_ns()
        self.latency = (stamps[3] - stamps[0]) / 1e6
        callback = self._callback
        with self._lock:
            self._busy = False
        if callback is not None:
            callback[0](StatusCode.OK if error is None else StatusCode.GENERAL_ERROR, callback[1])
        with self._lock:
            if not self._busy:  # wait() returns once the callback ran, unless it started the next inference
                self._running_held = False
                self._running.release()

    def _as_set(self, name, array):
        """Output ``name`` in the precision set on it, if any."""
        dtype = self._io_dtypes.get(name)
        return array.astype(dtype) if dtype is not None and array.dtype != dtype else array

    @property
    def input_blobs(self):
        """Input name -> :class:`Blob` whose ``buffer`` is the input array itself (2020 on)."""
        return {name: Blob(array, _desc(array)) for name, array in self.inputs.items()}

    @property
    def output_blobs(self):
        """Output name -> :class:`Blob` of the last inference's output (2020 on)."""
        return {name: Blob(array, _desc(array)) for name, array in self.outputs.items()}

    def _fill(self, inputs):
        if inputs is None:
            return
        if not isinstance(inputs, dict):
            raise InputError(f"inputs must be a dict of input name -> numpy array, got {type(inputs).__name__}")
        for name, value in inputs.items():
            target = self.inputs.get(name)
            if target is None:
                raise InputNameError(f"No input with name {name} found in network; its inputs are {list(self.inputs)}")
            if type(value) is np.ndarray and value.dtype == target.dtype and value.shape == target.shape:
                target[...] = value
            else:
                target[...] = _checked_input(name, value, target)
            self._bound.pop(name, None)


def _desc(array):
    return TensorDesc(precision_name(array.dtype), list(array.shape), _rank_layout(array.shape))


def _check_num_requests(num_requests):
    if isinstance(num_requests, bool) or not isinstance(num_requests, (int, np.integer)) or num_requests <= 0:
        raise RequestError(f"Incorrect number of requests specified: {num_requests}. Expected positive integer number.")


def _zeros(name, shape, dtype):
    """The zero-filled array of a request's input ``name``; OutOfMemoryError naming it when it does not fit."""
    try:
        return np.zeros(shape, dtype)
    except MemoryError as exc:
        raise OutOfMemoryError(f"input '{name}' of shape {list(shape)}: no memory for its buffer of "
                               f"{tensor_bytes(shape, dtype)} bytes: {exc}") from exc


def _checked_input(name, value, target):
    """``value`` as an array that fits input ``name`` (``target``), or an InputError naming both."""
    if value is None or isinstance(value, (str, bytes, dict)):
        raise InputError(f"input {name}: expected a numpy array of shape {list(target.shape)}, got {type(value).__name__}")
    try:
        array = np.asarray(value)
    except Exception as exc:
        raise InputError(f"input {name}: cannot convert {type(value).__name__} to an array: {exc}") from None
    if array.dtype.kind not in "biuf":
        raise InputError(f"input {name}: expected numeric data for {target.dtype}, got dtype {array.dtype}")
    extra = target.ndim - array.ndim
    if extra < 0 or array.shape != target.shape[extra:] or any(d != 1 for d in target.shape[:extra]):
        raise InputError(f"input {name}: expected shape {list(target.shape)}, got {list(array.shape)}")
    if target.dtype.kind in "iub" and array.dtype.kind == "f" and not np.array_equal(array, np.round(array)):
        raise InputError(f"input {name}: expected integer values ({target.dtype}), got non-integral {array.dtype} data")
    return array


class Version(NamedTuple):
    """A device's version (``IECore.get_versions``): the Backend API version it was written for
    (``major``, ``minor``), its own version (``build_number``) and its description."""

    major: int
    minor: int
    build_number: str
    description: str


#: The Inference Engine's plugin libraries and their devices: in ``IECore.register_plugin`` and
#: plugins XML files a library stands for the installed ie-core package of its device (KNOWN_DEVICES).
PLUGIN_LIBRARIES = {
    "MKLDNNPlugin": "CPU",
    "HeteroPlugin": "HETERO",
    "clDNNPlugin": "GPU",
    "myriadPlugin": "MYRIAD",
    "dliaPlugin": "FPGA",
}


class CoreRegistry(DeviceRegistry):
    """The devices of one IECore: the installed ones, plus those ``register_plugin`` added,
    less those ``unregister_plugin`` removed."""

    def __init__(self):
        super().__init__()
        self.added = {}  # device name -> (Backend class, provider)
        self.removed = set()

    def backends(self):
        found = {**super().backends(), **self.added}
        return {name: entry for name, entry in found.items() if name not in self.removed}


class IECore:
    """The Inference Engine core of 2019 R2 – 2021: reads networks and loads them on devices by name.

    It works through the seed's classes: ``load_network`` returns the ExecutableNetwork
    that ``IEPlugin.load`` does, from one IEPlugin per device string, which keeps the
    configuration ``set_config`` gave it. Each IECore has its own device registry, so that
    ``register_plugin``/``unregister_plugin`` change only it. ``xml_config_file`` (a plugins
    XML file, see :meth:`register_plugins`) replaces the installed devices by those it lists.
    """

    def __init__(self, xml_config_file=""):
        self._registry = CoreRegistry()
        self._plugins = {}  # device string -> IEPlugin
        if xml_config_file:
            self._registry.removed.update(self._registry.backends())
            self.register_plugins(xml_config_file)

    def _plugin(self, device_name):
        """The IEPlugin of ``device_name`` (e.g. "CPU", "MYRIAD.1", "HETERO:CPU,REFERENCE"), created on first use."""
        plugin = self._plugins.get(device_name)
        if plugin is None:
            base = device_name.partition(":")[0].partition(".")[0].upper() if isinstance(device_name, str) else ""
            if base not in self._registry.backends():
                raise DeviceNotRegisteredError(
                    f'Device with "{device_name}" name is not registered in the InferenceEngine; '
                    f"registered: {', '.join(sorted(self._registry.backends()))}"
                )
            plugin = self._plugins[device_name] = IEPlugin(device_name, registry=self._registry)
        return plugin

    @property
    def available_devices(self):
        """Every registered device present on this machine, with each of its ids: ``"CPU"``, ``"MYRIAD.1"``, ...
        (a device package whose hardware is absent, e.g. the GPU device without an OpenCL GPU, is left out)."""
        devices = []
        for name in sorted(self._registry.backends()):
            try:
                ids = self._plugin(name)._backend.available_devices()
            except DeviceNotFoundError:
                continue
            devices += [f"{name}.{device_id}" if device_id else name for device_id in ids]
        return devices

    def get_versions(self, device_name):
        """Device name -> :class:`Version` for ``device_name`` and, for ``"HETERO:A,B"``, each listed device."""
        head, _, listed = device_name.partition(":")
        versions = {}
        for name in [head] + [d for d in listed.split(",") if d]:
            base = name.partition(".")[0].upper()
            entry = self._registry.backends().get(base)
            if entry is None:
                raise DeviceNotRegisteredError(f'Device with "{name}" name is not registered in the InferenceEngine')
            cls = entry[0]
            major, minor = (int(part) for part in cls.api_version.split("."))
            versions[base] = Version(major, minor, cls.version, cls.description)
        return versions

    def read_network(self, model, weights="", init_from_buffer=False):
        """An IENetwork from an IR (2020.2 on); as ``IENetwork(model, weights, init_from_buffer)``."""
        if not init_from_buffer and os.fspath(model).lower().endswith(".onnx"):
            raise NotSupportedError(f"{os.fspath(model)}: ie_core reads OpenVINO IR (.xml + .bin), not ONNX models")
        return IENetwork(model, weights or None, init_from_buffer)

    def load_network(self, network, device_name, config=None, num_requests=1):
        """``network`` (an IENetwork, or the path of an IR .xml as 2021.3 allowed) loaded on ``device_name``.

        ``num_requests=0`` (2020 on: the device's optimal number) creates one request:
        no device reports another number.
        """
        if isinstance(network, (str, os.PathLike)):
            network = self.read_network(network)
        if num_requests == 0 and not isinstance(num_requests, bool):
            num_requests = 1
        return self._plugin(device_name).load(network, num_requests, config)

    def query_network(self, network, device_name, config=None):
        """Layer name -> the device that runs it, for the layers ``device_name`` supports.

        A device that assigns affinities (HETERO) answers each layer's default device (the
        affinities set on layers are not consulted, as in the original); any other answers
        its own name for each layer its ``query`` reports supported.
        """
        plugin = self._plugin(device_name)
        if Capability.AFFINITY in plugin._backend.capabilities:
            return plugin._default_affinity(network, config)
        layers = network.layers
        return {name: device_name for name, s in plugin.query(network, config).items() if s.supported and name in layers}

    def set_config(self, config, device_name):
        self._plugin(device_name).set_config(config)

    def get_config(self, device_name, config_name):
        return self._plugin(device_name).get_config(config_name)

    def get_metric(self, device_name, metric_name):
        return self._plugin(device_name).get_metric(metric_name)

    def add_extension(self, extension_path, device_name):
        """Load a custom-op library into ``device_name`` (a device with Capability.EXTENSIONS, e.g. CPU)."""
        backend = self._plugin(device_name)._backend
        if Capability.EXTENSIONS not in backend.capabilities:
            raise NotSupportedError(f"add_extension: the {device_name} device does not load extension libraries")
        backend.add_extension(os.fspath(extension_path))

    def import_network(self, model_file, device_name, config=None, num_requests=1):
        """A network that ``ExecutableNetwork.export`` wrote, loaded on ``device_name`` (``IEPlugin.import_network``;
        NotSupportedError for a device without Capability.EXPORT_IMPORT)."""
        return self._plugin(device_name).import_network(model_file, num_requests, config)

    def register_plugin(self, plugin_name, device_name=""):
        """Register the devices of a plugin module in this IECore.

        ``plugin_name``: an importable module that implements the ``ie_core_backends`` hook
        (``"ie_backend_cpu"``), the path of such a ``.py`` file or package directory, or an
        Inference Engine library name (``"MKLDNNPlugin"``, ``"libHeteroPlugin.so"``), which
        stands for the installed ie-core package of its device (:data:`PLUGIN_LIBRARIES`).
        ``device_name`` picks one of the module's devices, or registers its only device under
        that name. A device name already registered raises PluginRegistrationError, as the
        original did.
        """
        classes = _plugin_backends(plugin_name)
        if device_name:
            wanted = device_name.upper()
            named = [cls for cls in classes if cls.device_name == wanted]
            if not named and len(classes) != 1:
                raise PluginRegistrationError(
                    f"{plugin_name} provides the devices {[cls.device_name for cls in classes]}, not {device_name}"
                )
            cls = named[0] if named else type(classes[0].__name__, (classes[0],), {"device_name": wanted})
            classes = [cls]
        for cls in classes:
            if cls.device_name in self._registry.backends():
                raise PluginRegistrationError(
                    f'Device with "{cls.device_name}" is already registered in the InferenceEngine'
                )
        for cls in classes:
            self._registry.added[cls.device_name] = (cls, str(plugin_name))
            self._registry.removed.discard(cls.device_name)

    def register_plugins(self, xml_config_file):
        """Register the plugins a plugins XML file lists, as the Inference Engine's plugins.xml:

        ``<ie><plugins><plugin name="CPU" location="ie_backend_cpu"><properties><property key="K"
        value="V"/></properties><extensions><extension location="lib.so"/></extensions></plugin></plugins></ie>``.
        ``location`` is what :meth:`register_plugin` takes (a relative path is relative to the
        file); the properties are set on the device, the extensions added to it.
        """
        path = os.fspath(xml_config_file)
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as exc:
            raise PluginRegistrationError(f"{path}: cannot read the plugins file: {exc}") from None
        entries = root.findall("./plugins/plugin")
        if root.tag != "ie" or not entries:
            raise PluginRegistrationError(f"{path}: expected <ie><plugins><plugin name=... location=.../>...")
        for entry in entries:
            name, location = entry.get("name"), entry.get("location")
            if not name or not location:
                raise PluginRegistrationError(f"{path}: a <plugin> needs the attributes name and location")
            if location.endswith(".py") or os.sep in location or "/" in location:
                location = os.path.join(os.path.dirname(os.path.abspath(path)), location)
            self.register_plugin(location, name)
            properties = {p.get("key"): p.get("value") for p in entry.findall("./properties/property")}
            if properties:
                self.set_config(properties, name)
            for extension in entry.findall("./extensions/extension"):
                self.add_extension(extension.get("location"), name)

    def unregister_plugin(self, device_name):
        """Remove ``device_name`` from this IECore (``register_plugin`` can bring it back)."""
        name = device_name.upper()
        if name not in self._registry.backends():
            raise DeviceNotRegisteredError(f'Device with "{device_name}" name is not registered in the InferenceEngine')
        self._registry.removed.add(name)
        self._registry.added.pop(name, None)
        for key in [k for k in self._plugins if k.partition(":")[0].partition(".")[0].upper() == name]:
            del self._plugins[key]


def _plugin_backends(plugin_name):
    """The Backend classes that the plugin module named ``plugin_name`` provides (see IECore.register_plugin)."""
    location = os.fspath(plugin_name)
    library = re.fullmatch(r"(?:lib)?(\w+?)(?:\.so|\.dll|\.dylib)?", os.path.basename(location))
    try:
        if library and library.group(1) in PLUGIN_LIBRARIES:
            module = _device_package(PLUGIN_LIBRARIES[library.group(1)], plugin_name)
        elif os.path.exists(location):
            file = os.path.join(location, "__init__.py") if os.path.isdir(location) else location
            stem = os.path.splitext(os.path.basename(os.path.normpath(location)))[0]
            spec = importlib.util.spec_from_file_location(f"ie_core_registered_{stem}", file)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(location)
    except ImportError as exc:
        raise PluginRegistrationError(f"Cannot register plugin {plugin_name}: {exc}") from None
    hook = getattr(module, "ie_core_backends", None)
    if hook is None:
        raise PluginRegistrationError(f"Cannot register plugin {plugin_name}: {module.__name__} has no ie_core_backends hook")
    classes = list(hook() or ())
    problems = [problem for problem in map(_backend_problem, classes) if problem]
    if problems or not classes:
        raise PluginRegistrationError(f"Cannot register plugin {plugin_name}: {'; '.join(problems) or 'it provides no device'}")
    return classes


def _device_package(device, plugin_name):
    """The module of the installed package that KNOWN_DEVICES names for ``device``, found through its entry point."""
    package = KNOWN_DEVICES[device]
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.dist is not None and ep.dist.metadata["name"].replace("_", "-").lower() == package:
            return ep.load()
    raise PluginRegistrationError(
        f"Cannot register plugin {plugin_name}: it is the {device} plugin, which ie-core's package {package} "
        f"provides: pip install {package}"
    )
