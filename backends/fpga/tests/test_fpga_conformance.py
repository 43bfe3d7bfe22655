"""The conformance suite on the FPGA emulator, with each bitstream's numerics (FP11 and FP16)."""

from ie_core.testing import ConformanceSuite
from ie_core.testing.catalogue import MLP_RELU


class TestFPGAFP11Conformance(ConformanceSuite):
    device = "FPGA"
    tolerance = 6e-2
    config = {"FPGA_NUMERICS": "FP11"}
    fallback_exec_types = ()
    mlp_case = MLP_RELU


class TestFPGAFP16Conformance(ConformanceSuite):
    device = "FPGA"
    tolerance = 2e-3
    config = {"FPGA_NUMERICS": "FP16"}
    fallback_exec_types = ()
    mlp_case = MLP_RELU
