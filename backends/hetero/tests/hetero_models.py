"""Networks of the HETERO tests, built with OpenVINO's opset API; every layer the tests refer to is named."""

import numpy as np
import openvino as ov
import openvino.opset13 as ops


def _named(node, name):
    node.set_friendly_name(name)
    return node


def _weights(rng, shape, fan_in):
    return ops.constant((rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32))


def mlp(batch=1, width=32, depth=3, extra_outputs=()):
    """data[batch, width] -> (MatMul fc<i>, Add fc<i>/bias, Relu relu<i>) x depth -> Softmax prob.

    ``extra_outputs`` names layers that are network outputs too (after prob).
    """
    rng = np.random.default_rng(0)
    data = ops.parameter([batch, width], np.float32, name="data")
    x, named = data, {}
    for i in range(depth):
        x = _named(ops.matmul(x, _weights(rng, (width, width), width), False, False), f"fc{i}")
        x = _named(ops.add(x, _weights(rng, (1, width), 1)), f"fc{i}/bias")
        x = named[f"relu{i}"] = _named(ops.relu(x), f"relu{i}")
    prob = _named(ops.softmax(x, 1), "prob")
    return ov.Model([prob] + [named[name] for name in extra_outputs], [data], "mlp")


def small_cnn():
    """data[1,3,12,12] -> conv1 (+bias, relu1) -> norm1 (LRN) -> pool1 -> conv2 (+bias, relu2)
    -> concat(relu2, pool1) -> flatten -> fc (+bias) -> Softmax prob. The flatten follows the batch."""
    rng = np.random.default_rng(1)
    data = ops.parameter([1, 3, 12, 12], np.float32, name="data")

    def conv(x, cin, name):
        y = _named(ops.convolution(x, _weights(rng, (8, cin, 3, 3), cin * 9), [1, 1], [1, 1], [1, 1], [1, 1]), name)
        y = _named(ops.add(y, _weights(rng, (1, 8, 1, 1), 1)), f"{name}/bias")
        return y

    relu1 = _named(ops.relu(conv(data, 3, "conv1")), "relu1")
    norm1 = _named(ops.lrn(relu1, ops.constant(np.array([1], np.int64)), 1e-4, 0.75, 1.0, 5), "norm1")
    pool1 = _named(ops.avg_pool(norm1, [2, 2], [0, 0], [0, 0], [2, 2], True), "pool1")
    relu2 = _named(ops.relu(conv(pool1, 8, "conv2")), "relu2")
    concat = _named(ops.concat([relu2, pool1], 1), "concat")
    flat = _named(ops.reshape(concat, ops.constant(np.array([0, -1], np.int64)), True), "flatten")
    fc = _named(ops.matmul(flat, _weights(rng, (16 * 6 * 6, 10), 16 * 6 * 6), False, False), "fc")
    prob = _named(ops.softmax(_named(ops.add(fc, _weights(rng, (1, 10), 1)), "fc/bias"), 1), "prob")
    return ov.Model([prob], [data], "small_cnn")


def diamond():
    """data[1,16] -> a (Relu) -> b (Sigmoid) and c (Tanh) -> d = b + c."""
    data = ops.parameter([1, 16], np.float32, name="data")
    a = _named(ops.relu(data), "a")
    b = _named(ops.sigmoid(a), "b")
    c = _named(ops.tanh(a), "c")
    return ov.Model([_named(ops.add(b, c), "d")], [data], "diamond")


def branches():
    """data[1,16] -> a1 (Relu) -> a2 (Tanh); data -> b1 (Sigmoid) -> b2 (Abs); join = concat(a2, b2)."""
    data = ops.parameter([1, 16], np.float32, name="data")
    a2 = _named(ops.tanh(_named(ops.relu(data), "a1")), "a2")
    b2 = _named(ops.abs(_named(ops.sigmoid(data), "b1")), "b2")
    return ov.Model([_named(ops.concat([a2, b2], 1), "join")], [data], "branches")


def chain():
    """data[2,16] -> fc (MatMul) -> relu (Relu)."""
    rng = np.random.default_rng(2)
    data = ops.parameter([2, 16], np.float32, name="data")
    fc = _named(ops.matmul(data, _weights(rng, (16, 16), 16), False, False), "fc")
    return ov.Model([_named(ops.relu(fc), "relu")], [data], "chain")
