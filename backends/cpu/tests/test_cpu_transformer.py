"""The CPU backend's native transformer / data-movement kernels (ie_backend_cpu.transformer) against OpenVINO f32.

Each single-op model is written as IR with OpenVINO's opset API, read back with
ie_core (shape-inferred graph) and run through a GraphExecutor whose kernels
come from :func:`ie_backend_cpu.transformer.transformer_kernel` (the backend's
other native kernels, then the reference, for the rest); the op under test must
get a native kernel (where the case is one the kernels take) and match
OpenVINO's f32 result within relative L2 1e-5. The BERT encoder (fp32 and
fp16-compressed IR) runs the same way, with every op native.
"""

import threading

import numpy as np
import openvino as ov
import openvino.opset1 as ov1
import openvino.opset2 as ov2
import openvino.opset3 as ov3
import openvino.opset4 as ov4
import openvino.opset8 as ov8
import openvino.opset13 as ops
import pytest
from helpers import assert_close, openvino_infer, save_ir

ie_backend_cpu = pytest.importorskip("ie_backend_cpu")
if not hasattr(ie_backend_cpu._ext, "transformer"):
    pytest.skip("ie_backend_cpu was built without transformer.cpp", allow_module_level=True)

from ie_backend_cpu.transformer import TRANSFORMER_TYPES, transformer_kernel  # noqa: E402

from ie_core import IENetwork  # noqa: E402
from ie_core.backend import GraphExecutor, reference_kernel  # noqa: E402
from ie_core.graph import output_name  # noqa: E402

RNG = np.random.default_rng(0)
THREADS = 2


def rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def const(value, dtype=np.float32):
    return ops.constant(np.asarray(value, dtype=dtype))


def _other_native(node, threads):
    kernels = getattr(ie_backend_cpu, "kernels", None)
    native = getattr(kernels, "native_kernel", None)
    if native is None:
        return None
    try:
        return native(node, threads, None)
    except TypeError:
        return native(node, threads)


def make_executor(xml, threads=THREADS):
    """(GraphExecutor, graph, {node name: (type, exec_type, source)}) with the transformer kernels first.

    ``source`` is "transformer", "native" (the backend's other kernels) or "reference".
    """
    net = IENetwork(model=xml, weights=xml[:-4] + ".bin")
    graph = net._graph_for_load()
    chosen = {}

    def kernel_for(node):
        for source, make in (("transformer", transformer_kernel), ("native", _other_native),
                             ("reference", lambda n, t: reference_kernel(n))):
            k = make(node, threads)
            if k is not None:
                chosen[node.name] = (node.type, k.exec_type, source)
                return k

    return GraphExecutor(graph, kernel_for), graph, chosen


def run_model(model, inputs, tmp_path, native=(), tol=1e-5, compress_to_fp16=False):
    """Save ``model`` and compare the executor's outputs with OpenVINO's.

    Layers of the types in ``native`` must run a transformer kernel.
    """
    xml, _ = save_ir(model, tmp_path, compress_to_fp16=compress_to_fp16)
    expected = openvino_infer(xml, inputs)
    executor, graph, chosen = make_executor(xml)
    for name, (type_, exec_type, source) in chosen.items():
        if type_ in native:
            assert source == "transformer" and exec_type != "ref_numpy", f"{type_} layer {name} runs {exec_type}"
    outputs, _ = executor.run(inputs)
    actual = [outputs[output_name(r.inputs[0])] for r in graph.results]
    assert len(actual) == len(expected)
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert_close(a, e, tol, what=f"output {i}")
    return chosen


def check(build, *arrays, tmp_path, native=(), tol=1e-5):
    names = [f"in{i}" for i in range(len(arrays))]
    params = [ops.parameter(list(a.shape), ov.Type(a.dtype), name=n) for a, n in zip(arrays, names)]
    node = build(*params)
    outputs = node.outputs() if not isinstance(node, (list, tuple)) else [o for n in node for o in n.outputs()]
    return run_model(ov.Model(outputs, params), dict(zip(names, arrays)), tmp_path, native, tol)


# ---------------------------------------------------------------------------------------- MVN


