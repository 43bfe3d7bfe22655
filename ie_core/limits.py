"""Resource limits that keep a hostile or broken model file from asking for absurd amounts of memory.

Every shape ie_core infers or reads is checked with exact integer arithmetic
against these limits before anything is allocated. Each limit can be raised (or
lowered) with its environment variable, read when ie_core is imported.
"""

import math
import os

import numpy as np


def _env_bytes(name, default):
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() else default


#: The largest tensor (in bytes) a network may hold: ``IE_CORE_MAX_TENSOR_BYTES`` (default 16 GiB).
MAX_TENSOR_BYTES = _env_bytes("IE_CORE_MAX_TENSOR_BYTES", 16 << 30)

#: The largest constant (in bytes) constant folding computes at load time:
#: ``IE_CORE_FOLD_MAX_BYTES`` (default 64 MiB). Larger results are left to run at inference.
FOLD_MAX_BYTES = _env_bytes("IE_CORE_FOLD_MAX_BYTES", 64 << 20)

#: The largest IR ``.xml`` file (in bytes) the readers parse: ``IE_CORE_MAX_XML_BYTES`` (default 1 GiB).
MAX_XML_BYTES = _env_bytes("IE_CORE_MAX_XML_BYTES", 1 << 30)

#: The longest markup token (a tag with its attributes, a comment, ...) of an IR ``.xml`` file, in bytes:
#: ``IE_CORE_MAX_XML_TOKEN_BYTES`` (default 4 MiB). Parsing takes time linear in the file's size times
#: this limit over 2 MiB (expat scans an unfinished token again with each MiB it is given).
MAX_XML_TOKEN_BYTES = _env_bytes("IE_CORE_MAX_XML_TOKEN_BYTES", 4 << 20)


def tensor_bytes(shape, dtype):
    """The exact byte size of a tensor of ``shape`` and ``dtype`` (Python ints: never wraps)."""
    return math.prod(int(d) for d in shape) * np.dtype(dtype).itemsize


def shape_problem(shape, dtype):
    """Why a tensor of ``shape`` and ``dtype`` cannot exist here, or "" if it can."""
    if any(not isinstance(d, (int, np.integer)) or d < 0 for d in shape):
        return f"invalid dimensions {list(shape)}"
    size = tensor_bytes(shape, dtype)
    if size > MAX_TENSOR_BYTES:
        return (
            f"a tensor of shape {list(shape)} ({np.dtype(dtype)}) needs {size} bytes, more than the limit of "
            f"{MAX_TENSOR_BYTES} bytes (raise it with IE_CORE_MAX_TENSOR_BYTES)"
        )
    span = tensor_bytes([d or 1 for d in shape], dtype)
    if span > MAX_TENSOR_BYTES:  # numpy refuses empty arrays whose other dims multiply beyond its index range
        return (
            f"the non-zero dimensions of an empty tensor of shape {list(shape)} ({np.dtype(dtype)}) span {span} "
            f"bytes, more than the limit of {MAX_TENSOR_BYTES} bytes (raise it with IE_CORE_MAX_TENSOR_BYTES)"
        )
    return ""
