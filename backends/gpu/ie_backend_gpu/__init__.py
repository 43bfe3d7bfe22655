"""The ie-core GPU device: the op set as OpenCL C kernels, tensors in device memory.

Registered under the ``ie_core.backends`` entry-point group (device name ``"GPU"``). ``GPU`` is
the first OpenCL GPU of the machine, ``GPU.<n>`` the n-th (:mod:`ie_backend_gpu.device`; with
``IE_CORE_GPU_ALLOW_CPU=1`` OpenCL CPU devices such as PoCL follow the GPUs). Networks are planned
by :mod:`ie_backend_gpu.planner` (fusion, kernel selection, memory reuse) and run by
:mod:`ie_backend_gpu.runtime`; layers without a kernel are refused, for HETERO to place
elsewhere.
"""

import os

from ie_core.backend import Backend, Capability, ConfigOption, hookimpl

from .device import ALLOW_CPU_ENV, default_cache_dir, opencl_devices, platforms_summary, select
from .planner import make_plan
from .runtime import GPUModel

__version__ = "0.1.0"
__all__ = ["ALLOW_CPU_ENV", "GPUBackend", "ie_core_backends", "make_plan", "opencl_devices", "platforms_summary"]


def _directory(value):
    return value == "" or not os.path.exists(value) or os.path.isdir(value)


class GPUBackend(Backend):
    device_name = "GPU"
    version = __version__
    description = "OpenCL kernels (convolution, MatMul, attention, normalisations, element-wise, data movement)"
    api_version = "1.0"
    capabilities = frozenset({Capability.DEVICE_MEMORY})
    config_options = {
        **Backend.config_options,
        "INFERENCE_PRECISION_HINT": ConfigOption(
            "f32", lambda v: v.lower() in ("f32", "f16"),
            "f32, or f16: float tensors stored as half (arithmetic stays float32)", "f32/f16"),
        "CL_CACHE_DIR": ConfigOption(
            default_cache_dir(), _directory,
            "directory of the OpenCL program binary cache; empty: no cache", "a directory path or ''"),
    }

    def __init__(self, target="", registry=None, device_id=""):
        super().__init__(target, registry, device_id)
        self.device = select(device_id)

    def available_devices(self):
        return [str(i) for i in range(len(opencl_devices()))]

    def metrics(self):
        metrics = super().metrics()
        metrics["FULL_DEVICE_NAME"] = self.device.full_name
        metrics["OPTIMIZATION_CAPABILITIES"] = ["FP32", "FP16"]
        metrics["CL_KERNEL_CACHE"] = self.device.programs.stats()
        return metrics

    def query(self, graph, config=None):
        config = self.validate_config(config)
        return make_plan(graph, config["INFERENCE_PRECISION_HINT"].lower(), emit=False).support

    def compile(self, graph, config, num_requests):
        plan = make_plan(graph, config["INFERENCE_PRECISION_HINT"].lower())
        plan.check(self.device.name)
        return GPUModel(self.device, plan, config)


@hookimpl
def ie_core_backends():
    return [GPUBackend]
