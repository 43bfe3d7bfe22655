"""HETERO affinity: the seed's walkthrough, default affinities from the devices' queries, manual
affinities and their errors, configuration routing."""

import numpy as np
import pytest

from box_device import PLUGIN_DIR
from helpers import assert_close, openvino_infer, save_ir
from hetero_models import mlp, small_cnn
from ie_core import IENetwork, IEPlugin, available_devices, errors

requires_cpu = pytest.mark.skipif("CPU" not in available_devices(), reason="needs ie-backend-cpu")


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    return save_ir(small_cnn(), tmp_path_factory.mktemp("cnn"))


@pytest.fixture(scope="module")
def mlp_ir(tmp_path_factory):
    return save_ir(mlp(), tmp_path_factory.mktemp("mlp"))


@pytest.fixture
def image():
    return np.random.default_rng(2).standard_normal((1, 3, 12, 12)).astype(np.float32)


@pytest.fixture
def vector():
    return np.random.default_rng(3).standard_normal((1, 32)).astype(np.float32)


@requires_cpu
def test_seed_affinity_walkthrough(cnn, image):
    xml, binf = cnn
    net = IENetwork.from_ir(model=xml, weights=binf)
    # 1. right after reading, no layer has an affinity
    assert all(layer.affinity == "" for layer in net.layers.values())
    plugin = IEPlugin(device="HETERO:CPU,REFERENCE")
    plugin.set_config({"TARGET_FALLBACK": "HETERO:CPU,REFERENCE"})
    # 2. the default affinity: CPU where its query says it runs the layer natively, else REFERENCE
    plugin.set_initial_affinity(net)
    cpu = IEPlugin("CPU").query(net)
    defaults = {name: layer.affinity for name, layer in net.layers.items()}
    assert defaults == {name: "CPU" if cpu[name].native else "REFERENCE" for name in net.layers}
    assert {defaults[name] for name in ("conv1", "conv2", "relu1", "fc", "prob")} == {"CPU"}
    assert defaults["norm1"] == "REFERENCE"  # LRN has no oneDNN kernel here
    # 3. every Convolution overridden to the other device, then re-read
    for layer in net.layers.values():
        if layer.type == "Convolution":
            layer.affinity = "REFERENCE"
    assert {name: layer.affinity for name, layer in net.layers.items()} == {
        **defaults, "conv1": "REFERENCE", "conv2": "REFERENCE"}
    # 4. load and infer: the output is the CPU-only one, and OpenVINO's
    exec_net = plugin.load(network=net)
    res = exec_net.infer({"data": image})
    cpu_only = IEPlugin("CPU").load(IENetwork(xml, binf)).infer({"data": image})
    assert_close(res["prob"], cpu_only["prob"], tol=1e-5)
    assert_close(res["prob"], openvino_infer(xml, {"data": image})[0])
    counts = exec_net.requests[0].get_perf_counts()
    assert counts["conv1"]["exec_type"].startswith("REFERENCE/") and counts["fc"]["exec_type"].startswith("CPU/")


def test_default_affinity_follows_native_support(mlp_ir):
    xml, binf = mlp_ir
    net = IENetwork(xml, binf)
    IEPlugin("HETERO:BOX,REFERENCE", plugin_dirs=PLUGIN_DIR).set_initial_affinity(net)
    box = IEPlugin("BOX", plugin_dirs=PLUGIN_DIR).query(net)
    assert {name: layer.affinity for name, layer in net.layers.items()} == {
        name: "BOX" if box[name].native else "REFERENCE" for name in net.layers}
    assert net.layers["fc0"].affinity == "BOX" and net.layers["prob"].affinity == "REFERENCE"


def test_query_reports_each_layer_on_its_device(mlp_ir):
    xml, binf = mlp_ir
    net = IENetwork(xml, binf)
    plugin = IEPlugin("HETERO:BOX,REFERENCE", plugin_dirs=PLUGIN_DIR)
    support = plugin.query(net)
    assert set(support) == set(net.layers) and all(s.supported for s in support.values())
    assert support["fc0"].exec_type == "BOX/box_matmul" and support["prob"].exec_type == "REFERENCE/ref_numpy"
    assert plugin.get_supported_layers(net) == set(net.layers)
    net.layers["prob"].affinity = "BOX"
    refused = plugin.query(net)["prob"]
    assert not refused.supported and "BOX runs only" in refused.reason
    assert plugin.get_supported_layers(net) == set(net.layers) - {"prob"}


