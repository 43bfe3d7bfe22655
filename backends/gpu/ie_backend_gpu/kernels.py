"""Kernel selection: for each layer type, whether a kernel of ``cl/*.cl`` runs it and how.

A chooser ``CHOOSERS[type](node, plan, chain)`` checks a layer (and the epilogue ``chain`` of
layers it would absorb, see :func:`epilogue_chain`) and returns a :class:`Choice`, or raises
:class:`~ie_backend_gpu.plan.NoKernel` with the reason. ``Choice.emit()`` appends the launches to
the plan; it is called by ``compile()`` only, ``query()`` stops at the choice.
"""

import math
from typing import Callable, NamedTuple

import numpy as np

from ie_core.backend import canonical_element_type, get_op

from .plan import LINEAR_GROUP, MAX_ELEMENTS, NoKernel, linear_size

#: activation layer type -> code of ``activate()`` in cl/common.cl
ACTIVATIONS = {
    "Relu": 1, "Clamp": 2, "Gelu": 3, "Sigmoid": 5, "Tanh": 6, "Exp": 7, "Log": 8, "Sqrt": 9, "Abs": 10,
    "Negative": 11, "Erf": 12, "Swish": 13, "HSwish": 14, "HSigmoid": 15, "Elu": 16, "SoftPlus": 17,
    "Mish": 18, "Floor": 19, "Ceiling": 20, "Sin": 21, "Cos": 22, "SoftSign": 23,
}
_GELU_TANH = 4

#: binary layer type -> kernel name suffix in cl/eltwise.cl
BINARY = {
    "Add": "add", "Subtract": "subtract", "Multiply": "multiply", "Divide": "divide", "Maximum": "maximum",
    "Minimum": "minimum", "Power": "power", "SquaredDifference": "squared_difference",
}

#: comparison layer type -> kernel name suffix in cl/eltwise.cl
COMPARISONS = {"Equal": "equal", "NotEqual": "not_equal", "Less": "less", "LessEqual": "less_equal",
               "Greater": "greater", "GreaterEqual": "greater_equal"}
#: binary kernels that also exist for int32 and int64 tensors
_INT_BINARY = ("add", "subtract", "multiply", "maximum", "minimum")
_INT_NAMES = {np.dtype(np.int32): "i32", np.dtype(np.int64): "i64"}

#: pure data-movement layer types run through an index table (each output element's source)
INDEXED = ("StridedSlice", "Slice", "Split", "VariadicSplit", "Tile", "Roll", "DepthToSpace", "SpaceToDepth",
           "ShuffleChannels")
#: the largest index table (elements) built for them
MAX_TABLE = 1 << 24

#: reduction layer type -> operation code of cl/norm.cl
REDUCTIONS = {"ReduceSum": 0, "ReduceMean": 1, "ReduceMax": 2, "ReduceMin": 3, "ReduceProd": 4, "ReduceL1": 5,
              "ReduceL2": 6}

#: dtype -> the name conversion kernels use for it
_CONVERT_NAMES = {np.dtype(np.float32): "float", np.dtype(np.int64): "i64", np.dtype(np.int32): "i32",
                  np.dtype(np.uint8): "u8", np.dtype(np.int8): "i8", np.dtype(np.bool_): "bool"}
_CONVERT_KERNELS = {
    ("i64", "float"): "convert_i64_to_float", ("i32", "float"): "convert_i32_to_float",
    ("u8", "float"): "convert_u8_to_float", ("i8", "float"): "convert_i8_to_float",
    ("bool", "float"): "convert_u8_to_float",
    ("float", "i64"): "convert_float_to_i64", ("float", "i32"): "convert_float_to_i32",
    ("float", "u8"): "convert_float_to_u8", ("float", "i8"): "convert_float_to_i8",
    ("float", "bool"): "convert_float_to_bool",
    ("i64", "i32"): "convert_i64_to_i32", ("i32", "i64"): "convert_i32_to_i64",
    ("u8", "i32"): "convert_u8_to_i32", ("u8", "i64"): "convert_u8_to_i64",
    ("bool", "i32"): "convert_u8_to_i32", ("bool", "i64"): "convert_u8_to_i64",
    ("i64", "bool"): "convert_i64_to_bool", ("i32", "bool"): "convert_i32_to_bool",
    ("u8", "bool"): "convert_u8_to_bool",
}

#: the tiled kernels' output tile and work-group edge (cl/gemm.cl TILE, WG)
TILE, TILE_GROUP = 64, 8
#: MatMuls with at most this many rows run the plain kernel (tiles of 64 rows would be mostly empty)
GEMV_ROWS = 8
#: work-group size of the row-reduction kernels (cl/norm.cl RED_WG)
ROW_GROUP = 64
#: queries per work-group of the attention kernel (cl/attention.cl QUERY_GROUP)
QUERY_GROUP = 32
#: the attention kernel keeps a query and an output row of at most this many values per work-item
MAX_HEAD_DIM = 128
#: floats of local memory the attention kernel's key and value tiles may take (16 KiB)
ATTENTION_TILE_FLOATS = 4096