@pytest.mark.parametrize("shape", [(2, 7, 384), (1, 128, 384), (3, 37), (2, 5000)])
@pytest.mark.parametrize("eps_mode", ["inside_sqrt", "outside_sqrt"])
@pytest.mark.parametrize("normalize", [True, False])
def test_mvn_layer_norm(shape, eps_mode, normalize, tmp_path):
    check(lambda x: ops.mvn(x, const([-1], np.int64), normalize, 1e-5, eps_mode), rand(*shape) * 3 + 1,
          tmp_path=tmp_path, native={"MVN"})


@pytest.mark.parametrize("axes,native", [([2, 3], True), ([1, 2, 3], True), ([1], True), ([1, 2], True),
                                         ([0, 2], False)])
@pytest.mark.parametrize("eps_mode", ["inside_sqrt", "outside_sqrt"])
def test_mvn_axes(axes, native, eps_mode, tmp_path):
    check(lambda x: ops.mvn(x, const(axes, np.int64), True, 1e-2, eps_mode), rand(2, 3, 4, 5) + 1,
          tmp_path=tmp_path, native={"MVN"} if native else ())


@pytest.mark.parametrize("across,normalize", [(True, True), (False, True), (False, False)])
def test_mvn_v1(across, normalize, tmp_path):
    check(lambda x: ov2.mvn(x, across, normalize, 1e-3), rand(2, 3, 4, 5) + 1, tmp_path=tmp_path, native={"MVN"})


# ---------------------------------------------------------------------------------------- attention


@pytest.mark.parametrize("mask", [None, "float", "bool", "causal", "scale_only"])
def test_sdpa_small(mask, tmp_path):
    q, k, v = rand(2, 3, 4, 8), rand(2, 3, 6, 8), rand(2, 3, 6, 5)
    arrays = [q, k, v]
    if mask == "float":
        arrays.append(rand(1, 3, 4, 6))
    elif mask == "bool":
        m = RNG.random((2, 1, 4, 6)) > 0.3
        m[..., 0] = True
        arrays.append(m)

    def build(*p):
        if mask == "causal":
            return ops.scaled_dot_product_attention(*p, causal=True)
        if mask == "scale_only":
            return ops.scaled_dot_product_attention(*p, const(rand(4, 6)), const(0.7), causal=False)
        return ops.scaled_dot_product_attention(*p, scale=const(0.3), causal=False) if mask else \
            ops.scaled_dot_product_attention(*p, causal=False)

    check(build, *arrays, tmp_path=tmp_path, native={"ScaledDotProductAttention"})


@pytest.mark.parametrize("seq", [128, 37])
def test_sdpa_bert_shapes(seq, tmp_path):
    """BERT's attention: [1, 12, S, 32] heads, additive [1, 1, 1, S] mask with dtype-min padding, constant scale."""
    q, k, v = (rand(1, 12, seq, 32) for _ in range(3))
    m = np.zeros((1, 1, 1, seq), np.float32)
    m[..., seq - 9:] = np.finfo(np.float32).min
    check(lambda *p: ops.scaled_dot_product_attention(*p, scale=const(1 / np.sqrt(32.0)), causal=False),
          q, k, v, m, tmp_path=tmp_path, native={"ScaledDotProductAttention"})


def test_sdpa_broadcast_batch_and_rank3(tmp_path):
    q, k, v = rand(2, 3, 5, 16), rand(1, 3, 7, 16), rand(2, 1, 7, 16)
    check(lambda *p: ops.scaled_dot_product_attention(*p, causal=False), q, k, v, tmp_path=tmp_path,
          native={"ScaledDotProductAttention"})
    q, k, v = rand(4, 9, 8), rand(4, 9, 8), rand(4, 9, 3)
    check(lambda *p: ops.scaled_dot_product_attention(*p, causal=True), q, k, v, tmp_path=tmp_path,
          native={"ScaledDotProductAttention"})


def test_sdpa_concurrent_requests(tmp_path):
    """One kernel object serves concurrent calls (the GIL is released while it computes)."""
    q, k, v = (rand(1, 12, 128, 32) for _ in range(3))
    params = [ops.parameter(list(a.shape), ov.Type.f32, name=f"in{i}") for i, a in enumerate((q, k, v))]
    model = ov.Model(ops.scaled_dot_product_attention(*params, causal=False).outputs(), params)
    xml, _ = save_ir(model, tmp_path)
    executor, _, _ = make_executor(xml)
    inputs = [{"in0": q * s, "in1": k, "in2": v} for s in (1.0, 0.5, 2.0, 0.25)]
    expected = [list(executor.run(x)[0].values())[0] for x in inputs]
    results = [None] * 4

    def work(i):
        for _ in range(5):
            results[i] = list(executor.run(inputs[i])[0].values())[0]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r, e in zip(results, expected):
        np.testing.assert_array_equal(r, e)


