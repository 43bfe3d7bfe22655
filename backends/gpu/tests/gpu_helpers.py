"""Shared by the GPU tests: single-op models checked against OpenVINO f32 on the GPU device."""

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from helpers import assert_close, openvino_infer, save_ir
from ie_core import IENetwork, IEPlugin

#: relative L2 error allowed against OpenVINO f32 (FP32 kernels)
TOL = 1e-4
#: ... with INFERENCE_PRECISION_HINT=f16 (tensors stored as half): one layer, a whole network
TOL_F16 = 3e-3
TOL_F16_MODEL = 3e-2

RNG = np.random.default_rng(7)


def rand(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def const(value, dtype=np.float32):
    return ops.constant(np.asarray(value, dtype=dtype))


def gpu_infer(xml, inputs, config=None, num_requests=1):
    """(outputs in the network's output order, the ExecutableNetwork) of the IR at ``xml`` on GPU."""
    net = IENetwork(xml)
    exec_net = IEPlugin("GPU").load(net, num_requests=num_requests, config=config)
    result = exec_net.infer(inputs)
    return [result[name] for name in net.outputs], exec_net


def check(build, *arrays, tmp_path, names=None, tol=TOL, config=None):
    """Build a model from Parameters shaped like ``arrays`` (``build(*params)`` returns its output
    node(s)), run it on GPU and compare every output with OpenVINO f32. Returns the ExecutableNetwork."""
    names = names or [f"in{i}" for i in range(len(arrays))]
    params = [ops.parameter(list(a.shape), ov.Type(a.dtype), name=n) for a, n in zip(arrays, names)]
    node = build(*params)
    nodes = node if isinstance(node, (list, tuple)) else [node]
    outputs = [o for n in nodes for o in (n.outputs() if hasattr(n, "outputs") else [n])]
    xml, _ = save_ir(ov.Model(outputs, params), tmp_path)
    inputs = dict(zip(names, arrays))
    expected = openvino_infer(xml, inputs)
    actual, exec_net = gpu_infer(xml, inputs, config)
    assert len(actual) == len(expected)
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert_close(a, e, tol, what=f"GPU output {i}")
    return exec_net


def executed_types(exec_net):
    """{exec_type} of the layers that ran in the last inference of request 0."""
    return {pc["exec_type"] for pc in exec_net.requests[0].get_perf_counts().values() if pc["status"] == "EXECUTED"}
