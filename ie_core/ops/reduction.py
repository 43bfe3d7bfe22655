"""Reductions over a constant ``axes`` input (negative axes allowed) with ``keep_dims``."""

import numpy as np

from .registry import op


def reduce_axes(ctx):
    """The normalised, sorted axes to reduce; raises unless they are a constant within the input rank."""
    ctx.expect_inputs(2)
    rank = len(ctx.input_shapes[0])
    values = np.asarray(ctx.const_input(1, "axes"))
    if values.ndim > 1:
        raise ctx.error(f"axes must be a scalar or 1-D tensor, got shape {values.shape}")
    if values.dtype.kind not in "iu":
        raise ctx.error(f"axes must be integers, got {values.dtype}")
    axes = []
    for a in values.reshape(-1).tolist():
        if not -max(rank, 1) <= a < max(rank, 1):
            raise ctx.error(f"axis {a} is out of range for a rank-{rank} input")
        axes.append(a % rank if rank else 0)
    return tuple(sorted(set(axes)))


class _Reduce:
    """A reduction ``_fn(x, axes, keepdims)``; ``_logical`` ops require and produce booleans."""

    _logical = False
    axes = staticmethod(reduce_axes)

    @classmethod
    def infer(cls, ctx):
        axes = reduce_axes(ctx)
        dtype = ctx.input_dtypes[0]
        if cls._logical and dtype != np.bool_:
            raise ctx.error(f"input must be boolean, got {dtype}")
        shape = ctx.input_shapes[0]
        if ctx.attrs.bool("keep_dims", False):
            out = tuple(1 if i in axes else d for i, d in enumerate(shape))
        else:
            out = tuple(d for i, d in enumerate(shape) if i not in axes)
        return [(out, dtype)]

    @classmethod
    def compute(cls, ctx, x, _):
        axes = reduce_axes(ctx)
        keep = ctx.attrs.bool("keep_dims", False)
        dtype = ctx.input_dtypes[0]
        if x.ndim == 0 or not axes:
            return np.asarray(x).astype(dtype, copy=True)
        res = cls._fn(np.asarray(x), axes, keep)
        res = np.asarray(res)
        if dtype.kind in "iu" and res.dtype.kind == "f":
            res = np.trunc(res)
        return res.astype(dtype)


def _acc(x):
    """``x`` in the type sums accumulate in: float64 for floats, int64/uint64 for integers."""
    if x.dtype.kind == "f":
        return x.astype(np.float64)
    if x.dtype.kind == "u":
        return x.astype(np.uint64)
    return x.astype(np.int64)


@op("ReduceSum")
class ReduceSum(_Reduce):
    """Sum over axes."""

    @staticmethod
    def _fn(x, axes, keep):
        return _acc(x).sum(axis=axes, keepdims=keep)


@op("ReduceMean")
class ReduceMean(_Reduce):
    """Arithmetic mean over axes (integer inputs: truncated). A float32 sum is rounded to float32 before the
    division, as OpenVINO's CPU plugin sums in float32: a sum beyond the float32 range is an infinity."""

    @staticmethod
    def _fn(x, axes, keep):
        if x.dtype != np.float32:
            return x.astype(np.float64).mean(axis=axes, keepdims=keep)
        count = np.float32(np.prod([x.shape[a] for a in axes]))
        with np.errstate(over="ignore", invalid="ignore"):
            return _acc(x).sum(axis=axes, keepdims=keep).astype(np.float32) / count


@op("ReduceMax")
class ReduceMax(_Reduce):
    """Maximum over axes; NaNs are skipped (maxNum), a NaN only where all the values are."""

    @staticmethod
    def _fn(x, axes, keep):
        return np.fmax.reduce(x, axis=axes, keepdims=keep)


@op("ReduceMin")
class ReduceMin(_Reduce):
    """Minimum over axes; NaNs are skipped (minNum), a NaN only where all the values are."""

    @staticmethod
    def _fn(x, axes, keep):
        return np.fmin.reduce(x, axis=axes, keepdims=keep)


@op("ReduceProd")
class ReduceProd(_Reduce):
    """Product over axes."""

    @staticmethod
    def _fn(x, axes, keep):
        return _acc(x).prod(axis=axes, keepdims=keep)


@op("ReduceL1", versions=(4,))
class ReduceL1(_Reduce):
    """Sum of absolute values over axes."""

    @staticmethod
    def _fn(x, axes, keep):
        return np.abs(_acc(x)).sum(axis=axes, keepdims=keep)


@op("ReduceL2", versions=(4,))
class ReduceL2(_Reduce):
    """Square root of the sum of squares over axes."""

    @staticmethod
    def _fn(x, axes, keep):
        v = x.astype(np.float64)
        return np.sqrt((v * v).sum(axis=axes, keepdims=keep))


@op("ReduceLogicalAnd")
class ReduceLogicalAnd(_Reduce):
    """Logical AND over axes (boolean input)."""

    _logical = True

    @staticmethod
    def _fn(x, axes, keep):
        return np.all(x, axis=axes, keepdims=keep)


@op("ReduceLogicalOr")
class ReduceLogicalOr(_Reduce):
    """Logical OR over axes (boolean input)."""

    _logical = True

    @staticmethod
    def _fn(x, axes, keep):
        return np.any(x, axis=axes, keepdims=keep)
