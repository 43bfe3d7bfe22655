"""Kernel selection: a oneDNN primitive for the node's static shapes where one applies, else the reference.

:func:`kernel_for` returns a :class:`~ie_core.backend.Kernel` for one node.
Native kernels are built once (at compile time) for the node's shapes; their
``exec_type`` is oneDNN's implementation name (``impl_info_str()``).
Everything else — other op types, non-f32 tensors, attribute combinations the
primitives cannot express, or a primitive oneDNN refuses to create — runs the
core's numpy reference through :func:`~ie_core.backend.reference_kernel`.
"""

import numpy as np

from ie_core.backend import Kernel, reference_kernel

from . import _ext
from .extension import kernel_provider as extension_kernel_provider
from .transformer import transformer_kernel

F32 = np.dtype(np.float32)

_BINARY = {
    "Add": ("binary_add", True),
    "Subtract": ("binary_sub", False),
    "Multiply": ("binary_mul", True),
    "Divide": ("binary_div", False),
    "Maximum": ("binary_max", True),
    "Minimum": ("binary_min", True),
}

# op type -> (oneDNN algorithm, alpha, beta) for attribute-free unary ops
_UNARY = {
    "Relu": ("eltwise_relu", 0.0, 0.0),
    "Sigmoid": ("eltwise_logistic", 0.0, 0.0),
    "Tanh": ("eltwise_tanh", 0.0, 0.0),
    "Exp": ("eltwise_exp", 0.0, 0.0),
    "Log": ("eltwise_log", 0.0, 0.0),
    "Sqrt": ("eltwise_sqrt", 0.0, 0.0),
    "Abs": ("eltwise_abs", 0.0, 0.0),
    "HSwish": ("eltwise_hardswish", 1.0 / 6.0, 0.5),
    "HSigmoid": ("eltwise_hardsigmoid", 1.0 / 6.0, 0.5),
    "SoftPlus": ("eltwise_soft_relu", 1.0, 0.0),
    "Mish": ("eltwise_mish", 0.0, 0.0),
}

NATIVE_TYPES = frozenset(
    set(_BINARY) | set(_UNARY)
    | {"Convolution", "GroupConvolution", "MatMul", "MaxPool", "AvgPool", "Clamp", "Elu", "Gelu", "Swish",
       "PRelu", "Softmax"}
)

MAX_RANK = 12  # DNNL_MAX_NDIMS


class _NotNative(Exception):
    """This node (with these shapes/attributes) has no native kernel."""


#: Kernel providers: callables ``provider(node, threads)`` returning a :class:`Kernel` or
#: None. ``KERNEL_PROVIDERS`` are consulted for every layer at load, before anything else:
#: a layer one claims runs that kernel, outside the fused native programs of compiler.py
#: (custom ops of loaded extensions). ``STANDALONE_PROVIDERS`` give kernels to the layers
#: the native programs do not take (the transformer and data-movement kernels).
KERNEL_PROVIDERS = [extension_kernel_provider]
STANDALONE_PROVIDERS = [transformer_kernel]


def kernel_for(node, threads=0, used_outputs=None):
    """The :class:`Kernel` for ``node``: an extra provider's, native oneDNN, else ``reference_kernel(node)``.

    ``threads`` is the OpenMP thread count the primitive runs with (0: the
    process default); ``used_outputs`` is the set of the node's output port
    indices that something reads (None: all).
    """
    for provider in KERNEL_PROVIDERS + STANDALONE_PROVIDERS:
        kernel = provider(node, threads)
        if kernel is not None:
            return kernel
    kernel = native_kernel(node, threads, used_outputs)
    return kernel if kernel is not None else reference_kernel(node)


def native_kernel(node, threads=0, used_outputs=None):
    """The native kernel for ``node``, or None when it must run through the reference."""
    build = _BUILDERS.get(node.type.lower())  # IRs write "ReLU", "PReLU", "SoftMax"
    if build is None:
        return None
    in_shapes = [tuple(s.node.output_shapes[s.index]) for s in node.inputs]
    in_dtypes = [np.dtype(s.node.output_dtypes[s.index]) for s in node.inputs]
    if any(d != F32 for d in in_dtypes) or node.output_dtypes[0] != F32:
        return None  # ints, bools, f16/f64 tensors: the reference keeps their exact semantics
    shapes = in_shapes + [tuple(s) for s in node.output_shapes]
    if any(0 in s for s in shapes) or any(len(s) > MAX_RANK for s in shapes):
        return None
    try:
        return build(node, in_shapes, threads, used_outputs)
    except Exception:  # noqa: BLE001  (_NotNative, oneDNN's "unimplemented", odd attributes):
        return None  # the reference runs it and reports whatever is really wrong


