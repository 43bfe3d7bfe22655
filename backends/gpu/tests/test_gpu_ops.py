"""Single-op models on the GPU device against OpenVINO f32 (relative L2 1e-4).

A network loads on GPU only if every layer has a kernel, so each passing case also shows that the
layer ran on the device. Fused cases check the perf counts' exec types.
"""

import numpy as np
import openvino.opset1 as ov1
import openvino.opset2 as ov2
import openvino.opset3 as ov3
import openvino.opset5 as ov5
import openvino.opset7 as ov7
import openvino.opset8 as ov8
import openvino.opset13 as ops
import pytest
from gpu_helpers import RNG, TOL_F16, check, const, executed_types, rand

F16 = {"INFERENCE_PRECISION_HINT": "f16", "PERF_COUNT": "YES"}
PERF = {"PERF_COUNT": "YES"}

# ---------------------------------------------------------------------------------------- convolution

CONV_CASES = [
    # spatial, kernel, strides, dilations, pads_begin, pads_end, auto_pad
    ((9,), 3, [1], [1], [0], [0], "explicit"),
    ((10,), 3, [2], [2], [1], [2], "explicit"),
    ((7, 8), 3, [1, 1], [1, 1], [1, 1], [1, 1], "explicit"),
    ((9, 8), 3, [2, 3], [1, 2], [0, 2], [1, 0], "explicit"),
    ((9, 8), 3, [2, 2], [1, 1], [0, 0], [0, 0], "valid"),
    ((9, 8), 3, [2, 3], [1, 1], [0, 0], [0, 0], "same_upper"),
    ((9, 8), 3, [2, 2], [2, 1], [0, 0], [0, 0], "same_lower"),
    ((11, 11), 7, [2, 2], [1, 1], [3, 3], [3, 3], "explicit"),
    ((5, 7), 1, [1, 1], [1, 1], [0, 0], [0, 0], "explicit"),
    ((5, 7), 1, [2, 2], [1, 1], [0, 0], [0, 0], "explicit"),
]


@pytest.mark.parametrize("spatial,k,strides,dilations,pb,pe,auto_pad", CONV_CASES)
def test_convolution(spatial, k, strides, dilations, pb, pe, auto_pad, tmp_path):
    w = const(rand(70, 5, *([k] * len(spatial))))  # more output channels than one tile
    check(lambda x: ops.convolution(x, w, strides, pb, pe, dilations, auto_pad), rand(2, 5, *spatial),
          tmp_path=tmp_path)


@pytest.mark.parametrize("groups,cin_g,cout_g", [(2, 3, 2), (6, 1, 1), (4, 1, 2)])
@pytest.mark.parametrize("strides,pads", [([1, 1], [1, 1]), ([2, 2], [0, 1])])
def test_group_convolution(groups, cin_g, cout_g, strides, pads, tmp_path):
    w = const(rand(groups, cout_g, cin_g, 3, 3))
    check(lambda x: ops.group_convolution(x, w, strides, pads, pads, [1, 1]), rand(2, groups * cin_g, 9, 8),
          tmp_path=tmp_path)


def test_convolution_fuses_scale_bias_residual_and_activation(tmp_path):
    w = const(rand(16, 8, 3, 3, scale=0.3))
    scale, bias = const(rand(1, 16, 1, 1)), const(rand(1, 16, 1, 1))

    def build(x, shortcut):
        y = ops.add(ops.multiply(ops.convolution(x, w, [1, 1], [1, 1], [1, 1], [1, 1]), scale), bias)
        return ops.clamp(ops.add(y, shortcut), 0.0, 6.0)

    exec_net = check(build, rand(1, 8, 6, 6), rand(1, 16, 6, 6), tmp_path=tmp_path, config=PERF)
    counts = exec_net.requests[0].get_perf_counts()
    assert executed_types(exec_net) == {"conv_gemm", "input", "output"}
    assert sum(pc["status"] == "OPTIMIZED_OUT" for pc in counts.values() if pc["layer_type"] != "Const") == 4


