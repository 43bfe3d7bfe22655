"""A generator of malformed model files, each with the ie_core error that reading (or loading) it must raise.

:func:`valid_models` writes small valid networks in IR v11 and legacy IR v3/v7
(a convolution, ReLU, pooling, a fully connected layer and a softmax, weights in
the .bin); :func:`malformed_cases` derives the bad files from them, one edit each:
truncated or empty files, garbage, XML the readers refuse, offsets past the end,
sizes and precisions that do not match, cycles, dangling edges, duplicate ids,
ports out of range, unknown versions and ops, attributes of the wrong type or
count, overflowing, negative and zero dims. The fuzz targets under ``fuzz/`` start
from the same files.
"""

import re
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from ie_core.errors import (
    GraphError,
    IRError,
    ShapeInferenceError,
    UnsupportedOpError,
    WeightsError,
)
from ie_core.testing.irwriter import NetBuilder

RNG = np.random.default_rng(9)


class Model(NamedTuple):
    """A model file pair in memory."""

    xml: bytes
    bin: bytes


class Case(NamedTuple):
    """A malformed file pair: reading or loading it raises ``error`` with a message matching ``match``."""

    name: str
    model: Model
    error: type
    match: str


def v11_model():
    """Parameter [1,3,8,8] -> Convolution + bias -> Relu -> MaxPool -> Reshape -> MatMul -> Softmax, as IR v11."""
    b = NetBuilder("small_cnn")
    x = b.parameter((1, 3, 8, 8), name="data")
    conv = b.op("Convolution", x, b.constant(RNG.standard_normal((4, 3, 3, 3)).astype(np.float32), name="conv_w"),
                name="conv", strides=[1, 1], pads_begin=[1, 1], pads_end=[1, 1], dilations=[1, 1],
                auto_pad="explicit")
    bias = b.op("Add", conv, b.constant(RNG.standard_normal((1, 4, 1, 1)).astype(np.float32), name="conv_b"),
                name="bias")
    relu = b.op("Relu", bias, name="relu")
    pool = b.op("MaxPool", relu, name="pool", strides=[2, 2], pads_begin=[0, 0], pads_end=[0, 0], kernel=[2, 2],
                rounding_type="floor", auto_pad="explicit")
    flat = b.op("Reshape", pool, b.constant(np.array([1, 64], np.int64), name="flat_shape"), name="flat",
                special_zero=False)
    fc = b.op("MatMul", flat, b.constant(RNG.standard_normal((64, 10)).astype(np.float32), name="fc_w"), name="fc",
              transpose_a=False, transpose_b=False)
    b.result(b.op("Softmax", fc, version="opset8", name="prob", axis=1))
    return written(b.write)


def legacy_model(version):
    """The same network as legacy IR (Input, Convolution, ReLU, Pooling, FullyConnected, SoftMax)."""
    blobs = bytearray()

    def blob(values):
        raw = np.asarray(values, np.float32).tobytes()
        blobs.extend(raw)
        return len(blobs) - len(raw), len(raw)

    layers = [
        ("data", "Input", {}, [], [(1, 3, 8, 8)], {}),
        ("conv", "Convolution", {"kernel": "3,3", "strides": "1,1", "pads_begin": "1,1", "pads_end": "1,1",
                                 "dilations": "1,1", "output": "4", "group": "1"},
         [(1, 3, 8, 8)], [(1, 4, 8, 8)], {"weights": blob(RNG.standard_normal(108)), "biases": blob(np.ones(4))}),
        ("relu", "ReLU", {}, [(1, 4, 8, 8)], [(1, 4, 8, 8)], {}),
        ("pool", "Pooling", {"kernel": "2,2", "strides": "2,2", "pads_begin": "0,0", "pads_end": "0,0",
                             "pool-method": "max", "rounding_type": "floor"}, [(1, 4, 8, 8)], [(1, 4, 4, 4)], {}),
        ("fc", "FullyConnected", {"out-size": "10"}, [(1, 4, 4, 4)], [(1, 10)],
         {"weights": blob(RNG.standard_normal(640)), "biases": blob(np.zeros(10))}),
        ("prob", "SoftMax", {"axis": "1"}, [(1, 10)], [(1, 10)], {}),
    ]
    net = ET.Element("net", name="small_cnn", version=str(version), batch="1")
    if version >= 7:
        net.set("precision", "FP32")
    layers_el = ET.SubElement(net, "layers")
    for lid, (name, type_, data, inputs, outputs, layer_blobs) in enumerate(layers):
        layer = ET.SubElement(layers_el, "layer", id=str(lid), name=name, type=type_)
        if version < 7:
            layer.set("precision", "FP32")
        if data:
            ET.SubElement(layer, "data", data)
        for tag, dims_list, first in (("input", inputs, 0), ("output", outputs, len(inputs))):
            if dims_list:
                section = ET.SubElement(layer, tag)
                for i, dims in enumerate(dims_list):
                    port = ET.SubElement(section, "port", id=str(first + i))
                    if version >= 7 and tag == "output":
                        port.set("precision", "FP32")
                    for d in dims:
                        ET.SubElement(port, "dim").text = str(d)
        if layer_blobs:
            blobs_el = ET.SubElement(layer, "blobs")
            for key, (offset, size) in layer_blobs.items():
                ET.SubElement(blobs_el, key, offset=str(offset), size=str(size))
    edges = ET.SubElement(net, "edges")
    for lid in range(1, len(layers)):
        ET.SubElement(edges, "edge", {"from-layer": str(lid - 1), "from-port": "1" if lid > 1 else "0",
                                      "to-layer": str(lid), "to-port": "0"})
    return Model(ET.tostring(net), bytes(blobs))


