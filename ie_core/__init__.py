"""ie-core: a small inference engine for OpenVINO IR models with the Inference Engine Python API.

The API (:mod:`ie_core.api`) serves the seed's form (2018 R3) and the later ones scripts of
2018 R4 – 2021 use, on one object model; ``import inference_engine`` gives the same module
contents, and :func:`ie_core.compat.enable_openvino_inference_engine` maps
``openvino.inference_engine`` onto them.
"""

__version__ = "0.1.0"

from .api import (  # noqa: E402
    Blob,
    ExecutableNetwork,
    IECore,
    IENetLayer,
    IENetwork,
    IEPlugin,
    InferRequest,
    InputInfo,
    OutputInfo,
    Outputs,
    StatusCode,
    TensorDesc,
    Version,
    WaitMode,
    supported_layouts,
    supported_precisions,
)
from .plugins import KNOWN_DEVICES, available_devices  # noqa: E402

#: Device names of the original API (see KNOWN_DEVICES for the package of each).
known_plugins = list(KNOWN_DEVICES)


def get_version():
    """The ie_core version, "major.minor.patch"."""
    return __version__


__all__ = [
    "Blob",
    "ExecutableNetwork",
    "IECore",
    "IENetLayer",
    "IENetwork",
    "IEPlugin",
    "InferRequest",
    "InputInfo",
    "OutputInfo",
    "Outputs",
    "StatusCode",
    "TensorDesc",
    "Version",
    "WaitMode",
    "available_devices",
    "get_version",
    "known_plugins",
    "supported_layouts",
    "supported_precisions",
]
