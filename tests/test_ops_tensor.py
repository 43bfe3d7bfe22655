"""Element-wise and data-movement ops: single-op models compared against OpenVINO's f32 CPU inference,
plus shape-inference error cases checked directly on the op classes."""

import numpy as np
import openvino as ov
import openvino.opset1 as ov1
import openvino.opset3 as ov3
import openvino.opset5 as ov5
import openvino.opset7 as ov7
import openvino.opset8 as ov8
import openvino.opset12 as ov12
import openvino.opset13 as ops
import openvino.opset15 as ov15
import pytest

from helpers import DEVICES, check_against_openvino, ie_infer, save_ir
from ie_core.errors import ShapeInferenceError
from ie_core.ops import get_op
from ie_core.ops.elementwise import erf
from ie_core.ops.registry import OpContext

RNG = np.random.default_rng(1234)
I64 = np.int64


def rand(*shape, low=-3.0, high=3.0, dtype=np.float32):
    return RNG.uniform(low, high, size=shape).astype(dtype)


def ints(*shape, low=-5, high=6, dtype=np.int32):
    return RNG.integers(low, high, size=shape).astype(dtype)


def const(value, dtype=np.int64):
    return ops.constant(np.asarray(value, dtype=dtype))


class Builder:
    """Collects Parameters and their input data while a test case builds its graph."""

    def __init__(self):
        self.params, self.inputs = [], {}

    def __call__(self, data):
        data = np.asarray(data)
        name = f"in{len(self.params)}"
        node = ops.parameter(list(data.shape), data.dtype, name=name)
        self.params.append(node)
        self.inputs[name] = data
        return node


def run_case(build, tmp_path):
    b = Builder()
    outs = build(b)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    outputs = [o for n in outs for o in (n.outputs() if hasattr(n, "outputs") else [n])]
    check_against_openvino(ov.Model(outputs, b.params), b.inputs, tmp_path)


# ---------------------------------------------------------------------------
# Binary element-wise ops

BINARY = {
    "add": ops.add, "subtract": ops.subtract, "multiply": ops.multiply, "divide": ops.divide,
    "maximum": ops.maximum, "minimum": ops.minimum, "squared_difference": ops.squared_difference,
    "floor_mod": ops.floor_mod, "mod": ops.mod, "equal": ops.equal, "not_equal": ops.not_equal,
    "less": ops.less, "less_equal": ops.less_equal, "greater": ops.greater, "greater_equal": ops.greater_equal,
}
SHAPE_PAIRS = [((2, 3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3))]


@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_float(name, shapes, tmp_path):
    def build(b):
        a = rand(*shapes[0])
        c = rand(*shapes[1])
        if name in ("divide", "floor_mod", "mod"):
            c = np.where(np.abs(c) < 0.5, 1.5, c).astype(np.float32)
        if name.endswith("equal"):
            a = np.round(a)
            c = np.round(c)
        return BINARY[name](b(a), b(c))

    run_case(build, tmp_path)


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "divide", "maximum", "floor_mod", "mod", "less"])
def test_binary_int(name, tmp_path):
    # Positive operands for division: OpenVINO's CPU plugin truncates negative integer
    # quotients while the spec (m_pythondiv) floors; ie_core follows the spec.
    positive = name in ("divide",)
    a = ints(3, 4, low=0 if positive else -9, high=20)
    c = ints(4, low=1, high=6) if name in ("divide", "floor_mod", "mod") else ints(4)
    run_case(lambda b: BINARY[name](b(a), b(c)), tmp_path)


def test_power(tmp_path):
    run_case(lambda b: ops.power(b(rand(2, 3, low=0.1, high=3)), b(rand(3, low=-2, high=2))), tmp_path)