def valid_models():
    """name -> :class:`Model`: the valid networks the malformed cases are made from."""
    return {"v11": v11_model(), "v3": legacy_model(3), "v7": legacy_model(7)}


def written(write):
    """The Model a ``write(directory, name)`` function writes (read back from a temporary directory)."""
    with tempfile.TemporaryDirectory() as tmp:
        xml, weights = write(tmp, "model")
        return Model(Path(xml).read_bytes(), Path(weights).read_bytes())


# ------------------------------------------------------------------------------------------------ edits


def _tree_edit(change):
    """An edit of a Model's XML tree: ``change(root)`` modifies it in place."""

    def edit(model):
        root = ET.fromstring(model.xml)
        change(root)
        return Model(ET.tostring(root), model.bin)

    return edit


def _layer(root, name):
    return root.find(f".//layer[@name='{name}']")


def _set(path, key, value):
    return _tree_edit(lambda r: r.find(path).set(key, value))


def _dim(layer, section, value):
    """The first dim of the layer's first port in ``section`` ("input" or "output") set to ``value``."""
    return _tree_edit(lambda r: setattr(_layer(r, layer).find(f"{section}/port/dim"), "text", value))


def _remove(parent_path, child_path):
    def change(root):
        parent = root.find(parent_path)
        parent.remove(parent.find(child_path))

    return _tree_edit(change)


def _add_port(layer, section, port_id, dims=()):
    def change(root):
        el = _layer(root, layer)
        sec = el.find(section)
        if sec is None:
            sec = ET.SubElement(el, section)
        port = ET.SubElement(sec, "port", id=port_id, precision="FP32")
        for d in dims:
            ET.SubElement(port, "dim").text = str(d)

    return _tree_edit(change)


def _edge(index, key, value):
    """Attribute ``key`` of the edge at ``index`` set to ``value``."""
    return _tree_edit(lambda r: r.findall(".//edge")[index].set(key, value))


def _ids(root):
    return {el.get("name"): el.get("id") for el in root.iter("layer")}


def _add_edge(src, src_port, dst, dst_port):
    """An edge from port ``src_port`` of the layer named ``src`` to port ``dst_port`` of ``dst``."""
    return _tree_edit(lambda r: ET.SubElement(r.find("edges"), "edge", {
        "from-layer": _ids(r)[src], "from-port": src_port, "to-layer": _ids(r)[dst], "to-port": dst_port}))


def _self_loop(root):
    """The edge into the ReLU comes from the ReLU's own output."""
    relu = _layer(root, "relu")
    edge = next(e for e in root.findall(".//edge") if e.get("to-layer") == relu.get("id"))
    edge.set("from-layer", relu.get("id"))
    edge.set("from-port", relu.find("output/port").get("id"))


