"""Reading IR (.xml + .bin) as written by OpenVINO's tools into a validated Graph.

IR v10/v11 are read here; the legacy versions 2 to 7 by :mod:`ie_core.ir.legacy`, onto the same Graph.
"""

import math
import os

import numpy as np

from ..errors import GraphError, IEError, IRError, ModelFileNotFoundError, ShapeInferenceError, WeightsError
from ..graph import Graph, Node, Output
from ..limits import shape_problem
from ..mapped import map_weights, release_pages
from ..types import canonical_element_type, decode, storage_bytes, to_dtype
from .xmlparse import parse_xml

SUPPORTED_VERSIONS = ("10", "11")
LEGACY_VERSIONS = ("2", "3", "4", "5", "6", "7")

#: (input ports, output ports) of the layer types whose port counts the reader checks
PORT_COUNTS = {"Parameter": (0, 1), "Const": (0, 1), "Result": (1, 0)}


def read_network(model, weights):
    """Read the IR at ``model`` (.xml path) and ``weights`` (.bin path); returns a shape-checked Graph."""
    for kind, path in (("model", model), ("weights", weights)):
        if not os.path.isfile(path):
            raise ModelFileNotFoundError(f"Path to the {kind} {path} doesn't exists or it's a directory")
    root = parse_xml(model)
    if root.tag != "net":
        raise IRError(f"{model}: the root element is <{root.tag}>, expected <net>")
    version = root.get("version")
    if version not in SUPPORTED_VERSIONS + LEGACY_VERSIONS:
        supported = ", ".join(LEGACY_VERSIONS + SUPPORTED_VERSIONS)
        raise IRError(f"{model}: unknown IR version {version!r}; supported: {supported}")
    blob = map_weights(weights)
    if version in LEGACY_VERSIONS:
        from .legacy import LegacyIRReader  # here: legacy.py builds on IRv10Reader

        graph = LegacyIRReader(model, weights, blob, int(version)).read(root)
    else:
        graph = IRv10Reader(model, weights, blob).read(root)
    release_pages(np.frombuffer(blob, np.uint8))  # the pages constant folding read
    return graph


