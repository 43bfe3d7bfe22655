"""Single-op models of ie_core/ops/nn.py and ie_core/ops/reduction.py checked against OpenVINO f32."""

import numpy as np
import openvino as ov
import openvino.opset1 as ov1
import openvino.opset2 as ov2
import openvino.opset3 as ov3
import openvino.opset5 as ov5
import openvino.opset8 as ov8
import openvino.opset10 as ov10
import openvino.opset11 as ov11
import openvino.opset13 as ops
import openvino.opset14 as ov14
import openvino.opset16 as ov16
import pytest
from helpers import check_against_openvino

from ie_core.errors import ShapeInferenceError
from ie_core.ops import get_op
from ie_core.ops.registry import OpContext

RNG = np.random.default_rng(0)


def rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def distinct(*shape):
    """Random float32 values without ties (so argmax indices are well defined)."""
    n = int(np.prod(shape))
    return (RNG.permutation(n).astype(np.float32) / n - 0.5).reshape(shape)


def check(build, *arrays, tmp_path, names=None):
    """Build a model from Parameters shaped like ``arrays``; ``build(*params)`` returns its output node(s)."""
    names = names or [f"in{i}" for i in range(len(arrays))]
    params = [ops.parameter(list(a.shape), ov.Type(a.dtype), name=n) for a, n in zip(arrays, names)]
    node = build(*params)
    outputs = node.outputs() if not isinstance(node, (list, tuple)) else [o for n in node for o in n.outputs()]
    model = ov.Model(outputs, params)
    check_against_openvino(model, dict(zip(names, arrays)), tmp_path)


def const(value, dtype=np.float32):
    return ops.constant(np.asarray(value, dtype=dtype))


# ---------------------------------------------------------------------------------------- convolution

CONV_CASES = [
    # spatial, strides, dilations, pads_begin, pads_end, auto_pad
    ((9,), [1], [1], [0], [0], "explicit"),
    ((10,), [2], [2], [1], [2], "explicit"),
    ((7, 8), [1, 1], [1, 1], [1, 1], [1, 1], "explicit"),
    ((9, 8), [2, 3], [1, 2], [0, 2], [1, 0], "explicit"),
    ((9, 8), [2, 2], [1, 1], [0, 0], [0, 0], "valid"),
    ((9, 8), [2, 3], [1, 1], [0, 0], [0, 0], "same_upper"),
    ((9, 8), [2, 2], [2, 1], [0, 0], [0, 0], "same_lower"),
    ((5, 6, 4), [1, 2, 1], [1, 1, 2], [1, 0, 1], [0, 1, 1], "explicit"),
]


@pytest.mark.parametrize("spatial,strides,dilations,pb,pe,auto_pad", CONV_CASES)
def test_convolution(spatial, strides, dilations, pb, pe, auto_pad, tmp_path):
    w = const(rand(5, 3, *([3] * len(spatial))))
    check(lambda x: ops.convolution(x, w, strides, pb, pe, dilations, auto_pad), rand(2, 3, *spatial),
          tmp_path=tmp_path)


@pytest.mark.parametrize("strides,pads", [([1, 1], [0, 0]), ([2, 2], [0, 0]), ([2, 1], [1, 0])])
def test_convolution_1x1(strides, pads, tmp_path):
    w = const(rand(8, 6, 1, 1))
    check(lambda x: ops.convolution(x, w, strides, pads, pads, [1, 1]), rand(2, 6, 5, 7), tmp_path=tmp_path)


@pytest.mark.parametrize("spatial,strides,dilations,pb,pe,auto_pad", CONV_CASES[1:7])
@pytest.mark.parametrize("groups,cin_g,cout_g", [(2, 3, 2), (6, 1, 1), (4, 1, 2)])
def test_group_convolution(groups, cin_g, cout_g, spatial, strides, dilations, pb, pe, auto_pad, tmp_path):
    w = const(rand(groups, cout_g, cin_g, *([3] * len(spatial))))
    check(lambda x: ops.group_convolution(x, w, strides, pb, pe, dilations, auto_pad),
          rand(1, groups * cin_g, *spatial), tmp_path=tmp_path)


