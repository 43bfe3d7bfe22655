"""Element-wise ops: binary arithmetic and comparisons with auto-broadcast, logical ops,
Select, activations and math functions, Convert/ConvertLike.

Most ops here are one-liners over numpy; :func:`_binary` and :func:`_unary` build
and register one class per op from a numpy function so that each op keeps its
semantics in a single class.

NaN: the ``min`` and ``max`` of the specifications' formulas (Maximum, Minimum, Clamp,
HSigmoid, HSwish, HardSigmoid; ReLU's ``max(0, x)``) are IEEE 754 minNum/maxNum, numpy's
``fmin``/``fmax``: a NaN operand gives the other operand, so Clamp(NaN) is its lower
bound, ReLU(NaN) and HSigmoid(NaN) are 0. This is what OpenVINO's CPU plugin computes
wherever its result does not depend on the order of the operands. Every other op
propagates NaN (Exp(NaN) is NaN).
"""

import math

import numpy as np

from ..types import canonical_element_type, to_dtype
from .registry import op

# ---------------------------------------------------------------------------
# Broadcasting


def broadcast_shapes(ctx, shapes, mode="numpy", axis=-1):
    """The output shape of broadcasting ``shapes`` (a list of tuples) under an auto_broadcast ``mode``.

    numpy: right-aligned numpy rules. none: all shapes must be equal. pdpd:
    every further shape broadcasts into the first one, aligned at ``axis``.
    """
    mode = (mode or "numpy").lower()
    shapes = [tuple(s) for s in shapes]
    if mode == "none":
        if any(s != shapes[0] for s in shapes[1:]):
            raise ctx.error(f"auto_broadcast=none needs equal input shapes, got {shapes}")
        return shapes[0]
    if mode == "numpy":
        try:
            return tuple(np.broadcast_shapes(*shapes))
        except ValueError:
            raise ctx.error(f"input shapes {shapes} are not broadcastable (numpy rules)") from None
    if mode == "pdpd":
        out = shapes[0]
        for s in shapes[1:]:
            _pdpd_target_shape(ctx, out, s, axis)
        return out
    raise ctx.error(f"unsupported auto_broadcast mode '{mode}'")


def _pdpd_target_shape(ctx, dst, src, axis):
    """The shape ``src`` takes (with 1s inserted) to broadcast into ``dst`` by PDPD rules."""
    if axis == -1:
        axis = len(dst) - len(src)
    src = list(src)
    while src and src[-1] == 1:
        src.pop()
    if axis < 0 or axis + len(src) > len(dst):
        raise ctx.error(f"shape {tuple(src)} cannot be broadcast into {dst} at axis {axis} (pdpd)")
    for i, d in enumerate(src):
        if d != 1 and d != dst[axis + i]:
            raise ctx.error(f"shape {tuple(src)} cannot be broadcast into {dst} at axis {axis} (pdpd)")
    return (1,) * axis + tuple(src) + (1,) * (len(dst) - axis - len(src))


def _broadcast_mode(ctx, default="numpy"):
    return ctx.attrs.str("auto_broadcast", default).lower()


def pdpd_axis(ctx):
    """The PDPD broadcast axis: attribute ``axis``, or ``auto_broadcast.auto_broadcast_axis`` as
    OpenVINO serialises it; -1 (align to the right) when absent."""
    for key in ("axis", "auto_broadcast.auto_broadcast_axis", "auto_broadcast_axis"):
        if key in ctx.attrs:
            return ctx.attrs.int(key)
    return -1


def _align_pdpd(ctx, arrays):
    """Reshape every array after the first so that numpy broadcasting realises PDPD broadcasting."""
    axis = pdpd_axis(ctx)
    dst = arrays[0].shape
    return [arrays[0]] + [a.reshape(_pdpd_target_shape(ctx, dst, a.shape, axis)) for a in arrays[1:]]


# ---------------------------------------------------------------------------
# Binary ops


