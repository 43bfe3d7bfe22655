"""Single-op models of ie_core/ops/detection.py checked against OpenVINO f32."""

import numpy as np
import openvino as ov
import openvino.opset1 as ov1
import openvino.opset2 as ov2
import openvino.opset4 as ov4
import openvino.opset8 as ov8
import openvino.opset13 as ops
import pytest
from helpers import DEVICES, assert_close, check_against_openvino, ie_infer, openvino_infer, save_ir

from ie_core.errors import ShapeInferenceError
from ie_core.ops import get_op
from ie_core.ops.registry import OpContext

RNG = np.random.default_rng(7)


def check(build, arrays, tmp_path):
    """A model whose Parameters ``in0, in1, ...`` are shaped like ``arrays``; ``build(*params)`` returns its node."""
    names = [f"in{i}" for i in range(len(arrays))]
    params = [ops.parameter(list(a.shape), ov.Type(a.dtype), name=n) for a, n in zip(arrays, names)]
    node = build(*params)
    check_against_openvino(ov.Model(node.outputs(), params), dict(zip(names, arrays)), tmp_path)


def spatial_size(param):
    """The [H, W] of a 4D Parameter as an i64 tensor computed from its shape (as converted SSD models do)."""
    return ops.strided_slice(ops.shape_of(param), [2], [4], [1], begin_mask=[0], end_mask=[0])


# ---------------------------------------------------------------------------------------- prior boxes

PRIOR_BOX_CASES = [
    dict(min_size=[16.0], max_size=[38.4], aspect_ratio=[2.0], flip=True, clip=False, step=16.0, offset=0.5,
         variance=[0.1, 0.1, 0.2, 0.2]),
    dict(min_size=[30.0, 60.0], max_size=[60.0, 111.0], aspect_ratio=[2.0, 3.0], flip=True, clip=True,
         step=0.0, offset=0.5, variance=[0.1]),
    dict(min_size=[0.2, 0.35], aspect_ratio=[0.5, 2.0], flip=False, clip=False, step=0.2, offset=0.5,
         variance=[], scale_all_sizes=False),
    dict(fixed_size=[32.0], density=[2.0], aspect_ratio=[2.0], flip=False, clip=False, step=8.0, offset=0.5,
         variance=[0.1, 0.1, 0.2, 0.2]),
    dict(fixed_size=[16.0, 24.0], fixed_ratio=[2.0], density=[1.0, 2.0], clip=False, step=8.0, offset=0.5,
         variance=[0.1, 0.1, 0.2, 0.2]),
]


@pytest.mark.parametrize("opset", [ov1, ov8])
@pytest.mark.parametrize("attrs", PRIOR_BOX_CASES)
def test_prior_box(attrs, opset, tmp_path):
    feature, image = np.zeros((1, 4, 5, 6), np.float32), np.zeros((1, 3, 40, 48), np.float32)
    extra = {"min_max_aspect_ratios_order": False} if opset is ov8 else {}
    attrs = {**attrs, **extra}
    check(lambda f, i: opset.prior_box(spatial_size(f), spatial_size(i), attrs), [feature, image], tmp_path)


@pytest.mark.parametrize(
    "attrs",
    [
        dict(width=[9.4, 25.1, 14.7], height=[15.0, 39.6, 25.5], clip=False, step=16.0, offset=0.5,
             variance=[0.1, 0.1, 0.2, 0.2]),
        dict(width=[30.0, 12.0], height=[20.0, 50.0], clip=True, step_widths=7.0, step_heights=9.0, offset=0.5,
             variance=[0.2]),
        dict(width=[40.0], height=[40.0], clip=True, offset=0.25, variance=[]),
    ],
)
def test_prior_box_clustered(attrs, tmp_path):
    feature, image = np.zeros((1, 4, 5, 6), np.float32), np.zeros((1, 3, 40, 48), np.float32)
    check(lambda f, i: ov1.prior_box_clustered(spatial_size(f), spatial_size(i), attrs), [feature, image], tmp_path)