def test_depthwise_convolution_fuses_bias_and_relu(tmp_path):
    w, bias = const(rand(12, 1, 1, 3, 3)), const(rand(1, 12, 1, 1))
    exec_net = check(lambda x: ops.relu(ops.add(ops.group_convolution(x, w, [1, 1], [1, 1], [1, 1], [1, 1]), bias)),
                     rand(2, 12, 7, 9), tmp_path=tmp_path, config=PERF)
    assert "conv_depthwise" in executed_types(exec_net)


# ---------------------------------------------------------------------------------------- MatMul

MATMUL_CASES = [
    ((3, 4), (4, 5), False, False),
    ((70, 40), (40, 66), False, False),
    ((4, 70), (66, 4), True, True),
    ((2, 1, 9, 4), (5, 4, 6), False, False),
    ((4,), (2, 4, 3), False, False),
    ((2, 3, 4), (4,), False, False),
    ((4,), (4,), False, False),
    ((6, 20, 3), (3, 5), False, False),
]


@pytest.mark.parametrize("a,b,ta,tb", MATMUL_CASES)
def test_matmul(a, b, ta, tb, tmp_path):
    check(lambda x, y: ops.matmul(x, y, ta, tb), rand(*a), rand(*b), tmp_path=tmp_path)


@pytest.mark.parametrize("rows", [1, 40])
def test_matmul_constant_weights_fuses_bias_residual_gelu(rows, tmp_path):
    w, bias = const(rand(24, 16, scale=0.3)), const(rand(24))

    def build(x, shortcut):
        return ops.gelu(ops.add(ops.add(ops.matmul(x, w, False, True), bias), shortcut), "erf")

    exec_net = check(build, rand(2, rows, 16), rand(2, rows, 24), tmp_path=tmp_path, config=PERF)
    assert executed_types(exec_net) & {"matmul_tiled", "matmul_gemv"}
    assert "gelu" not in executed_types(exec_net)


# ---------------------------------------------------------------------------------------- pooling

POOL_CASES = [
    # spatial, kernel, strides, pads_begin, pads_end, rounding, auto_pad
    ((8, 8), [2, 2], [2, 2], [0, 0], [0, 0], "floor", "explicit"),
    ((9, 7), [3, 3], [2, 2], [1, 1], [1, 1], "floor", "explicit"),
    ((9, 7), [3, 2], [2, 2], [0, 0], [0, 0], "ceil", "explicit"),
    ((9, 7), [3, 3], [2, 1], [0, 0], [0, 0], "floor", "same_upper"),
    ((10,), [3], [2], [1], [0], "floor", "explicit"),
]


@pytest.mark.parametrize("spatial,kernel,strides,pb,pe,rounding,auto_pad", POOL_CASES)
def test_max_pool(spatial, kernel, strides, pb, pe, rounding, auto_pad, tmp_path):
    check(lambda x: ov1.max_pool(x, strides, pb, pe, kernel, rounding, auto_pad), rand(2, 3, *spatial),
          tmp_path=tmp_path)
    check(lambda x: ov8.max_pool(x, strides, [1] * len(kernel), pb, pe, kernel, rounding, auto_pad).output(0),
          rand(2, 3, *spatial), tmp_path=tmp_path)


@pytest.mark.parametrize("spatial,kernel,strides,pb,pe,rounding,auto_pad", POOL_CASES)
@pytest.mark.parametrize("exclude_pad", [True, False])
def test_avg_pool(exclude_pad, spatial, kernel, strides, pb, pe, rounding, auto_pad, tmp_path):
    check(lambda x: ov1.avg_pool(x, strides, pb, pe, kernel, exclude_pad, rounding, auto_pad), rand(2, 3, *spatial),
          tmp_path=tmp_path)


# ---------------------------------------------------------------------------------------- normalisations

@pytest.mark.parametrize("axis", [0, 1, 3, -1])
def test_softmax(axis, tmp_path):
    check(lambda x: ov8.softmax(x, axis), rand(2, 3, 4, 70, scale=5), tmp_path=tmp_path)


@pytest.mark.parametrize("axis", [1, -1])
def test_log_softmax(axis, tmp_path):
    check(lambda x: ov5.log_softmax(x, axis), rand(2, 3, 70, scale=5), tmp_path=tmp_path)