def test_binary_broadcast_none_and_pdpd(tmp_path):
    run_case(lambda b: ops.add(b(rand(2, 3)), b(rand(2, 3)), auto_broadcast="none"), tmp_path)
    # OpenVINO's Python API gives pdpd broadcasting axis 0.
    run_case(lambda b: ops.multiply(b(rand(2, 3, 4, 5)), b(rand(2, 3)), auto_broadcast="pdpd"), tmp_path)
    run_case(lambda b: ops.subtract(b(rand(2, 3, 4, 5)), b(rand(2, 1, 4, 1)), auto_broadcast="pdpd"), tmp_path)


@pytest.mark.parametrize("name", ["logical_and", "logical_or", "logical_xor"])
def test_logical(name, tmp_path):
    a, c = RNG.random((2, 3)) > 0.5, RNG.random((3,)) > 0.5
    run_case(lambda b: getattr(ops, name)(b(a), b(c)), tmp_path)


def test_logical_not_and_select(tmp_path):
    cond = RNG.random((2, 1, 4)) > 0.5
    run_case(lambda b: ops.logical_not(b(cond)), tmp_path)
    run_case(lambda b: ops.select(b(cond), b(rand(3, 1)), b(rand(2, 3, 4))), tmp_path)


# ---------------------------------------------------------------------------
# Unary element-wise ops

UNARY = {
    "relu": (ops.relu, -3, 3), "sigmoid": (ops.sigmoid, -8, 8), "tanh": (ops.tanh, -4, 4),
    "exp": (ops.exp, -5, 5), "log": (ops.log, 0.01, 10), "sqrt": (ops.sqrt, 0, 10),
    "erf": (ops.erf, -4, 4), "abs": (ops.abs, -3, 3), "negative": (ops.negative, -3, 3),
    "floor": (ops.floor, -3, 3), "ceiling": (ops.ceiling, -3, 3), "sign": (ops.sign, -3, 3),
    "softplus": (ops.softplus, -30, 30), "mish": (ops.mish, -6, 6), "softsign": (ops.softsign, -5, 5),
    "hswish": (ops.hswish, -5, 5), "hsigmoid": (ops.hsigmoid, -5, 5),
    "sin": (ops.sin, -4, 4), "cos": (ops.cos, -4, 4), "tan": (ops.tan, -1.2, 1.2), "atan": (ops.atan, -5, 5),
    "asin": (ops.asin, -0.99, 0.99), "acos": (ops.acos, -0.99, 0.99), "sinh": (ops.sinh, -3, 3),
    "cosh": (ops.cosh, -3, 3), "asinh": (ops.asinh, -5, 5), "acosh": (ops.acosh, 1, 5),
    "atanh": (ops.atanh, -0.95, 0.95),
    "gelu_v2": (ov3.gelu, -5, 5),
    "gelu_erf": (lambda x: ops.gelu(x, "erf"), -5, 5),
    "gelu_tanh": (lambda x: ops.gelu(x, "tanh"), -5, 5),
    "swish": (ops.swish, -6, 6),
    "swish_beta": (lambda x: ops.swish(x, const(0.7, np.float32)), -6, 6),
    "clamp": (lambda x: ops.clamp(x, -1.5, 2.0), -3, 3),
    "elu": (lambda x: ops.elu(x, 0.8), -3, 3),
    "selu": (lambda x: ops.selu(x, const([1.67], np.float32), const([1.05], np.float32)), -3, 3),
    "hard_sigmoid": (lambda x: ops.hard_sigmoid(x, const(0.2, np.float32), const(0.5, np.float32)), -5, 5),
    "round_even": (lambda x: ops.round(x, "half_to_even"), -3, 3),
    "round_away": (lambda x: ops.round(x, "half_away_from_zero"), -3, 3),
}


@pytest.mark.parametrize("name", list(UNARY))
def test_unary(name, tmp_path):
    fn, low, high = UNARY[name]
    x = rand(2, 3, 8, low=low, high=high)
    if name.startswith("round"):
        x[0, 0, :6] = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5]
    run_case(lambda b: fn(b(x)), tmp_path)


