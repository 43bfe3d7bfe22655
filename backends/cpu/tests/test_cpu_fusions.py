"""The CPU backend's load-time compilation: fusions, blocked layouts, memory planning, bf16, perf counts.

Every network is compared with OpenVINO's f32 CPU inference; the perf counts
show which layers were fused (OPTIMIZED_OUT) and which ran (a oneDNN
implementation name). Skipped when the backend is not installed.
"""

import re

import numpy as np
import pytest

ie_backend_cpu = pytest.importorskip("ie_backend_cpu")

import openvino as ov  # noqa: E402
import openvino.opset13 as ops  # noqa: E402

from helpers import assert_close, openvino_infer, rel_l2, save_ir  # noqa: E402
from ie_core import IENetwork, IEPlugin  # noqa: E402

RNG = np.random.default_rng(1)
ONEDNN_IMPL = re.compile(r"^(?!ref_numpy$|unknown$|undef$)[a-z][A-Za-z0-9_:]*$")


# oneDNN's instruction set (the CPU's, capped by ONEDNN_MAX_CPU_ISA) from avx512_core_bf16 up
needs_bf16 = pytest.mark.skipif(
    ie_backend_cpu.cpu_isa() not in ie_backend_cpu.BF16_ISAS,
    reason=f"bf16 speed paths need avx512_bf16 or AMX; oneDNN's instruction set here is {ie_backend_cpu.cpu_isa()} "
           "(the CPU's, capped by ONEDNN_MAX_CPU_ISA)")


def rand(*shape, low=-1.0, high=1.0):
    return RNG.uniform(low, high, size=shape).astype(np.float32)


def param(shape, name="x"):
    return ops.parameter(list(shape), np.float32, name=name)


def conv(x, cin, cout, k=3, stride=1, pad=None):
    pad = k // 2 if pad is None else pad
    w = ops.constant((rand(cout, cin, k, k) / np.sqrt(cin * k * k)).astype(np.float32))
    return ops.convolution(x, w, [stride, stride], [pad, pad], [pad, pad], [1, 1])


def bias(y, c):
    return ops.add(y, ops.constant(rand(1, c, 1, 1)))


def load(model, tmp_path, config=None, name="model"):
    xml, _ = save_ir(model, tmp_path, name)
    plugin = IEPlugin("CPU")
    plugin.set_config({"PERF_COUNT": "YES", **(config or {})})
    exec_net = plugin.load(IENetwork(model=xml, weights=xml[:-4] + ".bin"))
    return xml, exec_net


def check(outputs, params, inputs, tmp_path, executed=(), fused=(), config=None, tol=1e-5):
    """Run on the CPU device and OpenVINO f32; ``executed``/``fused``: layer types that must
    run natively / be OPTIMIZED_OUT. Returns (perf counts, the compiled model)."""
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    outputs = [o.output(0) if hasattr(o, "output") else o for o in outputs]
    model = ov.Model(outputs, params, "m")
    xml, exec_net = load(model, tmp_path, config)
    expected = openvino_infer(xml, inputs)
    request = exec_net.requests[0]
    request.infer(inputs)
    net_outputs = list(IENetwork(model=xml, weights=xml[:-4] + ".bin").outputs)
    for i, (name, e) in enumerate(zip(net_outputs, expected)):
        assert_close(request.outputs[name], e, tol, what=f"output {i}")
    counts = request.get_perf_counts()
    by_type = {}
    for pc in counts.values():
        by_type.setdefault(pc["layer_type"].lower(), []).append(pc)
    for kind in executed:
        entries = by_type.get(kind.lower())
        assert entries, f"no {kind} layer in {sorted(by_type)}"
        for pc in entries:
            assert pc["status"] == "EXECUTED" and ONEDNN_IMPL.match(pc["exec_type"]), pc
    for kind in fused:
        entries = by_type.get(kind.lower())
        assert entries, f"no {kind} layer in {sorted(by_type)}"
        for pc in entries:
            assert pc["status"] == "OPTIMIZED_OUT", pc
    return counts, exec_net._compiled


def steps(compiled):
    """(layer, impl, primitives run) of every step of the compiled model's native programs."""
    return [s for p in compiled.plan.programs for s in p.steps()]


# --------------------------------------------------------------------------- convolution fusions


def test_conv_bias(tmp_path):
    x = param((1, 8, 12, 12))
    y = bias(conv(x, 8, 16), 16)
    check(y, [x], {"x": rand(1, 8, 12, 12)}, tmp_path, executed=["Convolution"], fused=["Add"])


def test_conv_relu(tmp_path):
    x = param((1, 8, 12, 12))
    y = ops.relu(conv(x, 8, 16))
    check(y, [x], {"x": rand(1, 8, 12, 12)}, tmp_path, executed=["Convolution"], fused=["Relu"])


def test_conv_clamp(tmp_path):
    x = param((1, 8, 12, 12))
    y = ops.clamp(bias(conv(x, 8, 16), 16), 0.0, 6.0)
    check(y, [x], {"x": rand(1, 8, 12, 12, low=-8, high=8)}, tmp_path, executed=["Convolution"],
          fused=["Add", "Clamp"])


