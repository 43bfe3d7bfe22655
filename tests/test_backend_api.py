"""Backend API 1.0: subgraphs on several devices, tensors, stages, numerics, registry isolation."""

import textwrap
import threading

import numpy as np
import pytest

import ie_core.backend as backend_api
from helpers import DEVICES, assert_close, openvino_infer, save_ir
from ie_core import IENetwork, IEPlugin, errors
from ie_core.numerics import Numerics
from ie_core.pipeline import Stage, TaskExecutor, run_stages, start_stages
from ie_core.plugins import DeviceRegistry, default_registry
from ie_core.tensor import HOST, Allocator, Tensor, to_allocator, to_host
from test_api import mlp_model


def test_network_split_across_devices(tmp_path):
    xml, binf = save_ir(mlp_model(depth=4), tmp_path)
    net = IENetwork(xml, binf)
    graph = net._graph_for_load()
    names = [n.name for n in graph.nodes]
    cut = names.index("relu1") + 1
    first, second = set(names[:cut]), set(names[cut:])
    part1, in1, out1 = graph.subgraph(first)
    part2, in2, out2 = graph.subgraph(second)
    assert list(in1) == ["data"] and list(out1) == ["relu1"]
    assert list(in2) == ["relu1"] and list(out2) == ["prob"]

    devices = [DEVICES[-1], DEVICES[0]]
    requests = [
        default_registry().create(device).compile(part, {"PERF_COUNT": "NO"}, 1).create_request()
        for device, part in zip(devices, (part1, part2))
    ]
    data = np.random.default_rng(5).standard_normal((1, 64)).astype(np.float32)
    middle = requests[0].infer({"data": data})
    result = requests[1].infer({"relu1": middle["relu1"]})
    assert_close(result["prob"], openvino_infer(xml, {"data": data})[0])


# --------------------------------------------------------------------------- Backend API 1.0 mechanisms



def test_every_error_is_importable_from_the_backend_api():
    for name in errors.__all__:
        assert getattr(backend_api, name) is getattr(errors, name)


class _BoxAllocator(Allocator):
    """Device memory of a test device: tensors hold a private copy of their bytes."""

    device = "BOX"

    def __init__(self):
        self.copies = []

    def allocate(self, shape, dtype):
        return Tensor(shape, dtype, self, bytearray(int(np.prod(shape)) * np.dtype(dtype).itemsize))

    def copyin(self, dst, array):
        self.copies.append("in")
        dst.handle[:] = np.ascontiguousarray(array, dst.dtype).tobytes()

    def copyout(self, src):
        self.copies.append("out")
        return np.frombuffer(bytes(src.handle), src.dtype).reshape(src.shape)


def test_tensors_move_between_host_and_device_memory():
    box = _BoxAllocator()
    host = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert to_allocator(host, HOST) is host  # host memory: zero copy
    dev = to_allocator(host, box)
    assert isinstance(dev, Tensor) and dev.device == "BOX" and box.copies == ["in"]
    assert to_allocator(dev, box) is dev
    np.testing.assert_array_equal(to_host(dev), host)
    np.testing.assert_array_equal(to_allocator(dev, HOST), host)
    half = to_allocator(dev, box, np.float16)
    assert half.dtype == np.float16 and half.device == "BOX"
    np.testing.assert_array_equal(half.numpy(), host.astype(np.float16))


def test_stages_run_on_their_executors_and_report_errors():
    a, b = TaskExecutor("stage-a"), TaskExecutor("stage-b")
    seen = []
    stages = [Stage(a, lambda x: seen.append(("a", a.is_current())) or x + 1),
              Stage(b, lambda x: seen.append(("b", b.is_current())) or x * 10)]
    assert run_stages(stages, 1) == 20 and seen == [("a", False), ("b", False)]
    seen.clear()
    done = threading.Event()
    result = []
    start_stages(stages, 2, lambda value, error: (result.append((value, error)), done.set()))
    assert done.wait(10) and result == [(30, None)] and seen == [("a", True), ("b", True)]

    def fail(x):
        raise ValueError("boom")

    done.clear()
    start_stages([Stage(a, fail)], 0, lambda value, error: (result.append((value, error)), done.set()))
    assert done.wait(10) and isinstance(result[-1][1], ValueError)


def test_inline_stages_run_on_the_starting_thread_unless_nested():
    ex = TaskExecutor("inline")
    threads, done = [], threading.Event()
    stage = Stage(ex, lambda x: threads.append(threading.current_thread()) or x, inline=True)

    def restart_once(value, error):
        if len(threads) == 1:
            start_stages([stage], value, restart_once)  # from on_done: queued, not nested
        else:
            done.set()

    start_stages([stage], 0, restart_once)
    assert done.wait(10)
    assert threads[0] is threading.current_thread() and threads[1] is not threading.current_thread()