HAS_BIAS, HAS_RESIDUAL = 1, 2
NORMALIZE_VARIANCE, EPS_INSIDE, HAS_SCALE, HAS_SHIFT = 1, 2, 4, 8


class Choice(NamedTuple):
    """A layer's kernel: ``exec_type`` (its name in perf counts and query) and ``emit()``."""

    exec_type: str
    emit: Callable


# ---------------------------------------------------------------------------------------------- helpers


def canonical_type(node):
    """The layer's op type as the op registry spells it ("Relu" for an IR's "ReLU")."""
    return node.op.type if node.op is not None else node.type


def _shape(src):
    return tuple(src.node.output_shapes[src.index])


def _dtype(src):
    return np.dtype(src.node.output_dtypes[src.index])


def _value(src):
    return src.node.values[src.index]


def float_type(src):
    """Whether graph tensor ``src`` is float32 (the float type the kernels take)."""
    return _dtype(src) == np.float32


def _require_float(node, *srcs):
    for src in srcs:
        if not float_type(src):
            raise NoKernel(f"{node.type} on {_dtype(src)} tensors (the kernels take float32)")


def _count(shape):
    return int(np.prod(shape, dtype=np.int64))


def _dense_strides(shape):
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return strides[::-1]


def _broadcast_strides(shape, target):
    """Element strides of a dense ``shape`` broadcast (right-aligned) to ``target``: 0 on broadcast axes."""
    shape = (1,) * (len(target) - len(shape)) + tuple(shape)
    return [0 if d == 1 and t != 1 else s for d, t, s in zip(shape, target, _dense_strides(shape))]


def _collapse(dims, *strides):
    """Merge adjacent iteration dims that every stride list walks contiguously; drop unit dims."""
    out_dims, out_strides = [], [[] for _ in strides]
    for i, d in enumerate(dims):
        if d == 1:
            continue
        if out_dims and all(s[-1] == st[i] * d for s, st in zip(out_strides, strides)):
            out_dims[-1] *= d
            for s, st in zip(out_strides, strides):
                s[-1] = st[i]
            continue
        out_dims.append(d)
        for s, st in zip(out_strides, strides):
            s.append(st[i])
    if not out_dims:
        return [1], [[0] for _ in strides]
    return out_dims, out_strides


def _i32(*values):
    return [np.int32(v) for v in values]


def _spatial(attrs, key, n, default):
    values = attrs.ints(key, None)
    return list(values) if values else [default] * n


