"""The op registry: one class per operation type holds its shape inference and numpy semantics.

An op is registered with :func:`op`::

    @op("Relu")
    class Relu:
        @staticmethod
        def infer(ctx):
            return [(ctx.input_shapes[0], ctx.input_dtypes[0])]

        @staticmethod
        def compute(ctx, x):
            return np.maximum(x, 0)

``infer(ctx)`` returns one ``(shape tuple, numpy dtype)`` per output port and
raises ``ctx.error(...)`` for inputs the op does not accept. ``compute(ctx,
*inputs)`` returns one array, or a list/tuple with one array per output.
Both see the same :class:`OpContext`; ``compute`` must not modify its inputs.
An op class may also expose static methods that interpret its attributes
(``plan(ctx)``, ``axes(ctx)``, ``order(ctx)``, ...): native backends call them
through ``get_op(type).impl`` so that an op's semantics stay in one place.
"""

import numpy as np

from ..errors import ShapeInferenceError
from ..numerics import F32

_OPS = {}


class OpDef:
    """A registered operation: its type name, opset versions and implementation class."""

    def __init__(self, type_name, versions, impl):
        self.type = type_name
        self.versions = tuple(sorted(versions))
        self.impl = impl

    def version_for(self, opset):
        """The op version that ``opset`` (e.g. "opset8") selects: the newest one not newer than it."""
        number = _opset_number(opset)
        if number is None:
            return self.versions[-1]
        older = [v for v in self.versions if v <= number]
        return older[-1] if older else self.versions[0]


def _opset_number(opset):
    if opset and opset.startswith("opset") and opset[5:].isdigit():
        return int(opset[5:])
    return None


def op(type_name, versions=(1,)):
    """Class decorator registering an op implementation under ``type_name``."""

    def register(impl):
        if type_name in _OPS:
            raise ValueError(f"op {type_name} is registered twice")
        _OPS[type_name] = OpDef(type_name, versions, impl)
        return impl

    return register


def get_op(type_name):
    """The :class:`OpDef` for ``type_name`` (exact, else case-insensitive: IRs write "ReLU"), or None."""
    found = _OPS.get(type_name)
    if found is None:
        lowered = type_name.lower()
        found = next((d for name, d in _OPS.items() if name.lower() == lowered), None)
    return found


def registered_ops():
    """Names of all registered op types."""
    return sorted(_OPS)


_REQUIRED = object()


class Attrs:
    """A layer's ``<data>`` attributes (strings) with typed accessors.

    Each accessor raises ShapeInferenceError naming the layer when the attribute
    is missing and no default is given, or when its text does not parse.
    """

    def __init__(self, raw, layer=""):
        self.raw = dict(raw)
        self._layer = layer

    def __contains__(self, key):
        return key in self.raw

    def _get(self, key, default, convert):
        if key not in self.raw:
            if default is _REQUIRED:
                raise ShapeInferenceError(f"layer '{self._layer}': required attribute '{key}' is missing")
            return default
        try:
            return convert(self.raw[key].strip())
        except (ValueError, TypeError) as exc:
            raise ShapeInferenceError(
                f"layer '{self._layer}': attribute {key}={self.raw[key]!r} is not valid ({exc})"
            ) from None

    def str(self, key, default=_REQUIRED):
        return self._get(key, default, str)

    def int(self, key, default=_REQUIRED):
        return self._get(key, default, _parse_int)

    def float(self, key, default=_REQUIRED):
        return self._get(key, default, _parse_float)

    def bool(self, key, default=_REQUIRED):
        return self._get(key, default, _parse_bool)

    def ints(self, key, default=_REQUIRED):
        return self._get(key, default, lambda s: tuple(_parse_int(v) for v in _split(s)))

    def floats(self, key, default=_REQUIRED):
        return self._get(key, default, lambda s: tuple(_parse_float(v) for v in _split(s)))

    def strs(self, key, default=_REQUIRED):
        return self._get(key, default, lambda s: tuple(_split(s)))


def _parse_int(s):
    return int(s)


def _split(s):
    return [v.strip() for v in s.split(",") if v.strip() != ""]


def _parse_float(s):
    low = s.lower()
    if low in ("inf", "+inf", "infinity"):
        return float("inf")
    if low in ("-inf", "-infinity"):
        return float("-inf")
    return float(s)


def _parse_bool(s):
    low = s.lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise ValueError(f"not a boolean: {s!r}")


class OpContext:
    """What an op sees of its layer: attributes, version, input shapes/dtypes, constant input values
    and the device's :class:`~ie_core.numerics.Numerics` (how floats are stored and converted)."""

    def __init__(self, name, type_name, version, attrs, input_shapes, input_dtypes, input_values=None, numerics=F32):
        self.name = name
        self.type = type_name
        self.version = version
        self.attrs = attrs if isinstance(attrs, Attrs) else Attrs(attrs, name)
        self.input_shapes = [tuple(int(d) for d in s) for s in input_shapes]
        self.input_dtypes = [np.dtype(d) for d in input_dtypes]
        self.input_values = list(input_values) if input_values is not None else [None] * len(input_shapes)
        self.numerics = numerics
        self.cache = {}

    def error(self, message):
        """An exception to raise for a layer the op cannot handle; names the layer."""
        return ShapeInferenceError(f"layer '{self.name}' ({self.type}): {message}")

    def const_input(self, index, what="value"):
        """The constant value of input ``index``; raises if it is only known at run time."""
        if index >= len(self.input_values) or self.input_values[index] is None:
            raise self.error(f"input {index} ({what}) must be a constant known at load time")
        return self.input_values[index]

    def expect_inputs(self, *counts):
        """Raise unless the layer has one of the given numbers of inputs."""
        if len(self.input_shapes) not in counts:
            allowed = " or ".join(str(c) for c in counts)
            raise self.error(f"expects {allowed} inputs, got {len(self.input_shapes)}")
