"""Graphviz pictures of a HETERO network (``HETERO_DUMP_GRAPH_DOT=YES``), written into the current directory."""

from pathlib import Path

#: Fill colours of the devices, in the order of the fallback list.
COLORS = ("#a6cee3", "#fdbf6f", "#b2df8a", "#fb9a99", "#cab2d6", "#ffff99")

AFFINITY_FILE = "hetero_affinity.dot"
SUBGRAPHS_FILE = "hetero_subgraphs.dot"


def _escape(text):
    return str(text).replace("\\", "\\\\").replace('"', '\\"')


def _quote(text):
    return f'"{_escape(text)}"'


def _node(n, device, devices):
    """A node statement: the layer's name, type and device (if any) on three lines, filled with the device's colour."""
    color = COLORS[devices.index(device) % len(COLORS)] if device in devices else "white"
    label = "\\n".join(_escape(text) for text in (n.name, n.type, device) if text)
    return f'{_quote(n.name)} [label="{label}", fillcolor="{color}"];'


def _edges(graph):
    return [
        f"  {_quote(src.node.name)} -> {_quote(n.name)};"
        for n in graph.nodes
        if n.type != "Result"
        for src in n.inputs
    ]


def write_affinity(graph, affinity, devices):
    """``hetero_affinity.dot``: every layer, coloured by its device (``affinity``: layer name -> device)."""
    lines = [f"digraph {_quote(graph.name)} {{", "  node [shape=box, style=filled];"]
    lines += ["  " + _node(n, affinity.get(n.name, ""), devices) for n in graph.nodes if n.type != "Result"]
    lines += _edges(graph) + ["}"]
    Path(AFFINITY_FILE).write_text("\n".join(lines) + "\n")


def write_subgraphs(graph, affinity, devices, parts):
    """``hetero_subgraphs.dot``: one cluster per subgraph (``parts``: (device, layer names) in execution order)."""
    lines = [f"digraph {_quote(graph.name)} {{", "  node [shape=box, style=filled];"]
    placed = set()
    by_name = {n.name: n for n in graph.nodes}
    for k, (device, names) in enumerate(parts):
        lines.append(f"  subgraph cluster_{k} {{")
        lines.append(f"    label={_quote(f'subgraph {k}: {device}')};")
        lines += ["    " + _node(by_name[name], device, devices) for name in names]
        lines.append("  }")
        placed.update(names)
    lines += ["  " + _node(n, "", devices) for n in graph.nodes if n.type != "Result" and n.name not in placed]
    lines += _edges(graph) + ["}"]
    Path(SUBGRAPHS_FILE).write_text("\n".join(lines) + "\n")
