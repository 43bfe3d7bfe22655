"""Layout and precision policy: how the emitted layers store their activations, and on how many threads.

* **Layouts.** Activations stay in the layouts oneDNN picks (``format_tag::any``,
  blocked ``nChw16c`` etc.) between the layers of a program. A convolution's
  output is produced in the layout the convolutions reading it (through poolings
  and element-wise layers) prefer, so that no reorder sits between them.
* **Precision.** ``INFERENCE_PRECISION_HINT=bf16`` runs convolutions,
  constant-weight MatMuls and the attention's two products on bf16 operands with
  f32 accumulation; network outputs stay f32. A convolution reading a network
  input of at most :data:`F32_INPUT_CHANNELS` channels (an image) stays f32: its
  input is kept exact, and with so few channels bf16 would save little time. A
  tensor that only bf16 MatMuls and attentions read is written in bf16.
* **Threads.** A program of fewer than :data:`SMALL_PROGRAM_MACS`
  multiply-accumulates runs on one thread unless CPU_THREADS_NUM asks otherwise.
"""

import functools

import numpy as np

from . import _ext
from .kernels import canonical_type, shape_of

#: bf16 precision: convolutions reading a network input of this few channels stay f32
F32_INPUT_CHANNELS = 4

#: A native program with fewer multiply-accumulates than this runs on one thread unless
#: CPU_THREADS_NUM asks otherwise: its layers take microseconds, less than a parallel
#: region's fork/join costs (and far less than waking OpenMP workers on a busy machine).
SMALL_PROGRAM_MACS = 1_000_000


def macs(node):
    """Multiply-accumulates of a convolution or MatMul (an element count for other layers)."""
    out = int(np.prod(node.output_shapes[0])) if node.output_shapes[0] is not None else 0
    t = canonical_type(node)
    if t in ("Convolution", "GroupConvolution", "MatMul") and len(node.inputs) > 1:
        w = shape_of(node.inputs[1])
        if t == "Convolution":
            return out * int(np.prod(w[1:]))
        if t == "GroupConvolution":
            return out * int(np.prod(w[2:]))
        a = shape_of(node.inputs[0])
        return out * (a[-1] if a else 1)
    return out


class Policy:
    """The layout and precision decisions for one network's groups (``group_of``: layer -> its group)."""

    def __init__(self, users, group_of, threads, bf16, auto_threads):
        self.users = users
        self.group_of = group_of
        self.threads = threads
        self.bf16 = bf16
        self.auto_threads = auto_threads
        self._layouts = {}

    def program_threads(self, groups):
        """The OpenMP threads of a program running ``groups``."""
        if self.auto_threads and sum(macs(g.head) for g in groups) < SMALL_PROGRAM_MACS:
            return 1  # waking OpenMP workers would cost more than the whole computation
        return self.threads

    def conv_bf16(self, grp):
        """Whether the convolution ``grp`` runs in bf16."""
        src = grp.head.inputs[0]
        return self.bf16 and not (src.node.type == "Parameter" and shape_of(src)[1] <= F32_INPUT_CHANNELS)

    def read_as_bf16(self, node):
        """Whether only bf16 MatMuls with constant weights (as their first operand) and attentions (as Q,
        K or V) read ``node``'s output, possibly through Reshapes, so that it may be written in bf16: the
        rounding they would do on reading it."""
        if not self.bf16:
            return False
        readers = self.users.get(node.output(0), [])
        for reader, port in readers:
            grp = self.group_of.get(reader)
            if grp is not None and grp.kind == "reshape" and self.read_as_bf16(grp.tail):
                continue
            if grp is not None and grp.kind == "attention" and any(
                    src.node is node and src.index == 0 for src, _, _ in grp.spec["views"]):
                continue
            if grp is None or reader is not grp.head or grp.kind != "matmul" or grp.spec["b_const"] is None or port:
                return False
        return bool(readers)

    def consumer_layout(self, node, depth=0):
        """The activation layout the convolutions reading ``node``'s output (through poolings and
        element-wise layers) prefer for it, so that it is produced in that layout; -1: no preference."""
        prefs = set()
        for reader, port in self.users.get(node.output(0), []):
            head = self.group_of.get(reader)
            if head is None or reader is not head.head:
                if head is not None and head.kind == "conv" and reader in head.fused:
                    continue  # the residual sum: it follows the convolution's output layout
                return -1
            if head.kind == "conv" and port == 0:
                prefs.add(self._conv_layout(head))
            elif head.kind in ("pool", "eltwise") and depth < 4:
                prefs.add(self.consumer_layout(head.tail, depth + 1))
            else:
                return -1
        return prefs.pop() if len(prefs) == 1 else -1

    def _conv_layout(self, grp):
        if grp.head not in self._layouts:
            sp, n = grp.spec, grp.head
            dims = (shape_of(n.inputs[0]), sp["w_dims"], n.output_shapes[0], sp["strides"], sp["dilations"],
                    sp["pad_l"], sp["pad_r"])
            self._layouts[grp.head] = _preferred_src_layout(*map(tuple, dims), self.conv_bf16(grp), self.threads)
        return self._layouts[grp.head]


@functools.lru_cache(maxsize=4096)
def _preferred_src_layout(*args):
    """oneDNN's preferred source layout of a convolution (the arguments of ``Program.preferred_src_layout``,
    as tuples): the same on every load of a network, so asked once per process."""
    return _ext.Program.preferred_src_layout(*args)