def _is_int(dtype):
    return np.dtype(dtype).kind in "iu"


def _binary(type_name, fn, versions=(1,), out_bool=False, in_bool=False, doc=""):
    """Register a binary element-wise op computing ``fn(a, b)`` with auto_broadcast support."""

    def infer(ctx):
        ctx.expect_inputs(2)
        da, db = ctx.input_dtypes
        if da != db:
            raise ctx.error(f"inputs have different element types {da} and {db}")
        if in_bool and da != np.bool_:
            raise ctx.error(f"inputs must be boolean, got {da}")
        shape = broadcast_shapes(ctx, ctx.input_shapes, _broadcast_mode(ctx), pdpd_axis(ctx))
        return [(shape, np.bool_ if out_bool else da)]

    def compute(ctx, a, b):
        a, b = np.asarray(a), np.asarray(b)
        if _broadcast_mode(ctx) == "pdpd":
            a, b = _align_pdpd(ctx, [a, b])
        with np.errstate(all="ignore"):
            out = fn(ctx, a, b)
        dtype = np.bool_ if out_bool else a.dtype
        return np.asarray(out).astype(dtype, copy=False)

    cls = type(type_name, (), {"__doc__": doc or f"Element-wise {type_name} with auto_broadcast.",
                               "infer": staticmethod(infer), "compute": staticmethod(compute)})
    return op(type_name, versions)(cls)


def _divide(ctx, a, b):
    if _is_int(a.dtype):
        if ctx.attrs.bool("m_pythondiv", True):
            return np.floor_divide(a, b)
        q = np.floor_divide(np.abs(a), np.abs(b))
        return np.where((a < 0) != (b < 0), -q, q)
    return np.divide(a, b)


def _power(ctx, a, b):
    if _is_int(a.dtype):
        if (np.asarray(b) < 0).any():
            return np.trunc(np.power(a.astype(np.float64), b.astype(np.float64)))
        return np.power(a, b)
    return np.power(a, b)


_binary("Add", lambda ctx, a, b: np.add(a, b))
_binary("Subtract", lambda ctx, a, b: np.subtract(a, b))
_binary("Multiply", lambda ctx, a, b: np.multiply(a, b))
_binary("Divide", _divide, doc="a / b; integer division floors when m_pythondiv (default), else truncates.")
_binary("Power", _power)
_binary("Maximum", lambda ctx, a, b: np.fmax(a, b), doc="max(a, b); NaN gives the other operand (maxNum).")
_binary("Minimum", lambda ctx, a, b: np.fmin(a, b), doc="min(a, b); NaN gives the other operand (minNum).")
_binary("SquaredDifference", lambda ctx, a, b: np.square(np.subtract(a, b)))
_binary("FloorMod", lambda ctx, a, b: np.mod(a, b), doc="Remainder with the sign of the divisor.")
_binary("Mod", lambda ctx, a, b: np.fmod(a, b), doc="Remainder with the sign of the dividend (truncated).")
_binary("Equal", lambda ctx, a, b: np.equal(a, b), out_bool=True)
_binary("NotEqual", lambda ctx, a, b: np.not_equal(a, b), out_bool=True)
_binary("Less", lambda ctx, a, b: np.less(a, b), out_bool=True)
_binary("LessEqual", lambda ctx, a, b: np.less_equal(a, b), out_bool=True)
_binary("Greater", lambda ctx, a, b: np.greater(a, b), out_bool=True)
_binary("GreaterEqual", lambda ctx, a, b: np.greater_equal(a, b), out_bool=True)
_binary("LogicalAnd", lambda ctx, a, b: np.logical_and(a, b), out_bool=True, in_bool=True)
_binary("LogicalOr", lambda ctx, a, b: np.logical_or(a, b), out_bool=True, in_bool=True)
_binary("LogicalXor", lambda ctx, a, b: np.logical_xor(a, b), out_bool=True, in_bool=True)
_binary("BitwiseAnd", lambda ctx, a, b: np.bitwise_and(a, b), versions=(13,))
_binary("BitwiseOr", lambda ctx, a, b: np.bitwise_or(a, b), versions=(13,))
_binary("BitwiseXor", lambda ctx, a, b: np.bitwise_xor(a, b), versions=(13,))


