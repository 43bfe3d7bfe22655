"""Registers the BOX test device of box_device.py: pass this directory as IEPlugin's plugin_dirs."""

from box_device import ie_core_backends  # noqa: F401
