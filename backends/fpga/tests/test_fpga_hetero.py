"""FPGA under HETERO:FPGA,CPU: the seed's affinity walkthrough, digits accuracy, whole models.

Skipped when the HETERO device (ie-backend-hetero) is not installed. Error bounds:
every tensor the FPGA stores (its inputs, weights, each layer's output) carries a
relative rounding error of at most u, the format's unit roundoff (2^-6 for FP11,
2^-11 for FP16). The roundings of successive layers are independent, so along a
path of D layers their effects add in quadrature, about u * sqrt(D) in relative L2
for layers that pass relative errors on with a gain near 1; the bound allows a
factor 4 for the layers' gain: rel_L2 <= 4 * u * sqrt(D). The CPU parts are f32.
"""

import numpy as np
import pytest

import models
from device_nets import DIGITS_XML, depth, digits_accuracy, digits_test_set, model_ir
from helpers import assert_close, openvino_infer, rel_l2
from ie_core import IENetwork, IEPlugin, available_devices

pytestmark = pytest.mark.skipif("HETERO" not in available_devices(),
                                reason="the HETERO device (ie-backend-hetero) is not available")

UNIT_ROUNDOFF = {"FP11": 2.0**-6, "FP16": 2.0**-11}
#: layer types of the digits CNN and where the default affinities put them
ON_FPGA = {"Convolution", "Add", "ReLU", "MaxPool", "MatMul"}
ON_CPU = {"Reshape", "SoftMax"}


def bound(fmt, xml):
    return 4 * UNIT_ROUNDOFF[fmt] * np.sqrt(depth(xml))


@pytest.mark.parametrize("fmt", UNIT_ROUNDOFF)
def test_affinity_walkthrough(fmt):
    """The seed's walkthrough on HETERO:FPGA,CPU with the digits CNN."""
    images = digits_test_set()[0][:16]
    expected = openvino_infer(DIGITS_XML, {"data": images}, reshape={"data": list(images.shape)})[0]
    config = {"FPGA_NUMERICS": fmt}
    net = IENetwork.from_ir(model=DIGITS_XML, weights=DIGITS_XML[:-4] + ".bin")
    net.batch_size = len(images)
    assert all(layer.affinity == "" for layer in net.layers.values())  # 1. empty after reading

    plugin = IEPlugin(device="HETERO:FPGA,CPU")
    plugin.set_config({"TARGET_FALLBACK": "HETERO:FPGA,CPU"})
    plugin.set_initial_affinity(net)  # 2. the defaults
    layers = net.layers
    assert {layer.type for layer in layers.values()} >= ON_FPGA | ON_CPU
    for layer in layers.values():
        if layer.type in ON_FPGA | ON_CPU:
            assert layer.affinity == ("FPGA" if layer.type in ON_FPGA else "CPU"), (layer.name, layer.type)
    exec_net = plugin.load(net, config=dict(config, PERF_COUNT="YES"))
    assert_close(exec_net.infer({"data": images})["prob"], expected, tol=bound(fmt, DIGITS_XML))
    ran_on = {pc["exec_type"].split("/")[0] for name, pc in exec_net.requests[0].get_perf_counts().items()
              if name in layers and layers[name].type in ON_FPGA}
    assert ran_on == {"FPGA"}

    for layer in net.layers.values():  # 3. the seed's override: convolutions on the CPU
        if layer.type == "Convolution":
            layer.affinity = "CPU"
    layers = net.layers  # 4. read back
    assert all(layer.affinity == "CPU" for layer in layers.values() if layer.type == "Convolution")
    assert layers["node_relu"].affinity == "FPGA"
    mixed = plugin.load(net, config=config).infer({"data": images})["prob"]
    assert_close(mixed, expected, tol=bound(fmt, DIGITS_XML))

    for layer in layers.values():  # every layer on the CPU: the CPU-only output
        layer.affinity = "CPU"
    assert_close(plugin.load(net, config=config).infer({"data": images})["prob"], expected, tol=1e-5)


def test_digits_accuracy(record_property):
    """FP16 within 1 point of OpenVINO f32; the FP11 figure is recorded (and shown in the README)."""
    reference = digits_accuracy(None)
    fp16 = digits_accuracy("HETERO:FPGA,CPU", {"FPGA_NUMERICS": "FP16"})
    fp11 = digits_accuracy("HETERO:FPGA,CPU", {"FPGA_NUMERICS": "FP11"})
    record_property("digits_accuracy", {"f32": reference, "FP16": fp16, "FP11": fp11})
    print(f"digits accuracy: OpenVINO f32 {reference:.4f}, HETERO:FPGA,CPU FP16 {fp16:.4f}, FP11 {fp11:.4f}")
    assert abs(fp16 - reference) <= 0.01
    assert fp11 > 0.5  # far above chance (0.1): the FP11 network still classifies


@pytest.fixture(scope="module")
def ir(tmp_path_factory):
    return model_ir(tmp_path_factory)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", UNIT_ROUNDOFF)
@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2", "bert_encoder"])
def test_model_error_is_bounded_by_the_format(ir, name, fmt, record_property):
    xml = ir(name)
    inputs = models.make_inputs(name)
    expected = openvino_infer(xml, inputs)[0]
    net = IENetwork(xml)
    out = IEPlugin("HETERO:FPGA,CPU").load(net, config={"FPGA_NUMERICS": fmt}).infer(inputs)[net.outputs[0]]
    error, limit = rel_l2(out, expected), bound(fmt, xml)
    record_property("rel_l2", error)
    print(f"{name} on HETERO:FPGA,CPU {fmt}: relative L2 {error:.3g} (bound {limit:.3g})")
    assert np.isfinite(out).all() and 1e-6 < error <= limit
