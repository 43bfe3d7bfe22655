"""Numerics policies: how a device stores float tensors and converts floats to integers.

The reference ops compute in the precision of their inputs; a :class:`Numerics`
in the :class:`~ie_core.ops.registry.OpContext` says what the device then does
with the results. An emulated device (an FP16 VPU, an FP11 FPGA) reuses the
reference ops under its own policy instead of forking them: it subclasses
:class:`Numerics` and overrides :meth:`~Numerics.store_float`.
"""

import numpy as np


class Numerics:
    """IEEE single precision, as OpenVINO's CPU plugin computes: the default policy.

    ``name`` is the precision reported in query results and perf counts.
    """

    name = "FP32"

    def store_float(self, array):
        """``array`` (float32) as the device stores it; the default keeps it as it is.

        Called on every float tensor the device stores: network inputs as received,
        constants (weights) and each layer's outputs. Must return a new array or
        ``array`` itself, never modify it in place.
        """
        return array

    def store(self, value):
        """``value`` after :meth:`store_float` if it is a float32 array; other dtypes are stored exactly."""
        if isinstance(value, np.ndarray) and value.dtype == np.float32:
            return self.store_float(value)
        return value

    def float_to_int(self, x, dtype):
        """Float to integer conversion (Convert): truncate toward zero, wrap to the destination width.

        NaN, infinities and values outside the intermediate integer range (int32 for
        destinations up to 32 bits, int64 otherwise) become that range's minimum.
        """
        dtype = np.dtype(dtype)
        t = np.trunc(np.asarray(x, dtype=np.float64))
        wide = dtype.itemsize == 8 or dtype == np.uint32
        lo, hi = (-(2.0**63), 2.0**63) if wide else (-(2.0**31), 2.0**31)
        fill = np.iinfo(np.int64 if wide else np.int32).min
        with np.errstate(invalid="ignore"):
            bad = ~((t >= lo) & (t < hi))
        if bad.any():
            t = np.where(bad, fill, t)
        return t.astype(np.int64).astype(dtype)

    @property
    def exact(self):
        """True when :meth:`store_float` keeps every float32 value (the executor then skips it)."""
        return type(self).store_float is Numerics.store_float


#: The default policy.
F32 = Numerics()
