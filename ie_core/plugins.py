"""The device registry: a pluggy PluginManager that finds backends through entry points and plugin_dirs.

A module in a ``plugin_dirs`` directory (a ``*.py`` file, or a package's
``__init__.py``) is a plugin when it defines, at module level, a function named
after an ie_core hook (``ie_core_backends``) decorated with ``@hookimpl``. That
is read from the file's syntax tree before anything is imported, so other
scripts in the directory never run. Each plugin module is imported on its own; one
that raises, even ``SystemExit``, is recorded in :meth:`DeviceRegistry.failures`.

An entry point is imported when a device it may provide is first asked for: the
one named after the device (``cpu`` for ``"CPU"``) on its own, every other one
when that does not provide it or when the devices are listed. Installing a
package therefore costs nothing to a process that never uses its device.

``IE_CORE_TRACE_HOOKS=1`` logs every hook call, its arguments and its result at
DEBUG level on the ``ie_core.hooks`` logger (to stderr when logging is not
configured).
"""

import ast
import importlib.metadata
import importlib.util
import logging
import os
import sys
import threading
from pathlib import Path

import pluggy

from . import hookspecs, reference
from .backend import API_VERSION, Backend
from .errors import DeviceNotFoundError

ENTRY_POINT_GROUP = "ie_core.backends"
HOOK_NAMES = frozenset(name for name in dir(hookspecs) if name.startswith("ie_core_"))

log = logging.getLogger(__name__)
hook_log = logging.getLogger("ie_core.hooks")

#: Devices of the original API and the package that provides each.
KNOWN_DEVICES = {
    "CPU": "ie-backend-cpu",
    "GPU": "ie-backend-gpu",
    "FPGA": "ie-backend-fpga",
    "MYRIAD": "ie-backend-myriad",
    "HETERO": "ie-backend-hetero",
}


def api_compatible(version):
    """Whether a backend written for Backend API ``version`` ("major.minor") runs on this core's."""
    try:
        major, minor = (int(p) for p in str(version).split("."))
    except ValueError:
        return False
    core_major, core_minor = (int(p) for p in API_VERSION.split("."))
    return major == core_major and minor <= core_minor