DECONV_CASES = [
    # spatial, kernel, strides, dilations, pads_begin, pads_end, output_padding, auto_pad, output_shape
    ((5,), 3, [2], [1], [0], [0], [0], "explicit", None),
    ((5, 4), 3, [2, 2], [1, 1], [1, 0], [0, 1], [1, 0], "explicit", None),
    ((5, 4), 2, [3, 2], [2, 1], [0, 0], [0, 0], [0, 0], "valid", None),
    ((4, 4), 3, [2, 2], [1, 1], [0, 0], [0, 0], [0, 0], "same_upper", [8, 9]),
    ((4, 4), 3, [2, 2], [1, 1], [0, 0], [0, 0], [0, 0], "same_lower", [7, 8]),
    ((4, 4), 3, [2, 1], [1, 1], [0, 0], [0, 0], [0, 0], "explicit", [9, 6]),
    ((4, 5), 3, [2, 2], [1, 1], [1, 1], [1, 1], [1, 0], "same_upper", None),
    ((3, 4, 3), 2, [1, 2, 2], [1, 1, 1], [0, 1, 0], [1, 0, 0], [0, 1, 1], "explicit", None),
]


@pytest.mark.parametrize("spatial,k,strides,dilations,pb,pe,op_pad,auto_pad,out_shape", DECONV_CASES)
@pytest.mark.parametrize("groups", [1, 2])
def test_convolution_backprop_data(groups, spatial, k, strides, dilations, pb, pe, op_pad, auto_pad, out_shape,
                                   tmp_path):
    cin, cout = 4, 6
    kernel = [k] * len(spatial)
    extra = [const(np.array(out_shape), np.int64)] if out_shape else []

    def build(x):
        if groups == 1:
            w = const(rand(cin, cout, *kernel))
            return ops.convolution_backprop_data(x, w, strides, *extra, pads_begin=pb, pads_end=pe,
                                                 dilations=dilations, auto_pad=auto_pad, output_padding=op_pad)
        w = const(rand(groups, cin // groups, cout // groups, *kernel))
        return ops.group_convolution_backprop_data(x, w, strides, *extra, pads_begin=pb, pads_end=pe,
                                                   dilations=dilations, auto_pad=auto_pad, output_padding=op_pad)

    check(build, rand(2, cin, *spatial), tmp_path=tmp_path)


# ---------------------------------------------------------------------------------------- pooling

POOL_CASES = [
    # spatial, kernel, strides, pads_begin, pads_end, rounding, auto_pad
    ((8,), [3], [2], [1], [0], "floor", "explicit"),
    ((7, 7), [3, 3], [2, 2], [1, 1], [1, 1], "floor", "explicit"),
    ((6, 7), [3, 2], [2, 2], [0, 0], [0, 0], "ceil", "explicit"),
    ((4, 5), [2, 2], [3, 2], [0, 1], [1, 0], "ceil", "explicit"),
    ((7, 6), [2, 3], [2, 3], [0, 0], [0, 0], "floor", "same_upper"),
    ((7, 6), [3, 2], [2, 2], [0, 0], [0, 0], "floor", "same_lower"),
    ((7, 6), [3, 2], [2, 2], [1, 1], [1, 1], "floor", "valid"),
    ((6, 6), [3, 3], [4, 4], [0, 0], [0, 0], "ceil", "valid"),
    ((4, 5, 6), [2, 2, 3], [2, 1, 2], [1, 0, 1], [0, 1, 1], "floor", "explicit"),
]

CEIL_TORCH_CASES = [
    ((4, 5), [2, 2], [2, 2], [0, 1], [1, 0]),
    ((6, 7), [3, 3], [2, 2], [1, 1], [1, 1]),
    ((5, 5), [2, 2], [2, 2], [0, 0], [1, 1]),
]


@pytest.mark.parametrize("spatial,kernel,strides,pb,pe,rounding,auto_pad", POOL_CASES)
def test_max_pool_v1(spatial, kernel, strides, pb, pe, rounding, auto_pad, tmp_path):
    check(lambda x: ov1.max_pool(x, strides, pb, pe, kernel, rounding, auto_pad), rand(2, 3, *spatial),
          tmp_path=tmp_path)


@pytest.mark.parametrize("spatial,kernel,strides,pb,pe,rounding,auto_pad", POOL_CASES)
@pytest.mark.parametrize("axis", [0, 2])
def test_max_pool_v8_indices(axis, spatial, kernel, strides, pb, pe, rounding, auto_pad, tmp_path):
    dil = [2 if i == 0 and len(spatial) > 1 and auto_pad == "explicit" else 1 for i in range(len(spatial))]
    check(lambda x: ov8.max_pool(x, strides, dil, pb, pe, kernel, rounding, auto_pad, "i64", axis),
          distinct(2, 3, *spatial), tmp_path=tmp_path)


@pytest.mark.parametrize("spatial,kernel,strides,pb,pe", CEIL_TORCH_CASES)
@pytest.mark.parametrize("index_type,axis", [("i32", 1), ("i64", -2)])
def test_max_pool_v14_ceil_torch(index_type, axis, spatial, kernel, strides, pb, pe, tmp_path):
    check(lambda x: ov14.max_pool(x, strides, [1, 1], pb, pe, kernel, "ceil_torch", "explicit", index_type, axis),
          distinct(1, 2, *spatial), tmp_path=tmp_path)


@pytest.mark.parametrize("spatial,kernel,strides,pb,pe,rounding,auto_pad", POOL_CASES)
@pytest.mark.parametrize("exclude_pad", [True, False])
def test_avg_pool_v1(exclude_pad, spatial, kernel, strides, pb, pe, rounding, auto_pad, tmp_path):
    check(lambda x: ov1.avg_pool(x, strides, pb, pe, kernel, exclude_pad, rounding, auto_pad), rand(2, 3, *spatial),
          tmp_path=tmp_path)


@pytest.mark.parametrize("spatial,kernel,strides,pb,pe", CEIL_TORCH_CASES)
@pytest.mark.parametrize("exclude_pad", [True, False])
def test_avg_pool_v14_ceil_torch(exclude_pad, spatial, kernel, strides, pb, pe, tmp_path):
    check(lambda x: ov14.avg_pool(x, strides, pb, pe, kernel, exclude_pad, "ceil_torch"), rand(1, 2, *spatial),
          tmp_path=tmp_path)


@pytest.mark.parametrize("rounding", ["floor", "ceil", "ceil_torch"])
@pytest.mark.parametrize("exclude_pad", [True, False])
def test_avg_pool_v16_dilations(exclude_pad, rounding, tmp_path):
    check(lambda x: ov16.avg_pool(x, [2, 1], [1, 0], [1, 1], [2, 3], exclude_pad, rounding, dilations=[2, 1]),
          rand(1, 2, 7, 6), tmp_path=tmp_path)


@pytest.mark.parametrize("spatial,out", [((7, 9), [3, 4]), ((8,), [3]), ((5, 4, 6), [2, 3, 1]), ((6, 6), [1, 1])])
def test_adaptive_pools(spatial, out, tmp_path):
    target = const(np.array(out), np.int64)
    check(lambda x: [ov8.adaptive_avg_pool(x, target), ov8.adaptive_max_pool(x, target, "i32")],
          distinct(2, 3, *spatial), tmp_path=tmp_path)


# ---------------------------------------------------------------------------------------- MatMul / Einsum

MATMUL_CASES = [
    ((3, 4), (4, 5), False, False),
    ((4, 3), (4, 5), True, False),
    ((3, 4), (5, 4), False, True),
    ((4, 3), (5, 4), True, True),
    ((2, 1, 3, 4), (5, 4, 6), False, False),
    ((4,), (2, 4, 3), False, False),
    ((2, 3, 4), (4,), False, False),
    ((4,), (4,), False, False),
    ((4,), (3, 4), True, True),
    ((6, 2, 3), (3, 5), False, False),
]


@pytest.mark.parametrize("a,b,ta,tb", MATMUL_CASES)
def test_matmul(a, b, ta, tb, tmp_path):
    check(lambda x, y: ops.matmul(x, y, ta, tb), rand(*a), rand(*b), tmp_path=tmp_path)


def test_matmul_constant_weights(tmp_path):
    w = const(rand(16, 8))
    check(lambda x: ops.matmul(x, w, False, True), rand(2, 3, 8), tmp_path=tmp_path)


@pytest.mark.parametrize("equation,shapes", [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]),
    ("ii->i", [(4, 4)]),
    ("abc->cb", [(2, 3, 4)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
    ("a...,a->...", [(3, 2, 4), (3,)]),
])
def test_einsum(equation, shapes, tmp_path):
    check(lambda *xs: ops.einsum(list(xs), equation), *[rand(*s) for s in shapes], tmp_path=tmp_path)


# ---------------------------------------------------------------------------------------- softmax & norms

@pytest.mark.parametrize("axis", [0, 1, 3])
def test_softmax_v1(axis, tmp_path):
    check(lambda x: ov1.softmax(x, axis), rand(2, 3, 4, 5) * 5, tmp_path=tmp_path)


@pytest.mark.parametrize("axis", [-1, -3, 2])
def test_softmax_v8_and_log_softmax(axis, tmp_path):
    check(lambda x: [ov8.softmax(x, axis), ov5.log_softmax(x, axis)], rand(2, 3, 4, 5) * 5, tmp_path=tmp_path)


@pytest.mark.parametrize("across,normalize", [(True, True), (False, True), (False, False)])
def test_mvn_v1(across, normalize, tmp_path):
    check(lambda x: ov2.mvn(x, across, normalize, 1e-3), rand(2, 3, 4, 5) + 1, tmp_path=tmp_path)


@pytest.mark.parametrize("axes", [[2, 3], [1, 2, 3], [-1], [0, 2]])
@pytest.mark.parametrize("eps_mode", ["inside_sqrt", "outside_sqrt"])
@pytest.mark.parametrize("normalize", [True, False])
def test_mvn_v6(axes, eps_mode, normalize, tmp_path):
    check(lambda x: ops.mvn(x, const(axes, np.int64), normalize, 1e-2, eps_mode), rand(2, 3, 4, 5) + 1,
          tmp_path=tmp_path)


@pytest.mark.parametrize("axes", [[1], [2, 3], [-1], [0, 1, 2, 3]])
@pytest.mark.parametrize("eps_mode,eps", [("add", 1e-3), ("max", 1e-3), ("max", 50.0)])
def test_normalize_l2(axes, eps_mode, eps, tmp_path):
    check(lambda x: ops.normalize_l2(x, const(axes, np.int64), eps, eps_mode), rand(2, 3, 4, 5), tmp_path=tmp_path)


@pytest.mark.parametrize("version", [1, 5])
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4, 5), (1, 3, 2, 2, 2)])
def test_batch_norm_inference(version, shape, tmp_path):
    c = shape[1]
    gamma, beta, mean = const(rand(c)), const(rand(c)), const(rand(c))
    var = const(np.abs(rand(c)) + 0.1)
    opset = ov1 if version == 1 else ov5
    check(lambda x: opset.batch_norm_inference(x, gamma, beta, mean, var, 1e-3), rand(*shape), tmp_path=tmp_path)