def test_manual_affinity_on_a_device_that_cannot_run_the_layer(mlp_ir):
    xml, binf = mlp_ir
    net = IENetwork(xml, binf)
    net.layers["prob"].affinity = "BOX"
    with pytest.raises(errors.NotSupportedError, match="layer 'prob' .*affinity BOX.*BOX device cannot run it"):
        IEPlugin("HETERO:BOX,REFERENCE", plugin_dirs=PLUGIN_DIR).load(net)


def test_default_policy_without_a_device_for_a_layer(mlp_ir):
    xml, binf = mlp_ir
    with pytest.raises(errors.NotSupportedError, match=r"default fallback policy.*Name: prob, Type: SoftMax.*BOX"):
        IEPlugin("HETERO:BOX", plugin_dirs=PLUGIN_DIR).load(IENetwork(xml, binf))


def test_affinity_naming_a_device_outside_the_list(mlp_ir):
    xml, binf = mlp_ir
    net = IENetwork(xml, binf)
    net.layers["fc1"].affinity = "GPU"
    with pytest.raises(errors.DeviceNotFoundError, match="layer 'fc1' .*'GPU'.*BOX, REFERENCE"):
        IEPlugin("HETERO:BOX,REFERENCE", plugin_dirs=PLUGIN_DIR).load(net)


def test_layers_without_affinity_get_the_default(mlp_ir, vector):
    xml, binf = mlp_ir
    net = IENetwork(xml, binf)
    net.layers["relu1"].affinity = "REFERENCE"
    exec_net = IEPlugin("HETERO:BOX,REFERENCE", plugin_dirs=PLUGIN_DIR).load(net, config={"PERF_COUNT": "YES"})
    res = exec_net.infer({"data": vector})
    assert_close(res["prob"], openvino_infer(xml, {"data": vector})[0])
    devices = {name: pc["exec_type"].split("/")[0] for name, pc in exec_net.requests[0].get_perf_counts().items()
               if pc["status"] == "EXECUTED" and pc["layer_type"] not in ("Parameter", "Result")}
    assert devices == {"fc0": "BOX", "fc0/bias": "BOX", "relu0": "BOX", "fc1": "BOX", "fc1/bias": "BOX",
                       "relu1": "REFERENCE", "fc2": "BOX", "fc2/bias": "BOX", "relu2": "BOX", "prob": "REFERENCE"}


# --------------------------------------------------------------------------- the original's errors


def test_target_fallback_must_be_defined(mlp_ir, vector):
    xml, binf = mlp_ir
    plugin = IEPlugin("HETERO")
    message = "The 'TARGET_FALLBACK' option was not defined for heterogeneous plugin"
    with pytest.raises(errors.ConfigError, match=message):
        plugin.set_initial_affinity(IENetwork(xml, binf))
    with pytest.raises(errors.ConfigError, match=message):
        plugin.load(IENetwork(xml, binf))
    exec_net = plugin.load(IENetwork(xml, binf), config={"TARGET_FALLBACK": "REFERENCE"})
    assert_close(exec_net.infer({"data": vector})["prob"], openvino_infer(xml, {"data": vector})[0])
    plugin.set_config({"TARGET_FALLBACK": "HETERO:REFERENCE"})
    assert plugin.get_config("TARGET_FALLBACK") == "HETERO:REFERENCE"
    plugin.set_initial_affinity(IENetwork(xml, binf))


def test_unknown_device_in_the_fallback_list(mlp_ir):
    xml, binf = mlp_ir
    plugin = IEPlugin("HETERO:NOSUCHDEV,REFERENCE")
    with pytest.raises(errors.DeviceNotFoundError, match="HETERO fallback device NOSUCHDEV.*Unknown plugin: NOSUCHDEV"):
        plugin.set_initial_affinity(IENetwork(xml, binf))
    with pytest.raises(errors.DeviceNotFoundError, match="NOSUCHDEV"):
        plugin.load(IENetwork(xml, binf))


@pytest.mark.parametrize("value", ["CPU;REFERENCE", "REFERENCE,,CPU", "HETERO:HETERO,CPU", "REFERENCE,reference"])
def test_malformed_fallback_lists(value):
    with pytest.raises(errors.ConfigError, match="TARGET_FALLBACK"):
        IEPlugin("HETERO").set_config({"TARGET_FALLBACK": value})


