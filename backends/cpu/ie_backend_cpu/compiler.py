"""Load-time compilation of a graph for the CPU device: fusion, layout and memory planning.

:class:`CompiledGraph` turns a shape-inferred graph (constants already folded by
the core, fp16 weight decompression and ShapeOf subgraphs included) into an
execution plan:

* **Fusion.** A Convolution/GroupConvolution absorbs a following Multiply by a
  per-channel constant (folded into its weights), Add of a per-channel constant
  (its bias, folded BatchNorm), Add of another tensor of its shape (the residual
  add: oneDNN post-op ``sum``, in place in the shortcut's buffer when that is
  dead afterwards) and element-wise activations (ReLU, Clamp, Sigmoid, Tanh,
  Swish, HSwish, HSigmoid, Gelu, Elu, Mish, SoftPlus, Exp, Abs: oneDNN eltwise
  post-ops). A MatMul with a constant right operand absorbs Add of a constant
  over its last dimension (bias), Add of another tensor of its shape (the
  residual add, as for convolutions) and activations. A ScaledDotProductAttention
  absorbs the chains of constant-order Transposes before its Q/K/V inputs (it
  reads the tensors before them through permuted strides) and after its output
  (it writes that layout). An MVN over the last axis (LayerNorm) absorbs a
  following Multiply and Add/Subtract of constants along that axis. Absorbed
  layers report ``OPTIMIZED_OUT``.
* **Native programs.** Consecutive native layers (the fused groups, pooling,
  global ReduceMean, element-wise, binary, Softmax, attention, LayerNorm,
  Reshape/Squeeze/Unsqueeze) form one :class:`~ie_backend_cpu._ext.Program`
  that runs in a single call without the GIL. Activations stay in the layouts oneDNN picks
  (``format_tag::any``, blocked ``nChw16c`` etc.) between them and are
  reordered only where a layer needs a plain one; weights are reordered once
  here. Each stream (:class:`ie_backend_cpu.Stream`) owns an arena sized at
  load whose buffers are reused along the network.
* **Everything else** runs per layer through :func:`~ie_backend_cpu.kernels.kernel_for`
  (a single-layer oneDNN primitive, an extra kernel provider, or the reference),
  scheduled as early as its inputs allow so that it does not split a program.

``precision="bf16"`` (``INFERENCE_PRECISION_HINT=bf16``) runs convolutions,
constant-weight MatMuls and the attention's two products on bf16 operands with
f32 accumulation; network outputs stay f32. A convolution reading a network
input of at most :data:`F32_INPUT_CHANNELS` channels (an image) stays f32: its
input is kept exact, and with so few channels bf16 would save little time.
"""

from typing import NamedTuple

import numpy as np

from ie_core.backend import PerfCount, merge_perf_counts, slot_layout
from ie_core.errors import IEError, InferenceError

from . import _ext
from .kernels import (
    _BINARY,
    _UNARY,
    F32,
    KERNEL_PROVIDERS,
    _NotNative,
    _canonical_type,
    _dense_strides,
    conv_params,
    kernel_for,
    matmul_params,
    pool_params,
)
from .transformer import mvn_params

SOURCE_TYPES = ("Parameter", "Const")
F32_INPUT_CHANNELS = 4  # bf16 precision: convolutions reading a network input of this few channels stay f32

# activation op type -> (oneDNN algorithm, alpha, beta), or a callable of the node
_ACTIVATIONS = dict(_UNARY)


def _activation(node):
    """(algorithm, alpha, beta) of an element-wise activation layer, or None."""
    t = _canonical_type(node)
    attrs = node.context().attrs
    if t in _ACTIVATIONS:
        alg, a, b = _ACTIVATIONS[t]
        return alg, float(a), float(b)
    if t == "Clamp":
        return "eltwise_clip", float(attrs.float("min")), float(attrs.float("max"))
    if t == "Elu":
        return "eltwise_elu", float(attrs.float("alpha")), 0.0
    if t == "Gelu":
        mode = attrs.str("approximation_mode", "ERF").upper()
        if mode not in ("ERF", "TANH"):
            return None
        return ("eltwise_gelu_erf" if mode == "ERF" else "eltwise_gelu_tanh"), 0.0, 0.0
    if t == "Swish":
        beta = 1.0
        if len(node.inputs) > 1:
            v = _value(node.inputs[1])
            if v is None or np.size(v) != 1:
                return None
            beta = float(np.asarray(v).reshape(()))
        return "eltwise_swish", beta, 0.0
    return None


