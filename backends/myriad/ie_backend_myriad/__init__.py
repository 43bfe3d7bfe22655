"""The ie-core MYRIAD device: a software emulator of the Myriad X VPU (Intel Neural Compute Stick 2).

It is not a driver: no stick is used. Networks run on the host CPU with the
core's reference ops under FP16 numerics (:class:`FP16Numerics`): every tensor
the stick would store (network inputs as received, weights, each layer's
output) is rounded to IEEE binary16, arithmetic inside a layer is float32;
weights past binary16's range saturate, as OpenVINO's FP16 compression makes
them. The layer set and its limits are the VPU plugin's (:mod:`ie_backend_myriad.layers`):
a network with other layers is refused at load, its layers run under
``HETERO:MYRIAD,CPU``.

Several sticks are emulated: ``IE_CORE_MYRIAD_DEVICES=N`` (default 1) makes
``MYRIAD.1`` ... ``MYRIAD.N``; ``MYRIAD.2`` or the ``DEVICE_ID`` key picks one, plain
``MYRIAD`` the stick with the fewest networks loaded. Each stick runs at most
:data:`REQUESTS_IN_FLIGHT` inferences at once, of all the networks loaded on it;
more wait in its queue. Compiled networks export to a file and import back
(:mod:`ie_backend_myriad.blob`).
"""

import logging
import os
import threading

import numpy as np

from ie_core.backend import (
    Backend,
    Capability,
    ConfigError,
    ConfigOption,
    DeviceNotFoundError,
    ExecutorModel,
    ExecutorRequest,
    GraphExecutor,
    InferenceError,
    Numerics,
    Stage,
    TaskExecutor,
    hookimpl,
    layer_set_support,
    refuse_unsupported,
    yes_no,
)

from . import _ext, blob
from .kernels import kernel_for
from .layers import unsupported_reason

__version__ = "0.1.0"
__all__ = ["DEVICES_ENV", "FP16", "FP16Numerics", "MyriadBackend", "REQUESTS_IN_FLIGHT", "ie_core_backends"]

#: Environment variable: how many sticks to emulate.
DEVICES_ENV = "IE_CORE_MYRIAD_DEVICES"
#: Inferences one stick runs at the same time; further requests queue.
REQUESTS_IN_FLIGHT = 4

log = logging.getLogger("ie_backend_myriad")


class FP16Numerics(Numerics):
    """The stick's storage format: IEEE binary16, round to nearest even, subnormals kept, overflow to ±inf."""

    name = "FP16"
    max_finite = 65504.0

    def store_float(self, array):
        return _ext.round_fp16(array)

    def saturate(self, value):
        """A float32 constant with its finite values clamped to ±max_finite (other values as they are).

        The stick's weights came from OpenVINO's FP16 compression of the IR, which
        saturates out-of-range values (e.g. a -FLT_MAX attention mask) instead of
        letting them overflow to infinity.
        """
        if value is None or value.dtype != np.float32:
            return value
        finite = np.isfinite(value)
        if np.all(np.abs(value[finite]) <= self.max_finite):
            return value
        return np.where(finite, np.clip(value, -self.max_finite, self.max_finite), value).astype(np.float32)


FP16 = FP16Numerics()


_NOT_EMULATED = "accepted for compatibility; no effect on the emulation"
_LOG_LEVELS = ("LOG_NONE", "LOG_ERROR", "LOG_WARNING", "LOG_INFO", "LOG_DEBUG", "LOG_TRACE")


def _choice(*values, doc=_NOT_EMULATED):
    """An option taking one of ``values``, the first being the default."""
    return ConfigOption(values[0], lambda v: v in values, doc, "one of " + ", ".join(repr(v) for v in values))


def _device_id(value):
    return value == "" or value in _device_ids()