def test_matmul_runtime_weights_not_taken(tmp_path):
    """Products of two activations (and transpose_a) stay with the backend's general MatMul kernel."""
    a, b = rand(1, 12, 128, 32), rand(1, 12, 32, 128)
    chosen = check(lambda x, y: ops.matmul(x, y, False, False), a, b, tmp_path=tmp_path)
    assert all(source != "transformer" for t, _, source in chosen.values() if t == "MatMul")
    check(lambda x: ops.matmul(x, const(rand(7, 6)), True, False), rand(2, 7, 5), tmp_path=tmp_path)


# ---------------------------------------------------------------------------------------- data movement


@pytest.mark.parametrize("shape,order", [
    ((1, 128, 12, 32), [0, 2, 1, 3]),
    ((1, 12, 128, 32), [0, 2, 1, 3]),
    ((1, 12, 128, 32), [0, 1, 3, 2]),
    ((2, 3, 4, 5), [0, 2, 3, 1]),
    ((2, 3, 4, 5), [3, 1, 0, 2]),
    ((33, 17), [1, 0]),
    ((2, 3, 1, 4, 5), [4, 2, 0, 3, 1]),
])
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.uint8])
def test_transpose(shape, order, dtype, tmp_path):
    x = (rand(*shape) * 50).astype(dtype)
    check(lambda p: ops.transpose(p, const(order, np.int64)), x, tmp_path=tmp_path, native={"Reshape", "Squeeze", "Unsqueeze", "Transpose"})


def test_transpose_identity_is_a_view(tmp_path):
    x = rand(2, 3, 4)
    check(lambda p: ops.relu(ops.transpose(p, const([0, 1, 2], np.int64))), x, tmp_path=tmp_path,
          native={"Reshape", "Squeeze", "Unsqueeze", "Transpose"})


@pytest.mark.parametrize("data_shape,indices,axis", [
    ((1000, 64), RNG.integers(0, 1000, (1, 128)), 0),
    ((1000, 64), RNG.integers(-1000, 1000, (3, 5)).astype(np.int32), 0),
    ((3, 50, 4), np.array([[0, -1, 7], [49, 2, -50]]), 1),
    ((3, 5, 40), np.array(4), -1),
])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_gather(data_shape, indices, axis, dtype, tmp_path):
    data = (rand(*data_shape) * 100).astype(dtype)
    check(lambda d: ops.gather(d, const(indices, indices.dtype), const(axis, np.int64)), data, tmp_path=tmp_path,
          native={"Gather"})


def test_gather_runtime_indices(tmp_path):
    table = rand(500, 48)
    ids = RNG.integers(0, 500, (2, 64)).astype(np.int64)
    check(lambda d, i: ov8.gather(d, i, const(0, np.int64)), table, ids, tmp_path=tmp_path, native={"Gather"})


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_concat(axis, dtype, tmp_path):
    shapes = {0: [(1, 3, 4), (2, 3, 4), (3, 3, 4)], 1: [(2, 1, 4), (2, 5, 4), (2, 2, 4)],
              -1: [(2, 3, 7), (2, 3, 1), (2, 3, 64)]}[axis]
    arrays = [(rand(*s) * 10).astype(dtype) for s in shapes]
    check(lambda *p: ops.concat(list(p), axis), *arrays, tmp_path=tmp_path, native={"Concat"})