@pytest.mark.parametrize("act", ["sigmoid", "swish", "hswish", "gelu", "tanh", "elu", "hsigmoid", "mish"])
def test_conv_activation(act, tmp_path):
    x = param((1, 8, 10, 10))
    y = bias(conv(x, 8, 16), 16)
    y = {
        "sigmoid": lambda t: ops.sigmoid(t),
        "swish": lambda t: ops.swish(t),
        "hswish": lambda t: ops.hswish(t),
        "gelu": lambda t: ops.gelu(t, "erf"),
        "tanh": lambda t: ops.tanh(t),
        "elu": lambda t: ops.elu(t, 0.5),
        "hsigmoid": lambda t: ops.hsigmoid(t),
        "mish": lambda t: ops.mish(t),
    }[act](y)
    counts, _ = check(y, [x], {"x": rand(1, 8, 10, 10, low=-3, high=3)}, tmp_path, executed=["Convolution"],
                      fused=["Add"])
    assert all(pc["status"] == "OPTIMIZED_OUT" for pc in counts.values()
               if pc["layer_type"].lower() not in ("convolution", "parameter", "const", "result"))


def test_conv_scale_shift(tmp_path):
    """BatchNorm as Multiply + Add by per-channel constants: folded into the weights and bias."""
    x = param((1, 8, 10, 10))
    y = ops.multiply(conv(x, 8, 16), ops.constant(rand(1, 16, 1, 1, low=0.5, high=2.0)))
    y = ops.relu(bias(y, 16))
    check(y, [x], {"x": rand(1, 8, 10, 10)}, tmp_path, executed=["Convolution"], fused=["Multiply", "Add", "Relu"])


def test_conv_residual_add(tmp_path):
    x = param((1, 16, 10, 10))
    y = ops.add(conv(x, 16, 16), x)
    check(y, [x], {"x": rand(1, 16, 10, 10)}, tmp_path, executed=["Convolution"], fused=["Add"])


def test_conv_bias_add_relu(tmp_path):
    """A ResNet bottleneck: conv-bias-relu x2, conv-bias + shortcut, relu; the sum runs in place."""
    x = param((1, 16, 14, 14))
    a = ops.relu(bias(conv(x, 16, 32), 32))
    y = ops.relu(bias(conv(a, 32, 32, k=1), 32))
    y = bias(conv(y, 32, 16, k=1), 16)
    s = ops.relu(bias(conv(a, 32, 16, k=1), 16))  # a second branch
    y = ops.relu(ops.add(y, s))
    y = ops.relu(ops.add(bias(conv(y, 16, 16), 16), y))  # identity shortcut, dead afterwards
    counts, compiled = check(y, [x], {"x": rand(1, 16, 14, 14)}, tmp_path, executed=["Convolution"],
                             fused=["Add", "Relu"])
    assert sum(pc["status"] == "EXECUTED" and pc["layer_type"] == "Convolution" for pc in counts.values()) == 5
    # primitives per convolution: the first reorders the plain input; the sum of the second branch
    # runs in place in its buffer; the last convolution reads its own shortcut, which is copied first
    convs = [n for name, impl, n in steps(compiled) if not impl.startswith("reorder")]
    assert convs == [2, 1, 1, 1, 2], steps(compiled)


def test_residual_shortcut_still_needed(tmp_path):
    """The shortcut is read again after the sum: it must not be overwritten in place."""
    x = param((1, 16, 8, 8))
    a = ops.relu(conv(x, 16, 16))
    y = ops.add(conv(a, 16, 16), a)
    z = ops.multiply(a, ops.constant(rand(1, 16, 1, 1)))
    out = ops.add(ops.relu(y), ops.relu(z))
    check(out, [x], {"x": rand(1, 16, 8, 8)}, tmp_path, executed=["Convolution"])


def test_fused_intermediate_read_twice_is_not_fused(tmp_path):
    x = param((1, 8, 8, 8))
    c = bias(conv(x, 8, 8), 8)
    r = ops.relu(c)
    out = ops.concat([r, c], 1)  # c has two readers: the ReLU stays a layer of its own
    counts, _ = check(out, [x], {"x": rand(1, 8, 8, 8)}, tmp_path, executed=["Convolution", "Relu"], fused=["Add"])


def test_depthwise_relu6(tmp_path):
    """MobileNetV2's block: 1x1 expand + ReLU6, depthwise 3x3 + ReLU6, 1x1 project, residual."""
    x = param((1, 16, 14, 14))
    y = ops.clamp(bias(conv(x, 16, 64, k=1), 64), 0.0, 6.0)
    w = ops.constant(rand(64, 1, 1, 3, 3))
    y = ops.group_convolution(y, w, [1, 1], [1, 1], [1, 1], [1, 1])
    y = ops.clamp(bias(y, 64), 0.0, 6.0)
    y = ops.add(bias(conv(y, 64, 16, k=1), 16), x)
    check(y, [x], {"x": rand(1, 16, 14, 14, low=-3, high=3)}, tmp_path,
          executed=["Convolution", "GroupConvolution"], fused=["Add", "Clamp"])


def test_strided_depthwise(tmp_path):
    x = param((1, 24, 15, 15))
    y = ops.group_convolution(x, ops.constant(rand(24, 1, 1, 3, 3)), [2, 2], [1, 1], [1, 1], [1, 1])
    y = ops.clamp(bias(y, 24), 0.0, 6.0)
    check(y, [x], {"x": rand(1, 24, 15, 15)}, tmp_path, executed=["GroupConvolution"], fused=["Add", "Clamp"])


# --------------------------------------------------------------------------- matmul fusions


