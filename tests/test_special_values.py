"""NaN and zero-size tensors, the same on every installed device.

NaN: the min and max of the specifications' formulas are IEEE 754 minNum/maxNum (numpy's
fmin/fmax; see ie_core.ops.elementwise): a NaN operand gives the other operand. So ReLU(NaN)
= 0, Clamp(NaN) is its lower bound, HSigmoid(NaN) = 0, Maximum(NaN, c) = c, ReduceMax skips
NaN (NaN only where every value is), and MaxPool's window maximum, which starts from the
lowest float, never takes a NaN (a window of NaNs gives the lowest float). That is what
OpenVINO's CPU plugin computes wherever its result does not depend on operand order
(compared against OpenVINO f32 below). Every other op propagates NaN: Exp(NaN) = NaN
(OpenVINO's CPU plugin gives +inf), AvgPool. Softmax follows its specified formula
exp(x - max) / sum(exp(x - max)): a row with a NaN or +inf is NaN throughout (OpenVINO's CPU
plugin differs there; its reference does not).

Zero-size tensors: a layer whose outputs are all empty has nothing to compute (it is
folded at load: no device runs it); a layer with a non-empty output computed from empty
inputs gives what its specification gives (a MatMul over K = 0 sums nothing: zeros;
attention over no keys: zeros).
"""

import numpy as np
import pytest
from helpers import DEVICES, assert_close, openvino_infer

from ie_core import IENetwork, IEPlugin
from ie_core.errors import ShapeInferenceError
from ie_core.testing.irwriter import NetBuilder

RNG = np.random.default_rng(21)
LOWEST = np.finfo(np.float32).min
POOL = dict(strides=[2, 2], pads_begin=[0, 0], pads_end=[0, 0], kernel=[2, 2], rounding_type="floor",
            auto_pad="explicit")


def with_nans(shape, fraction=0.2):
    """Standard normal values with a ``fraction`` of NaNs, infinities, and a first row of NaNs (so that some
    pooling windows hold nothing else)."""
    x = RNG.standard_normal(shape).astype(np.float32)
    x[RNG.random(shape) < fraction] = np.nan
    x[RNG.random(shape) < 0.02] = np.inf
    x[RNG.random(shape) < 0.02] = -np.inf
    x[..., :2, :] = np.nan
    return x


def _conv(b, x):
    return b.op("Convolution", x, RNG.standard_normal((16, 16, 3, 3)).astype(np.float32) * 0.1, strides=[1, 1],
                pads_begin=[1, 1], pads_end=[1, 1], dilations=[1, 1])


def run(b, inputs, device, tmp_path, config=None):
    """(outputs, exec_type per layer) of the NetBuilder's network on ``device``."""
    xml, weights = b.write(tmp_path)
    exec_net = IEPlugin(device).load(IENetwork(xml, weights), config=config or {"PERF_COUNT": "YES"})
    outputs = exec_net.infer(inputs)
    counts = exec_net.requests[0].get_perf_counts()
    return outputs, {name: pc["exec_type"] for name, pc in counts.items()}, counts


