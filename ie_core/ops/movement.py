"""Data movement and shape ops: concatenation, splitting, reshaping, slicing, gathering,
scattering, broadcasting, padding and friends.

Shape arguments (target shapes, axes, slice bounds, pads, ...) must be constants
known at load time; ``infer`` reads them from ``ctx.input_values``.
"""

import math

import numpy as np

from ..types import to_dtype
from .elementwise import _pdpd_target_shape, pdpd_axis
from .registry import op

# ---------------------------------------------------------------------------
# Helpers


def _norm_axis(ctx, axis, rank, what="axis"):
    """``axis`` in [-rank, rank-1] made non-negative; raises naming the layer otherwise."""
    axis = int(axis)
    if not -rank <= axis < rank:
        raise ctx.error(f"{what} {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def _const_ints(ctx, index, what):
    """A constant integer input as a list of Python ints."""
    value = np.asarray(ctx.const_input(index, what))
    if value.dtype.kind not in "iu":
        if value.dtype.kind == "f" and np.all(np.isfinite(value)) and np.all(value == np.trunc(value)):
            value = value.astype(np.int64)
        else:
            raise ctx.error(f"input {index} ({what}) must hold integers, got {value.dtype}")
    return [int(v) for v in value.reshape(-1)]


def _const_scalar_int(ctx, index, what):
    values = _const_ints(ctx, index, what)
    if len(values) != 1:
        raise ctx.error(f"input {index} ({what}) must be a scalar, got {len(values)} values")
    return values[0]


def _sliced_shape(shape, index):
    """The shape of ``x[index]`` for an ``x`` of ``shape``, computed without allocating data."""
    return np.broadcast_to(np.empty((), np.int8), shape)[index].shape


def _check_int_dtype(ctx, index, what):
    if ctx.input_dtypes[index].kind not in "iu":
        raise ctx.error(f"input {index} ({what}) must be an integer tensor, got {ctx.input_dtypes[index]}")


# ---------------------------------------------------------------------------
# Concat / split


@op("Concat")
class Concat:
    """Concatenation of all inputs along ``axis`` (negative counts from the end)."""

    @staticmethod
    def axis(ctx):
        if not ctx.input_shapes:
            raise ctx.error("expects at least 1 input")
        rank = len(ctx.input_shapes[0])
        if rank == 0:
            raise ctx.error("cannot concatenate scalars")
        return _norm_axis(ctx, ctx.attrs.int("axis"), rank)

    @staticmethod
    def infer(ctx):
        axis = Concat.axis(ctx)
        first = ctx.input_shapes[0]
        for i, (s, d) in enumerate(zip(ctx.input_shapes, ctx.input_dtypes)):
            if d != ctx.input_dtypes[0]:
                raise ctx.error(f"input {i} has element type {d}, input 0 has {ctx.input_dtypes[0]}")
            if len(s) != len(first) or any(a != b for k, (a, b) in enumerate(zip(s, first)) if k != axis):
                raise ctx.error(f"input {i} shape {s} does not match input 0 shape {first} outside axis {axis}")
        out = list(first)
        out[axis] = sum(s[axis] for s in ctx.input_shapes)
        return [(tuple(out), ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, *xs):
        return np.concatenate(xs, axis=Concat.axis(ctx))


def _split_outputs(ctx, lengths, axis):
    shape = ctx.input_shapes[0]
    outs = []
    for n in lengths:
        s = list(shape)
        s[axis] = n
        outs.append((tuple(s), ctx.input_dtypes[0]))
    return outs


def _split_compute(x, lengths, axis):
    bounds = np.cumsum(lengths)[:-1]
    return [np.ascontiguousarray(p) for p in np.split(x, bounds, axis=axis)]


@op("Split")
class Split:
    """Split along the constant ``axis`` input into ``num_splits`` equal parts."""

    @staticmethod
    def plan(ctx):
        ctx.expect_inputs(2)
        shape = ctx.input_shapes[0]
        axis = _norm_axis(ctx, _const_scalar_int(ctx, 1, "axis"), len(shape))
        n = ctx.attrs.int("num_splits")
        if n <= 0 or shape[axis] % n:
            raise ctx.error(f"dimension {shape[axis]} of axis {axis} cannot be split into {n} equal parts")
        return [shape[axis] // n] * n, axis

    @staticmethod
    def infer(ctx):
        lengths, axis = Split.plan(ctx)
        return _split_outputs(ctx, lengths, axis)

    @staticmethod
    def compute(ctx, x, _axis):
        lengths, axis = Split.plan(ctx)
        return _split_compute(x, lengths, axis)


@op("VariadicSplit")
class VariadicSplit:
    """Split along the constant ``axis`` input into parts of the given ``split_lengths`` (one may be -1)."""

    @staticmethod
    def plan(ctx):
        ctx.expect_inputs(3)
        shape = ctx.input_shapes[0]
        axis = _norm_axis(ctx, _const_scalar_int(ctx, 1, "axis"), len(shape))
        lengths = _const_ints(ctx, 2, "split_lengths")
        dim = shape[axis]
        if lengths.count(-1) > 1 or any(v < -1 for v in lengths):
            raise ctx.error(f"split_lengths {lengths} may hold at most one -1 and no other negative value")
        known = sum(v for v in lengths if v != -1)
        if -1 in lengths:
            if known > dim:
                raise ctx.error(f"split_lengths {lengths} exceed dimension {dim} of axis {axis}")
            lengths = [dim - known if v == -1 else v for v in lengths]
        elif known != dim:
            raise ctx.error(f"split_lengths {lengths} do not sum to dimension {dim} of axis {axis}")
        return lengths, axis

    @staticmethod
    def infer(ctx):
        lengths, axis = VariadicSplit.plan(ctx)
        return _split_outputs(ctx, lengths, axis)

    @staticmethod
    def compute(ctx, x, _axis, _lengths):
        lengths, axis = VariadicSplit.plan(ctx)
        return _split_compute(x, lengths, axis)


# ---------------------------------------------------------------------------
# Reshaping


@op("Reshape")
class Reshape:
    """Reshape to the constant target shape: -1 infers a dimension, 0 copies the input's when special_zero."""

    @staticmethod
    def _shape(ctx):
        ctx.expect_inputs(2)
        _check_int_dtype(ctx, 1, "target shape")
        target = _const_ints(ctx, 1, "target shape")
        src = ctx.input_shapes[0]
        special_zero = ctx.attrs.bool("special_zero", False)
        out = []
        for i, d in enumerate(target):
            if d == 0 and special_zero:
                if i >= len(src):
                    raise ctx.error(f"target shape {target}: 0 at index {i} has no input dimension to copy ({src})")
                d = src[i]
            elif d < -1:
                raise ctx.error(f"target shape {target} has an invalid dimension {d}")
            out.append(d)
        total = math.prod(src)
        if out.count(-1) > 1:
            raise ctx.error(f"target shape {target} has more than one -1")
        if -1 in out:
            known = math.prod(d for d in out if d != -1)
            if known == 0 or total % known:
                raise ctx.error(f"cannot reshape {src} ({total} elements) to {target}")
            out[out.index(-1)] = total // known
        if math.prod(out) != total:
            raise ctx.error(f"cannot reshape {src} ({total} elements) to {tuple(out)}: element counts differ")
        return tuple(out)

    @staticmethod
    def infer(ctx):
        return [(Reshape._shape(ctx), ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x, _shape):
        return np.reshape(x, Reshape._shape(ctx))


@op("Squeeze", versions=(1, 15))
class Squeeze:
    """Remove dimensions of size 1: all of them (no or empty axes input), or those listed in axes.

    Listed axes whose dimension is not 1 are kept (behaviour since OpenVINO 2024.3, for v1 and v15).
    """

    @staticmethod
    def _shape(ctx):
        ctx.expect_inputs(1, 2)
        src = ctx.input_shapes[0]
        values = _const_ints(ctx, 1, "axes") if len(ctx.input_shapes) == 2 else []
        if not values:
            return tuple(d for d in src if d != 1)
        axes = {_norm_axis(ctx, a, len(src), "squeeze axis") for a in values}
        return tuple(d for i, d in enumerate(src) if not (i in axes and d == 1))

    @staticmethod
    def infer(ctx):
        return [(Squeeze._shape(ctx), ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x, *_axes):
        return np.reshape(x, Squeeze._shape(ctx))


@op("Unsqueeze")
class Unsqueeze:
    """Insert dimensions of size 1 at the given axes (of the output)."""

    @staticmethod
    def _shape(ctx):
        ctx.expect_inputs(2)
        src = ctx.input_shapes[0]
        values = _const_ints(ctx, 1, "axes")
        rank = len(src) + len(values)
        axes = [_norm_axis(ctx, a, rank, "unsqueeze axis") for a in values]
        if len(set(axes)) != len(axes):
            raise ctx.error(f"axes {values} repeat an axis")
        it = iter(src)
        return tuple(1 if i in axes else next(it) for i in range(rank))

    @staticmethod
    def infer(ctx):
        return [(Unsqueeze._shape(ctx), ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x, _axes):
        return np.reshape(x, Unsqueeze._shape(ctx))


@op("Transpose")
class Transpose:
    """Permute dimensions by the constant order input; an empty order reverses them."""

    @staticmethod
    def order(ctx):
        ctx.expect_inputs(2)
        rank = len(ctx.input_shapes[0])
        order = _const_ints(ctx, 1, "order")
        if not order:
            return tuple(range(rank))[::-1]
        if len(order) != rank:
            raise ctx.error(f"order {order} has {len(order)} entries for a rank-{rank} input")
        order = tuple(_norm_axis(ctx, a, rank, "order entry") for a in order)
        if sorted(order) != list(range(rank)):
            raise ctx.error(f"order {order} is not a permutation of the {rank} axes")
        return order

    @staticmethod
    def infer(ctx):
        order = Transpose.order(ctx)
        return [(tuple(ctx.input_shapes[0][a] for a in order), ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x, _order):
        return np.transpose(x, Transpose.order(ctx))


# ---------------------------------------------------------------------------
# Slicing


def _mask(ctx, name, n):
    bits = list(ctx.attrs.ints(name, ()))
    return [bool(b) for b in (bits + [0] * n)[:n]]


@op("StridedSlice")
class StridedSlice:
    """Numpy-style strided slicing driven by begin/end/stride inputs and masks.

    A 1 in begin_mask/end_mask means the begin/end value is ignored (slice from
    the start / to the end); new_axis_mask inserts a dimension, shrink_axis_mask
    takes a single index and drops the dimension, ellipsis_mask expands to all
    remaining dimensions.
    """

    @staticmethod
    def _slice(size, begin, end, stride, begin_masked, end_masked):
        """A Python slice selecting what OpenVINO selects: begin/end are clamped to the dimension
        (for a negative stride begin to [0, size-1], end to [-1, size], -1 meaning before the start)."""
        reverse = stride < 0
        if begin_masked:
            begin = size - 1 if reverse else 0
        elif begin < 0:
            begin += size
        begin = max(0, min(size - 1 if reverse else size, begin))
        if end_masked:
            end = -1 if reverse else size
        elif end < 0:
            end += size
        end = max(-1 if reverse else 0, min(size, end))
        return slice(begin, None if end < 0 else end, stride)

    @staticmethod
    def _index(ctx):
        ctx.expect_inputs(3, 4)
        shape = ctx.input_shapes[0]
        begin = _const_ints(ctx, 1, "begin")
        end = _const_ints(ctx, 2, "end")
        stride = _const_ints(ctx, 3, "stride") if len(ctx.input_shapes) == 4 else [1] * len(begin)
        n = len(begin)
        if len(end) != n or len(stride) != n:
            raise ctx.error(f"begin {begin}, end {end} and stride {stride} must have the same length")
        if any(s == 0 for s in stride):
            raise ctx.error(f"stride {stride} contains 0")
        bmask, emask = _mask(ctx, "begin_mask", n), _mask(ctx, "end_mask", n)
        new_axis, shrink = _mask(ctx, "new_axis_mask", n), _mask(ctx, "shrink_axis_mask", n)
        ellipsis = _mask(ctx, "ellipsis_mask", n)
        if sum(ellipsis) > 1:
            raise ctx.error("ellipsis_mask has more than one bit set")
        consumed = sum(1 for i in range(n) if not new_axis[i] and (shrink[i] or not ellipsis[i]))
        if consumed > len(shape):
            raise ctx.error(f"{consumed} slice entries for an input of rank {len(shape)}")
        index, dim = [], 0
        for i in range(n):
            if new_axis[i]:
                index.append(None)
            elif shrink[i]:
                size = shape[dim]
                b = begin[i]
                if not -size <= b < size:
                    raise ctx.error(f"shrink index {b} is out of range for dimension {size}")
                index.append(0 if bmask[i] else b + size if b < 0 else b)
                dim += 1
            elif ellipsis[i]:
                span = len(shape) - consumed
                index.extend([slice(None)] * span)
                dim += span
            else:
                index.append(StridedSlice._slice(shape[dim], begin[i], end[i], stride[i], bmask[i], emask[i]))
                dim += 1
        return tuple(index)

    @staticmethod
    def infer(ctx):
        return [(_sliced_shape(ctx.input_shapes[0], StridedSlice._index(ctx)), ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x, *_args):
        return np.ascontiguousarray(np.asarray(x)[StridedSlice._index(ctx)])


@op("Slice", versions=(8,))
class Slice:
    """Python-style slicing: start/stop/step per axis (axes input optional, default 0..n-1).

    Out-of-range bounds are clamped as in StridedSlice (a negative step starts at index 0 at the least).
    """

    @staticmethod
    def _index(ctx):
        ctx.expect_inputs(4, 5)
        shape = ctx.input_shapes[0]
        start, stop = _const_ints(ctx, 1, "start"), _const_ints(ctx, 2, "stop")
        step = _const_ints(ctx, 3, "step")
        n = len(start)
        axes = _const_ints(ctx, 4, "axes") if len(ctx.input_shapes) == 5 else list(range(n))
        if not (len(stop) == len(step) == len(axes) == n):
            raise ctx.error(f"start {start}, stop {stop}, step {step}, axes {axes} must have the same length")
        if any(s == 0 for s in step):
            raise ctx.error(f"step {step} contains 0")
        axes = [_norm_axis(ctx, a, len(shape), "slice axis") for a in axes]
        if len(set(axes)) != len(axes):
            raise ctx.error(f"axes {axes} repeat an axis")
        index = [slice(None)] * len(shape)
        for a, b, e, s in zip(axes, start, stop, step):
            index[a] = StridedSlice._slice(shape[a], b, e, s, False, False)
        return tuple(index)

    @staticmethod
    def infer(ctx):
        return [(_sliced_shape(ctx.input_shapes[0], Slice._index(ctx)), ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x, *_args):
        return np.ascontiguousarray(np.asarray(x)[Slice._index(ctx)])


# ---------------------------------------------------------------------------
# Gathering


@op("Gather", versions=(1, 7, 8))
class Gather:
    """Take slices along ``axis`` at ``indices``, with ``batch_dims`` leading batch dimensions (v7+).

    Negative indices count from the end; indices out of range give zeros (v8).
    """

    @staticmethod
    def plan(ctx):
        ctx.expect_inputs(3)
        _check_int_dtype(ctx, 1, "indices")
        data, idx = ctx.input_shapes[0], ctx.input_shapes[1]
        batch_dims = ctx.attrs.int("batch_dims", 0) if ctx.version >= 7 else 0
        if batch_dims < 0:
            batch_dims += len(idx)
        if not 0 <= batch_dims <= min(len(idx), len(data)):
            raise ctx.error(f"batch_dims {batch_dims} is out of range for indices rank {len(idx)}")
        axis = _norm_axis(ctx, _const_scalar_int(ctx, 2, "axis"), len(data))
        if axis < batch_dims:
            raise ctx.error(f"axis {axis} must not be less than batch_dims {batch_dims}")
        if data[:batch_dims] != idx[:batch_dims]:
            raise ctx.error(f"batch dimensions of data {data} and indices {idx} differ")
        return axis, batch_dims

    @staticmethod
    def infer(ctx):
        axis, b = Gather.plan(ctx)
        data, idx = ctx.input_shapes[0], ctx.input_shapes[1]
        return [(data[:axis] + idx[b:] + data[axis + 1:], ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x, indices, _axis):
        axis, b = Gather.plan(ctx)
        x, indices = np.asarray(x), np.asarray(indices).astype(np.int64)
        dim = x.shape[axis]
        indices = np.where(indices < 0, indices + dim, indices)
        valid = (indices >= 0) & (indices < dim)
        all_valid = bool(valid.all())
        safe = indices if all_valid else np.where(valid, indices, 0)
        out_shape = x.shape[:axis] + indices.shape[b:] + x.shape[axis + 1:]
        if b == 0:
            out = np.take(x, safe, axis=axis)
            if not all_valid:
                mask = valid.reshape((1,) * axis + valid.shape + (1,) * (x.ndim - axis - 1))
                out = np.where(mask, out, np.zeros((), x.dtype))
            return out
        batch = int(np.prod(x.shape[:b], dtype=np.int64))
        outer = int(np.prod(x.shape[b:axis], dtype=np.int64))
        inner = int(np.prod(x.shape[axis + 1:], dtype=np.int64))
        xr = x.reshape(batch, outer, dim, inner)
        ir = safe.reshape(batch, -1)
        out = xr[np.arange(batch)[:, None], :, ir, :]  # (batch, k, outer, inner)
        if not all_valid:
            out = np.where(valid.reshape(batch, -1, 1, 1), out, np.zeros((), x.dtype))
        return np.ascontiguousarray(out.transpose(0, 2, 1, 3)).reshape(out_shape)


@op("GatherElements", versions=(6,))
class GatherElements:
    """out[i][j][k] = data[i][indices[i][j][k]][k] for axis 1 (likewise for other axes)."""

    @staticmethod
    def axis(ctx):
        ctx.expect_inputs(2)
        _check_int_dtype(ctx, 1, "indices")
        data, idx = ctx.input_shapes
        if len(data) != len(idx):
            raise ctx.error(f"data {data} and indices {idx} must have the same rank")
        axis = _norm_axis(ctx, ctx.attrs.int("axis"), len(data))
        for i, (d, k) in enumerate(zip(data, idx)):
            if i != axis and d != k:
                raise ctx.error(f"data {data} and indices {idx} differ in dimension {i}")
        return axis

    @staticmethod
    def infer(ctx):
        GatherElements.axis(ctx)
        return [(ctx.input_shapes[1], ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x, indices):
        axis = GatherElements.axis(ctx)
        indices = np.asarray(indices).astype(np.int64)
        indices = np.where(indices < 0, indices + x.shape[axis], indices)
        return np.take_along_axis(np.asarray(x), indices, axis=axis)


@op("GatherND", versions=(5, 8))
class GatherND:
    """Gather slices of data addressed by the last dimension of indices, after batch_dims batch dimensions.

    v5 flattens the batch dimensions of the output into one; v8 keeps them.
    """

    @staticmethod
    def plan(ctx):
        ctx.expect_inputs(2)
        _check_int_dtype(ctx, 1, "indices")
        data, idx = ctx.input_shapes
        b = ctx.attrs.int("batch_dims", 0)
        if len(idx) < 1 or not 0 <= b < len(idx):
            raise ctx.error(f"batch_dims {b} is out of range for indices of shape {idx}")
        k = idx[-1]
        if b + k > len(data):
            raise ctx.error(f"indices last dimension {k} plus batch_dims {b} exceeds data rank {len(data)}")
        if data[:b] != idx[:b]:
            raise ctx.error(f"batch dimensions of data {data} and indices {idx} differ")
        if ctx.version >= 8:
            out = idx[:-1] + data[b + k:]
        else:
            out = (int(np.prod(idx[:b], dtype=np.int64)),) + idx[b:-1] + data[b + k:] if b else idx[:-1] + data[k:]
        return b, k, out

    @staticmethod
    def infer(ctx):
        _, _, out = GatherND.plan(ctx)
        return [(out, ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x, indices):
        b, k, out_shape = GatherND.plan(ctx)
        x = np.asarray(x)
        indices = np.asarray(indices).astype(np.int64)
        dims = np.array(x.shape[b:b + k], dtype=np.int64)
        indices = np.where(indices < 0, indices + dims, indices)
        batch = int(np.prod(x.shape[:b], dtype=np.int64))
        xr = x.reshape((batch,) + x.shape[b:])
        ir = indices.reshape(batch, -1, k)
        sel = (np.arange(batch)[:, None],) + tuple(ir[..., j] for j in range(k))
        return xr[sel].reshape(out_shape)


@op("ShapeOf", versions=(1, 3))
class ShapeOf:
    """The input's shape as a 1-D tensor (i64; v3 also i32 via output_type)."""

    @staticmethod
    def _dtype(ctx):
        name = ctx.attrs.str("output_type", "i64") if ctx.version >= 3 else "i64"
        if name not in ("i64", "i32"):
            raise ctx.error(f"output_type must be i64 or i32, got '{name}'")
        return to_dtype(name)

    @staticmethod
    def infer(ctx):
        ctx.expect_inputs(1)
        return [((len(ctx.input_shapes[0]),), ShapeOf._dtype(ctx))]

    @staticmethod
    def compute(ctx, x):
        return np.array(np.shape(x), dtype=ShapeOf._dtype(ctx))


# ---------------------------------------------------------------------------
# Broadcasting, tiling, padding


@op("Broadcast", versions=(1, 3))
class Broadcast:
    """Broadcast data to the constant target shape: numpy, explicit (axes_mapping), bidirectional (v3), pdpd."""

    @staticmethod
    def plan(ctx):
        """(output shape, shape to view the data as before numpy broadcasting)."""
        mode = ctx.attrs.str("mode", "numpy").lower()
        if mode == "none":  # Broadcast-1 serialises its explicit mode as "none"
            mode = "explicit"
        ctx.expect_inputs(3 if mode == "explicit" else 2, 3)
        _check_int_dtype(ctx, 1, "target shape")
        data = ctx.input_shapes[0]
        target = tuple(_const_ints(ctx, 1, "target shape"))
        if any(d < 0 for d in target):
            raise ctx.error(f"target shape {target} has negative dimensions")
        if mode == "numpy":
            if len(data) > len(target) or any(
                d != 1 and d != t for d, t in zip(data[::-1], target[::-1])
            ):
                raise ctx.error(f"data shape {data} cannot be broadcast to {target} (numpy rules)")
            return target, data
        if mode == "bidirectional":
            if ctx.version < 3:
                raise ctx.error("mode 'bidirectional' needs Broadcast-3")
            try:
                return tuple(np.broadcast_shapes(data, target)), data
            except ValueError:
                raise ctx.error(f"data shape {data} and target shape {target} are not broadcastable") from None
        if mode == "explicit":
            axes = _const_ints(ctx, 2, "axes_mapping")
            if len(axes) != len(data):
                raise ctx.error(f"axes_mapping {axes} needs one entry per data dimension ({data})")
            if any(not 0 <= a < len(target) for a in axes) or axes != sorted(set(axes)):
                raise ctx.error(f"axes_mapping {axes} must be increasing axes of the target shape {target}")
            view = [1] * len(target)
            for d, a in zip(data, axes):
                if d != 1 and d != target[a]:
                    raise ctx.error(f"data dimension {d} does not match target dimension {target[a]} (axis {a})")
                view[a] = d
            return target, tuple(view)
        if mode == "pdpd":
            return target, _pdpd_target_shape(ctx, target, data, pdpd_axis(ctx))
        raise ctx.error(f"unsupported broadcast mode '{mode}'")

    @staticmethod
    def infer(ctx):
        out, _ = Broadcast.plan(ctx)
        return [(out, ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x, *_args):
        out, view = Broadcast.plan(ctx)
        return np.ascontiguousarray(np.broadcast_to(np.reshape(x, view), out))


@op("Tile")
class Tile:
    """Repeat the data along each axis by the constant repeats input (ranks aligned from the right)."""

    @staticmethod
    def _repeats(ctx):
        ctx.expect_inputs(2)
        reps = _const_ints(ctx, 1, "repeats")
        if any(r < 0 for r in reps):
            raise ctx.error(f"repeats {reps} must be non-negative")
        return reps

    @staticmethod
    def infer(ctx):
        reps = Tile._repeats(ctx)
        shape = ctx.input_shapes[0]
        n = max(len(reps), len(shape))
        reps = [1] * (n - len(reps)) + reps
        shape = (1,) * (n - len(shape)) + shape
        return [(tuple(d * r for d, r in zip(shape, reps)), ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x, _reps):
        reps = Tile._repeats(ctx)
        x = np.asarray(x)
        if len(reps) < x.ndim:
            reps = [1] * (x.ndim - len(reps)) + reps
        return np.tile(x, reps)


@op("Pad", versions=(1, 12))
class Pad:
    """Pad with pads_begin/pads_end (negative values crop) in mode constant/edge/reflect/symmetric.

    Padding is computed from the uncropped data, then negative pads crop the result.
    """

    @staticmethod
    def plan(ctx):
        ctx.expect_inputs(3, 4)
        shape = ctx.input_shapes[0]
        begin, end = _const_ints(ctx, 1, "pads_begin"), _const_ints(ctx, 2, "pads_end")
        if len(begin) != len(shape) or len(end) != len(shape):
            raise ctx.error(f"pads_begin {begin} and pads_end {end} need {len(shape)} entries")
        mode = ctx.attrs.str("pad_mode", "constant").lower()
        if mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ctx.error(f"unsupported pad_mode '{mode}'")
        out = []
        for d, b, e in zip(shape, begin, end):
            if mode == "reflect" and (max(b, 0) >= d or max(e, 0) >= d) and (b > 0 or e > 0):
                raise ctx.error(f"reflect pads {b}, {e} must be smaller than the dimension {d}")
            if mode == "symmetric" and (max(b, 0) > d or max(e, 0) > d):
                raise ctx.error(f"symmetric pads {b}, {e} must not exceed the dimension {d}")
            if mode == "edge" and d == 0 and (b > 0 or e > 0):
                raise ctx.error("edge padding of an empty dimension")
            if d + b + e < 0:
                raise ctx.error(f"pads {b}, {e} crop more than the dimension {d}")
            out.append(d + b + e)
        if len(ctx.input_shapes) == 4 and mode == "constant" and ctx.input_shapes[3] not in ((), (1,)):
            raise ctx.error(f"pad_value must be a scalar, got shape {ctx.input_shapes[3]}")
        return begin, end, mode, tuple(out)

    @staticmethod
    def infer(ctx):
        *_, out = Pad.plan(ctx)
        return [(out, ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x, _begin, _end, pad_value=None):
        begin, end, mode, _ = Pad.plan(ctx)
        x = np.asarray(x)
        widths = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end)]
        if mode == "constant":
            value = 0 if pad_value is None else np.asarray(pad_value).reshape(-1)[0]
            out = np.pad(x, widths, mode="constant", constant_values=np.asarray(value).astype(x.dtype))
        else:
            out = np.pad(x, widths, mode=mode)
        if any(b < 0 or e < 0 for b, e in zip(begin, end)):
            out = out[tuple(slice(-min(b, 0), n - (-min(e, 0))) for b, e, n in zip(begin, end, out.shape))]
            out = np.ascontiguousarray(out)
        return out


# ---------------------------------------------------------------------------
# Generation


@op("Range", versions=(1, 4))
class Range:
    """[start, stop) with step; v1 keeps the inputs' type, v4 produces output_type (integers: inputs truncated)."""

    @staticmethod
    def plan(ctx):
        ctx.expect_inputs(3)
        for i in range(3):
            if ctx.input_shapes[i] not in ((), (1,)):
                raise ctx.error(f"input {i} must be a scalar, got shape {ctx.input_shapes[i]}")
        if ctx.version >= 4:
            dtype = to_dtype(ctx.attrs.str("output_type"))
        else:
            dtype = ctx.input_dtypes[0]
            if any(d != dtype for d in ctx.input_dtypes):
                raise ctx.error(f"inputs must have the same element type, got {ctx.input_dtypes}")
        names = ("start", "stop", "step")
        vals = [np.asarray(ctx.const_input(i, names[i])).reshape(-1)[0] for i in range(3)]
        if dtype.kind in "iu":
            vals = [int(np.trunc(float(v))) if np.asarray(v).dtype.kind == "f" else int(v) for v in vals]
        else:
            vals = [float(v) for v in vals]
        start, stop, step = vals
        if step == 0:
            raise ctx.error("step must not be zero")
        if isinstance(step, int):
            n = max(-((start - stop) // step), 0)
        else:
            n = max(int(np.ceil((stop - start) / step)), 0)
        return start, step, n, dtype

    @staticmethod
    def infer(ctx):
        _, _, n, dtype = Range.plan(ctx)
        return [((n,), dtype)]

    @staticmethod
    def compute(ctx, *_args):
        start, step, n, dtype = Range.plan(ctx)
        if dtype.kind in "iu":
            return (start + np.arange(n, dtype=np.int64) * step).astype(dtype)
        return (start + np.arange(n, dtype=np.float64) * step).astype(dtype)


# ---------------------------------------------------------------------------
# Depth/space rearrangement


def _block_plan(ctx, to_space):
    ctx.expect_inputs(1)
    shape = ctx.input_shapes[0]
    if len(shape) < 3:
        raise ctx.error(f"input must have rank >= 3, got {shape}")
    bs = ctx.attrs.int("block_size", 1)
    mode = ctx.attrs.str("mode").lower()
    if bs < 1:
        raise ctx.error(f"block_size {bs} must be positive")
    if mode not in ("blocks_first", "depth_first"):
        raise ctx.error(f"unsupported mode '{mode}'")
    n, c, spatial = shape[0], shape[1], shape[2:]
    k = len(spatial)
    if to_space:
        if c % bs ** k:
            raise ctx.error(f"channels {c} are not divisible by block_size^{k} = {bs ** k}")
        out = (n, c // bs ** k) + tuple(d * bs for d in spatial)
    else:
        if any(d % bs for d in spatial):
            raise ctx.error(f"spatial dimensions {spatial} are not divisible by block_size {bs}")
        out = (n, c * bs ** k) + tuple(d // bs for d in spatial)
    return bs, mode, k, out


@op("DepthToSpace")
class DepthToSpace:
    """Move channel blocks into spatial blocks (mode blocks_first or depth_first)."""

    @staticmethod
    def infer(ctx):
        *_, out = _block_plan(ctx, True)
        return [(out, ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x):
        bs, mode, k, out = _block_plan(ctx, True)
        n, c, spatial = x.shape[0], x.shape[1], x.shape[2:]
        cc = c // bs ** k
        if mode == "blocks_first":
            y = x.reshape((n,) + (bs,) * k + (cc,) + spatial)
            order = [0, k + 1] + [a for i in range(k) for a in (k + 2 + i, 1 + i)]
        else:
            y = x.reshape((n, cc) + (bs,) * k + spatial)
            order = [0, 1] + [a for i in range(k) for a in (k + 2 + i, 2 + i)]
        return np.ascontiguousarray(y.transpose(order)).reshape(out)


@op("SpaceToDepth")
class SpaceToDepth:
    """Move spatial blocks into channels (mode blocks_first or depth_first)."""

    @staticmethod
    def infer(ctx):
        *_, out = _block_plan(ctx, False)
        return [(out, ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x):
        bs, mode, k, out = _block_plan(ctx, False)
        n, c, spatial = x.shape[0], x.shape[1], x.shape[2:]
        split = tuple(v for d in spatial for v in (d // bs, bs))
        y = x.reshape((n, c) + split)
        blocks = [3 + 2 * i for i in range(k)]
        dims = [2 + 2 * i for i in range(k)]
        order = [0] + (blocks + [1] if mode == "blocks_first" else [1] + blocks) + dims
        return np.ascontiguousarray(y.transpose(order)).reshape(out)


# ---------------------------------------------------------------------------
# Scattering


def _norm_indices(indices, dim):
    indices = np.asarray(indices).astype(np.int64)
    return np.where(indices < 0, indices + dim, indices)


def _check_in_range(ctx, indices, dims):
    if indices.size and ((indices < 0).any() or (indices >= dims).any()):
        raise ctx.error("indices are out of range")


@op("ScatterUpdate", versions=(3,))
class ScatterUpdate:
    """Copy of data with the slices at ``indices`` along ``axis`` replaced by ``updates``."""

    @staticmethod
    def axis(ctx):
        ctx.expect_inputs(4)
        _check_int_dtype(ctx, 1, "indices")
        data, idx, upd = ctx.input_shapes[:3]
        axis = _norm_axis(ctx, _const_scalar_int(ctx, 3, "axis"), len(data))
        expect = data[:axis] + idx + data[axis + 1:]
        if upd != expect:
            raise ctx.error(f"updates shape {upd} must be {expect}")
        if ctx.input_dtypes[0] != ctx.input_dtypes[2]:
            raise ctx.error(f"data and updates element types differ: {ctx.input_dtypes[0]}, {ctx.input_dtypes[2]}")
        return axis

    @staticmethod
    def infer(ctx):
        ScatterUpdate.axis(ctx)
        return [(ctx.input_shapes[0], ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x, indices, updates, _axis):
        axis = ScatterUpdate.axis(ctx)
        out = np.array(x, copy=True)
        idx = _norm_indices(indices, out.shape[axis]).reshape(-1)
        _check_in_range(ctx, idx, out.shape[axis])
        upd = np.asarray(updates).reshape(out.shape[:axis] + (idx.size,) + out.shape[axis + 1:])
        out[(slice(None),) * axis + (idx,)] = upd
        return out


_REDUCE_UFUNC = {"sum": np.add, "prod": np.multiply, "min": np.minimum, "max": np.maximum,
                 "sub": np.subtract, "mean": np.add}
_BOOL_UFUNC = {"sum": np.logical_or, "prod": np.logical_and, "min": np.logical_and, "max": np.logical_or}


def _identity(reduction, dtype):
    if reduction in ("sum", "mean", "sub"):
        return np.zeros((), dtype)
    if reduction == "prod":
        return np.ones((), dtype)
    big = np.iinfo(dtype) if dtype.kind in "iu" else None
    if dtype == np.bool_:
        return np.asarray(reduction == "min")
    if reduction == "min":
        return np.asarray(big.max if big else np.inf, dtype)
    return np.asarray(big.min if big else -np.inf, dtype)


def _scatter_reduce(ctx, out, index, updates, reduction, use_init_val):
    """Apply ``updates`` at the integer-array ``index`` of ``out`` (in place) with ``reduction``."""
    if reduction == "none":
        out[index] = updates
        return out
    if reduction not in _REDUCE_UFUNC:
        raise ctx.error(f"unsupported reduction '{reduction}'")
    if reduction == "mean" and out.dtype == np.bool_:
        raise ctx.error("reduction 'mean' is not supported for boolean data")
    if not use_init_val:
        out[index] = _identity(reduction, out.dtype)
    ufunc = _BOOL_UFUNC.get(reduction, _REDUCE_UFUNC[reduction]) if out.dtype == np.bool_ else _REDUCE_UFUNC[reduction]
    if reduction == "mean":
        total = out.astype(np.float64) if out.dtype.kind in "iu" else out
        counts = np.zeros(out.shape, np.int64)
        np.add.at(counts, index, 1)
        np.add.at(total, index, updates)
        touched = counts > 0
        denom = counts + (1 if use_init_val else 0)
        mean = total / np.where(touched, denom, 1)
        if out.dtype.kind in "iu":
            mean = np.floor(mean)
        out[touched] = mean[touched].astype(out.dtype)
        return out
    ufunc.at(out, index, updates)
    return out


@op("ScatterElementsUpdate", versions=(3, 12))
class ScatterElementsUpdate:
    """Scatter each element of updates to data at the position given by indices along axis.

    v12 adds ``reduction`` (none/sum/prod/min/max/mean; integer mean floors) and ``use_init_val``.
    """

    @staticmethod
    def axis(ctx):
        ctx.expect_inputs(4)
        _check_int_dtype(ctx, 1, "indices")
        data, idx, upd = ctx.input_shapes[:3]
        if idx != upd:
            raise ctx.error(f"indices shape {idx} and updates shape {upd} differ")
        if len(idx) != len(data):
            raise ctx.error(f"indices rank {len(idx)} differs from data rank {len(data)}")
        if ctx.input_dtypes[0] != ctx.input_dtypes[2]:
            raise ctx.error(f"data and updates element types differ: {ctx.input_dtypes[0]}, {ctx.input_dtypes[2]}")
        axis = _norm_axis(ctx, _const_scalar_int(ctx, 3, "axis"), len(data))
        for i, (d, k) in enumerate(zip(data, idx)):
            if i != axis and k > d:
                raise ctx.error(f"indices dimension {i} ({k}) exceeds the data dimension ({d})")
        return axis

    @staticmethod
    def infer(ctx):
        ScatterElementsUpdate.axis(ctx)
        return [(ctx.input_shapes[0], ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x, indices, updates, _axis):
        axis = ScatterElementsUpdate.axis(ctx)
        out = np.array(x, copy=True)
        idx = _norm_indices(indices, out.shape[axis])
        _check_in_range(ctx, idx, out.shape[axis])
        grid = list(np.indices(idx.shape, sparse=True))
        grid[axis] = idx
        reduction = ctx.attrs.str("reduction", "none").lower() if ctx.version >= 12 else "none"
        use_init = ctx.attrs.bool("use_init_val", True)
        return _scatter_reduce(ctx, out, tuple(grid), np.asarray(updates), reduction, use_init)


@op("ScatterNDUpdate", versions=(3, 15))
class ScatterNDUpdate:
    """Scatter slices of updates to the data positions addressed by the last dimension of indices.

    v15 adds ``reduction`` (none/sum/sub/prod/min/max).
    """

    @staticmethod
    def _check(ctx):
        ctx.expect_inputs(3)
        _check_int_dtype(ctx, 1, "indices")
        data, idx, upd = ctx.input_shapes
        if not idx or idx[-1] > len(data):
            raise ctx.error(f"indices shape {idx} does not address data of shape {data}")
        expect = idx[:-1] + data[idx[-1]:]
        if upd != expect:
            raise ctx.error(f"updates shape {upd} must be {expect}")
        if ctx.input_dtypes[0] != ctx.input_dtypes[2]:
            raise ctx.error(f"data and updates element types differ: {ctx.input_dtypes[0]}, {ctx.input_dtypes[2]}")

    @staticmethod
    def infer(ctx):
        ScatterNDUpdate._check(ctx)
        return [(ctx.input_shapes[0], ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x, indices, updates):
        ScatterNDUpdate._check(ctx)
        out = np.array(x, copy=True)
        indices = np.asarray(indices).astype(np.int64)
        k = indices.shape[-1]
        dims = np.array(out.shape[:k], dtype=np.int64)
        idx = indices.reshape(-1, k)
        idx = np.where(idx < 0, idx + dims, idx)
        _check_in_range(ctx, idx, dims)
        upd = np.asarray(updates).reshape((idx.shape[0],) + out.shape[k:])
        reduction = ctx.attrs.str("reduction", "none").lower() if ctx.version >= 15 else "none"
        return _scatter_reduce(ctx, out, tuple(idx.T), upd, reduction, True)




# ---------------------------------------------------------------------------
# Channel shuffling and rolling


@op("ShuffleChannels")
class ShuffleChannels:
    """Split dimension ``axis`` into ``group`` groups and interleave them (ShuffleNet's channel shuffle)."""

    @staticmethod
    def plan(ctx):
        ctx.expect_inputs(1)
        shape = ctx.input_shapes[0]
        axis = _norm_axis(ctx, ctx.attrs.int("axis", 1), len(shape))
        group = ctx.attrs.int("group", 1)
        if group < 1 or shape[axis] % group:
            raise ctx.error(f"dimension {shape[axis]} of axis {axis} is not divisible by group {group}")
        return axis, group

    @staticmethod
    def infer(ctx):
        ShuffleChannels.plan(ctx)
        return [(ctx.input_shapes[0], ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x):
        axis, group = ShuffleChannels.plan(ctx)
        shape = x.shape
        y = x.reshape(shape[:axis] + (group, shape[axis] // group) + shape[axis + 1:])
        return np.ascontiguousarray(np.swapaxes(y, axis, axis + 1)).reshape(shape)


@op("Roll", versions=(7,))
class Roll:
    """Cyclic shift of the data by ``shift`` along ``axes`` (a scalar shift applies to every axis)."""

    @staticmethod
    def plan(ctx):
        ctx.expect_inputs(3)
        rank = len(ctx.input_shapes[0])
        shift = _const_ints(ctx, 1, "shift")
        axes = [_norm_axis(ctx, a, rank, "roll axis") for a in _const_ints(ctx, 2, "axes")]
        if len(shift) == 1:
            shift = shift * len(axes)
        if len(shift) != len(axes):
            raise ctx.error(f"shift {shift} and axes {axes} have different lengths")
        return shift, axes

    @staticmethod
    def infer(ctx):
        Roll.plan(ctx)
        return [(ctx.input_shapes[0], ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x, _shift, _axes):
        shift, axes = Roll.plan(ctx)
        return np.roll(x, shift, axis=axes) if axes else np.array(x, copy=True)