def test_matmul_bias(tmp_path):
    """The classifier: MatMul with transpose_b and an Add of the bias vector."""
    x = param((2, 64))
    y = ops.add(ops.matmul(x, ops.constant(rand(10, 64)), False, True), ops.constant(rand(10)))
    check(y, [x], {"x": rand(2, 64)}, tmp_path, executed=["MatMul"], fused=["Add"])


def test_matmul_bias_relu(tmp_path):
    x = param((3, 5, 32))
    y = ops.relu(ops.add(ops.matmul(x, ops.constant(rand(32, 48)), False, False), ops.constant(rand(1, 1, 48))))
    check(y, [x], {"x": rand(3, 5, 32)}, tmp_path, executed=["MatMul"], fused=["Add", "Relu"])


@pytest.mark.parametrize("a_shape, n, transpose_b, tail", [
    ((1, 128, 384), 96, True, "bias_relu"),
    ((4, 7, 33), 50, False, "none"),
    ((2, 64), 10, True, "bias"),
    ((3, 1, 20), 17, False, "residual"),
])
def test_matmul_by_constant_weights_runs_as_a_brgemm_convolution(a_shape, n, transpose_b, tail, tmp_path):
    """A MatMul by constant weights over the rows of a plain input runs as a 1x1 convolution over nhwc views of
    the same buffers (oneDNN's brgemm kernels; its f32 matmul on AVX2 is a gemm), with the fused layers."""
    k = a_shape[-1]
    x = param(a_shape)
    w = rand(n, k) if transpose_b else rand(k, n)
    y = ops.matmul(x, ops.constant(w), False, transpose_b)
    inputs, params = {"x": rand(*a_shape)}, [x]
    if tail in ("bias", "bias_relu"):
        y = ops.add(y, ops.constant(rand(n)))
    if tail == "bias_relu":
        y = ops.relu(y)
    if tail == "residual":
        r = param(a_shape[:-1] + (n,), "r")
        y = ops.add(y, ops.relu(r))
        inputs["r"], params = rand(*a_shape[:-1], n), [x, r]
    _, compiled = check(y, params, inputs, tmp_path, executed=["MatMul"])
    impl = next(impl for _, impl, _ in steps(compiled) if "conv" in impl or "gemm" in impl)
    if ie_backend_cpu.cpu_isa().startswith(("avx2", "avx512")):
        assert impl.startswith("brgconv"), impl


def test_matmul_runtime_operands(tmp_path):
    a, b = param((2, 4, 8), "a"), param((2, 6, 8), "b")
    y = ops.softmax(ops.matmul(a, b, False, True), -1)
    check(y, [a, b], {"a": rand(2, 4, 8), "b": rand(2, 6, 8)}, tmp_path, executed=["MatMul", "Softmax"])


def test_matmul_residual_add(tmp_path):
    """MatMul + Add of another tensor of its shape: oneDNN post-op sum, in place in the shortcut's buffer."""
    x, r = param((1, 16, 32), "x"), param((1, 16, 48), "r")
    shortcut = ops.relu(r)
    y = ops.softmax(ops.add(ops.matmul(x, ops.constant(rand(32, 48)), False, False), shortcut), -1)
    counts, compiled = check(y, [x, r], {"x": rand(1, 16, 32), "r": rand(1, 16, 48)}, tmp_path,
                             executed=["MatMul", "Relu", "Softmax"], fused=["Add"])
    matmul = next(s for s in steps(compiled) if s[1].startswith("brg") or "gemm" in s[1])
    assert matmul[2] == 1  # no copy of the shortcut: the sum is computed in its buffer


def test_matmul_residual_add_shortcut_still_needed(tmp_path):
    x = param((1, 16, 32), "x")
    shortcut = ops.relu(x)
    y = ops.add(ops.matmul(x, ops.constant(rand(32, 32)), False, False), shortcut)
    check([y, ops.sigmoid(shortcut)], [x], {"x": rand(1, 16, 32)}, tmp_path, executed=["MatMul"], fused=["Add"])


# --------------------------------------------------------------------------- transformer fusions


def _layer_norm(x, n, eps_mode="inside_sqrt", tail=("Multiply", "Add")):
    y = ops.mvn(x, ops.constant(np.array([-1], np.int64)), True, 1e-5, eps_mode)
    for t in tail:
        value = ops.constant(rand(1, 1, n, low=0.5, high=1.5))
        y = {"Multiply": ops.multiply, "Add": ops.add, "Subtract": ops.subtract}[t](y, value)
    return y


@pytest.mark.parametrize("tail", [("Multiply", "Add"), ("Multiply",), ("Add",), ("Multiply", "Subtract")])
@pytest.mark.parametrize("eps_mode", ["inside_sqrt", "outside_sqrt"])
def test_layer_norm_affine(tail, eps_mode, tmp_path):
    """MVN over the last axis with the following Multiply/Add of constants along it: one native step."""
    x = param((2, 7, 48))
    y = ops.relu(_layer_norm(x, 48, eps_mode, tail))
    check(y, [x], {"x": rand(2, 7, 48) * 3 + 1}, tmp_path, executed=["MVN", "Relu"], fused=list(tail))


def test_layer_norm_other_axes_not_fused(tmp_path):
    """MVN over another axis, or a Multiply along another axis: nothing is folded."""
    x = param((2, 7, 48))
    a = ops.multiply(ops.mvn(x, ops.constant(np.array([1], np.int64)), True, 1e-5, "inside_sqrt"),
                     ops.constant(rand(1, 1, 48)))
    b = ops.multiply(ops.mvn(x, ops.constant(np.array([-1], np.int64)), True, 1e-5, "inside_sqrt"),
                     ops.constant(rand(1, 7, 1)))
    counts, _ = check([a, b], [x], {"x": rand(2, 7, 48)}, tmp_path)
    assert all(pc["status"] == "EXECUTED" for pc in counts.values() if pc["layer_type"] == "Multiply")