NAN_CASES = {
    "relu": lambda b, x: b.op("Relu", x, name="out"),
    "clamp": lambda b, x: b.op("Clamp", x, name="out", min=-0.5, max=0.75),
    "hsigmoid": lambda b, x: b.op("HSigmoid", x, name="out", version="opset5"),
    "maximum_constant": lambda b, x: b.op("Maximum", x, np.float32(0.25), name="out"),
    "conv_clamp": lambda b, x: b.op("Clamp", _conv(b, x), name="out", min=0.0, max=6.0),
    "conv_hsigmoid": lambda b, x: b.op("HSigmoid", _conv(b, x), name="out", version="opset5"),
    "max_pool": lambda b, x: b.op("MaxPool", x, name="out", **POOL),
    "max_pool_3x3_padded": lambda b, x: b.op("MaxPool", x, name="out", **dict(
        POOL, kernel=[3, 3], pads_begin=[1, 1], pads_end=[1, 1])),
    "max_pool_v8_indices": lambda b, x: b.op("MaxPool", x, name="out", version="opset8", outputs=2,
                                             dilations=[1, 1], axis=0, index_element_type="i64", **POOL)[1],
    "avg_pool": lambda b, x: b.op("AvgPool", x, name="out", exclude_pad=True, **POOL),
    "conv_relu_pool": lambda b, x: b.op("MaxPool", b.op("Relu", b.op(
        "Convolution", x, RNG.standard_normal((8, 16, 1, 1)).astype(np.float32), strides=[1, 1], pads_begin=[0, 0],
        pads_end=[0, 0], dilations=[1, 1])), name="out", **POOL),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", sorted(NAN_CASES))
def test_nan_as_openvino(case, device, tmp_path):
    b = NetBuilder(case)
    b.result(NAN_CASES[case](b, b.parameter((2, 16, 8, 8), name="data")))
    x = with_nans((2, 16, 8, 8))
    xml, _ = b.write(tmp_path)
    expected = openvino_infer(xml, {"data": x})[0]
    actual, exec_types, counts = run(b, {"data": x}, device, tmp_path)
    actual = actual[next(iter(actual))]
    if expected.dtype.kind == "f":
        assert_close(actual, expected)
        np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    else:
        np.testing.assert_array_equal(actual, expected)
    if device == "CPU" and case in ("conv_clamp", "conv_hsigmoid"):
        assert counts["out"]["status"] == "OPTIMIZED_OUT", "the activation fused into the convolution is checked"
    elif device == "CPU" and case in ("relu", "max_pool", "clamp", "hsigmoid", "maximum_constant"):
        assert exec_types["out"] != "ref_numpy", "the native kernel is what this case checks"


FORMULA_CASES = {
    # name: (layer, the specification's formula with min/max as fmin/fmax, whether CPU runs it natively)
    "exp": (lambda b, x: b.op("Exp", x, name="out"), np.exp, True),
    "conv_exp": (lambda b, x: b.op("Exp", b.op("Convolution", x, np.eye(16, dtype=np.float32).reshape(16, 16, 1, 1),
                                               strides=[1, 1], pads_begin=[0, 0], pads_end=[0, 0], dilations=[1, 1]),
                                   name="out"),
                 lambda x: np.exp(np.einsum("oi,nihw->nohw", np.eye(16, dtype=np.float32), x)), True),
    "hard_sigmoid": (lambda b, x: b.op("HardSigmoid", x, np.float32(0.2), np.float32(0.5), name="out"),
                     lambda x: np.fmax(0, np.fmin(1, np.float32(0.2) * x + np.float32(0.5))), False),
    "maximum_nan_constant": (lambda b, x: b.op("Maximum", x, np.array([1.0, np.nan] * 4, np.float32), name="out"),
                             lambda x: np.fmax(x, np.array([1.0, np.nan] * 4, np.float32)), False),
    "minimum_runtime": (lambda b, x: b.op("Minimum", x, b.op("Negative", x), name="out"),
                        lambda x: np.fmin(x, -x), False),
    "reduce_max": (lambda b, x: b.op("ReduceMax", x, np.array([2, 3], np.int64), name="out", keep_dims=False),
                   lambda x: np.fmax.reduce(x, axis=(2, 3)), True),
    "reduce_min_rows_of_nan": (lambda b, x: b.op("ReduceMin", x, np.array([3], np.int64), name="out",
                                                  keep_dims=True),
                               lambda x: np.fmin.reduce(x, axis=3, keepdims=True), True),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", sorted(FORMULA_CASES))
def test_nan_by_the_specification(case, device, tmp_path):
    """Where OpenVINO's CPU plugin gives another number (Exp(NaN) = +inf) or an order-dependent one (ReduceMax,
    Maximum with a NaN second operand), against the specification's formula, on every element of the input
    (NaN, +-inf, rows of NaN). Where the CPU device's oneDNN kernel would differ, the layer runs with a NaN fix-up
    pass (Exp), or through the reference (Maximum/Minimum without a NaN-free constant operand)."""
    layer, formula, native = FORMULA_CASES[case]
    b = NetBuilder(case)
    b.result(layer(b, b.parameter((2, 16, 8, 8), name="data")))
    x = with_nans((2, 16, 8, 8))
    with np.errstate(invalid="ignore"):
        expected = formula(x)
    actual, exec_types, _ = run(b, {"data": x}, device, tmp_path)
    np.testing.assert_array_equal(np.isnan(actual["out"]), np.isnan(expected))
    finite = ~np.isnan(expected)
    assert_close(actual["out"][finite], expected[finite])
    if device == "CPU":
        assert (exec_types["out"] != "ref_numpy") == native


@pytest.mark.parametrize("device", DEVICES)
def test_mean_of_a_max_pool_window_in_the_padding(device, tmp_path):
    """A MaxPool window wholly in the padding gives the lowest float; a ReduceMean over a few of those
    overflows float32 to -inf, as in OpenVINO (the reference once summed in float64: a fuzz finding)."""
    b = NetBuilder("padding_window_mean")
    pool = b.op("MaxPool", b.parameter((1, 2, 4, 4), name="data"), **dict(POOL, strides=[1, 1], pads_begin=[2, 0]))
    b.result(b.op("ReduceMean", pool, np.array([2, 3], np.int64), name="out", keep_dims=False))
    x = RNG.standard_normal((1, 2, 4, 4)).astype(np.float32)
    xml, _ = b.write(tmp_path)
    expected = openvino_infer(xml, {"data": x})[0]
    outputs, _, _ = run(b, {"data": x}, device, tmp_path)
    np.testing.assert_array_equal(expected, [[-np.inf, -np.inf]])
    np.testing.assert_array_equal(outputs["out"], expected)


@pytest.mark.parametrize("device", DEVICES)
def test_relu_and_max_pool_of_nan(device, tmp_path):
    b = NetBuilder("nan")
    x = b.parameter((1, 1, 2, 4), name="data")
    b.result(b.op("Relu", x, name="relu"), b.op("MaxPool", x, name="pool", **POOL))
    data = np.array([[[[np.nan, 1, np.nan, np.nan], [2, -1, np.nan, np.nan]]]], np.float32)
    outputs, _, _ = run(b, {"data": data}, device, tmp_path)
    np.testing.assert_array_equal(outputs["relu"], np.where(data > 0, data, 0))
    np.testing.assert_array_equal(outputs["pool"], [[[[2, LOWEST]]]])


def softmax_by_specification(x, axis):
    """exp(x - max) / sum(exp(x - max)) in IEEE float64: NaN across a row that holds a NaN or +inf, or only
    -inf (whose max minus itself is NaN)."""
    with np.errstate(invalid="ignore"):
        z = np.exp(x.astype(np.float64) - x.max(axis=axis, keepdims=True))
        return (z / z.sum(axis=axis, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("axis", [1, 0])
def test_softmax_of_nan_and_infinities(device, axis, tmp_path):
    """Rows with a NaN, with +inf, with only -inf: NaN throughout, per the specification's formula; rows with
    some -inf: zeros there. OpenVINO's CPU plugin leaves the others finite; a fuzz finding (cpu_vs_reference)."""
    b = NetBuilder("softmax_special")
    b.result(b.op("SoftMax", b.parameter((5, 5), name="data"), name="out", axis=axis))
    rows = np.array([[0.5, np.nan, 1, 2, -1], [np.inf, 1, 2, -np.inf, 0], [-np.inf] * 5,
                     [-np.inf, 1, 2, 3, -np.inf], [1, 2, 3, 4, 5]], np.float32)
    data = rows if axis == 1 else np.ascontiguousarray(rows.T)
    outputs, _, _ = run(b, {"data": data}, device, tmp_path)
    expected = softmax_by_specification(data, axis)
    assert np.isnan(expected).sum() == 15
    np.testing.assert_array_equal(np.isnan(outputs["out"]), np.isnan(expected))
    assert_close(outputs["out"][~np.isnan(expected)], expected[~np.isnan(expected)])


def zero_size_networks():
    """name -> (build(b), inputs, expected outputs by the ops' specifications)."""
    k0 = np.zeros((0, 64), np.float32)
    return {
        "mvn_over_an_empty_axis": (
            lambda b: b.op("MVN", b.parameter((2, 0), name="data"), np.array([1], np.int64), version="opset6",
                           name="out", eps=1e-5, normalize_variance=True, eps_mode="inside_sqrt"),
            {"data": np.zeros((2, 0), np.float32)}, np.zeros((2, 0), np.float32)),
        "matmul_k0_runtime": (
            lambda b: b.op("MatMul", b.parameter((64, 0), name="data"), b.parameter((0, 64), name="rhs"), name="out"),
            {"data": np.zeros((64, 0), np.float32), "rhs": k0}, np.zeros((64, 64), np.float32)),
        "matmul_k0_constant": (
            lambda b: b.op("MatMul", b.parameter((64, 0), name="data"), k0, name="out"),
            {"data": np.zeros((64, 0), np.float32)}, np.zeros((64, 64), np.float32)),
        "softmax_over_an_empty_axis": (
            lambda b: b.op("Softmax", b.parameter((2, 0), name="data"), version="opset8", name="out", axis=1),
            {"data": np.zeros((2, 0), np.float32)}, np.zeros((2, 0), np.float32)),
        "softmax_of_an_empty_batch": (
            lambda b: b.op("Softmax", b.parameter((0, 3), name="data"), version="opset8", name="out", axis=1),
            {"data": np.zeros((0, 3), np.float32)}, np.zeros((0, 3), np.float32)),
        "max_pool_of_an_empty_batch": (
            lambda b: b.op("MaxPool", b.parameter((0, 2, 4, 4), name="data"), name="out", **POOL),
            {"data": np.zeros((0, 2, 4, 4), np.float32)}, np.zeros((0, 2, 2, 2), np.float32)),
        "attention_without_keys": (
            lambda b: b.op("ScaledDotProductAttention", b.parameter((1, 2, 4, 8), name="data"),
                           b.parameter((1, 2, 0, 8), name="k"), b.parameter((1, 2, 0, 8), name="v"),
                           version="opset13", name="out", causal=False),
            {"data": RNG.standard_normal((1, 2, 4, 8)).astype(np.float32), "k": np.zeros((1, 2, 0, 8), np.float32),
             "v": np.zeros((1, 2, 0, 8), np.float32)}, np.zeros((1, 2, 4, 8), np.float32)),
        "attention_without_queries": (
            lambda b: b.op("ScaledDotProductAttention", b.parameter((1, 2, 0, 8), name="data"),
                           b.parameter((1, 2, 5, 8), name="k"), b.parameter((1, 2, 5, 8), name="v"),
                           version="opset13", name="out", causal=False),
            {"data": np.zeros((1, 2, 0, 8), np.float32), "k": RNG.standard_normal((1, 2, 5, 8)).astype(np.float32),
             "v": RNG.standard_normal((1, 2, 5, 8)).astype(np.float32)}, np.zeros((1, 2, 0, 8), np.float32)),
        "sum_over_an_empty_axis": (
            lambda b: b.op("ReduceSum", b.parameter((3, 0), name="data"), np.array([1], np.int64), name="out",
                           keep_dims=False),
            {"data": np.zeros((3, 0), np.float32)}, np.zeros(3, np.float32)),
    }


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", sorted(zero_size_networks()))
def test_zero_size_tensors(case, device, tmp_path):
    build, inputs, expected = zero_size_networks()[case]
    b = NetBuilder(case)
    b.result(build(b))
    outputs, _, counts = run(b, inputs, device, tmp_path)
    assert outputs["out"].shape == expected.shape and outputs["out"].dtype == expected.dtype
    np.testing.assert_array_equal(outputs["out"], expected)
    if expected.size == 0:
        assert counts["out"]["status"] == "OPTIMIZED_OUT"


def test_max_pool_over_an_empty_spatial_axis_is_refused(tmp_path):
    """As in OpenVINO: the kernel does not fit into an empty axis."""
    b = NetBuilder("empty_pool")
    b.result(b.op("MaxPool", b.parameter((1, 2, 0, 4), name="data"), name="out", **POOL))
    with pytest.raises(ShapeInferenceError, match="layer 'out'.*kernel 2 is larger than the padded input"):
        b.write(tmp_path)
