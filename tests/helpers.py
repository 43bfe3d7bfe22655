"""Shared test helpers: write IR with OpenVINO, run it with OpenVINO (f32) and with ie_core, compare."""

import functools
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import openvino as ov

import openvino_reference
from ie_core import IENetwork, IEPlugin, available_devices

#: The devices every correctness test runs on: the numpy reference and, when installed, the CPU backend.
DEVICES = [d for d in ("REFERENCE", "CPU") if d in available_devices()]


def save_ir(model, directory, name="model", compress_to_fp16=False):
    """Write ``model`` (an ov.Model) as IR into ``directory``; returns (xml_path, bin_path) as str."""
    xml = str(directory / f"{name}.xml")
    ov.save_model(model, xml, compress_to_fp16=compress_to_fp16)
    return xml, xml[:-4] + ".bin"


def openvino_infer(xml, inputs, reshape=None):
    """OpenVINO's own f32 inference of the IR at ``xml``; outputs in Result order.

    Under AddressSanitizer (``tox -e asan`` preloads libasan) OpenVINO cannot run in this process (its
    TBB opens a library with RTLD_DEEPBIND, which the sanitizer refuses): it runs in a worker process
    started without the preload, which imports nothing of ie-core (:mod:`openvino_reference`).
    """
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        return _unsanitized_worker().submit(openvino_reference.infer, xml, inputs, reshape).result()
    return openvino_reference.infer(xml, inputs, reshape)


@functools.cache
def _unsanitized_worker():
    preload = os.environ.pop("LD_PRELOAD")
    try:
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        pool.submit(int).result()  # the worker starts now, while the preload is unset
    finally:
        os.environ["LD_PRELOAD"] = preload
    return pool


def ie_infer(xml, inputs, device, batch_size=None):
    """ie_core's inference of the IR at ``xml`` on ``device``; outputs in the network's output order."""
    net = IENetwork(model=xml, weights=xml[:-4] + ".bin")
    if batch_size is not None:
        net.batch_size = batch_size
    exec_net = IEPlugin(device).load(net)
    res = exec_net.infer(inputs)
    return [res[name] for name in net.outputs]


def rel_l2(actual, expected):
    """Relative L2 error of ``actual`` against ``expected``."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    denom = np.linalg.norm(expected.ravel())
    diff = np.linalg.norm((actual - expected).ravel())
    return diff / denom if denom > 0 else diff


def assert_close(actual, expected, tol=1e-5, what="output"):
    """Shapes equal, dtypes of the same kind, relative L2 error <= tol (exact match for integers/bools)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != OpenVINO's {expected.shape}"
    if expected.dtype.kind in "biu":
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    assert np.isfinite(actual).all() == np.isfinite(expected).all() or np.array_equal(
        np.isnan(actual), np.isnan(expected)
    ), f"{what}: non-finite values differ"
    finite = np.isfinite(expected)
    err = rel_l2(actual[finite], expected[finite])
    assert err <= tol, f"{what}: relative L2 error {err:.3g} > {tol:g}"


def check_against_openvino(model, inputs, tmp_path, devices=None, tol=1e-5, compress_to_fp16=False):
    """Save ``model`` as IR, run it with OpenVINO f32 and with ie_core on ``devices``; compare every output."""
    xml, _ = save_ir(model, tmp_path, compress_to_fp16=compress_to_fp16)
    expected = openvino_infer(xml, inputs)
    for device in devices or DEVICES:
        actual = ie_infer(xml, inputs, device)
        assert len(actual) == len(expected), f"{device}: {len(actual)} outputs, OpenVINO has {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_close(a, e, tol, what=f"{device} output {i}")
    return xml
