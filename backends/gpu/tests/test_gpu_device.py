"""The GPU device itself: device selection, configuration, query/compile agreement and refusals,
tensors in device memory, the kernel cache, HETERO:GPU,CPU."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import openvino as ov
import openvino.opset11 as ov11
import openvino.opset13 as ops
import pytest
from gpu_helpers import TOL, const, rand

import ie_backend_gpu
from helpers import assert_close, openvino_infer, save_ir
from ie_core import IECore, IENetwork, IEPlugin, available_devices
from ie_core.backend import Tensor, to_allocator, to_host
from ie_core.errors import ConfigError, DeviceNotFoundError, NotSupportedError


def _model(tmp_path, with_topk=False, name="model"):
    """conv -> bias -> relu -> [TopK over channels (no GPU kernel)] -> Add; input "data" (1, 4, 6, 6)."""
    data = ops.parameter([1, 4, 6, 6], np.float32, name="data")
    y = ops.relu(ops.add(ops.convolution(data, const(rand(8, 4, 3, 3)), [1, 1], [1, 1], [1, 1], [1, 1]),
                         const(rand(1, 8, 1, 1))))
    if with_topk:
        y = ov11.topk(y, const(3, np.int64), 1, "max", "value").output(0)
    out = ops.add(y, const(rand(1, 1, 6, 6)))
    return save_ir(ov.Model([out], [data]), tmp_path, name)[0]


INPUT = {"data": rand(1, 4, 6, 6)}


# ---------------------------------------------------------------------------------------------- devices


def test_gpu_names_an_opencl_device():
    plugin = IEPlugin("GPU")
    assert "GPU" in available_devices()
    assert plugin.get_metric("AVAILABLE_DEVICES") == [str(i) for i in range(len(ie_backend_gpu.opencl_devices()))]
    assert plugin.get_metric("FULL_DEVICE_NAME") == IEPlugin("GPU.0").get_metric("FULL_DEVICE_NAME")
    assert "DEVICE_MEMORY" in plugin.get_metric("CAPABILITIES")


def test_a_missing_device_index_lists_the_devices():
    count = len(ie_backend_gpu.opencl_devices())
    with pytest.raises(DeviceNotFoundError, match=f"GPU.{count}: there are {count} OpenCL device"):
        IEPlugin(f"GPU.{count}")


def test_without_a_gpu_available_devices_leaves_gpu_out(monkeypatch):
    monkeypatch.delenv(ie_backend_gpu.ALLOW_CPU_ENV, raising=False)
    if ie_backend_gpu.opencl_devices():
        pytest.skip("this machine has an OpenCL GPU")
    devices = IECore().available_devices
    assert "REFERENCE" in devices and not any(d.startswith("GPU") for d in devices)


def test_without_a_gpu_the_error_lists_the_opencl_platforms(monkeypatch):
    monkeypatch.delenv(ie_backend_gpu.ALLOW_CPU_ENV, raising=False)
    if ie_backend_gpu.opencl_devices():
        pytest.skip("this machine has an OpenCL GPU")
    with pytest.raises(DeviceNotFoundError, match="no OpenCL GPU device found.*platforms: .*IE_CORE_GPU_ALLOW_CPU=1"):
        IEPlugin("GPU")


def test_configuration_keys():
    plugin = IEPlugin("GPU")
    assert plugin.get_config("INFERENCE_PRECISION_HINT") == "f32"
    assert plugin.get_config("CL_CACHE_DIR").endswith(os.path.join("ie-core", "gpu"))
    with pytest.raises(ConfigError, match="INFERENCE_PRECISION_HINT"):
        plugin.set_config({"INFERENCE_PRECISION_HINT": "bf16"})
    with pytest.raises(ConfigError, match="NO_SUCH_KEY"):
        plugin.set_config({"NO_SUCH_KEY": "1"})


# ---------------------------------------------------------------------------------------------- query / compile


def test_query_agrees_with_the_compiled_network(tmp_path):
    net = IENetwork(_model(tmp_path))
    plugin = IEPlugin("GPU")
    support = plugin.query(net)
    assert set(support) == set(net.layers) and all(s.supported and s.native for s in support.values())
    exec_net = plugin.load(net, config={"PERF_COUNT": "YES"})
    exec_net.infer(INPUT)
    counts = exec_net.requests[0].get_perf_counts()
    for name, answer in support.items():
        if net.layers[name].type not in ("Parameter", "Const"):
            assert counts[name]["exec_type"] == answer.exec_type
            assert (counts[name]["status"] == "OPTIMIZED_OUT") == (answer.fused_into is not None)


def test_a_layer_without_a_kernel_is_refused(tmp_path):
    net = IENetwork(_model(tmp_path, with_topk=True))
    topk = next(name for name, layer in net.layers.items() if layer.type == "TopK")
    support = IEPlugin("GPU").query(net)
    assert not support[topk].supported and not support[topk].native
    assert "TopK" in support[topk].reason
    assert all(s.supported for name, s in support.items() if name != topk)
    assert IEPlugin("GPU").get_supported_layers(net) == set(net.layers) - {topk}
    with pytest.raises(NotSupportedError, match=f"'{topk}'.*HETERO:GPU,CPU"):
        IEPlugin("GPU").load(net)


def test_hetero_runs_the_refused_layer_on_cpu(tmp_path):
    if not {"HETERO", "CPU"} <= set(available_devices()):
        pytest.skip("HETERO:GPU,CPU needs ie-backend-hetero and ie-backend-cpu")
    xml = _model(tmp_path, with_topk=True)
    net = IENetwork(xml)
    result = IEPlugin("HETERO:GPU,CPU").load(net).infer(INPUT)
    assert_close(result[net.outputs[0]], openvino_infer(xml, INPUT)[0], TOL)
    affinity = {name: s.exec_type for name, s in IEPlugin("HETERO:GPU,CPU").query(net).items()}
    assert any("GPU" in t for t in affinity.values()) and any("CPU" in t for t in affinity.values())


# ---------------------------------------------------------------------------------------------- tensors


def test_inputs_and_outputs_are_tensors_in_device_memory(tmp_path):
    xml = _model(tmp_path)
    net = IENetwork(xml)
    exec_net = IEPlugin("GPU").load(net)
    request = exec_net.requests[0]
    allocator = exec_net._compiled.allocator()
    device_input = to_allocator(INPUT["data"], allocator)
    assert isinstance(device_input, Tensor) and device_input.device == "GPU.0"
    np.testing.assert_array_equal(to_host(device_input), INPUT["data"])
    request.set_tensor("data", device_input)
    request.infer()
    output = request.get_tensor(net.outputs[0])
    assert isinstance(output, Tensor) and output.device == "GPU.0"
    expected = openvino_infer(xml, INPUT)[0]
    assert_close(output.numpy(), expected, TOL)
    assert_close(request.outputs[net.outputs[0]], expected, TOL)


# ---------------------------------------------------------------------------------------------- kernel cache

_LOAD_IN_A_NEW_PROCESS = textwrap.dedent("""
    import json, sys
    from ie_core import IENetwork, IEPlugin
    plugin = IEPlugin("GPU")
    plugin.load(IENetwork(sys.argv[1]), config={"CL_CACHE_DIR": sys.argv[2]})
    print(json.dumps(plugin.get_metric("CL_KERNEL_CACHE")))
""")


def _load_in_a_new_process(xml, cache):
    out = subprocess.run([sys.executable, "-c", _LOAD_IN_A_NEW_PROCESS, xml, str(cache)], check=True,
                         capture_output=True, text=True, env=dict(os.environ)).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_programs_are_cached_on_disk_for_the_next_process(tmp_path):
    xml = _model(tmp_path)
    cache = tmp_path / "cl-cache"
    first = _load_in_a_new_process(xml, cache)
    assert first["builds"] > 0 and first["disk_hits"] == 0
    files = sorted(p.name for p in cache.iterdir())
    assert len(files) == first["builds"] and all(f.endswith(".bin") for f in files)
    second = _load_in_a_new_process(xml, cache)
    assert second == {"builds": 0, "disk_hits": first["builds"]}
    for path in cache.iterdir():  # a damaged cache entry is rebuilt from source
        path.write_bytes(b"not a program")
    assert _load_in_a_new_process(xml, cache) == first
