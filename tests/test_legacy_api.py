"""The API as scripts of 2018 R4 – 2021 used it, on the seed's object model (legacy notes §2).

Each form is checked against OpenVINO's f32 inference of the same IR, or against what the
original documented (types, messages, warnings).
"""

import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

import ie_core
import inference_engine
import inference_engine.ie_api
from helpers import DEVICES, assert_close, openvino_infer, save_ir
from ie_core import IECore, IENetwork, IEPlugin, OutputInfo, StatusCode, WaitMode, errors

DEVICE = DEVICES[-1]
DATA = Path(__file__).parent / "data"
DIGITS = str(Path(ie_core.__file__).parent / "data" / "digits_cnn.xml")
LEGACY_FIXTURES = sorted(str(p) for p in (DATA / "legacy_ir").glob("*/*.xml"))


def conv_model():
    """data[1,3,8,8] -> Convolution -> Relu ("relu") -> two heads: ReduceMean ("pool") and Sigmoid ("gate")."""
    rng = np.random.default_rng(0)
    data = ops.parameter([1, 3, 8, 8], np.float32, name="data")
    conv = ops.convolution(data, ops.constant(rng.standard_normal((4, 3, 3, 3)).astype(np.float32)), [1, 1],
                           [1, 1], [1, 1], [1, 1])
    conv.set_friendly_name("conv")
    relu = ops.relu(conv)
    relu.set_friendly_name("relu")
    pool = ops.reduce_mean(relu, ops.constant(np.array([2, 3], np.int64)), False)
    pool.set_friendly_name("pool")
    gate = ops.sigmoid(relu)
    gate.set_friendly_name("gate")
    return ov.Model([pool, gate], [data], "conv_net")


@pytest.fixture(scope="module")
def conv_ir(tmp_path_factory):
    return save_ir(conv_model(), tmp_path_factory.mktemp("conv"))


@pytest.fixture
def image():
    return np.random.default_rng(1).uniform(0, 255, (1, 3, 8, 8)).round().astype(np.float32)


# ---- IENetwork: inputs, outputs, layers -------------------------------------------------------


def test_inputs_are_dims_lists_with_shape_precision_layout(conv_ir):
    net = IENetwork(model=conv_ir[0], weights=conv_ir[1])
    info = net.inputs["data"]
    n, c, h, w = info
    assert (n, c, h, w) == (1, 3, 8, 8) and info == [1, 3, 8, 8] and net.inputs == {"data": [1, 3, 8, 8]}
    assert info.shape == [1, 3, 8, 8] and info.precision == "FP32" and info.layout == "NCHW"
    assert net.input_info["data"].input_data.shape == [1, 3, 8, 8] and net.input_info["data"].name == "data"
    assert net.input_info["data"].tensor_desc == ("FP32", [1, 3, 8, 8], "NCHW")
    info.precision = "u8"
    info.layout = "NHWC"
    assert net.inputs["data"].precision == "U8" and net.input_info["data"].layout == "NHWC"
    net.reshape({"data": [2, 3, 8, 8]})
    assert net.inputs["data"] == [2, 3, 8, 8] and net.inputs["data"].precision == "U8"


def test_input_precision_and_layout_setters_reject_as_the_original(conv_ir):
    info = IENetwork(conv_ir[0]).inputs["data"]
    with pytest.raises(AttributeError, match=r"Unsupported precision Q78! List of supported precisions: \["):
        info.precision = "Q78"
    with pytest.raises(AttributeError, match=r"Unsupported layout NCWH! List of supported layouts: \["):
        info.layout = "NCWH"
    assert info.precision == "FP32" and info.layout == "NCHW"
    assert "U8" in ie_core.supported_precisions and "NHWC" in ie_core.supported_layouts


def test_u8_input_precision_gives_uint8_request_arrays(conv_ir, image):
    net = IENetwork(conv_ir[0])
    net.inputs["data"].precision = "U8"
    exec_net = IEPlugin(DEVICE).load(net)
    request = exec_net.requests[0]
    assert request.inputs["data"].dtype == np.uint8
    assert request.input_blobs["data"].tensor_desc == ("U8", [1, 3, 8, 8], "NCHW")
    res = exec_net.infer({"data": image})
    for name, expected in zip(["pool", "gate"], openvino_infer(conv_ir[0], {"data": image})):
        assert_close(res[name], expected, what=name)


