"""The FPGA's layer set: what it loads (and how close to OpenVINO f32 it computes) and what it refuses."""

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from helpers import assert_close, openvino_infer, save_ir
from ie_core import IENetwork, IEPlugin, errors

#: unit roundoff of each format: a stored value is within this relative distance of the exact one
UNIT_ROUNDOFF = {"FP11": 2.0**-6, "FP16": 2.0**-11}


def every_layer_model():
    """One network of every layer kind the accelerator runs, 18 layers deep.

    conv + bias -> relu -> maxpool -> depthwise conv -> scale (Multiply) -> BatchNorm -> clamp -> PReLU ->
    LRN, and a 1x1 conv branch; Add of the two; Concat with the branch; AvgPool; global ReduceMean;
    fully connected (MatMul) + bias.
    """
    rng = np.random.default_rng(0)
    const = lambda *shape, scale=0.5: ops.constant((rng.standard_normal(shape) * scale).astype(np.float32))  # noqa: E731
    named = {}

    def name(node, label):
        node.set_friendly_name(label)
        named[label] = node
        return node

    data = ops.parameter([1, 3, 12, 12], np.float32, name="data")
    x = name(ops.convolution(data, const(8, 3, 3, 3), [1, 1], [1, 1], [1, 1], [1, 1]), "conv")
    x = name(ops.add(x, const(1, 8, 1, 1)), "bias")
    x = name(ops.relu(x), "relu")
    x = name(ops.max_pool(x, [2, 2], [1, 1], [0, 0], [0, 0], [2, 2]).output(0).get_node(), "maxpool")
    x = name(ops.group_convolution(x.output(0), const(8, 1, 1, 3, 3), [1, 1], [1, 1], [1, 1], [1, 1]), "depthwise")
    x = name(ops.multiply(x, ops.constant(rng.uniform(0.5, 1.5, (1, 8, 1, 1)).astype(np.float32))), "scale")
    x = name(ops.batch_norm_inference(x, ops.constant(rng.uniform(0.5, 1.5, 8).astype(np.float32)), const(8),
                                      const(8), ops.constant(rng.uniform(0.5, 2, 8).astype(np.float32)), 1e-5),
             "batchnorm")
    x = name(ops.clamp(x, -2.0, 4.0), "clamp")
    x = name(ops.prelu(x, ops.constant(np.full(8, 0.25, np.float32))), "prelu")
    x = name(ops.lrn(x, ops.constant(np.array([1], np.int64)), 1e-4, 0.75, 1.0, 3), "lrn")
    branch = name(ops.convolution(named["maxpool"].output(0), const(8, 8, 1, 1), [1, 1], [0, 0], [0, 0], [1, 1]),
                  "branch")
    x = name(ops.add(x, branch), "residual")
    x = name(ops.concat([x, branch], 1), "concat")
    x = name(ops.avg_pool(x, [2, 2], [0, 0], [0, 0], [2, 2], True), "avgpool")
    x = name(ops.reduce_mean(x, ops.constant(np.array([2, 3], np.int64)), False), "gap")
    x = name(ops.matmul(x, const(16, 5), False, False), "fc")
    x = name(ops.add(x, const(5)), "fc/bias")
    return ov.Model([x], [data], "every_fpga_layer"), sorted(named)


@pytest.mark.parametrize("fmt", UNIT_ROUNDOFF)
def test_every_layer_of_the_set_loads_runs_natively_and_close_to_f32(tmp_path, fmt):
    """Bound: each of the 18 stored layer outputs (and the input, the weights) carries a relative rounding
    error up to u; independent roundings add in quadrature along the path, so the relative L2 error stays
    below a few u * sqrt(depth) (factor 4 for the gain of the layers)."""
    model, names = every_layer_model()
    xml, binf = save_ir(model, tmp_path)
    net = IENetwork(xml, binf)
    plugin = IEPlugin("FPGA")
    support = plugin.query(net, {"FPGA_NUMERICS": fmt})
    assert all(support[n].supported and support[n].native and support[n].precision == fmt for n in names)
    x = np.random.default_rng(1).standard_normal((1, 3, 12, 12)).astype(np.float32)
    out = plugin.load(net, config={"FPGA_NUMERICS": fmt}).infer({"data": x})["fc/bias"]
    assert_close(out, openvino_infer(xml, {"data": x})[0], tol=4 * UNIT_ROUNDOFF[fmt] * np.sqrt(len(names) + 1))


def refused_model():
    """Layers outside the set (SoftMax, Sigmoid, Reshape) and set members in shapes the accelerator does not
    take: an Add by a constant that is not per-channel, a MatMul by a non-constant, a ReduceMean over channels."""
    rng = np.random.default_rng(2)
    data = ops.parameter([1, 4, 4, 4], np.float32, name="data")
    relu = ops.relu(data)
    relu.set_friendly_name("relu")
    spatial_add = ops.add(relu, ops.constant(rng.standard_normal((1, 1, 4, 4)).astype(np.float32)))
    spatial_add.set_friendly_name("spatial_add")
    sigmoid = ops.sigmoid(spatial_add)
    sigmoid.set_friendly_name("sigmoid")
    channel_mean = ops.reduce_mean(sigmoid, ops.constant(np.array([1], np.int64)), False)
    channel_mean.set_friendly_name("channel_mean")
    flat = ops.reshape(channel_mean, ops.constant(np.array([4, 4], np.int64)), False)
    flat.set_friendly_name("flat")
    square = ops.matmul(flat, flat, False, True)
    square.set_friendly_name("square")
    prob = ops.softmax(square, 1)
    prob.set_friendly_name("prob")
    return ov.Model([prob], [data], "refused")


def test_layers_outside_the_set_are_refused_at_load_and_reported_by_query(tmp_path):
    xml, binf = save_ir(refused_model(), tmp_path)
    net = IENetwork(xml, binf)
    plugin = IEPlugin("FPGA")
    with pytest.raises(errors.NotSupportedError) as info:
        plugin.load(net)
    message = str(info.value)
    refused = ("spatial_add", "sigmoid", "channel_mean", "flat", "square")
    assert all(f"'{name}'" in message for name in refused) and "and 1 more" in message
    assert "HETERO:FPGA,CPU" in message and "per-channel" in message
    support = plugin.query(net)
    for name in refused + ("prob",):
        assert not support[name].supported and not support[name].native and support[name].reason, name
    assert support["relu"].supported and support["relu"].native and support["relu"].precision == "FP11"
    assert plugin.get_supported_layers(net) == set(net.layers) - set(refused) - {"prob"}