# ---------------------------------------------------------------------------------------- DetectionOutput


def detection_inputs(images, priors, classes, loc_classes, normalized=True, encoded=False):
    """Box logits, softmax class scores and priors (corner boxes inside the unit square, or pixels)."""
    loc = (RNG.standard_normal((images, priors * loc_classes * 4)) * 0.3).astype(np.float32)
    logits = RNG.standard_normal((images, priors, classes)) * 2
    conf = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    centre = RNG.uniform(0.2, 0.8, (priors, 2))
    size = RNG.uniform(0.05, 0.4, (priors, 2))
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    if not normalized:
        boxes = np.concatenate([np.zeros((priors, 1)), boxes * 100], axis=1)
    rows = [boxes.reshape(-1)]
    if not encoded:
        rows.append(np.tile([0.1, 0.1, 0.2, 0.2, 0.0][: boxes.shape[1]], priors))
    return [loc, conf.reshape(images, -1).astype(np.float32), np.stack(rows)[None].astype(np.float32)]


BASE = dict(num_classes=4, background_label_id=0, top_k=30, keep_top_k=[20], nms_threshold=0.45,
            confidence_threshold=0.05, code_type="caffe.PriorBoxParameter.CENTER_SIZE", share_location=True,
            normalized=True, variance_encoded_in_target=False)
DETECTION_CASES = [
    ("center_size", {}, {}),
    ("keep_all", dict(keep_top_k=[-1], top_k=-1, confidence_threshold=0.3), {}),
    ("corner_clip", dict(code_type="caffe.PriorBoxParameter.CORNER", clip_before_nms=True), {}),
    ("clip_after", dict(clip_after_nms=True, keep_top_k=[5]), {}),
    ("per_class_boxes", dict(share_location=False), dict(loc_classes=4)),
    ("no_background", dict(background_label_id=-1, top_k=10), {}),
    ("encoded_variance", dict(variance_encoded_in_target=True), dict(encoded=True)),
    ("pixels", dict(normalized=False, input_height=100, input_width=100), dict(normalized=False)),
    ("mxnet", dict(decrease_label_id=True, top_k=25), {}),
    ("two_images", {}, dict(images=2)),
]


@pytest.mark.parametrize("opset", [ov1, ov8])
@pytest.mark.parametrize("case, attrs, geometry", DETECTION_CASES, ids=[c[0] for c in DETECTION_CASES])
def test_detection_output(case, attrs, geometry, opset, tmp_path):
    geometry = {"images": 1, "priors": 40, "classes": 4, "loc_classes": 1, **geometry}
    arrays = detection_inputs(geometry["images"], geometry["priors"], geometry["classes"], geometry["loc_classes"],
                              geometry.get("normalized", True), geometry.get("encoded", False))
    attrs = {**BASE, **attrs}
    if opset is ov8:
        attrs.pop("num_classes")
    check(lambda loc, conf, priors: opset.detection_output(loc, conf, priors, attrs), arrays, tmp_path)


def test_detection_output_rejects_mismatched_classes():
    ctx = OpContext("det", "DetectionOutput", 1, {"num_classes": "3", "keep_top_k": "10", "nms_threshold": "0.5"},
                    [(1, 160), (1, 160), (1, 2, 160)], [np.float32] * 3)
    with pytest.raises(ShapeInferenceError, match="det"):
        get_op("DetectionOutput").impl.infer(ctx)


# ---------------------------------------------------------------------------------------- YOLO


