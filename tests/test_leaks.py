"""No leaks on any installed device: 10,000 inferences and 200 load/infer/unload cycles (1 and 4 requests,
asynchronous) keep the resident memory and the thread count bounded."""

import gc
import os
import time

import numpy as np
import pytest
from helpers import DEVICES, save_ir
from test_api import mlp_model

from ie_core import IENetwork, IEPlugin

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc/self (Linux)"),
]

INPUT = np.random.default_rng(5).standard_normal((1, 64)).astype(np.float32)
MB = 1 << 20


def rss():
    """The process's resident memory in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def native_threads():
    """The threads of the process, native ones (OpenMP teams, oneDNN) included."""
    return len(os.listdir("/proc/self/task"))


def settled_threads(timeout=10.0):
    """The thread count once it has not changed for half a second (the threads of a released network end
    asynchronously), or what it is after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    count, since = native_threads(), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < 0.5:
        gc.collect()
        time.sleep(0.05)
        if native_threads() != count:
            count, since = native_threads(), time.monotonic()
    return count


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    return save_ir(mlp_model(), tmp_path_factory.mktemp("leaks"))


def cycle(xml, weights, device, num_requests, config):
    """Read, load with ``num_requests`` requests, run each asynchronously, release."""
    exec_net = IEPlugin(device).load(IENetwork(xml, weights), num_requests=num_requests, config=config)
    for k in range(num_requests):
        exec_net.start_async(k, {"data": INPUT})
    for request in exec_net.requests:
        assert request.wait() == 0
    del exec_net, request


@pytest.mark.parametrize("device", DEVICES)
def test_ten_thousand_inferences(network, device):
    exec_net = IEPlugin(device).load(IENetwork(*network))
    request = exec_net.requests[0]

    def run(count):
        for i in range(count):
            if i % 2:
                request.infer({"data": INPUT})
            else:
                exec_net.start_async(0, {"data": INPUT})
                assert request.wait() == 0

    run(500)
    gc.collect()
    before, threads = rss(), native_threads()
    run(10_000)
    gc.collect()
    assert rss() - before < 8 * MB
    assert native_threads() <= threads


def load_cycles():
    cases = [(device, n, {}) for device in DEVICES for n in (1, 4)]
    if "CPU" in DEVICES:  # more requests than streams: the streams' workers serve one queue
        cases.append(("CPU", 4, {"CPU_THROUGHPUT_STREAMS": "2"}))
    return cases


@pytest.mark.parametrize("device, num_requests, config", load_cycles())
def test_load_infer_unload_cycles(network, device, num_requests, config):
    for _ in range(20):
        cycle(*network, device, num_requests, config)
    threads, before = settled_threads(), rss()
    for _ in range(200):
        cycle(*network, device, num_requests, config)
    assert settled_threads() <= threads
    gc.collect()
    assert rss() - before < 16 * MB
