"""A plan of how a graph runs on the GPU device: kernel launches over abstract tensors, the
constants to upload and the memory plan. :mod:`ie_backend_gpu.planner` makes it; it does not
touch the device.

Float tensors are stored as float32, or as half under ``precision="f16"``. Each request gets one
buffer per entry of ``pool_sizes``: a tensor takes a free one when produced and returns it after
its last reader (:meth:`Plan.allocate_memory`). Network outputs get buffers of their own;
network inputs are the tensors the core hands in.
"""

from typing import NamedTuple, Optional

import numpy as np

from ie_core.backend import NotSupportedError

PRECISIONS = {"f32": "FP32", "f16": "FP16"}
#: the largest finite half
HALF_MAX = 65504.0
#: the kernels index tensors with 32-bit ints
MAX_ELEMENTS = 2**31 - 1


class NoKernel(NotSupportedError):
    """A layer the device has no kernel for; ``reason`` says why (it ends up in query() and in
    the error of compile())."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class Buf(NamedTuple):
    """A kernel argument: the buffer of tensor ``key``."""

    key: object


class Const(NamedTuple):
    """A kernel argument: constant number ``index`` of the plan."""

    index: int


class Launch(NamedTuple):
    """One kernel enqueue. ``layer`` is the layer its device time counts to (None: not a layer's)."""

    program: str
    options: tuple
    kernel: str
    args: tuple
    global_size: tuple
    local_size: Optional[tuple]
    layer: Optional[str]


class Tensor(NamedTuple):
    """A tensor of the plan: its shape and the numpy dtype it is stored in."""

    shape: tuple
    dtype: np.dtype

    @property
    def nbytes(self):
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


class Plan:
    """What :func:`~ie_backend_gpu.planner.make_plan` decided.

    ``support``: layer name -> LayerSupport; ``refused``: layer name -> reason;
    ``launches``; ``constants`` (numpy arrays in storage precision); ``inputs``: network input
    name -> tensor key; ``outputs``: network output name -> tensor key; ``output_dtypes``: their
    graph dtypes (booleans are stored as bytes); ``output_constants``:
    network outputs folded to constants (name -> array); ``static_counts``: perf-count entries
    before a run; ``converted``: graph tensor -> the key of its half copy; after
    :meth:`allocate_memory`: ``pool_sizes`` and ``placement`` (tensor root -> ("pool", index) |
    ("output", key) | ("input", name)).
    """

    def __init__(self, graph, precision):
        self.graph = graph
        self.half = precision == "f16"
        self.precision = PRECISIONS[precision]
        self.support = {}
        self.refused = {}
        self.launches = []
        self.constants = []
        self.tensors = {}
        self.alias = {}
        self.inputs = {}
        self.outputs = {}
        self.output_dtypes = {}
        self.output_constants = {}
        self.static_counts = {}
        self.pool_sizes = []
        self.placement = {}
        self.converted = {}
        self._graph_constants = {}

    # ------------------------------------------------------------------ tensors, constants, launches

    def storage(self, dtype):
        """The dtype a tensor of graph dtype ``dtype`` is stored in on the device."""
        dtype = np.dtype(dtype)
        if dtype == np.float32:
            return np.dtype(np.float16) if self.half else dtype
        return np.dtype(np.uint8) if dtype == np.bool_ else dtype

    def tensor(self, key, shape, dtype, stored=None):
        """Register tensor ``key`` of graph dtype ``dtype``, stored as :meth:`storage` says or as
        ``stored``; returns its :class:`Buf` argument."""
        self.tensors[key] = Tensor(tuple(int(d) for d in shape), np.dtype(stored or self.storage(dtype)))
        return Buf(key)

    def output(self, node, index=0):
        """The :class:`Buf` the layer ``node`` writes its output ``index`` to."""
        return self.tensor(node.output(index), node.output_shapes[index], node.output_dtypes[index])

    def arg(self, src):
        """The argument reading graph tensor ``src`` (an Output): a constant or a tensor's buffer."""
        value = src.node.values[src.index]
        if value is None:
            return Buf(self.read_key(src))
        entry = self._graph_constants.get(id(value))
        if entry is None:  # the value is kept with its index, so its id stays unique
            entry = self._graph_constants[id(value)] = (self.const(value), value)
        return entry[0]

    def read_key(self, src):
        """The tensor key layers read graph tensor ``src`` from (a network input's half copy under f16)."""
        return self.converted.get(src, src)

    def const(self, array):
        """The :class:`Const` argument of ``array`` (float32 data in storage precision, booleans as bytes)."""
        array = np.asarray(array)
        if array.dtype == np.float32 and self.half:
            # finite values beyond half's range saturate (a mask's float32 minimum must not become
            # -inf: 0 * -inf is NaN)
            array = np.where(np.isfinite(array), np.clip(array, -HALF_MAX, HALF_MAX), array).astype(np.float16)
        elif array.dtype == np.bool_:
            array = array.astype(np.uint8)
        self.constants.append(np.ascontiguousarray(array))
        return Const(len(self.constants) - 1)

    def meta(self, values):
        """A :class:`Const` int32 array (shapes and strides a kernel reads)."""
        return self.const(np.asarray(list(values) or [0], dtype=np.int32))

    def launch(self, program, kernel, args, global_size, local_size, layer, options=()):
        """Append a launch of ``kernel`` of ``cl/<program>.cl`` (built with ``options``)."""
        self.launches.append(Launch(program, tuple(options), kernel, tuple(args), tuple(global_size),
                                    None if local_size is None else tuple(local_size), layer))

    def make_alias(self, node, src):
        """Layer ``node``'s output shares the memory of its input ``src``."""
        self.tensor(node.output(0), node.output_shapes[0], node.output_dtypes[0])
        self.alias[node.output(0)] = self.read_key(src)

    def root(self, key):
        """The tensor whose memory ``key`` lives in (following aliases)."""
        while key in self.alias:
            key = self.alias[key]
        return key

    # ------------------------------------------------------------------ memory

    def allocate_memory(self):
        """Place every tensor: network inputs, dedicated output buffers, or reused pool buffers."""
        input_roots = {key: name for name, key in self.inputs.items()}
        output_roots = {self.root(key) for key in self.outputs.values()}
        first, last = {}, {}
        for pos, launch in enumerate(self.launches):
            for arg in launch.args:
                if isinstance(arg, Buf):
                    root = self.root(arg.key)
                    first.setdefault(root, pos)
                    last[root] = pos
        for root in output_roots:
            if root in input_roots:
                self.placement[root] = ("input", input_roots[root])
            elif root in self.tensors:
                self.placement[root] = ("output", root)
        for root, name in input_roots.items():
            self.placement[root] = ("input", name)
        starts = {}
        for root, pos in first.items():
            if root not in self.placement:
                starts.setdefault(pos, []).append(root)
        ends = {}
        for root, pos in last.items():
            if root not in self.placement or self.placement[root][0] == "pool":
                ends.setdefault(pos, []).append(root)
        free = []  # indices into pool_sizes
        for pos in range(len(self.launches)):
            for root in starts.get(pos, ()):
                self.placement[root] = ("pool", self._take(free, self.tensors[root].nbytes))
            for root in ends.get(pos, ()):
                free.append(self.placement[root][1])

    def _take(self, free, nbytes):
        """A free pool buffer for ``nbytes``: the smallest that fits, else the largest grown, else a new one."""
        fitting = [i for i in free if self.pool_sizes[i] >= nbytes]
        if fitting:
            best = min(fitting, key=lambda i: self.pool_sizes[i])
        elif free:
            best = max(free, key=lambda i: self.pool_sizes[i])
            self.pool_sizes[best] = nbytes
        else:
            self.pool_sizes.append(nbytes)
            return len(self.pool_sizes) - 1
        free.remove(best)
        return best

    # ------------------------------------------------------------------ results

    def check(self, device_name):
        """Raise NotSupportedError naming the layers without a kernel (HETERO runs them elsewhere)."""
        if self.refused:
            layers = "; ".join(f"'{name}': {reason}" for name, reason in self.refused.items())
            raise NotSupportedError(
                f"the {device_name} device has no kernel for layer(s) {layers}. "
                f"Run the network on HETERO:{device_name.split('.')[0]},CPU to execute them on the CPU"
            )


#: work-group size of the one-dimensional element-wise kernels
LINEAR_GROUP = 64


def linear_size(count):
    """The global size of a one-dimensional kernel over ``count`` elements (whole work-groups)."""
    return (-(-int(count) // LINEAR_GROUP) * LINEAR_GROUP,)

