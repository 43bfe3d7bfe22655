"""Whole models on MYRIAD against OpenVINO f32: the error is bounded by FP16's rounding.

Every tensor the stick stores (its inputs, weights, each layer's output) carries a
relative rounding error of at most u = 2^-11, binary16's unit roundoff. The
roundings of successive layers are independent, so along a path of D layers their
effects add in quadrature, about u * sqrt(D) in relative L2 for layers that pass
relative errors on with a gain near 1; the bound allows a factor 4 for the layers'
gain: rel_L2 <= 4 * u * sqrt(D) (D: resnet50 168, mobilenet_v2 152, the BERT
encoder 126).
"""

import numpy as np
import pytest

import models
from helpers import openvino_infer, rel_l2
from device_nets import depth, model_ir
from ie_core import IENetwork, IEPlugin

FP16_U = 2.0**-11


@pytest.fixture(scope="module")
def ir(tmp_path_factory):
    return model_ir(tmp_path_factory)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2", "bert_encoder"])
def test_model_error_is_bounded_by_fp16(ir, name, record_property):
    xml = ir(name)
    inputs = models.make_inputs(name)
    expected = openvino_infer(xml, inputs)[0]
    net = IENetwork(xml)
    out = IEPlugin("MYRIAD").load(net).infer(inputs)[net.outputs[0]]
    error, limit = rel_l2(out, expected), 4 * FP16_U * np.sqrt(depth(xml))
    record_property("rel_l2", error)
    print(f"{name} on MYRIAD: relative L2 {error:.3g} (bound {limit:.3g})")
    assert np.isfinite(out).all() and 1e-6 < error <= limit