@pytest.mark.parametrize(
    "coords, classes, num, softmax, mask, axis, end_axis",
    [(4, 20, 5, True, [], 1, 3), (4, 3, 9, False, [0, 1, 2], 1, 3), (4, 2, 6, False, [3, 5], 1, 3),
     (4, 6, 2, True, [], 2, 3)],
)
def test_region_yolo(coords, classes, num, softmax, mask, axis, end_axis, tmp_path):
    channels = (num if softmax else len(mask)) * (coords + classes + 1)
    x = RNG.standard_normal((2, channels, 5, 4)).astype(np.float32) * 3
    check(lambda p: ov1.region_yolo(p, coords, classes, num, softmax, mask, axis, end_axis), [x], tmp_path)


@pytest.mark.parametrize("shape, stride", [((1, 8, 6, 4), 2), ((2, 18, 9, 6), 3), ((1, 4, 4, 4), 1)])
def test_reorg_yolo(shape, stride, tmp_path):
    x = RNG.standard_normal(shape).astype(np.float32)
    check(lambda p: ov2.reorg_yolo(p, [stride]), [x], tmp_path)


# ---------------------------------------------------------------------------------------- ROIPooling


@pytest.mark.parametrize("method, scale", [("max", 0.25), ("max", 1.0), ("bilinear", 1.0)])
def test_roi_pooling(method, scale, tmp_path):
    feat = RNG.standard_normal((2, 3, 12, 10)).astype(np.float32)
    if method == "max":
        rois = np.array([[0, 4, 4, 30, 20], [1, 0, 0, 39, 47], [0, 10.5, 2, 11, 3], [1, 30, 30, 20, 20]], np.float32)
        rois[:, 1:] /= scale * 4
    else:
        rois = np.array([[0, 0.1, 0.2, 0.7, 0.9], [1, 0.0, 0.0, 1.0, 1.0], [0, 0.5, 0.5, 0.55, 0.6]], np.float32)
    check(lambda f, r: ov2.roi_pooling(f, r, output_roi=[3, 4], spatial_scale=scale, method=method),
          [feat, rois], tmp_path)


# ---------------------------------------------------------------------------------------- Proposal

PROPOSAL_BASE = dict(base_size=np.uint32(16), pre_nms_topn=np.uint32(60), post_nms_topn=np.uint32(20), nms_thresh=0.7,
                     feat_stride=np.uint32(16), min_size=np.uint32(4), ratio=[0.5, 1.0, 2.0], scale=[2.0, 4.0])


@pytest.mark.parametrize("opset", [ov1, ov4])
@pytest.mark.parametrize(
    "attrs, info",
    [
        ({}, [96.0, 128.0, 1.0]),
        (dict(framework="tensorflow", normalize=True, clip_after_nms=True), [96.0, 128.0, 1.0]),
        (dict(clip_before_nms=False, box_size_scale=2.0, box_coordinate_scale=5.0, post_nms_topn=np.uint32(200)),
         [90.0, 120.0, 1.0, 1.5]),
    ],
)
def test_proposal(attrs, info, opset, tmp_path):
    anchors = 6
    probs = RNG.uniform(0, 1, (1, 2 * anchors, 6, 8)).astype(np.float32)
    deltas = (RNG.standard_normal((1, 4 * anchors, 6, 8)) * 0.2).astype(np.float32)
    image = np.array(info, np.float32)
    params = [ops.parameter(list(a.shape), ov.Type.f32, name=n) for a, n in zip([probs, deltas, image], "pdi")]
    node = opset.proposal(*params, {**PROPOSAL_BASE, **attrs})
    xml, _ = save_ir(ov.Model(node.outputs(), params), tmp_path)
    feeds = {"p": probs, "d": deltas, "i": image}
    expected = openvino_infer(xml, feeds)
    rows = int(np.argmax(expected[0][:, 0] == -1)) if (expected[0][:, 0] == -1).any() else len(expected[0])
    for device in DEVICES:
        actual = ie_infer(xml, feeds, device)
        assert_close(actual[0], expected[0], what=f"{device} boxes")
        if opset is ov4:  # OpenVINO's CPU plugin leaves the scores after the last box unwritten
            assert_close(actual[1][:rows], expected[1][:rows], what=f"{device} scores")
