"""Real IR v10/v11 files written by Model Optimizer (shared/fixtures/legacy_ir) against OpenVINO."""

from pathlib import Path

import numpy as np
import pytest

from helpers import DEVICES, assert_close, ie_infer, openvino_infer
from ie_core import IENetwork

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "legacy_ir"
MODERN = {
    "v10-test-model-fp32/test_model_fp32.xml": ("data", [1, 3, 32, 32]),
    "v11-open-closed-eye-0001-fp32/open-closed-eye-0001.xml": ("input.1", [1, 3, 32, 32]),
}

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared/fixtures is not beside the checkout")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("relpath", sorted(MODERN))
def test_modern_fixture_matches_openvino(relpath, device):
    xml = str(FIXTURES / relpath)
    name, shape = MODERN[relpath]
    net = IENetwork(model=xml)
    assert net.inputs == {name: shape}
    inputs = {name: np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)}
    expected = openvino_infer(xml, inputs)
    actual = ie_infer(xml, inputs, device)
    for a, e in zip(actual, expected):
        assert_close(a, e)
