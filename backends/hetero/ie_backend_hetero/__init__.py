"""The HETERO device: one network on several devices, each layer on the device its affinity names.

``IEPlugin("HETERO:FPGA,CPU")`` (or ``IEPlugin("HETERO")`` with the configuration key
``TARGET_FALLBACK`` = ``"FPGA,CPU"`` or ``"HETERO:FPGA,CPU"``) lists the devices in
order of preference. ``set_initial_affinity(net)`` gives each layer the first device
whose ``query()`` says it runs the layer natively, else the last one. At load, layers
keep the affinity set on them (``layer.affinity``) and the others get that default;
the network is cut into subgraphs (:mod:`ie_backend_hetero.partition`), each compiled
on its device through the registry, and run one after another with the tensors
crossing a cut moved by the devices' allocators (:mod:`ie_backend_hetero.model`).

Configuration keys: ``TARGET_FALLBACK``, ``HETERO_DUMP_GRAPH_DOT`` (YES writes
``hetero_affinity.dot`` and ``hetero_subgraphs.dot`` into the current directory, see
:mod:`ie_backend_hetero.dot`) and ``PERF_COUNT``, which also reaches every device.
Any other key goes to the devices of the list that accept it (``CPU_THREADS_NUM`` to
the CPU); a key none of them accepts is a ConfigError.
"""

import re

from ie_core.backend import (
    Backend,
    Capability,
    ConfigError,
    ConfigOption,
    DeviceNotFoundError,
    NotSupportedError,
    hookimpl,
    yes_no,
)

from . import dot
from .model import HeteroModel, Part, on_device, unsupported
from .partition import partition, runnable_layers

__version__ = "0.1.0"
__all__ = ["HeteroBackend", "fallback_devices", "ie_core_backends", "partition"]

_DEVICE = r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)?"
_FALLBACK = re.compile(rf"(?:HETERO:)?({_DEVICE}(?:,{_DEVICE})*)?", re.IGNORECASE)

MISSING_FALLBACK = "The 'TARGET_FALLBACK' option was not defined for heterogeneous plugin"


def device_key(name):
    """A device string as HETERO compares them: the name upper-cased, the id kept (``"myriad.1"`` -> ``"MYRIAD.1"``)."""
    base, dot_, device_id = name.strip().partition(".")
    return base.upper() + dot_ + device_id


def fallback_devices(value):
    """The devices of a ``TARGET_FALLBACK`` value (``"A,B"`` or ``"HETERO:A,B"``) in order; ConfigError if malformed."""
    match = _FALLBACK.fullmatch(value.replace(" ", ""))
    if match is None:
        raise ConfigError(f"TARGET_FALLBACK {value!r} is not a comma-separated list of devices such as 'CPU,REFERENCE'")
    names = [device_key(name) for name in (match.group(1) or "").split(",") if name]
    for name in names:
        if name.partition(".")[0] == "HETERO":
            raise ConfigError(f"TARGET_FALLBACK {value!r}: HETERO cannot be one of its own devices")
        if names.count(name) > 1:
            raise ConfigError(f"TARGET_FALLBACK {value!r}: device {name} is listed twice")
    return names


def _is_fallback(value):
    try:
        fallback_devices(value)
    except ConfigError:
        return False
    return True


