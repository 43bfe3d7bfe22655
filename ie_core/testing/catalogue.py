"""The networks of the conformance suite: single ops and small multi-op networks.

Each :class:`Case` builds its network on a :class:`~ie_core.testing.irwriter.NetBuilder`;
its constants come from a generator seeded by the case's name, so a case is the
same network in every run and on every device.
"""

import zlib
from typing import Callable, NamedTuple

import numpy as np

from .irwriter import NetBuilder


class Case(NamedTuple):
    """A conformance network: ``build(b, rng)`` adds its layers to ``b`` (a NetBuilder)."""

    name: str
    build: Callable


def seeded(name):
    """The random generator of case ``name`` (the same in every run)."""
    return np.random.default_rng(zlib.crc32(name.encode()))


def build(case):
    """The case's network as a :class:`NetBuilder`."""
    b = NetBuilder(case.name)
    case.build(b, seeded(case.name))
    return b


def _weights(rng, *shape, scale=0.5):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# --------------------------------------------------------------------------- element-wise

_UNARY = {
    "Relu": {}, "Sigmoid": {}, "Tanh": {}, "Exp": {}, "Abs": {}, "Negative": {}, "Floor": {}, "Ceiling": {},
    "Erf": {}, "Sin": {}, "Elu": {"alpha": 0.7}, "Clamp": {"min": -0.5, "max": 0.75},
    "HSwish": {"version": "opset4"}, "HSigmoid": {"version": "opset5"}, "SoftPlus": {"version": "opset4"},
    "Mish": {"version": "opset4"}, "Swish": {"version": "opset4"},
}
_POSITIVE_UNARY = ("Log", "Sqrt")


def _unary(type_, attrs):
    def build_(b, rng):
        b.result(b.op(type_, b.parameter((2, 3, 4, 5)), **attrs))
    return Case(f"unary_{type_}", build_)


def _positive_unary(type_):
    def build_(b, rng):
        b.result(b.op(type_, b.parameter((2, 3, 4, 5), low=0.05, high=4.0)))
    return Case(f"unary_{type_}", build_)


def _gelu(mode):
    def build_(b, rng):
        b.result(b.op("Gelu", b.parameter((2, 16)), version="opset7", approximation_mode=mode))
    return Case(f"unary_Gelu_{mode}", build_)


_BINARY = ("Add", "Subtract", "Multiply", "Divide", "Maximum", "Minimum", "SquaredDifference")
#: (a shape, b shape): equal, per-channel, both sides broadcast, scalar, lower rank
_BROADCASTS = {
    "same": ((2, 3, 4, 5), (2, 3, 4, 5)),
    "channel": ((2, 3, 4, 5), (1, 3, 1, 1)),
    "both": ((2, 1, 4, 5), (3, 1, 5)),
    "scalar": ((2, 3, 4), ()),
    "rank": ((2, 3, 4, 5), (5,)),
}


def _binary(type_, kind):
    a_shape, b_shape = _BROADCASTS[kind]
    nonzero = {"low": 0.5, "high": 2.0} if type_ == "Divide" else {}

    def build_(b, rng):
        b.result(b.op(type_, b.parameter(a_shape, name="a"), b.parameter(b_shape, name="b", **nonzero)))
    return Case(f"binary_{type_}_{kind}", build_)


def _binary_const(b, rng):
    x = b.parameter((1, 8, 6, 6))
    y = b.op("Multiply", x, _weights(rng, 1, 8, 1, 1))
    b.result(b.op("Add", _weights(rng, 1, 8, 1, 1), y))


def _power(b, rng):
    b.result(b.op("Power", b.parameter((2, 3, 4), low=0.1, high=3.0), b.parameter((3, 1), low=-2.0, high=2.0)))


def _compare_select(b, rng):
    x, y = b.parameter((2, 3, 4), name="x"), b.parameter((2, 3, 4), name="y")
    mask = b.op("Greater", x, y)
    b.result(mask, b.op("Select", mask, x, b.op("Multiply", y, np.float32(0.5))))


