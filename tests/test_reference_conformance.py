"""The conformance suite on the REFERENCE device (the oracle checked against itself, and the suite's own test)."""

from ie_core.testing import ConformanceSuite


class TestReferenceConformance(ConformanceSuite):
    device = "REFERENCE"
    tolerance = 0.0
    fallback_exec_types = ()
