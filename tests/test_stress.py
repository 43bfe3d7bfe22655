"""Concurrency stress on every installed device: many threads, distinct inputs, sync and async inferences,
busy requests, timeouts racing completion, networks released with inferences in flight; executors closed while
tasks are submitted."""

import gc
import random
import threading

import numpy as np
import pytest

from helpers import DEVICES, save_ir
from ie_core import IENetwork, IEPlugin, StatusCode, errors
from ie_core.pipeline import TaskExecutor
from test_api import mlp_model

REQUESTS = 4
ROUNDS = 60


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    xml, binf = save_ir(mlp_model(), tmp_path_factory.mktemp("stress"))
    rng = np.random.default_rng(7)
    inputs = [rng.standard_normal((1, 64)).astype(np.float32) for _ in range(REQUESTS * 2)]
    reference = IEPlugin("REFERENCE").load(IENetwork(xml, binf))
    expected = [reference.infer({"data": x})["prob"] for x in inputs]
    return xml, binf, inputs, expected


def _close(actual, expected):
    return np.allclose(actual, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_threads_with_distinct_inputs(network, device):
    xml, binf, inputs, expected = network
    exec_net = IEPlugin(device).load(IENetwork(xml, binf), num_requests=REQUESTS)
    failures = []

    def worker(k):
        rnd = random.Random(k)
        request = exec_net.requests[k]
        for i in range(ROUNDS):
            j = (k + i * REQUESTS) % len(inputs)
            mode = rnd.choice(("sync", "async", "poll", "race"))
            if mode == "sync":
                request.infer({"data": inputs[j]})
            else:
                exec_net.start_async(k, {"data": inputs[j]})
                if mode == "poll":
                    while request.wait(0) == StatusCode.RESULT_NOT_READY:
                        pass
                elif mode == "race":
                    status = request.wait(1)
                    if status == StatusCode.RESULT_NOT_READY:
                        status = request.wait(-1)
                    if status != StatusCode.OK:
                        failures.append((k, i, mode, status))
                        return
                elif request.wait() != StatusCode.OK:
                    failures.append((k, i, mode, request.error))
                    return
            if not _close(request.outputs["prob"], expected[j]):
                failures.append((k, i, mode, "wrong output"))
                return

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(REQUESTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    assert failures == []


@pytest.mark.parametrize("device", DEVICES)
def test_busy_request_is_refused_and_keeps_its_inference(network, device):
    xml, binf, inputs, expected = network
    exec_net = IEPlugin(device).load(IENetwork(xml, binf))
    for _ in range(20):
        request = exec_net.start_async(0, {"data": inputs[0]})
        try:
            exec_net.start_async(0, {"data": inputs[1]})
            busy = False
        except errors.InferenceError as exc:
            assert "REQUEST_BUSY" in str(exc)
            busy = True
        assert request.wait() == StatusCode.OK
        assert _close(request.outputs["prob"], expected[1 if not busy else 0])


@pytest.mark.parametrize("device", DEVICES)
def test_networks_released_with_inferences_in_flight(network, device):
    xml, binf, inputs, expected = network
    before = set(threading.enumerate())
    for _ in range(10):
        exec_net = IEPlugin(device).load(IENetwork(xml, binf), num_requests=REQUESTS)
        for k in range(REQUESTS):
            exec_net.start_async(k, {"data": inputs[k]})
        del exec_net
    gc.collect()
    exec_net = IEPlugin(device).load(IENetwork(xml, binf), num_requests=2)
    assert _close(exec_net.infer({"data": inputs[3]})["prob"], expected[3])
    del exec_net
    gc.collect()
    deadline = threading.Event()
    for _ in range(100):
        if not [t for t in set(threading.enumerate()) - before if t.is_alive()]:
            break
        deadline.wait(0.1)
    assert not [t for t in set(threading.enumerate()) - before if t.is_alive()]


def test_a_task_submitted_to_a_closed_executor_is_cancelled():
    executor = TaskExecutor("closed", 2)
    executor.submit(lambda: None)
    executor.close()
    cancelled = threading.Event()
    executor.submit(lambda: pytest.fail("a task ran after close()"), cancelled.set)
    assert cancelled.is_set()


def test_close_racing_submit_loses_no_task():
    """Every task submitted while another thread closes the executor runs or is cancelled (a HETERO request's
    next stage is submitted to a sub-device's queue while the network is released)."""
    for _ in range(200):
        executor = TaskExecutor("race", 2)
        ended = threading.Semaphore(0)
        submitter = threading.Thread(target=lambda: [executor.submit(ended.release, ended.release) for _ in range(20)])
        submitter.start()
        executor.close()
        submitter.join()
        for _ in range(20):
            assert ended.acquire(timeout=10), "a task was neither run nor cancelled"