def test_erf_accuracy():
    import math

    xs = np.concatenate([np.linspace(-6, 6, 4001), np.logspace(-8, 1, 500)])
    expected = np.array([math.erf(v) for v in xs])
    assert np.max(np.abs(erf(xs) - expected)) < 1e-8


@pytest.mark.parametrize("slope_shape", [(3,), (1,), (4,), (3, 1, 1)], ids=str)
def test_prelu(slope_shape, tmp_path):
    run_case(lambda b: ops.prelu(b(rand(2, 3, 4, 4)), const(rand(*slope_shape), np.float32)), tmp_path)


@pytest.mark.parametrize("name", ["relu", "abs", "negative", "clamp", "sign"])
def test_unary_int(name, tmp_path):
    fn = {"relu": ops.relu, "abs": ops.abs, "negative": ops.negative, "sign": ops.sign,
          "clamp": lambda x: ops.clamp(x, -1.5, 2.5)}[name]
    run_case(lambda b: fn(b(ints(3, 4))), tmp_path)


@pytest.mark.parametrize("name", ["bitwise_and", "bitwise_or", "bitwise_xor"])
def test_bitwise(name, tmp_path):
    run_case(lambda b: getattr(ops, name)(b(ints(3, 4, low=-20, high=20)), b(ints(4, low=0, high=30))), tmp_path)
    run_case(lambda b: getattr(ops, name)(b(RNG.random((2, 3)) > 0.5), b(RNG.random((3,)) > 0.5)), tmp_path)


def test_bitwise_not_and_finiteness(tmp_path):
    run_case(lambda b: ops.bitwise_not(b(ints(3, 4, low=-20, high=20))), tmp_path)
    x = np.array([1.0, np.nan, np.inf, -np.inf, 0.0, -2.0], np.float32)
    run_case(lambda b: [ops.is_nan(b(x)), ops.is_finite(b(x)), ops.is_inf(b(x)),
                        ops.is_inf(b(x), {"detect_negative": False})], tmp_path)


# ---------------------------------------------------------------------------
# Convert

@pytest.mark.parametrize("dst", ["i32", "i64", "i8", "u8", "boolean", "f16", "f32"])
def test_convert_from_float(dst, tmp_path):
    x = np.array([-300.7, -129.5, -2.5, -1.5, -0.5, 0.0, 0.5, 1.7, 2.5, 127.5, 128.5, 255.5, 256.7, 300.2],
                 np.float32)
    run_case(lambda b: ops.convert(b(x), dst), tmp_path)


@pytest.mark.parametrize("dst", ["f32", "i8", "u8", "i16", "boolean"])
def test_convert_from_int(dst, tmp_path):
    x = np.array([-300, -129, -1, 0, 127, 128, 255, 256, 70000], np.int32)
    run_case(lambda b: ops.convert(b(x), dst), tmp_path)


def test_convert_bf16_against_the_spec(tmp_path):
    """Convert to bf16 rounds to nearest, ties to even (opset spec). OpenVINO's CPU plugin
    does that only with native bf16 (on AVX2 it gave 801.69 for 800), so the oracle here is
    torch's bfloat16 conversion, not OpenVINO on whatever CPU the suite runs on."""
    import torch

    x = np.concatenate([rand(4, 5).ravel() * 1000, np.float32([1 + 2**-8, 1 + 3 * 2**-8, -(1 + 2**-8), 0, 1e-40])])
    x = x.astype(np.float32).reshape(5, 5)
    expected = torch.from_numpy(x).to(torch.bfloat16).to(torch.float32).numpy()
    b = Builder()
    model = ov.Model([ops.convert(ops.convert(b(x), "bf16"), "f32")], b.params)
    xml, _ = save_ir(model, tmp_path)
    for device in DEVICES:
        (actual,) = ie_infer(xml, b.inputs, device)
        np.testing.assert_array_equal(actual, expected, err_msg=device)


