"""Native kernels for the transformer and data-movement layers (``_ext.transformer``).

:func:`transformer_kernel` returns a :class:`~ie_core.backend.Kernel` for a node it
handles natively, or None (the caller then uses another kernel or the reference):

========================================  ==================================================
IR types                                  kernel
========================================  ==================================================
ScaledDotProductAttention (f32)           oneDNN matmul Q·Kᵀ, fused scale + mask (f32 additive
                                          or boolean, broadcast) / causal + softmax per row,
                                          oneDNN matmul P·V
MVN v1/v6 (f32)                           rows (LayerNorm: oneDNN layer normalization with eps
                                          inside sqrt and normalize_variance) or [outer, axes,
                                          inner] blocks; eps inside/outside sqrt
Transpose (any 1/2/4/8-byte type)         strided copy on collapsed dims: block copies for
                                          head split/merge ([0,2,1,3]), tiled 2-D transposes
Broadcast v1/v3 (numpy, bidirectional,    strided copy with zero strides
explicit; any 1/2/4/8-byte type)
Gather v1/v7/v8, batch_dims 0             row copies; negative indices, zeros out of range
Concat (any 1/2/4/8-byte type)            block copies
Convert (f32/f64/i8..i64/u8..u64/bool)    ie_core's (OpenVINO CPU) conversion semantics
ReduceSum/Mean/Max/Min/Prod/L1/L2 (f32)   reduced axes contiguous (size-1 dims aside);
                                          double accumulators
Reshape, Squeeze, Unsqueeze (any type)    zero-copy views (``np.reshape``)
========================================  ==================================================

The loops that are not oneDNN primitives (softmax rows, the other MVN forms, reductions,
Convert, strided copies) are compiled for AVX-512, AVX2 and the baseline and run on the
widest that oneDNN's effective instruction set includes (``ONEDNN_MAX_CPU_ISA`` caps
both); the kernels' ``exec_type`` ends in it (``native:reduce_avx2``,
``attention:brg:avx512_core:softmax_avx512_core``).

In a compiled network (compiler.py) f32 attention and LayerNorm layers usually run
inside a native program instead, on the same C++ cores (with their Transposes and
affine layers fused); these kernels run them otherwise.

Every native kernel is built once for the node's static shapes, runs with ``threads``
OpenMP threads (0: the process default) and releases the GIL. The views returned by
Reshape/Squeeze/Unsqueeze (and an identity Transpose) share memory with their input;
this is safe because no kernel writes into its inputs (``compute`` must not modify its
inputs, native kernels allocate their outputs) and callers copy the network outputs.
"""

import numpy as np

from ie_core.backend import Kernel, ShapeInferenceError, canonical_element_type, get_op

from . import _ext

__all__ = ["TRANSFORMER_TYPES", "mvn_params", "transformer_kernel"]

F32 = np.dtype(np.float32)
_tf = _ext.transformer

_REDUCE = {
    "ReduceSum": "sum",
    "ReduceMean": "mean",
    "ReduceMax": "max",
    "ReduceMin": "min",
    "ReduceProd": "prod",
    "ReduceL1": "l1",
    "ReduceL2": "l2",
}


_CONVERT_TARGETS = frozenset({"f64", "f32", "i64", "i32", "i16", "i8", "u64", "u32", "u16", "u8", "boolean"})


class _NotNative(Exception):
    pass


def transformer_kernel(node, threads=0):
    """The native :class:`Kernel` for ``node``, or None when this module does not handle it."""
    build = _BUILDERS.get(node.type.lower())
    if build is None:
        return None
    in_shapes = [tuple(s.node.output_shapes[s.index]) for s in node.inputs]
    in_dtypes = [np.dtype(s.node.output_dtypes[s.index]) for s in node.inputs]
    shapes = in_shapes + [tuple(s) for s in node.output_shapes]
    if any(0 in s for s in shapes):
        return None
    try:
        return build(node, in_shapes, in_dtypes, threads)
    except (_NotNative, ShapeInferenceError, _ext.DnnlError):  # shapes, attributes or layouts it does not take
        return None


