"""Per-layer kernels: a oneDNN primitive for the node's static shapes where one applies, else the reference.

:func:`kernel_for` returns a :class:`~ie_core.backend.Kernel` for one node.
Native kernels are built once (at compile time) for the node's shapes; their
``exec_type`` is oneDNN's implementation name (``impl_info_str()``).
Everything else — other op types, non-f32 tensors, attribute combinations the
primitives cannot express, or a primitive oneDNN refuses to create — runs the
core's numpy reference through :func:`~ie_core.backend.reference_kernel`, with
exec_type ``"ref_numpy"`` and the reason in the kernel (logged at DEBUG level on
the ``ie_backend_cpu`` logger).

:func:`tensor_problem` is the one check of a layer's tensors that both these
kernels and the native programs of compiler.py apply.
"""

import logging

import numpy as np

from ie_core.backend import Kernel, element_type_name, reference_kernel

from . import _ext
from .extension import kernel_provider as extension_kernel_provider
from .transformer import TRANSFORMER_TYPES, _NotNative, transformer_kernel

log = logging.getLogger(__name__)

F32 = np.dtype(np.float32)

BINARY = {
    "Add": ("binary_add", True),
    "Subtract": ("binary_sub", False),
    "Multiply": ("binary_mul", True),
    "Divide": ("binary_div", False),
    "Maximum": ("binary_max", True),
    "Minimum": ("binary_min", True),
}

#: Binary ops whose oneDNN kernel is IEEE minNum/maxNum only while its second operand holds no NaN: the max and
#: min instructions return the second operand where either one is NaN. They run natively with a NaN-free constant
#: second operand, and through the reference otherwise.
NAN_FREE_SECOND_OPERAND = frozenset({"Maximum", "Minimum"})

#: op type -> (oneDNN algorithm, alpha, beta) for attribute-free unary ops. Not Log: oneDNN 3.2's eltwise_log
#: is off by about 1.4e-6 in absolute terms, so near x = 1, where log(x) is as small, it is wrong by 100% and
#: more, and a following op can turn that into a NaN (a fuzz finding; OpenVINO's CPU plugin is exact there).
#: Log runs the reference (numpy's vectorised float32 log, within a few ulp).
UNARY = {
    "Relu": ("eltwise_relu", 0.0, 0.0),
    "Sigmoid": ("eltwise_logistic", 0.0, 0.0),
    "Tanh": ("eltwise_tanh", 0.0, 0.0),
    "Exp": ("eltwise_exp", 0.0, 0.0),
    "Sqrt": ("eltwise_sqrt", 0.0, 0.0),
    "Abs": ("eltwise_abs", 0.0, 0.0),
    "HSwish": ("eltwise_hardswish", 1.0 / 6.0, 0.5),
    "HSigmoid": ("eltwise_hardsigmoid", 1.0 / 6.0, 0.5),
    "SoftPlus": ("eltwise_soft_relu", 1.0, 0.0),
    "Mish": ("eltwise_mish", 0.0, 0.0),
}

#: Activations whose oneDNN kernel maps NaN to another number than the specification's formula, with min and
#: max as IEEE minNum/maxNum (ie_core.ops.elementwise), gives: op type -> that result. oneDNN's exp clamps its
#: input first (NaN gives +inf); its hardsigmoid takes the min before the max (NaN gives 1). A native pass
#: writes the result where the input is NaN, so these run standalone.
NAN_RESULTS = {"Exp": float("nan"), "HSigmoid": 0.0}

#: HSigmoid as post-ops (a fused chain has no input to fix up): clip's max comes first, so NaN gives 0
HSIGMOID_STEPS = (("eltwise_linear", 1.0 / 6.0, 0.5), ("eltwise_clip", 0.0, 1.0))

#: the element-wise activations (:func:`eltwise_params`)
ELTWISE_TYPES = frozenset(set(UNARY) | {"Clamp", "Elu", "Gelu", "Swish"})

NATIVE_TYPES = frozenset(
    set(BINARY) | ELTWISE_TYPES
    | {"Convolution", "GroupConvolution", "MatMul", "MaxPool", "AvgPool", "PRelu", "Softmax"}
)

MAX_RANK = 12  # DNNL_MAX_NDIMS