def test_outputs_are_a_list_of_names_and_a_mapping(conv_ir):
    net = IENetwork(conv_ir[0])
    outputs = net.outputs
    assert outputs == ["pool", "gate"] and outputs != ["gate", "pool"]
    assert outputs[0] == "pool" and outputs[-1] == "gate" and len(outputs) == 2 and "gate" in outputs
    assert next(iter(outputs)) == "pool" and list(outputs.keys()) == ["pool", "gate"]
    pool, gate = outputs["pool"], outputs["gate"]
    assert isinstance(pool, OutputInfo) and pool.name == "pool"
    assert (pool.shape, pool.precision, pool.layout) == ([1, 4], "FP32", "NC")
    assert (gate.shape, gate.layout) == ([1, 4, 8, 8], "NCHW")
    assert [name for name, _ in outputs.items()] == ["pool", "gate"] and outputs.values()[1].name == "gate"
    assert dict(outputs)["gate"].shape == [1, 4, 8, 8]
    assert outputs.get("relu") is None and outputs.get("gate").name == "gate"
    assert outputs == {"pool": None, "gate": None} and outputs != {"gate": None, "pool": None}
    with pytest.raises(KeyError, match="relu is not an output"):
        outputs["relu"]
    with pytest.raises(errors.LayerNotFoundError):
        outputs["relu"]


def test_output_precision_setter_converts_the_outputs(conv_ir, image):
    net = IENetwork(conv_ir[0])
    net.outputs["gate"].precision = "FP16"
    net.add_outputs("relu", precision="I32")
    assert net.outputs == ["pool", "gate", "relu"]
    assert [net.outputs[n].precision for n in net.outputs] == ["FP32", "FP16", "I32"]
    with pytest.raises(AttributeError, match="Unsupported precision"):
        net.add_outputs("conv", precision="Q78")
    res = IEPlugin(DEVICE).load(net).infer({"data": image})
    assert (res["pool"].dtype, res["gate"].dtype, res["relu"].dtype) == (np.float32, np.float16, np.int32)
    expected = openvino_infer(conv_ir[0], {"data": image})[1]
    np.testing.assert_allclose(res["gate"], expected.astype(np.float16), rtol=1e-3)


def test_layer_parents_children_shape_layout_precision(conv_ir):
    net = IENetwork(conv_ir[0])
    layers = net.layers
    relu = layers["relu"]
    assert relu.parents == ["conv"] and sorted(relu.children) == ["gate", "pool"]
    assert layers["data"].children == ["conv"] and layers["gate"].children == []
    assert layers["conv"].parents[0] == "data" and len(layers["conv"].parents) == 2
    assert (relu.shape, relu.layout, layers["pool"].shape, layers["pool"].layout) == ([1, 4, 8, 8], "NCHW", [1, 4], "NC")
    assert relu.precision == "FP32"
    relu.precision = "fp16"
    assert net.layers["relu"].precision == "FP16"


# ---- warnings: what warns and what does not -----------------------------------------------------


def test_from_ir_warns_as_2018_r5_did(conv_ir):
    with pytest.deprecated_call(match="from_ir\\(\\) method of IENetwork is deprecated. Please use IENetwork class "
                                      "constructor to create valid IENetwork instance"):
        net = IENetwork.from_ir(model=conv_ir[0], weights=conv_ir[1])
    assert net.outputs == ["pool", "gate"]


def test_seed_and_iecore_forms_do_not_warn(conv_ir, image):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = IENetwork(model=conv_ir[0], weights=conv_ir[1])
        IEPlugin(DEVICE).load(net).infer({"data": image})
        ie = IECore()
        ie.load_network(ie.read_network(conv_ir[0], conv_ir[1]), DEVICE).infer({"data": image})


# ---- reading and writing -------------------------------------------------------------------------


def test_init_from_buffer(conv_ir, image):
    xml, binf = conv_ir
    weights = Path(binf).read_bytes()
    for model in (Path(xml).read_text(), Path(xml).read_bytes()):
        for net in (IENetwork(model=model, weights=weights, init_from_buffer=True),
                    IECore().read_network(model, weights, init_from_buffer=True)):
            res = IEPlugin(DEVICE).load(net).infer({"data": image})
            assert_close(res["pool"], openvino_infer(xml, {"data": image})[0])
    with pytest.raises(errors.NetworkArgumentError, match="init_from_buffer"):
        IENetwork(model=xml, weights=binf, init_from_buffer=True)


