"""Load-time compilation of a graph for the CPU device: the plan the core's GraphExecutor runs.

:class:`CompiledGraph` turns a shape-inferred graph (constants already folded by
the core, fp16 weight decompression and ShapeOf subgraphs included) into a plan
of :class:`~ie_core.backend.Step` s, with the layers' static perf counts and
:class:`~ie_core.backend.LayerSupport`:

* layers an extra kernel provider claims (``kernels.KERNEL_PROVIDERS``: custom ops
  of loaded extensions) run its kernel, one step each;
* the other layers that native programs can run are grouped by
  :mod:`~ie_backend_cpu.fusion` (convolutions with their bias, scale, residual add
  and activations, ...); consecutive groups become one native program
  (:mod:`~ie_backend_cpu.emission`) under the layout and precision decisions of
  :mod:`~ie_backend_cpu.policy` — one step, whose per-stream state is the
  program's request (its arena) and whose layer times are the program's step
  times. Absorbed layers report ``OPTIMIZED_OUT``;
* everything else runs per layer through :func:`~ie_backend_cpu.kernels.kernel_for`
  (a single-layer oneDNN primitive, a transformer/data-movement kernel, or the
  numpy reference with the reason), scheduled as early as its inputs allow so
  that it does not split a program.

Where oneDNN refuses a group inside a program, that layer is planned again outside
the programs (logged at DEBUG level on the ``ie_backend_cpu`` logger). Query and
compile share this code: :meth:`CPUCompiledModel.layer_support` is ``support``.
"""

import logging

from ie_core.backend import SOURCE_TYPES, LayerSupport, PerfCount, kernel_step, precision_name

from .emission import Retry, emit_program
from .fusion import match_groups
from .kernels import KERNEL_PROVIDERS, kernel_for
from .policy import Policy

log = logging.getLogger(__name__)


class CompiledGraph:
    """The plan of one network: ``steps`` (in execution order), ``static_counts`` (layer name ->
    PerfCount before any run), ``support`` (layer name -> LayerSupport) and the native ``programs``."""

    def __init__(self, graph, threads=0, precision="f32", auto_threads=False):
        self.graph = graph
        self.threads = threads
        self.auto_threads = auto_threads
        self.bf16 = precision == "bf16"
        runnable = [n for n in graph.nodes if n.type not in SOURCE_TYPES + ("Result",) and not n.is_constant()]
        claimed = {}
        for n in runnable:
            kernel = next((k for k in (p(n, threads) for p in KERNEL_PROVIDERS) if k is not None), None)
            if kernel is not None:
                claimed[n] = kernel
        excluded = set(claimed)
        while True:
            try:
                self._build(runnable, claimed, excluded)
                return
            except Retry as retry:
                log.debug("layer '%s' (%s) runs outside the native programs: %s", retry.node.name, retry.node.type,
                          retry.reason)
                excluded.add(retry.node)

    def _build(self, runnable, claimed, excluded):
        g = self.graph
        users = g.consumers()
        order = {n: i for i, n in enumerate(g.nodes)}
        groups, fused_into = match_groups(runnable, users, excluded)
        group_of = {grp.head: grp for grp in groups.values()}
        group_of.update({f: grp for grp in groups.values() for f in grp.fused})
        policy = Policy(users, group_of, self.threads, self.bf16, self.auto_threads)
        # emission units ordered by the position of their tails, per-layer kernels as early as they can run
        units = []
        for n in runnable:
            if n in fused_into:
                continue
            grp = groups.get(n)
            units.append((order[grp.tail] if grp else order[n], n, grp))
        units.sort(key=lambda u: u[0])
        units = _hoist_kernels(units)

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

        steps, programs, counts, support = [], [], {}, {}
        for kind, item in runs:
            if kind == "kernel":
                n = item
                used = {i for i in range(n.num_outputs) if users.get(n.output(i))}
                kernel = claimed.get(n) or kernel_for(n, self.threads, used)
                steps.append(kernel_step(n, kernel))
                counts[n.name] = PerfCount("NOT_RUN", kernel.exec_type, n.type, 0, 0)
                support[n.name] = LayerSupport(True, not kernel.fallback, _precision(n, kernel.exec_type),
                                               kernel.exec_type, None, kernel.reason)
                continue
            step, program = emit_program(item, users, policy)
            steps.append(step)
            programs.append(program)
            impls = {}
            for name, impl, _ in program.steps():
                impls.setdefault(name, impl)
            for grp in item:
                n = grp.head
                # a head without a step of its own is a reshape of a plain tensor: nothing runs
                exec_type = impls.get(n.name, "undef")
                counts[n.name] = PerfCount("NOT_RUN" if n.name in impls else "OPTIMIZED_OUT", exec_type, n.type, 0, 0)
                support[n.name] = LayerSupport(True, True, _precision(n, exec_type), exec_type)
        for n in g.nodes:
            if n.type == "Result" or n.name in counts:
                continue
            if n.type in SOURCE_TYPES:
                exec_type, status, fused = "unknown", "NOT_RUN", None
            elif n in fused_into:
                exec_type, status, fused = "undef", "OPTIMIZED_OUT", fused_into[n].name
            else:
                exec_type, status, fused = "constant_folded", "OPTIMIZED_OUT", None
            counts[n.name] = PerfCount(status, exec_type, n.type, 0, 0)
            support[n.name] = LayerSupport(True, True, _precision(n, exec_type), exec_type, fused)
        self.steps = steps
        self.programs = programs
        self.static_counts = counts
        self.support = support


def _precision(node, exec_type):
    """The precision ``node`` computes in: BF16 for oneDNN's bf16 implementations, else its output's."""
    return "BF16" if "bf16" in exec_type else precision_name(node.output_dtypes[0])


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