class HeteroBackend(Backend):
    """The HETERO device; its devices are created through ``registry``, never imported."""

    device_name = "HETERO"
    version = __version__
    description = "runs each layer of a network on the device its affinity names, the parts chained across devices"
    capabilities = frozenset({Capability.AFFINITY})
    config_options = {
        **Backend.config_options,
        "TARGET_FALLBACK": ConfigOption(
            "", _is_fallback, "the devices in order of preference: A,B[,C] or HETERO:A,B[,C]",
            "a comma-separated list of distinct devices other than HETERO, e.g. CPU,REFERENCE",
        ),
        "HETERO_DUMP_GRAPH_DOT": yes_no(
            "write hetero_affinity.dot and hetero_subgraphs.dot into the current directory"
        ),
    }

    def __init__(self, target="", registry=None, device_id=""):
        super().__init__(target, registry, device_id)
        self._devices = {}  # device string -> its Backend, created on first use
        if target:
            self.config = super().validate_config({"TARGET_FALLBACK": target})
        self.capabilities = self._capabilities()

    # ------------------------------------------------------------------ devices and configuration

    def _listed(self, config):
        return fallback_devices(config["TARGET_FALLBACK"])

    def _listed_classes(self):
        """The Backend classes of the listed devices that are installed."""
        backends = self.registry.backends()
        bases = [name.partition(".")[0] for name in self._listed(self.config)]
        return [backends[base][0] for base in bases if base in backends]

    def _capabilities(self):
        """AFFINITY, and EXTENSIONS when one of the listed devices loads extensions."""
        caps = {Capability.AFFINITY}
        if any(Capability.EXTENSIONS in cls.capabilities for cls in self._listed_classes()):
            caps.add(Capability.EXTENSIONS)
        return frozenset(caps)

    def devices(self, config=None):
        """The listed devices: device string -> Backend, in order of preference."""
        names = self._listed(config or self.config)
        if not names:
            raise ConfigError(MISSING_FALLBACK)
        for name in names:
            if name not in self._devices:
                try:
                    self._devices[name] = self.registry.create(name)
                except DeviceNotFoundError as exc:
                    raise DeviceNotFoundError(f"HETERO fallback device {name} ({','.join(names)}): {exc}") from exc
        return {name: self._devices[name] for name in names}

    @staticmethod
    def share(device, config):
        """The keys of ``config`` that ``device`` accepts."""
        return {key: value for key, value in config.items() if key in device.config_options}

    def validate_config(self, config):
        """HETERO's own keys, merged over the current settings, and the keys its devices accept."""
        config = dict(config or {})
        merged = super().validate_config({k: v for k, v in config.items() if k in self.config_options})
        others = {k: str(v) for k, v in config.items() if k not in self.config_options}
        if not others:
            return merged
        if not self._listed(merged):
            key = next(iter(others))
            raise ConfigError(f"[NOT_FOUND] Unsupported property {key} by HETERO plugin: {MISSING_FALLBACK}")
        devices = self.devices(merged)
        for key, value in others.items():
            takers = [device for device in devices.values() if key in device.config_options]
            if not takers:
                raise ConfigError(
                    f"[NOT_FOUND] Unsupported property {key} by HETERO plugin: none of its devices "
                    f"({', '.join(devices)}) accepts it"
                )
            for device in takers:
                device.validate_config({key: value})
            merged[key] = value
        return merged

    def set_config(self, config):
        super().set_config(config)
        self.capabilities = self._capabilities()

    def get_config(self, key):
        """The value set on HETERO, else the first listed device's that has the key."""
        if key not in self.config and self._listed(self.config):
            for device in self.devices().values():
                if key in device.config_options:
                    return device.get_config(key)
        return super().get_config(key)

    def metrics(self):
        metrics = super().metrics()
        keys = set(metrics["SUPPORTED_CONFIG_KEYS"])
        for cls in self._listed_classes():
            keys.update(cls.config_options)
        metrics["SUPPORTED_CONFIG_KEYS"] = sorted(keys)
        return metrics

    def add_extension(self, path):
        """Load the extension into every listed device that loads extensions."""
        for device in self.devices().values():
            if Capability.EXTENSIONS in device.capabilities:
                device.add_extension(path)

    def extension_ops(self):
        ops = {}
        for name in self._listed(self.config):
            if name in self._devices:
                ops.update(self._devices[name].extension_ops())
        return ops

    # ------------------------------------------------------------------ affinity

    def _place(self, graph, config, manual=True):
        """Each layer's device and that device's :class:`LayerSupport`: name -> (device, support).

        Every device answers ``query`` once. A layer keeps its ``affinity`` (when
        ``manual``) or gets the first device that runs it natively, else the last one.
        """
        devices = self.devices(config)
        answers = {name: device.query(graph.copy(), self.share(device, config)) for name, device in devices.items()}
        last = list(devices)[-1]
        placement = {}
        for n in graph.nodes:
            if n.type == "Result":
                continue
            chosen = n.rt_info.get("affinity", "") if manual else ""
            if chosen:
                device = device_key(chosen)
                if device not in devices:
                    raise DeviceNotFoundError(
                        f"layer '{n.name}' ({n.type}) has affinity {chosen!r}, which is not one of the HETERO "
                        f"devices {', '.join(devices)}"
                    )
            else:
                native = [d for d in devices if n.name in answers[d] and answers[d][n.name].native]
                device = native[0] if native else last
            answer = answers[device].get(n.name) or unsupported(f"the {device} device did not report this layer")
            placement[n.name] = (device, answer)
        return placement

    def initial_affinity(self, graph, config=None):
        """The default device of every layer: the first listed one that runs it natively, else the last."""
        config = self.validate_config(config)
        affinity = _affinity(self._place(graph, config, manual=False))
        if config["HETERO_DUMP_GRAPH_DOT"] == "YES":
            dot.write_affinity(graph, affinity, self._listed(config))
        return affinity

    # ------------------------------------------------------------------ networks

    def query(self, graph, config=None):
        """Each layer as its device (affinity or default) would run it; ``exec_type`` names the device.

        When every layer can run on its device, the answers are those of the compiled
        subgraphs (as :meth:`compile` would give them), else those of the devices' queries.
        """
        config = self.validate_config(config)
        placement = self._place(graph, config)
        if _refused(graph, placement):
            return {
                name: answer._replace(exec_type=on_device(device, answer.exec_type))
                for name, (device, answer) in placement.items()
            }
        model = self._build(graph, config, 1, placement)
        try:
            return model.layer_support()
        finally:
            model.release()

    def compile(self, graph, config, num_requests):
        config = self.validate_config(config)
        placement = self._place(graph, config)
        refused = _refused(graph, placement)
        if refused:
            n, device, reason = refused[0]
            more = f" (and {len(refused) - 1} more layers)" if len(refused) > 1 else ""
            if n.rt_info.get("affinity"):
                raise NotSupportedError(
                    f"layer '{n.name}' ({n.type}) has affinity {device}, but the {device} device cannot run it: "
                    f"{reason}{more}"
                )
            raise NotSupportedError(
                f"Hetero plugin used default fallback policy, but some layers eg: (Name: {n.name}, Type: {n.type}) "
                f"were not able to be assigned on any pointed device ({', '.join(self._listed(config))}); "
                f"{device}: {reason}{more}"
            )
        return self._build(graph, config, num_requests, placement, dump=config["HETERO_DUMP_GRAPH_DOT"] == "YES")

    def _build(self, graph, config, num_requests, placement, dump=False):
        """Cut ``graph`` by ``placement``, compile each subgraph on its device; ``dump`` writes both dot files."""
        devices = self.devices(config)
        affinity = _affinity(placement)
        parts = partition(graph, affinity)
        if dump:
            dot.write_affinity(graph, affinity, list(devices))
            dot.write_subgraphs(graph, affinity, list(devices), parts)
        compiled = []
        for device_name, names in parts:
            device = devices[device_name]
            sub, _, _ = graph.subgraph(set(names))
            model = device.compile(sub, device.validate_config(self.share(device, config)), num_requests)
            inputs = {p.name: p.output_dtypes[0] for p in sub.parameters}
            compiled.append(Part(device_name, model, frozenset(names), inputs, model.allocator()))
        return HeteroModel(graph, compiled, placement)


def _affinity(placement):
    return {name: device for name, (device, _) in placement.items()}


def _refused(graph, placement):
    """The runnable layers whose device cannot run them: [(node, device, reason)]."""
    refused = []
    for n in runnable_layers(graph):
        device, answer = placement[n.name]
        if not answer.supported:
            refused.append((n, device, answer.reason or "not supported"))
    return refused


@hookimpl
def ie_core_backends():
    return [HeteroBackend]