def window_pads(attrs, in_sizes, eff_kernel, strides):
    """(pads_begin, pads_end) of a sliding window after ``auto_pad``, as the core's ops compute them."""
    n = len(in_sizes)
    mode = (attrs.str("auto_pad", "explicit") or "explicit").lower()
    if mode == "valid":
        return [0] * n, [0] * n
    if mode in ("same_upper", "same_lower"):
        begin, end = [], []
        for size, k, s in zip(in_sizes, eff_kernel, strides):
            total = max(0, (-(-size // s) - 1) * s + k - size)
            small, big = total // 2, total - total // 2
            begin.append(small if mode == "same_upper" else big)
            end.append(big if mode == "same_upper" else small)
        return begin, end
    return _spatial(attrs, "pads_begin", n, 0), _spatial(attrs, "pads_end", n, 0)


def _element_kernel(plan, base, dtype, what):
    """``base`` + the storage size in bytes of ``dtype`` (movement kernels work on raw elements)."""
    size = plan.storage(dtype).itemsize
    if size not in (1, 2, 4, 8):
        raise NoKernel(f"{what} of {np.dtype(dtype)} elements")
    return f"{base}_{size}"


def _fits(node):
    """Raise NoKernel for a layer whose tensors are empty or too large for 32-bit indexing."""
    for shape in [_shape(src) for src in node.inputs] + [s for s in node.output_shapes if s is not None]:
        count = _count(shape)
        if count > MAX_ELEMENTS:
            raise NoKernel(f"a tensor of shape {list(shape)} has more elements than the kernels index (2^31)")
        if count == 0:
            raise NoKernel(f"empty tensor of shape {list(shape)}")


# ---------------------------------------------------------------------------------------------- epilogues


def activation(node):
    """(code, alpha, beta) of an element-wise float activation layer the kernels run, or None."""
    kind = canonical_type(node)
    if kind not in ACTIVATIONS or not float_type(node.inputs[0]) or node.output_dtypes[0] != np.float32:
        return None
    attrs = node.context().attrs
    if kind == "Clamp":
        return ACTIVATIONS[kind], float(np.float32(attrs.float("min"))), float(np.float32(attrs.float("max")))
    if kind == "Gelu":
        mode = attrs.str("approximation_mode", "erf").lower() if node.op_version >= 7 else "erf"
        if mode not in ("erf", "tanh"):
            return None
        return (ACTIVATIONS[kind] if mode == "erf" else _GELU_TANH), 0.0, 0.0
    if kind == "Elu":
        return ACTIVATIONS[kind], attrs.float("alpha"), 0.0
    if kind == "Swish":
        beta = 1.0
        if len(node.inputs) > 1:
            value = _value(node.inputs[1])
            if value is None or np.size(value) != 1:
                return None
            beta = float(np.asarray(value).reshape(-1)[0])
        return ACTIVATIONS[kind], beta, 0.0
    if len(node.inputs) != 1:
        return None
    return ACTIVATIONS[kind], 0.0, 0.0


_EPILOGUE_ROLES = {
    "Convolution": ("scale", "bias", "residual", "activation"),
    "GroupConvolution": ("scale", "bias", "residual", "activation"),
    "MatMul": ("bias", "residual", "activation"),
    "MVN": ("scale", "shift"),
}


def epilogue_chain(node, consumers, result_ports, taken=()):
    """The layers after ``node`` its kernel can absorb: [(role, layer, data)], in order.

    Roles: "scale" (Multiply by a constant along the channel axis of a convolution or the last axis
    of an MVN: data the vector), "bias"/"shift" (Add of such a constant), "residual" (Add of
    another tensor of the same shape: data that Output), "activation" (data (code, alpha, beta)).
    Each layer must be the only reader of the previous one's output, which is no network output,
    and not in ``taken`` (absorbed by another kernel already).
    """
    kind = canonical_type(node)
    roles = _EPILOGUE_ROLES.get(kind)
    if roles is None or node.num_outputs != 1 or not node.output_shapes[0]:
        return []
    out_shape = tuple(node.output_shapes[0])
    axis = 1 if kind in ("Convolution", "GroupConvolution") else len(out_shape) - 1
    chain, allowed, current = [], list(roles), node.output(0)
    while True:
        readers = consumers.get(current, [])
        if current in result_ports or len(readers) != 1:
            break
        nxt, port = readers[0]
        if nxt in taken:
            break
        found = _epilogue_role(kind, nxt, port, out_shape, axis)
        if found is None or found[0] not in allowed:
            break
        role, data = found
        chain.append((role, nxt, data))
        allowed = allowed[allowed.index(role) + 1:]
        current = nxt.output(0)
    return chain


def _epilogue_role(kind, node, port, out_shape, axis):
    if node.num_outputs != 1 or tuple(node.output_shapes[0]) != out_shape or node.output_dtypes[0] != np.float32:
        return None
    node_kind = canonical_type(node)
    if node_kind in ("Add", "Multiply"):
        if node.context().attrs.str("auto_broadcast", "numpy").lower() not in ("numpy", "none"):
            return None
        other = node.inputs[1 - port]
        if not float_type(other):
            return None
        value = _value(other)
        if value is not None:
            vector = _along_axis(np.asarray(value), out_shape, axis)
            if vector is None:
                return None
            if node_kind == "Multiply":
                return ("scale", vector) if kind != "MatMul" else None
            return ("shift" if kind == "MVN" else "bias"), vector
        if node_kind == "Add" and kind != "MVN" and _shape(other) == out_shape:
            return "residual", other
        return None
    if kind == "MVN":
        return None
    act = activation(node)
    return ("activation", act) if act is not None else None


def _along_axis(value, shape, axis):
    """``value`` as a float32 vector along ``axis`` of ``shape`` if it varies along that axis only."""
    if value.ndim > len(shape):
        return None
    padded = (1,) * (len(shape) - value.ndim) + value.shape
    if any(d != 1 for i, d in enumerate(padded) if i != axis) or padded[axis] not in (1, shape[axis]):
        return None
    return np.ascontiguousarray(np.broadcast_to(value.reshape(-1), (shape[axis],)), dtype=np.float32)


class _Epilogue:
    """The absorbed layers of a fused kernel: scale, bias, residual, activation and the last layer."""

    def __init__(self, node, chain):
        roles = {role: data for role, _, data in chain}
        self.scale = roles.get("scale")
        self.bias = roles.get("bias", roles.get("shift"))
        self.residual = roles.get("residual")
        self.act = roles.get("activation", (0, 0.0, 0.0))
        self.last = chain[-1][1] if chain else node

    def args(self, plan):
        """(output, bias, residual, flags, act, alpha, beta) kernel arguments."""
        out = plan.output(self.last)
        bias = plan.const(self.bias) if self.bias is not None else None
        residual = plan.arg(self.residual) if self.residual is not None else None
        flags = (HAS_BIAS if bias is not None else 0) | (HAS_RESIDUAL if residual is not None else 0)
        code, alpha, beta = self.act
        return out, bias, residual, np.int32(flags), np.int32(code), np.float32(alpha), np.float32(beta)


# ---------------------------------------------------------------------------------------------- choosers


def _convolution(node, plan, chain):
    x, w = node.inputs[:2]
    _require_float(node, x, w)
    weights = _value(w)
    if weights is None:
        raise NoKernel("the filters are not a constant")
    x_shape = _shape(x)
    if len(x_shape) not in (3, 4):
        raise NoKernel(f"{len(x_shape) - 2}-D convolution (the kernels are 1-D and 2-D)")
    grouped = canonical_type(node) == "GroupConvolution"
    if grouped:
        groups, og, cg = weights.shape[:3]
        kernel = list(weights.shape[3:])
    else:
        groups, og, cg = 1, weights.shape[0], weights.shape[1]
        kernel = list(weights.shape[2:])
    attrs = node.context().attrs
    n = len(x_shape) - 2
    strides, dilations = _spatial(attrs, "strides", n, 1), _spatial(attrs, "dilations", n, 1)
    out = tuple(node.output_shapes[0])
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    pads, _ = window_pads(attrs, x_shape[2:], eff, strides)
    lead = [1] * (2 - n)  # a 1-D convolution runs as 2-D with height 1
    height, width = lead + list(x_shape[2:])
    out_h, out_w = lead + list(out[2:])
    kh, kw = lead + kernel
    sh, sw = lead + strides
    dh, dw = lead + dilations
    ph, pw = [0] * (2 - n) + pads
    batch = x_shape[0]
    epi = _Epilogue(node, chain)
    depthwise = grouped and og == 1 and cg == 1
    pointwise = kh * kw == 1 and sh == sw == 1 and ph == pw == 0
    exec_type = "conv_depthwise" if depthwise else ("conv_gemm_1x1" if pointwise else "conv_gemm")

    def emit():
        w3 = np.asarray(weights, dtype=np.float32).reshape(groups, og, cg * kh * kw)
        if epi.scale is not None:
            w3 = w3 * epi.scale.reshape(groups, og, 1)
        out_arg, bias, residual, *tail = epi.args(plan)
        geometry = _i32(kh, kw, sh, sw, dh, dw, ph, pw)
        local = (TILE_GROUP, TILE_GROUP, 1)
        if depthwise:
            args = (plan.arg(x), plan.const(w3.reshape(groups, kh * kw)), out_arg, bias, residual,
                    *_i32(groups, height, width, out_h, out_w), *geometry, *tail)
            size = (_round_up(out_w, TILE_GROUP), _round_up(out_h, TILE_GROUP), batch * groups)
            plan.launch("gemm", "conv_depthwise", args, size, local, node.name)
            return
        packed = np.ascontiguousarray(w3.transpose(0, 2, 1))  # [G][K][OG]
        ci, r, c = np.meshgrid(np.arange(cg), np.arange(kh), np.arange(kw), indexing="ij")
        taps = np.stack([ci * height * width, r * dh, c * dw, 0 * ci], axis=-1)
        args = (plan.arg(x), plan.const(packed), out_arg, bias, residual, plan.meta(taps.ravel()),
                *_i32(x_shape[1], height, width, groups, og, cg, out_h, out_w, sh, sw, ph, pw, cg * kh * kw,
                      pointwise), *tail)
        size = (_tiles(out_h * out_w), _tiles(og), batch * groups)
        plan.launch("gemm", "conv_gemm", args, size, local, node.name)

    return Choice(exec_type, emit)


def _round_up(value, multiple):
    return -(-int(value) // multiple) * multiple


def _tiles(extent):
    """Global size along one axis of a tiled kernel: TILE_GROUP work-items per TILE outputs."""
    return -(-int(extent) // TILE) * TILE_GROUP


def _matmul(node, plan, chain):
    a, b = node.inputs
    _require_float(node, a, b)
    attrs = node.context().attrs
    a_shape, b_shape = _shape(a), _shape(b)
    ta = attrs.bool("transpose_a", False) and len(a_shape) > 1
    tb = attrs.bool("transpose_b", False) and len(b_shape) > 1
    if chain and (len(a_shape) == 1 or len(b_shape) == 1):
        raise NoKernel("fusion with a vector operand")
    a_mat = (1,) + a_shape if len(a_shape) == 1 else a_shape
    b_mat = b_shape + (1,) if len(b_shape) == 1 else b_shape
    rows, depth = (a_mat[-1], a_mat[-2]) if ta else a_mat[-2:]
    cols = b_mat[-2] if tb else b_mat[-1]
    a_batch, b_batch = a_mat[:-2], b_mat[:-2]
    batch = tuple(np.broadcast_shapes(a_batch, b_batch))
    b_value = _value(b)
    fold = not ta and not b_batch and _value(a) is None  # the batch of A becomes rows of one product
    if fold:
        rows, batch, a_batch = _count(a_mat[:-1]), (), ()
    gemv = rows <= GEMV_ROWS
    exec_type = "matmul_gemv" if gemv else "matmul_tiled"
    epi = _Epilogue(node, chain)
    if epi.bias is not None and epi.bias.shape != (cols,):
        raise NoKernel("the bias does not run along the output columns")

    def emit():
        sam, sak = (1, rows) if ta else (depth, 1)
        if b_value is not None:
            logical = np.asarray(b_value, dtype=np.float32).reshape(b_mat)
            if tb:
                logical = np.swapaxes(logical, -1, -2)
            b_arg, (sbk, sbn) = plan.const(np.ascontiguousarray(logical)), (cols, 1)
        else:
            b_arg, (sbk, sbn) = plan.arg(b), ((1, depth) if tb else (cols, 1))
        offsets = np.stack([_batch_offsets(a_batch, batch, rows * depth), _batch_offsets(b_batch, batch, depth * cols)],
                           axis=1)
        out_arg, bias, residual, *tail = epi.args(plan)
        args = (plan.arg(a), b_arg, out_arg, bias, residual, plan.meta(offsets.ravel()),
                *_i32(rows, cols, depth, sam, sak, sbk, sbn), *tail)
        count = _count(batch)
        if gemv:
            size, local = (_round_up(cols, LINEAR_GROUP), rows, count), (LINEAR_GROUP, 1, 1)
        else:
            size, local = (_tiles(cols), _tiles(rows), count), (TILE_GROUP, TILE_GROUP, 1)
        plan.launch("gemm", exec_type, args, size, local, node.name)

    return Choice(exec_type, emit)


def _batch_offsets(own, batch, matrix_size):
    """Element offset of each matrix of an operand with batch dims ``own`` for every entry of ``batch``."""
    index = np.arange(_count(own), dtype=np.int64).reshape(own) * matrix_size
    padded = index.reshape((1,) * (len(batch) - len(own)) + tuple(own))
    return np.broadcast_to(padded, batch).reshape(-1)


def _attention(node, plan, chain):
    q, k, v = node.inputs[:3]
    _require_float(node, q, k, v)
    q_shape, k_shape, v_shape = _shape(q), _shape(k), _shape(v)
    out = tuple(node.output_shapes[0])
    batch = out[:-2]
    if q_shape[:-2] != batch or k_shape[:-2] != batch or v_shape[:-2] != batch:
        raise NoKernel(f"query, key and value batch dims that broadcast ({q_shape}, {k_shape}, {v_shape})")
    (length, head), source, value_dim = q_shape[-2:], k_shape[-2], v_shape[-1]
    if max(head, value_dim) > MAX_HEAD_DIM:
        raise NoKernel(f"head size {max(head, value_dim)} > {MAX_HEAD_DIM}")
    causal = node.context().attrs.bool("causal", False)
    mask = node.inputs[3] if len(node.inputs) > 3 and not causal else None
    if mask is not None and _dtype(mask) not in (np.float32, np.bool_):
        raise NoKernel(f"a {_dtype(mask)} attention mask")
    scale = 1.0 / math.sqrt(head)
    if len(node.inputs) > 4:
        value = _value(node.inputs[4])
        if value is None:
            raise NoKernel("the scale is not a constant")
        scale = float(np.asarray(value).reshape(-1)[0])

    key_tile = 32 if head + value_dim <= ATTENTION_TILE_FLOATS // 32 else 16

    def emit():
        nbd = len(batch)
        mask_strides = _broadcast_strides(_shape(mask), out[:-1] + (source,)) if mask is not None else [0] * (nbd + 2)
        meta = (list(batch) + _dense_strides(q_shape)[:nbd] + _dense_strides(k_shape)[:nbd]
                + _dense_strides(v_shape)[:nbd] + mask_strides[:nbd] + _dense_strides(out)[:nbd]
                + [head, head, value_dim, mask_strides[nbd], mask_strides[nbd + 1], value_dim])
        fmask = plan.arg(mask) if mask is not None and float_type(mask) else None
        bmask = plan.arg(mask) if mask is not None and not float_type(mask) else None
        kind = 0 if mask is None else (1 if fmask is not None else 2)
        args = (plan.arg(q), plan.arg(k), plan.arg(v), fmask, bmask, plan.output(node), plan.meta(meta),
                *_i32(nbd, length, source), np.float32(scale), *_i32(kind, causal))
        plan.launch("attention", "sdpa", args, (_round_up(length, QUERY_GROUP), _count(batch)), (QUERY_GROUP, 1),
                    node.name, (f"-DHEAD_DIM={head}", f"-DVALUE_DIM={value_dim}", f"-DKEY_TILE={key_tile}"))

    return Choice("sdpa", emit)


def _rows(x, first, last):
    """(rows, length, stride) of rows over the adjacent axes first..last of ``x``."""
    shape = _shape(x)
    length = _count(shape[first:last + 1])
    stride = _count(shape[last + 1:])
    return _count(shape) // length, length, stride


def _mvn(node, plan, chain):
    x = node.inputs[0]
    _require_float(node, x)
    ctx = node.context()
    axes = sorted(get_op("MVN").impl.axes(ctx))
    rank = len(_shape(x))
    if not axes:
        raise NoKernel("MVN over no axes")
    if axes != list(range(axes[0], axes[-1] + 1)):
        raise NoKernel(f"MVN over non-adjacent axes {axes}")
    if chain and axes != [rank - 1]:
        raise NoKernel("an affine part after an MVN that is not over the last axis")
    attrs = ctx.attrs
    rows, length, stride = _rows(x, axes[0], axes[-1])
    flags = NORMALIZE_VARIANCE if attrs.bool("normalize_variance", node.op_version >= 6) else 0
    if node.op_version < 6 or attrs.str("eps_mode", "inside_sqrt").lower() == "inside_sqrt":
        flags |= EPS_INSIDE
    epi = _Epilogue(node, chain)
    scale = epi.scale
    exec_type = "layer_norm" if chain else "mvn"

    def emit():
        scale_arg = plan.const(scale) if scale is not None else None
        shift_arg = plan.const(epi.bias) if epi.bias is not None else None
        all_flags = flags | (HAS_SCALE if scale is not None else 0) | (HAS_SHIFT if epi.bias is not None else 0)
        args = (plan.arg(x), plan.output(epi.last), scale_arg, shift_arg, *_i32(length, stride),
                np.float32(attrs.float("eps")), np.int32(all_flags))
        plan.launch("norm", "mvn", args, (rows * ROW_GROUP,), (ROW_GROUP,), node.name)

    return Choice(exec_type, emit)


def _softmax(node, plan, chain):
    x = node.inputs[0]
    _require_float(node, x)
    rank = len(_shape(x))
    axis = node.context().attrs.int("axis", 1) % rank
    rows, length, stride = _rows(x, axis, axis)
    log = canonical_type(node) == "LogSoftmax"
    exec_type = "log_softmax" if log else "softmax"

    def emit():
        args = (plan.arg(x), plan.output(node), *_i32(length, stride, log))
        plan.launch("norm", "softmax", args, (rows * ROW_GROUP,), (ROW_GROUP,), node.name)

    return Choice(exec_type, emit)


def _reduce(node, plan, chain):
    x = node.inputs[0]
    _require_float(node, x)
    kind = canonical_type(node)
    axes = get_op(kind).impl.axes(node.context())
    if not axes:
        return _alias(node, plan, chain)
    shape = _shape(x)
    strides = _dense_strides(shape)
    kept = [i for i in range(len(shape)) if i not in axes]
    kept_dims = [shape[i] for i in kept] or [1]
    kept_strides = [strides[i] for i in kept] or [0]
    reduced_dims, reduced_strides = [shape[i] for i in axes], [strides[i] for i in axes]
    outputs, count = _count(node.output_shapes[0]), _count(reduced_dims)
    exec_type = f"reduce_{kind[len('Reduce'):].lower()}"

    def emit():
        meta = plan.meta(kept_dims + kept_strides + reduced_dims + reduced_strides)
        args = (plan.arg(x), plan.output(node), meta, *_i32(len(kept_dims), len(reduced_dims), count,
                                                                       REDUCTIONS[kind]))
        plan.launch("norm", "reduce", args, (outputs * ROW_GROUP,), (ROW_GROUP,), node.name)

    return Choice(exec_type, emit)


def _pool(node, plan, chain):
    x = node.inputs[0]
    _require_float(node, x)
    kind = canonical_type(node)
    if node.num_outputs > 1:
        indices = node.output(1)
        if plan.consumers.get(indices) or indices in plan.result_ports:
            raise NoKernel("the MaxPool indices output is read")
    x_shape = _shape(x)
    if len(x_shape) not in (3, 4):
        raise NoKernel(f"{len(x_shape) - 2}-D pooling (the kernels are 1-D and 2-D)")
    attrs = node.context().attrs
    n = len(x_shape) - 2
    kernel = list(attrs.ints("kernel"))
    strides, dilations = _spatial(attrs, "strides", n, 1), _spatial(attrs, "dilations", n, 1)
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    begin, end = window_pads(attrs, x_shape[2:], eff, strides)
    lead = [1] * (2 - n)
    out = tuple(node.output_shapes[0])
    height, width = lead + list(x_shape[2:])
    out_h, out_w = lead + list(out[2:])
    geometry = _i32(height, width, out_h, out_w, *(lead + kernel), *(lead + strides), *(lead + dilations),
                    *([0] * (2 - n) + begin))
    exec_type = "maxpool" if kind == "MaxPool" else "avgpool"
    full_divisor = kind == "AvgPool" and not attrs.bool("exclude-pad", False) and any(begin + end)

    def emit():
        divisor = (np.int32(full_divisor),) if kind == "AvgPool" else ()
        args = (plan.arg(x), plan.output(node), *geometry, *divisor)
        size = (_round_up(out_w, TILE_GROUP), _round_up(out_h, TILE_GROUP), x_shape[0] * x_shape[1])
        plan.launch("pool", exec_type, args, size, (TILE_GROUP, TILE_GROUP, 1), node.name)

    return Choice(exec_type, emit)


def _unary(node, plan, chain):
    act = activation(node)
    if act is None:
        _require_float(node, node.inputs[0])
        raise NoKernel(f"{node.type} with these attributes or inputs")
    x = node.inputs[0]
    count = _count(_shape(x))
    exec_type = canonical_type(node).lower()

    def emit():
        args = (plan.arg(x), plan.output(node), np.int32(count), np.int32(act[0]), np.float32(act[1]),
                np.float32(act[2]))
        plan.launch("eltwise", "unary", args, linear_size(count), (LINEAR_GROUP,), node.name)

    return Choice(exec_type, emit)


def _binary(node, plan, chain):
    a, b = node.inputs
    kind = canonical_type(node)
    name = BINARY[kind]
    dtype = _dtype(a)
    integer = _INT_NAMES.get(dtype) if name in _INT_BINARY else None
    if integer is None or _dtype(b) != dtype:
        _require_float(node, a, b)
    _check_broadcast_mode(node)
    out = tuple(node.output_shapes[0])
    count = _count(out)
    flat = integer is None and _shape(a) == out and _shape(b) == out
    exec_type = name if flat else f"{name}_broadcast"

    def emit():
        if flat:
            args = (plan.arg(a), plan.arg(b), plan.output(node), np.int32(count))
            plan.launch("eltwise", f"binary_{name}_flat", args, linear_size(count), (LINEAR_GROUP,), node.name)
            return
        kernel = f"binary_{name}_{integer}" if integer else f"binary_{name}"
        _broadcasting(plan, node, kernel, (a, b))

    return Choice(exec_type, emit)


def _check_broadcast_mode(node):
    mode = node.context().attrs.str("auto_broadcast", "numpy").lower()
    if mode not in ("numpy", "none"):
        raise NoKernel(f"auto_broadcast={mode}")


def _broadcasting(plan, node, kernel, inputs):
    """Launch an element-wise ``kernel`` over ``inputs`` broadcast to the node's output."""
    out = tuple(node.output_shapes[0])
    count = _count(out)
    dims, strides = _collapse(out, *[_broadcast_strides(_shape(src), out) for src in inputs])
    args = (*[plan.arg(src) for src in inputs], plan.output(node),
            plan.meta(dims + [s for st in strides for s in st]), *_i32(len(dims), count))
    plan.launch("eltwise", kernel, args, linear_size(count), (LINEAR_GROUP,), node.name)


def _compare(node, plan, chain):
    a, b = node.inputs
    _require_float(node, a, b)
    _check_broadcast_mode(node)
    name = COMPARISONS[canonical_type(node)]
    return Choice(name, lambda: _broadcasting(plan, node, f"compare_{name}", (a, b)))


def _select(node, plan, chain):
    cond, a, b = node.inputs
    _require_float(node, a, b)
    if _dtype(cond) != np.bool_:
        raise NoKernel(f"a {_dtype(cond)} condition")
    _check_broadcast_mode(node)
    return Choice("select", lambda: _broadcasting(plan, node, "select_where", (cond, a, b)))


def _convert(node, plan, chain):
    x = node.inputs[0]
    target = canonical_element_type(node.context().attrs.str("destination_type"))
    if target in ("bf16", "f16") or _dtype(x) == np.float16:
        raise NoKernel(f"Convert from {_dtype(x)} to {target}")
    src, dst = _CONVERT_NAMES.get(_dtype(x)), _CONVERT_NAMES.get(np.dtype(node.output_dtypes[0]))
    if src is not None and src == dst:
        return _alias(node, plan, chain)
    kernel = _CONVERT_KERNELS.get((src, dst))
    if kernel is None:
        raise NoKernel(f"Convert from {_dtype(x)} to {np.dtype(node.output_dtypes[0])}")
    count = _count(_shape(x))

    def emit():
        args = (plan.arg(x), plan.output(node), np.int32(count))
        plan.launch("eltwise", kernel, args, linear_size(count), (LINEAR_GROUP,), node.name)

    return Choice("convert", emit)


def _alias(node, plan, chain):
    if _dtype(node.inputs[0]) != np.dtype(node.output_dtypes[0]):
        raise NoKernel(f"{node.type} changing the type")
    return Choice("alias", lambda: plan.make_alias(node, node.inputs[0]))


def _copy(plan, node, src_arg, dst, dims, src_strides, dst_strides, dtype, dst_offset=0):
    dims, (ss, ds) = _collapse(dims, src_strides, dst_strides)
    count = _count(dims)
    args = (src_arg, dst, plan.meta(dims + ss + ds), *_i32(len(dims), count, 0, dst_offset))
    plan.launch("movement", _element_kernel(plan, "copy_nd", dtype, "copies"), args, linear_size(count),
                (LINEAR_GROUP,), node.name)


def _transpose(node, plan, chain):
    x = node.inputs[0]
    _element_kernel(plan, "copy_nd", _dtype(x), node.type)
    order = get_op("Transpose").impl.order(node.context())
    strides = _dense_strides(_shape(x))
    out = tuple(node.output_shapes[0])

    def emit():
        _copy(plan, node, plan.arg(x), plan.output(node), out, [strides[a] for a in order],
              _dense_strides(out), _dtype(x))

    return Choice("transpose", emit)


def _broadcast(node, plan, chain):
    x = node.inputs[0]
    _element_kernel(plan, "copy_nd", _dtype(x), node.type)
    out, view = get_op("Broadcast").impl.plan(node.context())

    def emit():
        _copy(plan, node, plan.arg(x), plan.output(node), out, _broadcast_strides(view, out),
              _dense_strides(out), _dtype(x))

    return Choice("broadcast", emit)


def _concat(node, plan, chain):
    dtype = np.dtype(node.output_dtypes[0])
    _element_kernel(plan, "copy_nd", dtype, node.type)
    if any(_dtype(src) != dtype for src in node.inputs):
        raise NoKernel("Concat of tensors of different types")
    axis = get_op("Concat").impl.axis(node.context())
    out = tuple(node.output_shapes[0])
    out_strides = _dense_strides(out)

    def emit():
        dst = plan.output(node)
        offset = 0
        for src in node.inputs:
            shape = _shape(src)
            _copy(plan, node, plan.arg(src), dst, shape, _dense_strides(shape), out_strides, dtype,
                  offset * out_strides[axis])
            offset += shape[axis]

    return Choice("concat", emit)


def _gather(node, plan, chain):
    data, indices = node.inputs[:2]
    index_type = {np.dtype(np.int32): "i32", np.dtype(np.int64): "i64"}.get(_dtype(indices))
    if index_type is None:
        raise NoKernel(f"Gather with {_dtype(indices)} indices")
    kernel = _element_kernel(plan, "gather", _dtype(data), node.type) + f"_{index_type}"
    axis, batch_dims = get_op("Gather").impl.plan(node.context())
    shape, index_shape = _shape(data), _shape(indices)
    outer, dim, inner = _count(shape[batch_dims:axis]), shape[axis], _count(shape[axis + 1:])
    count = _count(node.output_shapes[0])

    def emit():
        args = (plan.arg(data), plan.arg(indices), plan.output(node),
                *_i32(outer, dim, _count(index_shape[batch_dims:]), inner, count))
        plan.launch("movement", kernel, args, linear_size(count), (LINEAR_GROUP,), node.name)

    return Choice("gather", emit)


def _indexed(node, plan, chain):
    """A pure data-movement layer: each output element's source, found by running the op on the
    element indices at load time, drives a copy on the device."""
    x = node.inputs[0]
    kernel = _element_kernel(plan, "take", _dtype(x), node.type)
    if any(_value(src) is None for src in node.inputs[1:]):
        raise NoKernel("parameters that are not constants")
    if any(_count(shape) > MAX_TABLE for shape in node.output_shapes):
        raise NoKernel(f"outputs of more than {MAX_TABLE} elements")
    exec_type = canonical_type(node).lower()

    def emit():
        source = np.arange(_count(_shape(x)), dtype=np.int64).reshape(_shape(x))
        tables = node.op.impl.compute(node.context(), source, *[_value(src) for src in node.inputs[1:]])
        tables = tables if isinstance(tables, (list, tuple)) else [tables]
        for index, table in enumerate(tables):
            port = node.output(index)
            if plan.consumers.get(port) or port in plan.result_ports:
                count = _count(node.output_shapes[index])
                args = (plan.arg(x), plan.const(np.asarray(table, dtype=np.int32)), plan.output(node, index),
                        np.int32(count))
                plan.launch("movement", kernel, args, linear_size(count), (LINEAR_GROUP,), node.name)

    return Choice(exec_type, emit)


def _checked(chooser):
    def choose(node, plan, chain):
        _fits(node)
        return chooser(node, plan, chain)

    return choose


CHOOSERS = {
    "Convolution": _convolution,
    "GroupConvolution": _convolution,
    "MatMul": _matmul,
    "ScaledDotProductAttention": _attention,
    "MVN": _mvn,
    "SoftMax": _softmax,
    "LogSoftmax": _softmax,
    "Select": _select,
    "MaxPool": _pool,
    "AvgPool": _pool,
    "Convert": _convert,
    "Reshape": _alias,
    "Squeeze": _alias,
    "Unsqueeze": _alias,
    "Transpose": _transpose,
    "Broadcast": _broadcast,
    "Concat": _concat,
    "Gather": _gather,
    **{kind: _reduce for kind in REDUCTIONS},
    **{kind: _binary for kind in BINARY},
    **{kind: _compare for kind in COMPARISONS},
    **{kind: _indexed for kind in INDEXED},
    **{kind: _unary for kind in ACTIVATIONS},
}
CHOOSERS = {kind: _checked(chooser) for kind, chooser in CHOOSERS.items()}