@pytest.mark.parametrize("across,normalize", [(True, True), (False, True), (False, False)])
def test_mvn_v1(across, normalize, tmp_path):
    check(lambda x: ov2.mvn(x, across, normalize, 1e-3), rand(2, 3, 4, 5) + 1, tmp_path=tmp_path)


@pytest.mark.parametrize("axes", [[2, 3], [1, 2, 3], [-1], [1]])
@pytest.mark.parametrize("eps_mode", ["inside_sqrt", "outside_sqrt"])
def test_mvn_v6(axes, eps_mode, tmp_path):
    check(lambda x: ops.mvn(x, const(axes, np.int64), True, 1e-2, eps_mode), rand(2, 3, 4, 90) + 1, tmp_path=tmp_path)


def test_layer_norm_fuses_scale_and_shift(tmp_path):
    gamma, beta = const(rand(1, 1, 96)), const(rand(96))

    def build(x):
        return ops.add(ops.multiply(ops.mvn(x, const([-1], np.int64), True, 1e-12, "inside_sqrt"), gamma), beta)

    exec_net = check(build, rand(2, 5, 96), tmp_path=tmp_path, config=PERF)
    assert executed_types(exec_net) == {"layer_norm", "input", "output"}


@pytest.mark.parametrize("kind", ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod",
                                  "reduce_l1", "reduce_l2"])
@pytest.mark.parametrize("axes,keep", [([1], False), ([0, 2], True), ([2, 3], True), ([0, 1, 2, 3], False)])
def test_reductions(kind, axes, keep, tmp_path):
    opset = ov7 if kind in ("reduce_l1", "reduce_l2") else ops
    x = rand(2, 3, 4, 5) * 0.5 + (1.0 if kind == "reduce_prod" else 0.0)
    check(lambda p: getattr(opset, kind)(p, const(axes, np.int64), keep), x, tmp_path=tmp_path)


# ---------------------------------------------------------------------------------------- element-wise

BINARY = ["add", "subtract", "multiply", "divide", "maximum", "minimum", "power", "squared_difference"]


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("a,b", [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (3, 1)), ((1, 3, 1, 5), (2, 1, 4, 1)), ((), (3,))])
def test_binary(name, a, b, tmp_path):
    x, y = rand(*a), rand(*b)
    if name == "power":
        x = np.abs(x) + 0.5
    if name == "divide":
        y = np.where(np.abs(y) < 0.1, 0.5, y).astype(np.float32)
    check(lambda p, q: getattr(ops, name)(p, q), x, y, tmp_path=tmp_path)


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "maximum", "minimum"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_binary(name, dtype, tmp_path):
    x = RNG.integers(-2**15, 2**15, size=(2, 3, 4)).astype(dtype)  # OpenVINO's CPU computes int64 in 32 bits
    y = RNG.integers(-2**15, 2**15, size=(3, 1)).astype(dtype)
    check(lambda p, q: getattr(ops, name)(p, q), x, y, tmp_path=tmp_path)


