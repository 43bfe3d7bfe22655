"""ie-core's conformance suite on the EXAMPLE device."""

import pytest

testing = pytest.importorskip("ie_core.testing", reason="this ie-core has no conformance suite")
pytest.importorskip("ie_backend_example", reason="pip install examples/ie-backend-example")


class TestExampleConformance(testing.ConformanceSuite):
    device = "EXAMPLE"
    tolerance = 1e-5