def test_closing_an_executor_cancels_queued_tasks():
    ex = TaskExecutor("closing")
    release, started = threading.Event(), threading.Event()
    outcomes = []
    ex.submit(lambda: (started.set(), release.wait(10)))
    assert started.wait(10)
    ex.submit(lambda: outcomes.append("ran"), lambda: outcomes.append("cancelled"))
    ex.close()
    release.set()
    assert outcomes == ["cancelled"]
    ex.submit(lambda: outcomes.append("ran"), lambda: outcomes.append("cancelled after close"))
    assert outcomes == ["cancelled", "cancelled after close"]


class _HalfNumerics(Numerics):
    name = "FP16"

    def store_float(self, array):
        return array.astype(np.float16).astype(np.float32)


def test_numerics_policy_rounds_what_the_device_stores(tmp_path):
    xml, binf = save_ir(mlp_model(depth=1), tmp_path)
    graph = IENetwork(xml, binf)._graph_for_load()
    numerics = _HalfNumerics()
    ex = backend_api.GraphExecutor(graph, lambda n: backend_api.reference_kernel(n, numerics, fallback=False),
                                   numerics=numerics)
    data = np.random.default_rng(1).standard_normal((1, 64)).astype(np.float32)
    (out,) = ex.run({"data": data})[0].values()
    np.testing.assert_array_equal(out, out.astype(np.float16).astype(np.float32))
    assert all(s.precision == "FP16" and s.native for s in ex.support.values())


def test_reference_query_is_native_and_agrees_with_compile(tmp_path):
    xml, binf = save_ir(mlp_model(depth=2), tmp_path)
    net = IENetwork(xml, binf)
    support = IEPlugin("REFERENCE").query(net)
    assert set(support) == set(net.layers) and all(s.supported and s.native for s in support.values())


def test_metrics_config_and_capabilities():
    plugin = IEPlugin("REFERENCE")
    assert plugin.get_config("PERF_COUNT") == "NO"
    plugin.set_config({"PERF_COUNT": "YES"})
    assert plugin.get_config("PERF_COUNT") == "YES"
    assert "FULL_DEVICE_NAME" in plugin.get_metric("SUPPORTED_METRICS")
    assert plugin.get_metric("BACKEND_API_VERSION") == backend_api.API_VERSION
    with pytest.raises(errors.ConfigError):
        plugin.get_metric("NO_SUCH_METRIC")
    with pytest.raises(errors.NotSupportedError, match="HETERO"):
        plugin.set_initial_affinity(None)
    with pytest.raises(errors.NotSupportedError, match="CPU or HETERO"):
        plugin.add_cpu_extension("x.so")


BROKEN_PLUGINS = {
    "old_api_device.py": '''
        from ie_core.backend import Backend, hookimpl

        class OldBackend(Backend):
            device_name = "OLDDEV"
            api_version = "0.9"

            def compile(self, graph, config, num_requests):
                raise AssertionError("never compiled")

        @hookimpl
        def ie_core_backends():
            return [OldBackend]
    ''',
}


def test_a_backend_for_another_api_version_is_reported_not_loaded(tmp_path):
    for name, source in BROKEN_PLUGINS.items():
        (tmp_path / name).write_text(textwrap.dedent(source))
    registry = DeviceRegistry([tmp_path])
    assert "OLDDEV" not in registry.backends() and "REFERENCE" in registry.backends()
    assert "Backend API 0.9" in registry.failures()["OLDDEV"]
    with pytest.raises(errors.DeviceNotFoundError, match="OLDDEV.*failed to load.*0.9"):
        registry.create("OLDDEV")


def test_layer_set_support_and_refusal(tmp_path):
    xml, binf = save_ir(mlp_model(depth=2), tmp_path)
    graph = IENetwork(xml, binf)._graph_for_load()
    support = backend_api.layer_set_support(
        graph, "FP16", lambda node: ("not in the layer set" if node.type == "SoftMax" else None, "emulated"))
    by_type = {n.type: support[n.name] for n in graph.nodes if n.name in support}
    assert "Result" not in by_type
    assert by_type["Parameter"] == backend_api.LayerSupport(True, True, "FP16", "")
    assert by_type["MatMul"] == backend_api.LayerSupport(True, True, "FP16", "emulated")
    assert not by_type["SoftMax"].supported and by_type["SoftMax"].reason == "not in the layer set"
    with pytest.raises(errors.NotSupportedError, match=r"BOX cannot run network .*\(not in the layer set\).*"
                                                       r"HETERO:BOX,CPU"):
        backend_api.refuse_unsupported("BOX", graph, support)
    backend_api.refuse_unsupported("BOX", graph, {name: s for name, s in support.items() if s.supported})
