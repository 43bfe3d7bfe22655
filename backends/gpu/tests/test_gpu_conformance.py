"""The conformance suite on the GPU device (an OpenCL CPU device, PoCL, where no GPU exists)."""

from ie_core.testing import ConformanceSuite


class TestGPUConformance(ConformanceSuite):
    device = "GPU"
    tolerance = 1e-4
