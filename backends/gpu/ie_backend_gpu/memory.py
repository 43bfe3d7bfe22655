"""Tensors in an OpenCL device's memory: their :class:`~ie_core.backend.Tensor` ``handle`` is a
``pyopencl.Buffer`` of the device's context."""

import numpy as np
import pyopencl as cl

from ie_core.backend import Allocator, InferenceError, Tensor


class GPUAllocator(Allocator):
    """Memory of one :class:`~ie_backend_gpu.device.Device` (``device`` is its name, ``"GPU.0"``).

    Copies go through a queue of the allocator's own and return when done, so a tensor copied in
    is complete before any request's queue reads it.
    """

    def __init__(self, device):
        self.device = device.name
        self.context = device.context
        self._queue = cl.CommandQueue(device.context)

    def buffer(self, nbytes):
        """A new device buffer of ``nbytes`` (at least one byte: OpenCL has no empty buffers)."""
        try:
            return cl.Buffer(self.context, cl.mem_flags.READ_WRITE, max(int(nbytes), 1))
        except cl.Error as exc:
            raise self._out_of_memory(nbytes, exc) from None

    def allocate(self, shape, dtype):
        dtype = np.dtype(dtype)
        return Tensor(shape, dtype, self, self.buffer(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize))

    def copyin(self, dst, array):
        host = np.ascontiguousarray(array, dtype=dst.dtype)
        if host.size:
            cl.enqueue_copy(self._queue, dst.handle, host, is_blocking=True)

    def copyout(self, src):
        host = np.empty(src.shape, src.dtype)
        if host.size:
            cl.enqueue_copy(self._queue, host, src.handle, is_blocking=True)
        return host

    def upload(self, array):
        """A read-only buffer holding ``array`` (a constant of the compiled networks)."""
        host = np.ascontiguousarray(array)
        if not host.size:
            return self.buffer(1)
        try:
            return cl.Buffer(self.context, cl.mem_flags.READ_ONLY | cl.mem_flags.COPY_HOST_PTR, hostbuf=host)
        except cl.Error as exc:
            raise self._out_of_memory(host.nbytes, exc) from None

    def _out_of_memory(self, nbytes, exc):
        return InferenceError(f"{self.device}: cannot allocate {int(nbytes)} bytes of device memory: {exc}")