#: A native program with fewer multiply-accumulates than this runs on one thread unless
#: CPU_THREADS_NUM asks otherwise: its layers take microseconds, less than a parallel
#: region's fork/join costs (and far less than waking OpenMP workers on a busy machine).
SMALL_PROGRAM_MACS = 1_000_000


def _macs(node):
    """Multiply-accumulates of a convolution or MatMul (an element count for other layers)."""
    out = int(np.prod(node.output_shapes[0])) if node.output_shapes[0] is not None else 0
    t = _canonical_type(node)
    if t in ("Convolution", "GroupConvolution", "MatMul") and len(node.inputs) > 1:
        w = _shape(node.inputs[1])
        if t == "Convolution":
            return out * int(np.prod(w[1:]))
        if t == "GroupConvolution":
            return out * int(np.prod(w[2:]))
        a = _shape(node.inputs[0])
        return out * (a[-1] if a else 1)
    return out


def _value(src):
    return src.node.values[src.index]


def _shape(src):
    return tuple(src.node.output_shapes[src.index])


def _dtype(src):
    return np.dtype(src.node.output_dtypes[src.index])


def _all_f32(node):
    if any(_dtype(s) != F32 for s in node.inputs if _value(s) is None):
        return False
    return all(np.dtype(d) == F32 for d in node.output_dtypes[:1])


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


class _Group(NamedTuple):
    """A fused group: its head layer, the layers it absorbed, the layer whose output it produces."""

    head: object
    fused: tuple
    tail: object
    kind: str
    spec: dict


class _Unit(NamedTuple):
    """One entry of the execution plan: a native Program segment or a per-layer kernel."""

    run: object
    args: tuple  # slots read
    outs: tuple  # slots written
    segment: int  # index of the Program (-1: a Python kernel)
    name: str
    exec_type: str


