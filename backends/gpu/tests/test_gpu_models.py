"""The test models (tests/models.py) and the bundled digits CNN on the GPU device against OpenVINO f32."""

from pathlib import Path

import models
import numpy as np
import pytest
from gpu_helpers import TOL, TOL_F16_MODEL, gpu_infer

from helpers import assert_close, openvino_infer, rel_l2
from ie_core import IENetwork, IEPlugin

DIGITS_XML = str(Path(__file__).resolve().parents[3] / "ie_core" / "data" / "digits_cnn.xml")


@pytest.fixture(scope="session")
def ir(tmp_path_factory):
    """ir(name) -> {"fp32": xml, "fp16": xml}, building the model's IR on first use (shared cache)."""
    directory = models.model_dir(lambda: tmp_path_factory.mktemp("models"))
    return lambda name: models.build(name, directory)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("name", models.MODELS)
def test_model_matches_openvino(ir, name, precision):
    xml = ir(name)[precision]
    inputs = models.make_inputs(name)
    expected = openvino_infer(xml, inputs)
    actual, _ = gpu_infer(xml, inputs)
    assert len(actual) == len(expected)
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert a.dtype == np.float32
        assert_close(a, e, TOL, what=f"{name} {precision} on GPU, output {i}")


def test_digits_model_matches_openvino():
    data = np.random.default_rng(3).standard_normal((1, 1, 8, 8)).astype(np.float32)
    (actual,), _ = gpu_infer(DIGITS_XML, {"data": data})
    assert_close(actual, openvino_infer(DIGITS_XML, {"data": data})[0], TOL)


@pytest.mark.parametrize("name", ["mobilenet_v2", "bert_encoder"])
def test_f16_hint(ir, name):
    """INFERENCE_PRECISION_HINT=f16 stores tensors as half: close to f32, and different from it."""
    xml = ir(name)["fp32"]
    inputs = models.make_inputs(name)
    (expected,) = openvino_infer(xml, inputs)
    (actual,), exec_net = gpu_infer(xml, inputs, {"INFERENCE_PRECISION_HINT": "f16"})
    assert actual.dtype == np.float32
    assert_close(actual, expected, TOL_F16_MODEL, what=f"{name} with f16 storage")
    print(f"{name} f16 storage: relative L2 error {rel_l2(actual, expected):.3g}")
    assert rel_l2(actual, expected) > 1e-6
    assert exec_net.get_config("INFERENCE_PRECISION_HINT") == "f16"


def test_batch_size(ir):
    xml = ir("small_cnn")["fp32"]
    net = IENetwork(xml)
    net.batch_size = 4
    inputs = models.make_inputs("small_cnn", batch=4)
    expected = openvino_infer(xml, inputs, reshape={"data": [4, 1, 8, 8]})[0]
    result = IEPlugin("GPU").load(net).infer(inputs)[net.outputs[0]]
    assert_close(result, expected, TOL)


def test_two_requests_in_flight_give_their_own_results(ir):
    xml = ir("mobilenet_v2")["fp32"]
    net = IENetwork(xml)
    exec_net = IEPlugin("GPU").load(net, num_requests=2)
    inputs = [models.make_inputs("mobilenet_v2", seed=s) for s in (0, 1)]
    requests = [exec_net.start_async(i, inputs[i]) for i in range(2)]
    assert [r.wait(-1) for r in requests] == [0, 0]
    out = net.outputs[0]
    for request, data in zip(requests, inputs):
        assert_close(request.outputs[out], openvino_infer(xml, data)[0], TOL)
    assert rel_l2(requests[0].outputs[out], requests[1].outputs[out]) > 0.05


def test_perf_counts_name_the_kernels(ir):
    xml = ir("resnet50")["fp32"]
    net = IENetwork(xml)
    exec_net = IEPlugin("GPU").load(net, config={"PERF_COUNT": "YES"})
    exec_net.infer(models.make_inputs("resnet50"))
    counts = exec_net.requests[0].get_perf_counts()
    types = {name: layer.type for name, layer in net.layers.items()}
    executed = {name: pc for name, pc in counts.items() if pc["status"] == "EXECUTED" and pc["layer_type"] not in
                ("Parameter", "Result")}
    assert {types[name] for name in executed} == {"Convolution", "MaxPool", "ReduceMean", "MatMul"}
    assert {pc["exec_type"] for pc in executed.values()} == {"conv_gemm", "conv_gemm_1x1", "maxpool", "reduce_mean",
                                                             "matmul_gemv"}
    assert all(pc["real_time"] > 0 for pc in executed.values())
    # biases, residual adds and ReLUs run inside the convolutions
    assert {counts[name]["status"] for name, t in types.items() if t in ("Add", "ReLU")} == {"OPTIMIZED_OUT"}