@pytest.mark.parametrize("xml", [DIGITS] + LEGACY_FIXTURES, ids=lambda p: Path(p).parent.name)
def test_serialize_writes_ir_v11_that_openvino_and_ie_core_read(xml, tmp_path):
    net = IENetwork(xml)
    out = str(tmp_path / "saved.xml")
    net.serialize(out, str(tmp_path / "saved.bin"))
    assert ov.Core().read_model(out) is not None
    rng = np.random.default_rng(2)
    inputs = {name: rng.uniform(0, 255, info.shape).astype(np.float32) for name, info in net.inputs.items()}
    expected = openvino_infer(out, inputs)
    saved = IENetwork(out)
    assert list(saved.inputs) == list(net.inputs) and saved.outputs == net.outputs
    res = IEPlugin(DEVICE).load(saved).infer(inputs)
    original = IEPlugin(DEVICE).load(net).infer(inputs)
    for name, want in zip(saved.outputs, expected):
        assert_close(res[name], want, tol=1e-4, what=f"{name} read back")
        assert_close(original[name], want, tol=1e-4, what=f"{name} of the original")


def test_serialize_keeps_reshape_and_added_outputs(conv_ir, tmp_path, image):
    net = IENetwork(conv_ir[0])
    net.reshape({"data": [2, 3, 8, 8]})
    net.add_outputs("relu")
    net.serialize(str(tmp_path / "saved.xml"))
    batch = np.concatenate([image, image[:, ::-1]])
    expected = openvino_infer(conv_ir[0], {"data": batch}, reshape={"data": [2, 3, 8, 8]})
    model = ov.Core().read_model(str(tmp_path / "saved.xml"))
    assert [list(p.get_shape()) for p in model.outputs] == [[2, 4], [2, 4, 8, 8], [2, 4, 8, 8]]
    assert model.output("relu") is not None
    saved = IENetwork(str(tmp_path / "saved.xml"))
    assert saved.outputs == ["pool", "gate", "relu"] and saved.inputs == {"data": [2, 3, 8, 8]}
    res = IEPlugin(DEVICE).load(saved).infer({"data": batch})
    assert_close(res["pool"], expected[0])
    assert_close(res["gate"], expected[1])


# ---- requests --------------------------------------------------------------------------------


def test_requests_latency_callbacks_and_blobs(conv_ir, image):
    exec_net = IECore().load_network(IENetwork(conv_ir[0]), DEVICE, num_requests=2)
    assert isinstance(exec_net.requests, tuple) and len(exec_net.requests) == 2
    calls = []
    for request_id, request in enumerate(exec_net.requests):
        request.set_completion_callback(lambda status, data: calls.append((status, data)), request_id)
        request.async_infer({"data": image + request_id})
    assert [r.wait(WaitMode.RESULT_READY) for r in exec_net.requests] == [StatusCode.OK, StatusCode.OK]
    assert sorted(calls) == [(StatusCode.OK, 0), (StatusCode.OK, 1)]
    for request_id, request in enumerate(exec_net.requests):
        assert request.wait(WaitMode.STATUS_ONLY) == StatusCode.OK
        assert isinstance(request.latency, float) and request.latency > 0
        blob = request.output_blobs["gate"]
        assert blob.tensor_desc == ("FP32", [1, 4, 8, 8], "NCHW")
        assert_close(blob.buffer, openvino_infer(conv_ir[0], {"data": image + request_id})[1])
        assert request.input_blobs["data"].buffer is request.inputs["data"]


def test_wait_returns_after_the_callback_which_may_restart_the_request(conv_ir, image):
    request = IEPlugin(DEVICE).load(IENetwork(conv_ir[0])).requests[0]
    runs = []

    def again(status, _data):
        time.sleep(0.05)  # a slow callback: wait() must still see what it did
        runs.append(status)
        if len(runs) < 3:
            request.async_infer()

    request.set_completion_callback(again)
    request.async_infer({"data": image})
    assert request.wait() == StatusCode.OK and runs == [StatusCode.OK] * 3


# ---- IECore ----------------------------------------------------------------------------------


TOY_DEVICE = textwrap.dedent(
    '''
    """Two toy devices (ids 0 and 1) that run the reference kernels."""
    from ie_core.backend import Backend, ExecutorModel, GraphExecutor, hookimpl, reference_kernel


    class ToyBackend(Backend):
        device_name = "TOY"
        version = "3.2.1"
        description = "toy device of the IECore tests"

        def available_devices(self):
            return ["0", "1"]

        def compile(self, graph, config, num_requests):
            return ExecutorModel(GraphExecutor(graph, reference_kernel), config)


    @hookimpl
    def ie_core_backends():
        return [ToyBackend]
    '''
)