def _ctx(node):
    return node.context()


def _movable(dtype):
    if dtype.itemsize not in (1, 2, 4, 8) or dtype.kind not in "biufc" or dtype.kind == "c":
        raise _NotNative()
    return dtype


# --------------------------------------------------------------------------- views


def _view(node, in_shapes, in_dtypes, threads):
    shape = tuple(node.output_shapes[0])
    return Kernel(lambda x, *_: np.reshape(x, shape), "native:view")


# --------------------------------------------------------------------------- data movement


def _transpose(node, in_shapes, in_dtypes, threads):
    dtype = _movable(in_dtypes[0])
    order = get_op("Transpose").impl.order(_ctx(node))
    if tuple(order) == tuple(range(len(order))):
        return Kernel(lambda x, *_: x, "native:view")
    prim = _tf.transpose(list(in_shapes[0]), list(order), dtype, threads)
    run = prim.run
    return Kernel(lambda x, *_: run(x), prim.impl)


def _broadcast(node, in_shapes, in_dtypes, threads):
    dtype = _movable(in_dtypes[0])
    out, view = get_op("Broadcast").impl.plan(_ctx(node))
    out, view = tuple(out), tuple(view)
    if tuple(node.output_shapes[0]) != out or len(view) > len(out):
        raise _NotNative()
    view = (1,) * (len(out) - len(view)) + view
    if view == out:
        return Kernel(lambda x, *_: np.reshape(x, out), "native:view")
    prim = _tf.broadcast(list(view), list(out), dtype, threads)
    run = prim.run
    return Kernel(lambda x, *_: run(x), prim.impl)


def _gather(node, in_shapes, in_dtypes, threads):
    dtype = _movable(in_dtypes[0])
    if in_dtypes[1].kind not in "iu":
        raise _NotNative()
    axis, batch_dims = get_op("Gather").impl.plan(_ctx(node))
    if batch_dims != 0:
        raise _NotNative()
    prim = _tf.gather(list(in_shapes[0]), list(in_shapes[1]), axis, in_dtypes[1].itemsize, dtype, threads)
    run = prim.run
    return Kernel(lambda x, i, *_: run(x, i), prim.impl)


def _concat(node, in_shapes, in_dtypes, threads):
    dtype = _movable(in_dtypes[0])
    if any(d != dtype for d in in_dtypes):
        raise _NotNative()
    axis = get_op("Concat").impl.axis(_ctx(node))
    prim = _tf.concat([list(s) for s in in_shapes], axis, dtype, threads)
    run = prim.run
    return Kernel(lambda *xs: run(list(xs)), prim.impl)


def _convert(node, in_shapes, in_dtypes, threads):
    src, dst = in_dtypes[0], np.dtype(node.output_dtypes[0])
    if canonical_element_type(node.attrs.get("destination_type", "")) not in _CONVERT_TARGETS:
        raise _NotNative()  # bf16/f16/f8 rounding, sub-byte types: the reference
    if src.kind not in "biuf" or dst.kind not in "biuf" or np.dtype(np.float16) in (src, dst):
        raise _NotNative()
    if src == dst:
        return Kernel(lambda x: x, "native:view")
    prim = _tf.convert(list(in_shapes[0]), src, dst, threads)
    run = prim.run
    return Kernel(lambda x: run(x), prim.impl)


# --------------------------------------------------------------------------- normalisation, reductions


def _blocks(shape, axes):
    """(outer, r, inner) when the axes > 1 in ``axes`` form one contiguous run of the dims > 1."""
    axes = set(axes)
    dims = [(d, i in axes) for i, d in enumerate(shape) if d != 1]
    flags = [red for _, red in dims]
    if True not in flags:
        return int(np.prod(shape, dtype=np.int64)), 1, 1
    first = flags.index(True)
    last = len(flags) - 1 - flags[::-1].index(True)
    if not all(flags[first:last + 1]):
        raise _NotNative()
    prod = lambda ds: int(np.prod([d for d, _ in ds], dtype=np.int64))  # noqa: E731
    return prod(dims[:first]), prod(dims[first:last + 1]), prod(dims[last + 1:])