@pytest.mark.parametrize("axes,size", [([1], 5), ([1], 2), ([2, 3], 3), ([2, 3], 4)])
def test_lrn(axes, size, tmp_path):
    check(lambda x: ops.lrn(x, const(axes, np.int64), 1e-1, 0.75, 2.0, size), rand(2, 6, 5, 4), tmp_path=tmp_path)


@pytest.mark.parametrize("shape,groups", [((2, 6, 4, 5), 3), ((1, 4, 7), 4), ((2, 6, 2, 3, 2), 1)])
def test_group_normalization(shape, groups, tmp_path):
    c = shape[1]
    check(lambda x: ov16.group_normalization(x, const(rand(c)), const(rand(c)), groups, 1e-4), rand(*shape) + 1,
          tmp_path=tmp_path)


@pytest.mark.parametrize("mask", [None, "float", "bool", "causal"])
def test_scaled_dot_product_attention(mask, tmp_path):
    q, k, v = rand(2, 3, 4, 8), rand(2, 3, 6, 8), rand(2, 3, 6, 5)
    arrays = [q, k, v]
    if mask == "float":
        arrays.append(rand(1, 3, 4, 6))
    elif mask == "bool":
        m = RNG.random((2, 1, 4, 6)) > 0.3
        m[..., 0] = True
        arrays.append(m)

    def build(*p):
        if mask == "causal":
            return ops.scaled_dot_product_attention(*p, causal=True)
        return ops.scaled_dot_product_attention(*p, scale=const(0.3), causal=False) if mask else \
            ops.scaled_dot_product_attention(*p, causal=False)

    check(build, *arrays, tmp_path=tmp_path)