def test_convert_like(tmp_path):
    x = rand(4, 5) * 1000
    run_case(lambda b: ops.convert_like(b(x), b(ints(2))), tmp_path)
    run_case(lambda b: ops.convert(b(RNG.random((2, 3)) > 0.5), "f32"), tmp_path)


# ---------------------------------------------------------------------------
# Concat / split / reshape family

SHAPE_CASES = {
    "concat": lambda b: ops.concat([b(rand(2, 3)), b(rand(2, 1)), b(rand(2, 4))], axis=-1),
    "concat_axis0": lambda b: ops.concat([b(rand(1, 3)), b(rand(2, 3))], axis=0),
    "split": lambda b: ops.split(b(rand(2, 6, 2)), const(1), 3),
    "split_neg_axis": lambda b: ops.split(b(rand(4, 2)), const(-2), 2),
    "variadic_split": lambda b: ops.variadic_split(b(rand(2, 7)), const(1), const([2, -1, 0, 3])),
    "reshape": lambda b: ops.reshape(b(rand(2, 3, 4)), const([4, -1]), False),
    "reshape_special_zero": lambda b: ops.reshape(b(rand(2, 3, 4)), const([0, -1, 2], np.int32), True),
    "reshape_zero_copy": lambda b: ops.reshape(b(rand(2, 3, 4)), const([0, 0, 4]), True),
    "squeeze_all": lambda b: ov1.squeeze(b(rand(1, 3, 1, 2)), const([], np.int64)),
    "squeeze_axes": lambda b: ov1.squeeze(b(rand(1, 3, 1, 2)), const([-2])),
    "squeeze_v15_noaxes": lambda b: ov15.squeeze(b(rand(1, 3, 1, 2))),
    "squeeze_v15_skip": lambda b: ov15.squeeze(b(rand(1, 3, 1, 2)), const([0, 1]), allow_axis_skip=True),
    "unsqueeze": lambda b: ops.unsqueeze(b(rand(3, 2)), const([0, -1])),
    "transpose": lambda b: ops.transpose(b(rand(2, 3, 4)), const([2, 0, 1])),
    "transpose_empty": lambda b: ops.transpose(b(rand(2, 3, 4)), const([], np.int64)),
    "shape_of_v1": lambda b: ov1.shape_of(b(rand(2, 3, 4))),
    "shape_of_v3_i32": lambda b: ov3.shape_of(b(rand(2, 3, 4)), "i32"),
    "tile": lambda b: ops.tile(b(rand(2, 3)), const([2, 1, 3])),
    "tile_short": lambda b: ops.tile(b(rand(2, 3, 2)), const([2])),
    "depth_to_space_bf": lambda b: ops.depth_to_space(b(rand(1, 8, 2, 3)), "blocks_first", 2),
    "depth_to_space_df": lambda b: ops.depth_to_space(b(rand(2, 8, 2, 3)), "depth_first", 2),
    "depth_to_space_3d": lambda b: ops.depth_to_space(b(rand(1, 16, 2, 1, 2)), "blocks_first", 2),
    "space_to_depth_bf": lambda b: ops.space_to_depth(b(rand(1, 2, 4, 6)), "blocks_first", 2),
    "space_to_depth_df": lambda b: ops.space_to_depth(b(rand(2, 3, 4, 2)), "depth_first", 2),
    "shuffle_channels": lambda b: ops.shuffle_channels(b(rand(2, 6, 2, 2)), 1, 3),
    "shuffle_channels_neg_axis": lambda b: ops.shuffle_channels(b(rand(2, 3, 8)), -1, 2),
    "roll": lambda b: ops.roll(b(rand(3, 4, 5)), const([2, -1]), const([0, -1])),
    "roll_wrap": lambda b: ops.roll(b(rand(3, 4)), const([7, -5]), const([0, 1])),
}