def mvn_params(node, in_shape):
    """(outer, r, inner, eps, eps inside sqrt, normalize_variance) of an MVN layer on ``in_shape``; raises _NotNative."""
    ctx = _ctx(node)
    axes = get_op("MVN").impl.axes(ctx)
    outer, r, inner = _blocks(in_shape, axes)
    attrs = ctx.attrs
    norm_var = attrs.bool("normalize_variance", ctx.version >= 6)
    eps = attrs.float("eps") if norm_var else 0.0
    inside = ctx.version < 6 or attrs.str("eps_mode").lower() == "inside_sqrt"
    return outer, r, inner, eps, inside, norm_var


def _mvn(node, in_shapes, in_dtypes, threads):
    if in_dtypes[0] != F32 or node.output_dtypes[0] != F32:
        raise _NotNative()
    outer, r, inner, eps, inside, norm_var = mvn_params(node, in_shapes[0])
    prim = _tf.mvn(outer, r, inner, eps, inside, norm_var, list(node.output_shapes[0]), threads)
    run = prim.run
    return Kernel(lambda x, *_: run(x), prim.impl)


def _reduce(node, in_shapes, in_dtypes, threads):
    if in_dtypes[0] != F32 or node.output_dtypes[0] != F32 or not in_shapes[0]:
        raise _NotNative()
    axes = get_op("ReduceSum").impl.axes(_ctx(node))
    if not axes:
        raise _NotNative()
    outer, r, inner = _blocks(in_shapes[0], axes)
    op = _REDUCE[_CANONICAL[node.type.lower()]]
    prim = _tf.reduce(op, outer, r, inner, list(node.output_shapes[0]), threads)
    run = prim.run
    return Kernel(lambda x, *_: run(x), prim.impl)


def _sdpa(node, in_shapes, in_dtypes, threads):
    n = len(in_shapes)
    if n < 3 or any(d != F32 for d in in_dtypes[:3]) or node.output_dtypes[0] != F32:
        raise _NotNative()
    causal = node.context().attrs.bool("causal", False)
    has_mask = n >= 4
    mask_bool = False
    mask_shape = []
    if has_mask:
        if in_dtypes[3] == np.bool_:
            mask_bool = True
        elif in_dtypes[3] != F32:
            raise _NotNative()
        mask_shape = list(in_shapes[3])
    has_scale = n >= 5
    if has_scale and (in_dtypes[4].kind != "f" or int(np.prod(in_shapes[4], dtype=np.int64)) != 1):
        raise _NotNative()
    prim = _tf.sdpa(list(in_shapes[0]), list(in_shapes[1]), list(in_shapes[2]), mask_shape, has_mask, mask_bool,
                    causal, has_scale, list(node.output_shapes[0]), threads)
    run = prim.run
    return Kernel(lambda *xs: run(list(xs)), prim.impl)


_BUILDERS = {
    "Reshape": _view,
    "Squeeze": _view,
    "Unsqueeze": _view,
    "Transpose": _transpose,
    "Broadcast": _broadcast,
    "Gather": _gather,
    "Concat": _concat,
    "Convert": _convert,
    "MVN": _mvn,
    "ScaledDotProductAttention": _sdpa,
}
_BUILDERS.update({t: _reduce for t in _REDUCE})

#: The op types :func:`transformer_kernel` may handle (subject to dtypes and attributes).
TRANSFORMER_TYPES = frozenset(_BUILDERS)
_CANONICAL = {t.lower(): t for t in _BUILDERS}
_BUILDERS = {t.lower(): b for t, b in _BUILDERS.items()}
