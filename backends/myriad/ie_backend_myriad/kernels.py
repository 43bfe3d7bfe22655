"""The emulator's kernels: the core's reference op of each layer under FP16 numerics, with faster
arithmetic for the layers that dominate CNNs.

Convolutions compute what the reference computes (the same products, accumulated in
float32 by a BLAS matrix product), with the columns gathered by the extension's
im2col instead of numpy's strided views; depthwise convolutions are the extension's
direct loop (float32 products and sums). A MaxPool whose indices output nothing
reads computes its values as MaxPool-1 does, without the argmax pass. Either way the
executor rounds what the layer outputs to FP16.
"""

import numpy as np

from ie_core.backend import reference_kernel

from . import _ext

#: exec_type of a layer run by its reference op under FP16 numerics
REFERENCE = "emulated_FP16"
#: exec_type of a convolution run as im2col and a float32 matrix product
IM2COL_GEMM = "emulated_FP16_im2col_gemm"
#: exec_type of a depthwise convolution run by the extension's direct loop
DEPTHWISE = "emulated_FP16_depthwise"


def kernel_for(node, users, numerics):
    """The :class:`~ie_core.backend.Kernel` running ``node``; ``users`` is the graph's consumers map."""
    kernel = reference_kernel(node, numerics, fallback=False)._replace(exec_type=REFERENCE)
    float32 = all(np.dtype(d) == np.float32 for d in node.context().input_dtypes)
    if node.op.type in ("Convolution", "GroupConvolution") and float32:
        geometry = node.op.impl.geometry(node.context())
        if geometry["og"] == geometry["cg"] == 1 and geometry["groups"] > 1:
            return kernel._replace(run=_depthwise(node, geometry), exec_type=DEPTHWISE)
        return kernel._replace(run=_convolution(node, geometry), exec_type=IM2COL_GEMM)
    if node.op.type == "MaxPool" and node.num_outputs == 2 and not users.get(node.output(1)):
        ctx = node.context(numerics)
        ctx.version = 1
        compute = node.op.impl.compute
        return kernel._replace(run=lambda x: [compute(ctx, x), None])
    return kernel


def _window(node, geometry):
    """(kh, kw, sh, sw, dh, dw, pt, pl, oh, ow) of a 2-d convolution."""
    kh, kw = node.inputs[1].node.output_shapes[node.inputs[1].index][-2:]
    return (kh, kw, *geometry["strides"], *geometry["dilations"], *geometry["pb"], *geometry["out"])


def _convolution(node, geometry):
    """x (N, C, H, W), filters -> the convolution: im2col, then one matrix product per group."""
    groups, og, cg = geometry["groups"], geometry["og"], geometry["cg"]
    window = _window(node, geometry)
    kh, kw, sh, sw, _, _, pt, pl, oh, ow = window
    pointwise = (kh, kw, sh, sw, pt, pl) == (1, 1, 1, 1, 0, 0) and tuple(geometry["pe"]) == (0, 0)

    def run(x, w):
        n = x.shape[0]
        if pointwise and n == 1:
            cols = x.reshape(groups, cg, oh * ow)
        else:
            cols = _ext.im2col(x, *window).reshape(groups, cg * kh * kw, n * oh * ow)
        out = np.matmul(w.reshape(groups, og, cg * kh * kw), cols)
        return np.ascontiguousarray(out.reshape(groups * og, n, oh, ow).swapaxes(0, 1))

    return run


def _depthwise(node, geometry):
    """x (N, C, H, W), filters (C, 1, 1, KH, KW) -> the depthwise convolution."""
    window = _window(node, geometry)
    return lambda x, w: _ext.depthwise(x, w, *window)