@pytest.mark.parametrize("name", list(SHAPE_CASES))
def test_shape_ops(name, tmp_path):
    run_case(SHAPE_CASES[name], tmp_path)


# ---------------------------------------------------------------------------
# Slicing

STRIDED = [
    # begin, end, stride, begin_mask, end_mask, new_axis, shrink, ellipsis
    ([1, 0, 1], [2, 3, 4], [1, 1, 2], [0, 0, 0], [0, 0, 0], [], [], []),
    ([1, 1], [2, 3], [1, 1], [1, 0], [0, 1], [], [], []),
    ([-1, -1, -1], [-3, -4, -6], [-1, -1, -2], [0, 0, 0], [0, 0, 0], [], [], []),
    ([0, 1], [0, 3], [1, 1], [1, 0], [1, 0], [1, 0], [], []),
    ([1, 2], [2, 3], [1, 1], [0, 0], [0, 0], [], [1, 1], []),
    ([0, 1], [0, 3], [1, 1], [0, 0], [0, 0], [], [], [1, 0]),
    ([0, 2, 0], [0, 3, 0], [1, 1, 1], [0, 0, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0], [1, 0, 0]),
    ([1], [100], [1], [0], [0], [], [], []),
    ([0, -1], [0, 0], [1, -1], [1, 0], [1, 1], [], [], []),
]


@pytest.mark.parametrize("case", STRIDED, ids=[f"ss{i}" for i in range(len(STRIDED))])
def test_strided_slice(case, tmp_path):
    begin, end, stride, bm, em, nm, sm, elm = case
    run_case(lambda b: ops.strided_slice(b(rand(3, 4, 5)), const(begin), const(end), const(stride),
                                         bm, em, nm, sm, elm), tmp_path)


def test_strided_slice_shrink_and_new_axis():
    # OpenVINO's CPU plugin returns garbage for shrink_axis_mask combined with new_axis_mask,
    # so this case is checked against numpy indexing.
    x = rand(3, 4, 5)
    attrs = {"begin_mask": "0,0,0", "end_mask": "0,0,0", "new_axis_mask": "0,1,0", "shrink_axis_mask": "1,0,0"}
    values = [None, np.array([-2, 0, 1]), np.array([0, 0, -1]), np.array([1, 1, 2])]
    ctx = OpContext("ss", "StridedSlice", 1, attrs, [x.shape, (3,), (3,), (3,)], [np.float32] + [I64] * 3, values)
    op_impl = get_op("StridedSlice").impl
    assert op_impl.infer(ctx) == [((1, 1, 5), np.float32)]
    np.testing.assert_array_equal(op_impl.compute(ctx, x, *values[1:]), x[1, None, 1:-1:2])


SLICES = [
    ([1], [3], [1], None),
    ([0, 4], [2, -6], [1, -2], [0, 2]),
    ([-1], [-100], [-1], [-2]),
    ([-2, 1], [100, 3], [1, 1], [2, 1]),
]


@pytest.mark.parametrize("case", SLICES, ids=[f"slice{i}" for i in range(len(SLICES))])
def test_slice(case, tmp_path):
    start, stop, step, axes = case
    args = [const(start), const(stop), const(step)] + ([const(axes)] if axes is not None else [])
    run_case(lambda b: ov8.slice(b(rand(3, 4, 5)), *args), tmp_path)


# ---------------------------------------------------------------------------
# Gather family

