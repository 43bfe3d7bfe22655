"""The FPGA accelerator's layer set, by ie_core op type, and the shapes each layer accepts.

The accelerator runs CNN layers only: convolutions (grouped and depthwise
included), max/average pooling (a ReduceMean over both spatial axes is a
global average pooling), ReLU/Clamp/PReLU, LRN, fully connected layers (MatMul
of a 2-d tensor by constant weights), per-channel scale and shift (the
ScaleShift of old IRs: Multiply or Add by a constant per-channel tensor, and
BatchNormInference), the element-wise Add of two tensors of one shape, and
Concat. Everything else runs on another device under HETERO:FPGA,CPU.
"""

import numpy as np

#: Layers the accelerator runs whatever their shapes.
ANY_SHAPE = frozenset({"Clamp", "LRN", "PRelu", "Relu", "BatchNormInference", "Concat"})
#: Layers the accelerator runs on 4-d tensors only.
SPATIAL_2D = frozenset({"Convolution", "GroupConvolution", "MaxPool", "AvgPool"})


def unsupported_reason(node, users):
    """Why the accelerator cannot run ``node`` (a runnable, shape-inferred layer), or "" when it can.

    ``users`` is the graph's :meth:`~ie_core.backend.Graph.consumers` map.
    """
    kind = node.op.type
    shapes = [src.node.output_shapes[src.index] for src in node.inputs]
    constant = [src.node.values[src.index] is not None for src in node.inputs]
    if kind in ANY_SHAPE:
        return ""
    if kind in SPATIAL_2D:
        if len(shapes[0]) != 4:
            return f"the accelerator runs {node.type} on 4-d (NCHW) tensors only, this one is {len(shapes[0])}-d"
        if kind == "MaxPool" and node.num_outputs > 1 and users.get(node.output(1)):
            return "the accelerator's MaxPool has no indices output"
        if kind in ("Convolution", "GroupConvolution") and not constant[1]:
            return "the accelerator's convolutions take constant weights only"
        return ""
    if kind == "ReduceMean":
        axes = node.inputs[1].node.values[node.inputs[1].index] if constant[1] else None
        if len(shapes[0]) == 4 and axes is not None and sorted(int(a) % 4 for a in np.ravel(axes)) == [2, 3]:
            return ""
        return "the accelerator averages over both spatial axes of a 4-d tensor only (global AvgPool)"
    if kind == "MatMul":
        if len(shapes[0]) == 2 and len(shapes[1]) == 2 and constant[1] and not constant[0]:
            return ""
        return "the accelerator's fully connected layer multiplies a 2-d tensor by constant 2-d weights only"
    if kind in ("Add", "Multiply"):
        if not any(constant):
            if kind == "Add" and shapes[0] == shapes[1]:
                return ""
            return f"the accelerator adds two tensors of one shape only, not {node.type} of {list(shapes[0])} and {list(shapes[1])}"
        data = shapes[constant.index(False)] if False in constant else shapes[0]
        if _per_channel(data, shapes[constant.index(True)]):
            return ""
        return f"the accelerator's scale/shift takes a constant per-channel tensor only, not {node.type} by {list(shapes[constant.index(True)])}"
    return f"{node.type} is not in the FPGA layer set"


def _per_channel(data, const):
    """Whether a constant of shape ``const`` broadcasts over ``data`` along its channel axis (1) only."""
    if len(data) < 2 or len(const) > len(data):
        return False
    padded = (1,) * (len(data) - len(const)) + tuple(const)
    return all(d == 1 for i, d in enumerate(padded) if i != 1) and padded[1] in (1, data[1])
