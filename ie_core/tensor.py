"""Tensors in device memory: the :class:`Allocator` a device implements and the core's transfers between devices.

Host memory is the default: a host tensor *is* a numpy array, so a device without
memory of its own (the CPU, the emulators) hands arrays through with no copy and
implements nothing here. A device with memory of its own (an OpenCL GPU, the test
device of the HETERO tests) returns an :class:`Allocator` subclass from
:meth:`~ie_core.backend.CompiledModel.allocator`; its tensors are :class:`Tensor`
objects holding the device's handle, and :func:`to_allocator` moves tensors
between devices through the allocators' hooks.
"""

import numpy as np


class Tensor:
    """A tensor in a device's memory: ``shape``, numpy ``dtype``, the ``allocator`` that owns it
    and ``handle``, the device's own object (a buffer, an address). Immutable once made."""

    __slots__ = ("shape", "dtype", "allocator", "handle")

    def __init__(self, shape, dtype, allocator, handle):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.allocator = allocator
        self.handle = handle

    def __repr__(self):
        return f"<Tensor {list(self.shape)} {self.dtype} on {self.allocator.device}>"

    @property
    def device(self):
        return self.allocator.device

    def numpy(self):
        """A host copy (:meth:`Allocator.copyout`)."""
        return self.allocator.copyout(self)


class Allocator:
    """Memory of one device; this base class is host memory, where tensors are numpy arrays.

    A device with memory of its own overrides :meth:`allocate`, :meth:`copyin` and
    :meth:`copyout`, and :meth:`transfer` where it can copy from another device's
    tensors without passing through the host. The methods may be called from any
    thread, for different tensors at once.
    """

    #: Name of the memory, e.g. "HOST", "GPU.0"; tensors of allocators with equal
    #: names are interchangeable.
    device = "HOST"

    def owns(self, value):
        """Whether ``value`` is a tensor of this memory (host: any numpy array)."""
        if isinstance(value, Tensor):
            return value.allocator.device == self.device
        return self.device == "HOST" and isinstance(value, np.ndarray)

    def allocate(self, shape, dtype):
        """A new, uninitialised tensor. The caller owns it; it is freed when no longer referenced."""
        return np.empty(shape, dtype)

    def copyin(self, dst, array):
        """Copy the host array ``array`` (of ``dst``'s shape and dtype) into ``dst``."""
        dst[...] = array

    def copyout(self, src):
        """``src`` as a host numpy array. Host memory returns ``src`` itself (no copy): the caller
        copies what it keeps."""
        return src

    def transfer(self, dst, src):
        """Copy ``src``, a tensor of another device, into ``dst`` (this device's) without the host.

        Returns False where this device cannot (the default); the core then copies
        through host memory.
        """
        return False

    def from_host(self, array):
        """The host array ``array`` as a tensor of this memory (host: the array itself)."""
        if self.device == "HOST":
            return array
        dst = self.allocate(array.shape, array.dtype)
        self.copyin(dst, array)
        return dst


#: The host memory.
HOST = Allocator()


def to_allocator(value, allocator, dtype=None):
    """``value`` (a host array or a :class:`Tensor`) as a tensor of ``allocator``'s memory.

    A tensor already there is returned as it is; otherwise either allocator's
    :meth:`~Allocator.transfer` copies it directly, else it goes through host memory.
    ``dtype`` (a numpy dtype) converts the precision on the way, through the host.
    """
    if dtype is not None and np.dtype(dtype) != value.dtype:
        host = value.numpy() if isinstance(value, Tensor) else value
        return allocator.from_host(np.asarray(host).astype(dtype))
    if allocator.owns(value):
        return value
    if isinstance(value, Tensor):
        if allocator.device != "HOST":
            dst = allocator.allocate(value.shape, value.dtype)
            if allocator.transfer(dst, value) or value.allocator.transfer(dst, value):
                return dst
        value = value.allocator.copyout(value)
    return allocator.from_host(np.asarray(value))


def to_host(value):
    """``value`` (a host array or a :class:`Tensor`) as a host numpy array."""
    return value.allocator.copyout(value) if isinstance(value, Tensor) else value