def _attention_block(heads=4, head=8, seq=16, k_chain=True, scale=True):
    """A BERT self-attention block: Q/K/V projections split into heads by Reshape + Transpose, K
    through two Transposes, SDPA, heads merged by Transpose + Reshape, output projection + residual."""
    hidden = heads * head
    x, mask = param((1, seq, hidden), "x"), param((1, 1, 1, seq), "mask")

    def split(w):
        y = ops.reshape(ops.matmul(x, ops.constant(rand(hidden, hidden) / 4), False, False),
                        ops.constant(np.array([1, seq, heads, head], np.int64)), False)
        return ops.transpose(y, ops.constant(np.array([0, 2, 1, 3], np.int64)))

    q, v = split("q"), split("v")
    if k_chain:
        k = ops.reshape(ops.matmul(x, ops.constant(rand(hidden, hidden) / 4), False, False),
                        ops.constant(np.array([1, seq, heads, head], np.int64)), False)
        k = ops.transpose(ops.transpose(k, ops.constant(np.array([0, 2, 3, 1], np.int64))),
                          ops.constant(np.array([0, 1, 3, 2], np.int64)))
    else:
        k = split("k")
    args = [q, k, v, mask] + ([ops.constant(np.float32(0.3))] if scale else [])
    att = ops.scaled_dot_product_attention(*args, causal=False)
    merged = ops.reshape(ops.transpose(att, ops.constant(np.array([0, 2, 1, 3], np.int64))),
                         ops.constant(np.array([1, seq, hidden], np.int64)), False)
    y = ops.add(ops.matmul(merged, ops.constant(rand(hidden, hidden) / 4), False, False), x)
    mask_value = np.zeros((1, 1, 1, seq), np.float32)
    mask_value[..., -3:] = -10000.0
    return y, [x, mask], {"x": rand(1, seq, hidden), "mask": mask_value}


@pytest.mark.parametrize("k_chain", [True, False])
@pytest.mark.parametrize("scale", [True, False])
def test_attention_transposes_fused(k_chain, scale, tmp_path):
    """SDPA reads Q/K/V through the strides before their Transposes and writes the merged-heads
    layout: the whole block is one native program, every Transpose and the residual Add fused."""
    y, params, inputs = _attention_block(k_chain=k_chain, scale=scale)
    counts, compiled = check(y, params, inputs, tmp_path, executed=["ScaledDotProductAttention", "MatMul"],
                             fused=["Transpose", "Add"])
    assert len(compiled.plan.steps) == 1
    assert not any("bf16" in pc["exec_type"] for pc in counts.values())


@needs_bf16
def test_attention_bf16(tmp_path):
    y, params, inputs = _attention_block(heads=12, head=32, seq=128)
    counts, compiled = check(y, params, inputs, tmp_path, executed=["ScaledDotProductAttention"],
                             fused=["Transpose"], config={"INFERENCE_PRECISION_HINT": "bf16"}, tol=1e-2)
    sdpa = [pc for pc in counts.values() if pc["layer_type"] == "ScaledDotProductAttention"]
    assert all("bf16" in pc["exec_type"] for pc in sdpa), sdpa
    # primitives per MatMul: Q converts x to bf16 once for K and V; the attention writes bf16 for
    # the output projection, which only copies its residual (x, a network input) into its output
    names = [name for name, pc in counts.items() if pc["layer_type"] == "MatMul"]
    assert [n for name, _, n in steps(compiled) if name in names] == [2, 1, 1, 2], steps(compiled)


def test_attention_transpose_read_twice_is_not_fused(tmp_path):
    """A Transpose whose output something else reads too runs on its own; the attention reads its output."""
    q, k, v = param((1, 8, 2, 4), "q"), param((1, 2, 8, 4), "k"), param((1, 2, 8, 4), "v")
    qt = ops.transpose(q, ops.constant(np.array([0, 2, 1, 3], np.int64)))
    att = ops.scaled_dot_product_attention(qt, k, v, causal=True)
    out = ops.transpose(att, ops.constant(np.array([0, 3, 1, 2], np.int64)))
    counts, _ = check([out, ops.relu(qt)], [q, k, v], {"q": rand(1, 8, 2, 4), "k": rand(1, 2, 8, 4),
                                                       "v": rand(1, 2, 8, 4)}, tmp_path,
                      executed=["ScaledDotProductAttention"])
    by_type = {pc["layer_type"]: [] for pc in counts.values()}
    for pc in counts.values():
        by_type[pc["layer_type"]].append(pc["status"])
    assert sorted(by_type["Transpose"]) == ["EXECUTED", "OPTIMIZED_OUT"]


def _heads_split(*names):
    """Parameters (1, 8, 2, 4) and their Transposes to (1, 2, 8, 4), one per parameter."""
    params = [param((1, 8, 2, 4), n) for n in names]
    return params, [ops.transpose(p, ops.constant(np.array([0, 2, 1, 3], np.int64))) for p in params]


