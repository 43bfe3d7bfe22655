"""``inference_engine.ie_api``: ie_core's API under the module name of the original's classes."""

from ie_core import *  # noqa: F401,F403
from ie_core import __all__  # noqa: F401
