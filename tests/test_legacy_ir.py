"""Legacy IR v2–v7: the real Model Optimizer fixtures, the layer catalog against OpenVINO, malformed files.

No runtime left reads IR v2–v7, so the reader is checked by (1) the real fixtures: all load and infer,
the same model in two IR versions agrees, detectors and a classifier give the obvious answer on
photographs bundled with scikit-image; (2) every catalog layer in a small network written as legacy IR
by the test, against the same network built with today's OpenVINO opsets and run by OpenVINO (f32);
(3) malformed files raising the ie_core error that names the problem.
"""

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset1 as ov1
import openvino.opset4 as ov4
import openvino.opset5 as ov5
import openvino.opset8 as ov8
import openvino.opset11 as ov11
import openvino.opset13 as ops
import pytest
from helpers import DEVICES, assert_close, ie_infer, openvino_infer, save_ir

from ie_core import IENetwork, IEPlugin
from ie_core.errors import GraphError, IRError, ShapeInferenceError, UnsupportedOpError, WeightsError
from ie_core.ir import read_network

COPIES = Path(__file__).parent / "data" / "legacy_ir"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "legacy_ir"
FIXTURES = {
    "v2-samplenet-fp32/SampLeNet.xml": "fc3",
    "v3-face-detection-adas-0001-fp16/face-detection-adas-0001.xml": "detection_out",
    "v3-face-detection-retail-0004-fp16/face-detection-retail-0004.xml": "detection_out",
    "v3-person-detection-retail-0013-fp16/person-detection-retail-0013.xml": "detection_out",
    "v4-face-detection-retail-0004-fp32/face-detection-retail-0004.xml": "detection_out",
    "v5-landmarks-regression-retail-0009-fp32/landmarks-regression-retail-0009.xml": "95",
    "v5-person-reidentification-retail-0079-fp32/person-reidentification-retail-0079.xml": "embd/dim_red/conv",
    "v6-squeezenet1.1-fp16/squeezenet1.1.xml": "prob",
    "v10-test-model-fp32/test_model_fp32.xml": "fc_out",
    "v11-open-closed-eye-0001-fp32/open-closed-eye-0001.xml": "19",
}
FACE_V3 = "v3-face-detection-retail-0004-fp16/face-detection-retail-0004.xml"
FACE_V4 = "v4-face-detection-retail-0004-fp32/face-detection-retail-0004.xml"
RNG = np.random.default_rng(11)


def fixture(relpath):
    """The fixture's .xml: the project's copy, else the shared folder's; skips when neither has it."""
    for base in (COPIES, SHARED):
        if (base / relpath).is_file():
            return str(base / relpath)
    pytest.skip(f"{relpath} is neither in tests/data/legacy_ir nor in shared/fixtures/legacy_ir")


def photo(name):
    """A photograph that ships inside scikit-image (``skimage.data.<name>()``, bundled, not downloaded)."""
    return getattr(pytest.importorskip("skimage.data"), name)()


def resize(image, height, width):
    transform = pytest.importorskip("skimage.transform")
    return transform.resize(image, (height, width), order=1, preserve_range=True, anti_aliasing=True)


