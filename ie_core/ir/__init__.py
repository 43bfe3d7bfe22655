"""IR readers: v10/v11 (``reader``) and the legacy v2–v7 (``legacy``), both onto the same Graph."""

from .legacy import LegacyIRReader
from .reader import IRv10Reader, read_network

__all__ = ["IRv10Reader", "LegacyIRReader", "read_network"]