# ---------------------------------------------------------------------------------------- Interpolate

TRANSFORMS = ["half_pixel", "pytorch_half_pixel", "asymmetric", "tf_half_pixel_for_nn", "align_corners"]
NEAREST_MODES = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple"]
RESIZES = [((5, 6), (10, 9)), ((8, 9), (3, 5)), ((4, 7), (1, 7))]


def _interp11(x, in_hw, out_hw, mode, calc, **kw):
    if calc == "sizes":
        target = const(np.array(out_hw), np.int64)
    else:
        target = const(np.array(out_hw, dtype=np.float32) / np.array(in_hw, dtype=np.float32))
    return ov11.interpolate(x, target, mode, calc, axes=const([2, 3], np.int64), **kw)


@pytest.mark.parametrize("resize", RESIZES)
@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("calc", ["sizes", "scales"])
def test_interpolate_nearest(resize, transform, calc, tmp_path):
    """One model per case, one output per nearest_mode."""
    (h, w), out = resize
    check(lambda x: [_interp11(x, (h, w), out, "nearest", calc, coordinate_transformation_mode=transform,
                               nearest_mode=m) for m in NEAREST_MODES], rand(1, 2, h, w), tmp_path=tmp_path)


@pytest.mark.parametrize("resize", RESIZES)
@pytest.mark.parametrize("mode", ["linear", "linear_onnx", "cubic"])
@pytest.mark.parametrize("calc", ["sizes", "scales"])
def test_interpolate_v11_modes(resize, mode, calc, tmp_path):
    """One model per case, one output per coordinate_transformation_mode."""
    (h, w), out = resize
    check(lambda x: [_interp11(x, (h, w), out, mode, calc, coordinate_transformation_mode=t) for t in TRANSFORMS],
          rand(2, 3, h, w), tmp_path=tmp_path)


