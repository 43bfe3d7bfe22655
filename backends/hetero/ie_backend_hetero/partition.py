"""Cutting a network into subgraphs, each on one device, that run one after another.

:func:`partition` orders the layers so that a device's layers run in a row where the
data dependencies allow (list scheduling that stays on the current device while it
has layers ready), cuts that order where the device changes, then merges subgraphs
of the same device whenever that creates no cycle between subgraphs: two
subgraphs merge only if no path of data leads from one to the other through a third
one. In a diamond A→B→D, A→C→D with B on another device than A, C and D, the
subgraph of A and C feeds B and B feeds D, so D stays a subgraph of its own: merging
it with A and C would make two subgraphs that both feed and read each other.
"""

import heapq

from ie_core.backend import SOURCE_TYPES


def runnable_layers(graph):
    """The layers of ``graph`` a device runs: all but Parameters, Consts, Results and layers folded to constants."""
    return [n for n in graph.nodes if n.type not in SOURCE_TYPES + ("Result",) and not n.is_constant()]


def partition(graph, affinity):
    """The runnable layers of ``graph`` as subgraphs: a list of ``(device, [layer names])``.

    ``affinity`` maps each runnable layer's name to its device. Each subgraph comes
    after the subgraphs it reads from; layers keep the graph's order within one.
    """
    layers = runnable_layers(graph)
    inside = set(layers)
    producers = {n: {s.node for s in n.inputs if s.node in inside} for n in layers}
    groups = []
    for n in _schedule(layers, producers, affinity):
        if groups and affinity[groups[-1][-1].name] == affinity[n.name]:
            groups[-1].append(n)
        else:
            groups.append([n])
    groups = _merge(groups, producers, affinity)
    position = {n: i for i, n in enumerate(graph.nodes)}
    return [(affinity[g[0].name], [n.name for n in sorted(g, key=position.get)]) for g in groups]


def _schedule(layers, producers, affinity):
    """``layers`` in an execution order that runs as many layers of one device in a row as it can."""
    position = {n: i for i, n in enumerate(layers)}
    readers = {n: [] for n in layers}
    waiting = {}
    for n in layers:
        waiting[n] = len(producers[n])
        for p in producers[n]:
            readers[p].append(n)
    ready = {}  # device -> heap of the positions of its layers whose inputs are all computed

    def push(n):
        heapq.heappush(ready.setdefault(affinity[n.name], []), position[n])

    for n in layers:
        if not waiting[n]:
            push(n)
    order, device = [], None
    for _ in layers:
        if not ready.get(device):
            device = min((heap[0], d) for d, heap in ready.items() if heap)[1]
        n = layers[heapq.heappop(ready[device])]
        order.append(n)
        for r in readers[n]:
            waiting[r] -= 1
            if not waiting[r]:
                push(r)
    return order


def _merge(groups, producers, affinity):
    """``groups`` (lists of layers in execution order) with same-device groups merged where no cycle
    results, in an order where each comes after those it reads from."""
    part_of = {n: k for k, g in enumerate(groups) for n in g}
    feeds = [set() for _ in groups]  # part k -> the parts that read from it
    for n, k in part_of.items():
        for p in producers[n]:
            if part_of[p] != k:
                feeds[part_of[p]].add(k)
    alive = list(range(len(groups)))
    merged = True
    while merged:
        merged = False
        for j in alive:
            target = next(
                (i for i in alive if i < j and affinity[groups[i][0].name] == affinity[groups[j][0].name]
                 and not _reaches_through_others(feeds, i, j) and not _reaches_through_others(feeds, j, i)),
                None,
            )
            if target is not None:
                groups[target] += groups[j]
                feeds[target] = (feeds[target] | feeds[j]) - {target, j}
                for k in alive:
                    if j in feeds[k]:
                        feeds[k] = (feeds[k] - {j}) | ({target} if k != target else set())
                alive.remove(j)
                merged = True
                break
    return [groups[k] for k in _topological(alive, feeds)]


def _reaches_through_others(feeds, a, b):
    """Whether data flows from part ``a`` to part ``b`` through some third part."""
    seen, stack = {a, b}, [k for k in feeds[a] if k != b]
    while stack:
        k = stack.pop()
        if k in seen:
            continue
        if b in feeds[k]:
            return True
        seen.add(k)
        stack.extend(feeds[k])
    return False


def _topological(parts, feeds):
    """``parts`` ordered so that each comes after every part that feeds it (ties: lowest number first)."""
    waiting = {k: 0 for k in parts}
    for k in parts:
        for r in feeds[k]:
            waiting[r] += 1
    ready = [k for k in parts if not waiting[k]]
    heapq.heapify(ready)
    order = []
    while ready:
        k = heapq.heappop(ready)
        order.append(k)
        for r in feeds[k]:
            waiting[r] -= 1
            if not waiting[r]:
                heapq.heappush(ready, r)
    return order