def test_attention_runtime_scale_runs_standalone(tmp_path):
    """A scale computed at run time: the standalone kernel, the Transposes run on their own."""
    (q, k, v), (qt, kt, vt) = _heads_split("q", "k", "v")
    s = param((), "s")
    att = ops.scaled_dot_product_attention(qt, kt, vt, ops.constant(rand(8, 8)), s, causal=False)
    inputs = {"q": rand(1, 8, 2, 4), "k": rand(1, 8, 2, 4), "v": rand(1, 8, 2, 4), "s": np.float32(0.5)}
    counts, _ = check(att, [q, k, v, s], inputs, tmp_path)
    assert all(pc["status"] == "EXECUTED" for pc in counts.values() if pc["layer_type"] == "Transpose")


def test_attention_bool_mask_runs_standalone(tmp_path):
    """A boolean mask: the standalone kernel, the Transposes run on their own."""
    (q, k, v), (qt, kt, vt) = _heads_split("q", "k", "v")
    m = ops.parameter([1, 1, 8, 8], np.bool_, name="m")
    att = ops.scaled_dot_product_attention(qt, kt, vt, m, causal=False)
    mask = RNG.random((1, 1, 8, 8)) > 0.3
    mask[..., 0] = True
    inputs = {"q": rand(1, 8, 2, 4), "k": rand(1, 8, 2, 4), "v": rand(1, 8, 2, 4), "m": mask}
    counts, _ = check(att, [q, k, v, m], inputs, tmp_path)
    assert all(pc["status"] == "EXECUTED" for pc in counts.values() if pc["layer_type"] == "Transpose")


def test_attention_constant_scale_fuses(tmp_path):
    """The same attention with a constant scale and an f32 mask: Transposes fused."""
    (q, k, v), (qt, kt, vt) = _heads_split("q", "k", "v")
    att = ops.scaled_dot_product_attention(qt, kt, vt, ops.constant(rand(8, 8)), ops.constant(np.float32(0.5)),
                                           causal=False)
    inputs = {"q": rand(1, 8, 2, 4), "k": rand(1, 8, 2, 4), "v": rand(1, 8, 2, 4)}
    check(att, [q, k, v], inputs, tmp_path, executed=["ScaledDotProductAttention"], fused=["Transpose"])


# --------------------------------------------------------------------------- layouts and planning


def test_pooling_in_blocked_layout(tmp_path):
    """conv -> max pool -> conv -> avg pool -> conv: no reorder between them."""
    x = param((1, 16, 16, 16))
    y = ops.relu(bias(conv(x, 16, 32), 32))
    y = ops.max_pool(y, [2, 2], [1, 1], [0, 0], [0, 0], [2, 2]).output(0)
    y = ops.relu(conv(y, 32, 32))
    y = ops.avg_pool(y, [2, 2], [0, 0], [0, 0], [3, 3], False)
    y = conv(y, 32, 16)
    counts, compiled = check(y, [x], {"x": rand(1, 16, 16, 16)}, tmp_path,
                             executed=["Convolution", "MaxPool", "AvgPool"], fused=["Add", "Relu"])
    program = compiled.plan.programs[0]
    # every step after the first runs one primitive: no reorders between the layers
    assert [n for _, _, n in program.steps()][1:-1] == [1] * (len(program.steps()) - 2), program.steps()


def test_global_average_pool_classifier(tmp_path):
    """The network tail: ReduceMean over H, W (a global pooling), Reshape, MatMul + bias."""
    x = param((1, 32, 7, 7))
    y = ops.relu(bias(conv(x, 32, 64), 64))
    y = ops.reduce_mean(y, ops.constant(np.array([2, 3], np.int64)), False)
    y = ops.reshape(y, ops.constant(np.array([1, 64], np.int64)), False)
    y = ops.add(ops.matmul(y, ops.constant(rand(10, 64)), False, True), ops.constant(rand(1, 10)))
    check(y, [x], {"x": rand(1, 32, 7, 7)}, tmp_path, executed=["Convolution", "ReduceMean", "MatMul"],
          fused=["Add"])


def test_reference_layer_splits_programs(tmp_path):
    """A layer without a native kernel between native ones: two programs, plain layouts at the seam."""
    x = param((1, 8, 8, 8))
    y = ops.relu(conv(x, 8, 8))
    y = ops.transpose(y, ops.constant(np.array([0, 1, 3, 2], np.int64)))
    y = ops.relu(bias(conv(y, 8, 8), 8))
    counts, compiled = check([y, ops.relu(x)], [x], {"x": rand(1, 8, 8, 8)}, tmp_path,
                             executed=["Convolution"], fused=["Add"])
    assert len(compiled.plan.programs) >= 2


def test_scalar_minus_tensor_runs_in_the_program(tmp_path):
    """BERT's mask chain: (1 - mask) * -10000 as an eltwise linear step and a binary step."""
    x = param((1, 1, 1, 16))
    y = ops.multiply(ops.subtract(ops.constant(np.ones((1, 1, 1, 1), np.float32)), ops.relu(x)),
                     ops.constant(np.float32(-10000.0)))
    counts, compiled = check(y, [x], {"x": rand(1, 1, 1, 16)}, tmp_path, executed=["Subtract", "Multiply"])
    assert len(compiled.plan.steps) == 1


