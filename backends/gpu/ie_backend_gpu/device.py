"""OpenCL devices: which ones the GPU device numbers, one context per device and process, and
program builds cached on disk."""

import hashlib
import os
import threading
import warnings
from pathlib import Path

import pyopencl as cl

from ie_core.backend import DeviceNotFoundError, NotSupportedError, TaskExecutor

from .memory import GPUAllocator

#: Environment variable that lets the GPU device run on OpenCL CPU devices (e.g. PoCL) as well.
ALLOW_CPU_ENV = "IE_CORE_GPU_ALLOW_CPU"

_KERNEL_DIR = Path(__file__).parent / "cl"


def cpu_devices_allowed():
    """Whether ``IE_CORE_GPU_ALLOW_CPU`` is set to a true value ("1", "YES", ...)."""
    return os.environ.get(ALLOW_CPU_ENV, "").strip().upper() in ("1", "YES", "TRUE", "ON")


def _platforms():
    try:
        return cl.get_platforms()
    except cl.Error:  # no ICD loader platform at all (PLATFORM_NOT_FOUND_KHR)
        return []


def _devices_of(platform, kind):
    try:
        return platform.get_devices(device_type=kind)
    except cl.Error:  # DEVICE_NOT_FOUND: the platform has none of this kind
        return []


def opencl_devices():
    """The devices ``GPU.0``, ``GPU.1``... stand for: every platform's GPUs, then, when
    :func:`cpu_devices_allowed`, every platform's CPU devices."""
    platforms = _platforms()
    found = [d for p in platforms for d in _devices_of(p, cl.device_type.GPU)]
    if cpu_devices_allowed():
        found += [d for p in platforms for d in _devices_of(p, cl.device_type.CPU)]
    return found


def platforms_summary():
    """The OpenCL platforms found and their devices, e.g. "Portable Computing Language
    (OpenCL 3.0 PoCL 3.0): pthread-AMD EPYC (CPU)"; "none" without any."""
    entries = []
    for p in _platforms():
        devices = [f"{d.name.strip()} ({cl.device_type.to_string(d.type)})" for d in _devices_of(p, cl.device_type.ALL)]
        entries.append(f"{p.name} ({p.version}): {', '.join(devices) or 'no devices'}")
    return "; ".join(entries) or "none"


def select(device_id):
    """The :class:`Device` of ``GPU.<device_id>`` (``""``: the first one); DeviceNotFoundError
    listing the OpenCL platforms found when there is none."""
    devices = opencl_devices()
    index = int(device_id) if device_id.isdigit() else None
    if device_id and index is None:
        raise DeviceNotFoundError(f"GPU.{device_id}: the device index must be a number (GPU.0, GPU.1, ...)")
    index = index or 0
    if index >= len(devices):
        if not devices:
            hint = "" if cpu_devices_allowed() else (
                f"; set {ALLOW_CPU_ENV}=1 to run the GPU device on an OpenCL CPU device"
            )
            raise DeviceNotFoundError(
                f"no OpenCL GPU device found (OpenCL platforms: {platforms_summary()}){hint}"
            )
        raise DeviceNotFoundError(
            f"GPU.{index}: there are {len(devices)} OpenCL device(s): "
            + ", ".join(f"GPU.{i} = {d.name.strip()}" for i, d in enumerate(devices))
        )
    return Device.of(devices[index], index)


class Device:
    """One OpenCL device of this process: its context, shared by every network and request on it
    (so tensors of one ``GPU.<n>`` are valid in all of them), and its built programs."""

    _instances = {}
    _lock = threading.Lock()

    @classmethod
    def of(cls, cl_device, index):
        key = (cl_device.platform.name, cl_device.name, index)
        with cls._lock:
            if key not in cls._instances:
                cls._instances[key] = cls(cl_device, index)
            return cls._instances[key]

    def __init__(self, cl_device, index):
        self.cl_device = cl_device
        self.index = index
        self.name = f"GPU.{index}"
        self.context = cl.Context([cl_device])
        self.is_gpu = bool(cl_device.type & cl.device_type.GPU)
        self.programs = ProgramCache(self)
        self.allocator = GPUAllocator(self)
        #: where requests enqueue their kernels (one thread: enqueueing is quick, the kernels run on the device)
        self.enqueue_executor = TaskExecutor(f"{self.name}-enqueue")

    @property
    def full_name(self):
        d = self.cl_device
        kind = "GPU" if self.is_gpu else "CPU"
        return f"{d.name.strip()} ({kind}, {d.platform.name}, {d.version.strip()})"

    def identity(self):
        """What a built program depends on besides its source and options."""
        d = self.cl_device
        return "|".join((d.platform.name, d.platform.version, d.name, d.version, d.driver_version, d.vendor))


class ProgramCache:
    """Programs built from the package's ``cl/*.cl`` files, once per process and, in a directory
    given to :meth:`get`, on disk keyed by the device, the build options and the source's hash.

    ``builds`` counts the programs compiled from source, ``disk_hits`` those read from the
    directory (``stats()``).
    """

    def __init__(self, device):
        self._device = device
        self._programs = {}
        self._lock = threading.Lock()
        self.builds = 0
        self.disk_hits = 0

    def stats(self):
        return {"builds": self.builds, "disk_hits": self.disk_hits}

    def get(self, name, options, directory):
        """The built program of ``cl/common.cl`` + ``cl/<name>.cl`` with ``options`` (a tuple of strings)."""
        source = (_KERNEL_DIR / "common.cl").read_text() + (_KERNEL_DIR / f"{name}.cl").read_text()
        option_text = " ".join(options)
        key = hashlib.sha256(
            "\0".join((self._device.identity(), option_text, source)).encode()
        ).hexdigest()[:32]
        with self._lock:
            program = self._programs.get(key)
            if program is None:
                path = Path(directory) / f"{name}-{key}.bin" if directory else None
                program = self._from_disk(path, option_text) if path is not None and path.is_file() else None
                if program is None:
                    program = self._build(name, source, option_text)
                    if path is not None:
                        _store(path, program.get_info(cl.program_info.BINARIES)[0])
                self._programs[key] = program
            return program

    def _from_disk(self, path, options):
        context, device = self._device.context, self._device.cl_device
        try:
            program = cl.Program(context, [device], [path.read_bytes()]).build(options)
        except cl.Error:  # written by another driver version or damaged: build from source instead
            return None
        self.disk_hits += 1
        return program

    def _build(self, name, source, options):
        try:
            program = cl.Program(self._device.context, source).build(options, cache_dir=False)
        except cl.Error as exc:
            raise NotSupportedError(
                f"{self._device.name} ({self._device.full_name}): OpenCL program {name}.cl "
                f"failed to build with options '{options}': {exc}"
            ) from None
        self.builds += 1
        return program


def _store(path, binary):
    """Write a program binary into the cache (atomically); a cache that cannot be written is
    reported with a warning, the load goes on."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(binary)
        os.replace(tmp, path)
    except OSError as exc:
        warnings.warn(f"the GPU kernel cache {path.parent} cannot be written: {exc}", stacklevel=2)


def default_cache_dir():
    """``$XDG_CACHE_HOME/ie-core/gpu`` (``~/.cache/ie-core/gpu``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ie-core", "gpu")
