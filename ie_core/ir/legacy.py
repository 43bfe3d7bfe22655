"""Reading legacy IR v2–v7 (Model Optimizer 2018–2020) onto the same Graph as IR v10/v11.

Every legacy layer becomes opset nodes, as OpenVINO's own conversion of v7 networks did:
Convolution with a ``biases`` blob becomes Convolution + Add of a per-channel Const,
FullyConnected (Reshape) MatMul + Add, ScaleShift Multiply + Add, and so on (one function
per layer type below). Naming: the node that carries a layer's result keeps the layer's name
and has ``rt_info`` ``legacy_type``, ``legacy_precision`` and ``legacy_blobs`` (the layer's
blobs as 1-D arrays of their stored type); helper nodes are named ``<layer>/<role>`` and have
``rt_info["legacy_layer"]``. A layer with several outputs keeps them on one node, so its
tensors are ``<layer>.<i>`` as in the Inference Engine.

Read as the Inference Engine read these files: spatial attributes in both notations (v2
``kernel-x``/``stride-y``/``pad-r``..., v3+ ``kernel``/``strides``/``pads_begin``...); blobs
in the layer's precision (v2–v6) or their own (v7), FP16 ones widened to float32, so the
network computes in float32 with FP32 inputs and outputs; the network's outputs are the
tensors no layer reads (ordered by name, as are the inputs). A ``<pre-process>`` block
applies to its input as the CPU plugin applied it: ``(x - mean) / scale`` per channel with
mean values (a Subtract and a Divide after the Parameter), ``x - mean image`` with a mean
image from the .bin. ``<meta_data>`` and ``<statistics>`` are ignored; the ``batch``
attribute must be a positive integer (the dims already hold the batch).
"""

import numpy as np

from ..errors import GraphError, IRError, ShapeInferenceError, UnsupportedOpError, WeightsError
from ..graph import Graph, Node, Output, output_name, topological_order
from ..limits import shape_problem
from ..ops.registry import Attrs
from ..types import storage_bytes, to_dtype
from .reader import IRv10Reader

PRECISIONS = {"FP32": "f32", "FP16": "f16", "FP64": "f64", "I64": "i64", "I32": "i32", "I16": "i16", "I8": "i8",
              "U8": "u8", "U16": "u16", "BOOL": "boolean"}


def _csv(values):
    return ",".join(str(v) for v in values)


