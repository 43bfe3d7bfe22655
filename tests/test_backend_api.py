"""The backend API carries what HETERO needs: parts of one network compiled on different devices."""

import numpy as np

from helpers import DEVICES, assert_close, openvino_infer, save_ir
from ie_core import IENetwork
from ie_core.plugins import default_registry
from test_api import mlp_model


def test_network_split_across_devices(tmp_path):
    xml, binf = save_ir(mlp_model(depth=4), tmp_path)
    net = IENetwork(xml, binf)
    graph = net._graph_for_load()
    names = [n.name for n in graph.nodes]
    cut = names.index("relu1") + 1
    first, second = set(names[:cut]), set(names[cut:])
    part1, in1, out1 = graph.subgraph(first)
    part2, in2, out2 = graph.subgraph(second)
    assert list(in1) == ["data"] and list(out1) == ["relu1"]
    assert list(in2) == ["relu1"] and list(out2) == ["prob"]

    devices = [DEVICES[-1], DEVICES[0]]
    requests = [
        default_registry().create(device).compile(part, {"PERF_COUNT": "NO"}, 1).create_request()
        for device, part in zip(devices, (part1, part2))
    ]
    data = np.random.default_rng(5).standard_normal((1, 64)).astype(np.float32)
    middle = requests[0].infer({"data": data})
    result = requests[1].infer({"relu1": middle["relu1"]})
    assert_close(result["prob"], openvino_infer(xml, {"data": data})[0])