@pytest.mark.parametrize("case", ["bert_mask", "numpy_f32", "bidirectional", "explicit_v1", "same_shape"])
def test_broadcast(case, tmp_path):
    if case == "bert_mask":
        x = RNG.integers(0, 2, (1, 128, 1)).astype(np.int64)
        build = lambda p: ov3.broadcast(p, const([1, 128, 384], np.int64), broadcast_spec="BIDIRECTIONAL")  # noqa: E731
    elif case == "numpy_f32":
        x = rand(3, 1, 5)
        build = lambda p: ov3.broadcast(p, const([2, 3, 4, 5], np.int64))  # noqa: E731
    elif case == "bidirectional":
        x = rand(4, 1)
        build = lambda p: ov3.broadcast(p, const([3, 1, 6], np.int64), broadcast_spec="BIDIRECTIONAL")  # noqa: E731
    elif case == "explicit_v1":
        x = rand(3, 5)
        build = lambda p: ov1.broadcast(p, const([2, 3, 4, 5], np.int64), const([1, 3], np.int64), "explicit")  # noqa
    else:
        x = rand(1, 384)
        build = lambda p: ov3.broadcast(p, const([1, 384], np.int64))  # noqa: E731
    check(build, x, tmp_path=tmp_path, native={"Broadcast"})


@pytest.mark.parametrize("src,dst", [
    (np.float32, np.int32), (np.float32, np.int64), (np.int64, np.float32), (np.int32, np.float32),
    (np.int64, np.int32), (np.uint8, np.float32), (np.float32, np.bool_), (np.bool_, np.float32),
    (np.float32, np.uint8), (np.int32, np.int64),
])
def test_convert(src, dst, tmp_path):
    x = rand(3, 4, 50) * 300
    if np.dtype(src).kind == "f":
        x[0, 0, :4] = [0.0, -0.0, 2.5, -2.5]
    elif np.dtype(src) == np.bool_:
        x = x > 0
    elif np.dtype(src).kind == "u":
        x = np.abs(x)
    x = x.astype(src)
    check(lambda p: ops.convert(p, ov.Type(np.dtype(dst))), x, tmp_path=tmp_path, native={"Convert", "Unsqueeze"})


def test_convert_bert_mask_chain(tmp_path):
    """attention_mask (i64) -> Unsqueeze -> Convert f32 -> (1 - m) * min: the mask arithmetic of the encoder."""
    m = np.ones((1, 128), np.int64)
    m[:, 90:] = 0

    def build(p):
        u = ops.unsqueeze(p, const([1, 2], np.int64))
        f = ops.convert(u, ov.Type.f32)
        return ops.multiply(ops.subtract(const([[[[1.0]]]]), f), const([[[[np.finfo(np.float32).min]]]]))

    check(build, m, tmp_path=tmp_path, native={"Convert", "Unsqueeze"})


# ---------------------------------------------------------------------------------------- reductions


REDUCERS = {
    "ReduceSum": ov1.reduce_sum, "ReduceMean": ov1.reduce_mean, "ReduceMax": ov1.reduce_max,
    "ReduceMin": ov1.reduce_min, "ReduceProd": ov1.reduce_prod, "ReduceL1": ov4.reduce_l1,
    "ReduceL2": ov4.reduce_l2,
}


@pytest.mark.parametrize("op", sorted(REDUCERS))
@pytest.mark.parametrize("axes,native", [([1], True), ([2, 3], True), ([0], True), ([-1], True), ([0, 1, 2, 3], True),
                                         ([0, 2], False)])
@pytest.mark.parametrize("keep", [False, True])
def test_reduce(op, axes, native, keep, tmp_path):
    x = rand(2, 3, 4, 5) * 0.5 + (1.0 if op == "ReduceProd" else 0.0)
    check(lambda p: REDUCERS[op](p, const(axes, np.int64), keep), x, tmp_path=tmp_path,
          native={op} if native else ())


def test_reduce_bert_pooling(tmp_path):
    x = rand(1, 128, 384)
    check(lambda p: [ops.reduce_sum(p, const([1], np.int64), False),
                     ov4.reduce_l2(ops.reduce_mean(p, const([1], np.int64)), const([1], np.int64), True)],
          x, tmp_path=tmp_path, native={"ReduceSum", "ReduceMean", "ReduceL2"})


# ---------------------------------------------------------------------------------------- views


def test_kernels_name_their_instruction_set():
    """Each kernel's implementation name ends in the instruction set its loops run on."""
    tf = ie_backend_cpu._ext.transformer
    isa = ie_backend_cpu.native_isa()
    f32 = np.dtype(np.float32)
    kernels = [tf.reduce("sum", 2, 8, 1, [2]), tf.convert([4], f32, np.dtype(np.int32)),
               tf.mvn(2, 8, 3, 1e-5, True, True, [2, 8, 3]), tf.transpose([4, 8], [1, 0], f32)]
    assert all(k.impl.endswith("_" + isa) for k in kernels), [k.impl for k in kernels]
    dims = [1, 2, 4, 8]
    assert tf.sdpa(dims, dims, dims, [], False, False, False, False, dims).impl.endswith(":softmax_" + isa)