def test_independent_kernels_do_not_split_programs(tmp_path):
    """A per-layer kernel that reads none of a program's tensors (an int64 mask converted to f32)
    runs before it rather than splitting it in two."""
    x, m = param((1, 16, 8), "x"), ops.parameter([1, 16, 1], np.int64, name="m")
    a = ops.sigmoid(ops.matmul(ops.relu(x), ops.constant(rand(8, 8)), False, False))
    y = ops.multiply(a, ops.convert(m, np.float32))
    _, compiled = check(y, [x, m], {"x": rand(1, 16, 8), "m": np.array(RNG.integers(0, 2, (1, 16, 1)))}, tmp_path,
                        executed=["MatMul", "Multiply"])
    assert [s.new_state is not None for s in compiled.plan.steps] == [False, True]


def test_intermediate_output_and_internal_reader(tmp_path):
    """A tensor that is both a network output and read by a later layer."""
    x = param((1, 8, 8, 8))
    a = bias(conv(x, 8, 8), 8)
    b = ops.relu(conv(a, 8, 8))
    check([a, b], [x], {"x": rand(1, 8, 8, 8)}, tmp_path, executed=["Convolution"])


def test_memory_planner_reuses_buffers(tmp_path):
    x = param((1, 16, 16, 16))
    y = x
    for _ in range(6):
        y = ops.relu(bias(conv(y, 16, 16), 16))
    _, compiled = check(y, [x], {"x": rand(1, 16, 16, 16)}, tmp_path, executed=["Convolution"])
    program = compiled.plan.programs[0]
    tensor_bytes = 16 * 16 * 16 * 4
    # six activations, at most three live at once (plus the plain output)
    assert program.arena_size <= 3 * tensor_bytes + 4096, program.arena_size


def test_outputs_are_not_overwritten_by_the_next_inference(tmp_path):
    x = param((1, 8, 8, 8))
    y = ops.relu(bias(conv(x, 8, 8), 8))
    model = ov.Model([y.output(0)], [x], "m")
    xml, exec_net = load(model, tmp_path)
    a, b = rand(1, 8, 8, 8), rand(1, 8, 8, 8)
    ra = exec_net.infer({"x": a})
    rb = exec_net.infer({"x": b})
    name = next(iter(ra))
    assert_close(ra[name], openvino_infer(xml, {"x": a})[0])
    assert_close(rb[name], openvino_infer(xml, {"x": b})[0])


def test_input_buffer_is_not_modified(tmp_path):
    x = param((1, 16, 8, 8))
    y = ops.relu(ops.add(conv(x, 16, 16), x))
    model = ov.Model([y.output(0)], [x], "m")
    xml, exec_net = load(model, tmp_path)
    data = rand(1, 16, 8, 8)
    keep = data.copy()
    exec_net.infer({"x": data})
    np.testing.assert_array_equal(data, keep)


# --------------------------------------------------------------------------- perf counts


def test_perf_counts_sum_to_latency(tmp_path):
    x = param((1, 32, 56, 56))
    y = x
    for _ in range(4):
        y = ops.relu(ops.add(bias(conv(y, 32, 32), 32), y))
    y = ops.max_pool(y, [2, 2], [2, 2], [0, 0], [0, 0], [2, 2]).output(0)
    model = ov.Model([y], [x], "m")
    _, exec_net = load(model, tmp_path)
    request = exec_net.requests[0]
    data = {"x": rand(1, 32, 56, 56)}
    ratios = []
    for _ in range(7):
        request.infer(data)
        counts = request.get_perf_counts()
        executed = [pc for pc in counts.values() if pc["status"] == "EXECUTED"]
        assert all(ONEDNN_IMPL.match(pc["exec_type"]) for pc in executed)
        total = sum(pc["real_time"] for pc in executed) / 1000.0  # ms
        ratios.append(total / request.latency)
    assert any(0.9 <= r <= 1.0 + 1e-9 for r in ratios), ratios


# --------------------------------------------------------------------------- precision


def test_precision_hint_values(tmp_path):
    from ie_core.errors import ConfigError

    IEPlugin("CPU").set_config({"INFERENCE_PRECISION_HINT": "bf16"})
    IEPlugin("CPU").set_config({"INFERENCE_PRECISION_HINT": "f32"})
    with pytest.raises(ConfigError):
        IEPlugin("CPU").set_config({"INFERENCE_PRECISION_HINT": "f16"})


def _bf16_net():
    x = param((1, 16, 28, 28))
    y = ops.relu(bias(conv(x, 16, 32), 32))
    y = ops.max_pool(y, [2, 2], [2, 2], [0, 0], [0, 0], [2, 2]).output(0)
    w = ops.constant((rand(32, 1, 1, 3, 3) * 0.3).astype(np.float32))
    y = ops.clamp(bias(ops.group_convolution(y, w, [1, 1], [1, 1], [1, 1], [1, 1]), 32), 0.0, 6.0)
    y = ops.relu(ops.add(bias(conv(y, 32, 32, k=1), 32), y))
    y = ops.reduce_mean(y, ops.constant(np.array([2, 3], np.int64)), False)
    y = ops.add(ops.matmul(y, ops.constant(rand(10, 32)), False, True), ops.constant(rand(1, 10)))
    return x, y


@needs_bf16
def test_bf16_convolutions_and_matmul(tmp_path):
    x, y = _bf16_net()
    counts, compiled = check(y, [x], {"x": rand(1, 16, 28, 28)}, tmp_path, executed=["Convolution", "MatMul"],
                             fused=["Add", "Relu", "Clamp"], config={"INFERENCE_PRECISION_HINT": "bf16"}, tol=1e-2)
    convs = [pc for pc in counts.values() if pc["layer_type"] in ("Convolution", "GroupConvolution")]
    assert any("bf16" in pc["exec_type"] for pc in convs), convs


