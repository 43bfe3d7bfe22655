"""Every member of the seed API (shared/seed/inference_engine_python_api.md), checked against OpenVINO."""

import gc
import textwrap
import threading
import time

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

import ie_core
from helpers import DEVICES, assert_close, openvino_infer, save_ir
from ie_core import ExecutableNetwork, IENetLayer, IENetwork, IEPlugin, InferRequest, StatusCode


def mlp_model(batch=1, width=64, depth=3):
    """data[batch, width] -> (MatMul + Add + Relu) x depth -> Softmax, named layers."""
    rng = np.random.default_rng(0)
    data = ops.parameter([batch, width], np.float32, name="data")
    x = data
    for i in range(depth):
        w = ops.constant((rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32))
        x = ops.matmul(x, w, False, False)
        x.set_friendly_name(f"fc{i}")
        x = ops.add(x, ops.constant(rng.standard_normal((1, width)).astype(np.float32)))
        x.set_friendly_name(f"fc{i}/bias")
        x = ops.relu(x)
        x.set_friendly_name(f"relu{i}")
    prob = ops.softmax(x, 1)
    prob.set_friendly_name("prob")
    return ov.Model([prob], [data], "mlp")


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    xml, binf = save_ir(mlp_model(), tmp_path_factory.mktemp("mlp"))
    return xml, binf


@pytest.fixture
def image():
    return np.random.default_rng(1).standard_normal((1, 64)).astype(np.float32)


def test_network_from_ir_and_constructor(mlp):
    xml, binf = mlp
    for net in (IENetwork.from_ir(model=xml, weights=binf), IENetwork(model=xml, weights=binf), IENetwork(xml)):
        assert isinstance(net, IENetwork)
        assert net.name == "mlp"
        assert net.inputs == {"data": [1, 64]}
        n, c = net.inputs["data"]
        assert (n, c) == (1, 64) and net.inputs["data"].shape == [1, 64]
        assert net.inputs["data"].precision == "FP32" and net.inputs["data"].layout == "NC"
        assert net.outputs == ["prob"]
        assert net.batch_size == 1


def test_layers_in_topological_order(mlp):
    xml, binf = mlp
    net = IENetwork.from_ir(model=xml, weights=binf)
    layers = net.layers
    names = list(layers)
    assert names.index("data") < names.index("fc0") < names.index("relu0") < names.index("fc1") < names.index("prob")
    assert all(isinstance(layer, IENetLayer) for layer in layers.values())
    fc0 = layers["fc0"]
    assert (fc0.name, fc0.type, fc0.precision) == ("fc0", "MatMul", "FP32")
    assert fc0.weights["weights"].shape == (64, 64)
    assert layers["fc0/bias"].weights["port1"].shape == (1, 64)
    assert fc0.params == {"transpose_a": "false", "transpose_b": "false"}
    const = next(layer for layer in layers.values() if layer.type == "Const")
    assert set(const.weights) == {"custom"}


def test_layer_affinity_and_params_setters(mlp):
    xml, binf = mlp
    net = IENetwork.from_ir(model=xml, weights=binf)
    layer = net.layers["fc0"]
    assert layer.affinity == ""
    layer.affinity = "CPU"
    assert net.layers["fc0"].affinity == "CPU"
    layer.params = {"transpose_a": "false", "transpose_b": "true"}
    assert net.layers["fc0"].params["transpose_b"] == "true"


@pytest.mark.parametrize("device", DEVICES)
def test_infer_matches_openvino(mlp, image, device):
    xml, binf = mlp
    net = IENetwork.from_ir(model=xml, weights=binf)
    plugin = IEPlugin(device=device)
    assert plugin.device == device
    assert isinstance(plugin.version, str) and plugin.version.count(".") >= 2
    exec_net = plugin.load(network=net, num_requests=2)
    assert isinstance(exec_net, ExecutableNetwork)
    res = exec_net.infer({"data": image})
    assert list(res) == ["prob"]
    assert_close(res["prob"], openvino_infer(xml, {"data": image})[0])


def test_infer_results_are_not_overwritten(mlp, image):
    xml, binf = mlp
    exec_net = IEPlugin("REFERENCE").load(IENetwork(xml, binf))
    first = exec_net.infer({"data": image})
    second = exec_net.infer({"data": -image})
    assert not np.allclose(first["prob"], second["prob"])
    assert_close(first["prob"], exec_net.infer({"data": image})["prob"], tol=0)


