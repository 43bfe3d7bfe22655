"""CPU custom-op extensions: shared libraries with the C ABI of ``ie_core_cpu_extension.h``.

``IEPlugin("CPU").add_cpu_extension(path)`` loads such a library (see
:meth:`CPUExtensions.add`). Each op type it exports becomes an
:class:`~ie_core.ops.OpDef` whose ``infer`` calls the library's shape function
and whose ``compute`` calls its kernel; the core uses these ahead of its own op
set (``Backend.extension_ops``). The header, which documents the ABI, is
installed with the package: :func:`include_dir`.

Foreign calls go through :mod:`ctypes`, which releases the GIL while the C code
runs, so kernels of concurrent inference requests run in parallel.
"""

import ctypes
import os
import threading
from pathlib import Path

import numpy as np

from ie_core.backend import ExtensionError, InferenceError, Kernel, OpDef, to_dtype

__all__ = [
    "ABI_VERSION",
    "ENTRY_POINT",
    "HEADER",
    "CPUExtensions",
    "ExtensionError",
    "ExtensionLibrary",
    "ExtensionOpDef",
    "extension_kernel",
    "include_dir",
    "is_extension_node",
    "kernel_provider",
    "load_library",
]

#: The ABI version this module implements (IE_CORE_CPU_EXTENSION_ABI_VERSION).
ABI_VERSION = 1
#: The symbol a library exports (IE_CORE_CPU_EXTENSION_ENTRY).
ENTRY_POINT = "ie_core_cpu_extension"
#: The header's file name, in :func:`include_dir`.
HEADER = "ie_core_cpu_extension.h"

MAX_RANK = 16
MAX_OUTPUTS = 32
OK = 0
_ERROR_BUFFER = 4096

# Layer types the core handles itself; an extension may not take them over.
_RESERVED_TYPES = ("Parameter", "Const", "Result")

# IECoreElementType -> numpy dtype (OpenVINO's element type names).
_ELEMENT_TYPES = {
    code: (name, to_dtype(name))
    for code, name in enumerate(
        ("boolean", "f16", "f32", "f64", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64"), start=1
    )
}
_CODE_OF_DTYPE = {dtype: code for code, (_, dtype) in _ELEMENT_TYPES.items()}


# ---- the structs of ie_core_cpu_extension.h ---------------------------------


class IECoreTensor(ctypes.Structure):
    _fields_ = [
        ("element_type", ctypes.c_int32),
        ("rank", ctypes.c_int32),
        ("dims", ctypes.c_int64 * MAX_RANK),
        ("data", ctypes.c_void_p),
    ]


class IECoreAttr(ctypes.Structure):
    _fields_ = [("key", ctypes.c_char_p), ("value", ctypes.c_char_p)]


class IECoreOpContext(ctypes.Structure):
    _fields_ = [
        ("layer_name", ctypes.c_char_p),
        ("op_type", ctypes.c_char_p),
        ("attrs", ctypes.POINTER(IECoreAttr)),
        ("num_attrs", ctypes.c_int32),
        ("user_data", ctypes.c_void_p),
        ("error", ctypes.c_void_p),
        ("error_size", ctypes.c_size_t),
    ]


IECoreShapeFn = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.POINTER(IECoreOpContext),
    ctypes.POINTER(IECoreTensor),
    ctypes.c_int32,
    ctypes.POINTER(IECoreTensor),
    ctypes.POINTER(ctypes.c_int32),
)
IECoreKernelFn = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.POINTER(IECoreOpContext),
    ctypes.POINTER(IECoreTensor),
    ctypes.c_int32,
    ctypes.POINTER(IECoreTensor),
    ctypes.c_int32,
)


class IECoreOpDesc(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_char_p),
        ("shape", IECoreShapeFn),
        ("kernel", IECoreKernelFn),
        ("user_data", ctypes.c_void_p),
    ]


class IECoreExtension(ctypes.Structure):
    _fields_ = [
        ("abi_version", ctypes.c_int32),
        ("name", ctypes.c_char_p),
        ("version", ctypes.c_char_p),
        ("num_ops", ctypes.c_int32),
        ("ops", ctypes.POINTER(IECoreOpDesc)),
    ]


