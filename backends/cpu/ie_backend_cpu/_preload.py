"""Load oneDNN's shared library (from the onednn-cpu-gomp distribution) before the extension.

The extension's RUNPATH (``$ORIGIN/../../..``) finds ``libdnnl.so.3`` when both
distributions are installed into the same prefix (``<prefix>/lib``). For other
layouts (``--user`` installs, ``--target`` directories, ...) this module loads
the library by the path that onednn-cpu-gomp's installed file list records, so
the dynamic linker resolves the extension's dependency to the loaded copy.
"""

import ctypes
import importlib.metadata
import os

_SONAME = "libdnnl.so.3"


def dnnl_library_path():
    """The path of onednn-cpu-gomp's ``libdnnl.so.3``, or None if the distribution records none."""
    try:
        dist = importlib.metadata.distribution("onednn-cpu-gomp")
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in dist.files or ():
        if f.name == _SONAME:
            path = os.path.realpath(str(dist.locate_file(f)))
            if os.path.exists(path):
                return path
    return None


def preload():
    """Load ``libdnnl.so.3`` globally if it can be located; returns its path or None."""
    path = dnnl_library_path()
    if path is None:
        return None
    try:
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    except OSError:
        return None
    return path
