"""ie-core: a small inference engine for OpenVINO IR models with the Inference Engine Python API."""

__version__ = "0.1.0"

from .api import ExecutableNetwork, IENetLayer, IENetwork, IEPlugin, InferRequest, InputInfo, StatusCode  # noqa: E402
from .plugins import KNOWN_DEVICES, available_devices  # noqa: E402

#: Device names of the original API (see KNOWN_DEVICES for the package of each).
known_plugins = list(KNOWN_DEVICES)
supported_precisions = ["FP32", "FP16", "I64", "I32", "I16", "I8", "U8", "BOOL"]


def get_version():
    """The ie_core version, "major.minor.patch"."""
    return __version__


__all__ = [
    "ExecutableNetwork",
    "IENetLayer",
    "IENetwork",
    "IEPlugin",
    "InferRequest",
    "InputInfo",
    "StatusCode",
    "available_devices",
    "get_version",
    "known_plugins",
    "supported_precisions",
]