@pytest.mark.parametrize("name", ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"])
def test_comparison_and_select(name, tmp_path):
    x, y = np.round(rand(2, 3, 4)), np.round(rand(3, 1))

    def build(p, q):
        mask = getattr(ops, name)(p, q)
        return [mask, ops.select(mask, p, ops.negative(q))]

    check(build, x, y, tmp_path=tmp_path)


def test_binary_with_constant(tmp_path):
    c = const(rand(1, 4, 1))
    check(lambda p: ops.subtract(c, p), rand(2, 4, 6), tmp_path=tmp_path)


UNARY = {
    "relu": ops.relu, "sigmoid": ops.sigmoid, "tanh": ops.tanh, "exp": ops.exp, "abs": ops.abs,
    "negative": ops.negative, "erf": ops.erf, "floor": ops.floor, "ceiling": ops.ceiling, "sin": ops.sin,
    "cos": ops.cos, "hswish": ops.hswish, "hsigmoid": ops.hsigmoid, "softplus": ops.softplus, "mish": ops.mish,
    "softsign": ops.softsign, "swish": ops.swish,
    "swish_beta": lambda x: ops.swish(x, const(0.7)),
    "clamp": lambda x: ops.clamp(x, -0.5, 1.5),
    "elu": lambda x: ops.elu(x, 0.3),
    "gelu_erf": lambda x: ops.gelu(x, "erf"),
    "gelu_tanh": lambda x: ops.gelu(x, "tanh"),
    "gelu_v2": ov2.gelu,
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name, tmp_path):
    check(UNARY[name], rand(3, 50, scale=2), tmp_path=tmp_path)


@pytest.mark.parametrize("name,fn", [("log", ops.log), ("sqrt", ops.sqrt)])
def test_unary_positive(name, fn, tmp_path):
    check(fn, np.abs(rand(3, 50)) + 0.1, tmp_path=tmp_path)


@pytest.mark.parametrize("source,target", [
    (np.int64, "f32"), (np.int32, "f32"), (np.bool_, "f32"), (np.uint8, "f32"),
    (np.float32, "i32"), (np.float32, "i64"), (np.float32, "boolean"), (np.float32, "u8"),
    (np.int64, "i32"), (np.int32, "i64"), (np.int64, "boolean"),
])
def test_convert(source, target, tmp_path):
    if np.dtype(source).kind == "f":
        x = rand(4, 6, scale=40)
        x[0, :3] = 0.0
    elif source == np.bool_:
        x = RNG.random((4, 6)) > 0.5
    else:
        x = RNG.integers(0 if source == np.uint8 else -50, 50, size=(4, 6)).astype(source)
    check(lambda p: ops.relu(ops.convert(p, target)) if target == "f32" else ops.convert(p, target), x,
          tmp_path=tmp_path)


# ---------------------------------------------------------------------------------------- data movement

@pytest.mark.parametrize("order", [[0, 2, 1, 3], [3, 2, 1, 0], [1, 0, 2, 3]])
def test_transpose(order, tmp_path):
    check(lambda x: ops.transpose(x, const(order, np.int64)), rand(2, 3, 4, 5), tmp_path=tmp_path)


def test_transpose_of_integers(tmp_path):
    x = RNG.integers(-9, 9, size=(3, 4, 2)).astype(np.int64)
    check(lambda p: ops.transpose(p, const([2, 0, 1], np.int64)), x, tmp_path=tmp_path)


@pytest.mark.parametrize("shape,target,mode", [((3, 1), [2, 3, 4], "numpy"), ((1, 4, 1), [2, 1, 3], "bidirectional")])
def test_broadcast(shape, target, mode, tmp_path):
    check(lambda x: ov3.broadcast(x, const(target, np.int64), broadcast_spec=mode), rand(*shape), tmp_path=tmp_path)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat(axis, tmp_path):
    c = const(rand(2, 3, 4))
    check(lambda x, y: ops.concat([x, c, ops.relu(y)], axis), rand(2, 3, 4), rand(2, 3, 4), tmp_path=tmp_path)


def test_reshape_squeeze_unsqueeze_share_memory(tmp_path):
    def build(x):
        y = ops.reshape(ops.relu(x), const([4, 6], np.int64), False)
        return ops.sigmoid(ops.unsqueeze(ops.squeeze(ops.unsqueeze(y, const([0], np.int64)), const([0], np.int64)),
                                         const([1], np.int64)))

    exec_net = check(build, rand(2, 3, 4), tmp_path=tmp_path, config=PERF)
    counts = exec_net.requests[0].get_perf_counts()
    assert {pc["exec_type"] for pc in counts.values() if pc["layer_type"] in ("Reshape", "Squeeze", "Unsqueeze")} \
        == {"alias"}


INDEXED = {
    "strided_slice": lambda x: ops.strided_slice(x, const([0, 1, -1], np.int64), const([2, 3, 0], np.int64),
                                                 const([1, 1, -2], np.int64), [0, 0, 0], [0, 0, 0]),
    "slice": lambda x: ov8.slice(x, const([1], np.int64), const([4], np.int64), const([2], np.int64),
                                 const([2], np.int64)),
    "split": lambda x: ops.split(x, const(1, np.int64), 3),
    "variadic_split": lambda x: ops.variadic_split(x, const(2, np.int64), const([1, 4], np.int64)),
    "tile": lambda x: ops.tile(x, const([2, 1, 2], np.int64)),
    "roll": lambda x: ops.roll(x, const([1, -2], np.int64), const([0, 2], np.int64)),
    "shuffle_channels": lambda x: ops.shuffle_channels(x, 1, 3),
}


@pytest.mark.parametrize("name", sorted(INDEXED))
def test_indexed_data_movement(name, tmp_path):
    check(INDEXED[name], rand(2, 3, 5), tmp_path=tmp_path)


def test_depth_to_space_and_back(tmp_path):
    check(lambda x: ops.space_to_depth(ops.depth_to_space(x, "blocks_first", 2), "depth_first", 2), rand(1, 8, 3, 2),
          tmp_path=tmp_path)


@pytest.mark.parametrize("axis,batch_dims,data,indices", [
    (0, 0, (30, 8), (2, 5)),
    (1, 0, (3, 7, 4), (6,)),
    (2, 1, (2, 3, 9), (2, 4)),
])
@pytest.mark.parametrize("index_type", [np.int64, np.int32])
def test_gather(axis, batch_dims, data, indices, index_type, tmp_path):
    dim = data[axis]
    idx = RNG.integers(-dim, dim, size=indices).astype(index_type)
    check(lambda d, i: ov8.gather(d, i, const(axis, np.int64), batch_dims), rand(*data), idx, tmp_path=tmp_path)


def test_gather_from_a_constant_table(tmp_path):
    table = const(rand(50, 16))
    idx = RNG.integers(0, 50, size=(2, 7)).astype(np.int64)
    check(lambda i: ov8.gather(table, i, const(0, np.int64)), idx, tmp_path=tmp_path)


# ---------------------------------------------------------------------------------------- attention

@pytest.mark.parametrize("mask", [None, "float", "bool", "causal"])
def test_scaled_dot_product_attention(mask, tmp_path):
    q, k, v = rand(2, 3, 40, 8), rand(2, 3, 70, 8), rand(2, 3, 70, 5)
    arrays = [q, k, v]
    if mask == "float":
        arrays.append(rand(1, 3, 40, 70))
    elif mask == "bool":
        m = RNG.random((2, 1, 40, 70)) > 0.3
        m[..., 0] = True
        arrays.append(m)

    def build(*p):
        if mask == "causal":
            return ops.scaled_dot_product_attention(*p, causal=True)
        if mask:
            return ops.scaled_dot_product_attention(*p, scale=const(0.3), causal=False)
        return ops.scaled_dot_product_attention(*p, causal=False)

    check(build, *arrays, tmp_path=tmp_path)


def test_attention_with_large_heads_uses_smaller_key_tiles(tmp_path):
    q, k, v = rand(1, 2, 33, 96), rand(1, 2, 40, 96), rand(1, 2, 40, 80)
    check(lambda *p: ops.scaled_dot_product_attention(*p, causal=False), q, k, v, tmp_path=tmp_path)


# ---------------------------------------------------------------------------------------- FP16

def test_f16_hint_stores_half_and_keeps_f32_outputs(tmp_path):
    w, bias = const(rand(16, 8, 3, 3, scale=0.3)), const(rand(1, 16, 1, 1))
    table = const(rand(20, 16))

    def build(x, idx):
        conv = ops.relu(ops.add(ops.convolution(x, w, [1, 1], [1, 1], [1, 1], [1, 1]), bias))
        pooled = ops.reduce_mean(conv, const([2, 3], np.int64), False)
        return ops.softmax(ops.add(pooled, ov8.gather(table, idx, const(0, np.int64))), -1)

    idx = RNG.integers(0, 20, size=(2,)).astype(np.int64)
    exec_net = check(build, rand(2, 8, 6, 6), idx, tmp_path=tmp_path, tol=TOL_F16, config=F16)
    support = exec_net.requests[0].get_perf_counts()
    assert {pc["exec_type"] for pc in support.values()} >= {"conv_gemm", "reduce_mean", "gather", "softmax"}