@needs_bf16
def test_bf16_image_input_convolution_stays_f32(tmp_path):
    """bf16: a convolution reading a network input of at most 4 channels (an image) runs in f32,
    the next one in bf16."""
    x = param((1, 3, 24, 24))
    first = ops.relu(bias(conv(x, 3, 16), 16))
    y = ops.relu(bias(conv(first, 16, 16), 16))
    counts, _ = check(y, [x], {"x": rand(1, 3, 24, 24)}, tmp_path, executed=["Convolution"],
                      config={"INFERENCE_PRECISION_HINT": "bf16"}, tol=1e-2)
    convs = [pc["exec_type"] for pc in counts.values() if pc["layer_type"] == "Convolution"]
    assert len(convs) == 2 and "bf16" not in convs[0] and "bf16" in convs[1], convs


@needs_bf16
def test_bf16_matmul_operands_converted_once(tmp_path):
    """bf16: a tensor several MatMuls read is converted to bf16 once; a MatMul read only by bf16
    MatMuls writes bf16 (the rounding they would do), so the next one reads it as it is."""
    x = param((1, 16, 32))
    a = ops.relu(x)
    q = ops.matmul(a, ops.constant(rand(32, 32)), False, False)
    k = ops.matmul(a, ops.constant(rand(32, 32)), False, False)
    h = ops.gelu(ops.matmul(a, ops.constant(rand(32, 64)), False, False), "erf")
    y = ops.matmul(h, ops.constant(rand(64, 32)), False, False)
    _, compiled = check([q, k, y], [x], {"x": rand(1, 16, 32)}, tmp_path, executed=["MatMul"], fused=["Gelu"],
                        config={"INFERENCE_PRECISION_HINT": "bf16"}, tol=1e-2)
    matmuls = [n for _, impl, n in steps(compiled) if "bf16" in impl]
    assert matmuls == [2, 1, 1, 1], steps(compiled)


@needs_bf16
def test_bf16_outputs_are_f32(tmp_path):
    x, y = _bf16_net()
    model = ov.Model([y.output(0)], [x], "m")
    _, exec_net = load(model, tmp_path, {"INFERENCE_PRECISION_HINT": "bf16"})
    res = exec_net.infer({"x": rand(1, 16, 28, 28)})
    assert next(iter(res.values())).dtype == np.float32


@pytest.mark.skipif(ie_backend_cpu.cpu_isa() in ie_backend_cpu.BF16_ISAS, reason="this CPU has native bf16")
def test_bf16_hint_without_native_bf16_runs_f32(tmp_path):
    """As OpenVINO's CPU plugin: on a CPU (or ONEDNN_MAX_CPU_ISA) without avx512_bf16 or AMX the bf16 hint
    keeps f32, which emulated bf16 would only slow down."""
    x, y = _bf16_net()
    counts, _ = check(y, [x], {"x": rand(1, 16, 28, 28)}, tmp_path, executed=["Convolution", "MatMul"],
                      config={"INFERENCE_PRECISION_HINT": "bf16"})
    assert not any("bf16" in pc["exec_type"] for pc in counts.values())


def test_f32_is_the_default_and_exact(tmp_path):
    x, y = _bf16_net()
    counts, _ = check(y, [x], {"x": rand(1, 16, 28, 28)}, tmp_path, executed=["Convolution", "MatMul"])
    assert not any("bf16" in pc["exec_type"] for pc in counts.values())


# --------------------------------------------------------------------------- the model zoo


@pytest.fixture(scope="module")
def zoo():
    import models

    return models, models.model_dir()


@pytest.mark.parametrize("name", ["small_cnn", "mobilenet_v2", "resnet50"])
def test_models_are_fused(zoo, name):
    models, directory = zoo
    xml = models.build(name, directory)["fp32"]
    inputs = models.make_inputs(name)
    plugin = IEPlugin("CPU")
    plugin.set_config({"PERF_COUNT": "YES"})
    exec_net = plugin.load(IENetwork(model=xml, weights=xml[:-4] + ".bin"))
    request = exec_net.requests[0]
    request.infer(inputs)
    expected = openvino_infer(xml, inputs)[0]
    assert_close(next(iter(request.outputs.values())), expected)
    counts = request.get_perf_counts()
    compiled = exec_net._compiled
    assert len(compiled.plan.programs) == 1 and len(compiled.plan.steps) == 1  # one native program
    for pc in counts.values():
        if pc["layer_type"] in ("Relu", "ReLU", "Clamp"):
            assert pc["status"] == "OPTIMIZED_OUT", pc
        if pc["layer_type"] in ("Convolution", "GroupConvolution", "MatMul"):
            assert pc["status"] == "EXECUTED" and ONEDNN_IMPL.match(pc["exec_type"]), pc