@op("Select")
class Select:
    """``cond ? then : else`` element-wise, with auto_broadcast (numpy by default) over all three inputs."""

    @staticmethod
    def infer(ctx):
        ctx.expect_inputs(3)
        dc, dt, de = ctx.input_dtypes
        if dc != np.bool_:
            raise ctx.error(f"condition input must be boolean, got {dc}")
        if dt != de:
            raise ctx.error(f"then/else inputs have different element types {dt} and {de}")
        mode = _broadcast_mode(ctx)
        sc, st, se = ctx.input_shapes
        if mode == "pdpd":
            out = broadcast_shapes(ctx, [st, se], "pdpd", pdpd_axis(ctx))
            broadcast_shapes(ctx, [out, sc], "pdpd", pdpd_axis(ctx))
        else:
            out = broadcast_shapes(ctx, [sc, st, se], mode)
        return [(out, dt)]

    @staticmethod
    def compute(ctx, cond, then, other):
        cond, then, other = np.asarray(cond), np.asarray(then), np.asarray(other)
        if _broadcast_mode(ctx) == "pdpd":
            then, other = _align_pdpd(ctx, [then, other])
            shape = np.broadcast_shapes(then.shape, other.shape)
            cond = cond.reshape(_pdpd_target_shape(ctx, shape, cond.shape, pdpd_axis(ctx)))
        return np.where(cond, then, other).astype(then.dtype, copy=False)


# ---------------------------------------------------------------------------
# Unary ops


def _unary(type_name, fn, versions=(1,), inputs=(1,), float_math=True, bool_ok=False, doc=""):
    """Register an element-wise op computing ``fn(ctx, x, *scalars)``.

    ``inputs`` lists the accepted input counts; inputs after the first are
    one-element parameters (alpha, beta, ...). With ``float_math`` the function
    runs in floating point: f16 inputs are computed in f32, integer inputs in
    f64 and rounded to the nearest integer.
    """

    def infer(ctx):
        ctx.expect_inputs(*inputs)
        dtype = ctx.input_dtypes[0]
        if dtype == np.bool_ and not bool_ok:
            raise ctx.error("boolean input is not supported")
        for i, shape in enumerate(ctx.input_shapes[1:], 1):
            if int(np.prod(shape, dtype=np.int64)) != 1:
                raise ctx.error(f"input {i} must hold a single value, got shape {shape}")
        return [(ctx.input_shapes[0], dtype)]

    def compute(ctx, x, *extra):
        x = np.asarray(x)
        dtype = x.dtype
        with np.errstate(all="ignore"):
            if float_math and dtype.kind != "f":
                out = np.rint(fn(ctx, x.astype(np.float64), *extra))
                return ctx.numerics.float_to_int(out, dtype)
            if float_math and dtype == np.float16:
                return np.asarray(fn(ctx, x.astype(np.float32), *extra)).astype(np.float16)
            return np.asarray(fn(ctx, x, *extra)).astype(dtype, copy=False)

    cls = type(type_name, (), {"__doc__": doc or f"Element-wise {type_name}.",
                               "infer": staticmethod(infer), "compute": staticmethod(compute)})
    return op(type_name, versions)(cls)


def _scalar(value, dtype):
    """An op's one-element parameter input (alpha, beta, ...) as a numpy scalar of ``dtype``."""
    return np.asarray(value).astype(dtype).reshape(-1)[0]


_SQRT_HALF = 1.0 / math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)

# erf: Maclaurin series for |x| < 1, Numerical Recipes' Chebyshev fit of erfc elsewhere;
# absolute error below 1e-8 on the whole real line (evaluated in float64).
_ERF_SERIES = tuple(
    (-1) ** n / (math.factorial(n) * (2 * n + 1)) * 2.0 / math.sqrt(math.pi) for n in range(14)
)
_ERFC_FIT = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
             0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277)