@pytest.mark.parametrize("mode", ["linear", "linear_onnx", "cubic", "nearest"])
def test_interpolate_v11_pads_cube_coeff(mode, tmp_path):
    check(lambda x: _interp11(x, (10, 10), (4, 13), mode, "sizes", cube_coeff=-0.5,
                              pads_begin=[0, 0, 1, 0], pads_end=[0, 0, 0, 2]), rand(1, 2, 9, 10), tmp_path=tmp_path)


@pytest.mark.parametrize("mode", ["bilinear_pillow", "bicubic_pillow"])
@pytest.mark.parametrize("resize", RESIZES + [((7, 9), (7, 4))])
def test_interpolate_v11_pillow(mode, resize, tmp_path):
    (h, w), out = resize
    check(lambda x: _interp11(x, (h, w), out, mode, "sizes", cube_coeff=-0.5), rand(1, 2, h, w), tmp_path=tmp_path)


@pytest.mark.parametrize("out,axes", [((2, 4, 3), [2, 3, 4]), ((4, 3), [3, 4])])
def test_interpolate_v11_linear_antialias(out, axes, tmp_path):
    # rank 5: OpenVINO's CPU plugin ignores antialias for lower ranks (it follows the spec for 5-D)
    check(lambda x: ov11.interpolate(x, const(np.array(out), np.int64), "linear", "sizes", antialias=True,
                                     axes=const(axes, np.int64)), rand(1, 2, 4, 9, 10), tmp_path=tmp_path)


