"""The ie-core FPGA device: a software emulator of the FPGA deep-learning accelerator.

It is not a driver: no FPGA card is used. Networks run on the host CPU with the
core's reference ops under the numerics of the selected bitstream (config key
``FPGA_NUMERICS``): ``FP11`` (default; 1 sign, 5 exponent bits with bias 15, 5
mantissa bits) or ``FP16``. Every tensor the accelerator stores (network inputs
as received, weights, each layer's output) is rounded to that format (round to
nearest even, subnormals kept, overflow to ±inf, NaN kept); arithmetic inside a
layer is float32. The layer set is the accelerator's (:mod:`ie_backend_fpga.layers`):
a network with other layers is refused at load; ``HETERO:FPGA,CPU`` runs those on
the CPU.
"""

import numpy as np

from ie_core.backend import (
    Backend,
    ConfigOption,
    ExecutorModel,
    GraphExecutor,
    Numerics,
    hookimpl,
    layer_set_support,
    refuse_unsupported,
    reference_kernel,
    yes_no,
)

from . import _ext
from .layers import unsupported_reason

__version__ = "0.1.0"
__all__ = ["FP11", "FP16", "FPGABackend", "MinifloatNumerics", "ie_core_backends"]


class MinifloatNumerics(Numerics):
    """Storage in a float format of 1 sign bit, 5 exponent bits (bias 15) and ``mantissa_bits`` mantissa bits."""

    def __init__(self, name, mantissa_bits):
        self.name = name
        self.mantissa_bits = mantissa_bits
        self.max_finite = (2.0 - 2.0**-mantissa_bits) * 2.0**15

    def saturate(self, value):
        """A float32 constant with its finite values clamped to ±max_finite (other values as they are)."""
        if value is None or value.dtype != np.float32:
            return value
        finite = np.isfinite(value)
        if np.all(np.abs(value[finite]) <= self.max_finite):
            return value
        return np.where(finite, np.clip(value, -self.max_finite, self.max_finite), value).astype(np.float32)

    def store_float(self, array):
        return _ext.round_float(array, self.mantissa_bits)

    def store(self, value):
        if isinstance(value, np.ndarray) and value.dtype == np.float16:
            return self.store_float(value.astype(np.float32)).astype(np.float16)
        return super().store(value)


FP11 = MinifloatNumerics("FP11", 5)
FP16 = MinifloatNumerics("FP16", 10)
_NUMERICS = {n.name: n for n in (FP11, FP16)}


class FPGABackend(Backend):
    device_name = "FPGA"
    version = __version__
    description = ("FPGA deep-learning accelerator software emulator: FP11/FP16 numerics and the "
                   "accelerator's layer set on the host CPU, not a driver")
    emulator = True
    config_options = {
        "PERF_COUNT": yes_no("measure per-layer times for get_perf_counts()"),
        "FPGA_NUMERICS": ConfigOption("FP11", lambda v: v in _NUMERICS,
                                      "the bitstream's float format: FP11 or FP16", "FP11 or FP16"),
    }

    def metrics(self):
        return dict(super().metrics(), OPTIMIZATION_CAPABILITIES=sorted(_NUMERICS))

    def query(self, graph, config=None):
        numerics = _NUMERICS[self.validate_config(config)["FPGA_NUMERICS"]]
        users = graph.consumers()
        return layer_set_support(graph, numerics.name,
                                 lambda node: (unsupported_reason(node, users), _exec_type(numerics)))

    def compile(self, graph, config, num_requests):
        refuse_unsupported("FPGA", graph, self.query(graph, config))
        numerics = _NUMERICS[config["FPGA_NUMERICS"]]
        for node in graph.nodes:  # weights are converted saturating, as OpenVINO compresses them to FP16
            node.values = [numerics.saturate(v) for v in node.values]
        return ExecutorModel(GraphExecutor(graph, lambda node: _kernel(node, numerics), numerics=numerics), config)


def _exec_type(numerics):
    return f"emulated_{numerics.name}"


def _kernel(node, numerics):
    """The layer's reference op under the bitstream's numerics: the emulator's own kernel."""
    return reference_kernel(node, numerics, fallback=False)._replace(exec_type=_exec_type(numerics))


@hookimpl
def ie_core_backends():
    return [FPGABackend]
