"""Weights at load: folded once and shared by the network's and the device's graphs, fp16-compressed
weights decompressed only while a reader holds them, and the weights file's pages out of the resident set
once a device holds its own copy."""

import gc
import weakref

import numpy as np
import pytest

from helpers import DEVICES, assert_close, openvino_infer, save_ir
from ie_core import IENetwork, IEPlugin
from ie_core.backend import release_pages
from ie_core.graph import Decompressed
from test_api import mlp_model


def mapped_kib(path):
    """KiB of the file ``path`` resident in this process's mappings of it (/proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5:
                inside = fields[-1] == path
            elif inside and fields[0] == "Rss:":
                total += int(fields[1])
    return total


@pytest.fixture(scope="module")
def wide_mlp(tmp_path_factory):
    """An MLP with 1 MiB weight matrices, f32 and fp16-compressed: {"fp32": (xml, bin), "fp16": (xml, bin)}."""
    directory = tmp_path_factory.mktemp("wide_mlp")
    return {
        "fp32": save_ir(mlp_model(width=512, depth=4), directory, "fp32"),
        "fp16": save_ir(mlp_model(width=512, depth=4), directory, "fp16", compress_to_fp16=True),
    }


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_load_graph_shares_the_networks_constants(wide_mlp, precision):
    net = IENetwork(*wide_mlp[precision])
    read = {n.name: n for n in net._graph.nodes}
    graph = net._graph_for_load()
    decompressed = [n for n in graph.nodes if n.type == "Convert"]
    assert len(decompressed) == (8 if precision == "fp16" else 0)
    for n in graph.nodes:
        for mine, theirs in zip(n.values, read[n.name].values):
            assert mine is theirs
            assert mine is None or not mine.flags.writeable


def test_reshaped_network_is_inferred_again(wide_mlp):
    net = IENetwork(*wide_mlp["fp16"])
    assert net._graph_for_load().node("fc0").output_shapes[0] == (1, 512)
    net.batch_size = 3
    assert net._graph_for_load().node("fc0").output_shapes[0] == (3, 512)


def test_release_pages_keeps_the_values(wide_mlp):
    xml, binf = wide_mlp["fp32"]
    net = IENetwork(xml, binf)
    weights = net.layers["fc0"].weights["weights"]
    expected = weights.copy()
    assert mapped_kib(binf) >= weights.nbytes // 1024
    release_pages(weights)
    assert mapped_kib(binf) < weights.nbytes // 1024
    np.testing.assert_array_equal(weights, expected)
    release_pages(expected)  # not a view of a weights file: nothing to do


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("device", DEVICES)
def test_weights_file_pages_leave_the_resident_set(wide_mlp, precision, device):
    xml, binf = wide_mlp[precision]
    net = IENetwork(xml, binf)
    assert mapped_kib(binf) < 64  # reading the network leaves the weights on disk
    exec_net = IEPlugin(device).load(net)
    if device == "CPU":
        assert mapped_kib(binf) < 64  # the device holds the weights reordered
    data = np.random.default_rng(1).standard_normal((1, 512)).astype(np.float32)
    assert_close(exec_net.infer({"data": data})["prob"], openvino_infer(xml, {"data": data})[0])


def test_fp16_weights_are_decompressed_when_read(wide_mlp):
    """The network keeps the float16 weights only; reading a Convert's value gives the exact float32 widening,
    the same array while a reader holds it, and nothing once no one does."""
    net = IENetwork(*wide_mlp["fp16"])
    stored = {n.name: n.stored_value(0) for n in net._graph.nodes if n.type == "Convert"}
    weights = [name for name, value in stored.items() if isinstance(value, Decompressed)]
    assert len(weights) == 4 and len(stored) == 8  # 512x512 weights; the 512 biases are small: kept folded
    assert all(net._graph.node(name).is_constant() for name in weights)
    fc0 = net.layers["fc0"].weights["weights"]
    compressed = net._graph.node(net._graph.node("fc0").inputs[1].node.name).inputs[0].node.values[0]
    assert fc0.dtype == np.float32 and not fc0.flags.writeable
    np.testing.assert_array_equal(fc0, compressed.astype(np.float32))
    assert net.layers["fc0"].weights["weights"] is fc0
    held = weakref.ref(fc0)
    del fc0
    gc.collect()
    assert held() is None


@pytest.mark.parametrize("device", DEVICES)
def test_devices_hold_decompressed_weights_one_layer_at_a_time(wide_mlp, device, monkeypatch):
    """Loading computes each fp16 layer's float32 weights once; the CPU device drops each once it has its
    own copy, so that at most one layer's are alive during the load and none after it."""
    computed = []
    compute = Decompressed.compute

    def recorded(self):
        value = compute(self)
        if not any(ref() is value for ref in computed):
            computed.append(weakref.ref(value))
        recorded.most_alive = max(recorded.most_alive, sum(ref() is not None for ref in computed))
        return value

    recorded.most_alive = 0
    monkeypatch.setattr(Decompressed, "compute", recorded)
    net = IENetwork(*wide_mlp["fp16"])
    assert not computed
    exec_net = IEPlugin(device).load(net)
    assert len(computed) == 4  # the four MatMuls' weights
    if device == "CPU":
        gc.collect()
        assert recorded.most_alive <= 2 and not any(ref() is not None for ref in computed)
    data = np.random.default_rng(2).standard_normal((1, 512)).astype(np.float32)
    assert_close(exec_net.infer({"data": data})["prob"], openvino_infer(wide_mlp["fp16"][0], {"data": data})[0])
