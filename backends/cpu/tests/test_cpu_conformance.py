"""The conformance suite on the CPU device."""

import pytest

pytest.importorskip("ie_backend_cpu")

from ie_core.testing import ConformanceSuite  # noqa: E402


class TestCPUConformance(ConformanceSuite):
    device = "CPU"
    tolerance = 1e-5
    queue_config = {"CPU_THROUGHPUT_STREAMS": "1"}
