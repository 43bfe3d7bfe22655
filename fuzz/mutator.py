"""Structure-aware mutations of IR files for the fuzz targets (libFuzzer's custom mutator).

:func:`custom_mutator` parses an input's XML and changes one to three things a model
file states: an attribute value, a dim, an element type or precision, where an edge
comes from, a layer's type. Values come from what the corpus itself uses
(``VOCABULARY``, gathered from the inputs seen), nudged numbers, or edge cases (0,
-1, large). Most mutated IR v10/v11 files then get the output dims the reader
infers, so that they stay readable and reach the devices. One input in twenty gets
libFuzzer's byte-level mutations instead. Import it after the target's
instrumented imports of ie_core.
"""

import random
import re
from collections import defaultdict
from xml.etree import ElementTree

import atheris
from common import join, split, write

from ie_core.errors import IEError, IRError
from ie_core.ir.reader import IRv10Reader, map_weights
from ie_core.ir.xmlparse import parse_xml_bytes

#: attribute name -> values seen in the inputs (grows as the fuzzer runs)
VOCABULARY = defaultdict(set)
TYPES = {"f32", "f16", "i64", "i32", "u8", "i8", "boolean", "FP32", "FP16", "I64", "I32", "U8"}
EDGE_NUMBERS = ("0", "1", "-1", "2", "3", "7", "64", "65536", "2147483648", "9223372036854775807")


def _number(text, rnd):
    if rnd.random() < 0.3:
        return rnd.choice(EDGE_NUMBERS)
    value = float(text) if re.fullmatch(r"-?\d+(\.\d*)?(e-?\d+)?", text) else 0.0
    if "." in text or "e" in text:
        return repr(value * rnd.choice((0.0, 0.5, 2.0, -1.0, 1e6)))
    return str(int(value) + rnd.choice((-2, -1, 1, 2)))


def mutate_attribute(root, rnd):
    data = [el for el in root.iter("data") if el.attrib]
    if not data:
        return
    el = rnd.choice(data)
    key = rnd.choice(sorted(el.attrib))
    parts = el.get(key).split(",")
    if all(re.fullmatch(r"\s*-?[\d.e]+\s*", p) for p in parts) and rnd.random() < 0.8:
        i = rnd.randrange(len(parts))
        parts[i] = _number(parts[i].strip(), rnd)
        if rnd.random() < 0.05:
            parts.append(parts[i])
        elif rnd.random() < 0.05:
            parts.pop()
        el.set(key, ",".join(parts))
    elif VOCABULARY[key]:
        el.set(key, rnd.choice(sorted(VOCABULARY[key])))


def mutate_dim(root, rnd):
    dims = list(root.iter("dim"))
    if dims:
        dim = rnd.choice(dims)
        dim.text = _number((dim.text or "0").strip(), rnd)


def mutate_type(root, rnd):
    typed = [(el, key) for el in root.iter() for key in ("element_type", "precision", "destination_type")
             if key in el.attrib]
    if typed:
        el, key = rnd.choice(typed)
        el.set(key, rnd.choice(sorted(TYPES)))


def mutate_edge(root, rnd):
    edges = list(root.iter("edge"))
    outputs = [(layer.get("id"), port.get("id")) for layer in root.iter("layer")
               for port in layer.findall("output/port")]
    if edges and outputs:
        edge = rnd.choice(edges)
        layer, port = rnd.choice(outputs)
        edge.set("from-layer", layer or "0")
        edge.set("from-port", port or "0")


def mutate_layer_type(root, rnd):
    layers = [el for el in root.iter("layer") if el.get("type") not in ("Parameter", "Const", "Result", "Input")]
    if layers and VOCABULARY["type"]:
        rnd.choice(layers).set("type", rnd.choice(sorted(VOCABULARY["type"])))


MUTATIONS = (mutate_attribute, mutate_attribute, mutate_dim, mutate_type, mutate_edge, mutate_layer_type)


def learn(root):
    """Add the input's attribute values to :data:`VOCABULARY`."""
    for el in root.iter():
        for key, value in el.attrib.items():
            if len(VOCABULARY[key]) < 64 and len(value) < 64:
                VOCABULARY[key].add(value)


class _TrustingReader(IRv10Reader):
    """The v10/v11 reader, taking the shapes it infers over the ones the file declares."""

    def check_declared_shapes(self, graph, layers, ports):
        pass


def declare_inferred_dims(root, weights):
    """Set the dims of every output port of ``root`` (an IR v10/v11 ``<net>``) to the shapes the reader
    infers, so that a mutated network stays readable; leaves them when it cannot be read."""
    xml_path, bin_path = write(join(ElementTree.tostring(root), weights))
    try:
        graph = _TrustingReader(xml_path, bin_path, map_weights(bin_path)).read(root)
    except IEError:
        return
    layers = {el.get("id"): el for el in root.iter("layer")}
    for node in graph.nodes:
        for port, shape in zip(layers[node.id].findall("output/port"), node.output_shapes):
            for dim in port.findall("dim"):
                port.remove(dim)
            for d in shape or ():
                ElementTree.SubElement(port, "dim").text = str(d)


def custom_mutator(data, max_size, seed):
    """libFuzzer's custom mutator: ``data`` mutated as the module docstring says, at most ``max_size`` bytes."""
    rnd = random.Random(seed)
    xml, weights = split(data)
    if rnd.random() < 0.05:
        return atheris.Mutate(data, max_size)
    try:
        root = parse_xml_bytes(xml, "the fuzz input")
    except IRError:
        return atheris.Mutate(data, max_size)
    learn(root)
    for _ in range(rnd.randint(1, 3)):
        rnd.choice(MUTATIONS)(root, rnd)
    if root.get("version") in ("10", "11") and rnd.random() < 0.8:
        declare_inferred_dims(root, weights)
    out = join(ElementTree.tostring(root), weights)
    return out if len(out) <= max_size else data
