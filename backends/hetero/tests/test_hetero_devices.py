"""HETERO with the BOX test device: tensors moved between device memories by the allocators' hooks,
precision converted at the boundary, two requests pipelined across devices; and its imports."""

import ast
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import ie_backend_hetero
from box_device import PLUGIN_DIR
from helpers import assert_close, openvino_infer, save_ir
from hetero_models import chain, mlp
from ie_core import IENetwork, IEPlugin, StatusCode


@pytest.fixture(scope="module")
def mlp_ir(tmp_path_factory):
    return save_ir(mlp(), tmp_path_factory.mktemp("mlp"))


@pytest.fixture
def vector():
    return np.random.default_rng(11).standard_normal((1, 32)).astype(np.float32)


def test_tensors_cross_into_and_out_of_device_memory(mlp_ir, vector, box_trace):
    xml, binf = mlp_ir
    exec_net = IEPlugin("HETERO:BOX,REFERENCE", plugin_dirs=PLUGIN_DIR).load(IENetwork(xml, binf))
    res = exec_net.infer({"data": vector})
    assert_close(res["prob"], openvino_infer(xml, {"data": vector})[0])
    # data is copied into BOX memory, relu2 out of it for REFERENCE's Softmax
    assert box_trace.counts == {"copyin": 1, "copyout": 1, "transfer": 0}


def test_device_to_device_transfer(mlp_ir, vector, box_trace):
    xml, binf = mlp_ir
    net = IENetwork(xml, binf)
    for name in ("fc1", "fc1/bias", "relu1", "fc2", "fc2/bias", "relu2"):
        net.layers[name].affinity = "BOX.1"
    exec_net = IEPlugin("HETERO:BOX.0,BOX.1,REFERENCE", plugin_dirs=PLUGIN_DIR).load(net, num_requests=2)
    expected = openvino_infer(xml, {"data": vector})[0]
    assert_close(exec_net.infer({"data": vector})["prob"], expected)
    assert box_trace.counts == {"copyin": 1, "copyout": 1, "transfer": 1}  # relu0: BOX.0 -> BOX.1 directly
    request = exec_net.start_async(1, {"data": vector})
    assert request.wait() == StatusCode.OK
    assert_close(request.outputs["prob"], expected)
    assert box_trace.counts == {"copyin": 2, "copyout": 2, "transfer": 2}


def test_precision_converted_at_the_boundary(tmp_path, box_trace):
    xml, binf = save_ir(mlp(extra_outputs=("relu2",)), tmp_path)
    plugin = IEPlugin("HETERO:BOX,REFERENCE", plugin_dirs=PLUGIN_DIR)
    exec_net = plugin.load(IENetwork(xml, binf), config={"BOX_OUTPUT_PRECISION": "FP16"})
    data = np.random.default_rng(12).standard_normal((1, 32)).astype(np.float32)
    res = exec_net.infer({"data": data})
    expected = openvino_infer(xml, {"data": data})
    # BOX hands relu2 over in FP16: the network output and REFERENCE's input are f32 holding FP16 values
    assert res["relu2"].dtype == np.float32
    np.testing.assert_array_equal(res["relu2"], res["relu2"].astype(np.float16).astype(np.float32))
    assert_close(res["relu2"], expected[1], tol=1e-3)
    assert_close(res["prob"], expected[0], tol=1e-3)


def test_requests_pipeline_across_devices(tmp_path, box_trace):
    """Request 1's second stage (on BOX.1) waits until request 2's first stage (on BOX.0) has run:
    had the stages of the two requests run one request after the other, the wait would time out."""
    xml, binf = save_ir(chain(), tmp_path)
    net = IENetwork(xml, binf)
    net.layers["fc"].affinity = "BOX.0"
    net.layers["relu"].affinity = "BOX.1"
    exec_net = IEPlugin("HETERO:BOX.0,BOX.1", plugin_dirs=PLUGIN_DIR).load(net, num_requests=2)
    inputs = [np.random.default_rng(seed).standard_normal((2, 16)).astype(np.float32) for seed in (13, 14)]
    expected = [openvino_infer(xml, {"data": x})[0] for x in inputs]

    threads = []
    box_trace.kernel_hook = lambda device, layer: threads.append(threading.current_thread().name)
    assert_close(exec_net.infer({"data": inputs[0]})["relu"], expected[0])
    assert threads == [threading.current_thread().name] * 2  # synchronous: every stage on the calling thread

    calls, waited = [], []
    second_fc_ran = threading.Event()

    def hook(device, layer):
        calls.append((device, layer, threading.current_thread().name))
        if layer == "fc" and sum(1 for call in calls if call[1] == "fc") == 2:
            second_fc_ran.set()
        if layer == "relu" and not waited:  # request 1's second stage
            waited.append(second_fc_ran.wait(20))

    box_trace.kernel_hook = hook
    first = exec_net.start_async(0, {"data": inputs[0]})
    second = exec_net.start_async(1, {"data": inputs[1]})
    assert first.wait(60000) == StatusCode.OK and second.wait(60000) == StatusCode.OK
    assert waited == [True]
    for request, value in zip((first, second), expected):
        assert_close(request.outputs["relu"], value)
    assert sorted(calls) == [("BOX.0", "fc", "BOX.0-queue-0")] * 2 + [("BOX.1", "relu", "BOX.1-queue-0")] * 2


def test_release_cancels_queued_inferences(tmp_path, box_trace):
    xml, binf = save_ir(chain(), tmp_path)
    exec_net = IEPlugin("HETERO:BOX", plugin_dirs=PLUGIN_DIR).load(IENetwork(xml, binf), num_requests=2)
    release, started = threading.Event(), threading.Event()
    box_trace.kernel_hook = lambda device, layer: layer == "fc" and (started.set(), release.wait(20))
    data = np.zeros((2, 16), np.float32)
    first = exec_net.start_async(0, {"data": data})
    assert started.wait(20)
    second = exec_net.start_async(1, {"data": data})  # queued behind the first on BOX's queue
    exec_net._compiled.release()
    release.set()
    assert first.wait(20000) == StatusCode.OK
    assert second.wait(20000) == StatusCode.GENERAL_ERROR and "released" in str(second.error)


def test_hetero_imports_only_the_backend_api():
    """The package reaches the core through ie_core.backend only and never imports another backend."""
    allowed_stdlib = set(sys.stdlib_module_names)
    for path in Path(ie_backend_hetero.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module]
            else:
                continue
            for module in modules:
                assert module == "ie_core.backend" or module.split(".")[0] in allowed_stdlib, (path.name, module)