#: Kernel providers: callables ``provider(node, threads)`` returning a :class:`Kernel` or
#: None. ``KERNEL_PROVIDERS`` are consulted for every layer at load, before anything else:
#: a layer one claims runs that kernel, outside the fused native programs of compiler.py
#: (custom ops of loaded extensions). ``STANDALONE_PROVIDERS`` give kernels to the layers
#: the native programs do not take (the transformer and data-movement kernels).
KERNEL_PROVIDERS = [extension_kernel_provider]
STANDALONE_PROVIDERS = [transformer_kernel]


def value_of(src):
    """The constant value of the tensor ``src`` (an Output), or None when it is known only at run time."""
    return src.node.values[src.index]


def is_constant(src):
    """Whether the tensor ``src`` is a constant, without computing it (decompressed weights are computed
    each time their value is read)."""
    return src.node.stored_value(src.index) is not None


def constant_reader(src):
    """A function that reads the constant tensor ``src`` as contiguous float32: weights are read when their
    kernel is built and dropped once it has its own copy, so that at most one layer's decompressed float16
    weights are held at a time."""
    return lambda: np.ascontiguousarray(value_of(src), dtype=np.float32)


def nan_free_constant(src):
    """Whether the tensor ``src`` is a constant holding no NaN."""
    if not is_constant(src):
        return False
    value = np.asarray(value_of(src))
    return value.dtype.kind != "f" or not np.isnan(value).any()


def shape_of(src):
    return tuple(src.node.output_shapes[src.index])


def dtype_of(src):
    return np.dtype(src.node.output_dtypes[src.index])


def tensor_problem(node):
    """Why the native kernels cannot take ``node``'s tensors, or "" when they can: its run-time inputs and
    first output must be f32 (other types keep the reference's exact semantics), non-empty, of rank at most
    :data:`MAX_RANK`."""
    for src in node.inputs:
        if not is_constant(src) and dtype_of(src) != F32:
            return f"{element_type_name(dtype_of(src))} input"
    if node.output_dtypes and np.dtype(node.output_dtypes[0]) != F32:
        return f"{element_type_name(node.output_dtypes[0])} output"
    shapes = [shape_of(s) for s in node.inputs] + [tuple(s) for s in node.output_shapes]
    if any(0 in s for s in shapes):
        return "empty tensor"
    if any(len(s) > MAX_RANK for s in shapes):
        return f"rank above {MAX_RANK}"
    return ""


def kernel_for(node, threads=0, used_outputs=None):
    """The :class:`Kernel` for ``node``: an extra provider's, native oneDNN, else the reference (with the reason).

    ``threads`` is the OpenMP thread count the primitive runs with (0: the
    process default); ``used_outputs`` is the set of the node's output port
    indices that something reads (None: all).
    """
    for provider in KERNEL_PROVIDERS + STANDALONE_PROVIDERS:
        kernel = provider(node, threads)
        if kernel is not None:
            return kernel
    kernel, reason = _native(node, threads, used_outputs)
    if kernel is not None:
        return kernel
    log.debug("layer '%s' (%s) runs the numpy reference: %s", node.name, node.type, reason)
    return reference_kernel(node)._replace(reason=reason)


def native_kernel(node, threads=0, used_outputs=None):
    """The oneDNN kernel for ``node``, or None when it runs through the reference (:func:`kernel_for` says why)."""
    return _native(node, threads, used_outputs)[0]


def _native(node, threads, used_outputs):
    """(the oneDNN kernel for ``node``, "") or (None, why there is none)."""
    build = _BUILDERS.get(node.type.lower())  # IRs write "ReLU", "PReLU", "SoftMax"
    if build is None:
        if node.type.lower() in _TRANSFORMER_TYPES:
            return None, f"the native {node.type} kernel does not take these types, shapes or attributes"
        return None, f"no oneDNN kernel for {node.type}"
    problem = tensor_problem(node)
    if problem:
        return None, problem
    try:
        return build(node, [shape_of(s) for s in node.inputs], threads, used_outputs), ""
    except _NotNative as why:
        return None, str(why)
    except _ext.DnnlError as exc:
        return None, f"oneDNN has no implementation: {exc}"


def _out(node, i=0):
    return list(node.output_shapes[i])


def _attrs(node):
    return node.context().attrs


# --------------------------------------------------------------------------- spatial


