"""The GPU device's tests run on whatever OpenCL device exists: a GPU, else an OpenCL CPU
device (PoCL from ``pocl-binary-distribution``), which IE_CORE_GPU_ALLOW_CPU=1 allows for
these tests only (the rest of the suite sees the user's environment)."""

import sys
from pathlib import Path

import pytest

from ie_backend_gpu.device import ALLOW_CPU_ENV

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))  # the repository's tests/helpers.py


@pytest.fixture(autouse=True)
def _opencl_cpu_devices_allowed(monkeypatch):
    monkeypatch.setenv(ALLOW_CPU_ENV, "1")