def _out(node, i=0):
    return list(node.output_shapes[i])


def _attrs(node):
    return node.context().attrs


def _in_shape(node, i):
    src = node.inputs[i]
    return tuple(src.node.output_shapes[src.index])


def _const(node, i):
    src = node.inputs[i]
    return src.node.values[src.index]


# --------------------------------------------------------------------------- spatial


def _spatial_pads(attrs, in_sp, out_sp, kernel_ext, strides, ceil=False):
    """(pad_l, pad_r, pad_r_declared) for the spatial dims, following auto_pad.

    ``pad_r`` is the right padding oneDNN needs to produce ``out_sp`` from the
    windows (so ceil rounding and surplus right pads are both expressed
    exactly); ``pad_r_declared`` is the padding the model declares.
    """
    n = len(in_sp)
    auto_pad = attrs.str("auto_pad", "explicit").lower()
    if auto_pad in ("same_upper", "same_lower"):
        total = [max((o - 1) * s + k - i, 0) for i, o, k, s in zip(in_sp, out_sp, kernel_ext, strides)]
        if auto_pad == "same_upper":
            pad_l = [t // 2 for t in total]
        else:
            pad_l = [(t + 1) // 2 for t in total]
        declared = [t - p for t, p in zip(total, pad_l)]
    elif auto_pad == "valid":
        pad_l, declared = [0] * n, [0] * n
    elif auto_pad in ("explicit", "notset", ""):
        pad_l = list(attrs.ints("pads_begin", (0,) * n))
        declared = list(attrs.ints("pads_end", (0,) * n))
        if len(pad_l) != n or len(declared) != n:
            raise _NotNative()
    else:
        raise _NotNative()
    # the right padding oneDNN's shape check accepts: out == (in + l + r - k) // s + 1
    pad_r = []
    for i, o, k, s, l_, d in zip(in_sp, out_sp, kernel_ext, strides, pad_l, declared):
        if (i + l_ + d - k) // s + 1 == o and d >= 0:
            pad_r.append(d)
        else:
            need = (o - 1) * s + k - i - l_
            if need < 0:
                raise _NotNative()
            pad_r.append(need)
    return pad_l, pad_r, declared


def conv_params(node):
    """The oneDNN convolution parameters of a (Group)Convolution layer; raises _NotNative."""
    x_shape, w_shape = _in_shape(node, 0), _in_shape(node, 1)
    w = _const(node, 1)
    if w is None or len(x_shape) not in (3, 4, 5):
        raise _NotNative()
    attrs = _attrs(node)
    nsp = len(x_shape) - 2
    strides = list(attrs.ints("strides", (1,) * nsp))
    dil = list(attrs.ints("dilations", (1,) * nsp))
    if len(strides) != nsp or len(dil) != nsp:
        raise _NotNative()
    grouped = _canonical(node) == "GroupConvolution"
    if len(w_shape) != nsp + (3 if grouped else 2):
        raise _NotNative()
    k = w_shape[3:] if grouped else w_shape[2:]
    out = _out(node)
    ext = [(kk - 1) * d + 1 for kk, d in zip(k, dil)]
    pad_l, pad_r, _ = _spatial_pads(attrs, x_shape[2:], out[2:], ext, strides)
    return dict(weights=np.ascontiguousarray(w, dtype=np.float32), w_dims=list(w_shape), grouped=grouped,
                kernel=list(k), strides=strides, dilations=[d - 1 for d in dil], pad_l=pad_l, pad_r=pad_r, dst=out)


def _conv(node, in_shapes, threads, used):
    p = conv_params(node)
    # Spatial and grouped convolutions run much faster on oneDNN's blocked layouts, even with a
    # reorder of the activations on either side; 1x1 ones are faster as a plain GEMM.
    blocked = p["grouped"] or any(kk > 1 for kk in p["kernel"])
    prim = _ext.convolution(list(in_shapes[0]), p["weights"], p["w_dims"], p["dst"], p["strides"], p["dilations"],
                            p["pad_l"], p["pad_r"], threads, blocked)
    run = prim.run
    return Kernel(lambda x, *_: run([x]), prim.impl)


def pool_params(node, used=None):
    """The oneDNN pooling parameters of a MaxPool/AvgPool layer; raises _NotNative."""
    x_shape = _in_shape(node, 0)
    if len(x_shape) not in (3, 4, 5):
        raise _NotNative()
    attrs = _attrs(node)
    nsp = len(x_shape) - 2
    kernel = list(attrs.ints("kernel"))
    strides = list(attrs.ints("strides", (1,) * nsp))
    dil = list(attrs.ints("dilations", (1,) * nsp))  # MaxPool v8+, AvgPool v16
    if not (len(kernel) == len(strides) == len(dil) == nsp):
        raise _NotNative()
    rounding = attrs.str("rounding_type", "floor").lower()
    if rounding not in ("floor", "ceil"):
        raise _NotNative()
    out = _out(node)
    ext = [(k - 1) * d + 1 for k, d in zip(kernel, dil)]
    pad_l, pad_r, declared = _spatial_pads(attrs, x_shape[2:], out[2:], ext, strides)
    # every window must start inside the padded input (otherwise the result is ill-defined)
    for i, o, s, l_ in zip(x_shape[2:], out[2:], strides, pad_l):
        if (o - 1) * s >= i + l_:
            raise _NotNative()
    if _canonical(node) == "MaxPool":
        alg = "pooling_max"
        if node.num_outputs > 1 and (used is None or any(i > 0 for i in used)):
            raise _NotNative()  # the indices output is read: the reference computes it
    else:
        if attrs.bool("exclude-pad", False):
            alg = "pooling_avg_exclude_padding"
        else:
            alg = "pooling_avg_include_padding"
            # oneDNN divides by the whole kernel; OpenVINO clips the window to the declared pads
            if any(r > d for r, d in zip(pad_r, declared)):
                raise _NotNative()
    return dict(alg=alg, kernel=kernel, strides=strides, dilations=[d - 1 for d in dil], pad_l=pad_l, pad_r=pad_r,
                dst=out)


def _pool(node, in_shapes, threads, used):
    p = pool_params(node, used)
    prim = _ext.pooling(p["alg"], list(in_shapes[0]), p["dst"], p["kernel"], p["strides"], p["dilations"],
                        p["pad_l"], p["pad_r"], threads)
    run = prim.run
    if node.num_outputs > 1:
        return Kernel(lambda x: [run([x])] + [None] * (node.num_outputs - 1), prim.impl)
    return Kernel(lambda x: run([x]), prim.impl)


# --------------------------------------------------------------------------- matmul


def matmul_params(node):
    """The oneDNN matmul views (dims, strides) of a MatMul layer's operands; raises _NotNative."""
    a_shape, b_shape = list(_in_shape(node, 0)), list(_in_shape(node, 1))
    attrs = _attrs(node)
    ta = attrs.bool("transpose_a", False)
    tb = attrs.bool("transpose_b", False)

    def logical(shape, transpose, is_b):
        if len(shape) == 1:
            dims = [shape[0], 1] if is_b else [1, shape[0]]
            strides = [1, 1]
            return dims, strides
        strides = _dense_strides(shape)
        dims = list(shape)
        if transpose:
            dims[-1], dims[-2] = dims[-2], dims[-1]
            strides[-1], strides[-2] = strides[-2], strides[-1]
        return dims, strides

    a_dims, a_strides = logical(a_shape, ta, False)
    b_dims, b_strides = logical(b_shape, tb, True)
    rank = max(len(a_dims), len(b_dims))
    if rank > MAX_RANK:
        raise _NotNative()

    def pad(dims, strides):
        extra = rank - len(dims)
        top = dims[0] * strides[0] if dims else 1
        return [1] * extra + dims, [top] * extra + strides

    a_dims, a_strides = pad(a_dims, a_strides)
    b_dims, b_strides = pad(b_dims, b_strides)
    if a_dims[-1] != b_dims[-2]:
        raise _NotNative()
    batch = []
    for x, y in zip(a_dims[:-2], b_dims[:-2]):
        if x != y and 1 not in (x, y):
            raise _NotNative()
        batch.append(max(x, y))
    dst = batch + [a_dims[-2], b_dims[-1]]
    if int(np.prod(dst)) != int(np.prod(_out(node))):
        raise _NotNative()
    b_const = _const(node, 1)
    return dict(a_dims=a_dims, a_strides=a_strides, b_dims=b_dims, b_strides=b_strides, dst=dst,
                b_const=None if b_const is None else np.ascontiguousarray(b_const, np.float32))


def _matmul(node, in_shapes, threads, used):
    p = matmul_params(node)
    prim = _ext.matmul(p["a_dims"], p["a_strides"], p["b_dims"], p["b_strides"], p["dst"], _out(node), threads)
    run = prim.run
    return Kernel(lambda a, b: run([a, b]), prim.impl)


def _dense_strides(shape):
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * max(shape[i + 1], 1)
    return strides


# --------------------------------------------------------------------------- elementwise


def _binary(node, in_shapes, threads, used):
    alg, commutative = _BINARY[_canonical(node)]
    if _attrs(node).str("auto_broadcast", "numpy").lower() not in ("numpy", "none"):
        raise _NotNative()
    out = tuple(_out(node))
    rank = len(out)
    a, b = (tuple([1] * (rank - len(s)) + list(s)) for s in in_shapes[:2])
    if len(a) != rank or len(b) != rank:
        raise _NotNative()
    for s in (a, b):
        if any(x != o and x != 1 for x, o in zip(s, out)):
            raise _NotNative()
    swap = a != out and b == out and commutative
    if swap:
        a, b = b, a
    expand_a = a != out  # oneDNN broadcasts only src1: materialise src0's broadcast
    prim = _ext.binary(alg, list(out), list(b), list(out), list(out), threads)
    run = prim.run
    if swap:
        return Kernel(lambda x, y: run([y, x]), prim.impl)
    if expand_a:
        full = out
        return Kernel(lambda x, y: run([np.broadcast_to(np.asarray(x, np.float32).reshape(a), full), y]), prim.impl)
    return Kernel(lambda x, y: run([x, y]), prim.impl)


def _eltwise(node, alg, alpha=0.0, beta=0.0, threads=0):
    dims = list(node.output_shapes[0]) or [1]
    prim = _ext.eltwise(alg, dims, _out(node), float(alpha), float(beta), threads)
    run = prim.run
    return Kernel(lambda x, *_: run([x]), prim.impl)


def _unary(node, in_shapes, threads, used):
    if tuple(in_shapes[0]) != tuple(node.output_shapes[0]):
        raise _NotNative()
    alg, alpha, beta = _UNARY[_canonical(node)]
    return _eltwise(node, alg, alpha, beta, threads)


def _clamp(node, in_shapes, threads, used):
    attrs = _attrs(node)
    lo, hi = attrs.float("min"), attrs.float("max")
    return _eltwise(node, "eltwise_clip", lo, hi, threads)


def _elu(node, in_shapes, threads, used):
    return _eltwise(node, "eltwise_elu", _attrs(node).float("alpha"), 0.0, threads)


def _gelu(node, in_shapes, threads, used):
    mode = _attrs(node).str("approximation_mode", "ERF").upper()
    if mode not in ("ERF", "TANH"):
        raise _NotNative()
    return _eltwise(node, "eltwise_gelu_erf" if mode == "ERF" else "eltwise_gelu_tanh", 0.0, 0.0, threads)


def _swish(node, in_shapes, threads, used):
    beta = 1.0
    if len(node.inputs) > 1:
        value = _const(node, 1)
        if value is None or np.size(value) != 1:
            raise _NotNative()
        beta = float(np.asarray(value).reshape(()))
    return _eltwise(node, "eltwise_swish", beta, 0.0, threads)


def _prelu(node, in_shapes, threads, used):
    x, slope = list(in_shapes[0]), list(in_shapes[1])
    rank = len(x)
    if rank == 0:
        raise _NotNative()
    if len(slope) == 1 and rank >= 2 and slope[0] == x[1]:
        w = [1] * rank
        w[1] = slope[0]  # per-channel slope
    elif len(slope) <= rank:
        w = [1] * (rank - len(slope)) + slope
        if any(s != d and s != 1 for s, d in zip(w, x)):
            raise _NotNative()
    else:
        raise _NotNative()
    prim = _ext.prelu(x, w, _out(node), threads)
    run = prim.run
    return Kernel(lambda a, s: run([a, s]), prim.impl)


def _softmax(node, in_shapes, threads, used):
    shape = list(in_shapes[0])
    rank = len(shape)
    if rank == 0:
        raise _NotNative()
    axis = _attrs(node).int("axis", 1)
    if axis < 0:
        axis += rank
    if not 0 <= axis < rank:
        raise _NotNative()
    prim = _ext.softmax(shape, axis, _out(node), threads)
    run = prim.run
    return Kernel(lambda x: run([x]), prim.impl)


_BUILDERS = {
    "Convolution": _conv,
    "GroupConvolution": _conv,
    "MaxPool": _pool,
    "AvgPool": _pool,
    "MatMul": _matmul,
    "Clamp": _clamp,
    "Elu": _elu,
    "Gelu": _gelu,
    "Swish": _swish,
    "PRelu": _prelu,
    "Softmax": _softmax,
}
_BUILDERS.update({t: _binary for t in _BINARY})
_BUILDERS.update({t: _unary for t in _UNARY})
_CANONICAL = {t.lower(): t for t in _BUILDERS}
_BUILDERS = {t.lower(): b for t, b in _BUILDERS.items()}


def _canonical(node):
    """The node's op type as spelled here ("ReLU" in an IR is "Relu")."""
    return _CANONICAL[node.type.lower()]


def _canonical_type(node):
    """The node's op type as spelled here, for any type (unknown ones as written)."""
    return _CANONICAL.get(node.type.lower(), node.type)
