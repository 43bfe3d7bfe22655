"""HETERO partitioning: subgraphs in a valid order, diamonds, outputs across cuts, batch changes,
perf counts merged over devices, and the dot files."""

import numpy as np
import pytest

from box_device import PLUGIN_DIR
from helpers import assert_close, openvino_infer, save_ir
from hetero_models import branches, diamond, mlp, small_cnn
from ie_backend_hetero import partition
from ie_backend_hetero.partition import runnable_layers
from ie_core import IENetwork, IEPlugin, available_devices

requires_cpu = pytest.mark.skipif("CPU" not in available_devices(), reason="needs ie-backend-cpu")


def parts_of(net, affinity):
    """The subgraphs HETERO cuts ``net`` into with ``affinity`` (layer -> device), checked to be a valid
    execution order: every runnable layer in exactly one, each after the subgraphs it reads from."""
    graph = net._graph_for_load()
    parts = partition(graph, affinity)
    where = {name: k for k, (_, names) in enumerate(parts) for name in names}
    runnable = runnable_layers(graph)
    assert sorted(where) == sorted(n.name for n in runnable)
    assert sum(len(names) for _, names in parts) == len(runnable)
    for n in runnable:
        assert affinity[n.name] == parts[where[n.name]][0]
        for src in n.inputs:
            assert where.get(src.node.name, -1) <= where[n.name], f"{n.name} reads a later subgraph"
    return parts


def load_with(xml, binf, device, affinity, **load_args):
    net = IENetwork(xml, binf)
    for name, layer_device in affinity.items():
        net.layers[name].affinity = layer_device
    return IEPlugin(device, plugin_dirs=PLUGIN_DIR).load(net, **load_args)


@pytest.fixture
def vector():
    return np.random.default_rng(4).standard_normal((1, 16)).astype(np.float32)


def test_diamond_is_split_not_deadlocked(tmp_path, vector):
    xml, binf = save_ir(diamond(), tmp_path)
    affinity = {"a": "REFERENCE", "b": "BOX", "c": "REFERENCE", "d": "REFERENCE"}
    parts = parts_of(IENetwork(xml, binf), affinity)
    # {a, c} feeds b and b feeds d: merging d into {a, c} would make two subgraphs feed each other
    assert parts == [("REFERENCE", ["a", "c"]), ("BOX", ["b"]), ("REFERENCE", ["d"])]
    # BOX runs no Sigmoid: the same diamond with REFERENCE/CPU devices
    affinity = {"a": "CPU", "b": "REFERENCE", "c": "CPU", "d": "CPU"}
    assert [device for device, _ in parts_of(IENetwork(xml, binf), affinity)] == ["CPU", "REFERENCE", "CPU"]
    if "CPU" in available_devices():
        res = load_with(xml, binf, "HETERO:CPU,REFERENCE", affinity).infer({"data": vector})
        assert_close(res["d"], openvino_infer(xml, {"data": vector})[0])


def test_fewest_subgraphs_for_independent_branches(tmp_path, vector):
    xml, binf = save_ir(branches(), tmp_path)
    affinity = {"a1": "REFERENCE", "a2": "REFERENCE", "b1": "CPU", "b2": "CPU", "join": "REFERENCE"}
    # cutting the graph's order where the device changes gives at least 3 subgraphs; the a-branch and
    # join merge, and run after the b-branch they read
    assert parts_of(IENetwork(xml, binf), affinity) == [("CPU", ["b1", "b2"]), ("REFERENCE", ["a1", "a2", "join"])]
    if "CPU" in available_devices():
        res = load_with(xml, binf, "HETERO:CPU,REFERENCE", affinity).infer({"data": vector})
        assert_close(res["join"], openvino_infer(xml, {"data": vector})[0])


@requires_cpu
def test_alternating_affinities(tmp_path):
    xml, binf = save_ir(mlp(depth=4), tmp_path)
    net = IENetwork(xml, binf)
    runnable = [n.name for n in runnable_layers(net._graph_for_load())]
    affinity = {name: ("CPU", "REFERENCE")[i % 2] for i, name in enumerate(runnable)}
    assert len(parts_of(net, affinity)) == len(runnable)
    data = np.random.default_rng(5).standard_normal((1, 32)).astype(np.float32)
    exec_net = load_with(xml, binf, "HETERO:CPU,REFERENCE", affinity, num_requests=2)
    expected = openvino_infer(xml, {"data": data})[0]
    assert_close(exec_net.infer({"data": data})["prob"], expected)
    request = exec_net.start_async(1, {"data": data})
    assert request.wait() == 0
    assert_close(request.outputs["prob"], expected)


def test_output_produced_on_a_non_last_device(tmp_path):
    xml, binf = save_ir(mlp(extra_outputs=("relu1",)), tmp_path)
    net = IENetwork(xml, binf)
    assert net.outputs == ["prob", "relu1"]
    exec_net = IEPlugin("HETERO:BOX,REFERENCE", plugin_dirs=PLUGIN_DIR).load(net)
    data = np.random.default_rng(6).standard_normal((1, 32)).astype(np.float32)
    res = exec_net.infer({"data": data})
    expected = openvino_infer(xml, {"data": data})
    assert_close(res["prob"], expected[0])
    assert_close(res["relu1"], expected[1])  # made by BOX, which runs before REFERENCE's Softmax