@pytest.mark.parametrize("shape,axes,out", [
    ((2, 3, 9), [2], [14]),
    ((4, 9), [0, 1], [6, 5]),
    ((1, 2, 3, 4, 5), [2, 3, 4], [5, 3, 7]),
    ((1, 2, 6, 5), [1, 2], [4, 3]),
])
def test_interpolate_ranks(shape, axes, out, tmp_path):
    """Other ranks and axes; one output per mode."""
    check(lambda x: [ov11.interpolate(x, const(out, np.int64), mode, "sizes", axes=const(axes, np.int64))
                     for mode in ("nearest", "linear", "linear_onnx", "cubic")], rand(*shape), tmp_path=tmp_path)


@pytest.mark.parametrize("mode", ["nearest", "linear", "linear_onnx", "cubic"])
@pytest.mark.parametrize("calc,scales", [("sizes", [1.0, 1.0]), ("scales", [2.0, 0.5]), ("scales", [1.7, 2.5])])
def test_interpolate_v4(mode, calc, scales, tmp_path):
    h, w = 6, 8
    sizes = const(np.floor(np.array([h, w]) * np.array(scales) + 1e-6).astype(np.int64) + (calc == "sizes"), np.int64)
    transform = "asymmetric" if mode == "nearest" else "half_pixel"
    check(lambda x: ov10.interpolate(x, sizes, const(scales), mode, calc, axes=const([2, 3], np.int64),
                                     coordinate_transformation_mode=transform), rand(1, 3, h, w), tmp_path=tmp_path)


def test_interpolate_v4_all_axes_no_axes_input(tmp_path):
    check(lambda x: ov10.interpolate(x, const([1, 3, 9, 5], np.int64), const([1, 1, 1.5, 0.7]), "linear_onnx",
                                     "sizes"), rand(1, 3, 6, 7), tmp_path=tmp_path)


@pytest.mark.parametrize("mode,axes,align,shape,out", [
    ("nearest", [2, 3], False, (1, 2, 5, 6), [10, 3]),
    ("linear", [2, 3], False, (1, 2, 5, 6), [7, 9]),
    ("linear", [2, 3], True, (1, 2, 5, 6), [7, 9]),
    ("cubic", [2, 3], False, (1, 2, 5, 6), [8, 4]),
    ("linear", [1, 2], False, (2, 5, 6), [9, 4]),
])
def test_interpolate_v1(mode, axes, align, shape, out, tmp_path):
    attrs = {"axes": axes, "mode": mode, "align_corners": align}
    check(lambda x: ov1.interpolate(x, const(out, np.int64), attrs), rand(*shape), tmp_path=tmp_path)


# ---------------------------------------------------------------------------------------- TopK

