"""The device registry: a pluggy PluginManager that finds backends through entry points and plugin_dirs."""

import importlib.util
import os
import sys
from pathlib import Path

import pluggy

from . import hookspecs, reference
from .errors import DeviceNotFoundError

ENTRY_POINT_GROUP = "ie_core.backends"

#: Devices of the original API and the package that provides each.
KNOWN_DEVICES = {
    "CPU": "ie-backend-cpu",
    "GPU": "ie-backend-gpu",
    "FPGA": "ie-backend-fpga",
    "MYRIAD": "ie-backend-myriad",
    "HETERO": "ie-backend-hetero",
}


class DeviceRegistry:
    """The installed devices: the built-in REFERENCE device, entry-point plugins, and modules in ``plugin_dirs``.

    Set ``IE_CORE_TRACE_HOOKS=1`` to print every hook call to stderr.
    """

    def __init__(self, plugin_dirs=()):
        self.pm = pluggy.PluginManager("ie_core")
        self.pm.add_hookspecs(hookspecs)
        if os.environ.get("IE_CORE_TRACE_HOOKS"):
            self.pm.trace.root.setwriter(lambda msg: sys.stderr.write(f"[ie_core hooks] {msg}"))
            self.pm.enable_tracing()
        self.pm.register(reference, name="ie-core (built in)")
        self.pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        self.plugin_dirs = [str(d) for d in plugin_dirs if d]
        for directory in self.plugin_dirs:
            self._load_dir(Path(directory))
        self._backends = None

    def _load_dir(self, directory):
        """Register every module (``*.py`` or package) in ``directory`` that implements ie_core hooks."""
        if not directory.is_dir():
            return
        for path in sorted(directory.iterdir()):
            if path.suffix == ".py":
                location = path
            elif (path / "__init__.py").is_file():
                location = path / "__init__.py"
            else:
                continue
            module_name = f"ie_core_plugin_dir_{abs(hash(str(path)))}_{path.stem}"
            if self.pm.has_plugin(module_name):
                continue
            spec = importlib.util.spec_from_file_location(module_name, location)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
            self.pm.register(module, name=module_name)

    def backends(self):
        """Device name -> (Backend class, the distribution or module that provides it)."""
        if self._backends is None:
            dists = {id(plugin): dist.metadata["name"] for plugin, dist in self.pm.list_plugin_distinfo()}
            found = {}
            for impl in self.pm.hook.ie_core_backends.get_hookimpls():
                provider = dists.get(id(impl.plugin), impl.plugin_name)
                for cls in impl.function() or ():
                    if cls.device_name in found and found[cls.device_name][0] is not cls:
                        raise DeviceNotFoundError(
                            f"device {cls.device_name} is provided twice: by {found[cls.device_name][1]} "
                            f"and {provider}"
                        )
                    found[cls.device_name] = (cls, provider)
            self._backends = found
        return self._backends

    def devices(self):
        """Installed devices: name -> dict(version, description, plugin)."""
        return {
            name: {"version": cls.version, "description": cls.description, "package": provider}
            for name, (cls, provider) in sorted(self.backends().items())
        }

    def create(self, device):
        """A new Backend for a device string such as ``"CPU"`` or ``"HETERO:FPGA,CPU"``."""
        if not isinstance(device, str) or not device.strip():
            raise DeviceNotFoundError(f"device must be a non-empty string, got {device!r}")
        name, _, target = device.strip().partition(":")
        entry = self.backends().get(name.upper())
        if entry is None:
            raise DeviceNotFoundError(self._unknown_device_message(name))
        return entry[0](target, self)

    def _unknown_device_message(self, name):
        installed = ", ".join(sorted(self.backends()))
        message = f"Unknown plugin: {name}, expected one of: {installed}"
        package = KNOWN_DEVICES.get(name.upper())
        if package:
            message += f". Device {name.upper()} is provided by the package {package}: pip install {package}"
        if self.plugin_dirs:
            message += f" (also searched plugin_dirs {self.plugin_dirs})"
        return message


_default_registry = None


def default_registry():
    """The registry of installed entry-point plugins, created on first use."""
    global _default_registry
    if _default_registry is None:
        _default_registry = DeviceRegistry()
    return _default_registry


def registry_for(plugin_dirs):
    """The default registry, or a new one that also searches ``plugin_dirs`` (a path or list of paths)."""
    if plugin_dirs is None or plugin_dirs == "" or plugin_dirs == [""]:
        return default_registry()
    if isinstance(plugin_dirs, (str, os.PathLike)):
        plugin_dirs = [plugin_dirs]
    return DeviceRegistry(plugin_dirs)


def available_devices():
    """Installed devices and their versions: name -> version string."""
    return {name: info["version"] for name, info in default_registry().devices().items()}
