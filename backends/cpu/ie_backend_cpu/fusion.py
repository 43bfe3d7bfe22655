"""Fusion matching: the layers that run inside native programs, and the neighbours each one absorbs.

:func:`match_groups` gives every layer that a native program can run a
:class:`Group`: the layer (its head), the layers it absorbs and the layer whose
output it produces (its tail):

* a Convolution/GroupConvolution absorbs a following Multiply by a per-channel
  constant (folded into its weights), Add of a per-channel constant (its bias,
  folded BatchNorm), Add of another tensor of its shape (the residual add: oneDNN
  post-op ``sum``) and element-wise activations (oneDNN eltwise post-ops);
* a MatMul with a constant right operand absorbs Add of a constant over its last
  dimension (bias), a residual Add and activations, as convolutions do;
* a ScaledDotProductAttention absorbs the chains of constant-order Transposes
  before its Q/K/V inputs (it reads the tensors before them through permuted
  strides) and after its output (it writes that layout);
* an MVN over the last axis (LayerNorm) absorbs a following Multiply and
  Add/Subtract of constants along that axis;
* pooling, global ReduceMean, element-wise, binary, Softmax and
  Reshape/Squeeze/Unsqueeze layers form groups of their own.

A layer is absorbed only when it is the single reader of the tensor before it.
"""

import functools
from typing import NamedTuple

import numpy as np

from .kernels import (
    BINARY,
    ELTWISE_TYPES,
    F32,
    HSIGMOID_STEPS,
    NAN_FREE_SECOND_OPERAND,
    NAN_RESULTS,
    _NotNative,
    canonical_type,
    conv_params,
    dense_strides,
    dtype_of,
    eltwise_params,
    is_constant,
    matmul_params,
    nan_free_constant,
    pool_params,
    shape_of,
    tensor_problem,
    value_of,
)
from .transformer import mvn_params

#: post-ops one fused convolution or MatMul takes at most
MAX_POST_OPS = 4


class Group(NamedTuple):
    """A fused group: its head layer, the layers it absorbed, the layer whose output it produces,
    its ``kind`` (how emission.py emits it) and the parameters of that."""

    head: object
    fused: tuple
    tail: object
    kind: str
    spec: dict


def match_groups(runnable, users, excluded):
    """The groups of the layers of ``runnable`` (in order) that native programs run: (head -> Group,
    absorbed layer -> head). ``users`` is the graph's consumers(); layers in ``excluded`` neither head
    nor join a group."""
    matcher = _Matcher(users, excluded)
    groups = {}
    for n in runnable:
        if n in matcher.fused_into or n in excluded:
            continue
        group = matcher.group(n)
        if group is not None:
            groups[n] = group
            for f in group.fused:
                matcher.fused_into[f] = n
    return groups, matcher.fused_into


def activation(node):
    """(oneDNN algorithm, alpha, beta) of an element-wise activation layer, or None."""
    if canonical_type(node) not in ELTWISE_TYPES:
        return None
    try:
        alg, alpha, beta = eltwise_params(node)
    except _NotNative:
        return None
    return alg, float(alpha), float(beta)


def post_ops(node):
    """The oneDNN post-ops of an element-wise activation layer that follows a convolution or MatMul, or None
    where the post-ops cannot give its result for NaN (:data:`~.kernels.NAN_RESULTS`)."""
    t = canonical_type(node)
    if t == "HSigmoid":
        return HSIGMOID_STEPS
    act = activation(node)
    return None if act is None or t in NAN_RESULTS else (act,)


def _channel_vector(value, out_shape, axis):
    """``value`` as a vector along ``axis`` of ``out_shape`` if it broadcasts only along that axis, else None."""
    if value is None:
        return None
    v = np.asarray(value)
    rank = len(out_shape)
    if v.ndim > rank:
        return None
    dims = (1,) * (rank - v.ndim) + v.shape
    for i, d in enumerate(dims):
        if i != axis % rank and d != 1:
            return None
    n = out_shape[axis]
    if dims[axis % rank] not in (1, n):
        return None
    return np.broadcast_to(v.reshape(-1).astype(np.float32), (n,)) if v.size == 1 else v.reshape(-1).astype(np.float32)


