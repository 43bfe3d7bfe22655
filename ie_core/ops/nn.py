"""Neural-network ops: convolutions, pooling, MatMul, normalisations, Softmax, Interpolate, TopK.

Every ``compute`` works on whole tensors with numpy (sliding-window views plus
BLAS matrix products); none loops over pixels.
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..limits import shape_problem
from .registry import op

# ----------------------------------------------------------------------------------------------
# shared helpers


def _work_dtype(dtype):
    """The float type an op computes in: float64 for float64 inputs, else float32 (or float64 for ints)."""
    dtype = np.dtype(dtype)
    if dtype == np.float64 or dtype.kind in "iub":
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def _cast_out(value, dtype):
    """``value`` cast to ``dtype``; float results going to an integer type are rounded and saturated."""
    dtype = np.dtype(dtype)
    value = np.asarray(value)
    if dtype.kind in "iu" and value.dtype.kind == "f":
        info = np.iinfo(dtype)
        value = np.clip(np.rint(value), info.min, info.max)  # ties to even, as OpenVINO's CPU plugin
    return value.astype(dtype, copy=False)


def _norm_axes(ctx, axes, rank, what="axes"):
    """``axes`` (an iterable of ints, negative allowed) as sorted non-negative ints; raises when out of range."""
    out = []
    for a in np.asarray(axes).reshape(-1).tolist():
        a = int(a)
        if not -rank <= a < rank:
            raise ctx.error(f"{what} value {a} is out of range for a rank-{rank} input")
        out.append(a % rank)
    if len(set(out)) != len(out):
        raise ctx.error(f"{what} {list(axes)} repeat an axis")
    return out


def _const_axes(ctx, index, rank, what="axes"):
    return _norm_axes(ctx, ctx.const_input(index, what), rank, what)


#: The largest magnitude of a sliding window's kernel, stride, dilation or pad (what native kernels take as
#: 32-bit sizes; no tensor of the tensor limit has a spatial axis this long).
MAX_WINDOW_ATTR = 2**31 - 1


def _spatial_list(ctx, key, n, default):
    """Attribute ``key`` as a list of ``n`` ints (``default`` when absent or empty), each at most
    MAX_WINDOW_ATTR in magnitude."""
    values = ctx.attrs.ints(key, None)
    if not values:
        return [default] * n
    if len(values) != n:
        raise ctx.error(f"attribute {key}={list(values)} must have {n} values (one per spatial axis)")
    if any(abs(v) > MAX_WINDOW_ATTR for v in values):
        raise ctx.error(f"attribute {key}={list(values)} is out of range (at most {MAX_WINDOW_ATTR} in magnitude)")
    return list(values)


def _auto_pad(ctx):
    mode = ctx.attrs.str("auto_pad", "explicit").lower() or "explicit"
    if mode == "notset":
        mode = "explicit"
    if mode not in ("explicit", "valid", "same_upper", "same_lower"):
        raise ctx.error(f"unknown auto_pad '{mode}'")
    return mode


def _window_pads(ctx, in_sizes, eff_kernel, strides, n):
    """(pads_begin, pads_end) after applying ``auto_pad`` for a forward sliding window (conv, pooling)."""
    mode = _auto_pad(ctx)
    if mode == "valid":
        return [0] * n, [0] * n
    if mode in ("same_upper", "same_lower"):
        pb, pe = [], []
        for size, k, s in zip(in_sizes, eff_kernel, strides):
            out = -(-size // s)
            total = max(0, (out - 1) * s + k - size)
            small, big = total // 2, total - total // 2
            pb.append(small if mode == "same_upper" else big)
            pe.append(big if mode == "same_upper" else small)
        return pb, pe
    return _spatial_list(ctx, "pads_begin", n, 0), _spatial_list(ctx, "pads_end", n, 0)


def _check_windows(ctx, data, kernel, out, pb, pe):
    """Raise unless the tensors the reference materialises for a sliding-window op fit the tensor limit: the
    padded input and the windows (N, C, *out, *kernel) it gathers (the im2col matrix of a convolution)."""
    dtype = ctx.input_dtypes[0]
    padded = tuple(data[:2]) + tuple(size + b + e for size, b, e in zip(data[2:], pb, pe))
    for what, shape in (("padded input", padded), ("windows", tuple(data[:2]) + tuple(out) + tuple(kernel))):
        problem = shape_problem(shape, dtype)
        if problem:
            raise ctx.error(f"the {what} of kernel {list(kernel)}: {problem}")


def _pad_crop(x, begin, end, value=0):
    """``x`` with its trailing ``len(begin)`` axes padded by ``value`` (negative amounts crop)."""
    lead = x.ndim - len(begin)
    crop = [slice(None)] * lead + [slice(max(0, -b), x.shape[lead + i] - max(0, -e))
                                   for i, (b, e) in enumerate(zip(begin, end))]
    x = x[tuple(crop)]
    widths = [(0, 0)] * lead + [(max(0, b), max(0, e)) for b, e in zip(begin, end)]
    if any(w != (0, 0) for w in widths):
        x = np.pad(x, widths, mode="constant", constant_values=value)
    return x


def _windows(x, kernel, strides, dilations, out_sizes):
    """A read-only view (N, C, *out, *kernel) of the sliding windows over the spatial axes of ``x``."""
    x = np.ascontiguousarray(x)
    n = len(kernel)
    lead = x.strides[: x.ndim - n]
    sp = x.strides[x.ndim - n:]
    shape = x.shape[: x.ndim - n] + tuple(out_sizes) + tuple(kernel)
    st = lead + tuple(s * t for s, t in zip(sp, strides)) + tuple(s * d for s, d in zip(sp, dilations))
    return as_strided(x, shape=shape, strides=st, writeable=False)


def _conv_nd(x, w, strides, dilations, pads_begin, pads_end):
    """Grouped N-d convolution: x (N, G*Cg, *S), w (G, Og, Cg, *K) -> (N, G*Og, *O), computed in x's dtype."""
    groups, og, cg = w.shape[:3]
    kernel = w.shape[3:]
    n = len(kernel)
    x = _pad_crop(x, pads_begin, pads_end)
    batch = x.shape[0]
    out = [(size - (k - 1) * d - 1) // s + 1 for size, k, s, d in zip(x.shape[2:], kernel, strides, dilations)]
    positions = int(np.prod(out))
    ksize = int(np.prod(kernel))
    if ksize == 1:
        if any(s != 1 for s in strides):
            x = x[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in strides)]
        cols = x.reshape(batch, groups, cg, positions)  # (N, G, Cg, P)
        res = np.matmul(w.reshape(groups, og, cg), cols)  # (N, G, Og, P)
        return res.reshape((batch, groups * og) + tuple(out))
    win = _windows(x, kernel, strides, dilations, out)  # (N, C, *O, *K)
    win = win.reshape((batch, groups, cg) + tuple(out) + tuple(kernel))
    # im2col: (G, Cg, *K, N, *O) -> (G, Cg*K, N*P); one matrix product per group
    order = (1, 2) + tuple(range(3 + n, 3 + 2 * n)) + (0,) + tuple(range(3, 3 + n))
    cols = win.transpose(order).reshape(groups, cg * ksize, batch * positions)
    res = np.matmul(w.reshape(groups, og, cg * ksize), cols)  # (G, Og, N*P)
    res = res.reshape((groups * og, batch) + tuple(out)).swapaxes(0, 1)
    return np.ascontiguousarray(res)


