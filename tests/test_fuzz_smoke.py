"""A short run of every fuzz target under fuzz/: from its seeds, a few hundred mutated inputs, no finding.

The long runs are ``fuzz/run_long.sh`` (fuzz/README.md).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import DEVICES

pytest.importorskip("atheris")

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"reader_v11": "v11", "reader_legacy": "legacy", "cpu_infer": "v11", "cpu_vs_reference": "v11"}


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fuzz-seeds")
    subprocess.run([sys.executable, str(ROOT / "fuzz" / "seeds.py"), str(directory)], check=True)
    return directory


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzz_target(target, seeds, tmp_path):
    if target.startswith("cpu") and "CPU" not in DEVICES:
        pytest.skip("the CPU device is not installed")
    corpus = tmp_path / "corpus"
    shutil.copytree(seeds / TARGETS[target], corpus)
    run = subprocess.run(
        [sys.executable, str(ROOT / "fuzz" / f"fuzz_{target}.py"), str(corpus), "-runs=300", "-seed=1",
         f"-dict={ROOT / 'fuzz' / 'ir.dict'}", "-timeout=60", f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "IE_FUZZ_SCRATCH": str(tmp_path / "scratch")})
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert re.search(r"Done \d+ runs", run.stderr), run.stderr[-4000:]
