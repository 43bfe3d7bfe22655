"""Element types: OpenVINO's names, their numpy dtypes and the legacy precision names."""

import numpy as np

# bf16 has no numpy dtype: the reader widens bf16 data to float32.
ELEMENT_TYPES = {
    "f64": np.dtype(np.float64),
    "f32": np.dtype(np.float32),
    "f16": np.dtype(np.float16),
    "bf16": np.dtype(np.float32),
    "i64": np.dtype(np.int64),
    "i32": np.dtype(np.int32),
    "i16": np.dtype(np.int16),
    "i8": np.dtype(np.int8),
    "u64": np.dtype(np.uint64),
    "u32": np.dtype(np.uint32),
    "u16": np.dtype(np.uint16),
    "u8": np.dtype(np.uint8),
    "boolean": np.dtype(np.bool_),
}

_ALIASES = {"fp32": "f32", "fp16": "f16", "fp64": "f64", "bool": "boolean", "i1": "boolean"}

# Bytes per element as stored in a .bin file (bf16 is 2 bytes on disk).
STORAGE_SIZE = {et: (2 if et == "bf16" else dt.itemsize) for et, dt in ELEMENT_TYPES.items()}

_PRECISION_NAMES = {
    np.dtype(np.float64): "FP64",
    np.dtype(np.float32): "FP32",
    np.dtype(np.float16): "FP16",
    np.dtype(np.int64): "I64",
    np.dtype(np.int32): "I32",
    np.dtype(np.int16): "I16",
    np.dtype(np.int8): "I8",
    np.dtype(np.uint64): "U64",
    np.dtype(np.uint32): "U32",
    np.dtype(np.uint16): "U16",
    np.dtype(np.uint8): "U8",
    np.dtype(np.bool_): "BOOL",
}


def canonical_element_type(name):
    """OpenVINO's element type name for ``name`` (case-insensitive, legacy aliases allowed), or None."""
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    return key if key in ELEMENT_TYPES else None


def to_dtype(element_type):
    """The numpy dtype that holds values of an OpenVINO element type."""
    return ELEMENT_TYPES[canonical_element_type(element_type)]


def precision_name(dtype):
    """The Inference Engine precision string ("FP32", "I64", ...) of a numpy dtype."""
    return _PRECISION_NAMES.get(np.dtype(dtype), np.dtype(dtype).name.upper())


def bf16_to_f32(raw):
    """Widen bf16 values stored as uint16 to float32."""
    return (np.asarray(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