class DeviceRegistry:
    """The installed devices: the built-in REFERENCE device, entry-point plugins, and modules in ``plugin_dirs``.

    A plugin that fails to import, or a backend that targets another Backend API
    version, is recorded in :meth:`failures` and does not hide the others. Set
    ``IE_CORE_TRACE_HOOKS=1`` to log every hook call (module docstring).
    """

    def __init__(self, plugin_dirs=()):
        self.pm = pluggy.PluginManager("ie_core")
        self.pm.add_hookspecs(hookspecs)
        if os.environ.get("IE_CORE_TRACE_HOOKS", "") not in ("", "0"):
            _trace_hooks(self.pm)
        self._failures = {}
        self._providers = {}
        self._lock = threading.RLock()
        self.pm.register(reference, name="ie-core (built in)")
        self._pending = {}
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            self._pending.setdefault(ep.name, ep)
        self.plugin_dirs = [str(d) for d in plugin_dirs if d]
        for directory in self.plugin_dirs:
            self._load_dir(Path(directory))
        self._backends = None

    def _load_entry_points(self, names):
        """Import and register the pending entry points called ``names``."""
        for name in names:
            ep = self._pending.pop(name)
            provider = ep.dist.metadata["name"] if ep.dist is not None else ep.value
            if self.pm.get_plugin(ep.name) is not None:
                continue
            try:
                module = ep.load()
            except Exception as exc:  # noqa: BLE001  (a broken package is reported, the others still load)
                self._failures[ep.name] = f"{provider}: import of {ep.value} failed: {type(exc).__name__}: {exc}"
                continue
            self.pm.register(module, name=ep.name)
            self._providers[ep.name] = provider

    def _load_dir(self, directory):
        """Register every plugin module (``*.py`` or package) in ``directory``: see the module docstring."""
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
            try:
                declared = declares_hooks(location)
            except (OSError, SyntaxError, ValueError) as exc:
                self._failures[str(path)] = f"{path}: cannot read the module: {type(exc).__name__}: {exc}"
                continue
            if not declared:
                log.debug("plugin_dirs: %s declares no ie_core hook, not loaded", path)
                continue
            module = self._import_isolated(module_name, location, path)
            if module is not None:
                self.pm.register(module, name=module_name)
                self._providers[module_name] = str(path)

    def _import_isolated(self, module_name, location, path):
        """Import the plugin module at ``location``; None (and a recorded failure) when it raises."""
        spec = importlib.util.spec_from_file_location(module_name, location)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except (Exception, SystemExit) as exc:  # noqa: BLE001  (a broken plugin is reported, the caller goes on)
            del sys.modules[module_name]
            self._failures[str(path)] = f"{path}: import failed: {type(exc).__name__}: {exc}"
            return None
        return module

    def backends(self):
        """Device name -> (Backend class, the distribution or module that provides it), every plugin loaded."""
        with self._lock:
            if self._pending:
                self._load_entry_points(list(self._pending))
                self._backends = None
            if self._backends is None:
                self._backends = self._collect()
            return self._backends

    def _collect(self):
        """Device name -> (Backend class, provider) over the plugins registered so far."""
        found = {}
        impls = self.pm.hook.ie_core_backends.get_hookimpls()
        for impl in impls:
            provider = self._providers.get(impl.plugin_name, impl.plugin_name)
            others = [other.plugin for other in impls if other is not impl]
            # one plugin at a time, through pluggy, so hook monitoring sees each call
            for cls in [c for result in self.pm.subset_hook_caller("ie_core_backends", others)() for c in result]:
                problem = _backend_problem(cls)
                if problem:
                    self._failures[getattr(cls, "device_name", "") or repr(cls)] = f"{provider}: {problem}"
                    continue
                if cls.device_name in found and found[cls.device_name][0] is not cls:
                    raise DeviceNotFoundError(
                        f"device {cls.device_name} is provided twice: by {found[cls.device_name][1]} "
                        f"and {provider}"
                    )
                found[cls.device_name] = (cls, provider)
        return found

    def _lookup(self, name):
        """(Backend class, provider) of device ``name``, or None; imports the other entry points only when
        none loaded so far (with the one named after the device) provides it."""
        with self._lock:
            if self._backends is None:
                if name.lower() in self._pending:
                    self._load_entry_points([name.lower()])
                entry = self._collect().get(name)
                if entry is not None:
                    return entry
            return self.backends().get(name)

    def failures(self):
        """Plugins that could not be used: entry-point or device name -> the reason."""
        self.backends()
        return dict(self._failures)

    def devices(self):
        """Installed devices: name -> dict(version, description, package, api_version, emulator, capabilities)."""
        return {
            name: {
                "version": cls.version,
                "description": cls.description,
                "package": provider,
                "api_version": cls.api_version,
                "emulator": cls.emulator,
                "capabilities": sorted(cls.capabilities),
            }
            for name, (cls, provider) in sorted(self.backends().items())
        }

    def create(self, device):
        """A new Backend for a device string such as ``"CPU"``, ``"MYRIAD.1"`` or ``"HETERO:FPGA,CPU"``."""
        if not isinstance(device, str) or not device.strip():
            raise DeviceNotFoundError(f"device must be a non-empty string, got {device!r}")
        name, _, target = device.strip().partition(":")
        base, _, device_id = name.partition(".")
        entry = self._lookup(base.upper())
        if entry is None:
            raise DeviceNotFoundError(self._unknown_device_message(base))
        return entry[0](target, self, device_id)

    def _unknown_device_message(self, name):
        installed = ", ".join(sorted(self.backends()))
        message = f"Unknown plugin: {name}, expected one of: {installed}"
        broken = {key: why for key, why in self._failures.items() if key.upper() == name.upper()}
        package = KNOWN_DEVICES.get(name.upper())
        if broken:
            message += ". It failed to load: " + "; ".join(broken.values())
        elif package:
            message += f". Device {name.upper()} is provided by the package {package}: pip install {package}"
        if self._failures and not broken:
            message += ". Plugins that failed to load: " + "; ".join(f"{k} ({v})" for k, v in self._failures.items())
        if self.plugin_dirs:
            message += f" (also searched plugin_dirs {self.plugin_dirs})"
        return message


def declares_hooks(path):
    """Whether the module at ``path`` defines a module-level ``@hookimpl`` function named after an ie_core hook."""
    tree = ast.parse(Path(path).read_bytes(), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in HOOK_NAMES:
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
                if name == "hookimpl":
                    return True
    return False


def _trace_hooks(pm):
    """Log every hook call of ``pm`` with its arguments and result on the ``ie_core.hooks`` logger."""
    if not hook_log.hasHandlers():
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(name)s] %(message)s"))
        hook_log.addHandler(handler)
    if hook_log.getEffectiveLevel() > logging.DEBUG:
        hook_log.setLevel(logging.DEBUG)

    def before(hook_name, hook_impls, kwargs):
        plugins = ", ".join(impl.plugin_name for impl in hook_impls)
        hook_log.debug("call %s(%s) on %s", hook_name, ", ".join(f"{k}={v!r}" for k, v in kwargs.items()), plugins)

    def after(outcome, hook_name, hook_impls, kwargs):
        if outcome.exception is not None:
            hook_log.debug("%s raised %r", hook_name, outcome.exception)
        else:
            hook_log.debug("%s returned %r", hook_name, outcome.get_result())

    pm.add_hookcall_monitoring(before, after)


def _backend_problem(cls):
    """Why ``cls`` cannot be used as a backend, or ""."""
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        return f"{cls!r} is not an ie_core.backend.Backend subclass"
    if not isinstance(cls.device_name, str) or not cls.device_name or cls.device_name != cls.device_name.upper():
        return f"{cls.__name__}.device_name must be a non-empty upper-case string, got {cls.device_name!r}"
    if not api_compatible(cls.api_version):
        return (
            f"device {cls.device_name} was written for Backend API {cls.api_version}, "
            f"this ie_core provides {API_VERSION}"
        )
    return ""


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
