"""Emission: a run of fused groups as one native program (``_ext.Program``) and the plan step running it.

The program runs its layers in a single call without the GIL. Weights are
reordered once here, after which the weights-file pages of the constants a group
read leave the resident set (:func:`~ie_core.backend.release_pages`); each stream's request of the program
(:meth:`~ie_backend_cpu._ext.Program.new_request`, the step's per-stream state)
owns an arena sized at load whose buffers are reused along the network.
"""

import numpy as np

from ie_core.backend import Step, release_pages

from . import _ext
from .kernels import shape_of, value_of


class Retry(Exception):
    """A native call refused ``node``'s group (``reason``): plan again with it outside the programs."""

    def __init__(self, node, reason):
        super().__init__(node, reason)
        self.node = node
        self.reason = reason


def emit_program(groups, users, policy):
    """The program running ``groups`` (in order) and its :class:`~ie_core.backend.Step`: (step, program).

    The step reads the tensors the groups take from outside the program and writes
    the tails' outputs that something outside reads. Raises :class:`Retry` when
    oneDNN (or the attention kernel) refuses a group.
    """
    prog = _ext.Program(policy.program_threads(groups))
    tensor_of, args = {}, []
    members = {m for grp in groups for m in (grp.head,) + grp.fused}

    def tensor(src):
        key = (src.node, src.index)
        if key not in tensor_of:  # produced outside the program (a constant: passed in as one)
            tensor_of[key] = prog.add_input(list(shape_of(src)))
            args.append(src)
        return tensor_of[key]

    def new(node):
        t = prog.add_tensor(list(node.output_shapes[0]))
        tensor_of[(node, 0)] = t
        return t

    for grp in groups:
        try:
            _emit(prog, grp, tensor, new, policy)
        except _ext.DnnlError as exc:
            raise Retry(grp.head, f"oneDNN refused it in a program: {exc}") from exc
        for member in (grp.head,) + grp.fused:
            for src in member.inputs:
                stored = src.node.stored_value(src.index)
                if isinstance(stored, np.ndarray):  # decompressed weights released their pages when computed
                    release_pages(stored)
    outs = []
    for grp in groups:
        src = grp.tail.output(0)
        if any(r not in members for r, _ in users.get(src, [])):
            prog.add_output(grp.head.name, tensor_of[(grp.tail, 0)])
            outs.append(src)
    prog.finalize()
    steps = prog.steps()
    exec_type = ",".join(sorted({impl for _, impl, _ in steps}))
    # run(state, args, profile) is the stream's request's run(args, profile), called without a Python frame
    step = Step(_ext.ProgramRequest.run, tuple(args), tuple(outs), tuple(name for name, _, _ in steps), exec_type,
                prog.new_request, _step_times)
    return step, prog


def _step_times(request):
    return [ns / 1000 for ns in request.times]


def _emit(prog, grp, tensor, new, policy):
    n, spec, kind = grp.head, grp.spec, grp.kind
    name = n.name
    if kind == "conv":
        src = tensor(n.inputs[0])
        sum_t = tensor(spec["sum_src"]) if spec["sum_src"] is not None else -1
        dst = new(grp.tail)
        bf16 = policy.conv_bf16(grp)
        prog.conv(name, src, dst, spec["weights"](), spec["w_dims"],
                  spec["bias"], spec["strides"], spec["dilations"], spec["pad_l"], spec["pad_r"], spec["post"],
                  sum_t, bf16, bf16, policy.consumer_layout(grp.tail))
    elif kind == "matmul":
        a = tensor(n.inputs[0])
        b_const = spec["b_const"]
        b_t = -1 if b_const is not None else tensor(n.inputs[1])
        bias_dims = [1] * (len(spec["dst"]) - 1) + [spec["dst"][-1]]
        sum_t = tensor(spec["sum_src"]) if spec.get("sum_src") is not None else -1
        dst = new(grp.tail)
        prog.matmul(name, a, spec["a_dims"], spec["a_strides"], b_t,
                    None if b_const is None else b_const(),
                    spec["b_dims"], spec["b_strides"], spec.get("bias"), bias_dims, spec.get("post", []), sum_t, dst,
                    spec["dst"], policy.bf16, policy.read_as_bf16(grp.tail))
    elif kind == "attention":
        (q, q_dims, q_strides), (k, k_dims, k_strides), (v, v_dims, v_strides) = spec["views"]
        mask = tensor(spec["mask"]) if spec["mask"] is not None else -1
        try:
            prog.attention(name, tensor(q), q_dims, q_strides, tensor(k), k_dims, k_strides, tensor(v), v_dims,
                           v_strides, mask, new(grp.tail), spec["out_dims"], spec["out_strides"], spec["causal"],
                           spec["scale"], policy.bf16, policy.read_as_bf16(grp.tail))
        except ValueError as exc:  # the attention kernel's refusal of these views
            raise Retry(n, f"the attention kernel refused it: {exc}") from exc
    elif kind == "layer_norm":
        prog.layer_norm(name, tensor(n.inputs[0]), new(grp.tail), spec["n"], spec["eps"], spec["inside"],
                        spec["norm_var"], spec["gamma"], spec["beta"])
    elif kind == "pool":
        prog.pool(name, tensor(n.inputs[0]), new(n), spec["alg"], spec["kernel"], spec["strides"],
                  spec["dilations"], spec["pad_l"], spec["pad_r"])
    elif kind == "global_avg":
        x = list(shape_of(n.inputs[0]))
        src = tensor(n.inputs[0])
        sp = x[2:]
        window = (sp, [1] * len(sp), [0] * len(sp), [0] * len(sp), [0] * len(sp))
        if spec["keep"]:
            prog.pool(name, src, new(n), "pooling_avg_exclude_padding", *window)
        else:
            mid = prog.add_tensor(x[:2] + [1] * len(sp))
            prog.pool(name, src, mid, "pooling_avg_exclude_padding", *window)
            prog.reshape(name, mid, new(n))
    elif kind == "reshape":
        prog.reshape(name, tensor(n.inputs[0]), new(n))
    elif kind == "softmax":
        prog.softmax(name, tensor(n.inputs[0]), new(n), spec["axis"])
    elif kind == "eltwise":
        alg, alpha, beta = spec["act"]
        prog.eltwise(name, tensor(spec["src"]), new(n), alg, alpha, beta, spec["nan_value"])
    else:  # binary
        a = tensor(spec["a"])
        bv = value_of(spec["b"])
        if bv is not None:
            b_t, b_arr = -1, np.ascontiguousarray(bv, np.float32).reshape(spec["b_dims"])
        else:
            b_t, b_arr = tensor(spec["b"]), None
        prog.binary(name, a, b_t, b_arr, list(spec["b_dims"]), new(n), spec["alg"])
