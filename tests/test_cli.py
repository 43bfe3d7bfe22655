"""The ``ie`` command: the bundled default model and running any IR on .npy inputs."""

import re

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from helpers import DEVICES, assert_close, ie_infer, openvino_infer, save_ir
from ie_core.cli import DEFAULT_MODEL, DEFAULT_TEST_SET, main


def test_default_model_accuracy_and_latency(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^device: (CPU|REFERENCE) ", out, re.M)
    accuracy = float(re.search(r"accuracy: ([0-9.]+) \(\d+/360", out).group(1))
    assert accuracy >= 0.95
    assert re.search(r"latency: median [0-9.]+ ms", out)


def test_default_model_on_each_device_agrees_with_openvino(capsys):
    images = np.load(DEFAULT_TEST_SET)["images"][:8].astype(np.float32)[:, None]
    for device in DEVICES:
        assert main(["infer", "-d", device, "-n", "1"]) == 0
        assert "accuracy: " in capsys.readouterr().out
    expected = openvino_infer(str(DEFAULT_MODEL), {"data": images[:1]})[0]
    for device in DEVICES:
        assert_close(ie_infer(str(DEFAULT_MODEL), {"data": images[:1]}, device)[0], expected)


def test_any_model_with_npy_inputs(tmp_path, capsys):
    a = ops.parameter([2, 3], np.float32, name="a")
    b = ops.parameter([2, 3], np.float32, name="b")
    out = ops.multiply(a, b)
    out.set_friendly_name("product")
    xml, _ = save_ir(ov.Model([out], [a, b], "mul"), tmp_path)
    x, y = np.arange(6, dtype=np.float32).reshape(2, 3), np.full((2, 3), 2, np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    args = ["infer", "--model", xml, "--input", f"a={tmp_path / 'x.npy'}", "--input", f"b={tmp_path / 'y.npy'}"]
    assert main(args + ["--output-dir", str(tmp_path / "out"), "--perf-counts"]) == 0
    printed = capsys.readouterr().out
    assert "output product: shape [2, 3] float32" in printed
    assert "EXECUTED" in printed
    assert_close(np.load(tmp_path / "out" / "product.npy"), openvino_infer(xml, {"a": x, "b": y})[0])


def test_errors_are_reported_not_raised(tmp_path, capsys):
    assert main(["infer", "--model", str(tmp_path / "missing.xml")]) == 1
    assert "doesn't exists" in capsys.readouterr().err
    assert main(["infer", "--device", "NOPE"]) == 1
    assert "Unknown plugin: NOPE" in capsys.readouterr().err


def test_devices_listing(capsys):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^REFERENCE\s+\S+\s+ie-core", out, re.M)
