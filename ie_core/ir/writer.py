"""Writing a shape-inferred Graph as IR v11 (.xml + .bin) that ie_core and OpenVINO read back.

The file holds the network as ie_core reads it: a legacy IR's layers as their opset
translation, constants as the values ie_core computes with (bf16, f8 and 4-bit
constants widened to f32 or 8 bits), inputs with their current (reshaped) shapes.
"""

import xml.etree.ElementTree as ET

import numpy as np

from ..graph import output_name
from ..types import precision_name

_ELEMENT_TYPES = {
    np.dtype(np.float64): "f64",
    np.dtype(np.float32): "f32",
    np.dtype(np.float16): "f16",
    np.dtype(np.int64): "i64",
    np.dtype(np.int32): "i32",
    np.dtype(np.int16): "i16",
    np.dtype(np.int8): "i8",
    np.dtype(np.uint64): "u64",
    np.dtype(np.uint32): "u32",
    np.dtype(np.uint16): "u16",
    np.dtype(np.uint8): "u8",
    np.dtype(np.bool_): "boolean",
}


def write_ir(graph, xml_path, bin_path):
    """Write ``graph`` (every port's shape and dtype inferred) to ``xml_path`` and its constants to ``bin_path``."""
    ids = {node: str(i) for i, node in enumerate(graph.nodes)}
    names = _tensor_names(graph)
    net = ET.Element("net", name=graph.name, version="11")
    layers = ET.SubElement(net, "layers")
    weights = bytearray()
    for node in graph.nodes:
        layer = ET.SubElement(layers, "layer", id=ids[node], name=node.name, type=node.type, version=node.version)
        attrs = {key: _text(value) for key, value in node.attrs.items()}
        if node.type == "Parameter":
            attrs.update(shape=_text(node.output_shapes[0]), element_type=_ELEMENT_TYPES[node.output_dtypes[0]])
        elif node.type == "Const":
            data = np.ascontiguousarray(node.values[0]).tobytes()
            attrs.update(
                element_type=_ELEMENT_TYPES[node.output_dtypes[0]],
                shape=_text(node.output_shapes[0]),
                offset=str(len(weights)),
                size=str(len(data)),
            )
            weights += data
        if attrs:
            ET.SubElement(layer, "data", attrs)
        if node.inputs:
            section = ET.SubElement(layer, "input")
            for i, src in enumerate(node.inputs):
                _port(section, i, src.node.output_shapes[src.index], src.node.output_dtypes[src.index])
        if node.num_outputs:
            section = ET.SubElement(layer, "output")
            for i in range(node.num_outputs):
                port = _port(section, len(node.inputs) + i, node.output_shapes[i], node.output_dtypes[i])
                if names.get((node, i)):
                    port.set("names", ",".join(n.replace(",", "\\,") for n in sorted(names[(node, i)])))
    edges = ET.SubElement(net, "edges")
    for node in graph.nodes:
        for i, src in enumerate(node.inputs):
            ET.SubElement(edges, "edge", {
                "from-layer": ids[src.node],
                "from-port": str(len(src.node.inputs) + src.index),
                "to-layer": ids[node],
                "to-port": str(i),
            })
    ET.indent(net)
    ET.ElementTree(net).write(xml_path, encoding="utf-8", xml_declaration=True)
    with open(bin_path, "wb") as f:
        f.write(weights)


def _tensor_names(graph):
    """Each output port's tensor names; a Parameter or network output without any gets its Inference Engine name,
    unless another port already carries that name."""
    names = {(n, i): set(n.output_names[i]) for n in graph.nodes for i in range(n.num_outputs)}
    taken = set().union(*names.values())
    for src in [p.output(0) for p in graph.parameters] + [r.inputs[0] for r in graph.results]:
        name = output_name(src)
        if not names[(src.node, src.index)] and name not in taken:
            names[(src.node, src.index)].add(name)
            taken.add(name)
    return names


def _port(section, port_id, shape, dtype):
    port = ET.SubElement(section, "port", id=str(port_id), precision=precision_name(dtype))
    for d in shape:
        ET.SubElement(port, "dim").text = str(d)
    return port


def _text(value):
    """An attribute value as IR writes it: lists comma-separated, booleans lower-case."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, np.ndarray)):
        return ",".join(_text(v) for v in value)
    return str(value)
