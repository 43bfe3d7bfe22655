"""Memory the process can hand back to the system page by page: the weights file's mapping, and arrays of
their own mapping."""

import mmap
import os

import numpy as np

from .limits import tensor_bytes


def map_weights(path):
    """The weights file at ``path`` mapped read-only: pages are read when a Const's bytes are first touched,
    and the Consts' arrays view the mapping (it lives as long as they do)."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return memoryview(b"")
        return memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))


def release_pages(value):
    """Take the pages of the weights file that the Const array ``value`` views out of the process's
    resident set: for a device that has made its own copy of the value. They stay in the page cache, and
    ``value`` reads them again where it is used later. An array that views no weights file, or less than
    a page of it (whose pages its neighbours' release takes), is left alone."""
    if value.nbytes < mmap.PAGESIZE:
        return
    owner = value
    while isinstance(owner, np.ndarray):
        owner = owner.base
    mapping = owner.obj if isinstance(owner, memoryview) else None
    if not isinstance(mapping, mmap.mmap):
        return
    extents = [(n - 1) * stride for n, stride in zip(value.shape, value.strides)]
    start = value.ctypes.data + sum(e for e in extents if e < 0) - np.frombuffer(mapping, np.uint8).ctypes.data
    end = start + sum(abs(e) for e in extents) + value.itemsize
    first = start - start % mmap.PAGESIZE
    mapping.madvise(mmap.MADV_DONTNEED, first, end - first)


def mapped_array(shape, dtype):
    """An uninitialised array in an anonymous mapping of its own, unmapped as soon as the array is freed
    (heap memory of this size could stay in the process after it is freed)."""
    nbytes = tensor_bytes(shape, dtype)
    if nbytes == 0:
        return np.empty(shape, dtype)
    flags = mmap.MAP_PRIVATE | getattr(mmap, "MAP_POPULATE", 0)  # faulted in at once: several times faster
    return np.frombuffer(mmap.mmap(-1, nbytes, flags=flags), dtype).reshape(shape)