class MyriadBackend(Backend):
    device_name = "MYRIAD"
    version = __version__
    description = ("Myriad X VPU (Neural Compute Stick 2) software emulator: FP16 numerics and the VPU "
                   "layer set on the host CPU, not a driver")
    emulator = True
    capabilities = frozenset({Capability.EXPORT_IMPORT})
    config_options = {
        "PERF_COUNT": yes_no("measure per-layer times for get_perf_counts()"),
        "DEVICE_ID": ConfigOption("", _device_id, "the stick to load on, e.g. '2' ('' picks the least busy)",
                                  "'' or one of the AVAILABLE_DEVICES ids"),
        "LOG_LEVEL": _choice(*_LOG_LEVELS, doc="none: the emulator logs to the Python logger ie_backend_myriad"),
        "VPU_LOG_LEVEL": _choice(*_LOG_LEVELS, doc="none: the emulator logs to the Python logger ie_backend_myriad"),
        "VPU_HW_STAGES_OPTIMIZATION": yes_no(_NOT_EMULATED, "YES"),
        "MYRIAD_ENABLE_HW_ACCELERATION": yes_no(_NOT_EMULATED, "YES"),
        "VPU_COMPUTE_LAYOUT": _choice("VPU_AUTO", "VPU_NCHW", "VPU_NHWC", "VPU_NCDHW", "VPU_NDHWC"),
        "VPU_PRINT_RECEIVE_TENSOR_TIME": yes_no(_NOT_EMULATED),
        "MYRIAD_ENABLE_RECEIVING_TENSOR_TIME": yes_no(_NOT_EMULATED),
        "VPU_IGNORE_IR_STATISTIC": yes_no(_NOT_EMULATED),
        "VPU_CUSTOM_LAYERS": _choice("", doc="custom OpenCL kernels are not emulated"),
        "MYRIAD_CUSTOM_LAYERS": _choice("", doc="custom OpenCL kernels are not emulated"),
        "VPU_MYRIAD_PLATFORM": _choice("", "VPU_MYRIAD_2450", "VPU_MYRIAD_2480"),
        "VPU_MYRIAD_PROTOCOL": _choice("", "VPU_MYRIAD_USB", "VPU_MYRIAD_PCIE"),
        "MYRIAD_PROTOCOL": _choice("", "MYRIAD_USB", "MYRIAD_PCIE"),
        "VPU_MYRIAD_FORCE_RESET": yes_no(_NOT_EMULATED),
        "MYRIAD_ENABLE_FORCE_RESET": yes_no(_NOT_EMULATED),
        "MYRIAD_DDR_TYPE": _choice("MYRIAD_DDR_AUTO", "MYRIAD_DDR_MICRON_2GB", "MYRIAD_DDR_SAMSUNG_2GB",
                                   "MYRIAD_DDR_HYNIX_2GB", "MYRIAD_DDR_MICRON_1GB"),
        "MYRIAD_THROUGHPUT_STREAMS": ConfigOption("1", lambda v: v.isdigit() and int(v) > 0, _NOT_EMULATED,
                                                  "a positive integer"),
    }

    def __init__(self, target="", registry=None, device_id=""):
        super().__init__(target, registry, device_id)
        if device_id and device_id not in _device_ids():
            raise DeviceNotFoundError(
                f"device MYRIAD.{device_id} does not exist: the emulated sticks are "
                f"{', '.join('MYRIAD.' + i for i in _device_ids())} (set {DEVICES_ENV} for more)"
            )

    def available_devices(self):
        return _device_ids()

    def metrics(self):
        return dict(super().metrics(), OPTIMIZATION_CAPABILITIES=["FP16"])

    def query(self, graph, config=None):
        self.validate_config(config)
        users = graph.consumers()

        def check(node):
            reason = unsupported_reason(node)
            return reason, "" if reason else kernel_for(node, users, FP16).exec_type

        return layer_set_support(graph, FP16.name, check)

    def compile(self, graph, config, num_requests):
        refuse_unsupported("MYRIAD", graph, self.query(graph, config))
        for node in graph.nodes:
            node.values = [FP16.saturate(v) for v in node.values]
        stick = _stick_for(self.device_id or config.get("DEVICE_ID", ""))
        users = graph.consumers()
        executor = GraphExecutor(graph, lambda node: kernel_for(node, users, FP16), numerics=FP16)
        model = MyriadModel(executor, config, stick)
        log.debug("%s: loaded network '%s' (%d layers, FP16)", stick.name, graph.name, len(graph.nodes))
        return model

    def import_network(self, path, config, num_requests):
        header, graph = blob.read(path, __version__)
        log.debug("imported network '%s' from %s (exported from %s)", graph.name, path, header.get("device"))
        return graph, self.compile(graph, config, num_requests)


def _device_ids():
    """Ids of the emulated sticks: "1" .. IE_CORE_MYRIAD_DEVICES."""
    text = os.environ.get(DEVICES_ENV, "1").strip()
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{DEVICES_ENV}={text!r}: expected the number of emulated sticks, a positive integer")
    return [str(i) for i in range(1, int(text) + 1)]


class Stick:
    """One emulated stick: its queue of inferences (at most REQUESTS_IN_FLIGHT running) and its networks."""

    def __init__(self, device_id):
        self.name = f"MYRIAD.{device_id}"
        self.executor = TaskExecutor(self.name, workers=REQUESTS_IN_FLIGHT)
        self.slots = threading.BoundedSemaphore(REQUESTS_IN_FLIGHT)
        self.networks = 0


_sticks = {}
_sticks_lock = threading.Lock()


def _stick_for(device_id):
    """The stick ``device_id`` names, or (for "") the one with the fewest networks; counts the new network."""
    ids = _device_ids()
    with _sticks_lock:
        for i in ids:
            if i not in _sticks:
                _sticks[i] = Stick(i)
        stick = _sticks[device_id] if device_id else min((_sticks[i] for i in ids), key=lambda s: s.networks)
        stick.networks += 1
    return stick


class MyriadModel(ExecutorModel):
    """A network loaded on one stick: its inferences take the stick's slots and run on its queue."""

    def __init__(self, executor, config, stick):
        super().__init__(executor, config)
        self.stick = stick
        self.released = False

    def create_request(self):
        return MyriadRequest(self)

    def run(self, inputs, state):
        if self.released:
            raise InferenceError(f"the inference was cancelled: its network was released from {self.stick.name}")
        with self.stick.slots:
            return super().run(inputs, state)

    def export(self, path):
        graph = self.executor.graph
        blob.write(path, graph, FP16.store, {"device": self.stick.name, "package_version": __version__,
                                              "numerics": FP16.name, "network": graph.name})

    def release(self):
        with _sticks_lock:
            if not self.released:
                self.released = True
                self.stick.networks -= 1


class MyriadRequest(ExecutorRequest):
    def stages(self):
        return [Stage(self.model.stick.executor, self.infer)]


@hookimpl
def ie_core_backends():
    return [MyriadBackend]