def _erfc_nonneg(a):
    """erfc(a) for a >= 0 (float64), relative error below 1.2e-7 (Numerical Recipes' erfcc fit)."""
    t = 1.0 / (1.0 + 0.5 * a)
    q = np.full_like(t, _ERFC_FIT[-1])
    for c in _ERFC_FIT[-2::-1]:
        q *= t
        q += c
    q -= a * a
    return t * np.exp(q)


def erf(x):
    """Vectorised error function in float64 (absolute error below 1e-8, relative below 1e-7)."""
    x = np.asarray(x, dtype=np.float64)
    a = np.abs(x)
    out = np.empty_like(a)
    small = a < 1.0
    s = a[small]
    z = s * s
    p = np.full_like(z, _ERF_SERIES[-1])
    for c in _ERF_SERIES[-2::-1]:
        p *= z
        p += c
    out[small] = p * s
    big = ~small
    out[big] = 1.0 - _erfc_nonneg(a[big])
    return np.copysign(out, x)


def _sigmoid(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def _gelu(ctx, x):
    mode = ctx.attrs.str("approximation_mode", "erf").lower() if ctx.version >= 7 else "erf"
    if mode == "tanh":
        return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
    if mode != "erf":
        raise ctx.error(f"unsupported approximation_mode '{mode}'")
    # 0.5 * x * (1 + erf(x / sqrt(2))) written with erfc, whose fit is accurate relative to its value.
    e = _erfc_nonneg(np.abs(x).astype(np.float64) * _SQRT_HALF)
    return (0.5 * x * np.where(x >= 0, 2.0 - e, e)).astype(x.dtype, copy=False)


def _clamp(ctx, x):
    lo, hi = ctx.attrs.float("min"), ctx.attrs.float("max")
    if _is_int(x.dtype):
        lo, hi = math.ceil(lo), math.floor(hi)
    return _clip(x, lo, hi)


def _clip(x, lo, hi):
    """min(max(x, lo), hi) with maxNum/minNum: NaN gives ``lo``."""
    return np.fmin(np.fmax(x, lo), hi)


def _swish(ctx, x, beta=None):
    b = 1.0 if beta is None else _scalar(beta, x.dtype)
    return x * _sigmoid(b * x)


def _elu(ctx, x):
    alpha = ctx.attrs.float("alpha")
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _selu(ctx, x, alpha, lambda_):
    alpha, lambda_ = _scalar(alpha, x.dtype), _scalar(lambda_, x.dtype)
    return lambda_ * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _hard_sigmoid(ctx, x, alpha, beta):
    return np.fmax(0, np.fmin(1, _scalar(alpha, x.dtype) * x + _scalar(beta, x.dtype)))


def _round(ctx, x):
    mode = ctx.attrs.str("mode", "half_to_even").lower()
    if mode == "half_to_even":
        return np.rint(x)
    if mode == "half_away_from_zero":
        return np.copysign(np.floor(np.abs(x) + 0.5), x)
    raise ctx.error(f"unsupported rounding mode '{mode}'")


def _softplus(ctx, x):
    return np.logaddexp(np.zeros((), x.dtype), x)


def _mish(ctx, x):
    return x * np.tanh(np.logaddexp(np.zeros((), x.dtype), x))


def _identity_for_int(fn):
    return lambda ctx, x: x if x.dtype.kind in "iub" else fn(x)


_unary("Relu", lambda ctx, x: np.where(x > 0, x, np.zeros((), x.dtype)), float_math=False,
       doc="x where x > 0, else 0 (maxNum: NaN gives 0).")
_unary("Sigmoid", lambda ctx, x: _sigmoid(x))
_unary("Tanh", lambda ctx, x: np.tanh(x))
_unary("Clamp", _clamp, float_math=False, doc="Clip to [min, max] (attributes; rounded inwards for integers).")
_unary("Gelu", _gelu, versions=(2, 7), doc="GELU: exact erf form (v2), or approximation_mode erf/tanh (v7).")
_unary("Swish", _swish, versions=(4,), inputs=(1, 2),
       doc="x * sigmoid(beta * x), beta an optional scalar input (default 1).")
_unary("HSwish", lambda ctx, x: x * _clip(x + 3, 0, 6) / 6, versions=(4,))
_unary("HSigmoid", lambda ctx, x: _clip(x + 3, 0, 6) / 6, versions=(5,))
_unary("HardSigmoid", _hard_sigmoid, inputs=(3,),
       doc="max(0, min(1, alpha * x + beta)); alpha and beta are scalar inputs.")
_unary("Elu", _elu)
_unary("Selu", _selu, inputs=(3,),
       doc="lambda * (x if x > 0 else alpha * (exp(x) - 1)); alpha, lambda are scalar inputs.")
_unary("Exp", lambda ctx, x: np.exp(x))
_unary("Log", lambda ctx, x: np.log(x))
_unary("Sqrt", lambda ctx, x: np.sqrt(x))
_unary("Erf", lambda ctx, x: erf(x).astype(x.dtype))
_unary("Abs", lambda ctx, x: np.abs(x), float_math=False)
_unary("Negative", lambda ctx, x: np.negative(x), float_math=False)
_unary("Floor", _identity_for_int(np.floor), float_math=False)
_unary("Ceiling", _identity_for_int(np.ceil), float_math=False)
_unary("Round", _round, versions=(5,), doc="Round to integer, mode half_to_even or half_away_from_zero.")
_unary("Sign", lambda ctx, x: np.sign(x), float_math=False)
_unary("SoftPlus", _softplus, versions=(4,))
_unary("SoftSign", lambda ctx, x: x / (1 + np.abs(x)), versions=(9,))
_unary("Mish", _mish, versions=(4,))
_unary("Sin", lambda ctx, x: np.sin(x))
_unary("Cos", lambda ctx, x: np.cos(x))
_unary("Tan", lambda ctx, x: np.tan(x))
_unary("Atan", lambda ctx, x: np.arctan(x))
_unary("Asin", lambda ctx, x: np.arcsin(x))
_unary("Acos", lambda ctx, x: np.arccos(x))
_unary("Sinh", lambda ctx, x: np.sinh(x))
_unary("Cosh", lambda ctx, x: np.cosh(x))
_unary("Asinh", lambda ctx, x: np.arcsinh(x), versions=(3,))
_unary("Acosh", lambda ctx, x: np.arccosh(x), versions=(3,))
_unary("Atanh", lambda ctx, x: np.arctanh(x), versions=(3,))
_unary("BitwiseNot", lambda ctx, x: np.invert(x), versions=(13,), float_math=False, bool_ok=True)


@op("LogicalNot")
class LogicalNot:
    """Element-wise logical negation of a boolean tensor."""

    @staticmethod
    def infer(ctx):
        ctx.expect_inputs(1)
        if ctx.input_dtypes[0] != np.bool_:
            raise ctx.error(f"input must be boolean, got {ctx.input_dtypes[0]}")
        return [(ctx.input_shapes[0], np.bool_)]

    @staticmethod
    def compute(ctx, x):
        return np.logical_not(x)


@op("PRelu")
class PRelu:
    """x if x >= 0 else slope * x; a 1-D slope of size C applies along channel axis 1, else numpy broadcast."""

    @staticmethod
    def _slope_shape(ctx, data_shape, slope_shape):
        if len(slope_shape) == 1 and len(data_shape) >= 2 and slope_shape[0] == data_shape[1] != 1:
            return (1, slope_shape[0]) + (1,) * (len(data_shape) - 2)
        try:
            if tuple(np.broadcast_shapes(data_shape, slope_shape)) != tuple(data_shape):
                raise ValueError
        except ValueError:
            raise ctx.error(f"slope shape {slope_shape} does not broadcast to data shape {data_shape}") from None
        return slope_shape

    @staticmethod
    def infer(ctx):
        ctx.expect_inputs(2)
        if ctx.input_dtypes[0] != ctx.input_dtypes[1]:
            raise ctx.error(f"data and slope have different element types {ctx.input_dtypes}")
        PRelu._slope_shape(ctx, *ctx.input_shapes)
        return [(ctx.input_shapes[0], ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x, slope):
        slope = np.asarray(slope).reshape(PRelu._slope_shape(ctx, np.shape(x), np.shape(slope)))
        return np.where(x < 0, x * slope, x).astype(x.dtype, copy=False)


@op("IsNaN", versions=(10,))
class IsNaN:
    """Element-wise test for NaN; boolean output."""

    @staticmethod
    def infer(ctx):
        return [(ctx.input_shapes[0], np.bool_)]

    @staticmethod
    def compute(ctx, x):
        return np.isnan(x)


@op("IsFinite", versions=(10,))
class IsFinite:
    """Element-wise test for finite values; boolean output."""

    @staticmethod
    def infer(ctx):
        return [(ctx.input_shapes[0], np.bool_)]

    @staticmethod
    def compute(ctx, x):
        return np.isfinite(x)


@op("IsInf", versions=(10,))
class IsInf:
    """Element-wise test for infinities, selected by detect_positive/detect_negative; boolean output."""

    @staticmethod
    def infer(ctx):
        return [(ctx.input_shapes[0], np.bool_)]

    @staticmethod
    def compute(ctx, x):
        pos, neg = ctx.attrs.bool("detect_positive", True), ctx.attrs.bool("detect_negative", True)
        return (np.isposinf(x) & pos) | (np.isneginf(x) & neg)


# ---------------------------------------------------------------------------
# Type conversion

def round_to_bf16(x):
    """float32 values rounded (nearest, ties to even) to bfloat16 precision, kept as float32."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    bits = x.view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000).astype(np.uint32).view(np.float32)
    return np.where(np.isnan(x), x, rounded)


def convert_array(ctx, x, dtype, bf16=False):
    """Convert ``x`` to ``dtype`` with OpenVINO's Convert semantics (``bf16``: round to bfloat16);
    floats become integers as ``ctx.numerics`` says."""
    x = np.asarray(x)
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        out = x != 0
        if x.dtype.kind == "f":
            out &= ~np.isnan(x)
        return out
    if dtype.kind in "iu" and x.dtype.kind == "f":
        return ctx.numerics.float_to_int(x, dtype)
    if bf16:
        return round_to_bf16(x.astype(np.float32))
    with np.errstate(over="ignore"):
        return x.astype(dtype)


@op("Convert")
class Convert:
    """Element-wise conversion to ``destination_type`` (bf16 is rounded to bf16 precision, stored as f32)."""

    @staticmethod
    def _target(ctx):
        name = canonical_element_type(ctx.attrs.str("destination_type"))
        if name is None:
            raise ctx.error(f"unsupported destination_type '{ctx.attrs.str('destination_type')}'")
        return name

    @staticmethod
    def infer(ctx):
        ctx.expect_inputs(1)
        return [(ctx.input_shapes[0], to_dtype(Convert._target(ctx)))]

    @staticmethod
    def compute(ctx, x):
        name = Convert._target(ctx)
        return convert_array(ctx, x, to_dtype(name), bf16=name == "bf16")


@op("ConvertLike")
class ConvertLike:
    """Convert the first input to the element type of the second."""

    @staticmethod
    def infer(ctx):
        ctx.expect_inputs(2)
        return [(ctx.input_shapes[0], ctx.input_dtypes[1])]

    @staticmethod
    def compute(ctx, x, like):
        return convert_array(ctx, x, np.asarray(like).dtype)