def _spatial_pads(attrs, in_sp, out_sp, kernel_ext, strides):
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
            raise _NotNative(f"pads of {len(pad_l)}/{len(declared)} dims for {n} spatial dims")
    else:
        raise _NotNative(f"auto_pad {auto_pad}")
    # the right padding oneDNN's shape check accepts: out == (in + l + r - k) // s + 1
    pad_r = []
    for i, o, k, s, l_, d in zip(in_sp, out_sp, kernel_ext, strides, pad_l, declared):
        if (i + l_ + d - k) // s + 1 == o and d >= 0:
            pad_r.append(d)
        else:
            need = (o - 1) * s + k - i - l_
            if need < 0:
                raise _NotNative("an output shape the padding cannot produce")
            pad_r.append(need)
    return pad_l, pad_r, declared


def conv_params(node):
    """The oneDNN convolution parameters of a (Group)Convolution layer; raises _NotNative."""
    x_shape, w_shape = shape_of(node.inputs[0]), shape_of(node.inputs[1])
    if not is_constant(node.inputs[1]):
        raise _NotNative("weights known only at run time")
    if len(x_shape) not in (3, 4, 5):
        raise _NotNative(f"rank {len(x_shape)} input")
    attrs = _attrs(node)
    nsp = len(x_shape) - 2
    strides = list(attrs.ints("strides", (1,) * nsp))
    dil = list(attrs.ints("dilations", (1,) * nsp))
    if len(strides) != nsp or len(dil) != nsp:
        raise _NotNative(f"strides or dilations not of {nsp} spatial dims")
    grouped = canonical_type(node) == "GroupConvolution"
    if len(w_shape) != nsp + (3 if grouped else 2):
        raise _NotNative(f"rank {len(w_shape)} weights")
    k = w_shape[3:] if grouped else w_shape[2:]
    out = _out(node)
    ext = [(kk - 1) * d + 1 for kk, d in zip(k, dil)]
    pad_l, pad_r, _ = _spatial_pads(attrs, x_shape[2:], out[2:], ext, strides)
    return dict(weights=constant_reader(node.inputs[1]), w_dims=list(w_shape), grouped=grouped,
                kernel=list(k), strides=strides, dilations=[d - 1 for d in dil], pad_l=pad_l, pad_r=pad_r, dst=out)


def _conv(node, in_shapes, threads, used):
    p = conv_params(node)
    # Spatial and grouped convolutions run much faster on oneDNN's blocked layouts, even with a
    # reorder of the activations on either side; 1x1 ones are faster as a plain GEMM.
    blocked = p["grouped"] or any(kk > 1 for kk in p["kernel"])
    prim = _ext.convolution(list(in_shapes[0]), p["weights"](), p["w_dims"], p["dst"], p["strides"], p["dilations"],
                            p["pad_l"], p["pad_r"], threads, blocked)
    run = prim.run
    return Kernel(lambda x, *_: run([x]), prim.impl)