class _Matcher:
    def __init__(self, users, excluded):
        self.users = users
        self.excluded = excluded
        self.fused_into = {}

    def group(self, n):
        """The group headed by ``n`` if it runs in a native program, else None."""
        if tensor_problem(n):
            return None
        t = canonical_type(n)
        try:
            if t in ("Convolution", "GroupConvolution"):
                return self._fuse(n, "conv", conv_params(n))
            if t == "MatMul":
                spec = matmul_params(n)
                if spec["b_const"] is not None:
                    return self._fuse(n, "matmul", spec)
                return Group(n, (), n, "matmul", spec)
            if t in ("MaxPool", "AvgPool"):
                spec = pool_params(n, {i for i in range(n.num_outputs) if self.users.get(n.output(i))})
                return Group(n, (), n, "pool", spec)
            if t == "ReduceMean":
                return self._reduce_mean(n)
            if t in ("Reshape", "Squeeze", "Unsqueeze"):
                return None if is_constant(n.inputs[0]) else Group(n, (), n, "reshape", {})
            if t == "ScaledDotProductAttention":
                return self._attention(n)
            if t == "MVN":
                return self._layer_norm(n)
            if t == "Softmax":
                rank = len(shape_of(n.inputs[0]))
                axis = n.context().attrs.int("axis", 1)
                axis = axis + rank if axis < 0 else axis
                if rank == 0 or not 0 <= axis < rank:
                    return None
                return Group(n, (), n, "softmax", {"axis": axis})
            if t in BINARY:
                return self._binary(n)
        except _NotNative:
            return None
        act = activation(n)
        if act is not None and shape_of(n.inputs[0]) == tuple(n.output_shapes[0]) and len(n.output_shapes[0]) > 0:
            return Group(n, (), n, "eltwise", {"act": act, "src": n.inputs[0], "nan_value": NAN_RESULTS.get(t)})
        return None

    def _reduce_mean(self, n):
        x = shape_of(n.inputs[0])
        axes = value_of(n.inputs[1])
        if axes is None or len(x) not in (3, 4, 5):
            return None
        axes = sorted({int(a) + len(x) if int(a) < 0 else int(a) for a in np.asarray(axes).reshape(-1)})
        if axes != list(range(2, len(x))):
            return None
        return Group(n, (), n, "global_avg", {"keep": n.context().attrs.bool("keep_dims", False)})

    def _fusable(self, node):
        """(reader, port) of the single f32 layer reading ``node``'s output if it may join a group, else None."""
        readers = self.users.get(node.output(0), [])
        if len(readers) != 1 or node.num_outputs != 1:
            return None
        nxt, port = readers[0]
        if nxt.type == "Result" or nxt in self.excluded or nxt in self.fused_into or tensor_problem(nxt):
            return None
        return nxt, port

    def _transposes(self, src):
        """(source, order, Transposes) of the chain of constant-order Transposes producing ``src``,
        each read only by the next: ``src`` is ``source`` transposed by ``order``."""
        order = list(range(len(shape_of(src))))
        chain = []
        while canonical_type(src.node) == "Transpose" and src.node not in chain:
            tr = src.node
            perm = value_of(tr.inputs[1])
            if perm is None or tr in self.excluded or tr in self.fused_into or self._fusable(tr) is None:
                break
            perm = [int(p) + len(order) if int(p) < 0 else int(p) for p in np.asarray(perm).reshape(-1)]
            if sorted(perm) != list(range(len(order))) or tensor_problem(tr):
                break
            order = [perm[i] for i in order]
            chain.append(tr)
            src = tr.inputs[0]
        return src, order, chain

    def _attention(self, n):
        """ScaledDotProductAttention reading Q, K, V through the strides of the tensors before their
        Transposes and writing its output in the layout after the Transposes that follow it."""
        ins = n.inputs
        rank = len(shape_of(ins[0]))
        if any(len(shape_of(s)) != rank for s in ins[:3]) or rank < 3:
            return None
        mask = ins[3] if len(ins) > 3 else None
        if mask is not None and (dtype_of(mask) != F32 or len(shape_of(mask)) > rank):
            return None
        scale = None
        if len(ins) > 4:
            v = value_of(ins[4])
            if v is None or np.size(v) != 1:
                return None
            scale = float(np.asarray(v, np.float32).reshape(()))
        fused, views = [], []
        for src in ins[:3]:
            source, order, chain = self._transposes(src)
            strides = dense_strides(shape_of(source))
            views.append((source, [shape_of(source)[i] for i in order], [strides[i] for i in order]))
            fused.extend(chain)
        # the Transposes after it: the output (dims) is written through `out_strides`
        tail, order = n, list(range(len(n.output_shapes[0])))
        while True:
            nxt, port = self._fusable(tail) or (None, None)
            if nxt is None or canonical_type(nxt) != "Transpose" or port != 0:
                break
            perm = value_of(nxt.inputs[1])
            if perm is None:
                break
            perm = [int(p) + rank if int(p) < 0 else int(p) for p in np.asarray(perm).reshape(-1)]
            if sorted(perm) != list(range(rank)):
                break
            order = [order[p] for p in perm]
            fused.append(nxt)
            tail = nxt
        tail_strides = dense_strides(tuple(tail.output_shapes[0]))
        out_strides = [0] * rank
        for i, o in enumerate(order):
            out_strides[o] = tail_strides[i]
        causal = n.context().attrs.bool("causal", False)
        return Group(n, tuple(fused), tail, "attention",
                     {"views": views, "mask": mask, "scale": scale, "causal": causal,
                      "out_dims": list(n.output_shapes[0]), "out_strides": out_strides})

    def _layer_norm(self, n):
        """MVN over the last axis, absorbing a following Multiply and Add/Subtract of constants along it."""
        if len(n.inputs) > 1 and not is_constant(n.inputs[1]):
            return None  # axes known only at run time
        out_shape = tuple(n.output_shapes[0])
        _, r, inner, eps, inside, norm_var = mvn_params(n, shape_of(n.inputs[0]))
        if inner != 1 or not out_shape or r != out_shape[-1]:
            return None
        gamma = beta = None
        fused, cur = [], n
        while beta is None:
            nxt, port = self._fusable(cur) or (None, None)
            t = canonical_type(nxt) if nxt is not None else None
            if t not in ("Multiply", "Add", "Subtract") or tuple(nxt.output_shapes[0]) != out_shape:
                break
            vec = _channel_vector(value_of(nxt.inputs[1 - port]), out_shape, -1)
            if vec is None or (t == "Multiply" and gamma is not None) or (t == "Subtract" and port != 0):
                break
            if t == "Multiply":
                gamma = vec
            else:
                beta = -vec if t == "Subtract" else vec
            fused.append(nxt)
            cur = nxt
        return Group(n, tuple(fused), cur, "layer_norm",
                     {"n": r, "eps": eps, "inside": inside, "norm_var": norm_var, "gamma": gamma, "beta": beta})

    def _binary(self, n):
        t = canonical_type(n)
        alg, commutative = BINARY[t]
        if n.context().attrs.str("auto_broadcast", "numpy").lower() not in ("numpy", "none"):
            return None
        out = tuple(n.output_shapes[0])
        if len(out) == 0:
            return None
        a, b = n.inputs[0], n.inputs[1]
        if is_constant(a) and is_constant(b):
            return None
        if t == "Subtract" and is_constant(a) and np.size(value_of(a)) == 1 and shape_of(b) == out:
            # scalar - x: x * -1 + scalar (BERT's attention-mask chain: 1 - mask)
            c = float(np.asarray(value_of(a), np.float32).reshape(()))
            return Group(n, (), n, "eltwise", {"act": ("eltwise_linear", -1.0, c), "src": b, "nan_value": None})
        swap = False
        if shape_of(a) != out or is_constant(a):
            if not commutative or shape_of(b) != out or is_constant(b):
                return None
            a, b, swap = b, a, True
        if t in NAN_FREE_SECOND_OPERAND and not nan_free_constant(b):
            return None
        bs = shape_of(b)
        if len(bs) > len(out):
            return None
        b_dims = (1,) * (len(out) - len(bs)) + bs
        if any(d != o and d != 1 for d, o in zip(b_dims, out)):
            return None
        return Group(n, (), n, "binary", {"alg": alg, "a": a, "b": b, "b_dims": b_dims, "swap": swap})

    def _fuse(self, head, kind, spec):
        """Follow ``head``'s single-reader chain, absorbing bias/scale/residual/activation layers."""
        out_shape = tuple(head.output_shapes[0])
        axis = 1 if kind == "conv" else len(out_shape) - 1
        weights = spec["weights"] if kind == "conv" else spec["b_const"]
        bias, post, sum_src, fused = None, [], None, []
        cur = head
        while True:
            nxt, port = self._fusable(cur) or (None, None)
            if nxt is None or tuple(nxt.output_shapes[0]) != out_shape:
                break
            t = canonical_type(nxt)
            other = nxt.inputs[1 - port] if t in BINARY and len(nxt.inputs) == 2 else None
            if t in ("Add", "Multiply", "Subtract") and other is not None and is_constant(other):
                vec = _channel_vector(value_of(other), out_shape, axis)
                if vec is None or post or sum_src is not None or (t == "Subtract" and port != 0):
                    break
                if t == "Multiply":
                    if kind != "conv":
                        break
                    w_dims = spec["w_dims"]
                    if len(w_dims) - len(out_shape) == 1:  # grouped: [groups, out per group, in, ...]
                        scale = vec.reshape(w_dims[0], -1, *([1] * (len(w_dims) - 2)))
                    else:
                        scale = vec.reshape(-1, *([1] * (len(w_dims) - 1)))
                    weights = functools.partial(_scaled, weights, scale)
                    if bias is not None:
                        bias = bias * vec
                else:
                    sign = -1.0 if t == "Subtract" else 1.0
                    bias = (bias if bias is not None else np.zeros(out_shape[axis], np.float32)) + sign * vec
            elif t == "Add" and other is not None and sum_src is None and not post:
                if shape_of(other) != out_shape or dtype_of(other) != F32:
                    break
                sum_src = other
            else:
                steps = post_ops(nxt) if t not in BINARY else None
                if steps is None or len(post) + len(steps) > MAX_POST_OPS:
                    break
                post.extend(steps)
            fused.append(nxt)
            cur = nxt
        spec = dict(spec)
        if kind == "conv":
            spec["weights"] = weights
        else:
            spec["b_const"] = weights
        spec.update(bias=None if bias is None else np.ascontiguousarray(bias, np.float32), post=post, sum_src=sum_src)
        return Group(head, tuple(fused), cur, kind, spec)


def _scaled(read_weights, scale):
    """The weights ``read_weights()`` returns with a fused per-channel Multiply applied."""
    return np.ascontiguousarray(read_weights() * scale, dtype=np.float32)
