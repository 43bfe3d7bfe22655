"""The malformed-model corpus on every installed device: each bad file (tests/malformed_models.py) raises the
specific ie_core error that names the problem, and the file when the reader refuses it."""

import numpy as np
import pytest
from helpers import DEVICES, assert_close, openvino_infer
from malformed_models import malformed_cases, valid_models, write

from ie_core import IENetwork, IEPlugin
from ie_core.errors import IEError

CASES = malformed_cases()
INPUT = np.random.default_rng(3).standard_normal((1, 3, 8, 8)).astype(np.float32)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("base", sorted(valid_models()))
def test_the_valid_models_run(base, device, tmp_path):
    xml, weights = write(valid_models()[base], tmp_path)
    prob = IEPlugin(device).load(IENetwork(xml, weights)).infer({"data": INPUT})["prob"]
    if base == "v11":
        assert_close(prob, openvino_infer(xml, {"data": INPUT})[0])
    assert prob.shape == (1, 10) and np.isclose(prob.sum(), 1, rtol=1e-5) and (prob >= 0).all()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_malformed_file(case, device, tmp_path):
    xml, weights = write(case.model, tmp_path)
    stage = "read"
    with pytest.raises(IEError) as info:
        net = IENetwork(xml, weights)
        stage = "load"
        IEPlugin(device).load(net).infer({"data": INPUT})
    assert isinstance(info.value, case.error), f"{type(info.value).__name__}: {info.value}"
    assert info.match(case.match)
    if stage == "read":
        assert xml in str(info.value)
