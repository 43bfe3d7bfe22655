"""The MYRIAD device: layer set and limits, sticks and their request queues, config keys, export/import."""

import gc
import threading
import zipfile

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

import ie_backend_myriad
from helpers import assert_close, openvino_infer, save_ir
from ie_core import IENetwork, IEPlugin, StatusCode, errors

#: binary16's unit roundoff: each stored value is within this relative distance of the exact one.
FP16_U = 2.0**-11


def cnn_model():
    """conv -> relu -> maxpool -> conv + bias -> softmax over channels."""
    rng = np.random.default_rng(0)
    data = ops.parameter([1, 3, 8, 8], np.float32, name="data")
    x = ops.convolution(data, ops.constant(rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3),
                        [1, 1], [1, 1], [1, 1], [1, 1])
    x.set_friendly_name("conv1")
    x = ops.relu(x)
    x.set_friendly_name("relu1")
    x = ops.max_pool(x, [2, 2], [1, 1], [0, 0], [0, 0], [2, 2])
    x.output(0).get_node().set_friendly_name("pool1")
    x = ops.convolution(x.output(0), ops.constant(rng.standard_normal((4, 8, 1, 1)).astype(np.float32) * 0.3),
                        [1, 1], [0, 0], [0, 0], [1, 1])
    x.set_friendly_name("conv2")
    x = ops.add(x, ops.constant(rng.standard_normal((1, 4, 1, 1)).astype(np.float32)))
    x.set_friendly_name("bias2")
    prob = ops.softmax(x, 1)
    prob.set_friendly_name("prob")
    return ov.Model([prob], [data], "cnn")


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    return save_ir(cnn_model(), tmp_path_factory.mktemp("cnn"))


@pytest.fixture
def image():
    return np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)


@pytest.fixture
def sticks(monkeypatch):
    """Three emulated sticks, none with a network loaded by an earlier test."""
    monkeypatch.setenv(ie_backend_myriad.DEVICES_ENV, "3")
    gc.collect()


def test_runs_close_to_f32_and_says_it_is_an_emulator(cnn, image):
    xml, binf = cnn
    plugin = IEPlugin("MYRIAD")
    assert plugin.version.endswith("(software emulator)")
    assert plugin.get_metric("EMULATOR") is True and "emulator" in plugin.get_metric("FULL_DEVICE_NAME")
    out = plugin.load(IENetwork(xml, binf)).infer({"data": image})["prob"]
    assert_close(out, openvino_infer(xml, {"data": image})[0], tol=8 * FP16_U)


CONVOLUTIONS = {  # name: (groups, kernel, strides, dilations, pads_begin, pads_end, auto_pad)
    "3x3_pad1": (1, 3, [1, 1], [1, 1], [1, 1], [1, 1], "explicit"),
    "5x3_strided_dilated": (1, (5, 3), [2, 3], [2, 1], [2, 0], [1, 2], "explicit"),
    "same_upper_stride2": (1, 3, [2, 2], [1, 1], [0, 0], [0, 0], "same_upper"),
    "1x1_strided": (1, 1, [2, 2], [1, 1], [0, 0], [0, 0], "explicit"),
    "grouped": (2, 3, [1, 1], [1, 1], [1, 1], [1, 1], "explicit"),
    "depthwise_stride2": (6, 3, [2, 2], [1, 1], [1, 1], [1, 1], "explicit"),
    "depthwise_dilated_valid": (6, 3, [1, 2], [2, 2], [0, 0], [0, 0], "valid"),
}