def _prelu(b, rng):
    b.result(b.op("PRelu", b.parameter((1, 4, 5, 5)), _weights(rng, 4)))


def _int_add(b, rng):
    x = b.parameter((2, 6), "i32", low=-50, high=50)
    b.result(b.op("Add", x, np.arange(6, dtype=np.int32)))


# --------------------------------------------------------------------------- convolution, matmul, pooling

_CONVS = {
    "3x3_pad1": dict(x=(1, 4, 8, 8), w=(6, 4, 3, 3), strides=(1, 1), pads_begin=(1, 1), pads_end=(1, 1),
                     dilations=(1, 1)),
    "1x1": dict(x=(2, 8, 5, 5), w=(4, 8, 1, 1), strides=(1, 1), pads_begin=(0, 0), pads_end=(0, 0), dilations=(1, 1)),
    "stride2_asym": dict(x=(1, 3, 9, 9), w=(5, 3, 3, 3), strides=(2, 2), pads_begin=(0, 1), pads_end=(1, 0),
                         dilations=(1, 1)),
    "dilated": dict(x=(1, 2, 10, 10), w=(3, 2, 3, 3), strides=(1, 1), pads_begin=(2, 2), pads_end=(2, 2),
                    dilations=(2, 2)),
    "same_upper": dict(x=(1, 3, 7, 7), w=(4, 3, 2, 2), strides=(2, 2), pads_begin=(0, 0), pads_end=(0, 0),
                       dilations=(1, 1), auto_pad="same_upper"),
    "1d": dict(x=(2, 3, 12), w=(4, 3, 3), strides=(1,), pads_begin=(1,), pads_end=(1,), dilations=(1,)),
}


def _conv(kind):
    spec = dict(_CONVS[kind])
    x, w = spec.pop("x"), spec.pop("w")

    def build_(b, rng):
        b.result(b.op("Convolution", b.parameter(x), _weights(rng, *w), **spec))
    return Case(f"Convolution_{kind}", build_)


