"""Element types: OpenVINO's names, their numpy dtypes and the legacy precision names."""

import math

import numpy as np

# bf16, the f8 types and nf4 have no numpy dtype: their values are widened to float32;
# the sub-byte integer types are unpacked into 8-bit integers.
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
    "u1": np.dtype(np.uint8),
    "u2": np.dtype(np.uint8),
    "u4": np.dtype(np.uint8),
    "i4": np.dtype(np.int8),
    "nf4": np.dtype(np.float32),
    "f8e4m3": np.dtype(np.float32),
    "f8e5m2": np.dtype(np.float32),
}

# Bits per element as stored in a .bin file.
STORAGE_BITS = {et: dt.itemsize * 8 for et, dt in ELEMENT_TYPES.items()}
STORAGE_BITS.update({"bf16": 16, "u1": 1, "u2": 2, "u4": 4, "i4": 4, "nf4": 4, "f8e4m3": 8, "f8e5m2": 8})

_NF4_LEVELS = np.array(
    [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
     -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
     0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
     0.7229568362236023, 1.0],
    dtype=np.float32,
)

_ALIASES = {"fp32": "f32", "fp16": "f16", "fp64": "f64", "bool": "boolean", "i1": "boolean"}


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


#: numpy dtype -> the element type name of OpenVINO's that it holds natively
_ELEMENT_TYPE_NAMES = {}
for _name, _dtype in ELEMENT_TYPES.items():
    _ELEMENT_TYPE_NAMES.setdefault(_dtype, _name)


def element_type_name(dtype):
    """OpenVINO's element type name ("f32", "i64", "boolean") of a numpy dtype."""
    return _ELEMENT_TYPE_NAMES[np.dtype(dtype)]


def to_dtype(element_type):
    """The numpy dtype that holds values of an OpenVINO element type."""
    return ELEMENT_TYPES[canonical_element_type(element_type)]


def precision_name(dtype):
    """The Inference Engine precision string ("FP32", "I64", ...) of a numpy dtype."""
    return _PRECISION_NAMES.get(np.dtype(dtype), np.dtype(dtype).name.upper())


def bf16_to_f32(raw):
    """Widen bf16 values stored as uint16 to float32."""
    return (np.asarray(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def storage_bytes(element_type, count):
    """Bytes that ``count`` elements of ``element_type`` occupy in a .bin file."""
    return (count * STORAGE_BITS[element_type] + 7) // 8


def _f8e4m3_table():
    codes = np.arange(256)
    sign = np.where(codes & 0x80, -1.0, 1.0)
    exp, man = (codes >> 3) & 0xF, codes & 0x7
    value = np.where(exp == 0, man / 8.0 * 2.0**-6, (1 + man / 8.0) * 2.0 ** (exp - 7.0))
    value = np.where((exp == 0xF) & (man == 0x7), np.nan, value)
    return (sign * value).astype(np.float32)


def decode(raw, element_type, shape):
    """The array of ``shape`` that the .bin bytes ``raw`` hold for ``element_type``."""
    count = math.prod(shape)
    data = np.frombuffer(raw, dtype=np.uint8)
    bits = STORAGE_BITS[element_type]
    if element_type == "bf16":
        values = bf16_to_f32(data.view(np.uint16))
    elif element_type == "f8e5m2":
        values = (data.astype(np.uint16) << 8).view(np.float16).astype(np.float32)
    elif element_type == "f8e4m3":
        values = _f8e4m3_table()[data]
    elif bits < 8:
        per_byte = 8 // bits
        shifts = np.arange(per_byte, dtype=np.uint8) * bits
        if element_type == "u1":
            shifts = shifts[::-1]
        codes = ((data[:, None] >> shifts) & ((1 << bits) - 1)).reshape(-1)[:count]
        if element_type == "i4":
            values = np.where(codes >= 8, codes.astype(np.int16) - 16, codes).astype(np.int8)
        elif element_type == "nf4":
            values = _NF4_LEVELS[codes]
        else:
            values = codes
    else:
        values = data.view(ELEMENT_TYPES[element_type])
    return values.reshape(shape)
