"""Weights at load: folded once and shared by the network's and the device's graphs, and the weights
file's pages out of the resident set once a device holds its own copy."""

import numpy as np
import pytest

from helpers import DEVICES, assert_close, openvino_infer, save_ir
from ie_core import IENetwork, IEPlugin
from ie_core.backend import release_pages
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
    assert mapped_kib(binf) < 64  # the fp16 weights decompressed at read are not kept resident
    exec_net = IEPlugin(device).load(net)
    if device == "CPU":
        assert mapped_kib(binf) < 64  # the device holds the weights reordered
    data = np.random.default_rng(1).standard_normal((1, 512)).astype(np.float32)
    assert_close(exec_net.infer({"data": data})["prob"], openvino_infer(xml, {"data": data})[0])
