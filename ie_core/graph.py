"""The network graph: nodes in topological order, static shape inference and constant values."""

import math
import weakref
from typing import NamedTuple

import numpy as np

from .errors import GraphError, IEError, OutOfMemoryError, ShapeInferenceError, UnsupportedOpError
from .limits import FOLD_MAX_BYTES, shape_problem, tensor_bytes
from .mapped import mapped_array, release_pages
from .numerics import F32
from .ops import get_op
from .ops.registry import Attrs, OpContext

#: Layer types that hold values instead of computing them: a network input or a constant.
SOURCE_TYPES = ("Parameter", "Const")
KNOWN_OPSETS = tuple(f"opset{i}" for i in range(1, 18))
#: A Convert of a float16 Const of at least this many elements to float32 (weights the Model Optimizer
#: compressed) is decompressed each time its value is read: the network keeps only the float16 weights.
DECOMPRESS_ON_READ_ELEMENTS = 1024


class Output(NamedTuple):
    """Output port ``index`` of ``node``: the value an edge carries."""

    node: "Node"
    index: int


class Inferred(NamedTuple):
    """What :meth:`Graph.infer_shapes` computed for a node (``shapes``, ``dtypes``, ``values``) and from what:
    its op, attributes and input shapes and dtypes (``signature``) and input values (``inputs``, the very
    arrays). Reused while they stay the same, so that a copy of an inferred graph folds nothing again."""

    signature: tuple
    inputs: tuple
    shapes: tuple
    dtypes: tuple
    values: tuple

    def matches(self, signature, inputs):
        return self.signature == signature and all(a is b for a, b in zip(self.inputs, inputs))


class Decompressed:
    """The value of a Convert that widens compressed (float16) weights, computed when it is read and
    kept only while a reader holds it."""

    __slots__ = ("node", "_last")

    def __init__(self, node):
        self.node = node
        self._last = None

    def compute(self):
        value = self._last() if self._last is not None else None
        if value is None:
            src = self.node.inputs[0]
            weights = src.node.values[src.index]
            value = mapped_array(weights.shape, np.float32)
            np.copyto(value, weights)  # Convert's result: every float16 is exactly a float32
            release_pages(weights)
            value = _read_only(value)
            self._last = weakref.ref(value)
        return value


class Values(list):
    """A node's constant value per output port (None where not constant). Reading a port that holds
    :class:`Decompressed` weights computes them, unless a reader still holds the array computed last:
    the decompressed copy lives only as long as its readers keep it. :meth:`raw` gives the entries as
    stored."""

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [_stored_value(v) for v in list.__getitem__(self, index)]
        return _stored_value(list.__getitem__(self, index))

    def __iter__(self):
        return (_stored_value(v) for v in list.__iter__(self))

    def raw(self):
        return list.copy(self)


def _stored_value(entry):
    return entry.compute() if isinstance(entry, Decompressed) else entry