def test_add_outputs_across_a_cut(tmp_path):
    xml, binf = save_ir(mlp(), tmp_path, "plain")
    reference_xml, _ = save_ir(mlp(extra_outputs=("relu1", "relu2")), tmp_path, "with_outputs")
    net = IENetwork(xml, binf)
    net.add_outputs(["relu1", "relu2"])  # relu2 is the tensor crossing from BOX to REFERENCE
    exec_net = IEPlugin("HETERO:BOX,REFERENCE", plugin_dirs=PLUGIN_DIR).load(net)
    data = np.random.default_rng(7).standard_normal((1, 32)).astype(np.float32)
    res = exec_net.infer({"data": data})
    expected = openvino_infer(reference_xml, {"data": data})
    for name, value in zip(("prob", "relu1", "relu2"), expected):
        assert_close(res[name], value, what=name)


def test_batch_size_change(tmp_path):
    xml, binf = save_ir(mlp(), tmp_path)
    net = IENetwork(xml, binf)
    net.batch_size = 3
    exec_net = IEPlugin("HETERO:BOX,REFERENCE", plugin_dirs=PLUGIN_DIR).load(net)
    data = np.random.default_rng(8).standard_normal((3, 32)).astype(np.float32)
    res = exec_net.infer({"data": data})
    assert res["prob"].shape == (3, 32)
    assert_close(res["prob"], openvino_infer(xml, {"data": data}, reshape={"data": [3, 32]})[0])


@requires_cpu
def test_cnn_batch_size_change_with_convolutions_elsewhere(tmp_path):
    xml, binf = save_ir(small_cnn(), tmp_path)
    net = IENetwork(xml, binf)
    net.batch_size = 2
    IEPlugin("HETERO:CPU,REFERENCE").set_initial_affinity(net)
    net.layers["conv2"].affinity = "REFERENCE"
    data = np.random.default_rng(9).standard_normal((2, 3, 12, 12)).astype(np.float32)
    res = IEPlugin("HETERO:CPU,REFERENCE").load(net).infer({"data": data})
    assert_close(res["prob"], openvino_infer(xml, {"data": data}, reshape={"data": [2, 3, 12, 12]})[0])


@requires_cpu
def test_perf_counts_merge_every_layer_once_with_its_device(tmp_path):
    xml, binf = save_ir(small_cnn(), tmp_path)
    image = np.random.default_rng(10).standard_normal((1, 3, 12, 12)).astype(np.float32)
    net = IENetwork(xml, binf)
    plugin = IEPlugin("HETERO:CPU,REFERENCE")
    plugin.set_initial_affinity(net)
    for layer in net.layers.values():
        if layer.type == "Convolution":
            layer.affinity = "REFERENCE"
    affinity = {name: layer.affinity for name, layer in net.layers.items()}
    exec_net = plugin.load(net, config={"PERF_COUNT": "YES"})
    exec_net.infer({"data": image})
    counts = exec_net.requests[0].get_perf_counts()
    cpu_net = IEPlugin("CPU").load(IENetwork(xml, binf), config={"PERF_COUNT": "YES"})
    cpu_net.infer({"data": image})
    cpu_counts = cpu_net.requests[0].get_perf_counts()
    assert set(counts) == set(cpu_counts)  # every layer once, no cut helpers
    for name, pc in counts.items():
        assert pc["layer_type"] == cpu_counts[name]["layer_type"]
        if pc["layer_type"] in ("Parameter", "Result", "Const"):
            assert "/" not in pc["exec_type"]
            continue
        device, _, exec_type = pc["exec_type"].partition("/")
        assert device == affinity[name] and exec_type, (name, pc)
    for name in ("conv1", "conv2", "norm1", "fc", "prob"):
        assert counts[name]["status"] == "EXECUTED" and counts[name]["real_time"] >= 0
    assert counts["conv1"]["exec_type"] == "REFERENCE/ref_numpy"
    assert counts["conv1/bias"]["exec_type"].startswith("CPU/")


def test_dot_files(tmp_path, monkeypatch):
    xml, binf = save_ir(mlp(), tmp_path)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    net = IENetwork(xml, binf)
    plugin = IEPlugin("HETERO:BOX,REFERENCE", plugin_dirs=PLUGIN_DIR)
    plugin.set_config({"HETERO_DUMP_GRAPH_DOT": "YES"})
    plugin.set_initial_affinity(net)
    affinity_dot = (work / "hetero_affinity.dot").read_text()
    assert affinity_dot.startswith('digraph "mlp" {') and affinity_dot.rstrip().endswith("}")
    assert '"fc0" [label="fc0\\nMatMul\\nBOX"' in affinity_dot
    assert '"prob" [label="prob\\nSoftMax\\nREFERENCE"' in affinity_dot
    assert '"relu0" -> "fc1";' in affinity_dot
    assert not (work / "hetero_subgraphs.dot").exists()
    net.layers["relu1"].affinity = "REFERENCE"
    plugin.load(net)
    subgraphs_dot = (work / "hetero_subgraphs.dot").read_text()
    assert subgraphs_dot.count("subgraph cluster_") == 4
    assert 'label="subgraph 1: REFERENCE";' in subgraphs_dot
    assert "relu1\\nReLU\\nREFERENCE" in (work / "hetero_affinity.dot").read_text()
