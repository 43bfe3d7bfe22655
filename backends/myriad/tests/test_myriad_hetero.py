"""MYRIAD under HETERO:MYRIAD,CPU: the seed's affinity walkthrough on the digits CNN.

Skipped when the HETERO device (ie-backend-hetero) is not installed. Error bound
(see test_myriad_models): rel_L2 <= 4 * u * sqrt(D), u = 2^-11 (binary16's unit
roundoff), D the number of layers on the network's longest path.
"""

import numpy as np
import pytest

from helpers import assert_close, openvino_infer
from device_nets import DIGITS_XML, depth, digits_test_set
from ie_core import IENetwork, IEPlugin, available_devices

pytestmark = pytest.mark.skipif("HETERO" not in available_devices(),
                                reason="the HETERO device (ie-backend-hetero) is not available")

FP16_U = 2.0**-11


def test_affinity_walkthrough():
    images = digits_test_set()[0][:16]
    expected = openvino_infer(DIGITS_XML, {"data": images}, reshape={"data": list(images.shape)})[0]
    tol = 4 * FP16_U * np.sqrt(depth(DIGITS_XML))
    net = IENetwork.from_ir(model=DIGITS_XML, weights=DIGITS_XML[:-4] + ".bin")
    net.batch_size = len(images)
    assert all(layer.affinity == "" for layer in net.layers.values())  # 1. empty after reading

    plugin = IEPlugin(device="HETERO:MYRIAD,CPU")
    plugin.set_config({"TARGET_FALLBACK": "HETERO:MYRIAD,CPU"})
    plugin.set_initial_affinity(net)  # 2. the defaults: the stick runs every layer of this CNN
    layers = net.layers
    computing = [layer for layer in layers.values() if layer.type not in ("Parameter", "Const")]
    assert computing and all(layer.affinity == "MYRIAD" for layer in computing)
    exec_net = plugin.load(net, config={"PERF_COUNT": "YES"})
    assert_close(exec_net.infer({"data": images})["prob"], expected, tol=tol)
    counts = exec_net.requests[0].get_perf_counts()
    assert {counts[layer.name]["exec_type"].split("/")[0] for layer in computing} == {"MYRIAD"}

    for layer in net.layers.values():  # 3. the seed's override: convolutions on the CPU
        if layer.type == "Convolution":
            layer.affinity = "CPU"
    layers = net.layers  # 4. read back
    convolutions = [layer for layer in layers.values() if layer.type == "Convolution"]
    assert convolutions and all(layer.affinity == "CPU" for layer in convolutions)
    assert_close(plugin.load(net).infer({"data": images})["prob"], expected, tol=tol)

    for layer in layers.values():  # every layer on the CPU: the CPU-only output
        layer.affinity = "CPU"
    assert_close(plugin.load(net).infer({"data": images})["prob"], expected, tol=1e-5)
