"""Model-level correctness: whole networks exported torch -> ONNX -> OpenVINO IR, run by ie_core and by OpenVINO.

Every model is checked with fp32 weights and with weights compressed to fp16
(OpenVINO f32 runs the same compressed IR, so the same tolerance holds), on
every device in helpers.DEVICES. The IR is built once per session (and cached
across sessions, see tests/models.py); the big models are marked ``slow`` but
are not skipped.
"""

import numpy as np
import openvino as ov
import pytest

import models
from helpers import DEVICES, assert_close, ie_infer, openvino_infer, rel_l2
from ie_core import IENetwork, IEPlugin

TOL = 1e-5
PRECISIONS = ("fp32", "fp16")
SLOW = {"resnet50", "mobilenet_v2", "bert_encoder"}


def _model_param(name, *rest):
    marks = [pytest.mark.slow] if name in SLOW else []
    return pytest.param(name, *rest, marks=marks, id="-".join([name, *rest]))


def _params(names, precisions=PRECISIONS, devices=None):
    return [
        _model_param(name, precision, device)
        for name in names
        for precision in precisions
        for device in (devices if devices is not None else DEVICES)
    ]


@pytest.fixture(scope="session")
def ir(tmp_path_factory, record_testsuite_property):
    """ir(name) -> {"fp32": xml, "fp16": xml}, building the model's IR on first use."""
    directory = models.model_dir(lambda: tmp_path_factory.mktemp("models"))
    yield lambda name: models.build(name, directory)
    for name, seconds in models.BUILD_TIMES.items():  # in the JUnit XML report, if one is written
        record_testsuite_property(f"ir_build_seconds_{name}", f"{seconds:.1f}")


_EXPECTED = {}


def expected_outputs(xml, name, batch=1):
    """OpenVINO f32 outputs for the standard inputs of ``name`` (memoised per session)."""
    key = (xml, batch)
    if key not in _EXPECTED:
        inputs = models.make_inputs(name, batch)
        reshape = None
        if batch != 1:
            reshape = {k: [batch, *shape[1:]] for k, (shape, _) in models.INPUTS[name].items()}
        _EXPECTED[key] = openvino_infer(xml, inputs, reshape=reshape)
    return _EXPECTED[key]


def openvino_infer_with_layers(xml, inputs, layer_names):
    """OpenVINO f32 values of output port 0 of the layers named ``layer_names`` (friendly names)."""
    core = ov.Core()
    model = core.read_model(xml)
    by_name = {op.get_friendly_name(): op for op in model.get_ops()}
    missing = [n for n in layer_names if n not in by_name]
    assert not missing, f"OpenVINO has no layers {missing}"
    added = model.add_outputs([by_name[n].output(0) for n in layer_names])
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled([inputs[p.get_node().get_friendly_name()] for p in compiled.inputs])
    # add_outputs returns the model's new output ports in order; match them by index
    n_orig = len(compiled.outputs) - len(added)
    return [np.asarray(result[compiled.outputs[n_orig + i]]) for i in range(len(added))]


# ----------------------------------------------------------------------------------------------
# builders (OpenVINO alone: the IR is what the torch model computes)


@pytest.mark.parametrize("name", [_model_param(n) for n in models.MODELS])
def test_ir_matches_torch(ir, name):
    """OpenVINO on the fp32 IR agrees with the torch model it was exported from (guards the builders).

    Also: the output depends on the input well beyond the tolerance, so that an
    error anywhere in the network shows in the comparisons below.
    """
    import torch

    xml = ir(name)["fp32"]
    model = models.torch_model(name)

    def run(inputs):
        with torch.no_grad():
            return model(*[torch.from_numpy(inputs[k]) for k in models.INPUTS[name]]).numpy()

    ref = run(models.make_inputs(name))
    (out,) = expected_outputs(xml, name)
    assert_close(out, ref, TOL, what=f"OpenVINO {name} vs torch")
    other = run(models.make_inputs(name, seed=1))
    assert rel_l2(other, ref) > 0.05, f"{name}: output hardly depends on the input"


# ----------------------------------------------------------------------------------------------
# ie_core vs OpenVINO


