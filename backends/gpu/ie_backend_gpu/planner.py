"""Planning a graph for the GPU device: fusion and kernel selection, then launches and memory.

:func:`make_plan` is the one place that decides how each layer runs; ``query()`` reports what
it decided (``emit=False``) and ``compile()`` refuses a network with a layer it found no kernel
for, so the two never disagree.

* **Fusion.** A Convolution/GroupConvolution absorbs a following Multiply by a per-channel
  constant (folded into its weights), Add of a per-channel constant (its bias), Add of another
  tensor of its shape (the residual) and an activation, in that order; a MatMul the same except
  the scale, with the bias along its last axis; an MVN over the last axis (LayerNorm) a Multiply
  and an Add of constants along that axis. Absorbed layers report ``OPTIMIZED_OUT``. A layer
  whose fused kernel is refused absorbs fewer layers.
* **Aliases.** Reshape, Squeeze, Unsqueeze, a Convert to the same type and a reduction over no
  axes share their input's memory and run nothing (``OPTIMIZED_OUT``, exec_type ``alias``).
* **Order.** A fused kernel runs where its last layer stands in the graph's topological order,
  so a residual computed after the convolution is ready.
"""

from typing import NamedTuple

import numpy as np

from ie_core.backend import LayerSupport, PerfCount, output_name

from .kernels import CHOOSERS, canonical_type, epilogue_chain
from .plan import LINEAR_GROUP, Buf, NoKernel, Plan, linear_size

SOURCE_TYPES = ("Parameter", "Const")


class _Unit(NamedTuple):
    main: object
    members: tuple
    choice: object


def make_plan(graph, precision="f32", emit=True):
    """Plan ``graph`` (shape-inferred, constants folded) for floats stored in ``precision``
    ("f32"/"f16"). With ``emit`` False only the layer support and perf-count entries are filled."""
    plan = Plan(graph, precision)
    plan.consumers = graph.consumers()
    plan.result_ports = {r.inputs[0] for r in graph.results}
    runnable = [n for n in graph.nodes if n.type not in SOURCE_TYPES + ("Result",) and not n.is_constant()]
    order = {n: i for i, n in enumerate(runnable)}
    absorbed, units = set(), []
    for node in runnable:
        if node in absorbed:
            continue
        choice, chain = _choose(node, plan, absorbed)
        if choice is None:
            continue
        members = tuple(member for _, member, _ in chain)
        absorbed.update(members)
        units.append(_Unit(node, members, choice))
    _report(plan, units)
    if plan.refused or not emit:
        return plan
    _bind_inputs(plan)
    for unit in sorted(units, key=lambda u: max(order[n] for n in (u.main,) + u.members)):
        unit.choice.emit()
    _bind_outputs(plan)
    plan.allocate_memory()
    return plan


def _choose(node, plan, absorbed):
    """(Choice, absorbed chain) for ``node``, trying shorter chains when the fused kernel is refused;
    (None, []) with the reason in ``plan.refused`` when the layer has no kernel at all."""
    chooser = CHOOSERS.get(canonical_type(node))
    if chooser is None:
        plan.refused[node.name] = f"no GPU kernel for {node.type} layers"
        return None, []
    chain = epilogue_chain(node, plan.consumers, plan.result_ports, absorbed)
    while True:
        try:
            return chooser(node, plan, chain), chain
        except NoKernel as exc:
            if not chain:
                plan.refused[node.name] = f"{node.type}: {exc.reason}"
                return None, []
            chain = chain[:-1]


def _report(plan, units):
    """Fill ``support`` and ``static_counts`` from the units chosen and the layers refused."""
    unit_of = {}
    for unit in units:
        unit_of[unit.main] = (unit, None)
        for member in unit.members:
            unit_of[member] = (unit, unit.main.name)
    precision = plan.precision
    for node in plan.graph.nodes:
        if node.type == "Result":
            continue
        name = node.name
        if name in plan.refused:
            plan.support[name] = LayerSupport(False, False, precision, reason=plan.refused[name])
            plan.static_counts[name] = PerfCount("NOT_RUN", "not_supported", node.type, 0, 0)
        elif node.type in SOURCE_TYPES:
            plan.support[name] = LayerSupport(True, True, precision)
            plan.static_counts[name] = PerfCount("NOT_RUN", "unknown", node.type, 0, 0)
        elif node.is_constant():
            plan.support[name] = LayerSupport(True, True, precision, "constant_folded")
            plan.static_counts[name] = PerfCount("OPTIMIZED_OUT", "constant_folded", node.type, 0, 0)
        else:
            unit, fused_into = unit_of[node]
            exec_type = unit.choice.exec_type
            plan.support[name] = LayerSupport(True, True, precision, exec_type, fused_into)
            status = "OPTIMIZED_OUT" if fused_into or exec_type == "alias" else "NOT_RUN"
            plan.static_counts[name] = PerfCount(status, exec_type, node.type, 0, 0)


def _count(shape):
    return int(np.prod(shape, dtype=np.int64))


def _bind_inputs(plan):
    """Network inputs: the tensors the core hands in; under f16 their float ones are converted first."""
    for param in plan.graph.parameters:
        port, shape, dtype = param.output(0), param.output_shapes[0], param.output_dtypes[0]
        plan.inputs[param.name] = port
        if plan.half and dtype == np.float32:
            plan.tensor(port, shape, dtype, stored=np.float32)
            converted = ("half", port)
            buf = plan.tensor(converted, shape, dtype)
            plan.launch("eltwise", "store_from_f32", (Buf(port), buf, np.int32(_count(shape))),
                        linear_size(_count(shape)), (LINEAR_GROUP,), None)
            plan.converted[port] = converted
        else:
            plan.tensor(port, shape, dtype)


def _bind_outputs(plan):
    """Network outputs: their tensors (converted back to float32 under f16), or folded constants."""
    input_ports = set(plan.inputs.values())
    for result in plan.graph.results:
        src = result.inputs[0]
        name = output_name(src)
        if name in plan.outputs or name in plan.output_constants:
            continue
        value = src.node.values[src.index]
        if value is not None:
            plan.output_constants[name] = np.asarray(value)
            continue
        key = plan.read_key(src)
        plan.output_dtypes[name] = np.dtype(src.node.output_dtypes[src.index])
        if plan.root(src) in input_ports:
            key = src  # the float32 tensor handed in, not its half copy
        elif plan.half and src.node.output_dtypes[src.index] == np.float32:
            shape = src.node.output_shapes[src.index]
            converted = ("float", src)
            buf = plan.tensor(converted, shape, np.float32, stored=np.float32)
            plan.launch("eltwise", "store_to_f32", (Buf(key), buf, np.int32(_count(shape))),
                        linear_size(_count(shape)), (LINEAR_GROUP,), None)
            key = converted
        plan.outputs[name] = key
