"""The GPU device's tests run on whatever OpenCL device exists: a GPU, else an OpenCL CPU
device (PoCL from ``pocl-binary-distribution``), which IE_CORE_GPU_ALLOW_CPU=1 allows."""

import os
import sys
from pathlib import Path

os.environ.setdefault("IE_CORE_GPU_ALLOW_CPU", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))  # the repository's tests/helpers.py