# ---- the header ------------------------------------------------------------


def include_dir():
    """The directory holding ``ie_core_cpu_extension.h``, to compile extensions with ``-I``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "include", here.parent / "include"):  # installed wheel, source tree
        if (candidate / HEADER).is_file():
            return str(candidate)
    raise FileNotFoundError(f"{HEADER} is not installed next to {here}")


# ---- loading ---------------------------------------------------------------

_LIBRARIES = {}
_LIBRARIES_LOCK = threading.Lock()


class ExtensionLibrary:
    """A loaded extension library: its path, name, version and op type -> :class:`ExtensionOpDef`."""

    def __init__(self, path, handle, table):
        self.path = path
        self.handle = handle  # keeps the library (and the table it points into) loaded
        self.name = _text(table.name) or os.path.basename(path)
        self.version = _text(table.version) or ""
        self.ops = {}
        for i in range(table.num_ops):
            desc = table.ops[i]
            type_name = _text(desc.type)
            where = f"CPU extension '{path}': op #{i}"
            if not type_name:
                raise ExtensionError(f"{where} has no type name")
            if type_name in _RESERVED_TYPES:
                raise ExtensionError(f"{where}: type '{type_name}' is reserved")
            if type_name in self.ops:
                raise ExtensionError(f"{where}: type '{type_name}' is listed twice")
            if not desc.shape or not desc.kernel:
                missing = "shape function" if not desc.shape else "kernel"
                raise ExtensionError(f"{where} ('{type_name}') has no {missing}")
            self.ops[type_name] = ExtensionOpDef(type_name, self, desc.shape, desc.kernel, desc.user_data)

    def __repr__(self):
        return f"<ExtensionLibrary {self.name!r} {self.path!r}: {', '.join(self.ops)}>"


def load_library(path):
    """Load the extension library at ``path`` (once per file per process); an :class:`ExtensionLibrary`.

    Raises :class:`ExtensionError` when the file does not exist, the dynamic
    loader rejects it, it lacks the entry point, or its ABI version differs.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ExtensionError(f"add_cpu_extension needs a path (str), got {type(path).__name__}")
    path = os.fspath(path)
    if not os.path.isfile(path):
        what = "is a directory" if os.path.isdir(path) else "does not exist"
        raise ExtensionError(f"cannot load CPU extension '{path}': the file {what}")
    real = os.path.realpath(path)
    with _LIBRARIES_LOCK:
        library = _LIBRARIES.get(real)
        if library is None:
            library = _LIBRARIES[real] = _load(path)
    return library


def _load(path):
    mode = getattr(os, "RTLD_NOW", 0) | getattr(os, "RTLD_LOCAL", 0)
    try:
        handle = ctypes.CDLL(os.path.abspath(path), mode=mode)
    except OSError as exc:
        raise ExtensionError(f"cannot load CPU extension '{path}': {exc}") from None
    try:
        entry = getattr(handle, ENTRY_POINT)
    except AttributeError:
        raise ExtensionError(
            f"'{path}' is not an ie-core CPU extension: it does not export the symbol '{ENTRY_POINT}' "
            f"(see {HEADER}; libraries for the original Inference Engine's C++ IExtension "
            "interface are not supported)"
        ) from None
    entry.restype = ctypes.c_void_p
    entry.argtypes = [ctypes.c_int32]
    address = entry(ABI_VERSION)
    if not address:
        raise ExtensionError(
            f"CPU extension '{path}' refused ABI version {ABI_VERSION} ({ENTRY_POINT} returned NULL); "
            "rebuild it against the ie_core_cpu_extension.h of this ie-backend-cpu"
        )
    abi = ctypes.c_int32.from_address(address).value  # the first field in every ABI version
    if abi != ABI_VERSION:
        raise ExtensionError(
            f"CPU extension '{path}' was built for ABI version {abi}; this ie-backend-cpu implements "
            f"version {ABI_VERSION}: rebuild it against ie_backend_cpu.include_dir()/{HEADER}"
        )
    table = IECoreExtension.from_address(address)
    if table.num_ops < 0 or (table.num_ops > 0 and not table.ops):
        raise ExtensionError(f"CPU extension '{path}': invalid op table (num_ops={table.num_ops})")
    return ExtensionLibrary(path, handle, table)