def bgr(image, height, width):
    """An RGB uint8 photograph resized to NCHW float32 BGR in [0, 255], as the Open Model Zoo models take it."""
    resized = resize(image, height, width)
    return np.ascontiguousarray(resized[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32)


def run(xml, image, device="CPU"):
    net = IENetwork(model=xml, weights=xml[:-4] + ".bin")
    return IEPlugin(device).load(net).infer({next(iter(net.inputs)): image})


def detections(xml, image, device="CPU", threshold=0.5):
    """Rows [image, label, score, xmin, ymin, xmax, ymax] of an SSD output above ``threshold``."""
    net = IENetwork(model=xml, weights=xml[:-4] + ".bin")
    _, _, h, w = net.inputs[next(iter(net.inputs))]
    rows = run(xml, bgr(image, h, w), device)["detection_out"][0, 0]
    rows = rows[: np.argmax(rows[:, 0] == -1)] if (rows[:, 0] == -1).any() else rows
    return rows[rows[:, 2] > threshold]


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("relpath", sorted(FIXTURES))
def test_fixture_loads_and_infers(relpath, device):
    xml = fixture(relpath)
    net = IENetwork(model=xml, weights=xml[:-4] + ".bin")
    assert list(net.outputs) == [FIXTURES[relpath]]
    name = next(iter(net.inputs))
    x = RNG.uniform(0, 255, net.inputs[name]).astype(np.float32)
    out = IEPlugin(device).load(net).infer({name: x})[FIXTURES[relpath]]
    assert out.dtype == np.float32 and np.isfinite(out).all()
    if FIXTURES[relpath] == "detection_out":
        assert out.shape[:2] == (1, 1) and out.shape[3] == 7
        valid = out[0, 0][: np.argmax(out[0, 0, :, 0] == -1)]
        assert ((valid[:, 2] >= 0) & (valid[:, 2] <= 1)).all()  # scores are probabilities


def test_fixture_layers_keep_legacy_names_and_blobs():
    xml = fixture(FACE_V3)
    graph = read_network(xml, xml[:-4] + ".bin")
    conv = graph.node("Convolution1")
    assert conv.rt_info["legacy_type"] == "Convolution" and conv.rt_info["legacy_precision"] == "FP16"
    weights = conv.rt_info["legacy_blobs"]["weights"]
    assert weights.dtype == np.float16 and weights.ndim == 1
    helpers = [n for n in graph.nodes if n.rt_info.get("legacy_layer") == "Convolution1"]
    assert helpers and all(n.name.startswith("Convolution1/") for n in helpers)
    assert IENetwork(model=xml).inputs["data"].precision == "FP32"  # FP16 networks took FP32 input blobs


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_face_detector_v3_fp16_agrees_with_v4_fp32(device):
    image = bgr(photo("astronaut"), 300, 300)
    fp16 = run(fixture(FACE_V3), image, device)["detection_out"][0, 0]
    fp32 = run(fixture(FACE_V4), image, device)["detection_out"][0, 0]
    confident = fp32[:, 2] > 0.1
    assert confident.any()
    np.testing.assert_allclose(fp16[confident], fp32[confident], atol=0.02)


@pytest.mark.slow
@pytest.mark.parametrize("relpath", [FACE_V3, FACE_V4, "v3-face-detection-adas-0001-fp16/face-detection-adas-0001.xml"])
def test_face_detectors_find_the_astronauts_face(relpath):
    faces = detections(fixture(relpath), photo("astronaut"))
    assert len(faces) == 1
    # the face of scikit-image's astronaut lies around x 180-270, y 55-180 of the 512 x 512 photograph
    assert iou(faces[0, 3:], np.array([180, 55, 270, 180]) / 512) > 0.5


@pytest.mark.slow
def test_person_detector_finds_a_person():
    # person-detection-retail-0013 is a surveillance model: it looks for whole people seen from afar, so
    # the astronaut's portrait goes into a grey frame at that scale (the box the paste occupies is known)
    frame = np.full((320, 544, 3), 128, np.uint8)
    frame[80:320, 200:440] = resize(photo("astronaut"), 240, 240).astype(np.uint8)
    people = detections(fixture("v3-person-detection-retail-0013-fp16/person-detection-retail-0013.xml"), frame)
    assert len(people) >= 1 and people[0, 2] > 0.9
    xmin, ymin, xmax, ymax = people[0, 3:]
    assert 200 / 544 - 0.05 < xmin < xmax < 440 / 544 + 0.05 and ymin > 80 / 320 - 0.1


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_squeezenet_classifies_the_cat(device):
    image = bgr(photo("chelsea"), 227, 227) - np.array([104, 117, 123], np.float32).reshape(1, 3, 1, 1)
    prob = run(fixture("v6-squeezenet1.1-fp16/squeezenet1.1.xml"), image, device)["prob"].reshape(-1)
    assert abs(prob.sum() - 1) < 1e-4
    assert np.argmax(prob) in range(281, 286)  # ImageNet's domestic cats (tabby ... Egyptian cat)


@pytest.mark.slow
def test_landmarks_of_the_astronauts_face():
    face = photo("astronaut")[56:178, 180:271]
    xml = fixture("v5-landmarks-regression-retail-0009-fp32/landmarks-regression-retail-0009.xml")
    points = run(xml, bgr(face, 48, 48))["95"].reshape(5, 2)  # eyes, nose tip, mouth corners as (x, y)
    left_eye, right_eye, nose, mouth_left, mouth_right = points
    assert ((points > 0) & (points < 1)).all()
    assert left_eye[0] < nose[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


@pytest.mark.slow
def test_reidentification_embeds_the_same_person_closer():
    xml = fixture("v5-person-reidentification-retail-0079-fp32/person-reidentification-retail-0079.xml")

    def embedding(image):
        v = run(xml, bgr(image, 160, 64))["embd/dim_red/conv"].reshape(-1)
        return v / np.linalg.norm(v)

    person = photo("astronaut")[:, 100:400]
    same = embedding(person) @ embedding(person[:, ::-1])
    assert same > 0.8
    assert same > embedding(person) @ embedding(photo("chelsea")) + 0.3


# ------------------------------------------------------------------------------------------------ writing legacy IR

_STORED = {"FP32": np.float32, "FP16": np.float16, "I32": np.int32, "I64": np.int64, "U8": np.uint8}
_PRECISION = {np.dtype(v): k for k, v in _STORED.items()}


class LegacyIR:
    """A legacy IR network written by a test: layers, their blobs appended to the .bin, edges."""

    def __init__(self, version=3, precision="FP32"):
        self.version, self.precision = version, precision
        self.layers, self.edges, self.bin = [], [], bytearray()

    def input(self, name, dims):
        return self.layer("Input", [], [dims], name=name)[0]

    def const(self, name, value, precision=None):
        value = np.asarray(value)
        return self.layer("Const", [], [value.shape], blobs={"custom": value}, name=name, precision=precision)[0]

    def layer(self, type_name, inputs, out_dims, data=None, blobs=None, name=None, precision=None):
        """Add a layer reading ``inputs`` (tensors returned by earlier calls); returns its output tensors."""
        lid = len(self.layers)
        precision = precision or self.precision
        stored = {}
        for key, value in (blobs or {}).items():
            value = np.asarray(value)
            if value.dtype.kind == "f":
                value = value.astype(_STORED[precision])
            stored[key] = (len(self.bin), value.nbytes, _PRECISION[value.dtype])
            self.bin += value.tobytes()
        for port, (src, src_port, _) in enumerate(inputs):
            self.edges.append((src, src_port, lid, port))
        self.layers.append(dict(id=lid, name=name or f"{type_name.lower()}{lid}", type=type_name, data=data or {},
                                inputs=[dims for *_, dims in inputs], outputs=[tuple(d) for d in out_dims],
                                blobs=stored, precision=precision))
        return [(lid, len(inputs) + i, tuple(d)) for i, d in enumerate(out_dims)]

    def write(self, directory, name="legacy"):
        net = ET.Element("net", name=name, version=str(self.version), batch="1")
        if self.version >= 7:
            net.set("precision", self.precision)
        layers = ET.SubElement(net, "layers")
        for spec in self.layers:
            el = ET.SubElement(layers, "layer", id=str(spec["id"]), name=spec["name"], type=spec["type"])
            if self.version < 7:
                el.set("precision", spec["precision"])
            if spec["data"]:
                ET.SubElement(el, "data", {k: str(v) for k, v in spec["data"].items()})
            for section, dims_list, first in (("input", spec["inputs"], 0), ("output", spec["outputs"],
                                                                              len(spec["inputs"]))):
                if not dims_list:
                    continue
                sec = ET.SubElement(el, section)
                for i, dims in enumerate(dims_list):
                    port = ET.SubElement(sec, "port", id=str(first + i))
                    if self.version >= 7 and section == "output":
                        port.set("precision", spec["precision"])
                    for d in dims:
                        ET.SubElement(port, "dim").text = str(d)
            if spec["blobs"]:
                blobs = ET.SubElement(el, "blobs")
                for key, (offset, size, precision) in spec["blobs"].items():
                    blob = ET.SubElement(blobs, key, offset=str(offset), size=str(size))
                    if self.version >= 7:
                        blob.set("precision", precision)
        edges = ET.SubElement(net, "edges")
        for src, src_port, dst, dst_port in self.edges:
            ET.SubElement(edges, "edge", {"from-layer": str(src), "from-port": str(src_port), "to-layer": str(dst),
                                          "to-port": str(dst_port)})
        xml = str(Path(directory) / f"{name}.xml")
        ET.ElementTree(net).write(xml)
        Path(xml[:-4] + ".bin").write_bytes(bytes(self.bin))
        return xml


def rand(*shape, low=-1.0, high=1.0):
    return RNG.uniform(low, high, shape).astype(np.float32)


def check_layer(ir, model_outputs, params, inputs, tmp_path, tol=1e-5):
    """The legacy ``ir`` on every device against OpenVINO running the opset model (``model_outputs`` of ``params``)."""
    legacy_xml = ir.write(tmp_path)
    (tmp_path / "opset").mkdir()
    opset_xml, _ = save_ir(ov.Model(model_outputs, params), tmp_path / "opset")
    expected = openvino_infer(opset_xml, inputs)
    for device in DEVICES:
        actual = ie_infer(legacy_xml, inputs, device)
        assert len(actual) == len(expected)
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_close(a, e, tol, what=f"{device} output {i}")


def param(name, shape, dtype=np.float32):
    return ops.parameter(list(shape), ov.Type(dtype), name=name)


def stored(values, precision):
    """``values`` as a blob of ``precision`` holds them (FP16 rounds), in float32."""
    return np.asarray(values).astype(_STORED[precision]).astype(np.float32)


# ------------------------------------------------------------------------------------------------ the catalog

CONV_CASES = [
    # version, precision, group, data attributes, opset window (strides, pads_begin, pads_end, dilations, auto_pad)
    (2, "FP32", 1, {"kernel-x": 3, "kernel-y": 2, "stride-x": 2, "stride-y": 1, "pad-x": 1, "pad-y": 0, "pad-r": 0,
                    "pad-b": 1, "dilation-x": 1, "dilation-y": 1, "stride": "1,1,1,2"},
     ([1, 2], [0, 1], [1, 0], [1, 1], "explicit"), (2, 3)),
    (3, "FP16", 1, {"kernel": "3,3", "strides": "1,1", "pads_begin": "1,1", "pads_end": "1,1", "dilations": "2,2"},
     ([1, 1], [1, 1], [1, 1], [2, 2], "explicit"), (3, 3)),
    (5, "FP32", 3, {"kernel": "3,3", "strides": "2,2", "pads_begin": "0,0", "pads_end": "0,0", "dilations": "1,1",
                    "auto_pad": "same_upper"},
     ([2, 2], [0, 0], [0, 0], [1, 1], "same_upper"), (3, 3)),
    (7, "FP32", 1, {"kernel": "1,1", "strides": "1,1", "pads_begin": "0,0", "pads_end": "0,0", "dilations": "1,1"},
     ([1, 1], [0, 0], [0, 0], [1, 1], "explicit"), (1, 1)),
]


@pytest.mark.parametrize("version, precision, group, data, window, kernel", CONV_CASES)
def test_convolution(version, precision, group, data, window, kernel, tmp_path):
    x = rand(1, 6, 9, 8)
    out_c = 6 if group > 1 else 4
    w = rand(out_c, 6 // group, *kernel)
    b = rand(out_c)
    p = param("data", x.shape)
    strides, pb, pe, dil, auto_pad = window
    if group == 1:
        conv = ops.convolution(p, stored(w, precision), strides, pb, pe, dil, auto_pad)
    else:
        grouped = stored(w, precision).reshape(group, out_c // group, 6 // group, *kernel)
        conv = ops.group_convolution(p, grouped, strides, pb, pe, dil, auto_pad)
    y = ops.add(conv, stored(b, precision).reshape(1, out_c, 1, 1))
    ir = LegacyIR(version, precision)
    data_in = ir.input("data", x.shape)
    ir.layer("Convolution", [data_in], [y.get_output_shape(0)], {**data, "output": out_c, "group": group},
             {"weights": w.reshape(-1), "biases": b})
    check_layer(ir, [y], [p], {"data": x}, tmp_path)


def test_convolution_weights_from_const_inputs(tmp_path):
    x, w, b = rand(1, 3, 6, 6), rand(5, 3, 3, 3), rand(5)
    p = param("data", x.shape)
    y = ops.add(ops.convolution(p, w, [1, 1], [0, 0], [0, 0], [1, 1]), b.reshape(1, 5, 1, 1))
    ir = LegacyIR(6)
    data_in = ir.input("data", x.shape)
    ir.layer("Convolution", [data_in, ir.const("w", w), ir.const("b", b)], [(1, 5, 4, 4)],
             {"kernel": "3,3", "strides": "1,1", "pads_begin": "0,0", "pads_end": "0,0", "output": 5})
    check_layer(ir, [y], [p], {"data": x}, tmp_path)


@pytest.mark.parametrize("group, strides, pads", [(1, [2, 2], [1, 1]), (2, [2, 1], [0, 1]), (1, [3, 3], [0, 0])])
def test_deconvolution(group, strides, pads, tmp_path):
    x = rand(1, 4, 5, 6)
    w = rand(4, 6 // group, 3, 3)  # [C_in, C_out / group, kh, kw] as Caffe and MO store it
    b = rand(6)
    p = param("data", x.shape)
    if group == 1:
        y = ops.convolution_backprop_data(p, w, strides, pads_begin=pads, pads_end=pads, dilations=[1, 1])
    else:
        y = ops.group_convolution_backprop_data(p, w.reshape(group, 4 // group, 6 // group, 3, 3), strides,
                                                pads_begin=pads, pads_end=pads, dilations=[1, 1])
    y = ops.add(y, b.reshape(1, 6, 1, 1))
    ir = LegacyIR(3)
    data_in = ir.input("data", x.shape)
    ir.layer("Deconvolution", [data_in], [y.get_output_shape(0)],
             {"kernel": "3,3", "strides": ",".join(map(str, strides)), "pads_begin": ",".join(map(str, pads)),
              "pads_end": ",".join(map(str, pads)), "dilations": "1,1", "output": 6, "group": group},
             {"weights": w.reshape(-1), "biases": b})
    check_layer(ir, [y], [p], {"data": x}, tmp_path)


@pytest.mark.parametrize(
    "version, data, method, exclude, rounding, window",
    [
        (2, {"kernel-x": 3, "kernel-y": 3, "stride-x": 2, "stride-y": 2, "pad-x": 0, "pad-y": 0, "pad-r": 0,
             "pad-b": 0, "rounding-type": "ceil"}, "max", False, "ceil", ([2, 2], [0, 0], [0, 0], [3, 3])),
        (3, {"kernel": "3,3", "strides": "2,2", "pads_begin": "1,1", "pads_end": "1,1", "rounding_type": "floor",
             "exclude-pad": "true"}, "avg", True, "floor", ([2, 2], [1, 1], [1, 1], [3, 3])),
        (4, {"kernel": "2,3", "strides": "1,2", "pads_begin": "0,1", "pads_end": "1,1", "exclude-pad": "false"},
         "avg", False, "floor", ([1, 2], [0, 1], [1, 1], [2, 3])),
        (6, {"kernel": "9,10", "strides": "1,1", "pads_begin": "0,0", "pads_end": "0,0", "exclude-pad": "true"},
         "avg", True, "floor", ([1, 1], [0, 0], [0, 0], [9, 10])),
    ],
)
def test_pooling(version, data, method, exclude, rounding, window, tmp_path):
    x = rand(1, 3, 9, 10)
    p = param("data", x.shape)
    strides, pb, pe, kernel = window
    if method == "max":
        y = ov1.max_pool(p, strides, pb, pe, kernel, rounding)
    else:
        y = ov1.avg_pool(p, strides, pb, pe, kernel, exclude, rounding)
    ir = LegacyIR(version)
    ir.layer("Pooling", [ir.input("data", x.shape)], [y.get_output_shape(0)], {**data, "pool-method": method})
    check_layer(ir, [y], [p], {"data": x}, tmp_path)


@pytest.mark.parametrize("type_name, shape", [("FullyConnected", (2, 3, 4, 5)), ("InnerProduct", (3, 7))])
def test_fully_connected(type_name, shape, tmp_path):
    x = rand(*shape)
    inner = int(np.prod(shape[1:]))
    w, b = rand(8, inner), rand(8)
    p = param("data", x.shape)
    flat = ops.reshape(p, [shape[0], inner], False)
    y = ops.add(ops.matmul(flat, w, False, True), b)
    ir = LegacyIR(2)
    ir.layer(type_name, [ir.input("data", x.shape)], [(shape[0], 8)], {"out-size": 8},
             {"weights": w.reshape(-1), "biases": b})
    check_layer(ir, [y], [p], {"data": x}, tmp_path)


@pytest.mark.parametrize("slope", [None, 0.0, 0.1])
def test_relu(slope, tmp_path):
    x = rand(1, 4, 3, 3)
    p = param("data", x.shape)
    y = ops.relu(p) if not slope else ops.prelu(p, np.array([slope], np.float32))
    ir = LegacyIR(3)
    ir.layer("ReLU", [ir.input("data", x.shape)], [x.shape], {} if slope is None else {"negative_slope": slope})
    check_layer(ir, [y], [p], {"data": x}, tmp_path)


@pytest.mark.parametrize("shared", [False, True])
def test_prelu(shared, tmp_path):
    x = rand(1, 4, 3, 3)
    slopes = rand(1 if shared else 4)
    p = param("data", x.shape)
    y = ops.prelu(p, slopes)
    ir = LegacyIR(5)
    ir.layer("PReLU", [ir.input("data", x.shape)], [x.shape], {"channel_shared": int(shared)}, {"weights": slopes})
    check_layer(ir, [y], [p], {"data": x}, tmp_path)


@pytest.mark.parametrize(
    "kind, data, build",
    [
        ("sigmoid", {}, ops.sigmoid),
        ("tanh", {}, ops.tanh),
        ("elu", {"alpha": 0.5}, lambda p: ops.elu(p, 0.5)),
        ("relu6", {}, lambda p: ops.clamp(p, 0.0, 6.0)),
        ("exp", {}, ops.exp),
        ("not", {}, lambda p: ops.convert(ops.equal(p, np.float32(0)), "f32")),
    ],
)
def test_activation(kind, data, build, tmp_path):
    x = rand(1, 3, 4, 4, low=-8, high=8)
    x[0, 0, 0] = 0
    p = param("data", x.shape)
    ir = LegacyIR(5)
    ir.layer("Activation", [ir.input("data", x.shape)], [x.shape], {"type": kind, **data})
    check_layer(ir, [build(p)], [p], {"data": x}, tmp_path)


def test_clamp(tmp_path):
    x = rand(2, 5, low=-3, high=3)
    p = param("data", x.shape)
    ir = LegacyIR(3)
    ir.layer("Clamp", [ir.input("data", x.shape)], [x.shape], {"min": -1.5, "max": 0.5})
    check_layer(ir, [ops.clamp(p, -1.5, 0.5)], [p], {"data": x}, tmp_path)


@pytest.mark.parametrize("power, scale, shift", [(2.0, 0.5, 1.0), (1.0, 1.0, 0.0), (0.5, 2.0, 0.0), (1.0, -1.0, 3.0)])
def test_power(power, scale, shift, tmp_path):
    x = rand(1, 3, 4, low=0.1, high=2)
    p = param("data", x.shape)
    y = ops.power(ops.add(ops.multiply(p, np.float32(scale)), np.float32(shift)), np.float32(power))
    ir = LegacyIR(3)
    ir.layer("Power", [ir.input("data", x.shape)], [x.shape], {"power": power, "scale": scale, "shift": shift})
    check_layer(ir, [y], [p], {"data": x}, tmp_path)


ELTWISE_CASES = [
    ("sum", "", 2, lambda a, b: ops.add(a, b)),
    ("sum", "0.5,-2.0", 2, lambda a, b: ops.add(ops.multiply(a, np.float32(0.5)), ops.multiply(b, np.float32(-2)))),
    ("sum", "", 3, None),
    ("mul", None, 2, ops.multiply),
    ("prod", None, 3, None),
    ("max", None, 2, ops.maximum),
    ("min", None, 2, ops.minimum),
    ("sub", None, 2, ops.subtract),
    ("div", None, 2, ops.divide),
    ("squared_diff", None, 2, ops.squared_difference),
    ("floor_mod", None, 2, ops.floor_mod),
    ("pow", None, 2, ops.power),
    ("less", None, 2, lambda a, b: ops.convert(ops.less(a, b), "f32")),
    ("greater_equal", None, 2, lambda a, b: ops.convert(ops.greater_equal(a, b), "f32")),
    ("equal", None, 2, lambda a, b: ops.convert(ops.equal(a, b), "f32")),
    ("logical_and", None, 2, lambda a, b: ops.convert(ops.logical_and(ops.convert(a, "boolean"),
                                                                      ops.convert(b, "boolean")), "f32")),
    ("logical_xor", None, 2, lambda a, b: ops.convert(ops.logical_xor(ops.convert(a, "boolean"),
                                                                      ops.convert(b, "boolean")), "f32")),
]


@pytest.mark.parametrize("operation, coeff, count, build", ELTWISE_CASES, ids=[f"{c[0]}-{c[2]}" for c in ELTWISE_CASES])
def test_eltwise(operation, coeff, count, build, tmp_path):
    positive = operation in ("pow", "div", "floor_mod")
    xs = [rand(1, 3, 4, 4, low=0.5 if positive else -2, high=2) for _ in range(count)]
    if operation.startswith("logical") or operation == "equal":
        xs = [np.round(x) for x in xs]
    params = [param(f"in{i}", x.shape) for i, x in enumerate(xs)]
    if build is None:  # N inputs fold left
        combine = ops.add if operation == "sum" else ops.multiply
        y = params[0]
        for p in params[1:]:
            y = combine(y, p)
    else:
        y = build(*params)
    ir = LegacyIR(3)
    tensors = [ir.input(f"in{i}", x.shape) for i, x in enumerate(xs)]
    data = {"operation": operation} if coeff is None else {"operation": operation, "coeff": coeff}
    ir.layer("Eltwise", tensors, [xs[0].shape], data)
    check_layer(ir, [y], params, {f"in{i}": x for i, x in enumerate(xs)}, tmp_path)


@pytest.mark.parametrize("biases", [True, False])
def test_scale_shift(biases, tmp_path):
    x, w, b = rand(2, 3, 4, 5), rand(3), rand(3)
    p = param("data", x.shape)
    y = ops.multiply(p, stored(w, "FP16").reshape(1, 3, 1, 1))
    if biases:
        y = ops.add(y, stored(b, "FP16").reshape(1, 3, 1, 1))
    ir = LegacyIR(3, "FP16")
    blobs = {"weights": w, "biases": b} if biases else {"weights": w}
    ir.layer("ScaleShift", [ir.input("data", x.shape)], [x.shape], {}, blobs)
    check_layer(ir, [y], [p], {"data": x}, tmp_path)


@pytest.mark.parametrize("affine", [False, True])
def test_batch_normalization(affine, tmp_path):
    x = rand(2, 4, 3, 3)
    mean, var = rand(4), rand(4, low=0.2, high=2)
    gamma, beta = (rand(4), rand(4)) if affine else (np.ones(4, np.float32), np.zeros(4, np.float32))
    p = param("data", x.shape)
    y = ov5.batch_norm_inference(p, gamma, beta, mean, var, 1e-3)
    ir = LegacyIR(4)
    blobs = {"weights": var, "biases": mean, **({"gamma": gamma, "beta": beta} if affine else {})}
    ir.layer("BatchNormalization", [ir.input("data", x.shape)], [x.shape], {"epsilon": 1e-3}, blobs)
    check_layer(ir, [y], [p], {"data": x}, tmp_path)


@pytest.mark.parametrize(
    "type_name, data, axes, size",
    [
        ("Norm", {"alpha": 1e-2, "beta": 0.75, "local-size": 5, "region": "across"}, [1], 5),
        ("LRN", {"alpha": 2e-2, "beta": 0.5, "local-size": 3, "region": "same", "k": 2.0}, [2, 3], 3),
    ],
)
def test_norm(type_name, data, axes, size, tmp_path):
    x = rand(1, 7, 5, 5, low=-3, high=3)
    p = param("data", x.shape)
    y = ops.lrn(p, np.array(axes, np.int64), data["alpha"], data["beta"], data.get("k", 1.0), size)
    ir = LegacyIR(3)
    ir.layer(type_name, [ir.input("data", x.shape)], [x.shape], data)
    check_layer(ir, [y], [p], {"data": x}, tmp_path)


@pytest.mark.parametrize("across_spatial, shared", [(0, 0), (1, 1)])
def test_normalize(across_spatial, shared, tmp_path):
    x = rand(1, 4, 3, 5)
    scale = rand(1 if shared else 4, low=1, high=20)
    p = param("data", x.shape)
    axes = np.array([1, 2, 3] if across_spatial else [1], np.int64)
    y = ops.multiply(ops.normalize_l2(p, axes, 1e-10, "add"), scale.reshape(1, -1, 1, 1))
    ir = LegacyIR(3)
    ir.layer("Normalize", [ir.input("data", x.shape)], [x.shape],
             {"across_spatial": across_spatial, "channel_shared": shared, "eps": 1e-10}, {"weights": scale})
    check_layer(ir, [y], [p], {"data": x}, tmp_path)


@pytest.mark.parametrize("axis", [1, 2])
def test_softmax(axis, tmp_path):
    x = rand(2, 3, 4, low=-4, high=4)
    p = param("data", x.shape)
    ir = LegacyIR(2)
    ir.layer("SoftMax", [ir.input("data", x.shape)], [x.shape], {"axis": axis})
    check_layer(ir, [ov1.softmax(p, axis)], [p], {"data": x}, tmp_path)


def test_concat(tmp_path):
    a, b = rand(1, 2, 3, 4), rand(1, 5, 3, 4)
    pa, pb = param("a", a.shape), param("b", b.shape)
    ir = LegacyIR(3)
    ir.layer("Concat", [ir.input("a", a.shape), ir.input("b", b.shape)], [(1, 7, 3, 4)], {"axis": 1})
    check_layer(ir, [ops.concat([pa, pb], 1)], [pa, pb], {"a": a, "b": b}, tmp_path)


@pytest.mark.parametrize("type_name, sizes", [("Split", [2, 2, 2]), ("Slice", [1, 3, 2])])
def test_split(type_name, sizes, tmp_path):
    x = rand(1, 3, 6, 2)
    p = param("data", x.shape)
    if len(set(sizes)) == 1:
        node = ops.split(p, 2, len(sizes))
    else:
        node = ops.variadic_split(p, 2, np.array(sizes, np.int64))
    ir = LegacyIR(3)
    data = {"axis": 2, "num_split": len(sizes)} if type_name == "Split" else {"axis": 2, "slice_point": "1,4"}
    outs = ir.layer(type_name, [ir.input("data", x.shape)], [(1, 3, s, 2) for s in sizes], data)
    for i, out in enumerate(outs):  # each output feeds a layer of its own, so all are network outputs
        ir.layer("ReLU", [out], [out[2]], name=f"relu_out{i}")
    check_layer(ir, [ops.relu(node.output(i)) for i in range(len(sizes))], [p], {"data": x}, tmp_path)


@pytest.mark.parametrize("kind", ["dims", "crop_begin_end", "reference_input"])
def test_crop(kind, tmp_path):
    x = rand(1, 4, 7, 8)
    p = param("data", x.shape)
    y = ops.slice(p, np.array([1, 2], np.int64), np.array([6, 7], np.int64), np.array([1, 1], np.int64),
                  np.array([2, 3], np.int64))
    ir = LegacyIR(3)
    data_in = ir.input("data", x.shape)
    inputs, params, feeds = [data_in], [p], {"data": x}
    if kind == "dims":
        data = {"axis": "2,3", "offset": "1,2", "dim": "5,5"}
    elif kind == "crop_begin_end":
        data = {"axis": "2,3", "crop_begin": "1,2", "crop_end": "1,1"}
    else:
        ref = np.zeros((1, 4, 5, 5), np.float32)
        inputs.append(ir.input("reference", ref.shape))
        data = {"axis": "2,3", "offset": "1,2"}
        pr = param("reference", ref.shape)
        params.append(pr)
        feeds["reference"] = ref
        y = ops.add(y, ops.multiply(pr, np.float32(0)))  # the reference input only gives the size
    ir.layer("Crop", inputs, [(1, 4, 5, 5)], data)
    check_layer(ir, [y], params, feeds, tmp_path)


@pytest.mark.parametrize("version", [3, 4])
def test_reshape(version, tmp_path):
    x = rand(2, 6, 3, 4)
    p = param("data", x.shape)
    y = ops.reshape(p, np.array([0, -1, 2], np.int64), True)
    ir = LegacyIR(version)
    data_in = ir.input("data", x.shape)
    if version == 3:
        ir.layer("Reshape", [data_in], [(2, 36, 2)], {"dim": "0,-1,2", "axis": 0, "num_axes": -1})
    else:  # v4+: the shape from a Const layer, its values stored as FP32 as Model Optimizer wrote them
        ir.layer("Reshape", [data_in, ir.const("shape", np.array([0, -1, 2], np.float32))], [(2, 36, 2)])
    check_layer(ir, [y], [p], {"data": x}, tmp_path)


@pytest.mark.parametrize("axis, end_axis, out", [(1, -1, (2, 60)), (1, 2, (2, 15, 4)), (0, 1, (10, 3, 4))])
def test_flatten(axis, end_axis, out, tmp_path):
    x = rand(2, 5, 3, 4)
    p = param("data", x.shape)
    ir = LegacyIR(4)
    ir.layer("Flatten", [ir.input("data", x.shape)], [out], {"axis": axis, "end_axis": end_axis})
    check_layer(ir, [ops.reshape(p, np.array(out, np.int64), False)], [p], {"data": x}, tmp_path)


def test_permute(tmp_path):
    x = rand(1, 3, 4, 5)
    p = param("data", x.shape)
    ir = LegacyIR(3)
    ir.layer("Permute", [ir.input("data", x.shape)], [(1, 4, 5, 3)], {"order": "0,2,3,1"})
    check_layer(ir, [ops.transpose(p, np.array([0, 2, 3, 1], np.int64))], [p], {"data": x}, tmp_path)


def test_tile(tmp_path):
    x = rand(1, 3, 2, 2)
    p = param("data", x.shape)
    ir = LegacyIR(3)
    ir.layer("Tile", [ir.input("data", x.shape)], [(1, 3, 6, 2)], {"axis": 2, "tiles": 3})
    check_layer(ir, [ops.tile(p, np.array([1, 1, 3, 1], np.int64))], [p], {"data": x}, tmp_path)


@pytest.mark.parametrize("type_name", ["Squeeze", "Unsqueeze"])
def test_squeeze_unsqueeze(type_name, tmp_path):
    x = rand(1, 3, 1, 4)
    p = param("data", x.shape)
    ir = LegacyIR(5)
    data_in = ir.input("data", x.shape)
    if type_name == "Squeeze":
        y, out = ops.squeeze(p, np.array([0, 2], np.int64)), (3, 4)
        axes = ir.const("axes", np.array([0, 2], np.int32), precision="I32")
    else:
        y, out = ops.unsqueeze(p, np.array([1], np.int64)), (1, 1, 3, 1, 4)
        axes = ir.const("axes", np.array([1.0], np.float32))
    ir.layer(type_name, [data_in, axes], [out])
    check_layer(ir, [y], [p], {"data": x}, tmp_path)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_pad(mode, tmp_path):
    x = rand(1, 2, 4, 5)
    p = param("data", x.shape)
    pb, pe = np.array([0, 1, 2, 1], np.int64), np.array([0, 0, 1, 3], np.int64)
    y = ops.pad(p, pb, pe, mode, np.float32(2.5) if mode == "constant" else None)
    ir = LegacyIR(4)
    ir.layer("Pad", [ir.input("data", x.shape)], [(1, 3, 7, 9)],
             {"pads_begin": "0,1,2,1", "pads_end": "0,0,1,3", "pad_mode": mode, "pad_value": 2.5})
    check_layer(ir, [y], [p], {"data": x}, tmp_path)


@pytest.mark.parametrize(
    "kind, factor, antialias, attrs",
    [
        ("NEAREST", 2.0, 0, dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")),
        ("LINEAR", 2.0, 0, dict(mode="linear", coordinate_transformation_mode="half_pixel")),
        ("LINEAR", 0.5, 1, dict(mode="linear", coordinate_transformation_mode="half_pixel", antialias=True)),
    ],
)
def test_resample(kind, factor, antialias, attrs, tmp_path):
    x = rand(1, 2, 6, 8)
    p = param("data", x.shape)
    # OpenVINO's CPU plugin applies antialias to 5-D inputs only: the expected model resizes a 5-D view
    p5 = ops.unsqueeze(p, np.array([2], np.int64))
    y = ov11.interpolate(p5, np.array([factor, factor], np.float32), shape_calculation_mode="scales",
                         axes=np.array([3, 4], np.int64), **attrs)
    y = ops.squeeze(y, np.array([2], np.int64))
    ir = LegacyIR(3)
    ir.layer("Resample", [ir.input("data", x.shape)], [y.get_output_shape(0)],
             {"type": f"caffe.ResampleParameter.{kind}", "factor": factor, "antialias": antialias})
    check_layer(ir, [y], [p], {"data": x}, tmp_path)


@pytest.mark.parametrize("align", [1, 0])
def test_interp(align, tmp_path):
    x = rand(1, 2, 5, 6)
    p = param("data", x.shape)
    y = ov11.interpolate(p, np.array([9, 13], np.int64), "linear_onnx", "sizes", axes=np.array([2, 3], np.int64),
                         coordinate_transformation_mode="align_corners" if align else "asymmetric")
    ir = LegacyIR(5)
    ir.layer("Interp", [ir.input("data", x.shape)], [(1, 2, 9, 13)],
             {"height": 9, "width": 13, "align_corners": align, "pad_beg": 0, "pad_end": 0})
    check_layer(ir, [y], [p], {"data": x}, tmp_path)


@pytest.mark.parametrize("alpha, beta, ta, tb, with_c", [(1.0, 1.0, 0, 0, False), (0.5, 2.0, 1, 0, True),
                                                         (2.0, 1.0, 0, 1, True)])
def test_gemm(alpha, beta, ta, tb, with_c, tmp_path):
    a = rand(2, 4, 3) if ta else rand(2, 3, 4)
    b = rand(2, 5, 4) if tb else rand(2, 4, 5)
    c = rand(2, 3, 5)
    pa, pb, pc = param("a", a.shape), param("b", b.shape), param("c", c.shape)
    y = ops.multiply(ops.matmul(pa, pb, bool(ta), bool(tb)), np.float32(alpha))
    params, feeds = [pa, pb], {"a": a, "b": b}
    ir = LegacyIR(5)
    inputs = [ir.input("a", a.shape), ir.input("b", b.shape)]
    if with_c:
        y = ops.add(y, ops.multiply(pc, np.float32(beta)))
        params.append(pc)
        feeds["c"] = c
        inputs.append(ir.input("c", c.shape))
    ir.layer("Gemm", inputs, [(2, 3, 5)], {"alpha": alpha, "beta": beta, "transpose_a": ta, "transpose_b": tb})
    check_layer(ir, [y], params, feeds, tmp_path)


def _prior_net(type_name, data, ov_node, tmp_path):
    """A legacy network: PriorBox-like layer over Inputs 'feature' [1, 8, 5, 6] and 'image' [1, 3, 80, 96]."""
    feature, image = np.zeros((1, 8, 5, 6), np.float32), np.zeros((1, 3, 80, 96), np.float32)
    pf, pi = param("feature", feature.shape), param("image", image.shape)

    def size(p):
        return ops.strided_slice(ops.shape_of(p), [2], [4], [1], begin_mask=[0], end_mask=[0])

    y = ops.unsqueeze(ov_node(size(pf), size(pi)), np.array([0], np.int64))
    ir = LegacyIR(3)
    ir.layer(type_name, [ir.input("feature", feature.shape), ir.input("image", image.shape)], [y.get_output_shape(0)],
             data)
    check_layer(ir, [y], [pf, pi], {"feature": feature, "image": image}, tmp_path)


def test_prior_box(tmp_path):
    data = {"min_size": "16.0", "max_size": "38.4", "aspect_ratio": "2.0,3.0", "flip": 1, "clip": 0, "step": 16.0,
            "offset": 0.5, "variance": "0.1,0.1,0.2,0.2"}
    attrs = dict(min_size=[16.0], max_size=[38.4], aspect_ratio=[2.0, 3.0], flip=True, clip=False, step=16.0,
                 offset=0.5, variance=[0.1, 0.1, 0.2, 0.2])
    _prior_net("PriorBox", data, lambda f, i: ov1.prior_box(f, i, attrs), tmp_path)


def test_prior_box_clustered(tmp_path):
    data = {"width": "9.4,25.1,14.7", "height": "15.0,39.6,25.5", "clip": 0, "flip": 1, "step": 16.0, "offset": 0.5,
            "variance": "0.1,0.1,0.2,0.2"}
    attrs = dict(width=[9.4, 25.1, 14.7], height=[15.0, 39.6, 25.5], clip=False, step=16.0, offset=0.5,
                 variance=[0.1, 0.1, 0.2, 0.2])
    _prior_net("PriorBoxClustered", data, lambda f, i: ov1.prior_box_clustered(f, i, attrs), tmp_path)


def test_detection_output(tmp_path):
    priors = 30
    loc = (RNG.standard_normal((1, priors * 4)) * 0.3).astype(np.float32)
    logits = RNG.standard_normal((1, priors, 3)) * 2
    conf = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).reshape(1, -1).astype(np.float32)
    centre, half = RNG.uniform(0.2, 0.8, (priors, 2)), RNG.uniform(0.05, 0.2, (priors, 2))
    boxes = np.concatenate([centre - half, centre + half], 1).reshape(-1)
    prior = np.stack([boxes, np.tile([0.1, 0.1, 0.2, 0.2], priors)])[None].astype(np.float32)
    attrs = dict(num_classes=3, background_label_id=0, top_k=20, keep_top_k=[10], nms_threshold=0.45,
                 confidence_threshold=0.01, code_type="caffe.PriorBoxParameter.CENTER_SIZE", share_location=True,
                 variance_encoded_in_target=False, normalized=True)
    ps = [param("loc", loc.shape), param("conf", conf.shape), param("priors", prior.shape)]
    y = ov1.detection_output(*ps, attrs)
    ir = LegacyIR(3, "FP16")
    inputs = [ir.input("loc", loc.shape), ir.input("conf", conf.shape), ir.input("priors", prior.shape)]
    ir.layer("DetectionOutput", inputs, [(1, 1, 10, 7)],
             {"num_classes": 3, "background_label_id": 0, "top_k": 20, "keep_top_k": 10, "nms_threshold": 0.45,
              "confidence_threshold": 0.01, "code_type": "caffe.PriorBoxParameter.CENTER_SIZE", "share_location": 1,
              "variance_encoded_in_target": 0, "normalized": 1, "input_height": -1, "input_width": -1, "eta": 1.0,
              "visualize": "False"})
    check_layer(ir, [y], ps, {"loc": loc, "conf": conf, "priors": prior}, tmp_path)


@pytest.mark.parametrize("softmax", [True, False])
def test_region_yolo(softmax, tmp_path):
    mask = [] if softmax else [0, 2]
    channels = (5 if softmax else 2) * (4 + 3 + 1)
    x = rand(1, channels, 4, 5, low=-3, high=3)
    p = param("data", x.shape)
    y = ov1.region_yolo(p, 4, 3, 5, softmax, mask, 1, 3)
    ir = LegacyIR(5)
    data = {"coords": 4, "classes": 3, "num": 5, "do_softmax": int(softmax), "axis": 1, "end_axis": 3}
    if mask:
        data["mask"] = ",".join(map(str, mask))
    ir.layer("RegionYolo", [ir.input("data", x.shape)], [y.get_output_shape(0)], data)
    check_layer(ir, [y], [p], {"data": x}, tmp_path)


def test_reorg_yolo(tmp_path):
    x = rand(1, 8, 6, 4)
    p = param("data", x.shape)
    ir = LegacyIR(5)
    ir.layer("ReorgYolo", [ir.input("data", x.shape)], [(1, 32, 3, 2)], {"stride": 2})
    check_layer(ir, [ov4.reorg_yolo(p, [2])], [p], {"data": x}, tmp_path)


def test_roi_pooling(tmp_path):
    feat = rand(1, 3, 10, 12)
    rois = np.array([[0, 8, 8, 60, 44], [0, 0, 0, 95, 79], [0, 30, 20, 34, 26]], np.float32)
    pf, pr = param("feat", feat.shape), param("rois", rois.shape)
    y = ov8.roi_pooling(pf, pr, output_roi=[2, 3], spatial_scale=0.125, method="max")
    ir = LegacyIR(3)
    ir.layer("ROIPooling", [ir.input("feat", feat.shape), ir.input("rois", rois.shape)], [(3, 3, 2, 3)],
             {"pooled_h": 2, "pooled_w": 3, "spatial_scale": 0.125, "method": "max"})
    check_layer(ir, [y], [pf, pr], {"feat": feat, "rois": rois}, tmp_path)


@pytest.mark.parametrize("outputs", [1, 2])
def test_proposal(outputs, tmp_path):
    probs = RNG.uniform(0, 1, (1, 6, 5, 7)).astype(np.float32)
    deltas = (RNG.standard_normal((1, 12, 5, 7)) * 0.2).astype(np.float32)
    info = np.array([[80.0, 112.0, 1.0]], np.float32)
    data = {"base_size": 16, "pre_nms_topn": 50, "post_nms_topn": 12, "nms_thresh": 0.7, "feat_stride": 16,
            "min_size": 4, "ratio": "0.5,1.0,2.0", "scale": "2.0"}
    attrs = {k: np.uint32(v) if isinstance(v, int) else v for k, v in data.items()}
    attrs.update(ratio=[0.5, 1.0, 2.0], scale=[2.0])
    ps = [param("probs", probs.shape), param("deltas", deltas.shape), param("info", info.shape)]
    image = ops.gather(ps[2], np.int64(0), np.int64(0))
    node = (ov1 if outputs == 1 else ov4).proposal(ps[0], ps[1], image, attrs)
    ir = LegacyIR(5)
    inputs = [ir.input("probs", probs.shape), ir.input("deltas", deltas.shape), ir.input("info", info.shape)]
    ir.layer("Proposal", inputs, [(12, 5), (12,)][:outputs], data)
    check_layer(ir, node.outputs(), ps, {"probs": probs, "deltas": deltas, "info": info}, tmp_path)


def test_fp16_network_computes_in_fp32_with_fp16_weights(tmp_path):
    x, w = rand(1, 2, 4, 4), rand(3, 2, 1, 1) * 3
    p = param("data", x.shape)
    y = ops.convolution(p, stored(w, "FP16"), [1, 1], [0, 0], [0, 0], [1, 1])
    ir = LegacyIR(6, "FP16")
    ir.layer("Convolution", [ir.input("data", x.shape)], [(1, 3, 4, 4)], {"kernel": "1,1", "output": 3},
             {"weights": w.reshape(-1)})
    check_layer(ir, [y], [p], {"data": x}, tmp_path)
    net = IENetwork(model=str(tmp_path / "legacy.xml"))
    assert net.inputs["data"].precision == "FP32"


@pytest.mark.parametrize("kind", ["values", "image"])
def test_pre_process(kind, tmp_path):
    x = rand(1, 3, 2, 3, low=0, high=255)
    mean = np.array([104.0, 117.0, 123.0], np.float32)
    scale = np.array([2.0, 4.0, 0.5], np.float32)
    image = rand(3, 2, 3, low=0, high=255)
    p = param("data", x.shape)
    y = ops.divide(ops.subtract(p, mean.reshape(1, 3, 1, 1)), scale.reshape(1, 3, 1, 1)) if kind == "values" else \
        ops.subtract(p, image[None])
    ir = LegacyIR(3)
    ir.layer("ReLU", [ir.input("data", x.shape)], [x.shape], {"negative_slope": 1.0})
    xml = ir.write(tmp_path)
    tree = ET.parse(xml)
    pre = ET.SubElement(tree.getroot(), "pre-process", {"reference-layer-name": "data", "mean-precision": "FP32"})
    offset = len(ir.bin)
    for c in range(3):
        chan = ET.SubElement(pre, "channel", id=str(c))
        if kind == "values":
            ET.SubElement(chan, "mean", value=str(mean[c]))
            ET.SubElement(chan, "scale", value=str(scale[c]))
        else:
            ET.SubElement(chan, "mean", offset=str(offset + c * 24), size="24")
    tree.write(xml)
    Path(xml[:-4] + ".bin").write_bytes(bytes(ir.bin) + image.tobytes())
    (tmp_path / "opset").mkdir()
    expected = openvino_infer(save_ir(ov.Model([ops.prelu(y, np.float32([1.0]))], [p]), tmp_path / "opset")[0],
                              {"data": x})
    for device in DEVICES:
        assert_close(ie_infer(xml, {"data": x}, device)[0], expected[0])


# ------------------------------------------------------------------------------------------------ malformed files


def _small_ir(tmp_path, version=3, **layer):
    """A two-layer network (Input, Convolution) written as legacy IR; returns the .xml path."""
    ir = LegacyIR(version)
    spec = {"kernel": "1,1", "output": 2, **layer.pop("data", {})}
    ir.layer("Convolution", [ir.input("data", (1, 3, 4, 4))], [(1, 2, 4, 4)], spec,
             layer.pop("blobs", {"weights": rand(6), "biases": rand(2)}), name="conv")
    return ir.write(tmp_path)


def _edit(xml, change):
    tree = ET.parse(xml)
    change(tree.getroot())
    tree.write(xml)
    return xml


@pytest.mark.parametrize(
    "change, error, match",
    [
        (lambda r: r.find(".//weights").set("offset", "100000"), WeightsError, "layer 'conv'.*past the end"),
        (lambda r: r.find(".//weights").set("size", "-4"), WeightsError, "layer 'conv'.*negative"),
        (lambda r: r.find(".//weights").set("size", "22"), WeightsError, "not a whole number of f32"),
        (lambda r: r.find(".//layer[@name='conv']").set("precision", "FP16"), WeightsError,
         "blob 'weights' holds 12 f16 values, the layer needs 6"),
        (lambda r: r.find(".//layer[@name='conv']").set("precision", "Q78"), IRError, "unsupported precision"),
        (lambda r: r.find(".//layer[@name='conv']").set("type", "MyCustomLayer"), UnsupportedOpError,
         "layer 'conv'.*unknown legacy layer type 'MyCustomLayer'"),
        (lambda r: r.find(".//edge").set("from-layer", "7"), GraphError, "source layer id 7 does not exist"),
        (lambda r: r.find("edges").remove(r.find(".//edge")), GraphError, "input port.*no edge connected"),
        (lambda r: r.find(".//layer[@name='conv']/input/port/dim").__setattr__("text", "2"), GraphError,
         "declares dims \\[2, 3, 4, 4\\], its edge from 'data' output 0 carries \\[1, 3, 4, 4\\]"),
        (lambda r: r.find(".//layer[@name='conv']/data").attrib.pop("output"), IRError,
         "required attribute 'output' is missing"),
        (lambda r: r.find(".//layer[@name='conv']/output/port/dim[3]").__setattr__("text", "9"), ShapeInferenceError,
         "layer 'conv'.*\\[1, 2, 4, 4\\] by shape inference, the IR declares \\[1, 2, 9, 4\\]"),
        (lambda r: r.find(".//layer[@name='data']/output/port/dim").__setattr__("text", "?"), IRError,
         "layer 'data'.*port 0 has dims \\[-1, 3, 4, 4\\]: legacy IR dims are positive"),
        (lambda r: r.set("version", "1"), IRError, "unknown IR version '1'"),
        (lambda r: r.set("batch", "0"), IRError, "batch attribute"),
        (lambda r: r.find(".//layer[@name='data']").set("type", "Const"), WeightsError, "exactly one blob"),
    ],
)
def test_malformed(change, error, match, tmp_path):
    xml = _edit(_small_ir(tmp_path), change)
    with pytest.raises(error, match=match) as info:
        IENetwork(model=xml)
    assert xml in str(info.value)


def test_v7_output_port_without_precision(tmp_path):
    xml = _edit(_small_ir(tmp_path, version=7), lambda r: r.find(".//layer[@name='conv']/output/port").attrib.pop(
        "precision"))
    with pytest.raises(IRError, match=r"layer 'conv'.*output port 1 has no precision"):
        IENetwork(model=xml)


def test_cycle(tmp_path):
    ir = LegacyIR(3)
    data = ir.input("data", (1, 2))
    a = ir.layer("Eltwise", [data, (2, 1, (1, 2))], [(1, 2)], {"operation": "sum"}, name="a")[0]  # reads "b"
    ir.layer("ReLU", [a], [(1, 2)], name="b")
    with pytest.raises(GraphError, match="cycle through layers"):
        IENetwork(model=ir.write(tmp_path))


def test_pre_process_of_an_unknown_input(tmp_path):
    xml = _edit(_small_ir(tmp_path), lambda r: ET.SubElement(r, "pre-process", {"reference-layer-name": "nope"}))
    with pytest.raises(IRError, match="refers to 'nope', which is not an Input layer"):
        IENetwork(model=xml)