class CompiledGraph:
    """The execution plan of one network (shared by its streams; their working memory is per stream)."""

    def __init__(self, graph, threads=0, precision="f32", auto_threads=False):
        self.graph = graph
        self.threads = threads
        self.auto_threads = auto_threads
        self.bf16 = precision == "bf16"
        excluded = set()
        for _ in range(len(graph.nodes) + 1):
            try:
                self._build(excluded)
                break
            except _Retry as retry:
                excluded.add(retry.node)
        else:  # pragma: no cover
            raise RuntimeError("could not compile the network")

    # ------------------------------------------------------------------ planning

    def _build(self, excluded):
        g = self.graph
        users = g.consumers()
        self._users = users
        order = {n: i for i, n in enumerate(g.nodes)}
        runnable = [n for n in g.nodes if n.type not in SOURCE_TYPES + ("Result",) and not n.is_constant()]
        # layers an extra kernel provider claims run its kernel, outside the native programs
        claimed = self._claimed = getattr(self, "_claimed", None) or self._claim(runnable)
        excluded = excluded | set(claimed)
        groups, fused_into = {}, {}
        for n in runnable:
            if n in fused_into or n in excluded:
                continue
            grp = self._plan(n, users, excluded, fused_into)
            if grp is not None:
                groups[n] = grp
                for f in grp.fused:
                    fused_into[f] = n
        self._group_of = {g.head: g for g in groups.values()}
        self._group_of.update({f: g for g in groups.values() for f in g.fused})
        self._layout_cache = {}
        # emission units ordered by the position of their tails, per-layer kernels as early as they can run
        units = []
        for n in runnable:
            if n in fused_into:
                continue
            grp = groups.get(n)
            units.append((order[grp.tail] if grp else order[n], n, grp))
        units.sort(key=lambda u: u[0])
        units = _hoist_kernels(units)

        # slots: one per (node, port)
        slot_of, constants, input_slots, output_slots = slot_layout(g)

        # segments: maximal runs of native units
        runs, current = [], []
        for _, n, grp in units:
            if grp is not None:
                current.append(grp)
            else:
                if current:
                    runs.append(("program", current))
                    current = []
                runs.append(("kernel", n))
        if current:
            runs.append(("program", current))

        plan, programs, counts = [], [], {}
        for kind, item in runs:
            if kind == "kernel":
                n = item
                used = {i for i in range(n.num_outputs) if users.get(n.output(i))}
                kernel = claimed.get(n) or kernel_for(n, self.threads, used)
                args = tuple(slot_of[(s.node, s.index)] for s in n.inputs)
                outs = tuple(slot_of[(n, i)] for i in range(n.num_outputs))
                plan.append(_Unit(kernel.run, args, outs, -1, n.name, kernel.exec_type))
                counts[n.name] = PerfCount("NOT_RUN", kernel.exec_type, n.type, 0, 0)
            else:
                unit, prog, step_names = self._emit_program(item, users, slot_of, len(programs), counts)
                programs.append((prog, step_names))
                plan.append(unit)
        for n in g.nodes:
            if n.type == "Result" or n.name in counts:
                continue
            if n.type in SOURCE_TYPES:
                counts[n.name] = PerfCount("NOT_RUN", "unknown", n.type, 0, 0)
            elif n in fused_into:
                counts[n.name] = PerfCount("OPTIMIZED_OUT", "undef", n.type, 0, 0)
            else:
                counts[n.name] = PerfCount("OPTIMIZED_OUT", "constant_folded", n.type, 0, 0)
        # release slots after their last reader (Python kernels only hold references)
        last_use = {}
        keep = set(output_slots.values()) | {s for s, _ in constants}
        for pos, u in enumerate(plan):
            for a in u.args:
                last_use[a] = pos
        self.plan = [
            (u, tuple(a for a in set(u.args) if last_use.get(a) == pos and a not in keep)) for pos, u in enumerate(plan)
        ]
        self.programs = [p for p, _ in programs]
        self._step_names = [names for _, names in programs]
        self.num_slots = len(slot_of)
        self.constants = constants
        self.input_slots = input_slots
        self.output_slots = output_slots
        self.static_counts = counts
        self.fused_into = {f.name: h.name for f, h in fused_into.items()}
        # the all-native network: one program, its inputs the network's, its outputs the network's
        self._direct = None
        if len(plan) == 1 and plan[0].segment == 0:
            u = plan[0]
            names = list(output_slots)
            if all(output_slots[nm] in u.outs for nm in names):
                in_names = []
                for a in u.args:
                    nm = next((k for k, s in input_slots.items() if s == a), None)
                    in_names.append(nm)
                if None not in in_names:
                    pos = [u.outs.index(output_slots[nm]) for nm in names]
                    self._direct = (tuple(in_names), tuple(zip(names, pos)))

    def _claim(self, runnable):
        claimed = {}
        for n in runnable:
            for provider in KERNEL_PROVIDERS:
                kernel = provider(n, self.threads)
                if kernel is not None:
                    claimed[n] = kernel
                    break
        return claimed

    def _plan(self, n, users, excluded, fused_into):
        """The fused group headed by ``n`` if it runs in a native program, else None."""
        if not _all_f32(n):
            return None
        t = _canonical_type(n)
        try:
            if t in ("Convolution", "GroupConvolution"):
                spec = conv_params(n)
                return self._fuse(n, "conv", spec, users, excluded, fused_into)
            if t == "MatMul":
                spec = matmul_params(n)
                if spec["b_const"] is not None:
                    return self._fuse(n, "matmul", spec, users, excluded, fused_into)
                return _Group(n, (), n, "matmul", spec)
            if t in ("MaxPool", "AvgPool"):
                spec = pool_params(n, {i for i in range(n.num_outputs) if users.get(n.output(i))})
                return _Group(n, (), n, "pool", spec)
            if t == "ReduceMean":
                return self._reduce_mean(n)
            if t in ("Reshape", "Squeeze", "Unsqueeze"):
                if _value(n.inputs[0]) is not None:
                    return None
                return _Group(n, (), n, "reshape", {})
            if t == "ScaledDotProductAttention":
                return self._attention(n, users, excluded, fused_into)
            if t == "MVN":
                return self._layer_norm(n, users, excluded, fused_into)
            if t == "Softmax":
                rank = len(_shape(n.inputs[0]))
                axis = n.context().attrs.int("axis", 1)
                axis = axis + rank if axis < 0 else axis
                if rank == 0 or not 0 <= axis < rank:
                    return None
                return _Group(n, (), n, "softmax", {"axis": axis})
            if t in _BINARY:
                return self._binary(n)
            act = _activation(n)
            if act is not None and _shape(n.inputs[0]) == tuple(n.output_shapes[0]) and len(n.output_shapes[0]) > 0:
                return _Group(n, (), n, "eltwise", {"act": act, "src": n.inputs[0]})
        except Exception:  # noqa: BLE001  (_NotNative, odd attributes): the layer runs on its own
            return None
        return None

    def _reduce_mean(self, n):
        x = _shape(n.inputs[0])
        axes = _value(n.inputs[1])
        if axes is None or len(x) not in (3, 4, 5):
            return None
        axes = sorted({int(a) + len(x) if int(a) < 0 else int(a) for a in np.asarray(axes).reshape(-1)})
        if axes != list(range(2, len(x))):
            return None
        return _Group(n, (), n, "global_avg", {"keep": n.context().attrs.bool("keep_dims", False)})

    def _fusable(self, node, users, excluded, fused_into):
        """(reader, port) of the single f32 layer reading ``node``'s output if it may be fused into a group,
        else None."""
        readers = users.get(node.output(0), [])
        if len(readers) != 1 or node.num_outputs != 1:
            return None
        nxt, port = readers[0]
        if nxt.type == "Result" or nxt in excluded or nxt in fused_into or not _all_f32(nxt):
            return None
        return nxt, port

    def _transposes(self, src, users, excluded, fused_into):
        """(source, order, Transposes) of the chain of constant-order Transposes producing ``src``,
        each read only by the next: ``src`` is ``source`` transposed by ``order``."""
        order = list(range(len(_shape(src))))
        chain = []
        while _canonical_type(src.node) == "Transpose" and src.node not in chain:
            tr = src.node
            perm = _value(tr.inputs[1])
            if perm is None or tr in excluded or tr in fused_into:
                break
            if self._fusable(tr, users, excluded, fused_into) is None:
                break
            perm = [int(p) + len(order) if int(p) < 0 else int(p) for p in np.asarray(perm).reshape(-1)]
            if sorted(perm) != list(range(len(order))) or not _all_f32(tr):
                break
            order = [perm[i] for i in order]
            chain.append(tr)
            src = tr.inputs[0]
        return src, order, chain

    def _attention(self, n, users, excluded, fused_into):
        """ScaledDotProductAttention reading Q, K, V through the strides of the tensors before their
        Transposes and writing its output in the layout after the Transposes that follow it."""
        ins = n.inputs
        rank = len(_shape(ins[0]))
        if any(len(_shape(s)) != rank for s in ins[:3]) or rank < 3:
            return None
        mask = ins[3] if len(ins) > 3 else None
        if mask is not None and (_dtype(mask) != F32 or len(_shape(mask)) > rank):
            return None
        scale = None
        if len(ins) > 4:
            v = _value(ins[4])
            if v is None or np.size(v) != 1:
                return None
            scale = float(np.asarray(v, np.float32).reshape(()))
        fused, views = [], []
        for src in ins[:3]:
            source, order, chain = self._transposes(src, users, excluded, fused_into)
            strides = _dense_strides(_shape(source))
            views.append((source, [_shape(source)[i] for i in order], [strides[i] for i in order]))
            fused.extend(chain)
        # the Transposes after it: the output (dims) is written through `out_strides`
        tail, order = n, list(range(len(n.output_shapes[0])))
        while True:
            nxt, port = self._fusable(tail, users, excluded, fused_into) or (None, None)
            if nxt is None or _canonical_type(nxt) != "Transpose" or port != 0:
                break
            perm = _value(nxt.inputs[1])
            if perm is None:
                break
            perm = [int(p) + rank if int(p) < 0 else int(p) for p in np.asarray(perm).reshape(-1)]
            if sorted(perm) != list(range(rank)):
                break
            order = [order[p] for p in perm]
            fused.append(nxt)
            tail = nxt
        tail_strides = _dense_strides(tuple(tail.output_shapes[0]))
        out_strides = [0] * rank
        for i, o in enumerate(order):
            out_strides[o] = tail_strides[i]
        causal = n.context().attrs.bool("causal", False)
        return _Group(n, tuple(fused), tail, "attention",
                      {"views": views, "mask": mask, "scale": scale, "causal": causal,
                       "out_dims": list(n.output_shapes[0]), "out_strides": out_strides})

    def _layer_norm(self, n, users, excluded, fused_into):
        """MVN over the last axis, absorbing a following Multiply and Add/Subtract of constants along it."""
        out_shape = tuple(n.output_shapes[0])
        _, r, inner, eps, inside, norm_var = mvn_params(n, _shape(n.inputs[0]))
        if inner != 1 or not out_shape or r != out_shape[-1]:
            return None
        gamma = beta = None
        fused, cur = [], n
        while beta is None:
            nxt, port = self._fusable(cur, users, excluded, fused_into) or (None, None)
            t = _canonical_type(nxt) if nxt is not None else None
            if t not in ("Multiply", "Add", "Subtract") or tuple(nxt.output_shapes[0]) != out_shape:
                break
            vec = _channel_vector(_value(nxt.inputs[1 - port]), out_shape, -1)
            if vec is None or (t == "Multiply" and gamma is not None) or (t == "Subtract" and port != 0):
                break
            if t == "Multiply":
                gamma = vec
            else:
                beta = -vec if t == "Subtract" else vec
            fused.append(nxt)
            cur = nxt
        return _Group(n, tuple(fused), cur, "layer_norm",
                      {"n": r, "eps": eps, "inside": inside, "norm_var": norm_var, "gamma": gamma, "beta": beta})

    def _binary(self, n):
        t = _canonical_type(n)
        alg, commutative = _BINARY[t]
        if n.context().attrs.str("auto_broadcast", "numpy").lower() not in ("numpy", "none"):
            return None
        out = tuple(n.output_shapes[0])
        if len(out) == 0:
            return None
        a, b = n.inputs[0], n.inputs[1]
        if _value(a) is not None and _value(b) is not None:
            return None
        if t == "Subtract" and _value(a) is not None and np.size(_value(a)) == 1 and _shape(b) == out:
            # scalar - x: x * -1 + scalar (BERT's attention-mask chain: 1 - mask)
            c = float(np.asarray(_value(a), np.float32).reshape(()))
            return _Group(n, (), n, "eltwise", {"act": ("eltwise_linear", -1.0, c), "src": b})
        swap = False
        if _shape(a) != out or _value(a) is not None:
            if not commutative or _shape(b) != out or _value(b) is not None:
                return None
            a, b, swap = b, a, True
        bs = _shape(b)
        if len(bs) > len(out):
            return None
        b_dims = (1,) * (len(out) - len(bs)) + bs
        if any(d != o and d != 1 for d, o in zip(b_dims, out)):
            return None
        return _Group(n, (), n, "binary", {"alg": alg, "a": a, "b": b, "b_dims": b_dims, "swap": swap})

    def _fuse(self, head, kind, spec, users, excluded, fused_into):
        """Follow ``head``'s single-consumer chain, absorbing bias/scale/residual/activation layers."""
        out_shape = tuple(head.output_shapes[0])
        axis = 1 if kind == "conv" else len(out_shape) - 1
        weights = spec["weights"] if kind == "conv" else spec["b_const"]
        bias, post, sum_src, fused = None, [], None, []
        cur = head
        while True:
            nxt, port = self._fusable(cur, users, excluded, fused_into) or (None, None)
            if nxt is None or tuple(nxt.output_shapes[0]) != out_shape:
                break
            t = _canonical_type(nxt)
            other = nxt.inputs[1 - port] if t in _BINARY and len(nxt.inputs) == 2 else None
            if t in ("Add", "Multiply", "Subtract") and other is not None and _value(other) is not None:
                vec = _channel_vector(_value(other), out_shape, axis)
                if vec is None or post or sum_src is not None or (t == "Subtract" and port != 0):
                    break
                if t == "Multiply":
                    if kind != "conv":
                        break
                    groups = len(spec["w_dims"]) - len(out_shape) == 1
                    w = np.asarray(weights, np.float32)
                    if groups:
                        g = w.shape[0]
                        weights = w * vec.reshape(g, -1, *([1] * (w.ndim - 2)))
                    else:
                        weights = w * vec.reshape(-1, *([1] * (w.ndim - 1)))
                    if bias is not None:
                        bias = bias * vec
                else:
                    sign = -1.0 if t == "Subtract" else 1.0
                    bias = (bias if bias is not None else np.zeros(out_shape[axis], np.float32)) + sign * vec
            elif t == "Add" and other is not None and sum_src is None and not post:
                if _shape(other) != out_shape or _dtype(other) != F32:
                    break
                sum_src = other
            else:
                act = _activation(nxt) if t not in _BINARY else None
                if act is None or len(post) >= 4:
                    break
                post.append(act)
            fused.append(nxt)
            cur = nxt
        spec = dict(spec)
        if kind == "conv":
            spec["weights"] = weights
        else:
            spec["b_const"] = weights
        spec.update(bias=None if bias is None else np.ascontiguousarray(bias, np.float32), post=post, sum_src=sum_src)
        return _Group(head, tuple(fused), cur, kind, spec)

    # ------------------------------------------------------------------ program emission

    def _emit_program(self, groups, users, slot_of, index, counts):
        threads = self.threads
        if self.auto_threads and sum(_macs(g.head) for g in groups) < SMALL_PROGRAM_MACS:
            threads = 1  # waking OpenMP workers would cost more than the whole computation
        prog = _ext.Program(threads)
        tensor_of, in_slots = {}, []
        members = set()
        for grp in groups:
            members.add(grp.head)
            members.update(grp.fused)

        def tensor(src):
            key = (src.node, src.index)
            if key not in tensor_of:  # produced outside the program (a constant: passed in as one)
                tensor_of[key] = prog.add_input(list(_shape(src)))
                in_slots.append(slot_of[key])
            return tensor_of[key]

        def new(node):
            t = prog.add_tensor(list(node.output_shapes[0]))
            tensor_of[(node, 0)] = t
            return t

        for grp in groups:
            try:
                self._emit(prog, grp, tensor, new)
            except _Retry:
                raise
            except Exception as exc:  # noqa: BLE001  (oneDNN refused: run the head per layer)
                raise _Retry(grp.head) from exc
        out_slots = []
        for grp in groups:
            src = grp.tail.output(0)
            if any(r not in members for r, _ in users.get(src, [])):
                prog.add_output(grp.head.name, tensor_of[(grp.tail, 0)])
                out_slots.append(slot_of[(grp.tail, 0)])
        prog.finalize()
        step_names = []
        impls = {}
        for name, impl, _ in prog.steps():
            step_names.append(name)
            impls.setdefault(name, impl)
        for grp in groups:
            n = grp.head
            if n.name in impls:
                counts[n.name] = PerfCount("NOT_RUN", impls[n.name], n.type, 0, 0)
            else:  # a reshape of a plain tensor: nothing runs
                counts[n.name] = PerfCount("OPTIMIZED_OUT", "undef", n.type, 0, 0)
        exec_type = ",".join(sorted(set(impls.values())))
        unit = _Unit(None, tuple(in_slots), tuple(out_slots), index, f"program{index}", exec_type)
        return unit, prog, step_names

    def _emit(self, prog, grp, tensor, new):
        n, spec, kind = grp.head, grp.spec, grp.kind
        name = n.name
        if kind == "conv":
            src = tensor(n.inputs[0])
            sum_t = tensor(spec["sum_src"]) if spec["sum_src"] is not None else -1
            dst = new(grp.tail)
            prog.conv(name, src, dst, np.ascontiguousarray(spec["weights"], np.float32), spec["w_dims"],
                      spec["bias"], spec["strides"], spec["dilations"], spec["pad_l"], spec["pad_r"], spec["post"],
                      sum_t, self._conv_bf16(grp), self._conv_bf16(grp), self._consumer_layout(grp.tail))
        elif kind == "matmul":
            a = tensor(n.inputs[0])
            b_const = spec["b_const"]
            b_t = -1 if b_const is not None else tensor(n.inputs[1])
            bias = spec.get("bias")
            bias_dims = [1] * (len(spec["dst"]) - 1) + [spec["dst"][-1]]
            sum_t = tensor(spec["sum_src"]) if spec.get("sum_src") is not None else -1
            dst = new(grp.tail)
            prog.matmul(name, a, spec["a_dims"], spec["a_strides"], b_t,
                        None if b_const is None else np.ascontiguousarray(b_const, np.float32),
                        spec["b_dims"], spec["b_strides"], bias, bias_dims, spec.get("post", []), sum_t, dst,
                        spec["dst"], self.bf16, self.bf16 and self._read_as_bf16(grp.tail))
        elif kind == "attention":
            (q, q_dims, q_strides), (k, k_dims, k_strides), (v, v_dims, v_strides) = spec["views"]
            mask = tensor(spec["mask"]) if spec["mask"] is not None else -1
            prog.attention(name, tensor(q), q_dims, q_strides, tensor(k), k_dims, k_strides, tensor(v), v_dims,
                           v_strides, mask, new(grp.tail), spec["out_dims"], spec["out_strides"], spec["causal"],
                           spec["scale"], self.bf16, self.bf16 and self._read_as_bf16(grp.tail))
        elif kind == "layer_norm":
            src = tensor(n.inputs[0])
            prog.layer_norm(name, src, new(grp.tail), spec["n"], spec["eps"], spec["inside"], spec["norm_var"],
                            spec["gamma"], spec["beta"])
        elif kind == "pool":
            src = tensor(n.inputs[0])
            dst = new(n)
            prog.pool(name, src, dst, spec["alg"], spec["kernel"], spec["strides"], spec["dilations"], spec["pad_l"],
                      spec["pad_r"])
        elif kind == "global_avg":
            x = list(_shape(n.inputs[0]))
            src = tensor(n.inputs[0])
            sp = x[2:]
            if spec["keep"]:
                dst = new(n)
                prog.pool(name, src, dst, "pooling_avg_exclude_padding", sp, [1] * len(sp), [0] * len(sp),
                          [0] * len(sp), [0] * len(sp))
            else:
                mid = prog.add_tensor(x[:2] + [1] * len(sp))
                prog.pool(name, src, mid, "pooling_avg_exclude_padding", sp, [1] * len(sp), [0] * len(sp),
                          [0] * len(sp), [0] * len(sp))
                prog.reshape(name, mid, new(n))
        elif kind == "reshape":
            src = tensor(n.inputs[0])
            prog.reshape(name, src, new(n))
        elif kind == "softmax":
            src = tensor(n.inputs[0])
            prog.softmax(name, src, new(n), spec["axis"])
        elif kind == "eltwise":
            src = tensor(spec["src"])
            alg, alpha, beta = spec["act"]
            prog.eltwise(name, src, new(n), alg, alpha, beta)
        elif kind == "binary":
            a = tensor(spec["a"])
            bv = _value(spec["b"])
            if bv is not None:
                b_t, b_arr = -1, np.ascontiguousarray(bv, np.float32).reshape(spec["b_dims"])
            else:
                b_t, b_arr = tensor(spec["b"]), None
            prog.binary(name, a, b_t, b_arr, list(spec["b_dims"]), new(n), spec["alg"])
        else:  # pragma: no cover
            raise _NotNative()

    def _read_as_bf16(self, node):
        """Whether only bf16 MatMuls with constant weights (as their first operand) and attentions (as Q,
        K or V) read ``node``'s output, possibly through Reshapes, so that it may be written in bf16: the
        rounding they would do on reading it."""
        readers = self._users.get(node.output(0), [])
        for reader, port in readers:
            grp = self._group_of.get(reader)
            if grp is not None and grp.kind == "reshape" and self._read_as_bf16(grp.tail):
                continue
            if grp is not None and grp.kind == "attention" and any(
                    src.node is node and src.index == 0 for src, _, _ in grp.spec["views"]):
                continue
            if grp is None or reader is not grp.head or grp.kind != "matmul" or grp.spec["b_const"] is None or port:
                return False
        return bool(readers)

    def _consumer_layout(self, node, depth=0):
        """The activation layout the convolutions reading ``node``'s output (through poolings and
        element-wise layers) prefer for it, so that it is produced in that layout; -1: no preference."""
        prefs = set()
        for reader, port in self._users.get(node.output(0), []):
            head = self._group_of.get(reader)
            if head is None or reader is not head.head:
                if head is not None and head.kind == "conv" and reader in head.fused:
                    continue  # the residual sum: it follows the convolution's output layout
                return -1
            if head.kind == "conv" and port == 0:
                prefs.add(self._conv_layout(head))
            elif head.kind in ("pool", "eltwise") and depth < 4:
                prefs.add(self._consumer_layout(head.tail, depth + 1))
            else:
                return -1
        return prefs.pop() if len(prefs) == 1 else -1

    def _conv_layout(self, grp):
        key = grp.head
        if key not in self._layout_cache:
            sp = grp.spec
            n = grp.head
            self._layout_cache[key] = _ext.Program.preferred_src_layout(
                list(_shape(n.inputs[0])), sp["w_dims"], list(n.output_shapes[0]), sp["strides"], sp["dilations"],
                sp["pad_l"], sp["pad_r"], self._conv_bf16(grp), self.threads)
        return self._layout_cache[key]

    def _conv_bf16(self, grp):
        """Whether the convolution ``grp`` runs in bf16 (see the module docstring)."""
        src = grp.head.inputs[0]
        return self.bf16 and not (src.node.type == "Parameter" and _shape(src)[1] <= F32_INPUT_CHANNELS)

    # ------------------------------------------------------------------ running

    def new_state(self):
        """A stream's working memory: one arena per program."""
        return [p.new_request() for p in self.programs]

    def run(self, state, inputs, clock=None):
        """Run with ``inputs`` (name -> array), timing the layers on ``clock`` (a
        :class:`~ie_core.backend.LayerClock`, or None); returns (outputs, per-layer times or None)."""
        profile = clock is not None
        direct = self._direct
        if direct is not None:
            in_names, outs = direct
            req = state[0]
            res = req.run([inputs[nm] for nm in in_names], profile)
            outputs = {nm: res[i] for nm, i in outs}
            if profile:
                clock.lap_steps(self._step_names[0], [ns / 1000 for ns in req.times])
            return outputs, clock.stop() if profile else None
        slots = [None] * self.num_slots
        for s, v in self.constants:
            slots[s] = v
        for name, s in self.input_slots.items():
            slots[s] = inputs[name]
        for u, release in self.plan:
            args = [slots[a] for a in u.args]
            if u.segment >= 0:
                req = state[u.segment]
                result = req.run(args, profile)
                for s, r in zip(u.outs, result):
                    slots[s] = r
                if profile:
                    clock.lap_steps(self._step_names[u.segment], [ns / 1000 for ns in req.times])
            else:
                try:
                    result = u.run(*args)
                except IEError:
                    raise
                except Exception as exc:
                    raise InferenceError(f"layer '{u.name}' ({u.exec_type}) failed: {exc}") from exc
                if len(u.outs) == 1 and not isinstance(result, (list, tuple)):
                    slots[u.outs[0]] = result
                else:
                    for s, r in zip(u.outs, result):
                        slots[s] = r
                if profile:
                    clock.lap(u.name)
            for s in release:
                slots[s] = None
        outputs = {name: np.asarray(slots[s]) for name, s in self.output_slots.items()}
        return outputs, clock.stop() if profile else None

    def perf_counts(self, times):
        """``get_perf_counts()`` entries of every layer, with the times of the last profiled run."""
        return merge_perf_counts(self.static_counts, times)


def _hoist_kernels(units):
    """``units`` (in execution order) with every per-layer kernel moved up to just after the units it
    reads from, but never into a run of native units: kernels independent of a program (BERT's
    attention-mask chain) then do not split it in two."""
    placed, producer = [], {}
    for unit in units:
        _, n, grp = unit
        pos = len(placed)
        if grp is None:
            index = {id(u): i for i, u in enumerate(placed)}
            pos = 1 + max((index[id(producer[s.node])] for s in n.inputs if s.node in producer), default=-1)
            # after the kernels already there (their order kept), and not into a native run
            while pos < len(placed) and (placed[pos][2] is None or (pos and placed[pos - 1][2] is not None)):
                pos += 1
        placed.insert(pos, unit)
        for member in (grp.head,) + grp.fused if grp else (n,):
            producer[member] = unit
    return placed


class _Retry(Exception):
    """Emission failed for ``node``'s group: plan again with it excluded from native programs."""

    def __init__(self, node):
        super().__init__(node)
        self.node = node
