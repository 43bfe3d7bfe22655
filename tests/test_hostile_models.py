"""Hostile model files: shapes that overflow, tensors too large to exist, constants too large to fold.

Each case is a valid IR written by OpenVINO whose constant bytes are then patched,
as an attacker would; ie_core must refuse it with an IEError before allocating.
"""

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from helpers import DEVICES, save_ir
from ie_core import IENetwork, IEPlugin, errors, limits


def patched(model, tmp_path, old, new):
    """Save ``model`` and replace the bytes of the constant ``old`` in its .bin with ``new``."""
    xml, binf = save_ir(model, tmp_path)
    blob = open(binf, "rb").read()
    old_bytes, new_bytes = np.asarray(old).tobytes(), np.asarray(new, dtype=np.asarray(old).dtype).tobytes()
    assert blob.count(old_bytes) == 1 and len(old_bytes) == len(new_bytes)
    open(binf, "wb").write(blob.replace(old_bytes, new_bytes))
    return xml, binf


def test_reshape_whose_element_count_wraps_int64(tmp_path):
    data = ops.parameter([1, 4], np.float32, name="data")
    target = np.array([1, 4], np.int64)
    out = ops.matmul(ops.reshape(data, ops.constant(target), False), ops.constant(np.ones((4, 2), np.float32)), False, False)
    xml, binf = patched(ov.Model([out], [data]), tmp_path, target, [2**62 + 1, 4])
    with pytest.raises(errors.ShapeInferenceError, match="element counts differ") as exc:
        IENetwork(xml, binf)
    assert isinstance(exc.value, RuntimeError)


def test_broadcast_to_a_tensor_larger_than_the_limit(tmp_path):
    data = ops.parameter([1], np.float32, name="data")
    target = np.array([2, 3], np.int64)
    xml, binf = patched(ov.Model([ops.broadcast(data, ops.constant(target))], [data]), tmp_path, target, [100000, 100000])
    with pytest.raises(errors.ShapeInferenceError, match="40000000000 bytes.*IE_CORE_MAX_TENSOR_BYTES"):
        IENetwork(xml, binf)


def test_range_of_a_trillion_elements(tmp_path):
    data = ops.parameter([1], np.int64, name="data")
    stop = np.array(12345, np.int64)
    rng = ops.range(ops.constant(np.array(0, np.int64)), ops.constant(stop), ops.constant(np.array(1, np.int64)), "i64")
    out = ops.add(ops.reduce_sum(rng, ops.constant(np.array([0], np.int64))), data)
    xml, binf = patched(ov.Model([out], [data]), tmp_path, stop, 10**12)
    with pytest.raises(errors.ShapeInferenceError, match="limit"):
        IENetwork(xml, binf)


@pytest.mark.parametrize("device", DEVICES)
def test_constant_too_large_to_fold_runs_at_inference(tmp_path, monkeypatch, device):
    """A constant subgraph whose result exceeds FOLD_MAX_BYTES is computed when the network runs."""
    monkeypatch.setattr("ie_core.graph.FOLD_MAX_BYTES", 1000)
    data = ops.parameter([64, 64], np.float32, name="data")
    big = ops.broadcast(ops.constant(np.float32(2.0)), ops.constant(np.array([64, 64], np.int64)))
    xml, binf = save_ir(ov.Model([ops.multiply(data, big)], [data]), tmp_path)
    net = IENetwork(xml, binf)
    x = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    exec_net = IEPlugin(device).load(net, config={"PERF_COUNT": "YES"})
    np.testing.assert_array_equal(exec_net.infer({"data": x})[net.outputs[0]], 2 * x)
    broadcast = [pc for pc in exec_net.requests[0].get_perf_counts().values() if pc["layer_type"] == "Broadcast"]
    assert broadcast and broadcast[0]["status"] == "EXECUTED"


def test_limits_use_exact_integers():
    assert limits.tensor_bytes([2**62 + 1, 4], np.float32) == (2**62 + 1) * 16
    assert "invalid dimensions" in limits.shape_problem([2, -3], np.float32)


def test_wait_with_a_timeout_that_is_not_a_number(tmp_path):
    data = ops.parameter([1, 4], np.float32, name="data")
    xml, binf = save_ir(ov.Model([ops.relu(data)], [data]), tmp_path)
    request = IEPlugin("REFERENCE").load(IENetwork(xml, binf)).start_async(0, {"data": np.ones((1, 4))})
    with pytest.raises(errors.ParamsTypeError) as exc:
        request.wait("x")
    assert isinstance(exc.value, TypeError)
    assert request.wait() == 0