GATHERS = {
    "v1": lambda b: ov1.gather(b(rand(4, 5, 3)), const([[0, 3], [2, 2]]), const(1)),
    "v1_scalar_index": lambda b: ov1.gather(b(rand(4, 5)), const(2), const(0)),
    "v7_batch": lambda b: ov7.gather(b(rand(2, 3, 5, 2)), const([[1, 4, 0], [2, 2, 3]]), const(2), 1),
    "v7_neg_batch": lambda b: ov7.gather(b(rand(2, 3, 4)), const([[1, 0], [3, 2]]), const(-1), -1),
    "v8_negative": lambda b: ov8.gather(b(rand(4, 5)), const([-1, -5, 2]), const(1)),
    "v8_out_of_range": lambda b: ov8.gather(b(rand(5, 2)), const([[-1, 7], [0, -6]]), const(0)),
    "v8_batch_oob": lambda b: ov8.gather(b(rand(2, 4, 3)), const([[0, 9], [-1, 1]]), const(1), 1),
    "v8_indices_param": lambda b: ov8.gather(b(rand(4, 5)), b(np.array([3, 0, -2], np.int32)), const(0)),
    "elements_axis1": lambda b: ops.gather_elements(b(rand(3, 4)), const([[0, 3, 1], [2, 2, 0], [1, 1, 1]]), 1),
    "elements_axis0_neg": lambda b: ops.gather_elements(b(rand(3, 2)), const([[0, -1], [2, 1]]), 0),
    "nd_v5": lambda b: ov5.gather_nd(b(rand(3, 4, 2)), const([[0, 1], [2, 3]])),
    "nd_v5_batch": lambda b: ov5.gather_nd(b(rand(2, 3, 4, 2)), const([[[1, 2], [0, 0]], [[2, 3], [1, 1]]]), 1),
    "nd_v8_batch": lambda b: ov8.gather_nd(b(rand(2, 3, 4)), const([[[1]], [[2]]]), 1),
    "nd_v8_batch2": lambda b: ov8.gather_nd(b(rand(2, 3, 4, 5)), const(RNG.integers(0, 4, (2, 3, 2, 1))), 2),
}


@pytest.mark.parametrize("name", list(GATHERS))
def test_gather(name, tmp_path):
    run_case(GATHERS[name], tmp_path)


# ---------------------------------------------------------------------------
# Broadcast / pad / range

BROADCASTS = {
    "v1_numpy": lambda b: ov1.broadcast(b(rand(3, 1)), const([2, 3, 4])),
    "v1_explicit": lambda b: ov1.broadcast(b(rand(3)), const([2, 3, 4]), const([1]), "explicit"),
    "v3_explicit2": lambda b: ov3.broadcast(b(rand(2, 4)), const([2, 3, 4]), const([0, 2]), "explicit"),
    "v3_bidirectional": lambda b: ov3.broadcast(b(rand(3, 1)), const([2, 1, 4]), broadcast_spec="bidirectional"),
    "v3_numpy": lambda b: ov3.broadcast(b(rand(1, 4)), const([3, 4])),
}


@pytest.mark.parametrize("name", list(BROADCASTS))
def test_broadcast(name, tmp_path):
    run_case(BROADCASTS[name], tmp_path)


PADS = [
    ("constant", [1, 2], [0, 1]),
    ("edge", [2, 0], [1, 3]),
    ("reflect", [1, 2], [2, 1]),
    ("symmetric", [2, 3], [1, 0]),
]


@pytest.mark.parametrize("mode,begin,end", PADS)
def test_pad_v1(mode, begin, end, tmp_path):
    value = [const(2.5, np.float32)] if mode == "constant" else []
    run_case(lambda b: ov1.pad(b(rand(3, 4)), const(begin), const(end), mode, *value), tmp_path)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_pad_v12_negative(mode, tmp_path):
    value = [const(-1.0, np.float32)] if mode == "constant" else []
    run_case(lambda b: ov12.pad(b(rand(3, 6)), const([1, -1]), const([-2, 3]), mode, *value), tmp_path)


def _range_stop(b):
    """A Range bound computed from a Parameter's shape (ShapeOf/Gather): not folded when saving."""
    return ov8.gather(ov3.shape_of(b(rand(2, 7))), const(1), const(0))


