"""The FPGA's float formats enumerated from their bit fields, independently of the device's converter.

Both have 1 sign bit and 5 exponent bits (bias 15, exponent field 31 for inf/NaN);
FP11 has 5 mantissa bits, FP16 (IEEE binary16) 10.
"""

import numpy as np

MANTISSA_BITS = {"FP11": 5, "FP16": 10}
#: where the binade past the largest finite values would start: RNE beyond the tie below it gives inf
OVERFLOW = 2.0**16


def table(fmt):
    """(values, codes): every finite non-negative value of ``fmt`` in ascending order, then OVERFLOW
    standing for the first code past them (exponent field 31, mantissa 0: an even code)."""
    m = MANTISSA_BITS[fmt]
    values, codes = [], []
    for code in range(0, 31 << m):  # sign 0, exponent fields 0..30
        exponent, fraction = code >> m, code & ((1 << m) - 1)
        if exponent == 0:
            value = fraction / 2.0**m * 2.0**-14
        else:
            value = (1 + fraction / 2.0**m) * 2.0 ** (exponent - 15)
        values.append(value)
        codes.append(code)
    return np.array(values + [OVERFLOW]), np.array(codes + [31 << m])


def nearest_even(x, fmt):
    """The rounding of the float64 values ``x`` to ``fmt``: the nearest table value by search, ties to
    the even code, inf from the overflow tie on; the sign of ``x`` kept."""
    values, codes = table(fmt)
    mag = np.abs(x)
    hi = np.clip(np.searchsorted(values, mag), 1, len(values) - 1)
    lo = hi - 1
    d_lo, d_hi = mag - values[lo], values[hi] - mag
    pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & (codes[hi] % 2 == 0)) | (mag >= values[-1])
    result = np.where(pick_hi, values[hi], values[lo])
    return np.copysign(np.where(result == OVERFLOW, np.inf, result), x)


def probes(fmt):
    """float32 probes: every finite value of ``fmt``, the midpoints between neighbours (ties), the float32
    numbers on either side of each midpoint and values past the overflow threshold; both signs."""
    values, _ = table(fmt)
    mids = ((values[:-1] + values[1:]) / 2).astype(np.float32)
    assert np.array_equal(mids.astype(np.float64), (values[:-1] + values[1:]) / 2)  # exact in float32
    out = np.concatenate([
        values[:-1].astype(np.float32), mids,
        np.nextafter(mids, np.float32(0)), np.nextafter(mids, np.float32(np.inf)),
        np.array([OVERFLOW, 1e5, 3.4e38], np.float32),
    ])
    return np.concatenate([out, -out])


def rounded(x, fmt):
    """float32 ``x`` rounded to ``fmt`` (as float32)."""
    return nearest_even(np.asarray(x, np.float32).astype(np.float64), fmt).astype(np.float32)