class Node:
    """One layer: its op type and version, ``<data>`` attributes, inputs and output ports.

    ``output_shapes``/``output_dtypes`` hold one entry per output port; ``values``
    holds the port's constant value where shape inference could compute one
    (Const layers, ShapeOf results, anything computed only from those). Folded
    values are read-only: copies of the graph share them.

    A Convert of large float16 weights to float32 (a model saved with compressed
    weights) is not kept folded: the network holds only the float16 weights, and
    ``values[i]`` decompresses them when read, keeping the result only while a
    reader holds it (:class:`Values`). :meth:`is_constant` and
    :meth:`stored_value` tell a constant without computing it. A device that
    copies weights into its own layout reads each layer's when it builds that
    layer, and drops them after: the process then holds one layer's decompressed
    weights at a time.
    """

    def __init__(self, id, name, type, version, attrs, inputs, num_outputs, value=None):
        self.id = id
        self.name = name
        self.type = type
        self.version = version
        self.attrs = dict(attrs)
        self.inputs = list(inputs)
        self.output_shapes = [None] * num_outputs
        self.output_dtypes = [None] * num_outputs
        self.output_names = [set() for _ in range(num_outputs)]
        self.values = Values([None] * num_outputs)
        if value is not None:
            self.values[0] = value
        self.op = None
        self.op_version = None
        self.rt_info = {}
        self.inferred = None

    def __repr__(self):
        return f"<Node {self.name!r} {self.type}>"

    @property
    def num_outputs(self):
        return len(self.output_shapes)

    def output(self, index=0):
        return Output(self, index)

    @property
    def values(self):
        """The constant value of each output port, or None (a :class:`Values` list)."""
        return self._values

    @values.setter
    def values(self, values):
        self._values = values if isinstance(values, Values) else Values(values)

    def stored_value(self, index=0):
        """Output ``index``'s value as stored: an array, None, or :class:`Decompressed` (not computed)."""
        return list.__getitem__(self._values, index)

    def context(self, numerics=F32):
        """The :class:`OpContext` the node's op sees with the current input shapes and values,
        under the device's ``numerics``. Decompressed weights (:class:`Values`) show as None there, as
        values known only at run time do: read them from the producer's ``values``."""
        values = [None if isinstance(v, Decompressed) else v
                  for v in (src.node.stored_value(src.index) for src in self.inputs)]
        return OpContext(
            self.name,
            self.type,
            self.op_version,
            Attrs(self.attrs, self.name),
            [src.node.output_shapes[src.index] for src in self.inputs],
            [src.node.output_dtypes[src.index] for src in self.inputs],
            values,
            numerics,
        )

    def clone(self, inputs):
        """A copy of this node reading from ``inputs``."""
        c = Node(self.id, self.name, self.type, self.version, self.attrs, inputs, self.num_outputs)
        c.output_shapes = list(self.output_shapes)
        c.output_dtypes = list(self.output_dtypes)
        c.output_names = [set(s) for s in self.output_names]
        c.values = Values(self.values.raw())
        c.op, c.op_version, c.rt_info = self.op, self.op_version, dict(self.rt_info)
        c.inferred = self.inferred
        return c

    def is_constant(self):
        """Whether every output's value is known at load time (decompressed weights included)."""
        return all(v is not None for v in self.values.raw())