def test_range(tmp_path):
    run_case(lambda b: ov1.range(const(1), _range_stop(b), const(2)), tmp_path)
    run_case(lambda b: ops.range(const(0), _range_stop(b), const(3), "f32"), tmp_path)
    run_case(lambda b: ops.range(_range_stop(b), const(-1), const(-2), "i32"), tmp_path)
    run_case(lambda b: ops.range(ops.convert(_range_stop(b), "f32"), const(0.5, np.float32),
                                 const(-1.5, np.float32), "f32"), tmp_path)


# ---------------------------------------------------------------------------
# Scatter family

def test_scatter_update(tmp_path):
    run_case(lambda b: ov3.scatter_update(b(rand(4, 5)), const([[3, 0]]), b(rand(4, 1, 2)), const(1)), tmp_path)
    run_case(lambda b: ov3.scatter_update(b(rand(4, 3)), const([2, 1]), b(rand(2, 3)), const(0)), tmp_path)


@pytest.mark.parametrize("reduction", ["none", "sum", "prod", "min", "max", "mean"])
@pytest.mark.parametrize("use_init_val", [True, False])
def test_scatter_elements_update(reduction, use_init_val, tmp_path):
    indices = const([[1, 0, 2], [0, 2, -1]])
    if reduction == "none":
        indices = const([[1, 0, 2], [0, 2, -2]])
    run_case(lambda b: ov12.scatter_elements_update(b(rand(3, 4)), indices, b(rand(2, 3)), const(0),
                                                    reduction, use_init_val), tmp_path)


def test_scatter_elements_update_v3_and_int_mean(tmp_path):
    run_case(lambda b: ov3.scatter_elements_update(b(rand(3, 4)), const([[2, 1], [0, 3]]), b(rand(2, 2)),
                                                   const(-1)), tmp_path)
    run_case(lambda b: ov12.scatter_elements_update(b(np.array([10, 11, 12, 13], np.int32)),
                                                    const([1, 1, 2, 2]), b(np.array([2, 3, -5, -4], np.int32)),
                                                    const(0), "mean", True), tmp_path)


@pytest.mark.parametrize("reduction", [None, "sum", "sub", "prod", "min", "max"])
def test_scatter_nd_update(reduction, tmp_path):
    fn = ops.scatter_nd_update if reduction is None else (
        lambda *a: ov15.scatter_nd_update(*a, reduction=reduction))
    run_case(lambda b: fn(b(rand(4, 3, 2)), const([[1], [3], [-4]]), b(rand(3, 3, 2))), tmp_path)
    run_case(lambda b: fn(b(rand(4, 3)), const([[1, 2], [0, 0]]), b(rand(2))), tmp_path)


# ---------------------------------------------------------------------------
# Shape inference errors (checked on the op classes directly)


def infer(type_name, shapes, dtypes=None, values=None, attrs=None, version=None):
    opdef = get_op(type_name)
    ctx = OpContext("layer", type_name, version or opdef.versions[-1], attrs or {}, shapes,
                    dtypes or [np.float32] * len(shapes), values)
    return opdef.impl.infer(ctx)


