import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[2] / "tests"))

from box_device import TRACE  # noqa: E402


@pytest.fixture
def box_trace():
    """The BOX devices' trace, reset before and after the test."""
    TRACE.reset()
    yield TRACE
    TRACE.reset()