def _text(raw):
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ExtensionError(f"an extension string is not UTF-8: {raw!r}") from None


class CPUExtensions:
    """The extensions one CPU device instance has loaded (``IEPlugin.add_cpu_extension``)."""

    def __init__(self):
        self._libraries = []
        self._ops = {}
        self._lock = threading.Lock()

    def add(self, path):
        """Load the library at ``path`` and add its ops; adding the same file again does nothing.

        Raises :class:`ExtensionError` when it cannot be loaded or it provides a
        type that another loaded extension already provides.
        """
        library = load_library(path)
        with self._lock:
            if any(lib is library for lib in self._libraries):
                return library
            for type_name in library.ops:
                other = self._ops.get(type_name)
                if other is not None:
                    raise ExtensionError(
                        f"CPU extension '{library.path}' provides op type '{type_name}', which the "
                        f"extension '{other.library.path}' already provides"
                    )
            self._libraries.append(library)
            self._ops.update(library.ops)
        return library

    def ops(self):
        """Op type -> :class:`ExtensionOpDef` of every loaded extension."""
        with self._lock:
            return dict(self._ops)

    @property
    def libraries(self):
        return list(self._libraries)


# ---- ops -------------------------------------------------------------------


class ExtensionOpDef(OpDef):
    """An op implemented by an extension library (``library``): infer/compute call its C functions."""

    def __init__(self, type_name, library, shape_fn, kernel_fn, user_data):
        super().__init__(type_name, (1,), _make_impl(type_name, shape_fn, kernel_fn, user_data))
        self.library = library


def _make_impl(type_name, shape_fn, kernel_fn, user_data):
    def infer(ctx):
        inputs, keep = _input_tensors(ctx, ctx.input_shapes, ctx.input_dtypes, ctx.input_values, ctx.error)
        return _call_shape(ctx, shape_fn, user_data, inputs, keep, ctx.error)

    def compute(ctx, *values):
        arrays = [np.asarray(v, order="C") for v in values]
        arrays = [a if a.dtype.isnative else a.astype(a.dtype.newbyteorder("=")) for a in arrays]

        def fail(message):
            return InferenceError(f"layer '{ctx.name}' ({ctx.type}): {message}")

        key = tuple((a.shape, a.dtype.str) for a in arrays)
        specs = ctx.cache.get(("extension_specs", key))
        if specs is None:
            constants = [ctx.input_values[i] if i < len(ctx.input_values) else None for i in range(len(arrays))]
            inputs, keep = _input_tensors(ctx, [a.shape for a in arrays], [a.dtype for a in arrays], constants, fail)
            specs = _call_shape(ctx, shape_fn, user_data, inputs, keep, fail)
            ctx.cache[("extension_specs", key)] = specs
        inputs, keep = _input_tensors(ctx, [a.shape for a in arrays], [a.dtype for a in arrays], arrays, fail)
        outs = [np.empty(shape, dtype) for shape, dtype in specs]
        out_tensors = (IECoreTensor * len(outs))()
        for t, out in zip(out_tensors, outs):
            _fill(t, out.shape, out.dtype, out)
        call, error = _op_context(ctx, user_data)
        status = kernel_fn(ctypes.byref(call), inputs, len(arrays), out_tensors, len(outs))
        del keep
        if status != OK:
            raise fail(_message(error, status, "kernel"))
        return outs[0] if len(outs) == 1 else outs

    impl = type(f"Extension_{type_name}", (), {"infer": staticmethod(infer), "compute": staticmethod(compute)})
    return impl