def test_requests_inputs_are_persistent_and_writable(mlp, image):
    xml, binf = mlp
    exec_net = IEPlugin("REFERENCE").load(network=IENetwork(xml, binf), num_requests=3)
    assert isinstance(exec_net.requests, tuple) and len(exec_net.requests) == 3
    request = exec_net.requests[0]
    assert isinstance(request, InferRequest)
    request.inputs["data"][:] = image
    request.infer()
    assert_close(request.outputs["prob"], openvino_infer(xml, {"data": image})[0])
    exec_net.requests[1].infer({"data": image})
    assert_close(exec_net.requests[1].outputs["prob"], request.outputs["prob"], tol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_batch_size_change(tmp_path, device):
    xml, binf = save_ir(mlp_model(), tmp_path)
    net = IENetwork(xml, binf)
    net.batch_size = 4
    assert net.batch_size == 4 and net.inputs["data"] == [4, 64]
    batch = np.random.default_rng(2).standard_normal((4, 64)).astype(np.float32)
    res = IEPlugin(device).load(net).infer({"data": batch})
    expected = openvino_infer(xml, {"data": batch}, reshape={"data": [4, 64]})[0]
    assert res["prob"].shape == (4, 64)
    assert_close(res["prob"], expected)


@pytest.mark.parametrize("device", DEVICES)
def test_add_outputs(mlp, image, device):
    xml, binf = mlp
    net = IENetwork(xml, binf)
    net.add_outputs("relu1")
    net.add_outputs(["fc0", "relu0"])
    assert net.outputs == ["prob", "relu1", "fc0", "relu0"]
    res = IEPlugin(device).load(net).infer({"data": image})
    model = ov.Core().read_model(xml)
    by_name = {op.get_friendly_name(): op for op in model.get_ops()}
    model.add_outputs([by_name[name].output(0) for name in ("relu1", "fc0", "relu0")])
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    ov_res = compiled([image])
    for i, name in enumerate(net.outputs):
        assert_close(res[name], ov_res[compiled.outputs[i]], what=name)


def slow_model(size=1024, depth=12):
    """A chain of large MatMuls, so that an inference takes long enough to observe while it runs."""
    rng = np.random.default_rng(3)
    data = ops.parameter([size, size], np.float32, name="data")
    x = data
    for _ in range(depth):
        w = ops.constant((rng.standard_normal((size, size)) / np.sqrt(size)).astype(np.float32))
        x = ops.matmul(x, w, False, False)
    return ov.Model([x], [data], "slow")


@pytest.mark.parametrize("device", DEVICES)
def test_two_async_requests_and_wait_codes(tmp_path, device):
    xml, binf = save_ir(slow_model(), tmp_path)
    exec_net = IEPlugin(device).load(IENetwork(xml, binf), num_requests=2)
    a = np.random.default_rng(4).standard_normal((1024, 1024)).astype(np.float32)
    b = -a
    assert exec_net.requests[0].wait(0) == StatusCode.INFER_NOT_STARTED == -11
    h0 = exec_net.start_async(request_id=0, inputs={"data": a})
    h1 = exec_net.start_async(request_id=1, inputs={"data": b})
    assert h0 is exec_net.requests[0] and h1 is exec_net.requests[1]
    # Both are in flight at once: neither has finished yet.
    assert (h0.wait(0), h1.wait(0)) == (StatusCode.RESULT_NOT_READY, StatusCode.RESULT_NOT_READY) == (-9, -9)
    assert h1.wait(1) in (StatusCode.RESULT_NOT_READY, StatusCode.OK)
    assert h0.wait() == 0 and h1.wait(-1) == 0 and h0.wait(0) == 0
    expected = openvino_infer(xml, {"data": a})[0]
    assert_close(h0.outputs[net_output(exec_net)], expected, tol=1e-5)
    assert_close(h1.outputs[net_output(exec_net)], -expected, tol=1e-5)


def net_output(exec_net):
    return next(iter(exec_net.requests[0].outputs))


def test_async_worker_threads_end_with_their_requests(mlp, image):
    xml, binf = mlp
    before = set(threading.enumerate())
    exec_net = IEPlugin("REFERENCE").load(IENetwork(xml, binf), num_requests=3)
    for i in range(3):
        assert exec_net.start_async(i, {"data": image}).wait() == StatusCode.OK
    workers = set(threading.enumerate()) - before
    assert len(workers) >= 3
    del exec_net
    gc.collect()
    deadline = time.monotonic() + 10
    while any(t.is_alive() for t in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.is_alive() for t in workers)


def test_async_infer_and_wait(mlp, image):
    xml, binf = mlp
    exec_net = IEPlugin("REFERENCE").load(network=IENetwork(xml, binf), num_requests=2)
    exec_net.requests[1].async_infer({"data": image})
    assert exec_net.requests[1].wait() == StatusCode.OK
    assert_close(exec_net.requests[1].outputs["prob"], openvino_infer(xml, {"data": image})[0])
    assert exec_net.requests[1].latency > 0


@pytest.mark.parametrize("device", DEVICES)
def test_perf_counts(mlp, image, device):
    xml, binf = mlp
    net = IENetwork(xml, binf)
    plugin = IEPlugin(device)
    plugin.set_config({"PERF_COUNT": "YES"})
    exec_net = plugin.load(net)
    exec_net.requests[0].infer({"data": image})
    counts = exec_net.requests[0].get_perf_counts()
    assert set(counts["fc0"]) == {"exec_type", "real_time", "cpu_time", "status", "layer_type"}
    executed = [c for c in counts.values() if c["status"] == "EXECUTED"]
    assert {"fc0", "prob"} <= {n for n, c in counts.items() if c["status"] == "EXECUTED"}
    assert counts["relu1"]["status"] in ("EXECUTED", "OPTIMIZED_OUT")  # a device may fuse it into fc1
    assert counts["fc0"]["layer_type"] == "MatMul"
    assert sum(c["real_time"] for c in executed) > 0
    assert all(isinstance(c["real_time"], int) and isinstance(c["cpu_time"], int) for c in counts.values())
    # the request's own work: the inputs to the Parameter layer, the outputs to the Result layer
    assert counts["data"]["status"] == "EXECUTED" and counts["data"]["exec_type"] == "input"
    results = [c for c in counts.values() if c["layer_type"] == "Result"]
    assert len(results) == 1 and results[0]["exec_type"] == "output"
    # the executed layers account for the request's latency (whole µs, rounded per entry)
    latency_us = exec_net.requests[0].latency * 1000
    total = sum(c["real_time"] for c in counts.values() if c["status"] == "EXECUTED")
    assert abs(total - latency_us) <= max(0.1 * latency_us, 2), (total, latency_us)

    quiet = IEPlugin(device).load(net)
    quiet.requests[0].infer({"data": image})
    assert all(c["real_time"] == 0 for c in quiet.requests[0].get_perf_counts().values())


def test_get_supported_layers(mlp):
    xml, binf = mlp
    net = IENetwork(xml, binf)
    for device in DEVICES:
        assert IEPlugin(device).get_supported_layers(net) == set(net.layers)


def test_module_level_api():
    assert ie_core.get_version() == ie_core.__version__
    assert {"CPU", "GPU", "FPGA", "MYRIAD", "HETERO"} <= set(ie_core.known_plugins)
    devices = ie_core.available_devices()
    assert "REFERENCE" in devices and all(isinstance(v, str) for v in devices.values())


PLUGIN_SOURCE = textwrap.dedent(
    '''
    """A toy device: the reference kernels, under another name."""
    from ie_core.backend import Backend, ExecutorModel, GraphExecutor, hookimpl, reference_kernel


    class ToyBackend(Backend):
        device_name = "TOYDEV"
        version = "9.8.7"
        description = "toy device from a plugin directory"

        def compile(self, graph, config, num_requests):
            return ExecutorModel(GraphExecutor(graph, reference_kernel), config)


    @hookimpl
    def ie_core_backends():
        return [ToyBackend]
    '''
)


def test_plugin_dirs(tmp_path, mlp, image):
    (tmp_path / "toy_device.py").write_text(PLUGIN_SOURCE)
    with pytest.raises(ie_core.errors.DeviceNotFoundError):
        IEPlugin("TOYDEV")
    plugin = IEPlugin("TOYDEV", plugin_dirs=[str(tmp_path)])
    assert plugin.version == "9.8.7"
    xml, binf = mlp
    res = plugin.load(IENetwork(xml, binf)).infer({"data": image})
    assert_close(res["prob"], openvino_infer(xml, {"data": image})[0])


FAILING_PLUGIN = textwrap.dedent(
    '''
    from ie_core.backend import Backend, BackendRequest, CompiledModel, hookimpl
    from ie_core.errors import InferenceError


    class FailingRequest(BackendRequest):
        def infer(self, inputs):
            raise InferenceError("kernel exploded")


    class FailingModel(CompiledModel):
        def create_request(self):
            return FailingRequest()


    class FailingBackend(Backend):
        device_name = "FAILDEV"
        version = "0.0.1"

        def compile(self, graph, config, num_requests):
            return FailingModel()


    @hookimpl
    def ie_core_backends():
        return [FailingBackend]
    '''
)


def test_failed_inference_status(tmp_path, mlp, image):
    (tmp_path / "failing_device.py").write_text(FAILING_PLUGIN)
    xml, binf = mlp
    exec_net = IEPlugin("FAILDEV", plugin_dirs=str(tmp_path)).load(IENetwork(xml, binf))
    request = exec_net.start_async(0, {"data": image})
    assert request.wait() == StatusCode.GENERAL_ERROR == -1
    assert "kernel exploded" in str(request.error)
    with pytest.raises(ie_core.errors.InferenceError, match="kernel exploded"):
        exec_net.infer({"data": image})
