"""MYRIAD numerics: FP16 storage of inputs, weights and layer outputs, float32 inside a layer.

The expected values come from an enumeration of binary16 built from its bit
fields here (nearest value by search, ties to the even code), or from numpy's
float16 conversion: never from the emulator's own converter.
"""

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from helpers import openvino_infer, save_ir
from device_nets import digits_accuracy
from ie_backend_myriad import FP16
from ie_core import IENetwork, IEPlugin

#: binary16: 5 exponent bits (bias 15), 10 mantissa bits; 2^16 is where the next binade would start.
MANTISSA_BITS = 10
OVERFLOW = 2.0**16


def binary16_table():
    """(values, codes): every finite non-negative binary16 value in ascending order, then 2^16
    (the value past the largest finite one, which RNE maps to inf) with an even code."""
    values, codes = [], []
    for code in range(0, 31 << MANTISSA_BITS):  # sign 0, exponent fields 0..30
        exponent, fraction = code >> MANTISSA_BITS, code & ((1 << MANTISSA_BITS) - 1)
        if exponent == 0:
            value = fraction / 2.0**MANTISSA_BITS * 2.0**-14
        else:
            value = (1 + fraction / 2.0**MANTISSA_BITS) * 2.0 ** (exponent - 15)
        values.append(value)
        codes.append(code)
    return np.array(values + [OVERFLOW]), np.array(codes + [31 << MANTISSA_BITS])


def nearest_even(x, values, codes):
    """binary16 rounding of the float64 values ``x`` by search in the table; inf past the overflow tie."""
    mag = np.abs(x)
    hi = np.clip(np.searchsorted(values, mag), 1, len(values) - 1)
    lo = hi - 1
    d_lo, d_hi = mag - values[lo], values[hi] - mag
    pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & (codes[hi] % 2 == 0))
    pick_hi |= mag >= values[-1]
    result = np.where(pick_hi, values[hi], values[lo])
    result = np.where(result == OVERFLOW, np.inf, result)
    return np.copysign(result, x)


def probe_values(values):
    """Every finite binary16 value, the midpoints between neighbours (ties), the float32 numbers on
    either side of each midpoint, and values past the overflow threshold; both signs."""
    mids = ((values[:-1] + values[1:]) / 2).astype(np.float32)
    assert np.array_equal(mids.astype(np.float64), (values[:-1] + values[1:]) / 2)  # exact in float32
    probes = np.concatenate([
        values[:-1].astype(np.float32), mids,
        np.nextafter(mids, np.float32(0)), np.nextafter(mids, np.float32(np.inf)),
        np.array([OVERFLOW, 1e5, 3.4e38], np.float32),
    ])
    return np.concatenate([probes, -probes])


def identity_conv(n):
    data = ops.parameter([1, 1, 1, n], np.float32, name="data")
    conv = ops.convolution(data, ops.constant(np.ones((1, 1, 1, 1), np.float32)), [1, 1], [0, 0], [0, 0], [1, 1])
    conv.set_friendly_name("conv")
    return ov.Model([conv], [data], "identity_conv")


def test_identity_convolution_is_binary16_rounding(tmp_path):
    """Over every finite code, every tie and its neighbours, the 1x1 identity convolution returns exactly
    the binary16 rounding of its input (a zero comes out +0: the float32 sum starts from +0)."""
    values, codes = binary16_table()
    x = probe_values(values)
    xml, binf = save_ir(identity_conv(x.size), tmp_path)
    out = IEPlugin("MYRIAD").load(IENetwork(xml, binf)).infer({"data": x.reshape(1, 1, 1, -1)})["conv"].ravel()
    expected = nearest_even(x.astype(np.float64), values, codes).astype(np.float32)
    wrong = np.flatnonzero(out != expected)
    assert wrong.size == 0, f"{wrong.size} values differ, e.g. {x[wrong[:5]]} -> {out[wrong[:5]]}, expected {expected[wrong[:5]]}"
    assert np.isinf(out[x.astype(np.float64) >= OVERFLOW]).all()


def test_storage_rounding_bit_for_bit():
    """The numerics policy itself, bit for bit (sign of zero included), NaN kept, on the same probes."""
    values, codes = binary16_table()
    x = np.concatenate([probe_values(values), np.float32([np.nan, np.inf, -np.inf, 1e-30, -1e-45])])
    out = FP16.store_float(x)
    expected = nearest_even(x.astype(np.float64), values, codes).astype(np.float32)
    nan = np.isnan(x)
    assert np.array_equal(out[~nan].view(np.uint32), expected[~nan].view(np.uint32))
    assert np.array_equal(out[nan].view(np.uint32), x[nan].view(np.uint32))


def test_the_table_agrees_with_numpy_float16():
    """The enumeration itself: numpy's binary16 conversion, an independent implementation, agrees."""
    values, codes = binary16_table()
    x = probe_values(values)
    with np.errstate(over="ignore"):
        assert np.array_equal(nearest_even(x.astype(np.float64), values, codes).astype(np.float32),
                              x.astype(np.float16).astype(np.float32))


def scale_model():
    """y = x * w (1x1 convolution by a weight binary16 cannot hold), then + b, then relu."""
    data = ops.parameter([1, 1, 4, 4], np.float32, name="data")
    conv = ops.convolution(data, ops.constant(np.full((1, 1, 1, 1), 1 / 3, np.float32)), [1, 1], [0, 0], [0, 0], [1, 1])
    add = ops.add(conv, ops.constant(np.full((1, 1, 1, 1), 0.1, np.float32)))
    add.set_friendly_name("out")
    return ov.Model([add], [data], "scale")


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.uint8])
def test_weights_and_every_layer_output_are_stored_in_fp16(tmp_path, dtype):
    """Inputs (float32, float16 or uint8), weights and each layer's output are rounded to binary16;
    the product and the sum are computed in float32."""
    xml, binf = save_ir(scale_model(), tmp_path)
    x = (np.random.default_rng(0).uniform(0, 200, (1, 1, 4, 4))).astype(dtype)
    out = IEPlugin("MYRIAD").load(IENetwork(xml, binf)).infer({"data": x})["out"]
    h = lambda v: np.asarray(v, np.float32).astype(np.float16).astype(np.float32)  # noqa: E731
    expected = h(h(h(x) * h(np.float32(1 / 3))) + h(np.float32(0.1)))
    np.testing.assert_array_equal(out, expected)
    f32 = openvino_infer(xml, {"data": x.astype(np.float32)})[0]
    assert not np.array_equal(out, f32)  # the rounding shows


def test_digits_accuracy_within_one_point_of_f32():
    reference, myriad = digits_accuracy(None), digits_accuracy("MYRIAD")
    assert abs(myriad - reference) <= 0.01, f"MYRIAD {myriad:.4f}, OpenVINO f32 {reference:.4f}"
