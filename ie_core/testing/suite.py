"""The conformance tests: :class:`ConformanceSuite` (see the package docstring)."""

import gc
import threading
from typing import NamedTuple

import numpy as np
import pytest

from ..api import IENetwork, IEPlugin, StatusCode
from ..errors import ConfigError, InferenceError, InputError, InputNameError, NotSupportedError, UnsupportedOpError
from ..pipeline import start_stages
from ..plugins import api_compatible, registry_for
from ..tensor import HOST, to_allocator, to_host
from .catalogue import CATALOGUE, HEAVY, MLP, SPECIAL_VALUE_CASES, build, seeded, special_values

#: Seconds a test waits for an inference or a callback before it reports a hang.
HANG_TIMEOUT = 300
#: How many times the async tests retry for a request still running when they poll it.
ATTEMPTS = 20
PERF_STATUSES = ("EXECUTED", "NOT_RUN", "OPTIMIZED_OUT")
SOURCE_TYPES = ("Parameter", "Const")
REFUSALS = (NotSupportedError, UnsupportedOpError)
UNKNOWN_KEY = "CONFORMANCE_NO_SUCH_KEY"


class Network(NamedTuple):
    """A catalogue network written as IR: its files, its graph's inputs and how to sample them."""

    name: str
    xml: str
    weights: str
    graph: object
    sampling: dict

    def ie_network(self):
        return IENetwork(model=self.xml, weights=self.weights)

    def inputs(self, seed=0):
        """Input arrays drawn per the case's :class:`~ie_core.testing.irwriter.Sampling` (the same for a ``seed``)."""
        rng = seeded(f"{self.name}/inputs/{seed}")
        arrays = {}
        for p in self.graph.parameters:
            shape, dtype = p.output_shapes[0], np.dtype(p.output_dtypes[0])
            low, high = self.sampling[p.name]
            if dtype == np.bool_:
                arrays[p.name] = rng.integers(0, 2, shape).astype(np.bool_)
            elif dtype.kind in "iu":
                lo = 0 if dtype.kind == "u" and low is None else (-10 if low is None else int(low))
                arrays[p.name] = rng.integers(lo, 10 if high is None else int(high), shape).astype(dtype)
            elif low is None:
                arrays[p.name] = rng.standard_normal(shape).astype(dtype)
            else:
                arrays[p.name] = rng.uniform(low, high, shape).astype(dtype)
        return arrays


def write_network(case, directory):
    """Write ``case`` (a :class:`~ie_core.testing.catalogue.Case`) into ``directory``; returns a :class:`Network`."""
    b = build(case)
    xml, weights = b.write(directory)
    return Network(case.name, xml, weights, b.graph(), dict(b.sampling))


_reference_cache = {}


def reference_outputs(network, seed=0):
    """The REFERENCE device's outputs for ``network.inputs(seed)`` (computed once per process)."""
    key = (network.name, seed)
    if key not in _reference_cache:
        exec_net = IEPlugin("REFERENCE").load(network.ie_network())
        _reference_cache[key] = exec_net.infer(network.inputs(seed))
    return _reference_cache[key]


def rel_l2(actual, expected):
    """Relative L2 error of ``actual`` against ``expected`` (the absolute one where ``expected`` is all zero)."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    diff = np.linalg.norm((actual - expected).ravel())
    norm = np.linalg.norm(expected.ravel())
    return diff / norm if norm > 0 else diff


def assert_matches(actual, expected, tolerance, what):
    """Same shape and dtype; integers and booleans equal; floats equal in their non-finite positions and
    within relative L2 ``tolerance`` elsewhere."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, REFERENCE {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype}, REFERENCE {expected.dtype}"
    if expected.dtype.kind in "biu":
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(np.isfinite(actual), finite, err_msg=f"{what}: non-finite values differ")
    np.testing.assert_array_equal(actual[~finite], expected[~finite], err_msg=f"{what}: non-finite values differ")
    error = rel_l2(actual[finite], expected[finite])
    assert error <= tolerance, f"{what}: relative L2 error {error:.3g} > {tolerance:g}"