@pytest.mark.parametrize("name", CONVOLUTIONS)
def test_convolution_kernels_against_f32(tmp_path, name):
    """The emulator's own convolution kernels (im2col + matrix product, the depthwise loop), batch 2."""
    groups, kernel, strides, dilations, pads_begin, pads_end, auto_pad = CONVOLUTIONS[name]
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    rng = np.random.default_rng(3)
    data = ops.parameter([2, 6, 11, 9], np.float32, name="data")
    if groups == 1:
        weights = ops.constant(rng.standard_normal((4, 6, kh, kw)).astype(np.float32))
        conv = ops.convolution(data, weights, strides, pads_begin, pads_end, dilations, auto_pad)
    else:
        out = 6 if groups == 6 else 4
        weights = ops.constant(rng.standard_normal((groups, out // groups, 6 // groups, kh, kw)).astype(np.float32))
        conv = ops.group_convolution(data, weights, strides, pads_begin, pads_end, dilations, auto_pad)
    conv.set_friendly_name("conv")
    xml, binf = save_ir(ov.Model([conv], [data], name), tmp_path)
    x = rng.standard_normal((2, 6, 11, 9)).astype(np.float32)
    exec_net = IEPlugin("MYRIAD").load(IENetwork(xml, binf), config={"PERF_COUNT": "YES"})
    assert_close(exec_net.infer({"data": x})["conv"], openvino_infer(xml, {"data": x})[0], tol=8 * FP16_U)
    native = "emulated_FP16_depthwise" if groups == 6 else "emulated_FP16_im2col_gemm"
    assert exec_net.requests[0].get_perf_counts()["conv"]["exec_type"] == native


def test_maxpool_indices_when_read(tmp_path):
    data = ops.parameter([1, 2, 6, 6], np.float32, name="data")
    pool = ops.max_pool(data, [2, 2], [1, 1], [1, 1], [0, 0], [3, 3])
    pool.get_output_tensor(0).set_names({"values"})
    pool.get_output_tensor(1).set_names({"indices"})
    pool.set_friendly_name("pool")
    xml, binf = save_ir(ov.Model([pool.output(0), pool.output(1)], [data], "pool"), tmp_path)
    x = np.random.default_rng(4).standard_normal((1, 2, 6, 6)).astype(np.float32)
    values, indices = openvino_infer(xml, {"data": x})
    out = IEPlugin("MYRIAD").load(IENetwork(xml, binf)).infer({"data": x})
    np.testing.assert_array_equal(out["pool.1"], indices)
    np.testing.assert_array_equal(out["pool.0"], values.astype(np.float16).astype(np.float32))


def unsupported_model():
    """A network with layers outside the VPU's set: a 3-d convolution and ShuffleChannels."""
    data = ops.parameter([1, 4, 4, 4, 4], np.float32, name="data")
    conv3d = ops.convolution(data, ops.constant(np.ones((4, 4, 1, 1, 1), np.float32)), [1, 1, 1], [0, 0, 0],
                             [0, 0, 0], [1, 1, 1])
    conv3d.set_friendly_name("conv3d")
    flat = ops.reshape(conv3d, ops.constant(np.array([1, 4, 16, 4], np.int64)), False)
    flat.set_friendly_name("flat")
    shuffle = ops.shuffle_channels(flat, 1, 2)
    shuffle.set_friendly_name("shuffle")
    relu = ops.relu(shuffle)
    relu.set_friendly_name("relu")
    return ov.Model([relu], [data], "unsupported")


def test_unsupported_layers_are_refused_at_load_and_reported_by_query(tmp_path):
    xml, binf = save_ir(unsupported_model(), tmp_path)
    net = IENetwork(xml, binf)
    plugin = IEPlugin("MYRIAD")
    with pytest.raises(errors.NotSupportedError) as info:
        plugin.load(net)
    message = str(info.value)
    assert "'conv3d'" in message and "4-d" in message and "'shuffle'" in message and "ShuffleChannels" in message
    assert "HETERO:MYRIAD,CPU" in message
    support = plugin.query(net)
    assert set(support) == set(net.layers)
    for name in ("conv3d", "shuffle"):
        assert not support[name].supported and not support[name].native and support[name].reason
    for name in ("flat", "relu", "data"):
        assert support[name].supported and support[name].native and support[name].precision == "FP16"
    assert plugin.get_supported_layers(net) == set(net.layers) - {"conv3d", "shuffle"}


def test_query_agrees_with_the_loaded_network(cnn, image):
    xml, binf = cnn
    net = IENetwork(xml, binf)
    plugin = IEPlugin("MYRIAD")
    support = plugin.query(net)
    assert all(s.supported and s.native and s.precision == "FP16" for s in support.values())
    exec_net = plugin.load(net, config={"PERF_COUNT": "YES"})
    exec_net.infer({"data": image})
    counts = exec_net.requests[0].get_perf_counts()
    for name in ("conv1", "relu1", "conv2", "bias2", "prob"):
        assert counts[name]["status"] == "EXECUTED" and counts[name]["exec_type"] == support[name].exec_type


def test_sticks_are_enumerated_and_chosen(sticks, cnn):
    xml, binf = cnn
    plugin = IEPlugin("MYRIAD")
    assert plugin.get_metric("AVAILABLE_DEVICES") == ["1", "2", "3"]
    assert IEPlugin("MYRIAD.3").device == "MYRIAD.3"
    with pytest.raises(errors.DeviceNotFoundError, match="MYRIAD.4 does not exist.*MYRIAD.1, MYRIAD.2, MYRIAD.3"):
        IEPlugin("MYRIAD.4")
    loaded = [plugin.load(IENetwork(xml, binf)) for _ in range(3)]  # the least busy stick each time
    assert sorted(e._compiled.stick.name for e in loaded) == ["MYRIAD.1", "MYRIAD.2", "MYRIAD.3"]
    assert IEPlugin("MYRIAD.2").load(IENetwork(xml, binf))._compiled.stick.name == "MYRIAD.2"
    on_3 = plugin.load(IENetwork(xml, binf), config={"DEVICE_ID": "3"})
    assert on_3._compiled.stick.name == "MYRIAD.3" and on_3.get_config("DEVICE_ID") == "3"
    with pytest.raises(errors.ConfigError, match="DEVICE_ID"):
        plugin.load(IENetwork(xml, binf), config={"DEVICE_ID": "7"})


def test_sticks_count_must_be_a_positive_integer(monkeypatch):
    monkeypatch.setenv(ie_backend_myriad.DEVICES_ENV, "two")
    with pytest.raises(errors.ConfigError, match="IE_CORE_MYRIAD_DEVICES"):
        IEPlugin("MYRIAD").get_metric("AVAILABLE_DEVICES")


class Gate:
    """Wraps a loaded network's executor: each inference signals that it started, then waits to be let go."""

    def __init__(self, exec_net):
        executor = exec_net._compiled.executor
        self.run = executor.run
        self.started = [threading.Event() for _ in exec_net.requests]
        self.release = threading.Semaphore(0)
        self.count = 0
        self.lock = threading.Lock()
        executor.run = self.gated_run

    def gated_run(self, inputs, profile=False, state=None):
        with self.lock:
            self.started[self.count].set()
            self.count += 1
        assert self.release.acquire(timeout=30), "the test never let the inference go"
        return self.run(inputs, profile, state)


def test_a_stick_runs_a_limited_number_of_requests_and_queues_the_rest(sticks, cnn, image):
    limit = ie_backend_myriad.REQUESTS_IN_FLIGHT
    xml, binf = cnn
    exec_net = IEPlugin("MYRIAD.1").load(IENetwork(xml, binf), num_requests=limit + 1)
    gate = Gate(exec_net)
    requests = [exec_net.start_async(i, {"data": image * (i + 1)}) for i in range(limit + 1)]
    for event in gate.started[:limit]:
        assert event.wait(30)
    # the stick is full: the last request waits in its queue (it would have started by now otherwise)
    assert not gate.started[limit].wait(0.5)
    assert requests[limit].wait(0) == StatusCode.RESULT_NOT_READY
    # another stick is not held up by the full one
    other = IEPlugin("MYRIAD.2").load(IENetwork(xml, binf))
    assert other.start_async(0, {"data": image}).wait(30000) == StatusCode.OK
    gate.release.release()
    assert gate.started[limit].wait(30)
    for _ in range(limit):
        gate.release.release()
    expected = openvino_infer(xml, {"data": image})[0]
    for i, request in enumerate(requests):
        assert request.wait() == StatusCode.OK
        assert_close(request.outputs["prob"], openvino_infer(xml, {"data": image * (i + 1)})[0], tol=8 * FP16_U)
    assert_close(other.requests[0].outputs["prob"], expected, tol=8 * FP16_U)


def test_config_keys_of_the_original_plugin(cnn):
    xml, binf = cnn
    plugin = IEPlugin("MYRIAD")
    assert plugin.get_config("VPU_HW_STAGES_OPTIMIZATION") == "YES"
    plugin.set_config({"VPU_HW_STAGES_OPTIMIZATION": "NO", "LOG_LEVEL": "LOG_DEBUG",
                       "MYRIAD_DDR_TYPE": "MYRIAD_DDR_MICRON_2GB", "MYRIAD_THROUGHPUT_STREAMS": "2"})
    assert plugin.get_config("VPU_HW_STAGES_OPTIMIZATION") == "NO" and plugin.get_config("LOG_LEVEL") == "LOG_DEBUG"
    assert "MYRIAD_ENABLE_HW_ACCELERATION" in plugin.get_metric("SUPPORTED_CONFIG_KEYS")
    for key, value in [("VPU_HW_STAGES_OPTIMIZATION", "MAYBE"), ("LOG_LEVEL", "LOUD"),
                       ("MYRIAD_THROUGHPUT_STREAMS", "0"), ("MYRIAD_PROTOCOL", "MYRIAD_WIFI"),
                       ("MYRIAD_CUSTOM_LAYERS", "/tmp/kernels.xml")]:
        with pytest.raises(errors.ConfigError, match=f"Wrong value '{value}' for property key {key}"):
            plugin.set_config({key: value})
    with pytest.raises(errors.ConfigError, match="Unsupported property CPU_THREADS_NUM by MYRIAD"):
        plugin.load(IENetwork(xml, binf), config={"CPU_THREADS_NUM": "2"})
    assert plugin.load(IENetwork(xml, binf)).get_config("VPU_HW_STAGES_OPTIMIZATION") == "NO"


def test_export_and_import_round_trip(tmp_path, cnn, image):
    xml, binf = cnn
    net = IENetwork(xml, binf)
    net.add_outputs("relu1")
    exec_net = IEPlugin("MYRIAD").load(net)
    blob = tmp_path / "cnn.blob"
    exec_net.export(str(blob))
    imported = IEPlugin("MYRIAD").import_network(str(blob), num_requests=2, config={"PERF_COUNT": "YES"})
    assert len(imported.requests) == 2 and imported.get_config("PERF_COUNT") == "YES"
    assert imported.get_metric("NETWORK_NAME") == "cnn"
    before, after = exec_net.infer({"data": image}), imported.infer({"data": image})
    assert set(after) == {"prob", "relu1"}
    for name in after:
        np.testing.assert_array_equal(after[name], before[name])  # the same network, the same numerics
    assert_close(after["prob"], openvino_infer(xml, {"data": image})[0], tol=8 * FP16_U)
    with zipfile.ZipFile(blob) as z:
        weights = np.frombuffer(z.read("network.bin"), np.float32)
    assert np.array_equal(weights, weights.astype(np.float16).astype(np.float32))  # stored as FP16


def test_import_refuses_other_versions_and_other_files(tmp_path, cnn):
    xml, binf = cnn
    blob = tmp_path / "cnn.blob"
    IEPlugin("MYRIAD").load(IENetwork(xml, binf)).export(blob)
    old = tmp_path / "old.blob"
    with zipfile.ZipFile(blob) as src, zipfile.ZipFile(old, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            if item == "header.json":
                data = data.replace(ie_backend_myriad.__version__.encode(), b"0.0.9")
            dst.writestr(item, data)
    with pytest.raises(errors.IRError, match="exported by ie-backend-myriad 0.0.9.*this is ie-backend-myriad"):
        IEPlugin("MYRIAD").import_network(old)
    with pytest.raises(errors.IRError, match="not a network exported by the MYRIAD device"):
        IEPlugin("MYRIAD").import_network(xml)
    with pytest.raises(errors.ModelFileNotFoundError):
        IEPlugin("MYRIAD").import_network(tmp_path / "missing.blob")
    with pytest.raises(errors.NotSupportedError, match="import_network"):
        IEPlugin("REFERENCE").import_network(blob)
    with pytest.raises(errors.NotSupportedError, match="cannot be exported"):
        IEPlugin("REFERENCE").load(IENetwork(xml, binf)).export(tmp_path / "ref.blob")
    with pytest.raises(errors.RequestError):
        IEPlugin("MYRIAD").import_network(blob, num_requests=0)