def _into_output_port(root):
    """The edge into the convolution's input 0 goes to its output port."""
    conv = _layer(root, "conv")
    edge = next(e for e in root.findall(".//edge") if e.get("to-layer") == conv.get("id"))
    edge.set("to-port", conv.find("output/port").get("id"))


def _bytes(transform):
    """An edit of the .xml's bytes."""
    return lambda model: Model(transform(model.xml), model.bin)


def _weights(transform):
    """An edit of the .bin's bytes."""
    return lambda model: Model(model.xml, transform(model.bin))


class Edit(NamedTuple):
    """One way of breaking a model: ``apply(model)`` returns the broken :class:`Model`, which must raise
    ``error`` with a message matching ``match``."""

    name: str
    apply: Callable
    error: type
    match: str


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE net [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">'
                  b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;">]><net name="&c;" version="11"><layers/></net>')
EXTERNAL_ENTITY = (b'<?xml version="1.0"?><!DOCTYPE net [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                   b'<net name="&e;" version="11"><layers/></net>')

#: edits every reader must refuse, whatever the IR version
COMMON_EDITS = [
    Edit("empty_xml", _bytes(lambda x: b""), IRError, "malformed XML: no element found"),
    Edit("garbage_xml", _bytes(lambda x: bytes(RNG.integers(0, 256, 512, dtype=np.uint8))), IRError,
         "malformed XML"),
    Edit("truncated_xml", _bytes(lambda x: x[: len(x) // 2]), IRError, "malformed XML"),
    Edit("billion_laughs", _bytes(lambda x: BILLION_LAUGHS), IRError, "document type declaration"),
    Edit("external_entity", _bytes(lambda x: EXTERNAL_ENTITY), IRError, "document type declaration"),
    Edit("undeclared_entity", _bytes(lambda x: x.replace(b'name="small_cnn"', b'name="&e;"')), IRError,
         "malformed XML: undefined entity"),
    Edit("unknown_encoding", _bytes(lambda x: b'<?xml version="1.0" encoding="klingon"?>' + x.split(b"?>", 1)[-1]),
         IRError, "encoding cannot be read: unknown encoding"),
    Edit("multibyte_encoding", _bytes(lambda x: b'<?xml version="1.0" encoding="shift_jis"?>' + x.split(b"?>", 1)[-1]),
         IRError, "encoding cannot be read"),
    Edit("root_not_net", _bytes(lambda x: re.sub(rb"<net\b", b"<network", x).replace(b"</net>", b"</network>")),
         IRError, "root element is <network>"),
    Edit("unknown_ir_version", _set(".", "version", "12"), IRError, "unknown IR version '12'"),
    Edit("ir_version_one", _set(".", "version", "1"), IRError, "unknown IR version '1'"),
    Edit("no_ir_version", _tree_edit(lambda r: r.attrib.pop("version")), IRError, "unknown IR version None"),
    Edit("no_layers", _remove(".", "layers"), IRError, "no <layers> element"),
    Edit("empty_bin", _weights(lambda b: b""), WeightsError, "past the end"),
    Edit("truncated_bin", _weights(lambda b: b[: len(b) // 2]), WeightsError, "past the end"),
    Edit("duplicate_layer_id", _set(".//layer[@name='relu']", "id", "1"), IRError, "duplicate layer id 1"),
    Edit("layer_without_type", _tree_edit(lambda r: _layer(r, "relu").attrib.pop("type")), IRError,
         "missing attribute 'type'"),
    Edit("layer_without_id", _tree_edit(lambda r: _layer(r, "relu").attrib.pop("id")), IRError,
         "missing attribute 'id'"),
    Edit("duplicate_port_id", _set(".//layer[@name='relu']/output/port", "id", "0"), IRError,
         "duplicate id '0'"),
    Edit("edge_from_missing_layer", _edge(0, "from-layer", "77"), GraphError, "source layer id 77 does not exist"),
    Edit("edge_to_missing_layer", _edge(1, "to-layer", "-3"), GraphError, "target layer id -3 does not exist"),
    Edit("edge_from_port_out_of_range", _edge(0, "from-port", "9"), GraphError, "has no output port 9"),
    Edit("edge_to_port_out_of_range", _edge(0, "to-port", "5"), GraphError, "has no input port 5"),
    Edit("edge_into_an_output_port", _tree_edit(_into_output_port), GraphError, "layer 'conv' has no input port"),
    Edit("edge_without_target", _tree_edit(lambda r: r.findall(".//edge")[0].attrib.pop("to-layer")), GraphError,
         "lacks one of"),
    Edit("input_without_edge", _remove("edges", "edge"), GraphError, "no edge connected"),
    Edit("input_connected_twice", _add_edge("data", "0", "conv", "0"), GraphError,
         "input port 0 of layer 'conv' is connected twice"),
    Edit("cycle", _tree_edit(_self_loop), GraphError, "cycle through layers \\['relu'\\]"),
]


def _v11_edits(model):
    def dims(layer, text):
        return _set(f".//layer[@name='{layer}']/data", "shape", text)

    return [
        Edit("unknown_op", _set(".//layer[@name='relu']", "type", "Frobnicate"), UnsupportedOpError,
             "unsupported operation type in layer.*'relu' \\(Frobnicate"),
        Edit("unknown_opset", _set(".//layer[@name='relu']", "version", "opset99"), UnsupportedOpError,
             "unknown version 'opset99'"),
        Edit("parameter_dims_overflow_int64", dims("data", "9223372036854775807,3,8,8"), IRError,
             "needs \\d+ bytes, more than the limit"),
        Edit("parameter_dims_product_wraps", dims("data", "4611686018427387905,4"), IRError,
             "needs 73786976294838206480 bytes"),
        Edit("parameter_negative_dim", dims("data", "1,-3,8,8"), IRError, "invalid dimension '-3'"),
        Edit("parameter_dim_not_a_number", dims("data", "1,three,8,8"), IRError, "invalid dimension 'three'"),
        Edit("parameter_without_shape", _tree_edit(lambda r: _layer(r, "data").find("data").attrib.pop("shape")),
             IRError, "missing 'shape' attribute"),
        Edit("parameter_unknown_type", _set(".//layer[@name='data']/data", "element_type", "q7"), IRError,
             "unknown element_type 'q7'"),
        Edit("const_dims_overflow_int64", dims("conv_w", "4,3,3,9223372036854775807"), IRError,
             "more than the limit"),
        Edit("const_dims_product_wraps", dims("conv_w", "4611686018427387905,4"), IRError,
             "needs 73786976294838206480 bytes"),
        Edit("parameter_empty_with_a_huge_dim", dims("data", "0,9223372036854775807"), IRError,
             "non-zero dimensions of an empty tensor of shape \\[0, 9223372036854775807\\].*more than the limit"),
        Edit("const_empty_with_a_huge_dim", dims("conv_w", "0,4611686018427387904"), IRError,
             "layer 'conv_w'.*non-zero dimensions of an empty tensor"),
        Edit("const_negative_dim", dims("conv_w", "4,-3,3,3"), IRError, "invalid dimension '-3'"),
        Edit("const_dynamic_dim", dims("conv_w", "4,?,3,3"), IRError, "a Const must have a static shape"),
        Edit("const_offset_past_end", _set(".//layer[@name='fc_w']/data", "offset", "1000000"), WeightsError,
             "offset 1000000 size 2560 lies past the end"),
        Edit("const_negative_offset", _set(".//layer[@name='fc_w']/data", "offset", "-8"), WeightsError,
             "negative offset -8"),
        Edit("const_offset_not_a_number", _set(".//layer[@name='fc_w']/data", "offset", "0x10"), IRError,
             "integer 'offset' and 'size'"),
        Edit("const_size_mismatch", _set(".//layer[@name='fc_w']/data", "size", "2556"), WeightsError,
             "size 2556 does not match shape \\[64, 10\\] of f32"),
        Edit("const_precision_mismatch", _set(".//layer[@name='fc_w']/data", "element_type", "f16"), WeightsError,
             "size 2560 does not match shape \\[64, 10\\] of f16 \\(1280 bytes\\)"),
        Edit("const_unknown_type", _set(".//layer[@name='fc_w']/data", "element_type", "f12"), IRError,
             "unsupported element_type 'f12'"),
        Edit("const_without_output_port", _remove(".//layer[@name='fc_w']", "output"), IRError,
             "a Const layer has 0 input and 1 output port\\(s\\), this one 0 and 0"),
        Edit("parameter_without_output_port", _remove(".//layer[@name='data']", "output"), IRError,
             "a Parameter layer has 0 input and 1 output port\\(s\\), this one 0 and 0"),
        Edit("parameter_with_input_port", _add_port("data", "input", "7", (1,)), IRError,
             "a Parameter layer has 0 input and 1 output port\\(s\\), this one 1 and 1"),
        Edit("result_without_input", _tree_edit(_remove_result_input), IRError,
             "a Result layer has 1 input and 0 output port\\(s\\), this one 0 and 0"),
        Edit("result_with_output_port", _add_port("prob/result0", "output", "9", (1, 10)), IRError,
             "a Result layer has 1 input and 0 output port\\(s\\), this one 1 and 1"),
        Edit("no_result", _tree_edit(lambda r: _remove_layer(r, "prob/result0")), IRError, "no Result layer"),
        Edit("reshape_element_count_wraps", _reshape_to(model, [2**62 + 1, 4]), ShapeInferenceError,
             "element counts differ"),
        Edit("reshape_to_negative", _reshape_to(model, [-5, -5]), ShapeInferenceError, "layer 'flat'"),
        Edit("attribute_of_wrong_type", _set(".//layer[@name='conv']/data", "strides", "one,one"),
             ShapeInferenceError, "layer 'conv'.*strides"),
        Edit("attribute_count_wrong", _set(".//layer[@name='conv']/data", "pads_begin", "1,1,1"),
             ShapeInferenceError, "layer 'conv'"),
        Edit("attribute_missing", _tree_edit(lambda r: _layer(r, "pool").find("data").attrib.pop("kernel")),
             ShapeInferenceError, "layer 'pool': required attribute 'kernel' is missing"),
        Edit("pooling_kernel_beyond_the_tensor_limit", _tree_edit(lambda r: _layer(r, "pool").find(
            "data").attrib.update(kernel="2147483646,3", auto_pad="same_upper")), ShapeInferenceError,
             "layer 'pool'.*the padded input of kernel \\[2147483646, 3\\].*more than the limit"),
        Edit("softmax_axis_out_of_range", _set(".//layer[@name='prob']/data", "axis", "5"), ShapeInferenceError,
             "layer 'prob'.*axis"),
        Edit("declared_dims_contradict", _dim("relu", "output", "2"), ShapeInferenceError,
             "layer 'relu'.*by shape inference, the IR declares \\[2, 4, 8, 8\\]"),
        Edit("port_dim_overflow", _dim("relu", "output", "99999999999999999999999"), ShapeInferenceError,
             "the IR declares \\[99999999999999999999999"),
        Edit("port_dim_negative", _dim("relu", "output", "-7"), IRError, "invalid dimension '-7'"),
    ]


def _remove_result_input(root):
    result = _layer(root, "prob/result0")
    result.remove(result.find("input"))
    edges = root.find("edges")
    for edge in edges.findall("edge"):
        if edge.get("to-layer") == result.get("id"):
            edges.remove(edge)


def _remove_layer(root, name):
    layer = _layer(root, name)
    root.find("layers").remove(layer)
    edges = root.find("edges")
    for edge in edges.findall("edge"):
        if layer.get("id") in (edge.get("to-layer"), edge.get("from-layer")):
            edges.remove(edge)


def _reshape_to(model, target):
    """The Reshape's target shape Const (i64 [1, 64]) patched to ``target`` in the .bin."""
    old = np.array([1, 64], np.int64).tobytes()
    new = np.array(target, np.int64).tobytes()

    def edit(m):
        assert m.bin.count(old) == 1
        return Model(m.xml, m.bin.replace(old, new))

    return edit


def _legacy_edits(version):
    return [
        Edit("unknown_layer_type", _set(".//layer[@name='relu']", "type", "Frobnicate"), UnsupportedOpError,
             "unknown legacy layer type 'Frobnicate'"),
        Edit("unknown_precision", _set(".", "precision", "Q78") if version >= 7
             else _set(".//layer[@name='conv']", "precision", "Q78"), IRError, "unsupported precision 'Q78'"),
        Edit("duplicate_layer_name", _set(".//layer[@name='relu']", "name", "conv"), IRError,
             "a second layer is named 'conv'"),
        Edit("blob_offset_past_end", _set(".//layer[@name='fc']/blobs/weights", "offset", "99999"), WeightsError,
             "layer 'fc'.*past the end"),
        Edit("blob_negative_size", _set(".//layer[@name='fc']/blobs/weights", "size", "-4"), WeightsError,
             "negative offset \\d+ or size -4"),
        Edit("blob_size_not_whole", _set(".//layer[@name='fc']/blobs/weights", "size", "2559"), WeightsError,
             "not a whole number of f32"),
        Edit("blob_size_mismatch", _set(".//layer[@name='fc']/blobs/weights", "size", "2556"), WeightsError,
             "blob 'weights' holds 639 f32 values, the layer needs 640"),
        Edit("blob_offset_not_a_number", _set(".//layer[@name='fc']/blobs/weights", "offset", "many"), IRError,
             "needs integer 'offset' and 'size'"),
        Edit("blob_missing", _remove(".//layer[@name='fc']/blobs", "weights"), WeightsError,
             "neither a 'weights' blob nor an input port 1"),
        Edit("attribute_of_wrong_type", _set(".//layer[@name='conv']/data", "kernel", "three,3"), IRError,
             "layer 'conv'.*kernel"),
        Edit("attribute_count_wrong", _set(".//layer[@name='conv']/data", "strides", "1,1,1"), IRError,
             "layer 'conv'.*strides"),
        Edit("attribute_missing", _tree_edit(lambda r: _layer(r, "fc").find("data").attrib.pop("out-size")),
             IRError, "layer 'fc'.*out-size"),
        Edit("dim_overflows_int64", _input_dims(["9223372036854775808", "3", "8", "8"]), IRError,
             "layer 'data'.*more than the limit"),
        Edit("dims_product_wraps", _input_dims(["4611686018427387905", "4"]), IRError,
             "layer 'data'.*needs 73786976294838206480 bytes"),
        Edit("layer_without_output_port", _remove(".//layer[@name='data']", "output"), IRError,
             "layer 'data' \\(id 0\\): has no output port"),
        Edit("negative_dim", _dim("data", "output", "-3"), IRError, "invalid dimension '-3'"),
        Edit("zero_dim", _dim("data", "output", "0"), IRError, "legacy IR dims are positive"),
        Edit("dim_not_a_number", _dim("data", "output", "1.5"), IRError, "invalid dimension '1.5'"),
        Edit("edge_dims_differ", _dim("relu", "input", "2"), GraphError, "declares dims \\[2, 4, 8, 8\\]"),
        Edit("output_dims_contradict", _tree_edit(lambda r: _set_dims(r, "prob", "input", ["1", "11"]) or
                                                  _set_dims(r, "fc", "output", ["1", "11"])), ShapeInferenceError,
             "layer 'fc'.*\\[1, 10\\] by shape inference, the IR declares \\[1, 11\\]"),
        Edit("batch_not_a_number", _set(".", "batch", "x"), IRError, "batch attribute 'x'"),
        Edit("no_input_layer", _set(".//layer[@name='data']", "type", "ReLU"), IRError, "no Input or Const layer"),
    ]


def _input_dims(values):
    """The network input's dims (and the convolution's input port reading it) set to ``values``."""

    def change(root):
        _set_dims(root, "data", "output", values)
        _set_dims(root, "conv", "input", values)

    return _tree_edit(change)


def _set_dims(root, layer, section, values):
    port = _layer(root, layer).find(f"{section}/port")
    for dim in port.findall("dim"):
        port.remove(dim)
    for v in values:
        ET.SubElement(port, "dim").text = v


def malformed_cases():
    """Every :class:`Case`: the common edits on each valid model, then each reader's own."""
    cases = []
    for base, model in valid_models().items():
        own = _v11_edits(model) if base == "v11" else _legacy_edits(int(base[1:]))
        for edit in COMMON_EDITS + own:
            cases.append(Case(f"{base}-{edit.name}", edit.apply(model), edit.error, edit.match))
    return cases


def write(model, directory, name="model"):
    """Write ``model`` into ``directory``; returns (xml path, bin path) as str."""
    xml, weights = Path(directory) / f"{name}.xml", Path(directory) / f"{name}.bin"
    xml.write_bytes(model.xml)
    weights.write_bytes(model.bin)
    return str(xml), str(weights)
