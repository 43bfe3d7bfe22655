"""Fuzz target: structure-aware mutations of valid IRs, run on CPU and on REFERENCE, which must agree.

The mutator parses an input's XML and changes one to three things a model file
states: an attribute value, a dim, an element type or precision, where an edge
comes from, a layer's type. Values come from what the seed corpus itself uses
(``VOCABULARY``, gathered from the inputs seen), nudged numbers, or edge cases
(0, -1, large). Most mutated IR v10/v11 files then get the output dims the
reader infers, so that they stay readable and reach the devices. Both devices read the same network and get the same inputs;
they must both refuse it with an IEError or both run it to outputs of the same
shapes and types, equal up to float rounding (NaN and infinities in the same
places). A disagreement is a finding.
"""

import importlib
import random
import re
import sys
from collections import defaultdict
from xml.etree import ElementTree

import atheris
import numpy as np
from common import fill, join, run, split, write

with atheris.instrument_imports(include=["ie_core", "ie_backend_cpu"]):
    importlib.import_module("ie_backend_cpu")  # instrumented here; the device registry finds it imported
    from ie_core import IENetwork, IEPlugin
    from ie_core.errors import IEError, IRError
    from ie_core.ir.reader import IRv10Reader, map_weights
    from ie_core.ir.xmlparse import parse_xml_bytes

DEVICES = {name: IEPlugin(name) for name in ("REFERENCE", "CPU")}

#: attribute name -> values seen in the inputs (grows as the fuzzer runs)
VOCABULARY = defaultdict(set)
TYPES = {"f32", "f16", "i64", "i32", "u8", "i8", "boolean", "FP32", "FP16", "I64", "I32", "U8"}
EDGE_NUMBERS = ("0", "1", "-1", "2", "3", "7", "64", "65536", "2147483648", "9223372036854775807")


class Disagreement(AssertionError):
    """CPU and REFERENCE disagree on a network; ``key`` names the kind of layer where they first do."""

    def __init__(self, key, message):
        super().__init__(f"{key}: {message}")
        self.key = key


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


def outcome(device, net):
    """The outputs of ``net`` on ``device`` for the fixed inputs, or the IEError loading or running it raised."""
    try:
        exec_net = DEVICES[device].load(net)
        return exec_net.infer(fill(exec_net.requests[0]))
    except IEError as exc:
        return exc


def agree(a, b):
    """Whether two outputs are the same up to float rounding."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind != "f":
        return np.array_equal(a, b)
    if not np.array_equal(np.isnan(a), np.isnan(b)) or not np.array_equal(np.isinf(a), np.isinf(b)):
        return False
    finite = np.isfinite(a)
    a, b = a[finite].astype(np.float64), b[finite].astype(np.float64)
    scale = max(1.0, float(np.abs(b).max(initial=0.0)))
    return bool(np.allclose(a, b, rtol=1e-3, atol=1e-4 * scale))


def sane(net):
    """Whether every float constant of ``net`` is finite and at most 1e4 in magnitude: otherwise overflow
    makes the order of the kernels' float operations decide between inf and NaN, and outputs differ."""
    for node in net._graph.nodes:
        for value in node.values:
            if value is not None and value.dtype.kind == "f" and value.size and not (
                    np.isfinite(value).all() and np.abs(value).max() <= 1e4):
                return False
    return True


def first_disagreement(xml_path, bin_path):
    """The type of the first layer whose outputs differ between the devices when every layer's output is
    a network output (None if they then agree: the devices differ only in the layers they fuse)."""
    net = IENetwork(xml_path, bin_path)
    layers = [name for name, layer in net.layers.items() if layer.type not in ("Const", "Parameter")]
    net.add_outputs(layers)
    ref, cpu = outcome("REFERENCE", net), outcome("CPU", net)
    if isinstance(ref, IEError) or isinstance(cpu, IEError):
        return None
    for name in layers:
        for output in (n for n in ref if n == name or n.rpartition(".")[0] == name):
            if not agree(cpu[output], ref[output]):
                return net.layers[name].type
    return None


def compare(xml_path, bin_path):
    net = IENetwork(xml_path, bin_path)
    ref, cpu = outcome("REFERENCE", net), outcome("CPU", net)
    if isinstance(ref, IEError) or isinstance(cpu, IEError):
        if type(ref) is not type(cpu):
            raise Disagreement("refusal", f"REFERENCE: {ref!r:.200}; CPU: {cpu!r:.200}")
        return
    if not sane(net):
        return
    for name, value in ref.items():
        if not agree(cpu[name], value):
            layer = net.layers.get(name) or net.layers[name.rpartition(".")[0]]
            where = first_disagreement(xml_path, bin_path) or f"fused {layer.type}"
            raise Disagreement(where, f"output {name}: CPU {cpu[name].ravel()[:6]} != "
                                      f"REFERENCE {value.ravel()[:6]}")


def test_one_input(data):
    run(data, compare)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()
