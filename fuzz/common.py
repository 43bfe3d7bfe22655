"""What the fuzz targets share: the input format, a scratch directory, tight limits and the findings record.

An input is an IR: the ``.xml`` bytes, :data:`SEPARATOR`, the ``.bin`` bytes. A
target calls :func:`run` with a function of the written (xml, bin) paths; an
:class:`~ie_core.errors.IEError` is the expected outcome of a bad file, anything
else is a finding. With ``IE_FUZZ_KEEP_GOING=1`` (``run_long.sh``) a finding is
recorded once per kind (exception type and innermost ie_core frame, or the
exception's own ``key``) under ``$IE_FUZZ_FINDINGS`` with the input that caused
it, and fuzzing goes on; otherwise it is raised, so that libFuzzer stops and
saves the input.
"""

import hashlib
import os
import sys
import tempfile
import traceback
from pathlib import Path

import numpy as np

# small limits keep each execution fast; set before ie_core is imported
os.environ.setdefault("IE_CORE_MAX_TENSOR_BYTES", str(64 << 20))
os.environ.setdefault("IE_CORE_FOLD_MAX_BYTES", str(4 << 20))

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

SEPARATOR = b"\n<!-- ie-core-fuzz: weights follow -->\n"
#: where the input under test is written: ``$IE_FUZZ_SCRATCH``, else a new directory in /dev/shm (or $TMPDIR)
_SCRATCH = Path(os.environ.get("IE_FUZZ_SCRATCH") or tempfile.mkdtemp(
    prefix="ie-core-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
_SCRATCH.mkdir(parents=True, exist_ok=True)
_SEEN = set()


def join(xml, weights):
    """One fuzz input from an IR's two files' bytes."""
    return xml + SEPARATOR + weights


def split(data):
    """(xml bytes, bin bytes) of a fuzz input."""
    xml, _, weights = data.partition(SEPARATOR)
    return xml, weights


def write(data):
    """Write the input's IR into the scratch directory; returns (xml path, bin path)."""
    xml, weights = split(data)
    xml_path, bin_path = _SCRATCH / "model.xml", _SCRATCH / "model.bin"
    xml_path.write_bytes(xml)
    bin_path.write_bytes(weights)
    return str(xml_path), str(bin_path)


def run(data, target):
    """``target(xml_path, bin_path)`` on the input's IR; IEErrors are the expected refusals."""
    from ie_core.errors import IEError

    xml_path, bin_path = write(data)
    try:
        target(xml_path, bin_path)
    except IEError:
        pass
    except Exception as exc:  # noqa: BLE001  (every other exception is what the fuzzer looks for)
        record(data, exc)


def record(data, exc):
    """A finding: raise ``exc``, or with IE_FUZZ_KEEP_GOING=1 save the input once per distinct place."""
    if os.environ.get("IE_FUZZ_KEEP_GOING") != "1":
        raise exc
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/ie_core/" in f.filename or "/ie_backend_" in f.filename] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    key = f"{type(exc).__name__}@{getattr(exc, 'key', where)}"
    if key in _SEEN:
        return
    _SEEN.add(key)
    findings = Path(os.environ.get("IE_FUZZ_FINDINGS", "fuzz-findings"))
    findings.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()[:12]
    (findings / f"{key.replace(':', '_')}-{digest}.input").write_bytes(data)
    with open(findings / "findings.log", "a") as log:
        log.write(f"{key}\t{digest}\t{type(exc).__name__}: {str(exc)[:300]!r}\n")


def fill(request, seed=0):
    """The request's input arrays filled with values drawn from a generator seeded by ``seed``:
    standard normal floats, integers in [0, 4), random booleans."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for name, zeros in request.inputs.items():
        if zeros.dtype.kind == "f":
            inputs[name] = rng.standard_normal(zeros.shape).astype(zeros.dtype)
        elif zeros.dtype.kind == "b":
            inputs[name] = rng.integers(0, 2, zeros.shape).astype(bool)
        else:
            inputs[name] = rng.integers(0, 4, zeros.shape).astype(zeros.dtype)
    return inputs