class Graph:
    """A network: its nodes in topological order plus its Parameter and Result nodes."""

    def __init__(self, name, nodes):
        self.name = name
        self.nodes = topological_order(nodes)
        self.parameters = [n for n in self.nodes if n.type == "Parameter"]
        self.results = [n for n in self.nodes if n.type == "Result"]

    def node(self, name):
        for n in self.nodes:
            if n.name == name:
                return n
        return None

    def consumers(self):
        """Map from each :class:`Output` to the list of (node, input index) that read it."""
        users = {}
        for n in self.nodes:
            for i, src in enumerate(n.inputs):
                users.setdefault(src, []).append((n, i))
        return users

    def resolve_ops(self, extra_ops=None):
        """Attach each node's op definition.

        ``extra_ops`` (type -> OpDef, e.g. a device's custom-op extension) take
        precedence over the built-in op set and accept any version string. A
        node whose type neither knows stays unresolved (``op`` None) until
        :meth:`infer_shapes` reports it; a standard op with an unknown opset
        version raises UnsupportedOpError at once.
        """
        extra_ops = extra_ops or {}
        for n in self.nodes:
            if n.type in extra_ops:
                n.op = extra_ops[n.type]
                n.op_version = n.op.version_for(n.version)
                continue
            if n.version not in KNOWN_OPSETS and (n.type in SOURCE_TYPES + ("Result",) or get_op(n.type)):
                raise UnsupportedOpError(
                    f"layer '{n.name}' (id {n.id}, {n.type}): unknown version '{n.version}'; "
                    f"known: {KNOWN_OPSETS[0]}..{KNOWN_OPSETS[-1]}"
                )
            if n.type in SOURCE_TYPES or n.type == "Result":
                continue
            n.op = get_op(n.type)
            n.op_version = n.op.version_for(n.version) if n.op else None

    def unsupported(self):
        """Nodes whose op type no op definition implements."""
        return [n for n in self.nodes if n.op is None and n.type not in SOURCE_TYPES + ("Result",)]

    def can_infer(self):
        """True when every op is known and every input shape is static."""
        return self.is_static() and not self.unsupported()

    def is_static(self):
        return all(all(d >= 0 for d in p.output_shapes[0]) for p in self.parameters)

    def infer_shapes(self):
        """Infer every port's shape and dtype from the Parameters' shapes, folding constants on the way."""
        missing = self.unsupported()
        if missing:
            layers = ", ".join(f"'{n.name}' ({n.type}, version {n.version})" for n in missing[:5])
            raise UnsupportedOpError(
                f"network '{self.name}': unsupported operation type in layer(s) {layers}; "
                "no built-in op or loaded extension implements it (see IEPlugin.add_cpu_extension)"
            )
        if not self.is_static():
            dynamic = [p.name for p in self.parameters if any(d < 0 for d in p.output_shapes[0])]
            raise ShapeInferenceError(
                f"network '{self.name}': inputs {dynamic} have dynamic dimensions; "
                "give them static shapes with IENetwork.reshape() or batch_size first"
            )
        for n in self.nodes:
            if n.type in SOURCE_TYPES or n.type == "Result":
                continue
            ctx = n.context()
            signature = (n.op, n.op_version, dict(n.attrs), ctx.input_shapes, ctx.input_dtypes)
            memo = n.inferred
            if memo is not None and memo.matches(signature, ctx.input_values):
                n.output_shapes, n.output_dtypes, n.values = list(memo.shapes), list(memo.dtypes), Values(memo.values)
                continue
            try:
                specs = n.op.impl.infer(ctx)
            except IEError:
                raise
            except Exception as exc:
                raise ShapeInferenceError(
                    f"layer '{n.name}' ({n.type}): shape inference failed for input shapes "
                    f"{ctx.input_shapes}: {exc}"
                ) from exc
            if len(specs) != n.num_outputs:
                raise ShapeInferenceError(
                    f"layer '{n.name}' ({n.type}): the model declares {n.num_outputs} outputs, "
                    f"the op produces {len(specs)}"
                )
            for i, (shape, dtype) in enumerate(specs):
                problem = shape_problem(shape, dtype)
                if problem:
                    raise ShapeInferenceError(f"layer '{n.name}' ({n.type}): output {i}: {problem}")
                n.output_shapes[i] = tuple(int(d) for d in shape)
                n.output_dtypes[i] = np.dtype(dtype)
            try:
                n.values = _fold(n, ctx)
            except IEError:
                raise
            except MemoryError as exc:
                raise OutOfMemoryError(f"layer '{n.name}' ({n.type}): constant folding ran out of memory: {exc}") from exc
            except Exception as exc:
                raise ShapeInferenceError(
                    f"layer '{n.name}' ({n.type}): constant folding failed for input shapes "
                    f"{ctx.input_shapes}: {type(exc).__name__}: {exc}"
                ) from exc
            n.inferred = Inferred(signature, tuple(ctx.input_values), tuple(n.output_shapes), tuple(n.output_dtypes),
                                  tuple(n.values.raw()))

    def copy(self):
        """An independent copy of the graph structure (constant arrays are shared)."""
        mapping = {}
        for n in self.nodes:
            mapping[n] = n.clone([Output(mapping[s.node], s.index) for s in n.inputs])
        return Graph(self.name, [mapping[n] for n in self.nodes])

    def subgraph(self, names):
        """The layers ``names`` as a network of their own, e.g. to run part of a network on another device.

        Each tensor entering the part becomes a Parameter (a Const if its value is
        known) named after the tensor, and each tensor the rest of the network (or a
        network output) reads becomes a Result. Returns ``(graph, inputs, outputs)``:
        ``inputs`` maps the new Parameters' names and ``outputs`` the part's output
        names to the :class:`Output` of this graph they stand for.
        """
        chosen = [n for n in self.nodes if n.name in names and n.type not in ("Result", "Parameter")]
        inside, mapping, sources, inputs = set(chosen), {}, {}, {}

        def source(src):
            if src.node in inside:
                return Output(mapping[src.node], src.index)
            key = output_name(src)
            if key not in sources:
                shape, dtype, value = (v[src.index] for v in (src.node.output_shapes, src.node.output_dtypes, src.node.values))
                kind = "Parameter" if value is None else "Const"
                node = Node(f"{kind}_{len(sources)}", key, kind, "opset1", {"shape": ",".join(map(str, shape))}, [], 1, value)
                node.output_shapes[0], node.output_dtypes[0] = shape, dtype
                sources[key] = node
                if value is None:
                    inputs[key] = src
            return Output(sources[key], 0)

        for n in chosen:
            mapping[n] = n.clone([source(s) for s in n.inputs])
        users, results, outputs = self.consumers(), [], {}
        for n in chosen:
            for i in range(n.num_outputs):
                readers = users.get(Output(n, i), [])
                if any(r not in inside for r, _ in readers):
                    key = output_name(Output(n, i))
                    results.append(Node(f"Result_{len(results)}", f"{key}/result", "Result", "opset1", {}, [Output(mapping[n], i)], 0))
                    outputs[key] = Output(n, i)
        part = Graph(f"{self.name}/part", list(sources.values()) + [mapping[n] for n in chosen] + results)
        return part, inputs, outputs


