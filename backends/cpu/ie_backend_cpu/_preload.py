"""Prepare the native libraries before the extension loads: GNU OpenMP's spinning, then oneDNN.

The extension's RUNPATH (``$ORIGIN/../../..``) finds ``libdnnl.so.3`` when both
distributions are installed into the same prefix (``<prefix>/lib``). For other
layouts (``--user`` installs, ``--target`` directories, ...) :func:`preload` loads
the library by the path that onednn-cpu-gomp's installed file list records, so
the dynamic linker resolves the extension's dependency to the loaded copy.

GNU OpenMP reads its wait policy once, when ``libgomp.so.1`` loads: idle team
threads spin ``GOMP_SPINCOUNT`` times (300000 by default, milliseconds of a core)
before they sleep. :func:`bound_spinning` loads it with :data:`GOMP_SPINCOUNT`
instead, unless the user chose a policy (``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY``
in the environment) or the library is already loaded; see the README's "Sharing the
machine".
"""

import ctypes
import importlib.metadata
import os

_SONAME = "libdnnl.so.3"
_GOMP = "libgomp.so.1"

#: the spin count the backend gives GNU OpenMP: tens of microseconds of spinning, then sleep
GOMP_SPINCOUNT = "1000"


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


def bound_spinning():
    """Load GNU OpenMP with ``GOMP_SPINCOUNT`` = :data:`GOMP_SPINCOUNT`, unless the user set
    ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY``; returns the spin policy in effect as text.

    The variable is set only while the library loads (it reads its environment then), so
    child processes inherit the user's environment unchanged.
    """
    for key in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY"):
        if key in os.environ:
            return f"{key}={os.environ[key]} (set by the user)"
    try:
        ctypes.CDLL(_GOMP, mode=os.RTLD_NOLOAD)
        return "GNU OpenMP's default (it was loaded before ie_backend_cpu)"
    except OSError:
        pass
    os.environ["GOMP_SPINCOUNT"] = GOMP_SPINCOUNT
    try:
        ctypes.CDLL(_GOMP, mode=ctypes.RTLD_GLOBAL)
    except OSError:
        return "GNU OpenMP's default (libgomp.so.1 was not found by name)"
    finally:
        del os.environ["GOMP_SPINCOUNT"]
    return f"GOMP_SPINCOUNT={GOMP_SPINCOUNT} (the backend's default)"
