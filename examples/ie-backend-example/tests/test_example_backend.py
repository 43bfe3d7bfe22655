"""The EXAMPLE device: discovered through its entry point, listed by `ie devices`, correct alone and under HETERO."""

import json
import subprocess
import sys

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from helpers import assert_close, openvino_infer, save_ir
from ie_core import IENetwork, IEPlugin
from ie_core.plugins import DeviceRegistry

pytest.importorskip("ie_backend_example", reason="pip install examples/ie-backend-example")
from ie_backend_example import _kernels  # noqa: E402


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    """Parameter -> MatMul -> Relu -> MatMul -> Relu -> Softmax."""
    rng = np.random.default_rng(3)
    x = ops.parameter([2, 16], np.float32, name="data")
    h = x
    for i, width in enumerate((32, 10)):
        w = ops.constant(rng.standard_normal((h.get_output_partial_shape(0)[1].get_length(), width)).astype(np.float32))
        h = ops.relu(ops.matmul(h, w, False, False))
        h.set_friendly_name(f"relu{i}")
    out = ops.softmax(h, 1)
    out.set_friendly_name("prob")
    return save_ir(ov.Model([out], [x], "mlp"), tmp_path_factory.mktemp("mlp"))


def test_discovered_through_the_entry_point():
    info = DeviceRegistry().devices()["EXAMPLE"]
    assert info["package"] == "ie-backend-example" and info["api_version"] == "1.0"


def test_listed_by_ie_devices():
    run = subprocess.run([sys.executable, "-m", "ie_core", "devices", "--json"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["devices"]["EXAMPLE"]["package"] == "ie-backend-example"


def test_native_relu_is_max_num_as_the_reference():
    """max(x, 0) with IEEE maxNum, as the core's Relu: NaN gives 0."""
    x = np.array([[-2.5, -0.0, 0.0, 1.5], [np.inf, -np.inf, np.nan, 3e-39]], np.float32)
    np.testing.assert_array_equal(_kernels.relu(x), np.fmax(x, 0))


def test_runs_a_model_through_ieplugin(mlp):
    xml, binf = mlp
    net = IENetwork(xml, binf)
    data = np.random.default_rng(0).standard_normal((2, 16)).astype(np.float32)
    result = IEPlugin("EXAMPLE").load(net).infer({"data": data})
    assert_close(result["prob"], openvino_infer(xml, {"data": data})[0])
    support = IEPlugin("EXAMPLE").query(net)
    assert support["relu0"].native and support["relu0"].exec_type == "example_relu_cpp"
    matmul = next(name for name, layer in net.layers.items() if layer.type == "MatMul")
    assert support[matmul].supported and not support[matmul].native


def test_runs_under_hetero_with_cpu(mlp):
    installed = DeviceRegistry().devices()
    if "HETERO" not in installed or "CPU" not in installed:
        pytest.skip("needs the HETERO and CPU devices (ie-backend-hetero, ie-backend-cpu)")
    xml, binf = mlp
    data = np.random.default_rng(1).standard_normal((2, 16)).astype(np.float32)
    result = IEPlugin("HETERO:EXAMPLE,CPU").load(IENetwork(xml, binf)).infer({"data": data})
    assert_close(result["prob"], openvino_infer(xml, {"data": data})[0])
