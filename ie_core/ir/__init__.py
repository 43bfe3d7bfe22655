"""IR readers."""

from .reader import IRv10Reader, read_network

__all__ = ["IRv10Reader", "read_network"]