def test_set_initial_affinity_only_on_hetero(mlp_ir):
    xml, binf = mlp_ir
    with pytest.raises(errors.NotSupportedError, match="set_initial_affinity method applicable only for HETERO device"):
        IEPlugin("REFERENCE").set_initial_affinity(IENetwork(xml, binf))


def test_add_cpu_extension_needs_a_device_with_extensions(tmp_path):
    plugin = IEPlugin("HETERO:BOX,REFERENCE", plugin_dirs=PLUGIN_DIR)
    with pytest.raises(errors.NotSupportedError, match="add_cpu_extension method applicable only for CPU or HETERO"):
        plugin.add_cpu_extension(str(tmp_path / "libx.so"))


@requires_cpu
def test_add_cpu_extension_reaches_the_cpu(tmp_path):
    missing = tmp_path / "libmissing.so"
    with pytest.raises(errors.ExtensionError, match="libmissing.so"):
        IEPlugin("HETERO:REFERENCE,CPU").add_cpu_extension(str(missing))


# --------------------------------------------------------------------------- configuration


@requires_cpu
def test_config_keys_reach_the_devices_that_accept_them(mlp_ir, vector, box_trace):
    xml, binf = mlp_ir
    plugin = IEPlugin("HETERO:BOX,CPU", plugin_dirs=PLUGIN_DIR)
    plugin.set_config({"BOX_OUTPUT_PRECISION": "FP16", "CPU_THREADS_NUM": "1", "PERF_COUNT": "YES"})
    assert plugin.get_config("BOX_OUTPUT_PRECISION") == "FP16" and plugin.get_config("CPU_THREADS_NUM") == "1"
    assert plugin.get_config("CPU_BIND_THREAD") == "NO"  # a device's own default, read through HETERO
    keys = set(plugin.get_metric("SUPPORTED_CONFIG_KEYS"))
    assert {"BOX_OUTPUT_PRECISION", "CPU_THREADS_NUM", "TARGET_FALLBACK"} <= keys
    exec_net = plugin.load(IENetwork(xml, binf))
    device, config = box_trace.configs[-1]
    assert device == "BOX" and config["BOX_OUTPUT_PRECISION"] == "FP16" and config["PERF_COUNT"] == "YES"
    assert "CPU_THREADS_NUM" not in config and "TARGET_FALLBACK" not in config
    res = exec_net.infer({"data": vector})
    assert_close(res["prob"], openvino_infer(xml, {"data": vector})[0], tol=1e-3)  # relu2 crossed in FP16
    assert all(pc["status"] == "EXECUTED" for name, pc in exec_net.requests[0].get_perf_counts().items()
               if name in ("fc0", "prob"))  # PERF_COUNT reached both devices
    plugin.load(IENetwork(xml, binf), config={"BOX_OUTPUT_PRECISION": "FP32"})
    assert box_trace.configs[-1][1]["BOX_OUTPUT_PRECISION"] == "FP32"
    assert plugin.get_config("BOX_OUTPUT_PRECISION") == "FP16"


@requires_cpu
def test_config_errors(mlp_ir):
    xml, binf = mlp_ir
    plugin = IEPlugin("HETERO:BOX,CPU", plugin_dirs=PLUGIN_DIR)
    with pytest.raises(errors.ConfigError, match="Unsupported property NO_SUCH_KEY by HETERO plugin.*BOX, CPU"):
        plugin.set_config({"NO_SUCH_KEY": "1"})
    with pytest.raises(errors.ConfigError, match="CPU_THREADS_NUM"):
        plugin.set_config({"CPU_THREADS_NUM": "many"})
    with pytest.raises(errors.ConfigError, match="HETERO_DUMP_GRAPH_DOT"):
        plugin.load(IENetwork(xml, binf), config={"HETERO_DUMP_GRAPH_DOT": "maybe"})
    with pytest.raises(errors.ConfigError, match="NO_SUCH_KEY"):
        plugin.get_config("NO_SUCH_KEY")
    with pytest.raises(errors.ConfigError, match="Unsupported property CPU_THREADS_NUM.*TARGET_FALLBACK"):
        IEPlugin("HETERO").set_config({"CPU_THREADS_NUM": "1"})