@pytest.fixture
def toy_module(tmp_path):
    path = tmp_path / "toy_device.py"
    path.write_text(TOY_DEVICE)
    return str(path)


def test_iecore_devices_versions_and_metrics():
    ie = IECore()
    assert "REFERENCE" in ie.available_devices and DEVICE in ie.available_devices
    versions = ie.get_versions(DEVICE)
    assert list(versions) == [DEVICE]
    version = versions[DEVICE]
    assert (version.major, version.minor) == (1, 0) and version.build_number and version.description
    assert set(ie.get_versions("HETERO:REFERENCE," + DEVICE)) == {"HETERO", "REFERENCE", DEVICE}
    assert "FULL_DEVICE_NAME" in ie.get_metric(DEVICE, "SUPPORTED_METRICS")
    assert ie.get_metric("REFERENCE", "FULL_DEVICE_NAME").startswith("numpy reference")


def test_iecore_unknown_device_is_a_runtime_error():
    with pytest.raises(RuntimeError, match='Device with "NPU" name is not registered in the InferenceEngine'):
        IECore().get_metric("NPU", "FULL_DEVICE_NAME")
    with pytest.raises(errors.DeviceNotFoundError):
        IECore().get_versions("HETERO:NPU")


def test_iecore_load_network_and_config(conv_ir, image):
    ie = IECore()
    ie.set_config({"PERF_COUNT": "YES"}, DEVICE)
    assert ie.get_config(DEVICE, "PERF_COUNT") == "YES"
    with pytest.raises(errors.ConfigError, match="NO_SUCH_KEY"):
        ie.set_config({"NO_SUCH_KEY": "1"}, DEVICE)
    for network in (ie.read_network(conv_ir[0]), conv_ir[0]):
        exec_net = ie.load_network(network, DEVICE, num_requests=0)
        assert len(exec_net.requests) == 1
        res = exec_net.infer({"data": image})
        assert_close(res["gate"], openvino_infer(conv_ir[0], {"data": image})[1])
        counts = exec_net.requests[0].get_perf_counts()
        assert counts["data"]["exec_type"] == "input"  # the request's own time, measured with PERF_COUNT=YES
    other = ie.load_network(ie.read_network(conv_ir[0]), DEVICE, config={"PERF_COUNT": "NO"})
    assert other.get_config("PERF_COUNT") == "NO"
    with pytest.raises(errors.NotSupportedError, match="not ONNX"):
        ie.read_network("model.onnx")


def test_iecore_query_network(conv_ir):
    ie = IECore()
    net = ie.read_network(conv_ir[0])
    assert ie.query_network(net, DEVICE) == {name: DEVICE for name in net.layers}
    hetero = ie.query_network(net, "HETERO:" + ",".join(DEVICES))
    assert set(hetero) == set(net.layers) and set(hetero.values()) <= set(DEVICES)
    assert ie.query_network(net, "HETERO:REFERENCE") == {name: "REFERENCE" for name in net.layers}


def test_iecore_register_and_unregister_plugins(toy_module, conv_ir, image, tmp_path):
    ie = IECore()
    assert not any(d.startswith("TOY") for d in ie.available_devices)
    ie.register_plugin(toy_module)
    assert {"TOY.0", "TOY.1"} <= set(ie.available_devices)
    assert ie.get_versions("TOY.1")["TOY"].build_number == "3.2.1"
    res = ie.load_network(ie.read_network(conv_ir[0]), "TOY.1").infer({"data": image})
    assert_close(res["pool"], openvino_infer(conv_ir[0], {"data": image})[0])
    with pytest.raises(errors.PluginRegistrationError, match='Device with "TOY" is already registered'):
        ie.register_plugin(toy_module)
    ie.register_plugin(toy_module, "MYTOY")
    assert "MYTOY.0" in ie.available_devices and ie.get_metric("MYTOY", "FULL_DEVICE_NAME").startswith("toy")
    ie.unregister_plugin("TOY")
    assert not any(d.startswith("TOY.") for d in ie.available_devices)
    with pytest.raises(errors.DeviceNotRegisteredError):
        ie.load_network(ie.read_network(conv_ir[0]), "TOY")
    with pytest.raises(errors.DeviceNotRegisteredError):
        ie.unregister_plugin("TOY")
    ie.unregister_plugin("REFERENCE")
    ie.register_plugin("ie_core.reference")
    assert "REFERENCE" in ie.available_devices
    assert "TOY.0" not in IECore().available_devices
    with pytest.raises(errors.PluginRegistrationError, match="No module named"):
        ie.register_plugin("no_such_backend_module")
    with pytest.raises(errors.PluginRegistrationError, match="no ie_core_backends hook"):
        ie.register_plugin("json")


