"""The Inference Engine Python API: IENetwork, IENetLayer, IEPlugin, ExecutableNetwork, InferRequest."""

import os
import threading
import time
import weakref
from collections import OrderedDict

import numpy as np

from .backend import Capability, LayerSupport
from .errors import (
    ConfigError,
    InferenceError,
    InputError,
    InputNameError,
    LayerNotFoundError,
    NetworkArgumentError,
    NotSupportedError,
    OutOfMemoryError,
    ParamsTypeError,
    RequestError,
)
from .graph import Node, Output, output_name
from .ir import read_network
from .limits import tensor_bytes
from .pipeline import run_stages, start_stages
from .plugins import registry_for
from .tensor import Tensor, to_allocator, to_host
from .types import precision_name


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


class InputInfo(list):
    """An input's dims: a list (``n, c, h, w = net.inputs['data']``) that also has ``shape``, ``precision``, ``layout``."""

    _LAYOUTS = {0: "SCALAR", 1: "C", 2: "NC", 3: "CHW", 4: "NCHW", 5: "NCDHW"}

    def __init__(self, dims, precision):
        super().__init__(dims)
        self.precision = precision

    @property
    def shape(self):
        return list(self)

    @property
    def layout(self):
        return self._LAYOUTS.get(len(self), "BLOCKED")


class IENetLayer:
    """One layer of an IENetwork.

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

    def __init__(self, node):
        self._node = node

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
        dtype = self._node.output_dtypes[0] if self._node.output_dtypes else None
        return precision_name(dtype) if dtype is not None else "UNSPECIFIED"

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
    """A network read from IR: ``IENetwork(model=xml, weights=bin)`` or ``IENetwork.from_ir(model, weights)``."""

    def __init__(self, model=None, weights=None):
        if model is None:
            raise NetworkArgumentError("IENetwork needs the path of the model's .xml file")
        model = os.fspath(model)
        weights = os.fspath(weights) if weights is not None else os.path.splitext(model)[0] + ".bin"
        self._graph = read_network(model, weights)
        self._extra_outputs = []

    @classmethod
    def from_ir(cls, model, weights):
        """Read the IR at ``model`` (.xml) and ``weights`` (.bin)."""
        return cls(model=model, weights=weights)

    @property
    def name(self):
        return self._graph.name

    @property
    def inputs(self):
        return OrderedDict(
            (p.name, InputInfo(p.output_shapes[0], precision_name(p.output_dtypes[0])))
            for p in self._graph.parameters
        )

    def _output_ports(self):
        ports = [r.inputs[0] for r in self._graph.results]
        return list(OrderedDict.fromkeys(ports + self._extra_outputs))

    @property
    def outputs(self):
        return list(OrderedDict.fromkeys(output_name(src) for src in self._output_ports()))

    @property
    def layers(self):
        return OrderedDict((n.name, IENetLayer(n)) for n in self._graph.nodes if n.type != "Result")

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

    def add_outputs(self, outputs, precision="FP32"):
        """Also return the tensors of these layers (a name or list of names; ``layer.N`` picks port N)."""
        if isinstance(outputs, str):
            outputs = [outputs]
        for name in outputs:
            for src in self._resolve_output(name):
                if src not in self._output_ports():
                    self._extra_outputs.append(src)

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


class IEPlugin:
    """A device: ``IEPlugin(device="CPU", plugin_dirs=None)``."""

    def __init__(self, device, plugin_dirs=None):
        self._registry = registry_for(plugin_dirs)
        self._backend = self._registry.create(device)
        self._device = device

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
        if isinstance(num_requests, bool) or not isinstance(num_requests, (int, np.integer)) or num_requests <= 0:
            raise RequestError(
                f"Incorrect number of requests specified: {num_requests}. Expected positive integer number."
            )
        merged = self._backend.validate_config(config)
        graph = network._graph_for_load(self._backend.extension_ops())
        compiled = self._backend.compile(graph, merged, int(num_requests))
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
        graph = net._graph_for_load(self._backend.extension_ops())
        nodes = {n.name: n for n in net._graph.nodes}
        for name, device in self._backend.initial_affinity(graph).items():
            if name in nodes:
                nodes[name].rt_info["affinity"] = device


class ExecutableNetwork:
    """A network loaded on a device, with its inference requests."""

    def __init__(self, compiled, graph, num_requests, config):
        self._compiled = compiled
        self._config = dict(config)
        self._name = graph.name
        specs = {p.name: (p.output_shapes[0], p.output_dtypes[0]) for p in graph.parameters}
        results = [r.name for r in graph.results] if config.get("PERF_COUNT") == "YES" else None
        allocator = compiled.allocator()
        self.requests = tuple(
            InferRequest(compiled.create_request(), specs, allocator, results, self) for _ in range(num_requests)
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

    def __init__(self, backend_request, input_specs, allocator, profiled_results=None, network=None):
        self._request = backend_request
        self._allocator = allocator
        self._stages = None
        self._network = network  # the ExecutableNetwork stays alive while its requests are used
        self.inputs = {name: _zeros(name, shape, dtype) for name, (shape, dtype) in input_specs.items()}
        self._specs = input_specs
        self._bound = {}
        self._output_tensors = {}
        self.outputs = {}
        self.latency = 0.0
        self.error = None
        self._callback = None
        self._done = threading.Event()
        self._started = False
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
        """Call ``py_callback(status, py_data)`` when an asynchronous inference ends (on the device's thread)."""
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
        finished = self._done.wait(None if timeout == -1 else timeout / 1000.0)
        if not finished:
            return StatusCode.RESULT_NOT_READY
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
            if self._started and not self._done.is_set():
                raise InferenceError("[REQUEST_BUSY] the request is still running; wait() for it first")
            self._fill(inputs)
            allocator = self._allocator
            tensors = {
                name: to_allocator(self._bound.get(name, array), allocator) for name, array in self.inputs.items()
            }
            self._done.clear()
            self._started = True
            self.error = None
            self._stamps = [start, time.perf_counter_ns(), 0, 0]
            return tensors

    def _finish(self, outputs, error):
        stamps = self._stamps
        stamps[2] = time.perf_counter_ns()
        if error is None:
            self._output_tensors = outputs
            self.outputs = {name: to_host(value) for name, value in outputs.items()}
        else:
            self.error = error if isinstance(error, Exception) else InferenceError(str(error))
        stamps[3] = time.perf_counter_ns()
        self.latency = (stamps[3] - stamps[0]) / 1e6
        callback = self._callback
        self._done.set()
        if callback is not None:
            callback[0](StatusCode.OK if error is None else StatusCode.GENERAL_ERROR, callback[1])

    def _fill(self, inputs):
        if inputs is None:
            return
        if not isinstance(inputs, dict):
            raise InputError(f"inputs must be a dict of input name -> numpy array, got {type(inputs).__name__}")
        for name, value in inputs.items():
            target = self.inputs.get(name)
            if target is None:
                raise InputNameError(f"No input with name {name} found in network; its inputs are {list(self.inputs)}")
            self.inputs[name][...] = _checked_input(name, value, target)
            self._bound.pop(name, None)


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
