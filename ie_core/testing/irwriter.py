"""A small IR v11 writer: networks for the conformance suite, built without OpenVINO.

:class:`NetBuilder` records Parameters, Consts, layers and Results; :meth:`NetBuilder.write`
runs the core's shape inference once to learn every port's dims and writes the
``.xml`` and ``.bin`` that :class:`~ie_core.api.IENetwork` reads back::

    b = NetBuilder("relu")
    x = b.parameter((1, 3, 4, 4))
    b.result(b.op("Relu", x))
    xml, weights = b.write(tmp_path)
"""

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np

from ..graph import Graph, Node, Output
from ..types import canonical_element_type, element_type_name, precision_name, to_dtype


class Port(NamedTuple):
    """Output ``index`` of the layer at position ``layer`` of a :class:`NetBuilder`."""

    layer: int
    index: int


class Sampling(NamedTuple):
    """How the suite draws a Parameter's values: uniform in [low, high) (integers: high excluded);
    ``low=None``: standard normal floats."""

    low: Optional[float] = None
    high: Optional[float] = None


class _Layer(NamedTuple):
    name: str
    type: str
    version: str
    attrs: dict
    inputs: tuple
    num_outputs: int
    value: Optional[np.ndarray]


def _attr_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_attr_text(v) for v in value)
    return str(value)


class NetBuilder:
    """A network under construction; ``name`` becomes the IR's ``<net name>``."""

    def __init__(self, name="net"):
        self.name = name
        self._layers = []
        self.sampling = {}

    def _add(self, type_, inputs, attrs, num_outputs, version, name, value=None):
        name = name or f"{type_.lower()}{len(self._layers)}"
        if any(layer.name == name for layer in self._layers):
            raise ValueError(f"layer name {name!r} is used twice")
        attrs = {k: _attr_text(v) for k, v in attrs.items()}
        self._layers.append(_Layer(name, type_, version, attrs, tuple(inputs), num_outputs, value))
        index = len(self._layers) - 1
        ports = tuple(Port(index, i) for i in range(num_outputs))
        return ports[0] if num_outputs == 1 else ports

    def parameter(self, shape, element_type="f32", name=None, low=None, high=None):
        """A network input; ``low``/``high`` bound the values the suite feeds it (see :class:`Sampling`)."""
        et = canonical_element_type(element_type)
        port = self._add("Parameter", (), {"shape": list(shape), "element_type": et}, 1, "opset1", name)
        self.sampling[self._layers[port.layer].name] = Sampling(low, high)
        return port

    def constant(self, value, name=None):
        """A Const layer holding ``value`` (a numpy array; its dtype gives the element type)."""
        value = np.ascontiguousarray(value)
        et = element_type_name(value.dtype)
        return self._add("Const", (), {"element_type": et, "shape": list(value.shape)}, 1, "opset1", name, value)

    def op(self, type_, *inputs, version="opset1", outputs=1, name=None, **attrs):
        """A layer of type ``type_`` reading ``inputs`` (Ports, or numpy arrays made Consts).

        Attribute values may be strings, numbers, booleans or sequences (written
        comma-separated); names that are no Python identifiers go through a dict
        (``**{"exclude-pad": True}``). Returns a Port, or a tuple of Ports when
        ``outputs`` > 1.
        """
        ports = tuple(p if isinstance(p, Port) else self.constant(np.asarray(p)) for p in inputs)
        return self._add(type_, ports, attrs, outputs, version, name)

    def result(self, *ports):
        """Make each of ``ports`` a network output."""
        for port in ports:
            self._add("Result", (port,), {}, 0, "opset1", f"{self._layers[port.layer].name}/result{port.index}")

    def graph(self):
        """The network as a shape-inferred :class:`~ie_core.graph.Graph`."""
        nodes = []
        for i, layer in enumerate(self._layers):
            node = Node(str(i), layer.name, layer.type, layer.version, layer.attrs,
                        [Output(nodes[p.layer], p.index) for p in layer.inputs], layer.num_outputs, layer.value)
            if layer.type == "Parameter":
                node.output_shapes[0] = tuple(int(d) for d in layer.attrs["shape"].split(",") if d)
                node.output_dtypes[0] = to_dtype(layer.attrs["element_type"])
            elif layer.type == "Const":
                node.output_shapes[0], node.output_dtypes[0] = layer.value.shape, layer.value.dtype
            nodes.append(node)
        graph = Graph(self.name, nodes)
        graph.resolve_ops()
        graph.infer_shapes()
        return graph

    def write(self, directory, name=None):
        """Write ``<name>.xml`` and ``<name>.bin`` into ``directory``; returns their paths as str."""
        by_name = {n.name: n for n in self.graph().nodes}
        weights = bytearray()
        net = ET.Element("net", name=self.name, version="11")
        layers_el = ET.SubElement(net, "layers")
        edges_el = ET.SubElement(net, "edges")
        for i, layer in enumerate(self._layers):
            node = by_name[layer.name]
            el = ET.SubElement(layers_el, "layer", id=str(i), name=layer.name, type=layer.type, version=layer.version)
            attrs = dict(layer.attrs)
            if layer.value is not None:
                raw = layer.value.tobytes()
                attrs.update(offset=str(len(weights)), size=str(len(raw)))
                weights += raw
            if attrs:
                ET.SubElement(el, "data", attrs)
            if layer.inputs:
                section = ET.SubElement(el, "input")
                for k, src in enumerate(layer.inputs):
                    producer = by_name[self._layers[src.layer].name]
                    _port(section, k, producer.output_shapes[src.index], producer.output_dtypes[src.index])
                    ET.SubElement(edges_el, "edge", {"from-layer": str(src.layer),
                                                     "from-port": str(len(self._layers[src.layer].inputs) + src.index),
                                                     "to-layer": str(i), "to-port": str(k)})
            if layer.num_outputs:
                section = ET.SubElement(el, "output")
                for k in range(layer.num_outputs):
                    port = _port(section, len(layer.inputs) + k, node.output_shapes[k], node.output_dtypes[k])
                    port.set("names", layer.name if layer.num_outputs == 1 else f"{layer.name}.{k}")
        directory = Path(directory)
        stem = directory / (name or self.name)
        xml_path, bin_path = f"{stem}.xml", f"{stem}.bin"
        ET.ElementTree(net).write(xml_path, encoding="utf-8", xml_declaration=True)
        Path(bin_path).write_bytes(bytes(weights) or b"\0")
        return xml_path, bin_path


def _port(section, port_id, shape, dtype):
    port = ET.SubElement(section, "port", id=str(port_id), precision=precision_name(dtype))
    for d in shape:
        ET.SubElement(port, "dim").text = str(int(d))
    return port