@needs_bf16
@pytest.mark.parametrize("name", ["resnet50", "small_cnn", "mobilenet_v2"])
def test_models_bf16(zoo, name):
    """bf16 against OpenVINO f32 within relative L2 1e-2 (the BERT encoder: test_bert_encoder_fused).

    MobileNetV2 cannot get there in bf16: its 52 layers of bf16 rounding leave ~6e-2
    on these random-weight networks, OpenVINO's own bf16 included (and still ~4e-2
    with its depthwise, first and last layers in f32). It is held to OpenVINO's bf16
    error instead."""
    models, directory = zoo
    xml = models.build(name, directory)["fp32"]
    inputs = models.make_inputs(name)
    exec_net = IEPlugin("CPU").load(IENetwork(model=xml, weights=xml[:-4] + ".bin"),
                                    config={"INFERENCE_PRECISION_HINT": "bf16"})
    actual = next(iter(exec_net.infer(inputs).values()))
    expected = openvino_infer(xml, inputs)[0]
    bound = 1e-2
    if name == "mobilenet_v2":
        ov_bf16 = ov.Core().compile_model(xml, "CPU", {"INFERENCE_PRECISION_HINT": "bf16"})([inputs["data"]])[0]
        bound = rel_l2(ov_bf16, expected)
    assert rel_l2(actual, expected) <= bound


@pytest.mark.parametrize("precision", ["f32", pytest.param("bf16", marks=needs_bf16)])
def test_bert_encoder_fused(zoo, precision):
    """The BERT encoder: every Transpose, the LayerNorms' Multiply/Add and the residual Adds fused,
    the layers in one native program; OpenVINO f32's result (bf16: within 1e-2)."""
    models, directory = zoo
    xml = models.build("bert_encoder", directory)["fp32"]
    inputs = models.make_inputs("bert_encoder")
    plugin = IEPlugin("CPU")
    plugin.set_config({"PERF_COUNT": "YES", "INFERENCE_PRECISION_HINT": precision})
    net = IENetwork(model=xml, weights=xml[:-4] + ".bin")
    exec_net = plugin.load(net)
    request = exec_net.requests[0]
    request.infer(inputs)
    for name, expected in zip(net.outputs, openvino_infer(xml, inputs)):
        assert_close(request.outputs[name], expected, 1e-5 if precision == "f32" else 1e-2)
    counts = request.get_perf_counts()
    executed = {}
    for pc in counts.values():
        if pc["status"] == "EXECUTED":
            executed[pc["layer_type"]] = executed.get(pc["layer_type"], 0) + 1
    assert "Transpose" not in executed
    assert executed["ScaledDotProductAttention"] == 6 and executed["MVN"] == 13
    assert executed["Add"] == 1  # the position embeddings; the LayerNorms' and the residual Adds are fused
    sdpa = [pc["exec_type"] for pc in counts.values() if pc["layer_type"] == "ScaledDotProductAttention"]
    assert all(("bf16" in e) == (precision == "bf16") for e in sdpa), sdpa
    programs = exec_net._compiled.plan.programs
    assert max(len(p.steps()) for p in programs) >= 6 * 8  # a program takes the encoder layers


# --------------------------------------------------------------------------- extra kernel providers


def test_kernel_provider_takes_precedence(tmp_path):
    """A layer an extra kernel provider claims runs its kernel and is not fused into a neighbour."""
    from ie_core.backend import Kernel
    from ie_backend_cpu import kernels

    calls = []

    def provider(node, threads):
        if node.type.lower() != "relu":
            return None
        calls.append(node.name)
        return Kernel(lambda x: np.maximum(x, 0), "test_provider")

    x = param((1, 8, 8, 8))
    y = ops.relu(bias(conv(x, 8, 8), 8))
    kernels.KERNEL_PROVIDERS.append(provider)
    try:
        counts, compiled = check(y, [x], {"x": rand(1, 8, 8, 8)}, tmp_path, fused=["Add"])
    finally:
        kernels.KERNEL_PROVIDERS.remove(provider)
    relu = next(pc for pc in counts.values() if pc["layer_type"].lower() == "relu")
    assert relu["status"] == "EXECUTED" and relu["exec_type"] == "test_provider"
    assert calls


def test_eltwise_and_binary_in_place(tmp_path):
    """Element-wise layers that cannot be fused (after a pooling) write into their dead input's buffer."""
    x = param((1, 16, 12, 12))
    y = ops.relu(conv(x, 16, 16))
    y = ops.max_pool(y, [2, 2], [2, 2], [0, 0], [0, 0], [2, 2]).output(0)
    y = ops.sigmoid(y)
    z = ops.tanh(y)
    y = ops.multiply(ops.add(y, z), z)  # x op x-like reads: not in place where the input is read again
    y = conv(y, 16, 16)
    check(y, [x], {"x": rand(1, 16, 12, 12)}, tmp_path, executed=["Convolution", "MaxPool", "Sigmoid", "Tanh"])


# --------------------------------------------------------------------------- threads


def test_tiny_programs_run_on_one_thread(tmp_path):
    from ie_backend_cpu import _ext

    x = param((1, 4, 6, 6))
    y = ops.relu(bias(conv(x, 4, 4), 4))
    model = ov.Model([y.output(0)], [x], "m")
    _, exec_net = load(model, tmp_path)
    exec_net.infer({"x": rand(1, 4, 6, 6)})
    assert _ext.last_threads() == 1


def test_large_programs_use_the_configured_threads(tmp_path):
    from ie_backend_cpu import _ext, threads_for

    x = param((1, 32, 32, 32))
    y = ops.relu(bias(conv(x, 32, 32), 32))  # ~9.4M MACs
    model = ov.Model([y.output(0)], [x], "m")
    _, exec_net = load(model, tmp_path)
    exec_net.infer({"x": rand(1, 32, 32, 32)})
    config = {k: o.default for k, o in ie_backend_cpu.CPUBackend.config_options.items()}
    assert _ext.last_threads() == threads_for(config)