ERRORS = [
    ("Add", [(2, 3), (4,)], None, None, {}, "not broadcastable"),
    ("Add", [(2, 3), (3,)], None, None, {"auto_broadcast": "none"}, "equal input shapes"),
    ("Add", [(2, 3), (3,)], [np.float32, np.int32], None, {}, "different element types"),
    ("Select", [(2,), (2,), (2,)], None, None, {}, "boolean"),
    ("Reshape", [(2, 3), (2,)], [np.float32, I64], [None, np.array([4, 2])], {"special_zero": "false"},
     "element counts differ"),
    ("Reshape", [(2, 3), (2,)], [np.float32, I64], None, {"special_zero": "false"}, "target shape"),
    ("Concat", [(2, 3), (3, 3)], None, None, {"axis": "1"}, "does not match"),
    ("Concat", [(2, 3), (2, 3)], None, None, {"axis": "2"}, "out of range"),
    ("Split", [(2, 5), ()], [np.float32, I64], [None, np.array(1)], {"num_splits": "2"}, "equal parts"),
    ("VariadicSplit", [(2, 5), (), (2,)], [np.float32, I64, I64], [None, np.array(1), np.array([2, 2])], {},
     "do not sum"),
    ("Transpose", [(2, 3), (2,)], [np.float32, I64], [None, np.array([0, 0])], {}, "permutation"),
    ("Unsqueeze", [(2, 3), (1,)], [np.float32, I64], [None, np.array([5])], {}, "out of range"),
    ("Gather", [(2, 3), (2,), ()], [np.float32, I64, I64], [None, None, np.array(2)], {}, "out of range"),
    ("Broadcast", [(3, 2), (2,)], [np.float32, I64], [None, np.array([3, 4])], {}, "cannot be broadcast"),
    ("StridedSlice", [(2, 3), (2,), (2,)], [np.float32, I64, I64], [None, np.array([0, 5]), np.array([1, 6])],
     {"begin_mask": "0,0", "end_mask": "0,0", "shrink_axis_mask": "0,1"}, "out of range"),
    ("Slice", [(2, 3), (1,), (1,), (1,)], [np.float32, I64, I64, I64],
     [None, np.array([0]), np.array([1]), np.array([0])], {}, "contains 0"),
    ("Pad", [(2, 3), (2,), (2,)], [np.float32, I64, I64], [None, np.array([0, 3]), np.array([0, 0])],
     {"pad_mode": "reflect"}, "smaller than"),
    ("DepthToSpace", [(1, 6, 2, 2)], None, None, {"block_size": "2", "mode": "blocks_first"}, "divisible"),
    ("Convert", [(2,)], None, None, {"destination_type": "q7"}, "destination_type"),
]


@pytest.mark.parametrize("case", ERRORS, ids=[f"{c[0]}-{c[-1]}" for c in ERRORS])
def test_infer_errors(case):
    type_name, shapes, dtypes, values, attrs, message = case
    with pytest.raises(ShapeInferenceError, match=message) as info:
        infer(type_name, shapes, dtypes, values, attrs)
    assert "layer 'layer'" in str(info.value)


def test_infer_dtypes():
    assert infer("Less", [(2, 3), (3,)]) == [((2, 3), np.bool_)]
    assert infer("ShapeOf", [(2, 3)], version=3, attrs={"output_type": "i32"}) == [((2,), np.int32)]
    assert infer("Convert", [(2,)], attrs={"destination_type": "bf16"}) == [((2,), np.float32)]
    assert infer("Range", [(), (), ()], [I64] * 3, [np.array(0), np.array(10), np.array(3)], version=1) == [
        ((4,), np.int64)]


def test_compute_dtypes_match_infer():
    x = rand(2, 3)
    opdef = get_op("Equal")
    ctx = OpContext("eq", "Equal", 1, {}, [(2, 3), (2, 3)], [np.float32] * 2)
    assert opdef.impl.compute(ctx, x, x).dtype == np.bool_
    ctx = OpContext("c", "Convert", 1, {"destination_type": "u8"}, [(2, 3)], [np.float32])
    assert get_op("Convert").impl.compute(ctx, x).dtype == np.uint8



def test_empty_shape_arguments():
    # (The IR round trip of an empty Const is covered by test_shape_ops[squeeze_all/transpose_empty].)
    x = rand(1, 3, 1, 2)
    empty = np.array([], np.int64)
    ctx = OpContext("sq", "Squeeze", 1, {}, [x.shape, (0,)], [np.float32, I64], [None, empty])
    assert get_op("Squeeze").impl.infer(ctx) == [((3, 2), np.float32)]
    ctx = OpContext("tr", "Transpose", 1, {}, [x.shape, (0,)], [np.float32, I64], [None, empty])
    np.testing.assert_array_equal(get_op("Transpose").impl.compute(ctx, x, empty), x.transpose())
