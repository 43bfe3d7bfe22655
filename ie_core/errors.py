"""The ie_core error hierarchy.

Every error ie_core raises derives from :class:`IEError` and also from the
built-in type that scripts written for the original Inference Engine API
catch for the same situation (RuntimeError for model and plugin failures,
ValueError for bad arguments, ...).
"""

__all__ = [
    "IEError",
    "ModelFileNotFoundError",
    "IRError",
    "WeightsError",
    "UnsupportedOpError",
    "GraphError",
    "ShapeInferenceError",
    "DeviceNotFoundError",
    "DeviceNotRegisteredError",
    "PluginRegistrationError",
    "ConfigError",
    "ConfigFileError",
    "NotSupportedError",
    "NetworkArgumentError",
    "LayerNotFoundError",
    "InputError",
    "InputNameError",
    "RequestError",
    "InferenceError",
    "OutOfMemoryError",
    "ParamsTypeError",
    "ExtensionError",
]


class IEError(Exception):
    """Base class of every ie_core error."""


class ModelFileNotFoundError(IEError, FileNotFoundError):
    """The .xml or .bin path of a model does not exist or is a directory."""


class IRError(IEError, RuntimeError):
    """A model file is malformed: the message names the file, the layer and the problem."""


class WeightsError(IRError):
    """The .bin file does not hold what the .xml says (truncated, offset past the end, size mismatch)."""


class UnsupportedOpError(IRError):
    """A layer has an operation type (or version) that ie_core does not implement."""


class GraphError(IEError, RuntimeError):
    """The network's graph is inconsistent: missing edge target, cycle, dangling input."""


class ShapeInferenceError(GraphError):
    """Shape or type inference failed for a layer."""


class DeviceNotFoundError(IEError, ValueError):
    """No installed backend provides the requested device."""


class DeviceNotRegisteredError(DeviceNotFoundError, RuntimeError):
    """An IECore was asked for a device it has not registered (IECore raised RuntimeError, IEPlugin ValueError)."""


class PluginRegistrationError(IEError, RuntimeError):
    """``IECore.register_plugin(s)``: a plugin module that cannot be found or imported, a device registered twice,
    a malformed plugins XML file."""


class ConfigError(IEError, RuntimeError):
    """An unknown configuration key, or a value a key does not accept."""


class ConfigFileError(ConfigError):
    """A YAML configuration file that cannot be read or does not fit the schema: names the file, line and problem."""


class NotSupportedError(IEError, RuntimeError):
    """The device does not support the requested operation."""


class NetworkArgumentError(IEError, ValueError, AttributeError):
    """An invalid argument to a network property (e.g. a non-positive batch size)."""


class LayerNotFoundError(IEError, RuntimeError, KeyError):
    """A layer name that the network does not contain."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class InputError(IEError, ValueError):
    """An inference input of the wrong shape or type."""


class InputNameError(InputError, KeyError):
    """An inference input named after no network input."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class RequestError(IEError, ValueError):
    """A bad request id, or a request used in a way its state does not allow."""


class InferenceError(IEError, RuntimeError):
    """A kernel failed while running a layer."""


class OutOfMemoryError(IEError, MemoryError):
    """Memory for a layer's tensors or working memory cannot be allocated: the message names the layer and the bytes."""


class ParamsTypeError(IEError, TypeError):
    """A layer parameter or affinity of the wrong type (keys and values must be strings)."""


class ExtensionError(IEError, RuntimeError):
    """A custom-op extension library cannot be loaded: missing file, loader error, missing entry point, ABI mismatch."""