def test_reshape_squeeze_unsqueeze_are_views(tmp_path):
    x = rand(1, 128, 384)

    def build(p):
        r = ops.reshape(p, const([1, 128, 12, 32], np.int64), False)
        t = ops.transpose(r, const([0, 2, 1, 3], np.int64))
        s = ops.squeeze(t, const([0], np.int64))
        u = ops.unsqueeze(s, const([0], np.int64))
        return ops.reshape(ops.transpose(u, const([0, 2, 1, 3], np.int64)), const([1, 128, 384], np.int64), False)

    check(build, x, tmp_path=tmp_path, native={"Reshape", "Squeeze", "Unsqueeze", "Transpose"})
    params = [ops.parameter([2, 6], ov.Type.f32, name="x")]
    model = ov.Model(ops.reshape(params[0], const([3, 4], np.int64), False).outputs(), params)
    xml, _ = save_ir(model, tmp_path, name="view")
    net = IENetwork(model=xml, weights=xml[:-4] + ".bin")
    node = next(n for n in net._graph_for_load().nodes if n.type == "Reshape")
    data = rand(2, 6)
    out = transformer_kernel(node, 1).run(data, np.array([3, 4]))
    assert out.shape == (3, 4) and np.shares_memory(out, data)


def test_unhandled_types_return_none(tmp_path):
    params = [ops.parameter([2, 3], ov.Type.f32, name="x")]
    model = ov.Model(ops.relu(params[0]).outputs(), params)
    xml, _ = save_ir(model, tmp_path)
    net = IENetwork(model=xml, weights=xml[:-4] + ".bin")
    relu = next(n for n in net._graph_for_load().nodes if n.type.lower() == "relu")
    assert transformer_kernel(relu, 1) is None
    assert "ScaledDotProductAttention" in TRANSFORMER_TYPES and "MVN" in TRANSFORMER_TYPES


# ---------------------------------------------------------------------------------------- BERT encoder


@pytest.fixture(scope="module")
def bert_paths(tmp_path_factory):
    import models

    return models.build("bert_encoder", models.model_dir(lambda: tmp_path_factory.mktemp("models")))


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_bert_encoder_native(bert_paths, precision):
    import models

    xml = bert_paths[precision]
    inputs = models.make_inputs("bert_encoder")
    expected = openvino_infer(xml, inputs)
    executor, graph, chosen = make_executor(xml)
    not_native = {t for t, _, source in chosen.values() if t in TRANSFORMER_TYPES and source != "transformer"}
    assert not not_native, f"not native: {not_native}"
    if getattr(getattr(ie_backend_cpu, "kernels", None), "native_kernel", None):
        reference = sorted({t for t, e, _ in chosen.values() if e == "ref_numpy"})
        assert not reference, f"layers on the numpy reference: {reference}"
    outputs, _ = executor.run(inputs)
    actual = [outputs[output_name(r.inputs[0])] for r in graph.results]
    for a, e in zip(actual, expected):
        assert_close(a, e, 1e-5, what=f"bert {precision}")


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_bert_encoder_through_the_cpu_device(bert_paths, precision):
    """IEPlugin("CPU") with the transformer kernels wired in: every layer native, OpenVINO's result."""
    import models

    from ie_core import IEPlugin

    xml = bert_paths[precision]
    inputs = models.make_inputs("bert_encoder")
    expected = openvino_infer(xml, inputs)
    net = IENetwork(model=xml, weights=xml[:-4] + ".bin")
    exec_net = IEPlugin("CPU").load(net, config={"PERF_COUNT": "YES"})
    res = exec_net.infer(inputs)
    for name, e in zip(net.outputs, expected):
        assert_close(res[name], e, 1e-5, what=f"bert {precision} on CPU")
    counts = exec_net.requests[0].get_perf_counts()
    reference = sorted({pc["layer_type"] for pc in counts.values() if pc["exec_type"] == "ref_numpy"})
    assert not reference, f"layers on the numpy reference: {reference}"
