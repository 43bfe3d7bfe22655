"""YAML configuration files: which device to use, its configuration keys, and optionally the model.

The schema (every key but ``devices`` is optional)::

    devices: [GPU, MYRIAD, CPU]     # preference order: the first installed and available one is used
    config:                         # configuration keys per device (IEPlugin.set_config)
      CPU: {CPU_THREADS_NUM: 4}
      MYRIAD: {VPU_LOG_LEVEL: LOG_WARNING}
    hetero:
      fallback: [MYRIAD, CPU]       # what a plain "HETERO" in devices splits the network over
      affinity:                     # layer type -> device, overriding HETERO's own assignment
        Softmax: CPU
    num_requests: 2                 # inference requests to create (a positive integer; default 1)
    model: net.xml                  # the IR; relative paths are relative to this file
    weights: net.bin                # default: the model's name with .bin

A device entry is a device string: ``CPU``, ``MYRIAD.1`` (one device of several) or
``HETERO:MYRIAD,CPU``. One whose backend is not installed, or that reports no device
of its kind here (``available_devices()``), is skipped; a HETERO entry keeps the
devices of its list that are usable and is skipped when none is. A name no backend
knows, an unknown key or a value of the wrong type is a :class:`ConfigFileError`
naming the file, the line and the problem. Configuration values may be strings,
numbers or booleans (``YES``/``NO`` unquoted are booleans in YAML; they become
``"YES"``/``"NO"``). Only PyYAML's safe loader reads the file.
"""

import os
from pathlib import Path
from typing import NamedTuple, Optional

import yaml

from .errors import ConfigError, ConfigFileError, DeviceNotFoundError
from .plugins import KNOWN_DEVICES, default_registry

#: The environment variable naming the configuration file used when none is given.
ENV_VAR = "IE_CORE_CONFIG"

_TOP_KEYS = ("devices", "config", "hetero", "num_requests", "model", "weights")
_HETERO_KEYS = ("fallback", "affinity")


class Entry(NamedTuple):
    """A value of the file and the line (1-based) it is on."""

    value: object
    line: int


class Settings(NamedTuple):
    """A configuration file, validated against the schema (not yet against the installed devices)."""

    path: str
    devices: list  # [Entry(device string)]
    config: dict  # device name -> {key: Entry(str value)}
    fallback: list  # [Entry(device string)]
    affinity: dict  # layer type -> Entry(device string)
    num_requests: int
    model: Optional[str]
    weights: Optional[str]

    def error(self, line, problem):
        return ConfigFileError(f"{self.path}:{line}: {problem}")


class Choice(NamedTuple):
    """The device a configuration selects here: its device string and configuration keys, and
    why each device before it in the list was skipped."""

    device: str
    config: dict
    skipped: list


def config_path(path=None):
    """``path``, or the file ``IE_CORE_CONFIG`` names; ConfigFileError when there is neither."""
    path = path or os.environ.get(ENV_VAR)
    if not path:
        raise ConfigFileError(f"no configuration file given and {ENV_VAR} is not set")
    return os.fspath(path)