class _Outcomes:
    """Collects ``(result, error)`` of asynchronous runs; :meth:`wait` until ``count`` arrived."""

    def __init__(self, count):
        self.items = []
        self._count = count
        self._lock = threading.Lock()
        self._all = threading.Event()

    def __call__(self, result, error):
        with self._lock:
            self.items.append((result, error))
            if len(self.items) == self._count:
                self._all.set()

    def wait(self):
        assert self._all.wait(HANG_TIMEOUT), f"only {len(self.items)} of {self._count} runs ended: a hang"
        return self.items


class ConformanceSuite:
    """The conformance tests of one device; subclass as ``Test<Device>Conformance`` and set:

    ``device``: the device string (``"CPU"``, ``"HETERO:CPU,REFERENCE"``);
    ``tolerance``: relative L2 error allowed against REFERENCE; ``tolerances``: case name ->
    tolerance, for cases that need another; ``config``: extra load configuration;
    ``queue_config``: configuration under which a network's requests queue for the
    device (e.g. one CPU stream), for the release test; ``fallback_exec_types``: the
    exec_types of layers the device does not run natively; ``plugin_dirs``: directories
    of plugin modules to search besides the installed devices (a test-only device);
    ``mlp_case``: the small network of the async, perf-count, config and tensor tests
    (``catalogue.MLP``, or ``catalogue.MLP_RELU`` for a device without GELU and Softmax);
    ``deviations``: case name -> why the device's result differs from REFERENCE by design
    (an emulated format), for which the result test is skipped with that reason.
    """

    device = None
    plugin_dirs = None
    mlp_case = MLP
    deviations = {}
    tolerance = 1e-5
    tolerances = {}
    config = {}
    queue_config = {}
    fallback_exec_types = ("ref_numpy",)

    # ------------------------------------------------------------------ helpers

    def plugin(self):
        return IEPlugin(self.device, plugin_dirs=self.plugin_dirs)

    def load(self, network, num_requests=1, **config):
        return self.plugin().load(network.ie_network(), num_requests, {**self.config, **config})

    def tolerance_for(self, case_name):
        return self.tolerances.get(case_name, self.tolerance)

    def check_outputs(self, outputs, network, seed=0, what="", expected=None):
        """``outputs`` against ``expected`` (default: REFERENCE's for ``network.inputs(seed)``)."""
        expected = reference_outputs(network, seed) if expected is None else expected
        assert set(outputs) == set(expected), f"{what}outputs {sorted(outputs)}, REFERENCE has {sorted(expected)}"
        for name, value in expected.items():
            assert_matches(outputs[name], value, self.tolerance_for(network.name),
                           f"{self.device} {network.name} {what}output {name}")

    def load_or_skip(self, network, **config):
        """Load ``network``; a device that refuses it must say so in query(), and the test is skipped."""
        plugin = self.plugin()
        try:
            return plugin.load(network.ie_network(), 1, {**self.config, **config})
        except REFUSALS as exc:
            support = plugin.query(network.ie_network(), self.config)
            refused = sorted(name for name, s in support.items() if not s.supported)
            assert refused, f"{self.device} refuses {network.name} at load ({exc}), yet query() supports every layer"
            pytest.skip(f"{self.device} does not support {network.name} (layers {refused}): {exc}")

    @pytest.fixture
    def mlp(self, tmp_path):
        return write_network(self.mlp_case, tmp_path)

    @pytest.fixture
    def heavy(self, tmp_path):
        return write_network(HEAVY, tmp_path)

    # ------------------------------------------------------------------ results per op

    def load_case(self, case, tmp_path):
        """(network, loaded network) of a catalogue ``case``; the test is skipped where the device deviates
        from REFERENCE by design or refuses the network."""
        if case.name in self.deviations:
            pytest.skip(f"{self.device} deviates from REFERENCE by design: {self.deviations[case.name]}")
        network = write_network(case, tmp_path)
        return network, self.load_or_skip(network)

    @pytest.mark.parametrize("case", CATALOGUE, ids=lambda c: c.name)
    def test_results_match_reference(self, case, tmp_path):
        network, exec_net = self.load_case(case, tmp_path)
        self.check_outputs(exec_net.infer(network.inputs()), network)

    @pytest.mark.parametrize("case", SPECIAL_VALUE_CASES, ids=lambda c: c.name)
    def test_special_values_match_reference(self, case, tmp_path):
        network, exec_net = self.load_case(case, tmp_path)
        rng = seeded(f"{case.name}/special")
        inputs = {name: special_values(x, rng) for name, x in network.inputs().items()}
        expected = IEPlugin("REFERENCE").load(network.ie_network()).infer(inputs)
        self.check_outputs(exec_net.infer(inputs), network, expected=expected)

    # ------------------------------------------------------------------ query and compile

    @pytest.mark.parametrize("case", CATALOGUE, ids=lambda c: c.name)
    def test_query_agrees_with_compile(self, case, tmp_path):
        network = write_network(case, tmp_path)
        ie_net = network.ie_network()
        support = self.plugin().query(ie_net, self.config)
        assert set(support) == set(ie_net.layers), "query() must answer for every layer"
        exec_net = self.load_or_skip(network, PERF_COUNT="YES")
        assert all(s.supported for s in support.values()), "a network that loads has only supported layers"
        request = exec_net.requests[0]
        request.infer(network.inputs())
        counts = request.get_perf_counts()
        for name, layer in ie_net.layers.items():
            s, pc = support[name], counts.get(name)
            assert pc is not None, f"layer {name} has no perf count"
            if layer.type in SOURCE_TYPES:
                continue
            what = f"layer {name} ({layer.type})"
            assert s.exec_type == pc["exec_type"], f"{what}: query {s.exec_type!r}, perf counts {pc['exec_type']!r}"
            assert s.native == (pc["exec_type"] not in self.fallback_exec_types), f"{what}: native={s.native}, {pc}"
            assert s.precision, f"{what}: no precision"
            assert s.native or s.reason, f"{what}: not native, but no reason given"
            if s.fused_into is not None:
                assert s.fused_into in ie_net.layers, f"{what}: fused into unknown layer {s.fused_into}"
                assert pc["status"] == "OPTIMIZED_OUT", f"{what}: fused into {s.fused_into} but {pc['status']}"
                assert counts[s.fused_into]["status"] == "EXECUTED", f"{what}: {s.fused_into} did not run"

    # ------------------------------------------------------------------ asynchronous inference

    def test_wait_codes(self, heavy):
        exec_net = self.load(heavy)
        request = exec_net.requests[0]
        assert request.wait(0) == StatusCode.INFER_NOT_STARTED
        assert request.wait(-1) == StatusCode.INFER_NOT_STARTED
        inputs = heavy.inputs()
        polled = set()
        for _ in range(ATTEMPTS):
            exec_net.start_async(request_id=0, inputs=inputs)
            polled.add(request.wait(0))
            assert request.wait(-1) == StatusCode.OK
            assert request.wait(0) == StatusCode.OK
            if StatusCode.RESULT_NOT_READY in polled:
                break
        assert polled <= {StatusCode.OK, StatusCode.RESULT_NOT_READY}, polled
        assert StatusCode.RESULT_NOT_READY in polled, "wait(0) never saw a running inference"
        with pytest.raises(ValueError):
            request.wait(-2)
        self.check_outputs(request.outputs, heavy)

    def test_busy_request_raises(self, heavy):
        exec_net = self.load(heavy)
        request = exec_net.requests[0]
        inputs = heavy.inputs()
        refused = []
        for _ in range(ATTEMPTS):
            exec_net.start_async(request_id=0, inputs=inputs)
            for start in (lambda: exec_net.start_async(request_id=0, inputs=inputs), lambda: request.infer(inputs)):
                try:
                    start()
                except InferenceError as exc:
                    assert isinstance(exc, RuntimeError) and "[REQUEST_BUSY]" in str(exc), exc
                    refused.append(exc)
            assert request.wait(-1) == StatusCode.OK
            if refused:
                break
        assert refused, "starting a running request never raised [REQUEST_BUSY]"
        self.check_outputs(request.outputs, heavy)

    def test_completion_callback(self, mlp):
        exec_net = self.load(mlp)
        request = exec_net.requests[0]
        calls, called = [], threading.Semaphore(0)

        def callback(status, data):
            calls.append((status, data))
            called.release()

        request.set_completion_callback(callback, {"tag": "data"})
        for seed in range(3):
            exec_net.start_async(request_id=0, inputs=mlp.inputs(seed))
            assert called.acquire(timeout=HANG_TIMEOUT), "the completion callback was not called"
            assert request.wait(-1) == StatusCode.OK
            self.check_outputs(request.outputs, mlp, seed)
        assert calls == [(StatusCode.OK, {"tag": "data"})] * 3

    def test_callback_restarting_its_request(self, mlp):
        """A completion callback that starts its request's next inference, many times over (the seed's
        pattern for a stream of inputs): every inference completes, none nests in the previous one's
        call stack (a RecursionError after a few hundred), and the last one's outputs are right."""
        exec_net = self.load(mlp)
        request = exec_net.requests[0]
        restarts, statuses, finished = 600, [], threading.Event()
        inputs = [mlp.inputs(0), mlp.inputs(1)]

        def callback(status, _):
            statuses.append(status)
            if status == StatusCode.OK and len(statuses) < restarts:
                request.async_infer(inputs[len(statuses) % 2])
            else:
                finished.set()

        request.set_completion_callback(callback)
        exec_net.start_async(request_id=0, inputs=inputs[0])
        assert finished.wait(HANG_TIMEOUT), f"the chain stopped after {len(statuses)} inferences"
        assert request.wait(-1) == StatusCode.OK, request.error
        assert statuses == [StatusCode.OK] * restarts
        self.check_outputs(request.outputs, mlp, (restarts - 1) % 2)

    def test_two_requests_in_flight_keep_their_inputs(self, mlp):
        exec_net = self.load(mlp, num_requests=2)
        for first, second in ((0, 1), (1, 0)):
            exec_net.start_async(request_id=first, inputs=mlp.inputs(first))
            exec_net.start_async(request_id=second, inputs=mlp.inputs(second))
            for rid in (second, first):
                assert exec_net.requests[rid].wait(-1) == StatusCode.OK
            for rid in (0, 1):
                self.check_outputs(exec_net.requests[rid].outputs, mlp, rid, f"request {rid} ")

    def test_start_async_and_wait_race(self, mlp):
        exec_net = self.load(mlp, num_requests=2)
        seeds = 4
        for seed in range(seeds):
            reference_outputs(mlp, seed)
        errors = []

        def drive(rid):
            request = exec_net.requests[rid]
            try:
                for i in range(ATTEMPTS):
                    seed = (rid + i) % seeds
                    exec_net.start_async(request_id=rid, inputs=mlp.inputs(seed))
                    statuses = []
                    waiter = threading.Thread(target=lambda: statuses.append(request.wait(-1)))
                    waiter.start()
                    statuses.append(request.wait(-1))
                    waiter.join(HANG_TIMEOUT)
                    assert statuses == [StatusCode.OK] * 2, statuses
                    self.check_outputs(request.outputs, mlp, seed, f"request {rid} run {i} ")
            except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
                errors.append(exc)

        threads = [threading.Thread(target=drive, args=(rid,)) for rid in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(HANG_TIMEOUT)
            assert not t.is_alive(), "an inference hangs"
        assert not errors, errors[0]

    def test_release_cancels_queued_requests(self, heavy):
        backend = registry_for(self.plugin_dirs).create(self.device)
        config = backend.validate_config({**self.config, **self.queue_config})
        compiled = backend.compile(heavy.graph, config, 3)
        allocator = compiled.allocator()
        outcomes = _Outcomes(3)
        requests = [compiled.create_request() for _ in range(3)]
        for request in requests:
            tensors = {name: to_allocator(a, allocator) for name, a in heavy.inputs().items()}
            start_stages(request.stages(), tensors, outcomes)
        compiled.release()
        for result, error in outcomes.wait():
            if error is None:
                self.check_outputs({k: to_host(v) for k, v in result.items()}, heavy)
            else:
                assert isinstance(error, InferenceError), f"a cancelled run must end with InferenceError: {error!r}"
        compiled.release()

    def test_dropping_a_network_with_requests_in_flight(self, heavy):
        exec_net = self.load(heavy, num_requests=3, **self.queue_config)
        called = threading.Semaphore(0)
        statuses = []
        for rid, request in enumerate(exec_net.requests):
            request.set_completion_callback(lambda status, _: (statuses.append(status), called.release()))
            exec_net.start_async(request_id=rid, inputs=heavy.inputs())
        del exec_net, request
        gc.collect()
        for _ in range(3):
            assert called.acquire(timeout=HANG_TIMEOUT), "a request of a dropped network never completed"
        assert set(statuses) <= {StatusCode.OK, StatusCode.GENERAL_ERROR}, statuses

    # ------------------------------------------------------------------ perf counts

    @pytest.mark.parametrize("perf_count", ["YES", "NO"])
    def test_perf_count_shape(self, mlp, perf_count):
        ie_net = mlp.ie_network()
        exec_net = self.plugin().load(ie_net, 1, {**self.config, "PERF_COUNT": perf_count})
        request = exec_net.requests[0]
        request.infer(mlp.inputs())
        counts = request.get_perf_counts()
        assert set(ie_net.layers) <= set(counts), f"layers without perf counts: {set(ie_net.layers) - set(counts)}"
        for name, pc in counts.items():
            assert pc["status"] in PERF_STATUSES, f"{name}: {pc}"
            assert isinstance(pc["exec_type"], str) and pc["exec_type"], f"{name}: {pc}"
            for key in ("real_time", "cpu_time"):
                assert type(pc[key]) is int and pc[key] >= 0, f"{name}: {key} {pc[key]!r}"
            if name in ie_net.layers:
                assert pc["layer_type"] == ie_net.layers[name].type, f"{name}: {pc}"
        if perf_count == "YES":
            executed = [pc["real_time"] for pc in counts.values() if pc["status"] == "EXECUTED"]
            assert executed, "PERF_COUNT=YES but no layer EXECUTED"
            assert sum(executed) <= request.latency * 1000 * 1.1 + 100, (sum(executed), request.latency)

    # ------------------------------------------------------------------ configuration and metrics

    def test_config_validation(self, mlp):
        plugin = self.plugin()
        with pytest.raises(ConfigError) as info:
            plugin.set_config({UNKNOWN_KEY: "YES"})
        assert isinstance(info.value, RuntimeError) and UNKNOWN_KEY in str(info.value)
        with pytest.raises(ConfigError):
            plugin.set_config({"PERF_COUNT": "MAYBE"})
        with pytest.raises(ConfigError):
            plugin.load(mlp.ie_network(), 1, {**self.config, UNKNOWN_KEY: "1"})
        with pytest.raises(ConfigError):
            plugin.get_config(UNKNOWN_KEY)
        keys = plugin.get_metric("SUPPORTED_CONFIG_KEYS")
        assert "PERF_COUNT" in keys
        for key in keys:
            assert isinstance(plugin.get_config(key), str), key
        for value in ("YES", "NO"):
            plugin.set_config({"PERF_COUNT": value})
            assert plugin.get_config("PERF_COUNT") == value
        with pytest.raises(ConfigError):
            plugin.set_config({"PERF_COUNT": "YES", UNKNOWN_KEY: "1"})
        assert plugin.get_config("PERF_COUNT") == "NO", "a refused set_config() changed the configuration"
        exec_net = plugin.load(mlp.ie_network(), 1, {**self.config, "PERF_COUNT": "YES"})
        assert exec_net.get_config("PERF_COUNT") == "YES"

    def test_metrics(self, mlp):
        plugin = self.plugin()
        metrics = plugin.get_metric("SUPPORTED_METRICS")
        assert {"FULL_DEVICE_NAME", "SUPPORTED_CONFIG_KEYS", "SUPPORTED_METRICS"} <= set(metrics), metrics
        for name in metrics:
            plugin.get_metric(name)
        full_name = plugin.get_metric("FULL_DEVICE_NAME")
        assert isinstance(full_name, str) and full_name
        with pytest.raises(ConfigError):
            plugin.get_metric("CONFORMANCE_NO_SUCH_METRIC")
        exec_net = self.load(mlp, num_requests=2)
        assert exec_net.get_metric("OPTIMAL_NUMBER_OF_INFER_REQUESTS") >= 1
        assert exec_net.get_metric("NETWORK_NAME") == mlp.graph.name

    def test_backend_api_version(self):
        version = self.plugin().get_metric("BACKEND_API_VERSION")
        assert api_compatible(version), f"{self.device} targets Backend API {version}"
        base = self.device.partition(":")[0].partition(".")[0].upper()
        assert registry_for(self.plugin_dirs).devices()[base]["api_version"] == version

    # ------------------------------------------------------------------ tensors

    def test_allocator_round_trip(self, mlp):
        allocator = self.load(mlp)._compiled.allocator()
        (host,) = mlp.inputs().values()
        tensor = allocator.allocate(host.shape, host.dtype)
        assert allocator.owns(tensor) and tuple(tensor.shape) == host.shape and tensor.dtype == host.dtype
        allocator.copyin(tensor, host)
        np.testing.assert_array_equal(allocator.copyout(tensor), host)
        moved = to_allocator(host, allocator)
        assert allocator.owns(moved)
        np.testing.assert_array_equal(to_allocator(moved, HOST), host)
        assert to_allocator(moved, allocator) is moved
        half = to_allocator(moved, allocator, np.float16)
        assert allocator.owns(half) and half.dtype == np.float16
        np.testing.assert_array_equal(to_host(half), host.astype(np.float16))

    def test_request_tensors(self, mlp):
        exec_net = self.load(mlp)
        allocator = exec_net._compiled.allocator()
        request = exec_net.requests[0]
        (name,) = mlp.inputs()
        (output,) = mlp.ie_network().outputs
        bound = to_allocator(mlp.inputs(1)[name], allocator)
        request.set_tensor(name, bound)
        assert request.get_tensor(name) is bound
        request.infer()
        self.check_outputs(request.outputs, mlp, 1)
        produced = request.get_tensor(output)
        assert allocator.owns(produced)
        np.testing.assert_array_equal(to_host(produced), request.outputs[output])
        request.set_tensor(name, mlp.inputs(2)[name])
        request.infer()
        self.check_outputs(request.outputs, mlp, 2)
        request.infer(mlp.inputs(3))
        self.check_outputs(request.outputs, mlp, 3)
        with pytest.raises(InputError):
            request.set_tensor(name, allocator.allocate((1,) + tuple(bound.shape), bound.dtype))
        with pytest.raises(InputNameError):
            request.set_tensor("conformance_no_such_input", bound)
        with pytest.raises(KeyError):
            request.get_tensor("conformance_no_such_tensor")
