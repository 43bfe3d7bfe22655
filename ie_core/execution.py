"""Running a graph: a kernel per node, executed in topological order, with per-layer timing."""

import time
from typing import Callable, NamedTuple

import numpy as np

from .errors import IEError, InferenceError
from .graph import SOURCE_TYPES, output_name


class Kernel(NamedTuple):
    """A compiled node: ``run(*inputs)`` returns one array or a list with one per output port."""

    run: Callable
    exec_type: str


def reference_kernel(node):
    """A :class:`Kernel` running ``node`` with its op's numpy reference implementation."""
    ctx = node.context()
    compute = node.op.impl.compute
    return Kernel(lambda *xs: compute(ctx, *xs), "ref_numpy")


class PerfCount(NamedTuple):
    """One layer's entry of ``get_perf_counts()``."""

    status: str
    exec_type: str
    layer_type: str
    real_time: int
    cpu_time: int

    def as_dict(self):
        return self._asdict()


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


class _Step(NamedTuple):
    node: object
    run: Callable
    exec_type: str
    args: tuple
    outs: tuple
    release: tuple


class GraphExecutor:
    """Executes a shape-inferred graph with one :class:`Kernel` per non-constant node.

    Nodes whose outputs were all folded to constants at load time do not run.
    Tensors live in numbered slots and are dropped after their last reader, so
    peak memory follows the graph's live set. ``run`` keeps no state between
    calls: one executor serves any number of concurrent requests.
    """

    def __init__(self, graph, kernel_for):
        self.graph = graph
        slot_of, self.constants, self.input_slots, self.output_slots = slot_layout(graph)
        self.num_slots = len(slot_of)
        keep = set(self.output_slots.values()) | {s for s, _ in self.constants}
        last_use = {}
        runnable = [n for n in graph.nodes if n.type not in SOURCE_TYPES + ("Result",) and not n.is_constant()]
        for pos, n in enumerate(runnable):
            for src in n.inputs:
                last_use[slot_of[(src.node, src.index)]] = pos
        steps = []
        for pos, n in enumerate(runnable):
            kernel = kernel_for(n)
            args = tuple(slot_of[(s.node, s.index)] for s in n.inputs)
            release = tuple(s for s in set(args) if last_use.get(s) == pos and s not in keep)
            outs = tuple(slot_of[(n, i)] for i in range(n.num_outputs))
            steps.append(_Step(n, kernel.run, kernel.exec_type, args, outs, release))
        self.steps = steps
        self.static_counts = self._static_counts()

    def _static_counts(self):
        counts = {}
        running = {s.node for s in self.steps}
        for n in self.graph.nodes:
            if n.type == "Result":
                continue
            if n in running:
                status, exec_type = "NOT_RUN", next(s.exec_type for s in self.steps if s.node is n)
            elif n.type in SOURCE_TYPES:
                status, exec_type = "NOT_RUN", "unknown"
            else:
                status, exec_type = "OPTIMIZED_OUT", "constant_folded"
            counts[n.name] = PerfCount(status, exec_type, n.type, 0, 0)
        return counts

    def run(self, inputs, profile=False):
        """Run with ``inputs`` (name -> array); returns (outputs dict, per-layer times or None)."""
        clock = LayerClock() if profile else None
        slots = [None] * self.num_slots
        for s, v in self.constants:
            slots[s] = v
        for name, s in self.input_slots.items():
            slots[s] = inputs[name]
        for step in self.steps:
            args = [slots[a] for a in step.args]
            try:
                result = step.run(*args)
            except IEError:
                raise
            except Exception as exc:
                raise InferenceError(
                    f"layer '{step.node.name}' ({step.node.type}, {step.exec_type}) failed: {exc}"
                ) from exc
            if len(step.outs) == 1 and not isinstance(result, (list, tuple)):
                slots[step.outs[0]] = result
            else:
                for s, r in zip(step.outs, result):
                    slots[s] = r
            for s in step.release:
                slots[s] = None
            if profile:
                clock.lap(step.node.name)
        outputs = {name: np.asarray(slots[s]) for name, s in self.output_slots.items()}
        return outputs, clock.stop() if profile else None

    def perf_counts(self, times):
        """``get_perf_counts()`` entries for every layer, given the times of the last profiled run."""
        return merge_perf_counts(self.static_counts, times)


def slot_layout(graph):
    """Numbered tensor slots of a graph: (slot of each (node, port), [(slot, constant value)],
    input name -> slot, output name -> slot)."""
    slot_of, constants = {}, []
    for n in graph.nodes:
        for i in range(n.num_outputs):
            slot_of[(n, i)] = len(slot_of)
            if n.values[i] is not None:
                constants.append((slot_of[(n, i)], n.values[i]))
    input_slots = {p.name: slot_of[(p, 0)] for p in graph.parameters}
    output_slots = {}
    for r in graph.results:
        src = r.inputs[0]
        output_slots.setdefault(output_name(src), slot_of[(src.node, src.index)])
    return slot_of, constants, input_slots, output_slots


def merge_perf_counts(static_counts, times):
    """``get_perf_counts()`` dicts: ``static_counts`` (name -> PerfCount) with the measured
    ``(real, cpu)`` µs of ``times`` (or None) filled in for the layers that ran.

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
        counts[name] = pc.as_dict()
    return counts