class IRv10Reader:
    """Builds a Graph from the parsed ``<net>`` of an IR v10/v11 file and its weights."""

    def __init__(self, xml_path, bin_path, blob):
        self.xml_path = xml_path
        self.bin_path = bin_path
        self.blob = blob

    def error(self, layer, message, kind=IRError):
        where = f"layer '{layer.get('name')}' (id {layer.get('id')})" if layer is not None else "network"
        return kind(f"{self.xml_path}: {where}: {message}")

    def in_file(self, build):
        """``build()``, with the path of the file in the message of the IEError it raises."""
        try:
            return build()
        except IEError as exc:
            raise type(exc)(f"{self.xml_path}: {exc}") from exc

    def read(self, root):
        layers_el = root.find("layers")
        if layers_el is None:
            raise IRError(f"{self.xml_path}: no <layers> element")
        layers, nodes, ports = {}, {}, {}
        for layer in layers_el.findall("layer"):
            lid = layer.get("id")
            for attr in ("id", "name", "type"):
                if layer.get(attr) is None:
                    raise self.error(layer, f"missing attribute '{attr}'")
            if lid in layers:
                raise self.error(layer, f"duplicate layer id {lid}")
            layers[lid] = layer
            nodes[lid], ports[lid] = self.make_node(layer)
        self.connect(root, layers, nodes, ports)
        graph = self.in_file(lambda: Graph(root.get("name", ""), list(nodes.values())))
        if not graph.parameters and not any(n.type == "Const" for n in graph.nodes):
            raise IRError(f"{self.xml_path}: the network has no Parameter layer")
        if not graph.results:
            raise IRError(f"{self.xml_path}: the network has no Result layer")
        self.in_file(graph.resolve_ops)
        if graph.can_infer():
            self.in_file(graph.infer_shapes)
            self.check_declared_shapes(graph, layers, ports)
        return graph

    def port_map(self, layer):
        """The map of ``layer``'s port ids to ('in'|'out', index, declared dims, <port> element)."""
        port_map = {}
        for direction, section in (("in", layer.find("input")), ("out", layer.find("output"))):
            for index, port in enumerate(section.findall("port") if section is not None else []):
                pid = port.get("id")
                if pid is None or pid in port_map:
                    raise self.error(layer, f"port without id or with a duplicate id {pid!r}")
                port_map[pid] = (direction, index, self.port_dims(layer, port), port)
        return port_map

    def make_node(self, layer):
        """A Node for ``layer`` and the map of its port ids to ('in'|'out', index, declared dims)."""
        data = layer.find("data")
        attrs = dict(data.attrib) if data is not None else {}
        port_map = self.port_map(layer)
        num_outputs = sum(1 for d, *_ in port_map.values() if d == "out")
        ltype = layer.get("type")
        want = PORT_COUNTS.get(ltype)
        if want is not None and (len(port_map) - num_outputs, num_outputs) != want:
            raise self.error(layer, f"a {ltype} layer has {want[0]} input and {want[1]} output port(s), this one "
                                    f"{len(port_map) - num_outputs} and {num_outputs}")
        value = self.const_value(layer, attrs) if ltype == "Const" else None
        node = Node(layer.get("id"), layer.get("name"), ltype, layer.get("version", ""), attrs, [], num_outputs, value)
        for direction, index, dims, port in port_map.values():
            if direction == "out":
                names = port.get("names")
                if names:
                    node.output_names[index] = set(_split_names(names))
        if ltype == "Parameter":
            et = canonical_element_type(attrs.get("element_type", ""))
            if et is None:
                raise self.error(layer, f"unknown element_type {attrs.get('element_type')!r}")
            node.output_shapes[0] = _parse_shape(attrs.get("shape"), lambda m: self.error(layer, m))
            node.output_dtypes[0] = to_dtype(et)
            static = all(d >= 0 for d in node.output_shapes[0])
            problem = shape_problem(node.output_shapes[0], node.output_dtypes[0]) if static else ""
            if problem:
                raise self.error(layer, problem)
        elif ltype == "Const":
            node.output_shapes[0] = value.shape
            node.output_dtypes[0] = value.dtype
        return node, port_map

    def port_dims(self, layer, port):
        dims = []
        for dim in port.findall("dim"):
            dims.append(_parse_dim((dim.text or "").strip(), lambda m: self.error(layer, m)))
        return tuple(dims)

    def const_value(self, layer, attrs):
        """The Const layer's value read from the .bin, after checking offset, size, shape and type."""
        et = canonical_element_type(attrs.get("element_type", ""))
        if et is None:
            raise self.error(layer, f"unsupported element_type {attrs.get('element_type')!r} of a Const")
        shape = _parse_shape(attrs.get("shape", ""), lambda m: self.error(layer, m))
        if any(d < 0 for d in shape):
            raise self.error(layer, f"a Const must have a static shape, got {attrs.get('shape')!r}")
        try:
            offset, size = int(attrs["offset"]), int(attrs["size"])
        except (KeyError, ValueError):
            raise self.error(layer, "a Const needs integer 'offset' and 'size' attributes") from None
        problem = shape_problem(shape, to_dtype(et))
        if problem:
            raise self.error(layer, problem)
        count = math.prod(shape)
        raw = self.segment_bytes(layer, "data", offset, size)
        if count == 0:
            return np.empty(shape, to_dtype(et))  # OpenVINO writes one placeholder byte for an empty Const
        if size != storage_bytes(et, count):
            raise self.error(
                layer,
                f"size {size} does not match shape {list(shape)} of {et} ({storage_bytes(et, count)} bytes)",
                WeightsError,
            )
        return self.const_array(raw, et, shape)

    @staticmethod
    def const_array(raw, element_type, shape):
        """The read-only array of ``shape`` that the weights bytes ``raw`` hold: a view of the mapped file,
        or a copy where the values are not aligned for their type (kernels may load them aligned)."""
        values = decode(raw, element_type, shape)
        if not values.flags.aligned:
            values = values.copy()
            values.flags.writeable = False
        return values

    def segment_bytes(self, layer, what, offset, size):
        """The ``size`` bytes at ``offset`` of the weights file; raises unless they lie inside it."""
        if offset < 0 or size < 0:
            raise self.error(layer, f"{what}: negative offset {offset} or size {size}", WeightsError)
        if offset + size > len(self.blob):
            raise self.error(
                layer,
                f"{what} at offset {offset} size {size} lies past the end of {self.bin_path} "
                f"({len(self.blob)} bytes): the weights file is truncated or does not belong to this model",
                WeightsError,
            )
        return self.blob[offset : offset + size]

    def connect(self, root, layers, nodes, ports):
        """Wire each input port to the output port its <edge> names; every input must be connected once."""
        edges_el = root.find("edges")
        inputs = {lid: {} for lid in layers}
        for edge in edges_el.findall("edge") if edges_el is not None else []:
            fl, fp, tl, tp = (edge.get(k) for k in ("from-layer", "from-port", "to-layer", "to-port"))
            desc = f"edge {fl}:{fp} -> {tl}:{tp}"
            if None in (fl, fp, tl, tp):
                raise GraphError(f"{self.xml_path}: {desc} lacks one of from-layer/from-port/to-layer/to-port")
            for lid, pid, want, role in ((fl, fp, "out", "source"), (tl, tp, "in", "target")):
                if lid not in layers:
                    raise GraphError(f"{self.xml_path}: {desc}: {role} layer id {lid} does not exist")
                port = ports[lid].get(pid)
                if port is None or port[0] != want:
                    kind = "output" if want == "out" else "input"
                    raise GraphError(
                        f"{self.xml_path}: {desc}: layer '{layers[lid].get('name')}' has no {kind} port {pid}"
                    )
            to_index = ports[tl][tp][1]
            if to_index in inputs[tl]:
                raise GraphError(f"{self.xml_path}: {desc}: input port {tp} of layer '{layers[tl].get('name')}' is connected twice")
            inputs[tl][to_index] = Output(nodes[fl], ports[fl][fp][1])
        for lid, node in nodes.items():
            n_in = sum(1 for d, *_ in ports[lid].values() if d == "in")
            missing = [i for i in range(n_in) if i not in inputs[lid]]
            if missing:
                raise GraphError(
                    f"{self.xml_path}: layer '{node.name}' (id {lid}): input port(s) {missing} have no edge connected"
                )
            node.inputs = [inputs[lid][i] for i in range(n_in)]

    def check_declared_shapes(self, graph, layers, ports):
        """Raise if an inferred output shape contradicts the static dims the IR declares."""
        for n in graph.nodes:
            for direction, index, dims, _ in ports[n.id].values():
                if direction != "out" or n.type == "Const":
                    continue
                got = n.output_shapes[index]
                if len(dims) != len(got) or any(d >= 0 and d != g for d, g in zip(dims, got)):
                    raise self.error(
                        layers[n.id],
                        f"output {index} has shape {list(got)} by shape inference, the IR declares {list(dims)}",
                        ShapeInferenceError,
                    )


def _split_names(text):
    names, current, escaped = [], "", False
    for ch in text:
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            names.append(current.strip())
            current = ""
        else:
            current += ch
    names.append(current.strip())
    return [n for n in names if n]


def _parse_dim(text, error):
    if text in ("?", "-1") or ".." in text:
        return -1
    try:
        value = int(text)
    except ValueError:
        raise error(f"invalid dimension {text!r}") from None
    if value < -1:
        raise error(f"invalid dimension {text!r}")
    return value


def _parse_shape(text, error):
    if text is None:
        raise error("missing 'shape' attribute")
    text = text.strip().strip("[]")
    if text == "":
        return ()
    return tuple(_parse_dim(part.strip(), error) for part in text.split(","))
