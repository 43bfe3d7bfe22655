"""The conformance suite on the MYRIAD emulator, within FP16's rounding."""

from ie_core.testing import ConformanceSuite


class TestMyriadConformance(ConformanceSuite):
    device = "MYRIAD"
    tolerance = 2e-3
    fallback_exec_types = ()  # every layer it loads runs on the emulator's own arithmetic
    deviations = {
        "Convert_f32_to_i32": "the input is stored in FP16 before the truncation (32.99 becomes 33), as on the stick",
    }
