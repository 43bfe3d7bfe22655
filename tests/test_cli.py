"""The ``ie`` command as a user runs it: infer, devices, --help, and the errors of bad arguments and files."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from helpers import DEVICES, assert_close, openvino_infer, save_ir
from ie_core import KNOWN_DEVICES, available_devices
from ie_core.cli import DEFAULT_MODEL, DEFAULT_TEST_SET


def run_ie(*args, env=None, cwd=None):
    """``python -m ie_core ARGS`` in a subprocess; returns the CompletedProcess (text output)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "ie_core", *map(str, args)], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=600)


def assert_fails(run, pattern, code=1):
    """The command failed with exit ``code`` and one line on stderr matching ``pattern``, no traceback."""
    assert run.returncode == code, (run.returncode, run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert re.search(pattern, lines[0]), lines[0]


@pytest.fixture(scope="module")
def two_inputs(tmp_path_factory):
    """A network with inputs a, b ([2, 3] f32) and output product = a * b."""
    tmp = tmp_path_factory.mktemp("two_inputs")
    a = ops.parameter([2, 3], np.float32, name="a")
    b = ops.parameter([2, 3], np.float32, name="b")
    out = ops.multiply(a, b)
    out.set_friendly_name("product")
    xml, _ = save_ir(ov.Model([out], [a, b], "mul"), tmp)
    x, y = np.arange(6, dtype=np.float32).reshape(2, 3), np.full((2, 3), 2, np.float32)
    np.save(tmp / "x.npy", x)
    np.save(tmp / "y.npy", y)
    return tmp, xml, x, y


def test_default_model_accuracy_and_latency():
    run = run_ie()
    assert run.returncode == 0, run.stderr
    assert re.search(r"^device: (CPU|REFERENCE) ", run.stdout, re.M)
    accuracy = float(re.search(r"accuracy: ([0-9.]+) \(\d+/360", run.stdout).group(1))
    assert accuracy >= 0.95
    assert re.search(r"latency: median [0-9.]+ ms, p90 [0-9.]+ ms over \d+ runs", run.stdout)


def test_default_model_on_each_device_agrees_with_openvino(tmp_path):
    image = np.load(DEFAULT_TEST_SET)["images"][:1].astype(np.float32)[:, None]
    np.save(tmp_path / "image.npy", image)
    expected = openvino_infer(str(DEFAULT_MODEL), {"data": image})[0]
    for device in DEVICES:
        out = tmp_path / device
        run = run_ie("infer", "-m", DEFAULT_MODEL, "-i", tmp_path / "image.npy", "-d", device, "-n", 1, "-o", out)
        assert run.returncode == 0, run.stderr
        assert f"device: {device} " in run.stdout
        assert_close(np.load(out / "prob.npy"), expected)


def test_any_model_with_npy_inputs(two_inputs):
    tmp, xml, x, y = two_inputs
    run = run_ie("infer", "--model", xml, "--input", f"a={tmp / 'x.npy'}", "--input", f"b={tmp / 'y.npy'}",
                 "--output-dir", tmp / "out", "--perf-counts", "-n", 2)
    assert run.returncode == 0, run.stderr
    assert "output product: shape [2, 3] float32" in run.stdout
    assert "EXECUTED" in run.stdout
    assert_close(np.load(tmp / "out" / "product.npy"), openvino_infer(xml, {"a": x, "b": y})[0])
    run = run_ie("infer", "-m", xml, "-i", f"a={tmp / 'x.npy'}", "-i", f"b={tmp / 'y.npy'}", "-n", 3, "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["outputs"]["product"]["shape"] == [2, 3] and report["latency_ms"]["runs"] == 3


def test_bad_inputs_and_files_give_one_line(two_inputs, tmp_path):
    tmp, xml, _, _ = two_inputs
    good = ["--input", f"b={tmp / 'y.npy'}"]
    assert_fails(run_ie("infer", "-m", xml, "--input", f"a={tmp_path / 'missing.npy'}", *good),
                 r"No such file or directory: .*missing\.npy")
    assert_fails(run_ie("infer", "-m", xml, "--input", str(tmp / "x.npy"), *good),
                 r"the network has inputs \['a', 'b'\]; give --input NAME=FILE\.npy")
    (tmp_path / "text.npy").write_text("not an array")
    assert_fails(run_ie("infer", "-m", xml, "--input", f"a={tmp_path / 'text.npy'}", *good),
                 r"text\.npy: not a \.npy array file")
    np.savez(tmp_path / "two.npz", x=np.zeros(1), y=np.zeros(1))
    os.rename(tmp_path / "two.npz", tmp_path / "two.npy")
    assert_fails(run_ie("infer", "-m", xml, "--input", f"a={tmp_path / 'two.npy'}", *good), r"two\.npy: holds several")
    assert_fails(run_ie("infer", "-m", xml, "--input", f"c={tmp / 'x.npy'}", *good), r"no input 'c'")
    assert_fails(run_ie("infer", "-m", xml, *good), r"no --input for \['a'\]")
    np.save(tmp_path / "wrong.npy", np.zeros((4, 4), np.float32))
    assert_fails(run_ie("infer", "-m", xml, "--input", f"a={tmp_path / 'wrong.npy'}", *good),
                 r"input a: expected shape \[2, 3\], got \[4, 4\]")
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_fails(run_ie("infer", "-m", xml, "--input", f"a={tmp / 'x.npy'}", *good, "-o", blocker / "out"),
                 r"File exists|Not a directory")
    assert_fails(run_ie("infer", "--model", tmp_path / "missing.xml"), r"missing\.xml doesn't exists")
    (tmp_path / "broken.xml").write_text("<net")
    (tmp_path / "broken.bin").write_bytes(b"")
    assert_fails(run_ie("infer", "--model", tmp_path / "broken.xml"), r"broken\.xml: malformed XML")
    assert_fails(run_ie("infer", "--device", "NOPE"), r"Unknown plugin: NOPE")
    missing = [name for name in KNOWN_DEVICES if name not in available_devices()]
    if missing:  # a device of the original API whose package is not installed here
        assert_fails(run_ie("infer", "--device", missing[0]), rf"pip install {KNOWN_DEVICES[missing[0]]}")


def test_bad_arguments_exit_2_with_one_line():
    assert_fails(run_ie("infer", "-n", 0), r"ie infer: error: argument -n/--iterations: expected a positive integer, "
                 r"got '0' \(see 'ie infer --help'\)", code=2)
    assert_fails(run_ie("infer", "-n", "many"), r"expected a positive integer, got 'many'", code=2)
    assert_fails(run_ie("frobnicate"), r"invalid choice: 'frobnicate'", code=2)
    assert_fails(run_ie("infer", "--no-such-flag"), r"unrecognized arguments: --no-such-flag", code=2)


def test_help_and_version():
    run = run_ie("--help")
    assert run.returncode == 0
    for command in ("devices", "info", "infer", "benchmark", "compare", "batch", "backend"):
        assert re.search(rf"^\s+{command}\s+\S", run.stdout, re.M), command
    for command in ("devices", "info", "infer", "benchmark", "compare", "batch", "backend new"):
        run = run_ie(*command.split(), "--help")
        assert run.returncode == 0 and run.stdout.startswith(f"usage: ie {command}"), run.stdout
    assert re.fullmatch(r"ie-core \S+ \(Backend API \d+\.\d+\)\n", run_ie("--version").stdout)


def test_devices_listing(tmp_path):
    run = run_ie("devices")
    assert run.returncode == 0, run.stderr
    assert re.search(r"^REFERENCE\s+\S+\s+ie-core \(built in\)\s+Backend API 1\.0\s+emulator: no$", run.stdout, re.M)
    assert re.search(r"^\s+PERF_COUNT\s+default 'NO'\s+measure per-layer times", run.stdout, re.M)
    listing = json.loads(run_ie("devices", "--json").stdout)
    reference = listing["devices"]["REFERENCE"]
    assert reference["package"] == "ie-core (built in)" and reference["emulator"] is False
    assert reference["config"]["PERF_COUNT"]["default"] == "NO"
    assert listing["failures"] == {}


def test_devices_lists_a_plugin_that_failed_to_load(tmp_path):
    dist = tmp_path / "ie_backend_broken-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ie-backend-broken\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[ie_core.backends]\nbroken = ie_backend_broken_missing_module\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    run = run_ie("devices", env=env)
    assert run.returncode == 0, run.stderr
    assert re.search(r"^failed to load:\n  broken: ie-backend-broken: import of ie_backend_broken_missing_module "
                     r"failed: ModuleNotFoundError", run.stdout, re.M)
    assert "broken" in json.loads(run_ie("devices", "--json", env=env).stdout)["failures"]