def _fold(node, ctx):
    """Constant values of ``node``'s outputs where they can be computed at load time
    (up to :data:`~ie_core.limits.FOLD_MAX_BYTES`; larger ones are computed at inference).

    Outputs that are all empty (a zero-size dimension) are known without computing
    anything: such a layer never runs, on any device.
    """
    if node.type == "ShapeOf":
        return [_read_only(np.array(ctx.input_shapes[0], dtype=node.output_dtypes[0]))]
    if all(0 in shape for shape in node.output_shapes):
        return [np.empty(shape, dtype) for shape, dtype in zip(node.output_shapes, node.output_dtypes)]
    if _decompresses(node):
        return [Decompressed(node)]
    folded_bytes = sum(tensor_bytes(s, d) for s, d in zip(node.output_shapes, node.output_dtypes))
    constant = all(src.node.stored_value(src.index) is not None for src in node.inputs)
    if node.inputs and constant and folded_bytes <= FOLD_MAX_BYTES:
        inputs = [src.node.values[src.index] for src in node.inputs]
        outs = node.op.impl.compute(ctx, *inputs)
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        return [_read_only(np.asarray(o, dtype=node.output_dtypes[i])) for i, o in enumerate(outs)]
    return [None] * node.num_outputs


def _decompresses(node):
    """Whether ``node`` widens a float16 Const of at least DECOMPRESS_ON_READ_ELEMENTS elements to float32."""
    if node.type != "Convert" or len(node.inputs) != 1 or node.output_dtypes[0] != np.float32:
        return False
    src = node.inputs[0].node
    return (src.type == "Const" and src.output_dtypes[0] == np.float16
            and math.prod(src.output_shapes[0]) >= DECOMPRESS_ON_READ_ELEMENTS)


def _read_only(array):
    array.flags.writeable = False
    return array


def topological_order(nodes):
    """``nodes`` sorted so that producers come first (stable); raises GraphError on a cycle."""
    order, state = [], {}
    index = {n: i for i, n in enumerate(nodes)}
    for root in nodes:
        if root in state:
            continue
        stack = [(root, iter(root.inputs))]
        state[root] = "open"
        while stack:
            node, it = stack[-1]
            src = next(it, None)
            if src is None:
                stack.pop()
                state[node] = "done"
                order.append(node)
                continue
            dep = src.node
            if dep not in index:
                raise GraphError(f"layer '{node.name}' reads from layer '{dep.name}', which is not in the network")
            if state.get(dep) == "open":
                cycle = [n.name for n, _ in stack[[n for n, _ in stack].index(dep):]]
                raise GraphError(f"the network has a cycle through layers {cycle}")
            if dep not in state:
                state[dep] = "open"
                stack.append((dep, iter(dep.inputs)))
    return order


def output_name(src):
    """The Inference Engine name of the tensor ``src``: its layer's name, ``layer.N`` for a layer with several outputs."""
    return src.node.name if src.node.num_outputs == 1 else f"{src.node.name}.{src.index}"
