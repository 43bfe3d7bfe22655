"""Registers the BOX test device of box_device.py: pass this directory as IEPlugin's plugin_dirs."""

from box_device import BoxBackend
from ie_core.backend import hookimpl


@hookimpl
def ie_core_backends():
    return [BoxBackend]
