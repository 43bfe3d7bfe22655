"""Running scripts of 2019–2021 that import ``openvino.inference_engine``, unchanged, on ie_core.

Nothing is installed into the ``openvino`` namespace, which belongs to OpenVINO. Instead,
:func:`enable_openvino_inference_engine` puts a finder on ``sys.meta_path`` that answers
exactly the modules ``openvino.inference_engine`` and ``openvino.inference_engine.ie_api``
with modules holding :mod:`inference_engine`'s names (the same classes as :mod:`ie_core`).
``openvino`` itself is imported as usual, so an installed OpenVINO keeps working in the
same process; where none is installed the finder supplies an empty ``openvino`` package
so that the import can proceed.

:func:`run_script` runs a script with the finder enabled, as
``python -m ie_core.compat script.py [args]`` and ``ie run script.py [args]`` do.
"""

import importlib
import importlib.abc
import importlib.machinery
import os
import runpy
import sys

#: The modules the finder answers and the ie-core modules whose names they hold.
ALIASES = {
    "openvino.inference_engine": "inference_engine",
    "openvino.inference_engine.ie_api": "inference_engine.ie_api",
}


class _AliasLoader(importlib.abc.Loader):
    """Creates ``openvino.inference_engine[.ie_api]`` as a new module holding its ie-core module's names."""

    def exec_module(self, module):
        source = importlib.import_module(ALIASES[module.__name__])
        module.__dict__.update({k: v for k, v in vars(source).items() if not k.startswith("__")})
        module.__all__ = list(source.__all__)
        module.__doc__ = f"{source.__doc__}\n(ie-core's {source.__name__} under the name {module.__name__})"


class _EmptyPackageLoader(importlib.abc.Loader):
    """An empty ``openvino`` package, for a process in which OpenVINO is not installed."""

    def exec_module(self, module):
        module.__doc__ = "An empty stand-in for OpenVINO's package (ie_core.compat): only openvino.inference_engine"


class OpenVINOInferenceEngineFinder(importlib.abc.MetaPathFinder):
    """The ``sys.meta_path`` finder of :func:`enable_openvino_inference_engine`."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in ALIASES:
            return importlib.machinery.ModuleSpec(fullname, _AliasLoader(), is_package=fullname == "openvino.inference_engine")
        if fullname == "openvino" and importlib.machinery.PathFinder.find_spec(fullname) is None:
            return importlib.machinery.ModuleSpec(fullname, _EmptyPackageLoader(), is_package=True)
        return None


def enable_openvino_inference_engine():
    """Make ``import openvino.inference_engine`` (and ``.ie_api``) give ie_core's API in this process.

    Idempotent; returns the finder. A module of those names imported before stays as it was.
    """
    for finder in sys.meta_path:
        if isinstance(finder, OpenVINOInferenceEngineFinder):
            return finder
    finder = OpenVINOInferenceEngineFinder()
    sys.meta_path.insert(0, finder)
    return finder


def run_script(path, argv=()):
    """Run the Python script at ``path`` as ``__main__`` with ``sys.argv = [path, *argv]``, the
    ``openvino.inference_engine`` finder enabled and the script's directory first on ``sys.path``.

    A ``SystemExit`` the script raises propagates, as it would from the script itself.
    """
    path = os.fspath(path)
    enable_openvino_inference_engine()
    sys.argv = [path, *argv]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    runpy.run_path(path, run_name="__main__")


def main(argv=None):
    """``python -m ie_core.compat script.py [args]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m ie_core.compat SCRIPT.py [ARGS...]\n\n" + __doc__.strip().split("\n\n")[0])
        return 0 if argv else 2
    run_script(argv[0], argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