@pytest.mark.parametrize("name,precision,device", _params(models.MODELS))
def test_model_matches_openvino(ir, name, precision, device):
    xml = ir(name)[precision]
    inputs = models.make_inputs(name)
    expected = expected_outputs(xml, name)
    actual = ie_infer(xml, inputs, device)
    assert len(actual) == len(expected), f"{len(actual)} outputs, OpenVINO has {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert a.dtype == np.float32, f"output {i} is {a.dtype}"
        assert_close(a, e, TOL, what=f"{name} {precision} on {device}, output {i}")


@pytest.mark.parametrize(
    "name,precision,device", _params(["small_cnn", "resnet50"], precisions=("fp32",))
    + _params(["mobilenet_v2"], precisions=("fp16",))
)
def test_batch_size(ir, name, precision, device):
    """net.batch_size = 4 re-shapes the whole network; compare with OpenVINO reshaped to batch 4."""
    xml = ir(name)[precision]
    net = IENetwork(model=xml, weights=xml[:-4] + ".bin")
    assert net.batch_size == 1
    net.batch_size = 4
    assert net.batch_size == 4
    assert list(net.inputs["data"]) == [4, *models.INPUTS[name]["data"][0][1:]]

    inputs = models.make_inputs(name, batch=4)
    expected = expected_outputs(xml, name, batch=4)
    actual = ie_infer(xml, inputs, device, batch_size=4)
    assert actual[0].shape[0] == 4
    assert_close(actual[0], expected[0], TOL, what=f"{name} batch 4 on {device}")
    # the images differ, so must the rows (a broadcast of row 0 would not)
    assert rel_l2(actual[0][1], actual[0][0]) > 1e-2


def _middle_layer(net, types):
    candidates = [n for n, layer in net.layers.items() if layer.type in types]
    assert candidates, f"no layers of types {types} in the network"
    return candidates[len(candidates) // 2]


@pytest.mark.parametrize(
    "name,types,device",
    [
        pytest.param("small_cnn", ("ReLU",), d, id=f"small_cnn-ReLU-{d}")
        for d in DEVICES
    ]
    + [
        pytest.param("mobilenet_v2", ("Clamp",), d, id=f"mobilenet_v2-Clamp-{d}", marks=pytest.mark.slow)
        for d in DEVICES
    ],
)
def test_add_outputs(ir, name, types, device):
    """An intermediate layer added with add_outputs returns OpenVINO's value of that layer."""
    xml = ir(name)["fp32"]
    net = IENetwork(model=xml, weights=xml[:-4] + ".bin")
    default_outputs = list(net.outputs)
    layer = _middle_layer(net, types)
    net.add_outputs(layer)
    assert net.outputs == default_outputs + [layer]

    inputs = models.make_inputs(name)
    res = IEPlugin(device).load(net).infer(inputs)
    assert set(res) == set(net.outputs)
    (expected_layer,) = openvino_infer_with_layers(xml, inputs, [layer])
    assert_close(res[layer], expected_layer, TOL, what=f"{name} layer {layer!r} on {device}")
    # the network's own output is unchanged by the extra output
    assert_close(res[default_outputs[0]], expected_outputs(xml, name)[0], TOL, what=f"{name} output on {device}")


# ----------------------------------------------------------------------------------------------
# sentence embeddings


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_bert_sentence_embedding(ir, device):
    """Rows are unit-norm embeddings, and tokens outside the attention mask do not change them."""
    xml = ir("bert_encoder")["fp32"]
    inputs = models.make_inputs("bert_encoder")
    assert (inputs["attention_mask"][0, -models.BERT_PADDING:] == 0).all()

    (emb,) = ie_infer(xml, inputs, device)
    assert emb.shape == (1, models.BERT_CONFIG["hidden"])
    np.testing.assert_allclose(np.linalg.norm(emb.astype(np.float64), axis=1), 1.0, atol=1e-5)

    changed = dict(inputs, input_ids=inputs["input_ids"].copy())
    changed["input_ids"][0, -models.BERT_PADDING:] = 1000  # masked positions only
    (emb_changed,) = ie_infer(xml, changed, device)
    assert rel_l2(emb_changed, emb) <= 1e-6, "tokens with attention_mask 0 changed the embedding"
