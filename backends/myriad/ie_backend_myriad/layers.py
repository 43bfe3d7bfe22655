"""The MYRIAD layer set: the layers the VPU plugin ran, by ie_core op type, and their limits.

Taken from the VPU column of OpenVINO's supported-layers table (2019-2021
releases, when the plugin existed) and the plugin's front end, with the
legacy layer names mapped onto today's opsets: Eltwise-* are the element-wise
binary ops, Activation-* and Power the unary ones, Permute is Transpose,
FullyConnected/Gemm are MatMul, Crop/Slice are StridedSlice/Slice, Interp and
Resample are Interpolate, Norm is LRN and Normalize is NormalizeL2.
"""

#: Layers the VPU plugin ran on the stick.
SUPPORTED = frozenset({
    # activations and other element-wise unary layers
    "Abs", "Ceiling", "Clamp", "Elu", "Erf", "Exp", "Floor", "Gelu", "Log", "LogicalNot", "Mish", "PRelu",
    "Relu", "Sigmoid", "Sign", "SoftPlus", "Sqrt", "Swish", "Tanh",
    # element-wise binary layers (Eltwise) and Select
    "Add", "Divide", "Equal", "FloorMod", "Greater", "GreaterEqual", "Less", "LessEqual", "LogicalAnd",
    "LogicalOr", "LogicalXor", "Maximum", "Minimum", "Multiply", "NotEqual", "Power", "Select",
    "SquaredDifference", "Subtract",
    # convolutions, pooling, normalisations, MatMul
    "AvgPool", "BatchNormInference", "Convolution", "ConvolutionBackpropData", "GroupConvolution",
    "GroupConvolutionBackpropData", "Interpolate", "LRN", "MVN", "MatMul", "MaxPool", "NormalizeL2",
    "SoftMax", "TopK",
    # reductions
    "ReduceLogicalAnd", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceSum",
    # data movement and conversion
    "Broadcast", "Concat", "Convert", "Gather", "Pad", "Reshape", "ScatterElementsUpdate", "ScatterUpdate",
    "ShapeOf", "Slice", "Split", "Squeeze", "StridedSlice", "Tile", "Transpose", "Unsqueeze", "VariadicSplit",
})

#: Layers OpenVINO's load-time transformations decompose into supported ones before the
#: VPU compiler sees them: the emulator runs each as one layer (its intermediate values
#: in float32, where the stick stored them in FP16).
DECOMPOSED = frozenset({
    "ReduceL2",  # Sqrt(ReduceSum(x * x))
    "ScaledDotProductAttention",  # MatMul, Multiply, Add, SoftMax, MatMul
})

#: Layers whose VPU kernels handle 2-d spatial data (4-d tensors) only.
SPATIAL_2D = frozenset({
    "AvgPool", "Convolution", "ConvolutionBackpropData", "GroupConvolution", "GroupConvolutionBackpropData",
    "MaxPool", "Pad",
})


def unsupported_reason(node):
    """Why the stick cannot run ``node`` (a runnable, shape-inferred layer), or "" when it can."""
    kind = node.op.type
    if kind not in SUPPORTED and kind not in DECOMPOSED:
        return f"{node.type} is not in the VPU layer set"
    rank = len(node.inputs[0].node.output_shapes[node.inputs[0].index])
    if kind in SPATIAL_2D and rank != 4:
        return f"the VPU runs {node.type} on 4-d (NCHW) tensors only, this one is {rank}-d"
    return ""