def _group_conv(name, channels, groups, out_per_group):
    def build_(b, rng):
        w = _weights(rng, groups, out_per_group, channels // groups, 3, 3)
        b.result(b.op("GroupConvolution", b.parameter((1, channels, 7, 7)), w, strides=(1, 1), pads_begin=(1, 1),
                      pads_end=(1, 1), dilations=(1, 1)))
    return Case(name, build_)


def _matmul_const(b, rng):
    b.result(b.op("MatMul", b.parameter((3, 16)), _weights(rng, 8, 16), transpose_a=False, transpose_b=True))


def _matmul_runtime_batched(b, rng):
    a, c = b.parameter((2, 3, 4, 8), name="a"), b.parameter((3, 8, 5), name="c")
    b.result(b.op("MatMul", a, c, transpose_a=False, transpose_b=False))


def _matmul_transpose_a(b, rng):
    a, c = b.parameter((2, 7, 4), name="a"), b.parameter((2, 7, 6), name="c")
    b.result(b.op("MatMul", a, c, transpose_a=True, transpose_b=False))


def _matmul_vector(b, rng):
    b.result(b.op("MatMul", b.parameter((4, 10)), _weights(rng, 10), transpose_a=False, transpose_b=False))


def _max_pool_v1(b, rng):
    b.result(b.op("MaxPool", b.parameter((1, 3, 9, 9)), kernel=(3, 3), strides=(2, 2), pads_begin=(1, 1),
                  pads_end=(1, 1), rounding_type="floor", auto_pad="explicit"))


def _max_pool_v8_ceil(b, rng):
    values, _ = b.op("MaxPool", b.parameter((2, 4, 8, 8)), version="opset8", outputs=2, kernel=(2, 2),
                     strides=(3, 3), dilations=(2, 2), pads_begin=(0, 0), pads_end=(0, 0), rounding_type="ceil",
                     auto_pad="explicit", index_element_type="i64", axis=0)
    b.result(values)


def _avg_pool(exclude):
    def build_(b, rng):
        b.result(b.op("AvgPool", b.parameter((1, 3, 8, 8)), kernel=(3, 3), strides=(2, 2), pads_begin=(1, 1),
                      pads_end=(1, 1), rounding_type="floor", auto_pad="explicit", **{"exclude-pad": exclude}))
    return Case(f"AvgPool_exclude_pad_{exclude}", build_)


# --------------------------------------------------------------------------- normalisation, softmax

def _softmax(axis, version):
    def build_(b, rng):
        type_ = "SoftMax" if version == "opset1" else "Softmax"
        b.result(b.op(type_, b.parameter((2, 5, 3, 4), low=-4, high=4), version=version, axis=axis))
    return Case(f"Softmax_axis{axis}_{version}", build_)


def _log_softmax(b, rng):
    b.result(b.op("LogSoftmax", b.parameter((3, 7)), version="opset5", axis=-1))


def _mvn(name, axes, eps_mode, normalize):
    def build_(b, rng):
        b.result(b.op("MVN", b.parameter((2, 3, 4, 6)), np.array(axes, np.int64), version="opset6",
                      eps=1e-5, eps_mode=eps_mode, normalize_variance=normalize))
    return Case(name, build_)


# --------------------------------------------------------------------------- data movement

def _concat(axis):
    def build_(b, rng):
        x, y = b.parameter((2, 3, 4), name="x"), b.parameter((2, 3, 4), name="y")
        b.result(b.op("Concat", x, y, _weights(rng, 2, 3, 4), axis=axis))
    return Case(f"Concat_axis{axis}", build_)


def _reshape(b, rng):
    b.result(b.op("Reshape", b.parameter((2, 3, 4, 5)), np.array([0, -1, 5], np.int64), special_zero=True))


def _transpose(b, rng):
    b.result(b.op("Transpose", b.parameter((2, 3, 4, 5)), np.array([0, 2, 3, 1], np.int64)))


def _squeeze_unsqueeze(b, rng):
    y = b.op("Squeeze", b.parameter((2, 1, 4, 1)), np.array([1], np.int64))
    b.result(b.op("Unsqueeze", y, np.array([0], np.int64)))


def _gather(axis, batch_dims=0):
    def build_(b, rng):
        indices = np.array([[2, 0], [-1, 1]], np.int64)
        b.result(b.op("Gather", b.parameter((4, 5, 3)), indices, np.array(axis, np.int64), version="opset8",
                      batch_dims=batch_dims))
    return Case(f"Gather_axis{axis}", build_)


def _gather_runtime_indices(b, rng):
    data, indices = b.parameter((6, 4), name="data"), b.parameter((3,), "i32", name="indices", low=0, high=6)
    b.result(b.op("Gather", data, indices, np.array(0, np.int64), version="opset8", batch_dims=0))


def _split(b, rng):
    parts = b.op("Split", b.parameter((2, 6, 3)), np.array(1, np.int64), outputs=3, num_splits=3)
    b.result(*parts)


def _strided_slice(b, rng):
    b.result(b.op("StridedSlice", b.parameter((4, 6, 5)), np.array([1, 0, 4], np.int64),
                  np.array([3, 6, 0], np.int64), np.array([1, 2, -1], np.int64), begin_mask=(0, 1, 0),
                  end_mask=(0, 1, 1)))


# --------------------------------------------------------------------------- reductions, conversions

_REDUCTIONS = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2")


def _reduce(type_, axes, keep):
    def build_(b, rng):
        version = "opset4" if type_ in ("ReduceL1", "ReduceL2") else "opset1"
        low = {"low": 0.5, "high": 1.5} if type_ == "ReduceProd" else {}
        b.result(b.op(type_, b.parameter((2, 3, 4, 5), **low), np.array(axes, np.int64), version=version,
                      keep_dims=keep))
    return Case(f"{type_}_{'_'.join(map(str, axes))}_{'keep' if keep else 'drop'}", build_)


def _convert(src, dst, low, high):
    def build_(b, rng):
        b.result(b.op("Convert", b.parameter((3, 4, 5), src, low=low, high=high), destination_type=dst))
    return Case(f"Convert_{src}_to_{dst}", build_)


def _einsum(b, rng):
    a, c = b.parameter((2, 3, 4), name="a"), b.parameter((2, 4, 5), name="c")
    b.result(b.op("Einsum", a, c, version="opset7", equation="bij,bjk->bik"))


# --------------------------------------------------------------------------- multi-op networks

def _conv_block(b, rng):
    """Convolution + bias + ReLU, a per-channel scale/shift and a residual add (fusions)."""
    x = b.parameter((1, 8, 10, 10))
    y = b.op("Convolution", x, _weights(rng, 8, 8, 3, 3, scale=0.2), strides=(1, 1), pads_begin=(1, 1),
             pads_end=(1, 1), dilations=(1, 1))
    y = b.op("Relu", b.op("Add", y, _weights(rng, 1, 8, 1, 1)))
    z = b.op("Convolution", y, _weights(rng, 8, 8, 1, 1, scale=0.3), strides=(1, 1), pads_begin=(0, 0),
             pads_end=(0, 0), dilations=(1, 1))
    z = b.op("Add", b.op("Multiply", z, _weights(rng, 1, 8, 1, 1)), _weights(rng, 1, 8, 1, 1))
    b.result(b.op("Relu", b.op("Add", z, x)))


def _mobile_block(b, rng):
    """Depthwise convolution + ReLU6, pooling, global average pool, Reshape and a classifier."""
    x = b.parameter((1, 6, 12, 12))
    y = b.op("GroupConvolution", x, _weights(rng, 6, 1, 1, 3, 3), strides=(2, 2), pads_begin=(1, 1),
             pads_end=(1, 1), dilations=(1, 1))
    y = b.op("Clamp", y, min=0.0, max=6.0)
    y = b.op("MaxPool", y, kernel=(2, 2), strides=(1, 1), pads_begin=(0, 0), pads_end=(0, 0),
             rounding_type="floor", auto_pad="explicit")
    y = b.op("ReduceMean", y, np.array([2, 3], np.int64), keep_dims=False)
    y = b.op("MatMul", y, _weights(rng, 4, 6), transpose_a=False, transpose_b=True)
    b.result(b.op("SoftMax", b.op("Add", y, _weights(rng, 1, 4)), axis=1))


def _mlp(b, rng):
    """MatMul + bias + GELU, MatMul + bias, Softmax."""
    y = b.op("MatMul", b.parameter((4, 16)), _weights(rng, 16, 32, scale=0.3), transpose_a=False, transpose_b=False)
    y = b.op("Gelu", b.op("Add", y, _weights(rng, 32)), version="opset7", approximation_mode="ERF")
    y = b.op("MatMul", y, _weights(rng, 32, 10, scale=0.3), transpose_a=False, transpose_b=False)
    b.result(b.op("Softmax", b.op("Add", y, _weights(rng, 10)), version="opset8", axis=-1))


def _mlp_relu(b, rng):
    """MatMul + bias + ReLU, MatMul + bias: the MLP for devices with a CNN layer set (no GELU, no Softmax)."""
    y = b.op("MatMul", b.parameter((4, 16)), _weights(rng, 16, 32, scale=0.3), transpose_a=False, transpose_b=False)
    y = b.op("Relu", b.op("Add", y, _weights(rng, 32)))
    y = b.op("MatMul", y, _weights(rng, 32, 10, scale=0.3), transpose_a=False, transpose_b=False)
    b.result(b.op("Add", y, _weights(rng, 10)))


def _layer_norm(b, rng):
    """MVN over the last axis with its affine Multiply and Add (LayerNorm)."""
    y = b.op("MVN", b.parameter((2, 5, 16)), np.array([-1], np.int64), version="opset6", eps=1e-5,
             eps_mode="inside_sqrt", normalize_variance=True)
    b.result(b.op("Add", b.op("Multiply", y, _weights(rng, 16)), _weights(rng, 16)))


def _attention(b, rng):
    """Self-attention written out: head split (Reshape/Transpose), QKᵀ, scale, Softmax, ·V, head merge."""
    x = b.parameter((1, 6, 8))

    def heads():
        t = b.op("MatMul", x, _weights(rng, 8, 8, scale=0.4), transpose_a=False, transpose_b=False)
        t = b.op("Reshape", t, np.array([1, 6, 2, 4], np.int64), special_zero=False)
        return b.op("Transpose", t, np.array([0, 2, 1, 3], np.int64))

    q, k, v = heads(), heads(), heads()
    s = b.op("Multiply", b.op("MatMul", q, k, transpose_a=False, transpose_b=True), np.float32(0.5))
    p = b.op("Softmax", s, version="opset8", axis=-1)
    o = b.op("Transpose", b.op("MatMul", p, v, transpose_a=False, transpose_b=False), np.array([0, 2, 1, 3], np.int64))
    b.result(b.op("Reshape", o, np.array([1, 6, 8], np.int64), special_zero=False))


def _mixed_precision(b, rng):
    """Integer and float branches meeting: Convert, Gather by computed indices, Concat."""
    x, ids = b.parameter((5, 4), name="x"), b.parameter((3,), "i64", name="ids", low=0, high=5)
    rows = b.op("Gather", b.op("Relu", x), ids, np.array(0, np.int64), version="opset8", batch_dims=0)
    as_float = b.op("Convert", b.op("Unsqueeze", ids, np.array([1], np.int64)), destination_type="f32")
    b.result(b.op("Concat", rows, as_float, axis=1))


def _two_outputs(b, rng):
    """An intermediate tensor that is both a network output and read by later layers."""
    x = b.parameter((1, 4, 6, 6))
    y = b.op("Convolution", x, _weights(rng, 4, 4, 3, 3, scale=0.3), strides=(1, 1), pads_begin=(1, 1),
             pads_end=(1, 1), dilations=(1, 1))
    b.result(y, b.op("Sigmoid", b.op("Relu", y)))


CATALOGUE = (
    [_unary(t, dict(a)) for t, a in _UNARY.items()]
    + [_positive_unary(t) for t in _POSITIVE_UNARY]
    + [_gelu("ERF"), _gelu("TANH")]
    + [_binary(t, k) for t in _BINARY for k in _BROADCASTS]
    + [Case("binary_constant_operands", _binary_const), Case("Power_broadcast", _power),
       Case("Greater_Select", _compare_select), Case("PRelu_channel", _prelu), Case("Add_i32", _int_add)]
    + [_conv(k) for k in _CONVS]
    + [_group_conv("GroupConvolution_grouped", 8, 2, 3), _group_conv("GroupConvolution_depthwise", 6, 6, 1)]
    + [Case("MatMul_const_transpose_b", _matmul_const), Case("MatMul_runtime_batched", _matmul_runtime_batched),
       Case("MatMul_transpose_a", _matmul_transpose_a), Case("MatMul_vector", _matmul_vector)]
    + [Case("MaxPool_v1", _max_pool_v1), Case("MaxPool_v8_dilated_ceil", _max_pool_v8_ceil),
       _avg_pool(True), _avg_pool(False)]
    + [_softmax(1, "opset1"), _softmax(-1, "opset8"), Case("LogSoftmax", _log_softmax)]
    + [_mvn("MVN_last_axis", [-1], "inside_sqrt", True), _mvn("MVN_spatial", [2, 3], "outside_sqrt", True),
       _mvn("MVN_mean_only", [1, 2, 3], "inside_sqrt", False)]
    + [_concat(1), _concat(-1), Case("Reshape_special_zero", _reshape), Case("Transpose", _transpose),
       Case("Squeeze_Unsqueeze", _squeeze_unsqueeze), _gather(0), _gather(1),
       Case("Gather_runtime_indices", _gather_runtime_indices), Case("Split", _split),
       Case("StridedSlice", _strided_slice)]
    + [_reduce(t, (1,), False) for t in _REDUCTIONS]
    + [_reduce("ReduceSum", (2, 3), True), _reduce("ReduceMax", (0, -1), True)]
    + [_convert("f32", "i32", -100, 100), _convert("i32", "f32", -1000, 1000), _convert("f32", "boolean", -1, 1),
       _convert("u8", "f32", 0, 256)]
    + [Case("Einsum_batched_matmul", _einsum)]
    + [Case("net_conv_block", _conv_block), Case("net_mobile_block", _mobile_block), Case("net_mlp", _mlp),
       Case("net_layer_norm", _layer_norm), Case("net_attention", _attention),
       Case("net_mixed_precision", _mixed_precision), Case("net_two_outputs", _two_outputs)]
)


# --------------------------------------------------------------------------- special values

_PADDED_3X3 = dict(strides=(1, 1), pads_begin=(1, 1), pads_end=(1, 1), dilations=(1, 1))


def _special(name, layer):
    def build_(b, rng):
        b.result(layer(b, b.parameter((2, 3, 4, 5)), rng))
    return Case(f"special_{name}", build_)


def _after_conv(type_, **attrs):
    return lambda b, x, rng: b.op(type_, b.op("Convolution", x, _weights(rng, 3, 3, 3, 3, scale=0.1), **_PADDED_3X3),
                                  **attrs)


#: The networks the suite feeds NaN and infinities (``test_special_values_match_reference``): the ops whose
#: formulas take a min or a max (read as IEEE minNum/maxNum, see :mod:`ie_core.ops.elementwise`), Exp, and
#: activations a device may fuse into a convolution.
SPECIAL_VALUE_CASES = (
    _special("Relu", lambda b, x, rng: b.op("Relu", x)),
    _special("Clamp", lambda b, x, rng: b.op("Clamp", x, min=-0.5, max=0.75)),
    _special("HSigmoid", lambda b, x, rng: b.op("HSigmoid", x, version="opset5")),
    _special("HSwish", lambda b, x, rng: b.op("HSwish", x, version="opset4")),
    _special("Exp", lambda b, x, rng: b.op("Exp", x)),
    _special("Maximum_constant", lambda b, x, rng: b.op("Maximum", x, _weights(rng, 1, 3, 1, 1))),
    _special("Minimum_constant_first", lambda b, x, rng: b.op("Minimum", _weights(rng, 5), x)),
    _special("Maximum", lambda b, x, rng: b.op("Maximum", x, b.parameter((2, 3, 4, 5)))),
    _special("ReduceMax", lambda b, x, rng: b.op("ReduceMax", x, np.array([2, 3], np.int64), keep_dims=False)),
    _special("ReduceMin", lambda b, x, rng: b.op("ReduceMin", x, np.array([1], np.int64), keep_dims=True)),
    _special("MaxPool", lambda b, x, rng: b.op("MaxPool", x, strides=(1, 1), pads_begin=(0, 0), pads_end=(0, 0),
                                               kernel=(2, 2), rounding_type="floor", auto_pad="explicit")),
    _special("Convolution_Clamp", _after_conv("Clamp", min=0.0, max=6.0)),
    _special("Convolution_HSigmoid", _after_conv("HSigmoid", version="opset5")),
    _special("Convolution_Exp", _after_conv("Exp")),
)


def special_values(array, rng):
    """``array`` (float) with about 15% NaN, 3% +inf and 3% -inf, and its first row along the last axis all NaN."""
    x = array.copy()
    x[rng.random(x.shape) < 0.15] = np.nan
    x[rng.random(x.shape) < 0.03] = np.inf
    x[rng.random(x.shape) < 0.03] = -np.inf
    x.reshape(-1, x.shape[-1])[0] = np.nan
    return x


def heavy_network(b, rng):
    """Enough work (a few hundred MFLOP) that an inference is still running when start_async returns."""
    x = b.parameter((1, 32, 56, 56))
    for _ in range(4):
        x = b.op("Relu", b.op("Convolution", x, _weights(rng, 32, 32, 3, 3, scale=0.05), strides=(1, 1),
                              pads_begin=(1, 1), pads_end=(1, 1), dilations=(1, 1)))
    b.result(b.op("ReduceMean", x, np.array([2, 3], np.int64), keep_dims=False))


HEAVY = Case("heavy", heavy_network)
MLP = Case("net_mlp", _mlp)
MLP_RELU = Case("net_mlp_relu", _mlp_relu)