def pool_params(node, used=None):
    """The oneDNN pooling parameters of a MaxPool/AvgPool layer; raises _NotNative."""
    x_shape = shape_of(node.inputs[0])
    if len(x_shape) not in (3, 4, 5):
        raise _NotNative(f"rank {len(x_shape)} input")
    attrs = _attrs(node)
    nsp = len(x_shape) - 2
    kernel = list(attrs.ints("kernel"))
    strides = list(attrs.ints("strides", (1,) * nsp))
    dil = list(attrs.ints("dilations", (1,) * nsp))  # MaxPool v8+, AvgPool v16
    if not (len(kernel) == len(strides) == len(dil) == nsp):
        raise _NotNative(f"kernel, strides or dilations not of {nsp} spatial dims")
    rounding = attrs.str("rounding_type", "floor").lower()
    if rounding not in ("floor", "ceil"):
        raise _NotNative(f"rounding_type {rounding}")
    out = _out(node)
    ext = [(k - 1) * d + 1 for k, d in zip(kernel, dil)]
    pad_l, pad_r, declared = _spatial_pads(attrs, x_shape[2:], out[2:], ext, strides)
    # every window must start inside the padded input (otherwise the result is ill-defined)
    for i, o, s, l_ in zip(x_shape[2:], out[2:], strides, pad_l):
        if (o - 1) * s >= i + l_:
            raise _NotNative("a window starting in the padding")
    if canonical_type(node) == "MaxPool":
        alg = "pooling_max"
        if node.num_outputs > 1 and (used is None or any(i > 0 for i in used)):
            raise _NotNative("the indices output is read")
    else:
        if attrs.bool("exclude-pad", False):
            alg = "pooling_avg_exclude_padding"
        else:
            alg = "pooling_avg_include_padding"
            # oneDNN divides by the whole kernel; OpenVINO clips the window to the declared pads
            if any(r > d for r, d in zip(pad_r, declared)):
                raise _NotNative("ceil windows past the declared padding (oneDNN divides by the whole kernel)")
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
    a_shape, b_shape = list(shape_of(node.inputs[0])), list(shape_of(node.inputs[1]))
    attrs = _attrs(node)
    ta = attrs.bool("transpose_a", False)
    tb = attrs.bool("transpose_b", False)

    def logical(shape, transpose, is_b):
        if len(shape) == 1:
            dims = [shape[0], 1] if is_b else [1, shape[0]]
            strides = [1, 1]
            return dims, strides
        strides = dense_strides(shape)
        dims = list(shape)
        if transpose:
            dims[-1], dims[-2] = dims[-2], dims[-1]
            strides[-1], strides[-2] = strides[-2], strides[-1]
        return dims, strides

    a_dims, a_strides = logical(a_shape, ta, False)
    b_dims, b_strides = logical(b_shape, tb, True)
    rank = max(len(a_dims), len(b_dims))
    if rank > MAX_RANK:
        raise _NotNative(f"rank above {MAX_RANK}")

    def pad(dims, strides):
        extra = rank - len(dims)
        top = dims[0] * strides[0] if dims else 1
        return [1] * extra + dims, [top] * extra + strides

    a_dims, a_strides = pad(a_dims, a_strides)
    b_dims, b_strides = pad(b_dims, b_strides)
    if a_dims[-1] != b_dims[-2]:
        raise _NotNative("inner dimensions differ")
    batch = []
    for x, y in zip(a_dims[:-2], b_dims[:-2]):
        if x != y and 1 not in (x, y):
            raise _NotNative("batch dimensions that do not broadcast")
        batch.append(max(x, y))
    dst = batch + [a_dims[-2], b_dims[-1]]
    if int(np.prod(dst)) != int(np.prod(_out(node))):
        raise _NotNative("an output shape that does not match the operands")
    return dict(a_dims=a_dims, a_strides=a_strides, b_dims=b_dims, b_strides=b_strides, dst=dst,
                b_const=constant_reader(node.inputs[1]) if is_constant(node.inputs[1]) else None)


def _matmul(node, in_shapes, threads, used):
    p = matmul_params(node)
    prim = _ext.matmul(p["a_dims"], p["a_strides"], p["b_dims"], p["b_strides"], p["dst"], _out(node), threads)
    run = prim.run
    return Kernel(lambda a, b: run([a, b]), prim.impl)


def dense_strides(shape):
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * max(shape[i + 1], 1)
    return strides


# --------------------------------------------------------------------------- elementwise


def _binary(node, in_shapes, threads, used):
    alg, commutative = BINARY[canonical_type(node)]
    broadcast = _attrs(node).str("auto_broadcast", "numpy").lower()
    if broadcast not in ("numpy", "none"):
        raise _NotNative(f"auto_broadcast {broadcast}")
    out = tuple(_out(node))
    rank = len(out)
    a, b = (tuple([1] * (rank - len(s)) + list(s)) for s in in_shapes[:2])
    if len(a) != rank or len(b) != rank:
        raise _NotNative("an operand of higher rank than the output")
    for s in (a, b):
        if any(x != o and x != 1 for x, o in zip(s, out)):
            raise _NotNative("operands that do not broadcast to the output")
    swap = a != out and b == out and commutative
    if canonical_type(node) in NAN_FREE_SECOND_OPERAND:
        if nan_free_constant(node.inputs[1]):
            swap = False
        elif nan_free_constant(node.inputs[0]):
            swap = True
        else:
            raise _NotNative("no constant operand free of NaN")
    if swap:
        a, b = b, a
    prim = _ext.binary(alg, list(out), list(b), list(out), list(out), threads)
    run = prim.run
    first, second = (1, 0) if swap else (0, 1)
    if a != out:  # oneDNN broadcasts only src1: materialise src0's broadcast
        full = out
        return Kernel(lambda *xy: run([np.broadcast_to(np.asarray(xy[first], np.float32).reshape(a), full),
                                       xy[second]]), prim.impl)
    return Kernel(lambda *xy: run([xy[first], xy[second]]), prim.impl)


