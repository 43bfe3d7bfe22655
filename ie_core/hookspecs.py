"""Hook specifications: how a device package plugs into ie_core.

A device package registers a module under the ``ie_core.backends`` entry-point
group; that module implements the hooks below, marked with
:data:`ie_core.backend.hookimpl`. A module found in one of ``IEPlugin``'s
``plugin_dirs`` is registered the same way.
"""

import pluggy

hookspec = pluggy.HookspecMarker("ie_core")
hookimpl = pluggy.HookimplMarker("ie_core")


@hookspec
def ie_core_backends():
    """Return the :class:`ie_core.backend.Backend` subclasses this plugin provides.

    Each class's ``device_name`` is the device string users pass to
    ``IEPlugin(device=...)`` ("CPU", "GPU", ...). Name the entry point after
    the device in lower case (``npu = "ie_backend_npu"``): it is then imported
    only when that device is first used. Two plugins providing the same device
    name are an error, reported when the devices are listed and at every lookup
    after that.
    """