@pytest.mark.parametrize("version", [1, 3, 11])
@pytest.mark.parametrize("axis,k", [(1, 3), (-1, 1), (0, 2), (2, 7)])
def test_topk(version, axis, k, tmp_path):
    """One model per case, outputs for every mode/sort combination."""
    kc = const(k, np.int64)

    def one(x, mode, sort):
        if version == 1:
            return ov1.topk(x, kc, axis, mode, sort)
        if version == 3:
            return ov3.topk(x, kc, axis, mode, sort, "i64")
        return ov11.topk(x, kc, axis, mode, sort, "i32", stable=True)

    check(lambda x: [one(x, m, s) for m in ("max", "min") for s in ("value", "index")], distinct(2, 5, 7),
          tmp_path=tmp_path)


def test_topk_stable_ties(tmp_path):
    x = np.array([[3, 1, 3, 2, 1, 3], [0, 0, 0, 1, 1, 1]], dtype=np.float32)
    check(lambda p: ov11.topk(p, const(4, np.int64), 1, "max", "value", "i64", stable=True), x, tmp_path=tmp_path)
    check(lambda p: ov11.topk(p, const(4, np.int64), 1, "min", "value", "i64", stable=True), x, tmp_path=tmp_path)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_topk_integer_input(dtype, tmp_path):
    x = (RNG.permutation(30) - 15).astype(dtype).reshape(5, 6)
    if dtype == np.int32:  # (OpenVINO's CPU plugin runs i64 TopK in i32)
        x[0, :3] = np.iinfo(dtype).min
        x[1, :2] = np.iinfo(dtype).max
    check(lambda p: [ov11.topk(p, const(3, np.int64), 1, m, "value", "i32") for m in ("max", "min")], x,
          tmp_path=tmp_path)


@pytest.mark.parametrize("mode", ["nearest", "linear_onnx", "cubic"])
def test_interpolate_uint8(mode, tmp_path):
    x = np.random.default_rng(5).integers(0, 256, size=(1, 3, 6, 7)).astype(np.uint8)
    check(lambda p: _interp11(p, (6, 7), (9, 4), mode, "sizes"), x, tmp_path=tmp_path)


# ---------------------------------------------------------------------------------------- reductions

REDUCTIONS = ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_l1", "reduce_l2"]


@pytest.mark.parametrize("axes", [[1], [-1, 0], [0, 1, 2], 2])
@pytest.mark.parametrize("keep_dims", [True, False])
def test_reductions(axes, keep_dims, tmp_path):
    """One model per case, one output per reduction."""
    x = rand(2, 3, 4) * 0.5 + 1.0
    check(lambda p: [getattr(ops, name)(p, const(axes, np.int64), keep_dims) for name in REDUCTIONS], x,
          tmp_path=tmp_path)


@pytest.mark.parametrize("name", ["reduce_sum", "reduce_max", "reduce_mean", "reduce_prod"])
def test_reductions_integer(name, tmp_path):
    x = RNG.integers(-5, 6, size=(3, 4)).astype(np.int32)
    check(lambda p: getattr(ops, name)(p, const([1], np.int64), False), x, tmp_path=tmp_path)


@pytest.mark.parametrize("name", ["reduce_logical_and", "reduce_logical_or"])
@pytest.mark.parametrize("axes,keep_dims", [([1], False), ([0, 2], True), ([-1], False)])
def test_logical_reductions(name, axes, keep_dims, tmp_path):
    x = RNG.random((3, 4, 5)) > 0.2
    check(lambda p: getattr(ops, name)(p, const(axes, np.int64), keep_dims), x, tmp_path=tmp_path)


@pytest.mark.parametrize("keep_dims", [True, False])
def test_reduction_empty_axes_is_identity(keep_dims):
    ctx = OpContext("r", "ReduceSum", 1, {"keep_dims": str(keep_dims).lower()}, [(2, 3), (0,)],
                    [np.float32, np.int64], [None, np.zeros(0, np.int64)])
    impl = get_op("ReduceSum").impl
    assert impl.infer(ctx) == [((2, 3), np.float32)]
    x = rand(2, 3)
    np.testing.assert_array_equal(impl.compute(ctx, x, None), x)