def _fill(tensor, shape, dtype, data):
    tensor.element_type = _CODE_OF_DTYPE[dtype]
    tensor.rank = len(shape)
    for i, d in enumerate(shape):
        tensor.dims[i] = int(d)
    tensor.data = data.ctypes.data if data is not None else None


def _input_tensors(ctx, shapes, dtypes, values, fail):
    """An IECoreTensor array for the inputs, and the arrays it points into (to keep alive)."""
    tensors = (IECoreTensor * max(1, len(shapes)))()
    keep = []
    for i, (shape, dtype) in enumerate(zip(shapes, dtypes)):
        dtype = np.dtype(dtype)
        if dtype not in _CODE_OF_DTYPE:
            raise fail(f"input {i} has element type {dtype}, which the extension ABI does not carry")
        if len(shape) > MAX_RANK:
            raise fail(f"input {i} has rank {len(shape)}; extensions take at most {MAX_RANK} dimensions")
        value = values[i] if i < len(values) else None
        if value is not None:
            value = np.asarray(value, dtype=dtype, order="C")
            keep.append(value)
        _fill(tensors[i], shape, dtype, value)
    return tensors, keep


def _op_context(ctx, user_data):
    """A fresh IECoreOpContext (with its own error buffer) for one call; the attribute array is cached."""
    cached = ctx.cache.get("extension_attrs")
    if cached is None:
        names = (ctx.name.encode("utf-8"), ctx.type.encode("utf-8"))
        items = [(str(k).encode("utf-8"), str(v).encode("utf-8")) for k, v in ctx.attrs.raw.items()]
        attrs = (IECoreAttr * max(1, len(items)))(*[IECoreAttr(k, v) for k, v in items])
        cached = ctx.cache["extension_attrs"] = (names, attrs, len(items))
    (layer, op_type), attrs, count = cached
    error = ctypes.create_string_buffer(_ERROR_BUFFER)
    call = IECoreOpContext(layer, op_type, attrs, count, user_data, ctypes.addressof(error), _ERROR_BUFFER)
    return call, error


def _call_shape(ctx, shape_fn, user_data, inputs, keep, fail):
    outputs = (IECoreTensor * MAX_OUTPUTS)()
    count = ctypes.c_int32(1)
    call, error = _op_context(ctx, user_data)
    status = shape_fn(ctypes.byref(call), inputs, len(ctx.input_shapes), outputs, ctypes.byref(count))
    del keep
    if status != OK:
        raise fail(_message(error, status, "shape function"))
    n = count.value
    if not 1 <= n <= MAX_OUTPUTS:
        raise fail(f"the extension's shape function reported {n} outputs (1..{MAX_OUTPUTS} allowed)")
    specs = []
    for i in range(n):
        t = outputs[i]
        entry = _ELEMENT_TYPES.get(t.element_type)
        if entry is None:
            raise fail(f"the extension's shape function gave output {i} an invalid element type {t.element_type}")
        if not 0 <= t.rank <= MAX_RANK:
            raise fail(f"the extension's shape function gave output {i} an invalid rank {t.rank}")
        shape = tuple(int(t.dims[j]) for j in range(t.rank))
        if any(d < 0 for d in shape):
            raise fail(f"the extension's shape function gave output {i} a negative dimension: {shape}")
        specs.append((shape, entry[1]))
    return specs


def _message(error, status, what):
    text = error.value.decode("utf-8", errors="replace").strip()
    return text or f"the extension's {what} failed (status {status}) without a message"


def extension_kernel(node):
    """A :class:`~ie_core.execution.Kernel` running an extension op's kernel (exec_type ``"extension"``)."""
    ctx = node.context()
    compute = node.op.impl.compute
    return Kernel(lambda *xs: compute(ctx, *xs), "extension")


def is_extension_node(node):
    """True when ``node`` runs an extension op (it must not be planned native or fused)."""
    return isinstance(node.op, ExtensionOpDef)


def kernel_provider(node, threads=0):
    """A kernel provider for ``kernels.KERNEL_PROVIDERS``: the extension kernel of an extension node, else None."""
    return extension_kernel(node) if is_extension_node(node) else None
