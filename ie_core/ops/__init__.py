"""The op set: shape inference and numpy reference semantics, one class per op type.

Importing this package registers every op; :func:`get_op` finds one by type name.
"""

from .registry import OpContext, OpDef, get_op, op, registered_ops
from . import detection, elementwise, movement, nn, reduction  # noqa: F401  (registration)

__all__ = ["OpContext", "OpDef", "get_op", "op", "registered_ops"]