# ---------------------------------------------------------------------------------------- shape-inference errors

def _infer(type_name, version, attrs, shapes, dtypes=None, values=None):
    ctx = OpContext("layer", type_name, version, attrs, shapes, dtypes or [np.float32] * len(shapes), values)
    return get_op(type_name).impl.infer(ctx)


CONV_ATTRS = {"strides": "1,1", "dilations": "1,1", "pads_begin": "0,0", "pads_end": "0,0", "auto_pad": "explicit"}


@pytest.mark.parametrize("type_name,version,attrs,shapes,dtypes,values,message", [
    ("Convolution", 1, CONV_ATTRS, [(1, 3, 8, 8), (4, 2, 3, 3)], None, None, "channels"),
    ("Convolution", 1, CONV_ATTRS, [(3, 8), (4, 3, 3)], None, None, "rank"),
    ("Convolution", 1, CONV_ATTRS, [(1, 3, 2, 2), (4, 3, 3, 3)], None, None, "larger"),
    ("GroupConvolution", 1, CONV_ATTRS, [(1, 6, 8, 8), (2, 4, 2, 3, 3)], None, None, "channels"),
    ("MatMul", 1, {"transpose_a": "false", "transpose_b": "false"}, [(2, 3), (4, 5)], None, None, "inner"),
    ("MatMul", 1, {}, [(2, 2, 3), (3, 3, 5)], None, None, "broadcast"),
    ("SoftMax", 1, {"axis": "-1"}, [(2, 3)], None, None, "axis"),
    ("ReduceSum", 1, {"keep_dims": "false"}, [(2, 3), (1,)], [np.float32, np.int64], [None, None], "constant"),
    ("ReduceSum", 1, {"keep_dims": "false"}, [(2, 3), (1,)], [np.float32, np.int64],
     [None, np.array([2])], "out of range"),
    ("ReduceLogicalOr", 1, {"keep_dims": "false"}, [(2, 3), (1,)], [np.float32, np.int64],
     [None, np.array([1])], "boolean"),
    ("TopK", 11, {"axis": "3", "mode": "max", "sort": "value"}, [(2, 3), ()], [np.float32, np.int64],
     [None, np.array(1)], "axis"),
    ("TopK", 11, {"axis": "1", "mode": "max", "sort": "value"}, [(2, 3), ()], [np.float32, np.int64],
     [None, np.array(4)], "exceeds"),
    ("MaxPool", 1, {"kernel": "3", "strides": "1,1"}, [(1, 2, 5, 5)], None, None, "kernel"),
    ("Interpolate", 11, {"mode": "bogus", "shape_calculation_mode": "sizes"}, [(1, 2, 4, 4), (2,), (2,)],
     [np.float32, np.int64, np.int64], [None, np.array([8, 8]), np.array([2, 3])], "mode"),
])
def test_infer_errors(type_name, version, attrs, shapes, dtypes, values, message):
    with pytest.raises(ShapeInferenceError, match=message):
        _infer(type_name, version, attrs, shapes, dtypes, values)


def test_infer_shapes_and_dtypes():
    specs = _infer("TopK", 3, {"axis": "1", "mode": "max", "sort": "value", "index_element_type": "i64"},
                   [(2, 9), ()], [np.float16, np.int32], [None, np.array(4)])
    assert specs == [((2, 4), np.float16), ((2, 4), np.int64)]
    specs = _infer("MaxPool", 8, {"kernel": "2,2", "strides": "2,2", "index_element_type": "i32",
                                  "rounding_type": "ceil"}, [(1, 2, 5, 5)])
    assert specs == [((1, 2, 3, 3), np.float32), ((1, 2, 3, 3), np.int32)]
