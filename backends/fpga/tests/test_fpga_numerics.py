"""FPGA numerics: FP11 (default) or FP16 storage of inputs, weights and layer outputs, float32 inside a layer.

Expected values come from fpga_formats, the formats enumerated from their bit
fields: never from the emulator's own converter.
"""

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from fpga_formats import MANTISSA_BITS, OVERFLOW, nearest_even, probes, rounded, table
from helpers import save_ir
from ie_backend_fpga import FP11, FP16
from ie_core import IENetwork, IEPlugin, errors

FORMATS = ("FP11", "FP16")


def identity_conv(n):
    data = ops.parameter([1, 1, 1, n], np.float32, name="data")
    conv = ops.convolution(data, ops.constant(np.ones((1, 1, 1, 1), np.float32)), [1, 1], [0, 0], [0, 0], [1, 1])
    conv.set_friendly_name("conv")
    return ov.Model([conv], [data], "identity_conv")


def test_the_formats():
    """The enumeration: 2^11 FP11 codes (31 * 32 finite per sign), FP16 agreeing with numpy's float16."""
    values, _ = table("FP11")
    assert len(values) - 1 == 31 * 32 and values[1] == 2.0**-19 and values[-2] == 64512.0
    x = probes("FP16")
    with np.errstate(over="ignore"):
        assert np.array_equal(rounded(x, "FP16"), x.astype(np.float16).astype(np.float32))


@pytest.mark.parametrize("fmt", FORMATS)
def test_identity_convolution_is_the_format_rounding(tmp_path, fmt):
    """Over every finite code, every tie and its neighbours, the 1x1 identity convolution returns exactly
    the rounding of its input to the selected format (a zero comes out +0: the float32 sum starts from +0)."""
    x = probes(fmt)
    xml, binf = save_ir(identity_conv(x.size), tmp_path)
    config = {"FPGA_NUMERICS": fmt} if fmt != "FP11" else None  # FP11 is the default
    out = IEPlugin("FPGA").load(IENetwork(xml, binf), config=config).infer({"data": x.reshape(1, 1, 1, -1)})
    out = out["conv"].ravel()
    expected = rounded(x, fmt)
    wrong = np.flatnonzero(out != expected)
    assert wrong.size == 0, f"{wrong.size} values differ, e.g. {x[wrong[:5]]} -> {out[wrong[:5]]}, expected {expected[wrong[:5]]}"
    assert np.isinf(out[np.abs(x) >= OVERFLOW]).all()


@pytest.mark.parametrize("numerics", [FP11, FP16], ids=FORMATS)
def test_storage_rounding_bit_for_bit(numerics):
    """The numerics policy itself, bit for bit (sign of zero included), NaN kept, float16 tensors too."""
    x = np.concatenate([probes(numerics.name), np.float32([np.nan, -np.nan, np.inf, -np.inf, 1e-30, -1e-45])])
    out = numerics.store_float(x)
    expected = nearest_even(x.astype(np.float64), numerics.name).astype(np.float32)
    nan = np.isnan(x)
    assert np.array_equal(out[~nan].view(np.uint32), expected[~nan].view(np.uint32))
    assert np.array_equal(out[nan].view(np.uint32), x[nan].view(np.uint32))
    half = np.float16([1 / 3, 1000.7, -2.0**-20])
    np.testing.assert_array_equal(numerics.store(half), rounded(half, numerics.name).astype(np.float16))
    assert numerics.mantissa_bits == MANTISSA_BITS[numerics.name]


def scale_shift_model():
    """y = relu(conv1x1(x, 1/3) + 0.1): a weight and a bias neither format holds."""
    data = ops.parameter([1, 1, 4, 4], np.float32, name="data")
    conv = ops.convolution(data, ops.constant(np.full((1, 1, 1, 1), 1 / 3, np.float32)), [1, 1], [0, 0], [0, 0], [1, 1])
    add = ops.add(conv, ops.constant(np.full((1, 1, 1, 1), 0.1, np.float32)))
    relu = ops.relu(add)
    relu.set_friendly_name("out")
    return ov.Model([relu], [data], "scale_shift")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.uint8])
def test_weights_and_every_layer_output_are_stored_in_the_format(tmp_path, fmt, dtype):
    xml, binf = save_ir(scale_shift_model(), tmp_path)
    x = np.random.default_rng(0).uniform(0, 200, (1, 1, 4, 4)).astype(dtype)
    out = IEPlugin("FPGA").load(IENetwork(xml, binf), config={"FPGA_NUMERICS": fmt}).infer({"data": x})["out"]
    r = lambda v: rounded(v, fmt)  # noqa: E731
    np.testing.assert_array_equal(out, r(np.maximum(r(r(r(x) * r(1 / 3)) + r(0.1)), 0)))


def test_weights_past_the_range_saturate():
    """Weights are converted as OpenVINO compresses them: out-of-range finite values saturate."""
    values = np.float32([1e6, -3.4e38, np.inf, np.nan, 1.5])
    np.testing.assert_array_equal(FP11.saturate(values), np.float32([64512, -64512, np.inf, np.nan, 1.5]))
    np.testing.assert_array_equal(FP16.saturate(values), np.float32([65504, -65504, np.inf, np.nan, 1.5]))


def test_numerics_config_key():
    plugin = IEPlugin("FPGA")
    assert plugin.get_config("FPGA_NUMERICS") == "FP11"
    plugin.set_config({"FPGA_NUMERICS": "FP16"})
    assert plugin.get_config("FPGA_NUMERICS") == "FP16"
    with pytest.raises(errors.ConfigError, match="Wrong value 'FP8' for property key FPGA_NUMERICS. Expected FP11 or FP16"):
        plugin.set_config({"FPGA_NUMERICS": "FP8"})
    assert plugin.version.endswith("(software emulator)") and plugin.get_metric("EMULATOR") is True
    assert "emulator" in plugin.get_metric("FULL_DEVICE_NAME")
