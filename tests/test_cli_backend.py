"""Writing a backend: ``ie backend new`` writes a package that installs and passes its tests; docs/backends.md is current."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from test_cli import assert_fails, run_ie

ROOT = Path(__file__).resolve().parents[1]


def test_backend_new_writes_a_package_that_passes_its_tests(tmp_path):
    package = tmp_path / "npu"
    run = run_ie("backend", "new", "npu_x", "--dir", package)
    assert run.returncode == 0, run.stderr
    assert "wrote the package ie-backend-npu-x (device NPU_X)" in run.stdout
    assert (package / "ie_backend_npu_x" / "__init__.py").is_file()
    assert 'npu_x = "ie_backend_npu_x"' in (package / "pyproject.toml").read_text()
    target = tmp_path / "site"
    # without build isolation where setuptools is at hand (no download); else pip fetches it
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", *isolation,
                              "--target", str(target), str(package)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    env = {"PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    listed = run_ie("devices", env=env)
    assert "NPU_X  0.1.0  ie-backend-npu-x  Backend API 1.0" in listed.stdout
    # its own tests, the conformance suite among them (skipped while ie_core.testing does not exist)
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                           capture_output=True, text=True, cwd=package, env={**os.environ, **env})
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "failed" not in tests.stdout and " passed" in tests.stdout


def test_backend_new_refuses_bad_names_and_places(tmp_path):
    assert_fails(run_ie("backend", "new", "9lives", "--dir", tmp_path / "a"), r"'9lives' is not a device name")
    assert_fails(run_ie("backend", "new", "reference", "--dir", tmp_path / "b"), r"device REFERENCE is already installed")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert_fails(run_ie("backend", "new", "npu", "--dir", tmp_path / "full"), r"full exists and is not empty")
    assert_fails(run_ie("backend"), r"the following arguments are required: COMMAND", code=2)


def test_backend_docs_reference_is_up_to_date():
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "render_backend_docs.py"), "--check"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
