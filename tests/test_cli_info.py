"""``ie info``: IR version, ports, op histogram, parameter count, MACs and per-device native support."""

import json

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from helpers import save_ir
from ie_core import available_devices
from test_cli import assert_fails, run_ie


@pytest.fixture(scope="module")
def convnet(tmp_path_factory):
    """Conv 3->4 (3x3, pad 1) + bias, ReLU, flatten, MatMul 256->10: 2672 weights, 6912 + 2560 MACs."""
    rng = np.random.default_rng(0)
    x = ops.parameter([1, 3, 8, 8], np.float32, name="image")
    conv = ops.convolution(x, ops.constant(rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
                           [1, 1], [1, 1], [1, 1], [1, 1])
    h = ops.relu(ops.add(conv, ops.constant(rng.standard_normal((1, 4, 1, 1)).astype(np.float32))))
    flat = ops.reshape(h, ops.constant(np.array([1, 256], np.int64)), False)
    out = ops.matmul(flat, ops.constant(rng.standard_normal((256, 10)).astype(np.float32)), False, False)
    out.set_friendly_name("logits")
    return save_ir(ov.Model([out], [x], "convnet"), tmp_path_factory.mktemp("convnet"))


def test_info_text(convnet):
    xml, _ = convnet
    run = run_ie("info", xml)
    assert run.returncode == 0, run.stderr
    assert "(network 'convnet', IR version 11)" in run.stdout
    assert "  image: [1, 3, 8, 8] FP32" in run.stdout and "  logits: [1, 10] FP32" in run.stdout
    assert "layers: 10, parameters: 2,672, MACs per inference: 9,472" in run.stdout
    assert "REFERENCE: every layer native" in run.stdout


def test_info_json_and_device_support(convnet):
    xml, _ = convnet
    info = json.loads(run_ie("info", xml, "--json").stdout)
    assert info["ir_version"] == "11" and info["parameters"] == 2672 and info["macs"] == 9472
    assert info["op_histogram"] == {"Const": 4, "Parameter": 1, "Convolution": 1, "Add": 1, "ReLU": 1,
                                    "Reshape": 1, "MatMul": 1}
    assert info["inputs"] == {"image": {"shape": [1, 3, 8, 8], "precision": "FP32"}}
    assert set(info["devices"]) == set(available_devices()) - {"HETERO"}
    assert info["devices"]["REFERENCE"] == {"layers": 10, "not_native": {}}
    if "EXAMPLE" in info["devices"]:
        # the example backend runs only ReLU natively (and the Parameter and Consts need no kernel)
        not_native = info["devices"]["EXAMPLE"]["not_native"]
        assert len(not_native) == 4 and not any(name.startswith("Relu") for name in not_native)
        assert set(not_native.values()) == {"no native kernel"}


def test_info_errors(tmp_path):
    assert_fails(run_ie("info", tmp_path / "none.xml"), r"none\.xml doesn't exists")
    assert_fails(run_ie("info"), r"the following arguments are required: MODEL\.xml", code=2)
