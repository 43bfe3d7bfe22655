"""Hostile model files: shapes that overflow, tensors too large to exist or to fit, constants too large to fold,
XML tokens too long to parse, weights files too large to read.

Most cases are valid IRs whose bytes are then patched, as an attacker would; ie_core
must refuse them with an IEError before allocating.
"""

import mmap
import os

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from helpers import DEVICES, save_ir
from ie_core import IENetwork, IEPlugin, errors, limits
from ie_core.testing.irwriter import NetBuilder


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


@pytest.mark.parametrize("device", DEVICES)
def test_wait_with_a_timeout_that_is_not_a_number(tmp_path, device):
    data = ops.parameter([1, 4], np.float32, name="data")
    xml, binf = save_ir(ov.Model([ops.relu(data)], [data]), tmp_path)
    request = IEPlugin(device).load(IENetwork(xml, binf)).start_async(0, {"data": np.ones((1, 4))})
    with pytest.raises(errors.ParamsTypeError) as exc:
        request.wait("x")
    assert isinstance(exc.value, TypeError)
    assert request.wait() == 0


def relu_net(tmp_path, shape=(1, 4), **attrs):
    """A Parameter -> Relu network written by the core's IR writer."""
    b = NetBuilder("relu")
    b.result(b.op("Relu", b.parameter(shape, name="data"), name="relu", **attrs))
    return b.write(tmp_path)


def test_a_50_mb_attribute_is_refused_by_the_token_limit(tmp_path):
    xml, weights = relu_net(tmp_path)
    text = open(xml).read().replace('name="relu"', 'name="relu" junk="' + "x" * (50 << 20) + '"', 1)
    open(xml, "w").write(text)
    with pytest.raises(errors.IRError, match=f"{xml}: line 2: a token .* longer than the limit of 4194304 bytes "
                                             ".*IE_CORE_MAX_XML_TOKEN_BYTES"):
        IENetwork(xml, weights)


def test_tokens_up_to_the_limit_are_read(tmp_path, monkeypatch):
    monkeypatch.setattr("ie_core.ir.xmlparse.MAX_XML_TOKEN_BYTES", 8 << 20)
    xml, weights = relu_net(tmp_path, note="y" * (5 << 20))
    assert IENetwork(xml, weights).layers["relu"].params["note"] == "y" * (5 << 20)


def test_an_xml_file_larger_than_the_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("ie_core.ir.xmlparse.MAX_XML_BYTES", 100)
    xml, weights = relu_net(tmp_path)
    with pytest.raises(errors.IRError, match="more than the limit of 100 bytes.*IE_CORE_MAX_XML_BYTES"):
        IENetwork(xml, weights)


def resident_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc/self (Linux)")
def test_a_sparse_6_gb_weights_file_is_mapped_not_read(tmp_path):
    b = NetBuilder("sparse")
    x = b.parameter((1, 256), name="data")
    b.result(b.op("MatMul", x, np.ones((256, 256), np.float32), name="fc"))
    xml, weights = b.write(tmp_path)
    with open(weights, "r+b") as f:
        f.truncate(6 << 30)
    if os.stat(weights).st_blocks * 512 > 64 << 20:
        pytest.skip("the file system does not keep sparse files")
    before = resident_bytes()
    net = IENetwork(xml, weights)
    assert resident_bytes() - before < 64 << 20
    weight = next(n.values[0] for n in net._graph.nodes if n.type == "Const")
    assert not weight.flags.writeable
    base = weight
    while isinstance(base, np.ndarray):
        base = base.base
    assert isinstance(base, memoryview) and isinstance(base.obj, mmap.mmap)
    result = IEPlugin("REFERENCE").load(net).infer({"data": np.ones((1, 256), np.float32)})["fc"]
    np.testing.assert_array_equal(result, np.full((1, 256), 256, np.float32))


def test_a_pad_of_1e5_is_refused_at_read(tmp_path):
    b = NetBuilder("pad")
    pads = np.array([0, 0, 100000, 100000], np.int64)
    b.result(b.op("Pad", b.parameter((1, 1, 4, 4), name="data"), pads, pads, name="pad", pad_mode="constant"))
    with pytest.raises(errors.ShapeInferenceError, match="layer 'pad' .*160006400064 bytes, more than the limit"):
        b.write(tmp_path)


@pytest.mark.parametrize("attribute", ["dilations", "strides", "pads_begin"])
def test_window_attributes_beyond_32_bits_are_refused_at_read(tmp_path, attribute):
    """A fuzz finding: a 1x1 convolution with a dilation of 2**63 passed shape inference and reached the CPU
    backend's native binding as a TypeError."""
    b = NetBuilder("window")
    window = dict(strides=[1, 1], dilations=[1, 1], pads_begin=[0, 0], pads_end=[0, 0])
    window[attribute] = [2**63 if attribute != "pads_begin" else -(2**40), 1]
    b.result(b.op("Convolution", b.parameter((1, 8, 12, 1), name="data"), np.ones((8, 8, 1, 1), np.float32),
                  name="conv", **window))
    with pytest.raises(errors.ShapeInferenceError, match=f"layer 'conv' .*{attribute}=.* is out of range"):
        b.write(tmp_path)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["input", "pad"])
def test_tensors_that_do_not_fit_in_memory(kind, device, tmp_path, monkeypatch):
    """With the tensor limit raised, 4 EiB asked of the allocator: an OutOfMemoryError naming the layer (or
    input) and the bytes, when the network is loaded or run."""
    monkeypatch.setattr(limits, "MAX_TENSOR_BYTES", 1 << 63)
    b = NetBuilder(kind)
    if kind == "input":
        b.result(b.op("Relu", b.parameter((1 << 30, 1 << 30), name="data"), name="relu"))
        match = "(input 'data'|layer 'relu').* 4611686018427\\d{6} bytes"
    else:
        pads = np.array([0, 0, 1 << 29, 1 << 29], np.int64)
        b.result(b.op("Pad", b.parameter((1, 1, 4, 4), name="data"), pads, pads, name="pad", pad_mode="constant"))
        match = "layer 'pad' .*its outputs take 4611686052787126336 bytes"
    net = IENetwork(*b.write(tmp_path))
    with pytest.raises(errors.OutOfMemoryError, match=match) as info:
        IEPlugin(device).load(net).infer({"data": np.ones((1, 1, 4, 4), np.float32)})
    assert isinstance(info.value, MemoryError)