class LegacyIRReader(IRv10Reader):
    """Builds a Graph of opset nodes from the parsed ``<net>`` of a legacy IR (v2 to v7) and its weights."""

    def __init__(self, xml_path, bin_path, blob, version):
        super().__init__(xml_path, bin_path, blob)
        self.version = version
        self.net_precision = None

    def read(self, root):
        self.net_precision = root.get("precision")
        batch = root.get("batch", "1")
        if not batch.isdigit() or int(batch) <= 0:
            raise IRError(f"{self.xml_path}: the batch attribute {batch!r} is not a positive integer")
        layers_el = root.find("layers")
        if layers_el is None:
            raise IRError(f"{self.xml_path}: no <layers> element")
        layers, stubs, ports, names = {}, {}, {}, set()
        for layer in layers_el.findall("layer"):
            for attr in ("id", "name", "type"):
                if layer.get(attr) is None:
                    raise self.error(layer, f"missing attribute '{attr}'")
            lid, name = layer.get("id"), layer.get("name")
            if lid in layers:
                raise self.error(layer, f"duplicate layer id {lid}")
            if name in names:
                raise self.error(layer, f"a second layer is named '{name}'")
            names.add(name)
            if _translator(layer.get("type")) is None:
                raise self.error(layer, f"unknown legacy layer type '{layer.get('type')}'; ie_core reads "
                                        f"{', '.join(sorted(TRANSLATORS))}", UnsupportedOpError)
            layers[lid], ports[lid] = layer, self.port_map(layer)
            self.check_ports(layer, ports[lid])
            num_outputs = sum(1 for d, *_ in ports[lid].values() if d == "out")
            stubs[lid] = Node(lid, name, layer.get("type"), "", {}, [], num_outputs)
        if not any(_translator(el.get("type")) in (_input, _const) for el in layers.values()):
            raise IRError(f"{self.xml_path}: the network has no Input or Const layer")
        self.connect(root, layers, stubs, ports)
        self.check_edge_dims(stubs, ports)
        order = self.in_file(lambda: topological_order(list(stubs.values())))
        pre_process = self.pre_process(root, layers, ports)
        built, nodes, translated = {}, [], {}
        for stub in order:
            layer = LegacyLayer(self, layers[stub.id], ports[stub.id], [built[src] for src in stub.inputs])
            outputs = layer.translate(pre_process.get(stub.name))
            for i, out in enumerate(outputs):
                built[Output(stub, i)] = out
            nodes += layer.nodes
            translated[stub.id] = outputs
        read_by = {src for stub in order for src in stub.inputs}
        ends = sorted((o for o in built if o not in read_by), key=output_name)
        results = [Node(f"result:{output_name(o)}", f"{output_name(o)}/sink_port_0", "Result", "opset1", {},
                        [built[o]], 0) for o in ends]
        params = sorted((n for n in nodes if n.type == "Parameter"), key=lambda n: n.name)
        graph = Graph(root.get("name", ""), params + [n for n in nodes if n.type != "Parameter"] + results)
        self.in_file(graph.resolve_ops)
        self.in_file(graph.infer_shapes)
        self.check_translated_shapes(layers, ports, translated)
        return graph

    def check_ports(self, layer, port_map):
        """Raise for dims or a precision the Inference Engine rejects, or a layer without outputs; v7 output
        ports must declare a precision."""
        if not any(direction == "out" for direction, *_ in port_map.values()):
            raise self.error(layer, "has no output port")
        for value in (layer.get("precision"), self.net_precision):
            if value is not None and value.upper() not in PRECISIONS:
                raise self.error(layer, f"unsupported precision '{value}'")
        for direction, _, dims, port in port_map.values():
            if any(d <= 0 for d in dims):
                raise self.error(layer, f"port {port.get('id')} has dims {list(dims)}: legacy IR dims are positive")
            problem = shape_problem(dims, np.float32)
            if problem:
                raise self.error(layer, f"port {port.get('id')}: {problem}")
            value = port.get("precision")
            if value is not None and value.upper() not in PRECISIONS:
                raise self.error(layer, f"port {port.get('id')} has unsupported precision '{value}'")
            if self.version >= 7 and direction == "out" and value is None:
                raise self.error(layer, f"output port {port.get('id')} has no precision (IR v7 declares it per port)")

    def check_edge_dims(self, stubs, ports):
        """Raise where an edge connects ports with different declared dims, as the Inference Engine did."""
        by_index = {lid: {(d, i): dims for d, i, dims, _ in p.values()} for lid, p in ports.items()}
        for lid, stub in stubs.items():
            for i, src in enumerate(stub.inputs):
                want, have = by_index[lid][("in", i)], by_index[src.node.id][("out", src.index)]
                if want != have:
                    raise GraphError(
                        f"{self.xml_path}: layer '{stub.name}' input {i} declares dims {list(want)}, its edge "
                        f"from '{src.node.name}' output {src.index} carries {list(have)}"
                    )

    def check_translated_shapes(self, layers, ports, translated):
        """Raise if a layer's translated output shape contradicts the dims the IR declares for it."""
        for lid, outputs in translated.items():
            declared = sorted((i, dims) for d, i, dims, _ in ports[lid].values() if d == "out")
            for (i, dims), out in zip(declared, outputs):
                got = out.node.output_shapes[out.index]
                if tuple(got) != tuple(dims):
                    raise self.error(layers[lid], f"output {i} has shape {list(got)} by shape inference, the IR "
                                                  f"declares {list(dims)}", ShapeInferenceError)

    def element_type(self, layer, *precisions):
        """The element type of the first precision name given (None: not given) that is set."""
        precision = next((p for p in precisions if p), None)
        if precision is None:
            raise self.error(layer, "no precision on the blob, its layer, its output port or the net")
        if precision.upper() not in PRECISIONS:
            raise self.error(layer, f"unsupported precision '{precision}'")
        return PRECISIONS[precision.upper()]

    def segment(self, layer, what, el, element_type):
        """The values of a ``.bin`` segment ``el`` (offset/size attributes) as a 1-D array of ``element_type``."""
        try:
            offset, size = int(el.get("offset")), int(el.get("size"))
        except (TypeError, ValueError):
            raise self.error(layer, f"{what} needs integer 'offset' and 'size' attributes") from None
        raw = self.segment_bytes(layer, what, offset, size)
        itemsize = storage_bytes(element_type, 1)
        if size % itemsize:
            raise self.error(layer, f"{what}: size {size} is not a whole number of {element_type} values "
                                    f"({itemsize} bytes each)", WeightsError)
        return self.const_array(raw, element_type, (size // itemsize,))

    def pre_process(self, root, layers, ports):
        """{input name: (mean values or image, scales)} from the ``<pre-process>`` block, validated."""
        el = root.find("pre-process")
        if el is None:
            return {}
        inputs = {l.get("name"): l for l in layers.values() if _translator(l.get("type")) is _input}
        name = (el.get("reference-layer-name") or "").strip()
        if not name:
            four_d = [n for n, l in inputs.items() if len(self._out_dims(ports, l)) == 4]
            name = (four_d or sorted(inputs))[0] if inputs else ""
        if name not in inputs:
            raise IRError(f"{self.xml_path}: <pre-process> refers to '{name}', which is not an Input layer")
        layer = inputs[name]
        dims = self._out_dims(ports, layer)
        if len(dims) not in (3, 4, 5):
            raise self.error(layer, f"<pre-process> needs an input of rank 3 to 5, got dims {list(dims)}")
        channels, height, width = dims[-3], dims[-2], dims[-1]
        means, images, scales = {}, {}, np.ones(channels, np.float32)
        last = -1
        for chan in el.findall("channel"):
            index = int(chan.get("id", last + 1))
            if not 0 <= index < channels:
                raise self.error(layer, f"<pre-process> channel id {index} is not one of the {channels} channels")
            last = index
            mean = chan.find("mean")
            if mean is not None and mean.get("value") is not None:
                means[index] = float(mean.get("value"))
            elif mean is not None and mean.get("size") is not None:
                if not el.get("mean-precision"):
                    raise self.error(layer, "<pre-process> gives a mean image without a mean-precision")
                et = self.element_type(layer, el.get("mean-precision"))
                image = self.segment(layer, f"<pre-process> mean image of channel {index}", mean, et)
                if image.size != height * width:
                    raise self.error(layer, f"<pre-process> mean image of channel {index} holds {image.size} values, "
                                            f"the input is {height} x {width}", WeightsError)
                images[index] = image.astype(np.float32).reshape(height, width)
            elif mean is not None:
                raise self.error(layer, "<pre-process> <mean> needs a 'value' or 'offset' and 'size'")
            scale = chan.find("scale")
            if scale is not None and scale.get("value") is not None:
                scales[index] = float(scale.get("value"))
                if scales[index] == 0:
                    raise self.error(layer, f"<pre-process> scale of channel {index} is 0")
        if len(images) == channels:
            return {name: (np.stack([images[c] for c in range(channels)]), None)}
        if len(means) == channels:
            return {name: (np.array([means[c] for c in range(channels)], np.float32), scales)}
        if means or images:
            raise self.error(layer, "<pre-process> gives a mean for some channels only")
        return {}

    @staticmethod
    def _out_dims(ports, layer):
        return next(dims for d, _, dims, _ in ports[layer.get("id")].values() if d == "out")


class LegacyLayer:
    """One legacy layer being translated: its attributes, blobs, input tensors and the nodes made for it."""

    def __init__(self, reader, el, port_map, inputs):
        self.reader = reader
        self.el = el
        self.name, self.type = el.get("name"), el.get("type")
        data = el.find("data")
        self.attrs = Attrs(dict(data.attrib) if data is not None else {}, self.name)
        ordered = sorted(port_map.values(), key=lambda p: (p[0], p[1]))
        self.in_dims = [dims for d, _, dims, _ in ordered if d == "in"]
        self.out_dims = [dims for d, _, dims, _ in ordered if d == "out"]
        self.out_precisions = [port.get("precision") for d, _, _, port in ordered if d == "out"]
        self.inputs = inputs
        self.nodes = []
        self.blobs = {}

    def error(self, message, kind=IRError):
        return self.reader.error(self.el, message, kind)

    def translate(self, pre_process):
        """The layer's output tensors, one per output port, after building its nodes."""
        try:
            outputs = _translator(self.type)(self)
            primary = outputs[0].node
            if self.type.lower() == "input" and pre_process is not None:
                outputs = [self.pre_process(outputs[0], *pre_process)]
        except ShapeInferenceError as exc:  # an attribute that does not parse
            raise IRError(f"{self.reader.xml_path}: {exc}") from None
        if len(outputs) != len(self.out_dims):
            raise self.error(f"has {len(self.out_dims)} output ports, the {self.type} layer produces {len(outputs)}")
        primary.id, primary.name = self.el.get("id"), self.name
        del primary.rt_info["legacy_layer"]
        primary.rt_info.update(legacy_type=self.type, legacy_blobs=self.blobs,
                               legacy_precision=self.el.get("precision") or self.reader.net_precision)
        for i, out in enumerate(outputs):
            if out.node is primary:
                primary.output_names[out.index] = {self.name if len(outputs) == 1 else f"{self.name}.{i}"}
        return outputs

    # -- building nodes

    def _add(self, node):
        node.rt_info["legacy_layer"] = self.name
        self.nodes.append(node)
        return node

    def op(self, role, type_name, inputs, attrs=None, version="opset1", outputs=1):
        """A node ``<layer>/<role>`` of an opset op; returns the Node (``.output(i)`` for its tensors)."""
        attrs = {k: (v if isinstance(v, str) else _csv(v) if isinstance(v, (list, tuple)) else str(v).lower()
                     if isinstance(v, bool) else str(v)) for k, v in (attrs or {}).items()}
        node = Node(f"{self.el.get('id')}/{role}", f"{self.name}/{role}", type_name, version, attrs, inputs, outputs)
        return self._add(node)

    def out(self, role, type_name, inputs, attrs=None, version="opset1"):
        """Like :meth:`op` for a one-output op, returning its tensor."""
        return self.op(role, type_name, inputs, attrs, version).output(0)

    def const(self, role, value, dtype=np.float32):
        """A Const node ``<layer>/<role>`` holding ``value``; returns its tensor."""
        value = np.asarray(value, dtype=dtype)
        node = Node(f"{self.el.get('id')}/{role}", f"{self.name}/{role}", "Const", "opset1",
                    {"shape": _csv(value.shape)}, [], 1, value)
        node.output_shapes[0], node.output_dtypes[0] = value.shape, value.dtype
        return self._add(node).output(0)

    def ints(self, role, values):
        return self.const(role, values, np.int64)

    def as_i64(self, role, tensor):
        """``tensor`` converted to i64 unless it is an i64 constant already (legacy Consts hold shapes as floats)."""
        value = tensor.node.values[tensor.index]
        if value is not None and value.dtype == np.int64:
            return tensor
        return self.out(role, "Convert", [tensor], {"destination_type": "i64"})

    # -- reading the layer

    def blob(self, key, count=None):
        """Blob ``key`` (``<blobs><key .../>``, or a direct child in v2) as a float32 (or integer) 1-D array.

        Returns None when the layer has no such blob (or it is empty, which the Inference Engine
        skipped); raises when ``count`` values are needed and the blob holds another number.
        """
        blobs = self.el.find("blobs")
        el = blobs.find(key) if blobs is not None else None
        if el is None:
            el = self.el.find(key)
        if el is None or el.get("size") == "0":
            return None
        # the Inference Engine's order: the blob's, for a Const its port's, the layer's, the net's, the port's
        port = self.out_precisions[0] if self.out_precisions else None
        et = self.reader.element_type(self.el, el.get("precision"), port if self.type.lower() == "const" else None,
                                      self.el.get("precision"), self.reader.net_precision, port)
        raw = self.reader.segment(self.el, f"blob '{key}'", el, et)
        if count is not None and raw.size != count:
            raise self.error(f"blob '{key}' holds {raw.size} {et} values, the layer needs {count}", WeightsError)
        self.blobs[key] = raw
        return raw.astype(np.float32, copy=False) if raw.dtype.kind == "f" else raw

    def tensor_or_blob(self, port, key, shape):
        """The weights-like operand of ``shape``: input ``port`` when the layer has it (v5+ Const inputs), else
        blob ``key`` as a Const; raises when there is neither."""
        count = int(np.prod(shape))
        if port < len(self.inputs):
            tensor = self.inputs[port]
            if tuple(self.in_dims[port]) != tuple(shape):
                if int(np.prod(self.in_dims[port])) != count:
                    raise self.error(f"input {port} has dims {list(self.in_dims[port])}, the layer needs {count} "
                                     f"{key} values")
                tensor = self.out(f"{key}_reshape", "Reshape", [tensor, self.ints(f"{key}_shape", shape)])
            return tensor
        values = self.blob(key, count)
        if values is None:
            raise self.error(f"has neither a '{key}' blob nor an input port {port} for them", WeightsError)
        return self.const(key, values.reshape(shape))

    def channel_blob(self, key, channels, rank, required=True, allow_scalar=False):
        """Per-channel blob ``key`` shaped ``[1, C, 1, ...]`` (``[1] * rank`` for a single broadcast value)."""
        values = self.blob(key)
        if values is None:
            if required:
                raise self.error(f"has no '{key}' blob", WeightsError)
            return None
        if values.size == channels:
            shape = [1, channels] + [1] * (rank - 2)
        elif allow_scalar and values.size == 1:
            shape = [1] * rank
        else:
            raise self.error(f"blob '{key}' holds {values.size} values, the layer needs {channels} (one per channel)",
                             WeightsError)
        return values.reshape(shape)

    def spatial(self, key, v2_keys, n, default):
        """A per-spatial-axis list: the v3+ list attribute ``key``, else the v2 scalars ``v2_keys`` (y, x)."""
        if key in self.attrs:
            values = list(self.attrs.ints(key))
            if len(values) != n:
                raise self.error(f"attribute {key}={values} needs {n} values")
            return values
        if v2_keys and n == 2 and any(k in self.attrs for k in v2_keys):
            y_key, x_key = v2_keys
            x = self.attrs.int(x_key) if x_key in self.attrs else self.attrs.int(y_key)
            return [self.attrs.int(y_key, x), x]
        return list(default) if isinstance(default, list) else [default] * n

    def window(self, n, with_dilations=True):
        """Kernel, strides, pads and auto_pad attributes of a convolution or pooling window (opset notation)."""
        kernel = self.spatial("kernel", ("kernel-y", "kernel-x"), n, None)
        if None in kernel:
            raise self.error("has no kernel (kernel or kernel-x/kernel-y)")
        pads_begin = self.spatial("pads_begin", ("pad-y", "pad-x"), n, 0)
        attrs = {
            "kernel": kernel,
            "strides": self.spatial("strides", ("stride-y", "stride-x"), n, 1),
            "pads_begin": pads_begin,
            "pads_end": self.spatial("pads_end", ("pad-b", "pad-r"), n, pads_begin),
        }
        if with_dilations:
            attrs["dilations"] = self.spatial("dilations", ("dilation-y", "dilation-x"), n, 1)
        auto_pad = self.attrs.str("auto_pad", "").lower()
        if auto_pad:
            if auto_pad not in ("same_upper", "same_lower", "valid", "explicit", "notset"):
                raise self.error(f"unknown auto_pad '{auto_pad}'")
            attrs["auto_pad"] = auto_pad
        return attrs

    def pre_process(self, tensor, mean, scales):
        """``tensor`` (an input) minus the mean (values or image) and divided by the scales, as IE applied them."""
        rank = len(self.out_dims[0])
        if mean.ndim == 1:
            shape = [1] * (rank - 3) + [len(mean), 1, 1]
            tensor = self.out("subtract_mean", "Subtract", [tensor, self.const("mean", mean.reshape(shape))])
            if (scales != 1).any():
                tensor = self.out("divide_scale", "Divide", [tensor, self.const("scale", scales.reshape(shape))])
            return tensor
        shape = [1] * (rank - 3) + list(mean.shape)
        return self.out("subtract_mean", "Subtract", [tensor, self.const("mean_image", mean.reshape(shape))])

    def bias(self, tensor, port, channels, rank):
        """``tensor`` plus the per-channel biases (blob or input ``port``), or ``tensor`` when there are none."""
        if port < len(self.inputs):
            values = self.inputs[port]
            shape = [1, channels] + [1] * (rank - 2)
            if tuple(self.in_dims[port]) != tuple(shape):
                values = self.out("biases_reshape", "Reshape", [values, self.ints("biases_shape", shape)])
        else:
            blob = self.blob("biases", channels)
            if blob is None:
                return tensor
            values = self.const("biases", blob.reshape([1, channels] + [1] * (rank - 2)))
        return self.out("add_biases", "Add", [tensor, values])

    def axis(self, key="axis", default=1, rank=None):
        rank = len(self.in_dims[0]) if rank is None else rank
        value = self.attrs.int(key, default)
        if not -rank <= value < rank:
            raise self.error(f"attribute {key}={value} is out of range for rank {rank}")
        return value % rank


# ------------------------------------------------------------------------------------------------
# the catalog: one function per legacy layer type, returning the layer's output tensors


def _input(b):
    et = b.reader.element_type(b.el, b.out_precisions[0], b.el.get("precision"), b.reader.net_precision, "FP32")
    et = "f32" if et == "f16" else et  # the Inference Engine fed FP16 networks with FP32 inputs
    dims = b.out_dims[0]
    node = b._add(Node(b.el.get("id"), b.name, "Parameter", "opset1",
                                    {"shape": _csv(dims), "element_type": et}, [], 1))
    node.output_shapes[0], node.output_dtypes[0] = tuple(dims), to_dtype(et)
    return [node.output(0)]


def _const(b):
    blobs = b.el.find("blobs")
    children = list(blobs) if blobs is not None else []
    if len(children) != 1:
        raise b.error(f"a Const layer needs exactly one blob, has {len(children)}", WeightsError)
    dims = b.out_dims[0]
    values = b.blob(children[0].tag, int(np.prod(dims)))
    return [b.const("value", values.reshape(dims), values.dtype)]


def _convolution(b):
    x, in_dims = b.inputs[0], b.in_dims[0]
    n = len(in_dims) - 2
    attrs = b.window(n)
    group, out_c, in_c = b.attrs.int("group", 1), b.attrs.int("output"), in_dims[1]
    if group <= 0 or in_c % group or out_c % group:
        raise b.error(f"group {group} does not divide {in_c} input and {out_c} output channels")
    kernel = attrs.pop("kernel")
    if group == 1:
        w = b.tensor_or_blob(1, "weights", [out_c, in_c] + kernel)
        y = b.out("convolution", "Convolution", [x, w], attrs)
    else:
        w = b.tensor_or_blob(1, "weights", [group, out_c // group, in_c // group] + kernel)
        y = b.out("convolution", "GroupConvolution", [x, w], attrs)
    return [b.bias(y, 2, out_c, n + 2)]


def _deconvolution(b):
    x, in_dims = b.inputs[0], b.in_dims[0]
    n = len(in_dims) - 2
    attrs = b.window(n)
    group, out_c, in_c = b.attrs.int("group", 1), b.attrs.int("output"), in_dims[1]
    if group <= 0 or in_c % group or out_c % group:
        raise b.error(f"group {group} does not divide {in_c} input and {out_c} output channels")
    kernel = attrs.pop("kernel")
    if attrs.get("auto_pad", "explicit") in ("explicit", "notset"):  # output_padding reaches the declared size
        attrs["output_padding"] = [
            max(0, b.out_dims[0][2 + i] - (s * (size - 1) + d * (k - 1) + 1 - pb - pe))
            for i, (size, k, s, d, pb, pe) in enumerate(zip(in_dims[2:], kernel, attrs["strides"], attrs["dilations"],
                                                            attrs["pads_begin"], attrs["pads_end"]))
        ]
    if group == 1:
        w = b.tensor_or_blob(1, "weights", [in_c, out_c] + kernel)
        y = b.out("deconvolution", "ConvolutionBackpropData", [x, w], attrs)
    else:
        w = b.tensor_or_blob(1, "weights", [group, in_c // group, out_c // group] + kernel)
        y = b.out("deconvolution", "GroupConvolutionBackpropData", [x, w], attrs)
    return [b.bias(y, 2, out_c, n + 2)]


def _pooling(b):
    attrs = b.window(len(b.in_dims[0]) - 2, with_dilations=False)
    attrs["rounding_type"] = b.attrs.str("rounding_type", b.attrs.str("rounding-type", "floor")).lower()
    method = b.attrs.str("pool-method", "max").lower()
    if method == "max":
        return [b.out("max_pool", "MaxPool", [b.inputs[0]], attrs)]
    if method != "avg":
        raise b.error(f"unknown pool-method '{method}'")
    attrs["exclude-pad"] = b.attrs.bool("exclude-pad", False)
    return [b.out("avg_pool", "AvgPool", [b.inputs[0]], attrs)]


def _fully_connected(b):
    x, in_dims = b.inputs[0], b.in_dims[0]
    out_size = b.attrs.int("out-size")
    if len(in_dims) != 2:
        x = b.out("flatten", "Reshape", [x, b.ints("flatten_shape", [0, -1])], {"special_zero": True})
    w = b.tensor_or_blob(1, "weights", [out_size, int(np.prod(in_dims[1:]))])
    y = b.out("matmul", "MatMul", [x, w], {"transpose_a": False, "transpose_b": True})
    return [b.bias(y, 2, out_size, 2)]


def _relu(b):
    slope = b.attrs.float("negative_slope", 0.0)
    if slope == 0:
        return [b.out("relu", "Relu", [b.inputs[0]])]
    dims = b.in_dims[0]
    slopes = [slope] * (dims[1] if len(dims) >= 2 else 1)  # per channel: oneDNN's fast PReLU kernels take that
    return [b.out("leaky_relu", "PRelu", [b.inputs[0], b.const("slope", slopes)])]


def _prelu(b):
    dims = b.in_dims[0]
    shared = b.attrs.bool("channel_shared", False)
    slopes = b.blob("weights", 1 if shared or len(dims) < 2 else dims[1])
    if slopes is None:
        raise b.error("has no 'weights' blob (the slopes)", WeightsError)
    return [b.out("prelu", "PRelu", [b.inputs[0], b.const("slope", slopes)])]


def _activation(b):
    kind, x = b.attrs.str("type").lower(), b.inputs[0]
    simple = {"sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp", "relu": "Relu"}
    if kind in simple:
        return [b.out(kind, simple[kind], [x])]
    if kind == "elu":
        return [b.out("elu", "Elu", [x], {"alpha": b.attrs.float("alpha", 1.0)})]
    if kind == "relu6":
        return [b.out("relu6", "Clamp", [x], {"min": 0.0, "max": 6.0})]
    if kind == "not":
        is_zero = b.out("is_zero", "Equal", [x, b.const("zero", 0.0)])
        return [b.out("not", "Convert", [is_zero], {"destination_type": "f32"})]
    raise b.error(f"unknown activation type '{kind}'", UnsupportedOpError)


def _clamp(b):
    attrs = {"min": b.attrs.float("min", 0.0), "max": b.attrs.float("max", 6.0)}
    return [b.out("clamp", "Clamp", [b.inputs[0]], attrs)]


def _power(b):
    power, scale, shift = (b.attrs.float(k, d) for k, d in (("power", 1.0), ("scale", 1.0), ("shift", 0.0)))
    y = b.inputs[0]
    if scale != 1 or (shift == 0 and power == 1):
        y = b.out("scale", "Multiply", [y, b.const("scale_value", [scale])])
    if shift != 0:
        y = b.out("shift", "Add", [y, b.const("shift_value", [shift])])
    if power != 1:
        y = b.out("power", "Power", [y, b.const("exponent", [power])])
    return [y]


_ELTWISE = {"sum": "Add", "sub": "Subtract", "mul": "Multiply", "prod": "Multiply", "div": "Divide", "max": "Maximum",
            "min": "Minimum", "squared_diff": "SquaredDifference", "floor_mod": "FloorMod", "pow": "Power"}
_COMPARE = {"equal": "Equal", "not_equal": "NotEqual", "less": "Less", "less_equal": "LessEqual",
            "greater": "Greater", "greater_equal": "GreaterEqual", "logical_and": "LogicalAnd",
            "logical_or": "LogicalOr", "logical_xor": "LogicalXor"}


def _eltwise(b):
    operation = b.attrs.str("operation", "sum").lower()
    coeff = list(b.attrs.floats("coeff", ()))
    xs = list(b.inputs)
    if len(xs) < 2:
        raise b.error(f"an Eltwise layer needs at least two inputs, has {len(xs)}")
    if coeff:
        if operation != "sum" or len(coeff) != len(xs):
            raise b.error(f"coeff {coeff} needs operation 'sum' and one value per input ({len(xs)})")
        xs = [x if c == 1 else b.out(f"coeff{i}", "Multiply", [x, b.const(f"coeff{i}_value", [c])])
              for i, (x, c) in enumerate(zip(xs, coeff))]
    if operation in _COMPARE:
        if len(xs) != 2:
            raise b.error(f"operation '{operation}' takes two inputs, has {len(xs)}")
        if operation.startswith("logical_"):
            xs = [b.out(f"input{i}_bool", "Convert", [x], {"destination_type": "boolean"}) for i, x in enumerate(xs)]
        y = b.out(operation, _COMPARE[operation], xs)
        return [b.out("to_float", "Convert", [y], {"destination_type": "f32"})]
    if operation not in _ELTWISE:
        raise b.error(f"unknown Eltwise operation '{operation}'", UnsupportedOpError)
    y = xs[0]
    for i, x in enumerate(xs[1:], 1):
        y = b.out(f"{operation}{i}", _ELTWISE[operation], [y, x])
    return [y]


def _scale_shift(b):
    dims = b.in_dims[0]
    scale = b.channel_blob("weights", dims[1], len(dims), allow_scalar=True)
    y = b.out("scale", "Multiply", [b.inputs[0], b.const("weights", scale)])
    shift = b.channel_blob("biases", dims[1], len(dims), required=False, allow_scalar=True)
    return [y if shift is None else b.out("shift", "Add", [y, b.const("biases", shift)])]


def _batch_normalization(b):
    dims = b.in_dims[0]
    eps = np.float32(b.attrs.float("epsilon"))
    variance = b.channel_blob("weights", dims[1], len(dims))
    mean = b.channel_blob("biases", dims[1], len(dims))
    gamma = b.channel_blob("gamma", dims[1], len(dims), required=False)
    beta = b.channel_blob("beta", dims[1], len(dims), required=False)
    scale = np.float32(1) / np.sqrt(variance + eps)
    if gamma is not None:
        scale = scale * gamma
    shift = -mean * scale + (beta if beta is not None else np.float32(0))
    y = b.out("scale", "Multiply", [b.inputs[0], b.const("scale_value", scale)])
    return [b.out("shift", "Add", [y, b.const("shift_value", shift)])]


def _norm(b):
    rank = len(b.in_dims[0])
    region = b.attrs.str("region", "across").lower()
    if region not in ("across", "same"):
        raise b.error(f"unknown region '{region}'")
    axes = [1] if region == "across" else list(range(2, rank))
    size = b.attrs.int("local-size", b.attrs.int("local_size", 5))
    attrs = {"alpha": b.attrs.float("alpha"), "beta": b.attrs.float("beta"), "bias": b.attrs.float("k", 1.0),
             "size": size}
    return [b.out("lrn", "LRN", [b.inputs[0], b.ints("axes", axes)], attrs)]


def _normalize(b):
    dims = b.in_dims[0]
    axes = list(range(1, len(dims))) if b.attrs.bool("across_spatial", False) else [1]
    attrs = {"eps": b.attrs.float("eps"), "eps_mode": "add"}
    y = b.out("normalize", "NormalizeL2", [b.inputs[0], b.ints("axes", axes)], attrs)
    scale = b.channel_blob("weights", dims[1], len(dims), required=False, allow_scalar=True)
    return [y if scale is None else b.out("scale", "Multiply", [y, b.const("weights", scale)])]


def _softmax(b):
    return [b.out("softmax", "SoftMax", [b.inputs[0]], {"axis": b.axis()})]


def _concat(b):
    return [b.out("concat", "Concat", list(b.inputs), {"axis": b.axis()})]


def _split(b):
    axis = b.axis()
    sizes = [dims[axis] for dims in b.out_dims]
    if len(set(sizes)) == 1:
        node = b.op("split", "Split", [b.inputs[0], b.ints("axis", axis)], {"num_splits": len(sizes)},
                    outputs=len(sizes))
    else:
        node = b.op("split", "VariadicSplit", [b.inputs[0], b.ints("axis", axis), b.ints("split_lengths", sizes)],
                    outputs=len(sizes))
    return [node.output(i) for i in range(len(sizes))]


def _crop(b):
    dims = b.in_dims[0]
    axes = [a % len(dims) for a in b.attrs.ints("axis", (1,))]
    if "crop_begin" in b.attrs:
        begin = list(b.attrs.ints("crop_begin"))
        stop = b.ints("stop", [dims[a] - e for a, e in zip(axes, b.attrs.ints("crop_end"))])
    elif "dim" in b.attrs:
        begin = list(b.attrs.ints("offset"))
        stop = b.ints("stop", [o + d for o, d in zip(begin, b.attrs.ints("dim"))])
    elif len(b.inputs) == 2:
        begin = list(b.attrs.ints("offset"))
        sizes = b.out("reference_sizes", "Gather", [b.out("reference_shape", "ShapeOf", [b.inputs[1]]),
                                                     b.ints("crop_axes", axes), b.ints("gather_axis", 0)])
        stop = b.out("stop", "Add", [sizes, b.ints("offsets", begin)])
    else:
        raise b.error("a Crop layer needs crop_begin/crop_end, offset/dim or a second input giving the size")
    if len(begin) != len(axes):
        raise b.error(f"axis {axes} and the crop offsets {begin} differ in length")
    inputs = [b.inputs[0], b.ints("start", begin), stop, b.ints("step", [1] * len(axes)), b.ints("axes", axes)]
    return [b.out("slice", "Slice", inputs, version="opset8")]


def _reshape(b):
    if len(b.inputs) >= 2:
        shape = b.as_i64("shape_i64", b.inputs[1])
    else:
        target = list(b.out_dims[0])
        if "dim" in b.attrs and b.attrs.int("axis", 0) == 0 and b.attrs.int("num_axes", -1) == -1:
            target = list(b.attrs.ints("dim"))
        shape = b.ints("shape", target)
    return [b.out("reshape", "Reshape", [b.inputs[0], shape], {"special_zero": True})]


def _flatten(b):
    dims = b.in_dims[0]
    axis = b.axis(default=0)
    end = b.axis("end_axis", -1)
    shape = [0] * axis + [-1] + list(dims[end + 1:])
    return [b.out("reshape", "Reshape", [b.inputs[0], b.ints("shape", shape)], {"special_zero": True})]


def _permute(b):
    return [b.out("transpose", "Transpose", [b.inputs[0], b.ints("order", b.attrs.ints("order"))])]


def _tile(b):
    repeats = [1] * len(b.in_dims[0])
    repeats[b.axis()] = b.attrs.int("tiles")
    return [b.out("tile", "Tile", [b.inputs[0], b.ints("repeats", repeats)])]


def _squeeze(b):
    kind = "Squeeze" if b.type.lower() == "squeeze" else "Unsqueeze"
    if len(b.inputs) != 2:
        raise b.error(f"a {kind} layer takes the axes as its second input")
    return [b.out(kind.lower(), kind, [b.inputs[0], b.as_i64("axes_i64", b.inputs[1])])]


def _pad(b):
    mode = b.attrs.str("pad_mode", "constant").lower()
    pads = [b.ints(key, b.attrs.ints(key)) for key in ("pads_begin", "pads_end")]
    inputs = [b.inputs[0], *pads]
    if mode == "constant":
        inputs.append(b.const("pad_value", b.attrs.float("pad_value", 0.0)))
    return [b.out("pad", "Pad", inputs, {"pad_mode": mode})]


def _interpolate(b, attrs, sizes=None, scales=None):
    """An Interpolate-4 over the spatial axes (2, 3) by ``sizes`` or ``scales``."""
    attrs = {"shape_calculation_mode": "sizes" if scales is None else "scales", "antialias": False,
             "cube_coeff": -0.75, "pads_begin": [0], "pads_end": [0], **attrs}
    sizes = sizes if sizes is not None else [int(d * s) for d, s in zip(b.in_dims[0][2:], scales)]
    inputs = [b.inputs[0], b.ints("sizes", sizes), b.const("scales", scales if scales is not None else [1.0, 1.0]),
              b.ints("axes", [2, 3])]
    return [b.out("interpolate", "Interpolate", inputs, attrs, version="opset4")]


def _resample(b):
    if len(b.in_dims[0]) != 4:
        raise b.error(f"a Resample layer needs a 4D input, got dims {list(b.in_dims[0])}")
    kind = b.attrs.str("type").rsplit(".", 1)[-1].upper()
    if kind == "NEAREST":
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    elif kind == "LINEAR":
        attrs = {"mode": "linear", "coordinate_transformation_mode": "half_pixel",
                 "antialias": b.attrs.bool("antialias", False)}
    else:
        raise b.error(f"unknown Resample type '{b.attrs.str('type')}'", UnsupportedOpError)
    if len(b.inputs) == 2:  # type 2: the output shape comes from the second input, as declared
        return _interpolate(b, attrs, sizes=b.out_dims[0][2:])
    factor = b.attrs.float("factor")
    return _interpolate(b, attrs, scales=[factor, factor])


def _interp(b):
    if len(b.in_dims[0]) != 4:
        raise b.error(f"an Interp layer needs a 4D input, got dims {list(b.in_dims[0])}")
    pb, pe = b.attrs.int("pad_beg", 0), b.attrs.int("pad_end", 0)
    if pb < 0 or pe < 0:
        raise b.error(f"negative pad_beg/pad_end ({pb}, {pe}) are not supported", UnsupportedOpError)
    align = b.attrs.bool("align_corners", True)
    attrs = {"mode": "linear_onnx", "coordinate_transformation_mode": "align_corners" if align else "asymmetric",
             "pads_begin": [0, 0, pb, pb], "pads_end": [0, 0, pe, pe]}
    return _interpolate(b, attrs, sizes=b.out_dims[0][2:])


def _gemm(b):
    alpha, beta = b.attrs.float("alpha", 1.0), b.attrs.float("beta", 1.0)
    flags = {"transpose_a": b.attrs.bool("transpose_a", False), "transpose_b": b.attrs.bool("transpose_b", False)}
    y = b.out("matmul", "MatMul", list(b.inputs[:2]), flags)
    if alpha != 1:
        y = b.out("alpha", "Multiply", [y, b.const("alpha_value", [alpha])])
    if len(b.inputs) == 3:
        c = b.inputs[2]
        if beta != 1:
            c = b.out("beta", "Multiply", [c, b.const("beta_value", [beta])])
        y = b.out("add_c", "Add", [y, c])
    return [y]


def _spatial_size(b, index, role):
    """The [H, W] of input ``index`` (computed from its shape, so that it follows a reshape)."""
    shape = b.out(f"{role}_shape", "ShapeOf", [b.inputs[index]], {"output_type": "i64"}, version="opset3")
    return b.out(f"{role}_size", "StridedSlice", [shape, b.ints(f"{role}_begin", [2]), b.ints(f"{role}_end", [4]),
                                                  b.ints(f"{role}_stride", [1])], {"begin_mask": [0], "end_mask": [0]})


def _priors(b, type_name, keys):
    attrs = {k: b.attrs.str(k) for k in keys if k in b.attrs}
    img_h, img_w = b.attrs.float("img_h", 0.0), b.attrs.float("img_w", 0.0)
    step_h, step_w = b.attrs.float("step_h", 0.0), b.attrs.float("step_w", 0.0)
    if type_name == "PriorBox" and (step_h or step_w):
        if step_h != step_w:
            raise b.error(f"PriorBox with step_h {step_h} != step_w {step_w} is not supported", UnsupportedOpError)
        if not b.attrs.float("step", 0.0):
            attrs["step"] = str(step_w)
    image = b.ints("image_size", [int(img_h), int(img_w)]) if img_h > 0 and img_w > 0 else _spatial_size(b, 1, "image")
    priors = b.out("priors", type_name, [_spatial_size(b, 0, "feature"), image], attrs)
    return [b.out("unsqueeze", "Unsqueeze", [priors, b.ints("batch_axis", [0])])]


def _prior_box(b):
    keys = ("min_size", "max_size", "aspect_ratio", "flip", "clip", "step", "offset", "variance", "scale_all_sizes",
            "fixed_ratio", "fixed_size", "density")
    return _priors(b, "PriorBox", keys)


def _prior_box_clustered(b):
    keys = ("width", "height", "clip", "step", "step_w", "step_h", "offset", "variance")
    return _priors(b, "PriorBoxClustered", keys)


def _detection_output(b):
    if len(b.inputs) != 3:
        raise b.error(f"DetectionOutput with {len(b.inputs)} inputs (ARM) is not supported", UnsupportedOpError)
    keys = ("num_classes", "background_label_id", "top_k", "variance_encoded_in_target", "keep_top_k", "share_location",
            "nms_threshold", "confidence_threshold", "clip_after_nms", "clip_before_nms", "decrease_label_id",
            "normalized", "input_height", "input_width", "objectness_score")
    attrs = {k: b.attrs.str(k) for k in keys if k in b.attrs}
    code = b.attrs.str("code_type", "caffe.PriorBoxParameter.CORNER")
    attrs["code_type"] = code if code.startswith("caffe.PriorBoxParameter.") else f"caffe.PriorBoxParameter.{code}"
    loc, conf, priors = b.inputs
    version = "opset1" if "num_classes" in attrs else "opset8"
    if len(b.in_dims[0]) != 2:
        loc = b.out("flatten_loc", "Reshape", [loc, b.ints("flat_shape", [0, -1])], {"special_zero": True})
    if len(b.in_dims[1]) != 2:
        conf = b.out("flatten_conf", "Reshape", [conf, b.ints("flat_conf_shape", [0, -1])], {"special_zero": True})
    return [b.out("detection_output", "DetectionOutput", [loc, conf, priors], attrs, version=version)]


def _region_yolo(b):
    keys = ("coords", "classes", "num", "do_softmax", "mask", "axis", "end_axis", "anchors")
    return [b.out("region_yolo", "RegionYolo", [b.inputs[0]], {k: b.attrs.str(k) for k in keys if k in b.attrs})]


def _reorg_yolo(b):
    return [b.out("reorg_yolo", "ReorgYolo", [b.inputs[0]], {"stride": b.attrs.str("stride")}, version="opset2")]


def _roi_pooling(b):
    attrs = {"output_size": [b.attrs.int("pooled_h"), b.attrs.int("pooled_w")],
             "spatial_scale": b.attrs.str("spatial_scale"), "method": b.attrs.str("method", "max")}
    return [b.out("roi_pooling", "ROIPooling", list(b.inputs), attrs, version="opset2")]


def _proposal(b):
    keys = ("base_size", "pre_nms_topn", "post_nms_topn", "nms_thresh", "feat_stride", "min_size", "ratio", "scale",
            "clip_before_nms", "clip_after_nms", "normalize", "box_size_scale", "box_coordinate_scale", "framework")
    attrs = {k: b.attrs.str(k) for k in keys if k in b.attrs}
    info = b.inputs[2]
    if len(b.in_dims[2]) == 2:  # [N, 3]: the Inference Engine read the first image's row
        info = b.out("image_info", "Gather", [info, b.ints("first_image", 0), b.ints("info_axis", 0)], version="opset8")
    outputs = len(b.out_dims)
    node = b.op("proposal", "Proposal", [b.inputs[0], b.inputs[1], info], attrs,
                version="opset4" if outputs == 2 else "opset1", outputs=outputs)
    return [node.output(i) for i in range(outputs)]


TRANSLATORS = {
    "Input": _input, "Const": _const, "Convolution": _convolution, "Deconvolution": _deconvolution,
    "Pooling": _pooling, "FullyConnected": _fully_connected, "InnerProduct": _fully_connected, "ReLU": _relu,
    "PReLU": _prelu, "Activation": _activation, "Clamp": _clamp, "Power": _power, "Eltwise": _eltwise,
    "ScaleShift": _scale_shift, "BatchNormalization": _batch_normalization, "Norm": _norm, "LRN": _norm,
    "Normalize": _normalize,
    "SoftMax": _softmax, "Concat": _concat, "Split": _split, "Slice": _split, "Crop": _crop, "Reshape": _reshape,
    "Flatten": _flatten, "Permute": _permute, "Tile": _tile, "Squeeze": _squeeze, "Unsqueeze": _squeeze, "Pad": _pad,
    "Resample": _resample, "Interp": _interp, "Gemm": _gemm, "PriorBox": _prior_box,
    "PriorBoxClustered": _prior_box_clustered, "DetectionOutput": _detection_output, "RegionYolo": _region_yolo,
    "ReorgYolo": _reorg_yolo, "ROIPooling": _roi_pooling, "Proposal": _proposal,
}
_BY_LOWER = {k.lower(): v for k, v in TRANSLATORS.items()}


def _translator(type_name):
    """The translation function of a legacy layer type (case-insensitive, as the Inference Engine matched), or None."""
    return _BY_LOWER.get((type_name or "").lower())
