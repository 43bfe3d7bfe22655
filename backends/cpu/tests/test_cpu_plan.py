"""The CPU device's plan: honest layer support, visible fallbacks, failures that are not hidden."""

import logging

import numpy as np
import pytest

pytest.importorskip("ie_backend_cpu")

from ie_backend_cpu import fusion  # noqa: E402

from ie_core import IENetwork, IEPlugin  # noqa: E402
from ie_core.errors import InferenceError  # noqa: E402
from ie_core.testing import NetBuilder, assert_matches  # noqa: E402


def _network(tmp_path):
    """A Convolution with bias and ReLU (a native program), an Einsum and an int32 Add (no native kernel)."""
    b = NetBuilder("plan")
    x = b.parameter((1, 2, 5, 5), name="x")
    rng = np.random.default_rng(3)
    y = b.op("Convolution", x, rng.standard_normal((2, 2, 3, 3)).astype(np.float32), strides=(1, 1),
             pads_begin=(1, 1), pads_end=(1, 1), dilations=(1, 1), name="conv")
    y = b.op("Relu", b.op("Add", y, np.ones((1, 2, 1, 1), np.float32), name="bias"), name="relu")
    y = b.op("Einsum", y, y, version="opset7", equation="nchw,nchw->nc", name="einsum")
    i = b.op("Add", b.parameter((3,), "i32", name="i"), np.arange(3, dtype=np.int32), name="int_add")
    b.result(y, i)
    xml, weights = b.write(tmp_path)
    return IENetwork(xml, weights)


def test_query_says_what_runs_natively_and_why_not(tmp_path):
    support = IEPlugin("CPU").query(_network(tmp_path))
    assert support["conv"].native and support["conv"].exec_type not in ("", "ref_numpy")
    assert support["bias"].fused_into == "conv" and support["relu"].fused_into == "conv"
    assert not support["einsum"].native and support["einsum"].reason == "no oneDNN kernel for Einsum"
    assert not support["int_add"].native and support["int_add"].reason == "i32 input"
    assert support["int_add"].precision == "I32" and support["conv"].precision == "FP32"


def test_fallbacks_show_in_perf_counts_and_the_debug_log(tmp_path, caplog):
    net = _network(tmp_path)
    with caplog.at_level(logging.DEBUG, logger="ie_backend_cpu"):
        exec_net = IEPlugin("CPU").load(net, config={"PERF_COUNT": "YES"})
    request = exec_net.requests[0]
    inputs = {"x": np.ones((1, 2, 5, 5), np.float32), "i": np.arange(3, dtype=np.int32)}
    request.infer(inputs)
    counts = request.get_perf_counts()
    assert counts["einsum"]["exec_type"] == counts["int_add"]["exec_type"] == "ref_numpy"
    logged = caplog.text
    assert "'einsum' (Einsum) runs the numpy reference: no oneDNN kernel for Einsum" in logged
    assert "'int_add' (Add) runs the numpy reference: i32 input" in logged
    expected = IEPlugin("REFERENCE").load(net).infer(inputs)
    for name, value in expected.items():
        assert_matches(request.outputs[name], value, 1e-5, name)


def test_native_failures_are_wrapped_naming_the_layers(tmp_path):
    exec_net = IEPlugin("CPU").load(_network(tmp_path))
    model = exec_net._compiled
    state = model.executor.new_state()
    with pytest.raises(InferenceError, match="layer 'conv' .*failed: ValueError"):
        model.executor.run({"x": np.ones(7, np.float32), "i": np.zeros(3, np.int32)}, False, state)


def test_a_bug_in_fusion_matching_is_not_hidden(tmp_path, monkeypatch):
    def broken(node):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(fusion, "conv_params", broken)
    with pytest.raises(ZeroDivisionError):
        IEPlugin("CPU").load(_network(tmp_path))


def test_a_reference_kernels_scalar_result_feeds_a_native_kernel(tmp_path):
    """numpy gives a scalar, not an array, for some 0-d results (here the reference's Swish of a u8 index); the
    native Gather reading it took only arrays and failed (a cpu_vs_reference fuzz finding)."""
    b = NetBuilder("scalar_index")
    index = b.op("Swish", b.parameter((), "u8", name="i"), name="index")
    b.result(b.op("Gather", b.parameter((5, 3), name="x"), index, np.array(0, np.int64), version="opset8",
                  name="row", batch_dims=0))
    xml, weights = b.write(tmp_path)
    net = IENetwork(xml, weights)
    exec_net = IEPlugin("CPU").load(net, config={"PERF_COUNT": "YES"})
    inputs = {"x": np.arange(15, dtype=np.float32).reshape(5, 3), "i": np.array(3, np.uint8)}
    request = exec_net.requests[0]
    request.infer(inputs)
    counts = request.get_perf_counts()
    assert counts["index"]["exec_type"] == "ref_numpy" and counts["row"]["exec_type"].startswith("native:gather")
    np.testing.assert_array_equal(request.outputs["row"], IEPlugin("REFERENCE").load(net).infer(inputs)["row"])
