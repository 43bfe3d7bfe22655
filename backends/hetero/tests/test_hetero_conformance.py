"""The conformance suite on HETERO: over CPU and REFERENCE, and over the BOX test device (memory of its own) and CPU."""

import pytest

pytest.importorskip("ie_backend_cpu")

from box_device import PLUGIN_DIR  # noqa: E402
from ie_core.testing import ConformanceSuite  # noqa: E402


class TestHeteroCPUReferenceConformance(ConformanceSuite):
    device = "HETERO:CPU,REFERENCE"
    tolerance = 1e-5
    fallback_exec_types = ("CPU/ref_numpy",)  # exec_types name the device; REFERENCE's numpy is its own


class TestHeteroBoxCPUConformance(ConformanceSuite):
    device = "HETERO:BOX,CPU"
    tolerance = 1e-5
    fallback_exec_types = ("CPU/ref_numpy",)
    plugin_dirs = [PLUGIN_DIR]
