"""The Inference Engine's own module path (2018 R3's ``inference_engine``), as an alias of ie_core's API.

``from inference_engine import IENetwork, IEPlugin`` (and ``IECore``, ...) gives ie_core's
classes themselves; :mod:`inference_engine.ie_api` holds the same names, as the original's
did. For ``openvino.inference_engine`` see :mod:`ie_core.compat`.
"""

from .ie_api import *  # noqa: F401,F403
from .ie_api import __all__  # noqa: F401