def load(path=None, registry=None):
    """Read and validate the configuration file at ``path`` (default: ``$IE_CORE_CONFIG``); returns Settings.

    Device names are checked against ie_core's known devices and those of ``registry``
    (default: the installed ones).
    """
    path = config_path(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"{path}: cannot read the configuration file: {exc}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigFileError(f"{where}: not valid YAML: {problem}") from None
    _check_tags(path, root)
    return _Reader(path, registry or default_registry()).settings(root)


def _check_tags(path, node):
    """ConfigFileError for the first node whose tag PyYAML's safe loader would not construct."""
    if node is None:
        return
    if node.tag not in yaml.SafeLoader.yaml_constructors:
        raise ConfigFileError(f"{path}:{node.start_mark.line + 1}: not valid YAML: the safe loader does not "
                              f"accept the tag {node.tag}")
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_tags(path, item)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _check_tags(path, key)
            _check_tags(path, value)


class _Reader:
    """Turns the composed YAML nodes of one file into Settings, checking the schema on the way."""

    def __init__(self, path, registry):
        self.path = path
        self.registry = registry
        self.base = Path(path).resolve().parent

    def fail(self, node, problem):
        return ConfigFileError(f"{self.path}:{node.start_mark.line + 1}: {problem}")

    def mapping(self, node, what, keys=None):
        """Key -> (key node, value node) of a mapping; unknown keys raise when ``keys`` is given."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping, got {self.kind(node)}")
        items = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node, f"a key of {what}")
            if not isinstance(key, str):
                raise self.fail(key_node, f"a key of {what} must be a string, got {key!r}")
            if keys is not None and key not in keys:
                raise self.fail(key_node, f"unknown key {key!r} in {what}; expected one of: {', '.join(keys)}")
            if key in items:
                raise self.fail(key_node, f"key {key!r} appears twice in {what}")
            items[key] = (key_node, value_node)
        return items

    def scalar(self, node, what):
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"{what} must be a single value, got {self.kind(node)}")
        return _construct(node)

    def string(self, node, what):
        value = self.scalar(node, what)
        if not isinstance(value, str) or not value:
            raise self.fail(node, f"{what} must be a non-empty string, got {value!r}")
        return value

    def device_list(self, node, what):
        if isinstance(node, yaml.ScalarNode):
            nodes = [node]
        elif isinstance(node, yaml.SequenceNode):
            nodes = node.value
        else:
            raise self.fail(node, f"{what} must be a list of device names, got {self.kind(node)}")
        if not nodes:
            raise self.fail(node, f"{what} is empty: name at least one device")
        entries = []
        for item in nodes:
            device = self.string(item, f"an entry of {what}").strip()
            self.check_device_names(item, device)
            entries.append(Entry(device, item.start_mark.line + 1))
        return entries

    def check_device_names(self, node, device):
        """Every device name in a device string must be known to ie_core or to an installed backend."""
        known = set(KNOWN_DEVICES) | set(self.registry.backends())
        name, _, target = device.partition(":")
        names = [name] + ([t for t in target.split(",")] if target else [])
        for part in names:
            base = part.strip().partition(".")[0].upper()
            if base not in known:
                raise self.fail(node, f"unknown device {part.strip()!r}; known devices: {', '.join(sorted(known))}")

    @staticmethod
    def kind(node):
        return {yaml.MappingNode: "a mapping", yaml.SequenceNode: "a list"}.get(type(node), repr(_construct(node)))

    def settings(self, root):
        if root is None:
            raise ConfigFileError(f"{self.path}:1: the file is empty; it needs at least a 'devices:' list")
        top = self.mapping(root, "the file", _TOP_KEYS)
        if "devices" not in top:
            raise self.fail(root, "missing key 'devices' (the devices to use, in order of preference)")
        devices = self.device_list(top["devices"][1], "devices")
        config = {}
        if "config" in top:
            for device, (key_node, value_node) in self.mapping(top["config"][1], "config").items():
                self.check_device_names(key_node, device)
                keys = self.mapping(value_node, f"config of {device}")
                config[device.upper()] = {k: Entry(self.config_value(v, device, k), v.start_mark.line + 1)
                                          for k, (_, v) in keys.items()}
        fallback, affinity = [], {}
        if "hetero" in top:
            hetero = self.mapping(top["hetero"][1], "hetero", _HETERO_KEYS)
            if "fallback" in hetero:
                fallback = self.device_list(hetero["fallback"][1], "hetero.fallback")
            if "affinity" in hetero:
                for layer_type, (_, value_node) in self.mapping(hetero["affinity"][1], "hetero.affinity").items():
                    device = self.string(value_node, f"the device of layer type {layer_type}")
                    self.check_device_names(value_node, device)
                    affinity[layer_type] = Entry(device, value_node.start_mark.line + 1)
        num_requests = 1
        if "num_requests" in top:
            node = top["num_requests"][1]
            num_requests = self.scalar(node, "num_requests")
            if isinstance(num_requests, bool) or not isinstance(num_requests, int) or num_requests <= 0:
                raise self.fail(node, f"num_requests must be a positive integer, got {num_requests!r}")
        model = self.path_value(top, "model")
        weights = self.path_value(top, "weights")
        if weights is not None and model is None:
            raise self.fail(top["weights"][0], "'weights' is given without 'model'")
        return Settings(self.path, devices, config, fallback, affinity, num_requests, model, weights)

    def config_value(self, node, device, key):
        value = self.scalar(node, f"{device} config key {key}")
        if isinstance(value, bool):
            return "YES" if value else "NO"
        if value is None or not isinstance(value, (str, int, float)):
            raise self.fail(node, f"{device} config key {key} must be a string, number or YES/NO, got {value!r}")
        return str(value)

    def path_value(self, top, key):
        if key not in top:
            return None
        return str(self.base / self.string(top[key][1], key))


def _construct(node):
    """The Python value of a scalar node, resolved as the safe loader resolves it."""
    return yaml.constructor.SafeConstructor().construct_object(node)


def choose(settings, registry):
    """The first device of ``settings.devices`` usable here (installed, with a device of its kind present).

    Raises ConfigFileError when none is, naming each device and why it was skipped,
    or when an installed device refuses one of its configuration keys.
    """
    backends = registry.backends()
    for device, keys in settings.config.items():
        if device in backends:
            backend = registry.create(device)
            for key, entry in keys.items():
                try:
                    backend.validate_config({key: entry.value})
                except ConfigError as exc:
                    raise settings.error(entry.line, f"config of {device}: {exc}") from None
    skipped = []
    for entry in settings.devices:
        device, why = _usable(entry.value, settings, registry)
        if device is None:
            skipped.append(f"{entry.value} ({why})")
            continue
        return Choice(device, device_keys(settings, device), skipped)
    raise settings.error(settings.devices[0].line, "none of the devices is usable here: " + "; ".join(skipped))


def device_keys(settings, device):
    """The configuration keys the file sets for the device string ``device`` (key -> str value)."""
    base = device.partition(":")[0].partition(".")[0].upper()
    return {key: entry.value for key, entry in settings.config.get(base, {}).items()}


def _usable(device, settings, registry):
    """(device string to use, "") or (None, why it cannot be used here)."""
    name, _, target = device.partition(":")
    base, _, device_id = name.partition(".")
    if base.upper() not in registry.backends():
        package = KNOWN_DEVICES.get(base.upper())
        return None, f"not installed: pip install {package}" if package else "not installed"
    try:
        present = registry.create(name).available_devices()
    except (ConfigError, DeviceNotFoundError) as exc:
        return None, str(exc)
    if not present or (device_id and device_id not in present):
        return None, "no such device here" if device_id else "no device of this kind here"
    if base.upper() != "HETERO":
        return device, ""
    targets = [t.strip() for t in target.split(",") if t.strip()] or [e.value for e in settings.fallback]
    if not targets:
        return None, "no fallback devices: write HETERO:DEV1,DEV2 or give hetero.fallback"
    usable = [t for t in targets if _usable(t, settings, registry)[0] is not None]
    if not usable:
        return None, f"none of its devices {', '.join(targets)} is usable here"
    return f"{name}:{','.join(usable)}", ""


def assign_affinity(settings, plugin, net):
    """Apply ``hetero.affinity`` to ``net`` for a HETERO ``plugin``: HETERO's own initial
    affinity, then the per-layer-type overrides. Does nothing for other devices or
    without overrides."""
    if not settings.affinity or not plugin.device.upper().startswith("HETERO"):
        return
    plugin.set_initial_affinity(net)
    for layer in net.layers.values():
        entry = settings.affinity.get(layer.type)
        if entry is not None:
            layer.affinity = entry.value
