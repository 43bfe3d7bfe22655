"""Running a graph: the one executor every device uses, its plan of steps, per-layer timing and layer support."""

import time
from typing import Callable, NamedTuple, Optional

import numpy as np

from .errors import IEError, InferenceError, OutOfMemoryError
from .graph import SOURCE_TYPES, output_name
from .limits import tensor_bytes
from .numerics import F32


class Kernel(NamedTuple):
    """A compiled layer: ``run(*inputs)`` returns one array or a list with one per output port.

    ``fallback`` marks a kernel that is not the device's own (the core's numpy
    reference standing in); ``reason`` says why the device has none of its own.
    """

    run: Callable
    exec_type: str
    fallback: bool = False
    reason: str = ""


def reference_kernel(node, numerics=F32, fallback=True):
    """A :class:`Kernel` running ``node`` with its op's numpy reference under ``numerics``.

    ``fallback=False`` for a device whose own implementation is the reference
    (REFERENCE, the emulators).
    """
    ctx = node.context(numerics)
    compute = node.op.impl.compute

    def run(*xs):
        out = compute(ctx, *xs)  # numpy gives scalars for 0-d results: native kernels reading them take arrays
        return [np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else np.asarray(out)

    return Kernel(run, "ref_numpy", fallback, "no native kernel" if fallback else "")


class PerfCount(NamedTuple):
    """One layer's entry of ``get_perf_counts()``; ``real_time`` and ``cpu_time`` in µs."""

    status: str
    exec_type: str
    layer_type: str
    real_time: int
    cpu_time: int

    def as_dict(self):
        return self._asdict()


class LayerSupport(NamedTuple):
    """How a device runs one layer (a ``query()`` result).

    ``supported``: the device loads networks with this layer and runs it;
    ``native``: on a kernel of the device's own (False: the core's reference stands
    in, or the layer is not supported at all); ``precision``: the precision it
    computes in ("FP32", "BF16", "FP16", "FP11", ...); ``exec_type``: the kernel's
    name; ``fused_into``: the layer whose kernel also runs this one, or None;
    ``reason``: why it is not native.
    """

    supported: bool
    native: bool
    precision: str
    exec_type: str = ""
    fused_into: Optional[str] = None
    reason: str = ""


class Step(NamedTuple):
    """One entry of an execution plan: a kernel that reads graph ports and writes others.

    ``run(state, args, profile)`` returns one array per port of ``outs``. ``layers``
    are the layers the step runs (a fused native program runs several); ``state``
    is what ``new_state()`` made for the stream running it (None without
    ``new_state``). After a profiled run, ``layer_times(state)`` gives the µs of each
    of ``layers``; without it the step's whole time counts to ``layers[0]``.
    """

    run: Callable
    args: tuple
    outs: tuple
    layers: tuple
    exec_type: str
    new_state: Optional[Callable] = None
    layer_times: Optional[Callable] = None


def kernel_step(node, kernel):
    """The :class:`Step` running one layer's :class:`Kernel`."""
    run = kernel.run
    multi = node.num_outputs != 1

    def step(state, args, profile):
        result = run(*args)
        return result if multi or isinstance(result, (list, tuple)) else (result,)

    return Step(step, tuple(node.inputs), tuple(node.output(i) for i in range(node.num_outputs)),
                (node.name,), kernel.exec_type)


class LayerClock:
    """Per-layer ``(real, cpu)`` µs of one profiled run, for ``get_perf_counts()``.

    Each lap runs from the end of the previous one (the first from the clock's
    creation), so the executor's own work around a kernel (binding inputs,
    gathering arguments, storing results) counts to the layer it serves and the
    layer times add up to the whole run. The cpu time reported is the wall time:
    kernels run on thread teams the calling thread's CPU clock does not see.
    """

    def __init__(self):
        self.times = {}
        self._last = None
        self._t = time.perf_counter_ns()

    def _elapsed(self):
        now = time.perf_counter_ns()
        elapsed, self._t = (now - self._t) / 1000, now
        return elapsed

    def _add(self, name, us):
        old = self.times.get(name)
        us = us if old is None else old[0] + us
        self.times[name] = (us, us)
        self._last = name

    def lap(self, name):
        """``name`` ran since the last lap."""
        self._add(name, self._elapsed())

    def lap_steps(self, names, step_us):
        """A native call ran the layers ``names`` for ``step_us`` µs each; the rest of the lap
        counts to the first of them."""
        rest = self._elapsed() - sum(step_us)
        for i, (name, us) in enumerate(zip(names, step_us)):
            self._add(name, us + rest if i == 0 else us)

    def stop(self):
        """The time since the last lap (handing back the outputs) counts to the last layer; returns ``times``."""
        if self._last is not None:
            self._add(self._last, self._elapsed())
        return self.times


class GraphExecutor:
    """Runs a shape-inferred graph by a plan of :class:`Step` s: the one executor of every device.

    Without ``steps`` the plan is one step per non-constant layer, with the kernel
    ``kernel_for(node)`` returns (a :class:`Kernel`). A backend that fuses layers
    passes its own ``steps`` (in execution order), ``static_counts`` (layer name ->
    :class:`PerfCount` before any run) and ``support`` (layer name ->
    :class:`LayerSupport`). Layers whose outputs were all folded to constants at load
    do not run. Tensors live in numbered slots and are dropped after their last
    reader, so peak memory follows the graph's live set. ``run`` keeps no state
    between calls beyond the ``state`` it is given: one executor serves any number of
    concurrent requests, each with its own state (:meth:`new_state`).

    ``numerics`` (a :class:`~ie_core.numerics.Numerics`) is applied to the network's
    inputs, the constants and every step's outputs unless it is exact.
    """

    def __init__(self, graph, kernel_for=None, steps=None, static_counts=None, support=None, numerics=F32):
        self.graph = graph
        self.numerics = numerics
        store = None if numerics.exact else numerics.store
        slot_of, _, self.input_slots, self.output_slots = slot_layout(graph, needed=())
        self.num_slots = len(slot_of)
        self._store = store
        runnable = [n for n in graph.nodes if n.type not in SOURCE_TYPES + ("Result",) and not n.is_constant()]
        if steps is None:
            kernels = {n: kernel_for(n) for n in runnable}
            steps = [kernel_step(n, kernels[n]) for n in runnable]
            support = _kernel_support(graph, kernels, numerics.name)
            static_counts = _static_counts(graph, kernels)
        self.steps = list(steps)
        self.static_counts = static_counts
        self.support = support
        plan, last_use = [], {}
        for pos, step in enumerate(self.steps):
            args = tuple(slot_of[(s.node, s.index)] for s in step.args)
            for a in args:
                last_use[a] = pos
            plan.append((step, args, tuple(slot_of[(o.node, o.index)] for o in step.outs)))
        constants = _constants(graph, slot_of, set(last_use) | set(self.output_slots.values()))
        self.constants = [(s, store(v)) for s, v in constants] if store else constants
        keep = set(self.output_slots.values()) | {s for s, _ in constants}
        self._plan = [
            (step, args, outs, tuple(a for a in set(args) if last_use.get(a) == pos and a not in keep))
            for pos, (step, args, outs) in enumerate(plan)
        ]
        self._direct = self._direct_plan()

    def _direct_plan(self):
        """(step, input names of its args, (output name, index in its results)...) when the plan is one
        step that reads only network inputs and writes every output (a network compiled into one native
        program): :meth:`run` then calls it without the slot table. None otherwise."""
        if len(self._plan) != 1 or self._store is not None:
            return None
        step, args, outs, _ = self._plan[0]
        input_of = {s: name for name, s in self.input_slots.items()}
        if not all(a in input_of for a in args) or not set(self.output_slots.values()) <= set(outs):
            return None
        return step, tuple(input_of[a] for a in args), tuple(
            (name, outs.index(s)) for name, s in self.output_slots.items()
        )

    def new_state(self):
        """Working memory for one stream of inferences (what each step's ``new_state`` makes)."""
        state = []
        for step in self.steps:
            try:
                state.append(step.new_state() if step.new_state else None)
            except MemoryError as exc:
                raise OutOfMemoryError(f"{_layers(step)} ({step.exec_type}): no memory for the working "
                                       f"memory: {exc}") from exc
        return state

    def run(self, inputs, profile=False, state=None):
        """Run with ``inputs`` (name -> array); returns (outputs dict, per-layer times or None).

        ``state`` is one of :meth:`new_state`'s (required when a step has state).
        """
        clock = LayerClock() if profile else None
        if self._direct is not None:
            step, names, outs = self._direct
            step_state = state[0] if state is not None else None
            try:
                result = step.run(step_state, [inputs[name] for name in names], profile)
            except Exception as exc:
                _reraise(step, exc)
            if profile:
                _lap(clock, step, step_state)
            return {name: np.asarray(result[i]) for name, i in outs}, clock.stop() if profile else None
        store = self._store
        slots = [None] * self.num_slots
        for s, v in self.constants:
            slots[s] = v
        for name, s in self.input_slots.items():
            slots[s] = store(inputs[name]) if store else inputs[name]
        for pos, (step, args, outs, release) in enumerate(self._plan):
            step_state = state[pos] if state is not None else None
            try:
                result = step.run(step_state, [slots[a] for a in args], profile)
            except Exception as exc:
                _reraise(step, exc)
            for s, r in zip(outs, result):
                slots[s] = store(r) if store else r
            for s in release:
                slots[s] = None
            if profile:
                _lap(clock, step, step_state)
        outputs = {name: np.asarray(slots[s]) for name, s in self.output_slots.items()}
        return outputs, clock.stop() if profile else None

    def perf_counts(self, times):
        """``get_perf_counts()`` entries for every layer, given the times of the last profiled run."""
        return merge_perf_counts(self.static_counts, times)


def _reraise(step, exc):
    """Raise ``exc``, a failure of ``step``: as it is if it is an IEError, else as an InferenceError (an
    OutOfMemoryError for a MemoryError) naming the step's layers."""
    if isinstance(exc, IEError):
        raise exc
    if isinstance(exc, MemoryError):
        need = sum(tensor_bytes(o.node.output_shapes[o.index], o.node.output_dtypes[o.index]) for o in step.outs)
        raise OutOfMemoryError(f"{_layers(step)} ({step.exec_type}) ran out of memory; its outputs take {need} "
                               f"bytes: {exc}") from exc
    raise InferenceError(f"{_layers(step)} ({step.exec_type}) failed: {type(exc).__name__}: {exc}") from exc


def _layers(step):
    """The layers ``step`` runs, as "layer 'a'" or "layers 'a' to 'z'"."""
    names = list(dict.fromkeys(step.layers))
    return f"layer '{names[0]}'" if len(names) == 1 else f"layers '{names[0]}' to '{names[-1]}'"


def _lap(clock, step, state):
    if step.layer_times is not None:
        clock.lap_steps(step.layers, step.layer_times(state))
    else:
        clock.lap(step.layers[0])


def _static_counts(graph, kernels):
    counts = {}
    for n in graph.nodes:
        if n.type == "Result":
            continue
        if n in kernels:
            status, exec_type = "NOT_RUN", kernels[n].exec_type
        elif n.type in SOURCE_TYPES:
            status, exec_type = "NOT_RUN", "unknown"
        else:
            status, exec_type = "OPTIMIZED_OUT", "constant_folded"
        counts[n.name] = PerfCount(status, exec_type, n.type, 0, 0)
    return counts


def _kernel_support(graph, kernels, precision):
    support = {}
    for n in graph.nodes:
        if n.type == "Result":
            continue
        k = kernels.get(n)
        if k is None:
            support[n.name] = LayerSupport(True, True, precision, "constant_folded" if n.type not in SOURCE_TYPES else "")
        else:
            support[n.name] = LayerSupport(True, not k.fallback, precision, k.exec_type, None, k.reason)
    return support


def slot_layout(graph, needed=None):
    """Numbered tensor slots of a graph: (slot of each (node, port), [(slot, constant value)],
    input name -> slot, output name -> slot). With ``needed`` (a set of slots) only those slots'
    constants are listed, so that decompressed weights (:class:`~ie_core.graph.Values`) nothing reads
    are never computed."""
    ports = [(n, i) for n in graph.nodes for i in range(n.num_outputs)]
    slot_of = {port: slot for slot, port in enumerate(ports)}
    input_slots = {p.name: slot_of[(p, 0)] for p in graph.parameters}
    output_slots = {}
    for r in graph.results:
        src = r.inputs[0]
        output_slots.setdefault(output_name(src), slot_of[(src.node, src.index)])
    return slot_of, _constants(graph, slot_of, needed), input_slots, output_slots


def _constants(graph, slot_of, needed=None):
    """[(slot, constant value)] of the graph's constant ports, of the slots in ``needed`` only if given."""
    return [(slot_of[(n, i)], n.values[i]) for n in graph.nodes for i in range(n.num_outputs)
            if n.stored_value(i) is not None and (needed is None or slot_of[(n, i)] in needed)]


def merge_perf_counts(static_counts, times):
    """``get_perf_counts()`` entries (name -> :class:`PerfCount`): ``static_counts`` with the
    measured ``(real, cpu)`` µs of ``times`` (or None) filled in for the layers that ran.

    Times are rounded to whole µs on their running sums, so that the reported
    times add up to the measured total (within 1 µs) however short each layer is.
    """
    counts = {}
    sums = [0.0, 0.0]
    for name, pc in static_counts.items():
        if times is not None and name in times and pc.status != "OPTIMIZED_OUT":
            rounded = []
            for k, t in enumerate(times[name]):
                before = round(sums[k])
                sums[k] += t
                rounded.append(int(round(sums[k]) - before))
            pc = pc._replace(status="EXECUTED", real_time=rounded[0], cpu_time=rounded[1])
        counts[name] = pc
    return counts