def _strides_dilations(ctx, n):
    strides = _spatial_list(ctx, "strides", n, 1)
    dilations = _spatial_list(ctx, "dilations", n, 1)
    if any(v <= 0 for v in strides + dilations):
        raise ctx.error(f"strides {strides} and dilations {dilations} must be positive")
    return strides, dilations


def _check_data_rank(ctx, shape, what="data"):
    if len(shape) < 3:
        raise ctx.error(f"{what} input must have rank >= 3 (N, C, spatial...), got shape {shape}")


# ----------------------------------------------------------------------------------------------
# convolutions


class _ConvBase:
    """Shared logic of Convolution and GroupConvolution (filters viewed as (G, C_out/G, C_in/G, *K))."""

    grouped = False

    @classmethod
    def geometry(cls, ctx):
        """The convolution's reading of its inputs and attributes: a dict of ``groups``, ``og`` and ``cg``
        (output and input channels per group), ``strides``, ``dilations``, ``pb`` and ``pe`` (the pads
        auto_pad resolves to) and ``out`` (the output's spatial dims); an error naming the layer when they
        do not fit."""
        ctx.expect_inputs(2)
        data, filt = ctx.input_shapes[:2]
        _check_data_rank(ctx, data)
        n = len(data) - 2
        extra = 1 if cls.grouped else 0
        if len(filt) != n + 2 + extra:
            raise ctx.error(f"filters shape {filt} must have rank {n + 2 + extra} for data shape {data}")
        if cls.grouped:
            groups, og, cg = filt[:3]
        else:
            groups, og, cg = 1, filt[0], filt[1]
        if groups * cg != data[1]:
            raise ctx.error(
                f"data has {data[1]} channels but filters {filt} expect {groups * cg} ({groups} groups x {cg})"
            )
        kernel = filt[2 + extra:]
        strides, dilations = _strides_dilations(ctx, n)
        eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
        pb, pe = _window_pads(ctx, data[2:], eff, strides, n)
        out = []
        for i in range(n):
            span = data[2 + i] + pb[i] + pe[i] - eff[i]
            if span < 0:
                raise ctx.error(f"the dilated kernel {eff[i]} is larger than the padded input on spatial axis {i}")
            out.append(span // strides[i] + 1)
        _check_windows(ctx, data, kernel, out, pb, pe)
        return dict(groups=groups, og=og, cg=cg, strides=strides, dilations=dilations, pb=pb, pe=pe, out=out)

    @classmethod
    def infer(cls, ctx):
        g = cls.geometry(ctx)
        data = ctx.input_shapes[0]
        return [((data[0], g["groups"] * g["og"]) + tuple(g["out"]), ctx.input_dtypes[0])]

    @classmethod
    def compute(cls, ctx, x, w):
        g = cls.geometry(ctx)
        wt = _work_dtype(x.dtype)
        w = np.asarray(w, dtype=wt).reshape((g["groups"], g["og"], g["cg"]) + w.shape[(3 if cls.grouped else 2):])
        res = _conv_nd(np.asarray(x, dtype=wt), w, g["strides"], g["dilations"], g["pb"], g["pe"])
        return _cast_out(res, ctx.input_dtypes[0])


@op("Convolution")
class Convolution(_ConvBase):
    """N-d convolution; filters (C_out, C_in, *K)."""


@op("GroupConvolution")
class GroupConvolution(_ConvBase):
    """Grouped (incl. depthwise) convolution; filters (G, C_out/G, C_in/G, *K)."""

    grouped = True


class _DeconvBase:
    """Shared logic of ConvolutionBackpropData and GroupConvolutionBackpropData (transposed convolution)."""

    grouped = False

    @classmethod
    def geometry(cls, ctx):
        """The transposed convolution's reading of its inputs and attributes: a dict of ``groups``, ``og``,
        ``cg``, ``kernel``, ``strides``, ``dilations``, ``pb`` (the begin pads) and ``out`` (the output's
        spatial dims)."""
        ctx.expect_inputs(2, 3)
        data, filt = ctx.input_shapes[:2]
        _check_data_rank(ctx, data)
        n = len(data) - 2
        extra = 1 if cls.grouped else 0
        if len(filt) != n + 2 + extra:
            raise ctx.error(f"filters shape {filt} must have rank {n + 2 + extra} for data shape {data}")
        if cls.grouped:
            groups, cg, og = filt[:3]
        else:
            groups, cg, og = 1, filt[0], filt[1]
        if groups * cg != data[1]:
            raise ctx.error(f"data has {data[1]} channels but filters {filt} expect {groups * cg}")
        kernel = filt[2 + extra:]
        strides, dilations = _strides_dilations(ctx, n)
        out_pad = _spatial_list(ctx, "output_padding", n, 0)
        mode = _auto_pad(ctx)
        full = [(size - 1) * s + (k - 1) * d + 1 for size, s, k, d in zip(data[2:], strides, kernel, dilations)]
        if len(ctx.input_shapes) == 3:
            out = [int(v) for v in np.asarray(ctx.const_input(2, "output_shape")).reshape(-1)]
            if len(out) != n:
                raise ctx.error(f"output_shape {out} must have {n} values")
            if mode in ("same_upper", "same_lower"):
                pb, pe = [], []
                for f, o, p in zip(full, out, out_pad):
                    total = max(0, f - o + p)
                    small, big = total // 2, total - total // 2
                    pb.append(big if mode == "same_upper" else small)
                    pe.append(small if mode == "same_upper" else big)
            elif mode == "valid":
                pb, pe = [0] * n, [0] * n
            else:
                pb, pe = _spatial_list(ctx, "pads_begin", n, 0), _spatial_list(ctx, "pads_end", n, 0)
        else:
            if mode == "explicit":
                pb, pe = _spatial_list(ctx, "pads_begin", n, 0), _spatial_list(ctx, "pads_end", n, 0)
            else:
                pb, pe = [0] * n, [0] * n
            out = [f - b - e + p for f, b, e, p in zip(full, pb, pe, out_pad)]
        if any(o <= 0 for o in out):
            raise ctx.error(f"computed output spatial shape {out} is not positive")
        return dict(groups=groups, og=og, cg=cg, kernel=kernel, strides=strides, dilations=dilations,
                    pb=pb, out=out)

    @classmethod
    def infer(cls, ctx):
        g = cls.geometry(ctx)
        data = ctx.input_shapes[0]
        return [((data[0], g["groups"] * g["og"]) + tuple(g["out"]), ctx.input_dtypes[0])]

    @classmethod
    def compute(cls, ctx, x, w, *_):
        g = cls.geometry(ctx)
        wt = _work_dtype(x.dtype)
        n = x.ndim - 2
        kernel, strides, dil = g["kernel"], g["strides"], g["dilations"]
        w = np.asarray(w, dtype=wt).reshape((g["groups"], g["cg"], g["og"]) + tuple(kernel))
        # transposed conv == stride-1 conv of the stride-dilated input with the flipped, transposed kernel
        w = np.flip(w.swapaxes(1, 2), axis=tuple(range(3, 3 + n)))
        x = np.asarray(x, dtype=wt)
        up = np.zeros(x.shape[:2] + tuple((s - 1) * st + 1 for s, st in zip(x.shape[2:], strides)), dtype=wt)
        up[(slice(None), slice(None)) + tuple(slice(None, None, st) for st in strides)] = x
        begin = [(k - 1) * d - p for k, d, p in zip(kernel, dil, g["pb"])]
        end = [o - size - b + (k - 1) * d for o, size, b, k, d in zip(g["out"], up.shape[2:], begin, kernel, dil)]
        res = _conv_nd(up, np.ascontiguousarray(w), [1] * n, dil, begin, end)
        return _cast_out(res, ctx.input_dtypes[0])


@op("ConvolutionBackpropData")
class ConvolutionBackpropData(_DeconvBase):
    """Transposed convolution; filters (C_in, C_out, *K); optional output_shape input."""


@op("GroupConvolutionBackpropData")
class GroupConvolutionBackpropData(_DeconvBase):
    """Grouped transposed convolution; filters (G, C_in/G, C_out/G, *K)."""

    grouped = True


# ----------------------------------------------------------------------------------------------
# pooling


def _pool_geometry(ctx):
    """Kernel, strides, dilations, pads and output spatial sizes of MaxPool/AvgPool."""
    data = ctx.input_shapes[0]
    if len(data) not in (3, 4, 5):
        raise ctx.error(f"expects a 3D, 4D or 5D input, got shape {data}")
    n = len(data) - 2
    kernel = list(ctx.attrs.ints("kernel"))
    if len(kernel) != n:
        raise ctx.error(f"kernel {kernel} must have {n} values for input shape {data}")
    strides = _spatial_list(ctx, "strides", n, 1)
    dilations = _spatial_list(ctx, "dilations", n, 1) if "dilations" in ctx.attrs else [1] * n
    if any(v <= 0 for v in kernel + strides + dilations):
        raise ctx.error("kernel, strides and dilations must be positive")
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    pb, pe = _window_pads(ctx, data[2:], eff, strides, n)
    rounding = ctx.attrs.str("rounding_type", "floor").lower()
    if rounding not in ("floor", "ceil", "ceil_torch"):
        raise ctx.error(f"unknown rounding_type '{rounding}'")
    out = []
    for i in range(n):
        size = data[2 + i]
        span = size + pb[i] + pe[i] - eff[i]
        if span < 0:
            raise ctx.error(f"the dilated kernel {eff[i]} is larger than the padded input on spatial axis {i}")
        o = (-(-span // strides[i]) if rounding != "floor" else span // strides[i]) + 1
        if rounding == "ceil_torch" and (o - 1) * strides[i] >= size + pb[i]:
            o -= 1
        out.append(o)
    _check_windows(ctx, data, kernel, out, pb, pe)
    return kernel, strides, dilations, pb, pe, out


def _pool_windows(x, kernel, strides, dilations, pb, pe, out, fill):
    """Windows view (N, C, *out, *kernel) over ``x`` padded with ``fill`` (also past the end for ceil modes)."""
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    need_end = [(o - 1) * s + e - size - b for o, s, e, size, b in zip(out, strides, eff, x.shape[2:], pb)]
    xp = _pad_crop(x, pb, need_end, fill)
    return _windows(xp, kernel, strides, dilations, out)


@op("MaxPool", versions=(1, 8, 14))
class MaxPool:
    """Max pooling; v8/v14 add dilations and a second output with flat argmax indices (from ``axis`` on)."""

    @staticmethod
    def infer(ctx):
        ctx.expect_inputs(1)
        *_, out = _pool_geometry(ctx)
        shape = ctx.input_shapes[0][:2] + tuple(out)
        specs = [(shape, ctx.input_dtypes[0])]
        if ctx.version >= 8:
            itype = ctx.attrs.str("index_element_type", "i64").lower()
            if itype not in ("i32", "i64"):
                raise ctx.error(f"index_element_type must be i32 or i64, got '{itype}'")
            rank = len(ctx.input_shapes[0])
            axis = ctx.attrs.int("axis", 0)
            if not -rank <= axis < rank:
                raise ctx.error(f"axis {axis} is out of range for a rank-{rank} input")
            specs.append((shape, np.int32 if itype == "i32" else np.int64))
        return specs

    @staticmethod
    def compute(ctx, x):
        kernel, strides, dil, pb, pe, out = _pool_geometry(ctx)
        # as OpenVINO's reference: a tap wins only if it is greater than the type's lowest value and the
        # taps before it, so padding and NaN never win and a window without a winner yields the lowest value
        if x.dtype.kind == "f":
            fill = np.finfo(x.dtype).min
            x = np.where(x > fill, x, fill)
        else:
            fill = np.iinfo(x.dtype).min if x.dtype.kind in "iu" else False
        win = _pool_windows(x, kernel, strides, dil, pb, pe, out, fill)
        n = len(kernel)
        flat = win.reshape(win.shape[: 2 + n] + (-1,))
        if ctx.version < 8:
            return flat.max(axis=-1)
        arg = flat.argmax(axis=-1)
        values = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
        # input coordinates of the chosen kernel taps -> flat index into the input
        koff = np.unravel_index(arg, kernel)
        shape = x.shape
        index = np.zeros(arg.shape, dtype=np.int64)
        inside = np.ones(arg.shape, dtype=bool)
        for i in range(n):
            o = np.arange(out[i]).reshape((-1,) + (1,) * (n - 1 - i))
            pos = o * strides[i] - pb[i] + koff[i] * dil[i]
            inside &= (pos >= 0) & (pos < shape[2 + i])
            index = index * shape[2 + i] + pos
        rank = x.ndim
        axis = ctx.attrs.int("axis", 0) % rank
        lead = np.zeros(arg.shape[:2], dtype=np.int64)
        if axis == 0:
            lead = (np.arange(shape[0])[:, None] * shape[1] + np.arange(shape[1])[None, :])
        elif axis == 1:
            lead = np.broadcast_to(np.arange(shape[1])[None, :], shape[:2])
        spatial = int(np.prod(shape[2:]))
        inside &= values > fill
        index = np.where(inside, index, 0)  # a window without a winner reports its slice's first element
        index = index + lead.reshape(lead.shape + (1,) * n) * spatial
        itype = np.int32 if ctx.attrs.str("index_element_type", "i64").lower() == "i32" else np.int64
        return [values, index.astype(itype)]


@op("AvgPool", versions=(1, 14, 16))
class AvgPool:
    """Average pooling; ``exclude-pad`` leaves padding out of the divisor; v16 adds dilations.

    With exclude-pad false and non-zero padding the divisor is the full kernel size (also for windows
    that ceil rounding lets run past the padding), as OpenVINO computes it.
    """

    @staticmethod
    def infer(ctx):
        ctx.expect_inputs(1)
        *_, out = _pool_geometry(ctx)
        return [(ctx.input_shapes[0][:2] + tuple(out), ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x):
        kernel, strides, dil, pb, pe, out = _pool_geometry(ctx)
        exclude = ctx.attrs.bool("exclude-pad", False)
        wt = _work_dtype(x.dtype)
        n = len(kernel)
        axes = tuple(range(2 + n, 2 + 2 * n))
        total = _pool_windows(np.asarray(x, dtype=wt), kernel, strides, dil, pb, pe, out, 0).sum(axis=axes)
        # divisor (as OpenVINO's CPU plugin): the whole kernel when padding counts and there is any;
        # otherwise the window's taps inside the input
        if not exclude and any(pb + pe):
            count = np.asarray(float(np.prod(kernel)), dtype=wt)
        else:
            mask = np.ones((1, 1) + x.shape[2:], dtype=wt)
            count = _pool_windows(mask, kernel, strides, dil, pb, pe, out, 0).sum(axis=axes)
        with np.errstate(invalid="ignore", divide="ignore"):
            res = np.where(count > 0, total / np.maximum(count, 1), 0)
        return _cast_out(res, ctx.input_dtypes[0])


def _adaptive_bounds(in_size, out_size):
    starts = np.floor(np.arange(out_size) * in_size / out_size).astype(np.int64)
    ends = np.ceil((np.arange(out_size) + 1) * in_size / out_size).astype(np.int64)
    return starts, ends


class _AdaptivePoolBase:
    @staticmethod
    def _out(ctx):
        data = ctx.input_shapes[0]
        if len(data) not in (3, 4, 5):
            raise ctx.error(f"expects a 3D, 4D or 5D input, got shape {data}")
        out = [int(v) for v in np.asarray(ctx.const_input(1, "output spatial shape")).reshape(-1)]
        if len(out) != len(data) - 2:
            raise ctx.error(f"output spatial shape {out} must have {len(data) - 2} values")
        return data[:2] + tuple(out)

    @staticmethod
    def _pool(x, out_shape, reduce_fn):
        """Applies ``reduce_fn(block, axes)`` to every adaptive bin; loops over output bins only."""
        n = x.ndim - 2
        for axis in range(n):
            starts, ends = _adaptive_bounds(x.shape[2 + axis], out_shape[2 + axis])
            parts = [reduce_fn(np.take(x, np.arange(s, e), axis=2 + axis), 2 + axis) for s, e in zip(starts, ends)]
            x = np.stack(parts, axis=2 + axis)
        return x


@op("AdaptiveAvgPool", versions=(8,))
class AdaptiveAvgPool(_AdaptivePoolBase):
    """Adaptive average pooling to a given output spatial shape (bins as in PyTorch)."""

    @classmethod
    def infer(cls, ctx):
        ctx.expect_inputs(2)
        return [(cls._out(ctx), ctx.input_dtypes[0])]

    @classmethod
    def compute(cls, ctx, x, _):
        wt = _work_dtype(x.dtype)
        res = cls._pool(np.asarray(x, dtype=wt), cls._out(ctx), lambda b, a: b.mean(axis=a))
        return _cast_out(res, ctx.input_dtypes[0])


@op("AdaptiveMaxPool", versions=(8,))
class AdaptiveMaxPool(_AdaptivePoolBase):
    """Adaptive max pooling; second output: flat spatial index of the maximum."""

    @classmethod
    def infer(cls, ctx):
        ctx.expect_inputs(2)
        itype = ctx.attrs.str("index_element_type", "i64").lower()
        shape = cls._out(ctx)
        return [(shape, ctx.input_dtypes[0]), (shape, np.int32 if itype == "i32" else np.int64)]

    @classmethod
    def compute(cls, ctx, x, _):
        shape = cls._out(ctx)
        n = x.ndim - 2
        flat_idx = np.arange(int(np.prod(x.shape[2:])), dtype=np.int64).reshape((1, 1) + x.shape[2:])
        flat_idx = np.broadcast_to(flat_idx, x.shape)
        # loops over output bins (few), each bin reduced over all (N, C) at once
        bins = [_adaptive_bounds(x.shape[2 + i], shape[2 + i]) for i in range(n)]
        values = np.empty(shape, dtype=x.dtype)
        index = np.empty(shape, dtype=np.int64)
        for pos in np.ndindex(*shape[2:]):
            sl = tuple(slice(bins[i][0][p], bins[i][1][p]) for i, p in enumerate(pos))
            blk = x[(slice(None), slice(None)) + sl].reshape(x.shape[:2] + (-1,))
            ids = flat_idx[(slice(None), slice(None)) + sl].reshape(x.shape[:2] + (-1,))
            arg = blk.argmax(axis=-1)[..., None]
            values[(slice(None), slice(None)) + pos] = np.take_along_axis(blk, arg, -1)[..., 0]
            index[(slice(None), slice(None)) + pos] = np.take_along_axis(ids, arg, -1)[..., 0]
        itype = np.int32 if ctx.attrs.str("index_element_type", "i64").lower() == "i32" else np.int64
        return [values, index.astype(itype)]


# ----------------------------------------------------------------------------------------------
# MatMul


@op("MatMul")
class MatMul:
    """Batched matrix product with optional transposes; 1-D operands as in numpy.matmul."""

    @staticmethod
    def _shapes(ctx):
        ctx.expect_inputs(2)
        a, b = ctx.input_shapes
        if len(a) == 0 or len(b) == 0:
            raise ctx.error(f"inputs must not be scalars, got shapes {a} and {b}")
        ta, tb = ctx.attrs.bool("transpose_a", False), ctx.attrs.bool("transpose_b", False)
        a2 = (1,) + a if len(a) == 1 else (a[:-2] + (a[-1], a[-2]) if ta else a)
        b2 = b + (1,) if len(b) == 1 else (b[:-2] + (b[-1], b[-2]) if tb else b)
        if a2[-1] != b2[-2]:
            raise ctx.error(f"inner dimensions do not match: A {a} (transpose_a={ta}) and B {b} (transpose_b={tb})")
        try:
            batch = np.broadcast_shapes(a2[:-2], b2[:-2])
        except ValueError:
            raise ctx.error(f"batch dimensions of {a} and {b} do not broadcast") from None
        out = tuple(batch) + ((a2[-2],) if len(a) > 1 else ()) + ((b2[-1],) if len(b) > 1 else ())
        return out

    @staticmethod
    def infer(ctx):
        out = MatMul._shapes(ctx)
        if ctx.input_dtypes[0] != ctx.input_dtypes[1]:
            raise ctx.error(f"input types differ: {ctx.input_dtypes[0]} and {ctx.input_dtypes[1]}")
        return [(out, ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, a, b):
        if a.ndim > 1 and ctx.attrs.bool("transpose_a", False):
            a = np.swapaxes(a, -1, -2)
        if b.ndim > 1 and ctx.attrs.bool("transpose_b", False):
            b = np.swapaxes(b, -1, -2)
        dtype = ctx.input_dtypes[0]
        if dtype.kind == "f":
            wt = _work_dtype(dtype)
            return _cast_out(np.matmul(a.astype(wt, copy=False), b.astype(wt, copy=False)), dtype)
        return np.matmul(a, b).astype(dtype)


@op("Einsum", versions=(7,))
class Einsum:
    """Einstein summation with an ``equation`` attribute (numpy.einsum semantics)."""

    @staticmethod
    def _equation(ctx):
        eq = ctx.attrs.str("equation").replace(" ", "")
        if "->" not in eq:
            raise ctx.error(f"equation '{eq}' must contain '->'")
        return eq

    @staticmethod
    def infer(ctx):
        eq = Einsum._equation(ctx)
        lhs, rhs = eq.split("->")
        terms = lhs.split(",")
        if len(terms) != len(ctx.input_shapes):
            raise ctx.error(f"equation '{eq}' does not match the {len(ctx.input_shapes)} inputs")
        dims, ellipsis = {}, ()
        for term, shape in zip(terms, ctx.input_shapes):
            labels = term.replace("...", ".")
            if "." in labels:
                at, count = labels.index("."), len(shape) - len(labels) + 1
                if count < 0:
                    raise ctx.error(f"term '{term}' has more labels than input shape {shape} has axes")
                try:
                    ellipsis = np.broadcast_shapes(ellipsis, shape[at:at + count])
                except ValueError:
                    raise ctx.error(f"ellipsis dimensions of {ctx.input_shapes} do not broadcast") from None
                labels, shape = labels.replace(".", ""), shape[:at] + shape[at + count:]
            if len(labels) != len(shape):
                raise ctx.error(f"term '{term}' does not fit input shape {shape}")
            for label, d in zip(labels, shape):
                known = dims.get(label, d)
                if known != d and 1 not in (known, d):
                    raise ctx.error(f"label '{label}' has sizes {known} and {d}")
                dims[label] = max(known, d)
        out = []
        for label in rhs.replace("...", "."):
            if label == ".":
                out.extend(ellipsis)
            elif label in dims:
                out.append(dims[label])
            else:
                raise ctx.error(f"output label '{label}' does not appear in the inputs of '{eq}'")
        return [(tuple(out), ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, *inputs):
        dtype = ctx.input_dtypes[0]
        wt = _work_dtype(dtype) if dtype.kind == "f" else dtype
        res = np.einsum(Einsum._equation(ctx), *[np.asarray(i, dtype=wt) for i in inputs], optimize=True)
        return _cast_out(res, dtype)


# ----------------------------------------------------------------------------------------------
# softmax and normalisations


def _axis_attr(ctx, allow_negative):
    rank = len(ctx.input_shapes[0])
    axis = ctx.attrs.int("axis", 1)
    if not (-rank <= axis < rank) or (axis < 0 and not allow_negative):
        raise ctx.error(f"axis {axis} is out of range for a rank-{rank} input")
    return axis % rank


def _float_input(ctx, index=0):
    if ctx.input_dtypes[index].kind != "f":
        raise ctx.error(f"input {index} must be a floating-point tensor, got {ctx.input_dtypes[index]}")


@op("SoftMax", versions=(1, 8))
class SoftMax:
    """exp(x) / sum(exp(x)) along ``axis`` (negative axis from v8)."""

    @staticmethod
    def infer(ctx):
        ctx.expect_inputs(1)
        _float_input(ctx)
        _axis_attr(ctx, ctx.version >= 8)
        return [(ctx.input_shapes[0], ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x):
        axis = _axis_attr(ctx, True)
        v = x.astype(_work_dtype(x.dtype))
        e = np.exp(v - v.max(axis=axis, keepdims=True))
        return _cast_out(e / e.sum(axis=axis, keepdims=True), x.dtype)


@op("LogSoftmax", versions=(5,))
class LogSoftmax:
    """x - log(sum(exp(x))) along ``axis`` (negative allowed)."""

    @staticmethod
    def infer(ctx):
        ctx.expect_inputs(1)
        _float_input(ctx)
        _axis_attr(ctx, True)
        return [(ctx.input_shapes[0], ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x):
        axis = _axis_attr(ctx, True)
        v = x.astype(_work_dtype(x.dtype))
        shifted = v - v.max(axis=axis, keepdims=True)
        return _cast_out(shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True)), x.dtype)


@op("MVN", versions=(1, 6))
class MVN:
    """Mean-variance normalisation: v1 over channels/spatial (or ``reduction_axes``), v6 over an axes input.

    v1 adds eps inside the square root (as OpenVINO runs it); v6 follows ``eps_mode``.
    """

    @staticmethod
    def axes(ctx):
        rank = len(ctx.input_shapes[0])
        if ctx.version >= 6:
            ctx.expect_inputs(2)
            return _const_axes(ctx, 1, rank)
        ctx.expect_inputs(1)
        if ctx.attrs.ints("reduction_axes", None):
            return _norm_axes(ctx, ctx.attrs.ints("reduction_axes"), rank, "reduction_axes")
        start = 1 if ctx.attrs.bool("across_channels", False) else 2
        return list(range(start, rank))

    @staticmethod
    def infer(ctx):
        _float_input(ctx)
        MVN.axes(ctx)
        if ctx.version >= 6 and ctx.attrs.str("eps_mode").lower() not in ("inside_sqrt", "outside_sqrt"):
            raise ctx.error(f"eps_mode must be inside_sqrt or outside_sqrt, got '{ctx.attrs.str('eps_mode')}'")
        return [(ctx.input_shapes[0], ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x, *_):
        axes = tuple(MVN.axes(ctx))
        v = x.astype(np.float64)
        centred = v - v.mean(axis=axes, keepdims=True)
        if ctx.attrs.bool("normalize_variance", ctx.version >= 6):
            eps = ctx.attrs.float("eps")
            var = (centred * centred).mean(axis=axes, keepdims=True)
            inside = ctx.version < 6 or ctx.attrs.str("eps_mode").lower() == "inside_sqrt"
            centred = centred / (np.sqrt(var + eps) if inside else np.sqrt(var) + eps)
        return _cast_out(centred, x.dtype)


@op("NormalizeL2")
class NormalizeL2:
    """x / sqrt(sum(x^2) over axes [+ or max] eps)."""

    @staticmethod
    def infer(ctx):
        ctx.expect_inputs(2)
        _float_input(ctx)
        _const_axes(ctx, 1, len(ctx.input_shapes[0]))
        if ctx.attrs.str("eps_mode").lower() not in ("add", "max"):
            raise ctx.error(f"eps_mode must be add or max, got '{ctx.attrs.str('eps_mode')}'")
        return [(ctx.input_shapes[0], ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x, _):
        axes = tuple(_const_axes(ctx, 1, x.ndim))
        v = x.astype(np.float64)
        sq = (v * v).sum(axis=axes, keepdims=True) if axes else v * v
        eps = ctx.attrs.float("eps")
        denom = sq + eps if ctx.attrs.str("eps_mode").lower() == "add" else np.maximum(sq, eps)
        return _cast_out(v / np.sqrt(denom), x.dtype)


@op("BatchNormInference", versions=(1, 5))
class BatchNormInference:
    """gamma * (x - mean) / sqrt(var + epsilon) + beta over channel axis 1.

    Inputs: v5 (data, gamma, beta, mean, variance); v1 (gamma, beta, data, mean, variance).
    """

    @staticmethod
    def order(ctx):
        return (0, 1, 2, 3, 4) if ctx.version >= 5 else (2, 0, 1, 3, 4)

    @staticmethod
    def infer(ctx):
        ctx.expect_inputs(5)
        order = BatchNormInference.order(ctx)
        data = ctx.input_shapes[order[0]]
        if len(data) < 2:
            raise ctx.error(f"data input must have rank >= 2, got shape {data}")
        for name, i in zip(("gamma", "beta", "mean", "variance"), order[1:]):
            if ctx.input_shapes[i] != (data[1],):
                raise ctx.error(f"{name} has shape {ctx.input_shapes[i]}, expected ({data[1]},) for data {data}")
        return [(data, ctx.input_dtypes[order[0]])]

    @staticmethod
    def compute(ctx, *inputs):
        x, gamma, beta, mean, var = (inputs[i] for i in BatchNormInference.order(ctx))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        eps = ctx.attrs.float("epsilon")
        g, b, m, v = (np.asarray(t, dtype=np.float64).reshape(shape) for t in (gamma, beta, mean, var))
        return _cast_out((x.astype(np.float64) - m) * (g / np.sqrt(v + eps)) + b, x.dtype)


@op("GroupNormalization", versions=(12,))
class GroupNormalization:
    """Normalises each of ``num_groups`` channel groups over its channels and spatial axes, then scale + bias."""

    @staticmethod
    def infer(ctx):
        ctx.expect_inputs(3)
        _float_input(ctx)
        data = ctx.input_shapes[0]
        if len(data) < 2:
            raise ctx.error(f"data input must have rank >= 2, got shape {data}")
        groups = ctx.attrs.int("num_groups")
        if groups <= 0 or data[1] % groups:
            raise ctx.error(f"num_groups={groups} does not divide the {data[1]} channels")
        for name, shape in zip(("scale", "bias"), ctx.input_shapes[1:]):
            if shape != (data[1],):
                raise ctx.error(f"{name} has shape {shape}, expected ({data[1]},)")
        return [(data, ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x, scale, bias):
        groups = ctx.attrs.int("num_groups")
        v = x.astype(np.float64).reshape(x.shape[0], groups, -1)
        v = v - v.mean(axis=-1, keepdims=True)
        v = v / np.sqrt((v * v).mean(axis=-1, keepdims=True) + ctx.attrs.float("epsilon"))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        scale, bias = (np.asarray(t, np.float64).reshape(shape) for t in (scale, bias))
        res = v.reshape(x.shape) * scale + bias
        return _cast_out(res, x.dtype)


@op("ScaledDotProductAttention", versions=(13,))
class ScaledDotProductAttention:
    """softmax(Q @ K^T * scale + mask) @ V; ``causal`` masks keys after the query position."""

    @staticmethod
    def infer(ctx):
        ctx.expect_inputs(3, 4, 5)
        q, k, v = ctx.input_shapes[:3]
        if min(len(q), len(k), len(v)) < 3:
            raise ctx.error(f"query/key/value must have rank >= 3, got {q}, {k}, {v}")
        if q[-1] != k[-1] or k[-2] != v[-2]:
            raise ctx.error(f"query {q}, key {k} and value {v} do not fit (E and S must match)")
        try:
            batch = np.broadcast_shapes(q[:-2], k[:-2], v[:-2])
            if len(ctx.input_shapes) > 3 and not ctx.attrs.bool("causal", False):
                np.broadcast_shapes(ctx.input_shapes[3], tuple(batch) + (q[-2], k[-2]))
        except ValueError:
            raise ctx.error(f"batch dimensions of {ctx.input_shapes} do not broadcast") from None
        return [(tuple(batch) + (q[-2], v[-1]), ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, q, k, v, mask=None, scale=None):
        wt = _work_dtype(q.dtype)
        q, k, v = (np.asarray(t, dtype=wt) for t in (q, k, v))
        scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else float(np.asarray(scale).reshape(-1)[0])
        logits = np.matmul(q, np.swapaxes(k, -1, -2)) * wt.type(scale)
        length, source = q.shape[-2], k.shape[-2]
        if ctx.attrs.bool("causal", False):
            logits = np.where(np.triu(np.ones((length, source), bool), 1), -np.inf, logits)
        elif mask is not None:
            mask = np.asarray(mask)
            logits = np.where(mask, logits, -np.inf) if mask.dtype == np.bool_ else logits + mask.astype(wt)
        logits = logits - logits.max(axis=-1, keepdims=True, initial=-np.inf)  # no keys: the output is zeros
        weights = np.exp(logits)
        weights /= weights.sum(axis=-1, keepdims=True)
        return _cast_out(np.matmul(weights, v), ctx.input_dtypes[0])


@op("LRN")
class LRN:
    """Local response normalisation: x / (bias + alpha / size^len(axes) * sum(x^2))^beta.

    The sum runs over [i - (size-1)//2, i + (size-1)//2] along each axis (an even size acts as size-1).
    """

    @staticmethod
    def infer(ctx):
        ctx.expect_inputs(2)
        _float_input(ctx)
        _const_axes(ctx, 1, len(ctx.input_shapes[0]))
        return [(ctx.input_shapes[0], ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x, _):
        axes = _const_axes(ctx, 1, x.ndim)
        size = ctx.attrs.int("size")
        alpha, beta, bias = ctx.attrs.float("alpha"), ctx.attrs.float("beta"), ctx.attrs.float("bias")
        v = x.astype(np.float64)
        sq = v * v
        half = (size - 1) // 2
        for axis in axes:  # window sum along each axis via cumulative sums
            n = sq.shape[axis]
            c = np.concatenate([np.zeros_like(np.take(sq, [0], axis=axis)), np.cumsum(sq, axis=axis)], axis=axis)
            idx = np.arange(n)
            lo, hi = np.clip(idx - half, 0, n), np.clip(idx + half + 1, 0, n)
            sq = np.take(c, hi, axis=axis) - np.take(c, lo, axis=axis)
        scale = alpha / (size ** len(axes))
        return _cast_out(v / (bias + scale * sq) ** beta, x.dtype)


# ----------------------------------------------------------------------------------------------
# Interpolate

_TRANSFORMS = ("half_pixel", "pytorch_half_pixel", "asymmetric", "tf_half_pixel_for_nn", "align_corners")
_NEAREST = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple")
_MODES = ("nearest", "linear", "linear_onnx", "cubic", "bilinear_pillow", "bicubic_pillow")


def _source_coords(out_len, in_len, scale, transform):
    """Source coordinate (float32, as OpenVINO computes it) of each output index along one axis."""
    f = np.float32
    x = np.arange(out_len, dtype=f)
    scale = f(scale)
    if scale == 1 or out_len == in_len:
        return x
    if transform == "pytorch_half_pixel":
        return (x + f(0.5)) / scale - f(0.5) if out_len > 1 else np.zeros_like(x)
    if transform == "asymmetric":
        return x / scale
    if transform == "tf_half_pixel_for_nn":
        return (x + f(0.5)) / scale
    if transform == "align_corners":
        return np.zeros_like(x) if out_len == 1 else x * f(in_len - 1) / f(out_len - 1)
    return (x + f(0.5)) / scale - f(0.5)


def _round_half_away(c):
    return np.sign(c) * np.floor(np.abs(c) + 0.5)


def _nearest_index(c, mode, downsample):
    if mode == "round_prefer_ceil":
        idx = _round_half_away(c)
    elif mode == "floor":
        idx = np.floor(c)
    elif mode == "ceil":
        idx = np.ceil(c)
    elif mode == "simple":
        idx = np.ceil(c) if downsample else np.trunc(c)
    else:
        idx = np.where(c == np.trunc(c) + np.float32(0.5), np.floor(c), _round_half_away(c))
    return idx.astype(np.int64)


def _interp_matrix(mode, coords, in_len, scale, cube_coeff, antialias_a):
    """(out_len, in_len) weight matrix for one axis in linear, linear_onnx or cubic mode."""
    out_len = len(coords)
    w = np.zeros((out_len, in_len), dtype=np.float64)
    rows = np.arange(out_len)
    c = coords.astype(np.float64)
    if mode == "linear_onnx":
        c = np.clip(c, 0, in_len - 1)
        i1 = np.minimum(c.astype(np.int64), in_len - 1)
        i2 = np.minimum(i1 + 1, in_len - 1)
        d1, d2 = np.abs(c - i1), np.abs(c - i2)
        same = i1 == i2
        d1, d2 = np.where(same, 0.5, d1), np.where(same, 0.5, d2)
        np.add.at(w, (rows, i1), d2)
        np.add.at(w, (rows, i2), d1)
    elif mode == "cubic":
        base = np.floor(c)
        t = np.abs(c - base)
        a = cube_coeff
        coeffs = [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
                  ((a + 2) * t - (a + 3)) * t * t + 1,
                  ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
                  ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a]
        for k in range(4):
            np.add.at(w, (rows, np.clip(base.astype(np.int64) - 1 + k, 0, in_len - 1)), coeffs[k])
    elif mode in ("bilinear_pillow", "bicubic_pillow"):  # Pillow's resampling filters (box = whole axis)
        scale = in_len / out_len
        filterscale = max(scale, 1.0)
        support = (1.0 if mode == "bilinear_pillow" else 2.0) * filterscale
        centre = (np.arange(out_len) + 0.5) * scale
        lo = np.maximum(np.trunc(centre - support + 0.5), 0).astype(np.int64)
        hi = np.minimum(np.trunc(centre + support + 0.5), in_len).astype(np.int64)
        taps = np.arange(in_len)[None, :]
        t = np.abs((taps - centre[:, None] + 0.5) / filterscale)
        if mode == "bilinear_pillow":
            f = np.maximum(0.0, 1.0 - t)
        else:
            a = cube_coeff
            f = np.where(t < 1, ((a + 2) * t - (a + 3)) * t * t + 1,
                         np.where(t < 2, (((t - 5) * t + 8) * t - 4) * a, 0.0))
        w = np.where((taps >= lo[:, None]) & (taps < hi[:, None]), f, 0.0)
        total = w.sum(axis=1, keepdims=True)
        w = np.where(total != 0, w / np.where(total != 0, total, 1), w)
    else:  # linear: triangle filter (widened when antialiasing), normalised over valid taps
        a = antialias_a
        r = 2 if scale > 1.0 else int(np.ceil(np.float32(2.0) / np.float32(a)))
        centre = _round_half_away(c).astype(np.int64)
        for shift in range(-r, r + 1):
            idx = centre + shift
            valid = (idx >= 0) & (idx < in_len)
            wt = a * np.maximum(0.0, 1.0 - np.abs(a * (c - idx)))
            np.add.at(w, (rows[valid], idx[valid]), wt[valid])
        total = w.sum(axis=1, keepdims=True)
        w = np.where(total > 0, w / np.where(total > 0, total, 1), 0)
    return w


def _apply_taps(v, axis, w):
    """``v`` resampled along ``axis`` by the (out, in) weight matrix ``w``, using only its non-zero taps."""
    taps = max(1, int((w != 0).sum(axis=1).max()))
    cols = np.argsort(w == 0, axis=1, kind="stable")[:, :taps]  # non-zero columns first
    weights = np.take_along_axis(w, cols, axis=1)
    shape = [1] * v.ndim
    shape[axis] = -1
    weights = weights.astype(v.dtype)
    res = np.take(v, cols[:, 0], axis=axis) * weights[:, 0].reshape(shape)
    for t in range(1, taps):
        res += np.take(v, cols[:, t], axis=axis) * weights[:, t].reshape(shape)
    return res


@op("Interpolate", versions=(1, 4, 11))
class Interpolate:
    """Resize along given axes (nearest, linear, linear_onnx, cubic, bilinear/bicubic_pillow) with pads.

    v1: (data, target spatial shape), attrs axes/mode/align_corners; v4: (data, sizes, scales[, axes]);
    v11: (data, scales_or_sizes[, axes]).
    """

    @staticmethod
    def plan(ctx):
        """Output shape, padded input shape, per-axis (axis, scale) list and the v4-style attributes."""
        data = ctx.input_shapes[0]
        rank = len(data)
        attrs = ctx.attrs
        pads_b = list(attrs.ints("pads_begin", ()) or ())
        pads_e = list(attrs.ints("pads_end", ()) or ())
        if len(pads_b) > rank or len(pads_e) > rank:
            raise ctx.error(f"pads_begin/pads_end longer than the input rank {rank}")
        pads_b += [0] * (rank - len(pads_b))
        pads_e += [0] * (rank - len(pads_e))
        padded = tuple(d + b + e for d, b, e in zip(data, pads_b, pads_e))
        out = list(padded)
        if ctx.version == 1:
            ctx.expect_inputs(2)
            axes = _norm_axes(ctx, attrs.ints("axes"), rank)
            sizes = [int(v) for v in np.asarray(ctx.const_input(1, "target spatial shape")).reshape(-1)]
            if len(sizes) != len(axes):
                raise ctx.error(f"target shape {sizes} must have one value per axis {axes}")
            for a, s in zip(axes, sizes):
                out[a] = s
            scales = [out[a] / padded[a] for a in axes]
            mode = attrs.str("mode").lower()
            if mode not in ("nearest", "linear", "cubic", "linear_onnx"):
                raise ctx.error(f"unsupported mode '{mode}'")
            if mode == "linear":
                if rank > 5:
                    raise ctx.error("mode 'linear' supports inputs up to rank 5")
                mode = "linear_onnx" if rank < 5 else "linear"
            transform = "asymmetric"
            if attrs.bool("align_corners", False):
                transform = "align_corners"
            elif mode in ("linear", "linear_onnx") and not any(pads_b + pads_e) and not (
                    rank == 4 and sorted(axes) == [2, 3]):
                transform = "half_pixel"
            plan = dict(mode=mode, transform=transform, nearest="simple", cube=-0.75,
                        antialias=attrs.bool("antialias", False))
            return tuple(out), padded, list(zip(axes, scales)), pads_b, pads_e, plan

        ctx.expect_inputs(*((3, 4) if ctx.version == 4 else (2, 3)))
        axes_index = 3 if ctx.version == 4 else 2
        if len(ctx.input_shapes) > axes_index:
            axes = _const_axes(ctx, axes_index, rank)
        else:
            axes = list(range(rank))
        calc = attrs.str("shape_calculation_mode").lower()
        if calc not in ("sizes", "scales"):
            raise ctx.error(f"shape_calculation_mode must be sizes or scales, got '{calc}'")
        if ctx.version == 4:
            source = 1 if calc == "sizes" else 2
        else:
            source = 1
        values = np.asarray(ctx.const_input(source, calc)).reshape(-1)
        if len(values) != len(axes):
            raise ctx.error(f"{calc} {values.tolist()} must have one value per axis {axes}")
        if calc == "sizes":
            for a, s in zip(axes, values):
                out[a] = int(s)
            scales = [np.float32(out[a]) / np.float32(padded[a]) for a in axes]
        else:
            scales = [np.float32(s) for s in values.astype(np.float32)]
            for a, s in zip(axes, scales):
                out[a] = int(np.float32(padded[a]) * np.float32(s + np.float32(1e-6)))
        mode = attrs.str("mode").lower()
        transform = attrs.str("coordinate_transformation_mode", "half_pixel").lower()
        nearest = attrs.str("nearest_mode", "round_prefer_floor").lower()
        if mode not in _MODES:
            raise ctx.error(f"unsupported interpolation mode '{mode}'")
        if transform not in _TRANSFORMS:
            raise ctx.error(f"unknown coordinate_transformation_mode '{transform}'")
        if nearest not in _NEAREST:
            raise ctx.error(f"unknown nearest_mode '{nearest}'")
        if mode.endswith("_pillow") and len(axes) != 2:
            raise ctx.error(f"mode '{mode}' needs exactly two axes, got {axes}")
        plan = dict(mode=mode, transform=transform, nearest=nearest, cube=attrs.float("cube_coeff", -0.75),
                    antialias=attrs.bool("antialias", False))
        return tuple(out), padded, list(zip(axes, scales)), pads_b, pads_e, plan

    @staticmethod
    def infer(ctx):
        out, *_ = Interpolate.plan(ctx)
        if any(d <= 0 for d in out):
            raise ctx.error(f"output shape {out} has non-positive dimensions")
        return [(out, ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x, *_):
        out, padded, axis_scales, pads_b, pads_e, plan = Interpolate.plan(ctx)
        x = _pad_crop(x, pads_b, pads_e) if any(pads_b + pads_e) else x
        mode = plan["mode"]
        if mode == "nearest":
            downsample = {a: s < 1 for a, s in axis_scales}
            for a, s in axis_scales:
                c = _source_coords(out[a], padded[a], s, plan["transform"])
                idx = np.clip(_nearest_index(c, plan["nearest"], downsample[a]), 0, padded[a] - 1)
                x = np.take(x, idx, axis=a)
            return x
        wt = _work_dtype(x.dtype)
        v = x.astype(wt)
        antialias = plan["antialias"] and any(s < 1 for _, s in axis_scales)
        pillow = mode.endswith("_pillow")
        # Pillow modes resample the second axis first and round integer data after each pass
        for a, s in (axis_scales[::-1] if pillow else axis_scales):
            if out[a] == padded[a] and mode != "linear":
                continue
            c = _source_coords(out[a], padded[a], s, plan["transform"])
            w = _interp_matrix(mode, c, padded[a], float(s), plan["cube"], float(s) if antialias else 1.0)
            v = _apply_taps(v, a, w)
            if pillow and x.dtype.kind in "iu":
                v = _cast_out(v, x.dtype).astype(wt)
        return _cast_out(v, x.dtype)


# ----------------------------------------------------------------------------------------------
# TopK


@op("TopK", versions=(1, 3, 11))
class TopK:
    """The k largest/smallest elements along ``axis`` and their indices; k is a constant input."""

    @staticmethod
    def _k_axis(ctx):
        ctx.expect_inputs(2)
        data = ctx.input_shapes[0]
        rank = len(data)
        if rank == 0:
            raise ctx.error("data input must not be a scalar")
        axis = ctx.attrs.int("axis")
        if not -rank <= axis < rank:
            raise ctx.error(f"axis {axis} is out of range for a rank-{rank} input")
        k = np.asarray(ctx.const_input(1, "k"))
        if k.size != 1:
            raise ctx.error(f"k must be a scalar, got shape {k.shape}")
        k = int(k.reshape(-1)[0])
        if k < 0:
            raise ctx.error(f"k must be non-negative, got {k}")
        axis %= rank
        if k > data[axis]:
            raise ctx.error(f"k={k} exceeds the size {data[axis]} of axis {axis}")
        return k, axis

    @staticmethod
    def infer(ctx):
        k, axis = TopK._k_axis(ctx)
        mode, sort = ctx.attrs.str("mode").lower(), ctx.attrs.str("sort").lower()
        if mode not in ("max", "min"):
            raise ctx.error(f"mode must be max or min, got '{mode}'")
        if sort not in ("value", "index", "none"):
            raise ctx.error(f"sort must be value, index or none, got '{sort}'")
        itype = ctx.attrs.str("index_element_type", "i32").lower()
        if itype not in ("i32", "i64"):
            raise ctx.error(f"index_element_type must be i32 or i64, got '{itype}'")
        shape = list(ctx.input_shapes[0])
        shape[axis] = k
        return [(tuple(shape), ctx.input_dtypes[0]), (tuple(shape), np.int32 if itype == "i32" else np.int64)]

    @staticmethod
    def compute(ctx, x, _):
        k, axis = TopK._k_axis(ctx)
        mode, sort = ctx.attrs.str("mode").lower(), ctx.attrs.str("sort").lower()
        key = x
        if mode == "max":  # descending order as an ascending sort of an order-reversing key
            key = np.invert(x) if x.dtype.kind in "iub" else -x
        # stable sort: among equal values the lower index comes first
        order = np.argsort(key, axis=axis, kind="stable")
        idx = np.take(order, np.arange(k), axis=axis)
        if sort == "index":
            idx = np.sort(idx, axis=axis)
        values = np.take_along_axis(x, idx, axis=axis)
        itype = np.int32 if ctx.attrs.str("index_element_type", "i32").lower() == "i32" else np.int64
        return [values, idx.astype(itype)]