def test_iecore_plugin_library_names():
    ie_backend_cpu = pytest.importorskip("ie_backend_cpu")
    ie = IECore()
    with pytest.raises(errors.PluginRegistrationError, match='"CPU" is already registered'):
        ie.register_plugin("libMKLDNNPlugin.so")
    ie.unregister_plugin("CPU")
    ie.register_plugin("MKLDNNPlugin", "CPU")
    assert ie.get_versions("CPU")["CPU"].build_number == ie_backend_cpu.__version__
    if "GPU" not in ie_core.available_devices():
        with pytest.raises(errors.PluginRegistrationError, match="pip install ie-backend-gpu"):
            ie.register_plugin("libclDNNPlugin.so")


def test_iecore_plugins_xml(toy_module, tmp_path):
    config = tmp_path / "plugins.xml"
    config.write_text(textwrap.dedent(
        f'''
        <ie>
            <plugins>
                <plugin name="TOY" location="{Path(toy_module).name}">
                    <properties>
                        <property key="PERF_COUNT" value="YES"/>
                    </properties>
                </plugin>
                <plugin name="REFERENCE" location="ie_core.reference"/>
            </plugins>
        </ie>
        '''
    ))
    ie = IECore(str(config))
    assert ie.available_devices == ["REFERENCE", "TOY.0", "TOY.1"]
    assert ie.get_config("TOY", "PERF_COUNT") == "YES"
    with pytest.raises(errors.PluginRegistrationError, match='"REFERENCE" is already registered'):
        IECore().register_plugins(str(config))
    bad = tmp_path / "bad.xml"
    bad.write_text("<ie><plugins><plugin name='X'/></plugins></ie>")
    with pytest.raises(errors.PluginRegistrationError, match="name and location"):
        IECore(str(bad))


def test_iecore_extensions_and_import():
    ie = IECore()
    with pytest.raises(errors.NotSupportedError, match="does not load extension libraries"):
        ie.add_extension("libcustom.so", "REFERENCE")
    if "CPU" in ie.available_devices:
        with pytest.raises(errors.ExtensionError):
            ie.add_extension("/no/such/libcustom.so", "CPU")
    with pytest.raises(errors.NotSupportedError, match="import_network is not supported by the REFERENCE device"):
        ie.import_network("model.blob", "REFERENCE")


def test_iecore_export_and_import_network(conv_ir, image, tmp_path):
    ie = IECore()
    sticks = [d for d in ie.available_devices if d.partition(".")[0] == "MYRIAD"]
    if not sticks:
        pytest.skip("no device with Capability.EXPORT_IMPORT (MYRIAD) is installed")
    ie.load_network(ie.read_network(conv_ir[0]), sticks[0]).export(tmp_path / "net.blob")
    exec_net = ie.import_network(tmp_path / "net.blob", sticks[0], num_requests=2)
    assert len(exec_net.requests) == 2
    res = exec_net.infer({"data": image})
    assert_close(res["pool"], openvino_infer(conv_ir[0], {"data": image})[0], tol=1e-2)  # MYRIAD computes in FP16


# ---- module level and import paths -----------------------------------------------------------


def test_module_level_names_and_aliases():
    assert ie_core.get_version() == ie_core.__version__
    assert {"CPU", "GPU", "FPGA", "MYRIAD", "HETERO"} <= set(ie_core.known_plugins)
    assert StatusCode.INFER_NOT_STARTED == -11 and (WaitMode.RESULT_READY, WaitMode.STATUS_ONLY) == (-1, 0)
    assert {"IENetwork", "IEPlugin", "IECore", "get_version"} <= set(ie_core.__all__)
    for module in (inference_engine, inference_engine.ie_api):
        assert module.__all__ == ie_core.__all__
        for name in ie_core.__all__:
            assert getattr(module, name) is getattr(ie_core, name)
