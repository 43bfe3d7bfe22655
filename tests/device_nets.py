"""Networks the emulated devices' tests (MYRIAD, FPGA) run: the bundled digits CNN and its test set,
the test models, their depth."""

import numpy as np
import openvino as ov

import models
from ie_core import IENetwork, IEPlugin
from ie_core.cli import DEFAULT_MODEL, DEFAULT_TEST_SET

DIGITS_XML = str(DEFAULT_MODEL)


def digits_test_set():
    data = np.load(DEFAULT_TEST_SET)
    return data["images"].astype(np.float32)[:, None], data["labels"]


def digits_accuracy(device, config=None):
    """Accuracy on the digits test set: on an ie-core device, or (device None) with OpenVINO f32."""
    images, labels = digits_test_set()
    if device is None:
        core = ov.Core()
        model = core.read_model(DIGITS_XML)
        model.reshape([len(images), *images.shape[1:]])
        compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        prob = np.asarray(compiled([images])[compiled.outputs[0]])
    else:
        net = IENetwork(DIGITS_XML)
        net.batch_size = len(images)
        prob = IEPlugin(device).load(net, config=config).infer({next(iter(net.inputs)): images})[net.outputs[0]]
    return float(np.mean(np.argmax(prob, axis=1) == labels))


def depth(xml):
    """The number of computing layers (not Parameter, Const or constant-folded) on the longest path."""
    graph = IENetwork(xml)._graph_for_load()
    layers_to = {}
    for node in graph.nodes:
        computes = node.type not in ("Parameter", "Const", "Result") and not node.is_constant()
        layers_to[node] = max((layers_to[s.node] for s in node.inputs), default=0) + computes
    return max(layers_to.values())


def model_ir(tmp_path_factory):
    """name -> fp32 IR path of a test model, built on first use (cached across sessions, see models.py)."""
    directory = models.model_dir(lambda: tmp_path_factory.mktemp("models"))
    return lambda name: models.build(name, directory)["fp32"]