def eltwise_params(node):
    """(oneDNN algorithm, alpha, beta) of an element-wise activation layer (:data:`ELTWISE_TYPES`); raises _NotNative."""
    t = canonical_type(node)
    if t in UNARY:
        return UNARY[t]
    attrs = _attrs(node)
    if t == "Clamp":
        return "eltwise_clip", attrs.float("min"), attrs.float("max")
    if t == "Elu":
        return "eltwise_elu", attrs.float("alpha"), 0.0
    if t == "Gelu":
        mode = attrs.str("approximation_mode", "ERF").upper()
        if mode not in ("ERF", "TANH"):
            raise _NotNative(f"approximation_mode {mode}")
        return ("eltwise_gelu_erf" if mode == "ERF" else "eltwise_gelu_tanh"), 0.0, 0.0
    if t == "Swish":
        beta = 1.0
        if len(node.inputs) > 1:
            value = value_of(node.inputs[1])
            if value is None or np.size(value) != 1:
                raise _NotNative("beta not a constant scalar")
            beta = float(np.asarray(value).reshape(()))
        return "eltwise_swish", beta, 0.0
    raise _NotNative(f"no oneDNN eltwise algorithm for {node.type}")


def _eltwise(node, in_shapes, threads, used):
    if tuple(in_shapes[0]) != tuple(node.output_shapes[0]):
        raise _NotNative("an output shape other than the input's")
    alg, alpha, beta = eltwise_params(node)
    prim = _ext.eltwise(alg, list(node.output_shapes[0]) or [1], _out(node), float(alpha), float(beta),
                        NAN_RESULTS.get(canonical_type(node)), threads)
    run = prim.run
    return Kernel(lambda x, *_: run([x]), prim.impl)


def _prelu(node, in_shapes, threads, used):
    x, slope = list(in_shapes[0]), list(in_shapes[1])
    rank = len(x)
    if rank == 0:
        raise _NotNative("a scalar input")
    if len(slope) == 1 and rank >= 2 and slope[0] == x[1]:
        w = [1] * rank
        w[1] = slope[0]  # per-channel slope
    elif len(slope) <= rank:
        w = [1] * (rank - len(slope)) + slope
        if any(s != d and s != 1 for s, d in zip(w, x)):
            raise _NotNative("a slope that does not broadcast to the input")
    else:
        raise _NotNative("a slope of higher rank than the input")
    prim = _ext.prelu(x, w, _out(node), threads)
    run = prim.run
    return Kernel(lambda a, s: run([a, s]), prim.impl)


def _softmax(node, in_shapes, threads, used):
    shape = list(in_shapes[0])
    rank = len(shape)
    if rank == 0:
        raise _NotNative("a scalar input")
    axis = _attrs(node).int("axis", 1)
    if axis < 0:
        axis += rank
    if not 0 <= axis < rank:
        raise _NotNative(f"axis {axis} of a rank {rank} input")
    prim = _ext.softmax(shape, axis, _out(node), threads)
    run = prim.run
    return Kernel(lambda x: run([x]), prim.impl)


_BUILDERS = {
    "Convolution": _conv,
    "GroupConvolution": _conv,
    "MaxPool": _pool,
    "AvgPool": _pool,
    "MatMul": _matmul,
    "PRelu": _prelu,
    "Softmax": _softmax,
}
_BUILDERS.update({t: _binary for t in BINARY})
_BUILDERS.update({t: _eltwise for t in ELTWISE_TYPES})
_CANONICAL = {t.lower(): t for t in _BUILDERS}
_BUILDERS = {t.lower(): b for t, b in _BUILDERS.items()}
_TRANSFORMER_TYPES = {t.lower() for t in TRANSFORMER_TYPES}


def canonical_type(node):
    """The node's op type as spelled here ("ReLU" in an IR is "Relu"; types without a kernel here as written)."""
    return _CANONICAL.get(node.type.lower(), node.type)
