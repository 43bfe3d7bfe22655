/*
 * ie_core_cpu_extension.h -- the C ABI of ie-core CPU custom-op extensions.
 *
 * An extension is a shared library that IEPlugin("CPU").add_cpu_extension(path)
 * loads. It adds operation types that an IR may use (layers whose `type` ie-core
 * does not know, or whose built-in implementation it replaces): for each type a
 * SHAPE FUNCTION (input shapes/element types + attributes -> output shapes and
 * element types) and a KERNEL (input buffers -> output buffers).
 *
 * This header is the documentation of the ABI. It is plain C99 and usable from
 * C++. Find it with
 *
 *     python -c "import ie_backend_cpu; print(ie_backend_cpu.include_dir())"
 *
 * and build an extension with, e.g.
 *
 *     cc -shared -fPIC -O2 -I "$(python -c 'import ie_backend_cpu; print(ie_backend_cpu.include_dir())')" \
 *        my_ops.c -o libmy_ops.so
 *
 * ---------------------------------------------------------------------------
 * Entry point
 * ---------------------------------------------------------------------------
 * The library exports one C symbol, IE_CORE_CPU_EXTENSION_ENTRY
 * ("ie_core_cpu_extension"):
 *
 *     IE_CORE_EXTENSION_EXPORT
 *     const IECoreExtension *ie_core_cpu_extension(int32_t engine_abi_version);
 *
 * ie-core calls it once per library, with the ABI version it implements
 * (IE_CORE_CPU_EXTENSION_ABI_VERSION of the header ie-core was built with). It
 * returns a pointer to a static table (IECoreExtension) whose first field is the
 * ABI version the LIBRARY was built with, or NULL to refuse the engine's version.
 * ie-core loads the library only when both versions are equal; otherwise
 * add_cpu_extension raises an error naming both versions.
 *
 * Versioning: any change to a type, a signature or a struct layout in this
 * header increments IE_CORE_CPU_EXTENSION_ABI_VERSION. `abi_version` stays the
 * first field of IECoreExtension in every version, so a mismatch is always
 * detected. Rebuild the extension against the header of the installed
 * ie-backend-cpu after upgrading it.
 *
 * The table, the op type names and everything they point to must stay valid
 * and unchanged for as long as the library is loaded. ie-core never unloads an
 * extension library.
 *
 * ---------------------------------------------------------------------------
 * Tensors
 * ---------------------------------------------------------------------------
 * An IECoreTensor is an element type, a rank (0 <= rank <= IE_CORE_MAX_RANK),
 * `rank` dimensions (>= 0) and a data pointer. Data is dense and row-major (C
 * order): element [i0, ..., in] is at linear index ((i0 * d1 + i1) * d2 + ...).
 * Booleans are one byte each, 0 or 1. f16 is IEEE binary16. A tensor with no
 * elements may have any data pointer, NULL included.
 *
 * Element types are those of OpenVINO with the same names (IECoreElementType).
 * ie-core reads bf16, f8 and nf4 weights as f32 and the sub-byte integer types
 * (u1, u2, u4, i4) as u8/i8, so those never reach an extension.
 *
 * ---------------------------------------------------------------------------
 * Shape function (IECoreShapeFn)
 * ---------------------------------------------------------------------------
 *     int shape(const IECoreOpContext *ctx,
 *               const IECoreTensor *inputs, int32_t num_inputs,
 *               IECoreTensor *outputs, int32_t *num_outputs);
 *
 * Called when a network is loaded (shape inference), and again before a loaded
 * network first runs the layer's kernel, to size its output buffers (once per
 * layer of a loaded network and input shapes). `inputs[i]` carries the
 * element type and shape of input i; its `data` is the input's value when that
 * is a constant known at load time (e.g. a Const layer), else NULL. The
 * function writes element_type, rank and dims of outputs[0 .. n-1] and sets
 * *num_outputs = n. On entry *num_outputs is 1 and `outputs` has room for
 * IE_CORE_MAX_OUTPUTS entries (so a single-output op need not touch
 * *num_outputs). The number of outputs must equal the number of output ports
 * the layer declares in the IR.
 *
 * Return IE_CORE_OK, or IE_CORE_ERROR with a message in ctx->error (see
 * ie_core_error()). An error, or an output description ie-core cannot use
 * (bad element type, rank or dimension), fails IEPlugin.load() with
 * ie_core.errors.ShapeInferenceError naming the layer and carrying the message.
 * A shape function must not depend on anything but its arguments.
 *
 * ---------------------------------------------------------------------------
 * Kernel (IECoreKernelFn)
 * ---------------------------------------------------------------------------
 *     int kernel(const IECoreOpContext *ctx,
 *                const IECoreTensor *inputs, int32_t num_inputs,
 *                const IECoreTensor *outputs, int32_t num_outputs);
 *
 * Runs one layer. `inputs` hold the input values (read-only; never modify
 * them). `outputs` are described exactly as the shape function described them
 * for these inputs, and their data buffers are allocated by ie-core, dense,
 * uninitialised and not overlapping any input: the kernel must write every
 * element. Return IE_CORE_OK, or IE_CORE_ERROR with a message in ctx->error;
 * the inference then fails with ie_core.errors.InferenceError naming the layer
 * and carrying the message. A kernel may also be called at load time to
 * compute a layer whose inputs are all constants (constant folding).
 *
 * ---------------------------------------------------------------------------
 * Thread safety
 * ---------------------------------------------------------------------------
 * Shape functions and kernels MAY BE CALLED CONCURRENTLY from several threads:
 * for different layers, and for the same layer when several infer requests
 * run at once. They must be reentrant: keep no mutable global or static state
 * (or protect it yourself). Every call gets its own IECoreOpContext and error
 * buffer. ie-core calls them without holding Python's GIL. The entry point is
 * called once per library, from one thread.
 *
 * Kernels should not start threads of their own without bounding them: the
 * CPU device already runs several inferences at once (CPU_THROUGHPUT_STREAMS).
 *
 * ---------------------------------------------------------------------------
 * Attributes
 * ---------------------------------------------------------------------------
 * ctx->attrs holds the attributes of the layer's <data> element in the IR as
 * NUL-terminated UTF-8 key/value strings (as written in the .xml, e.g.
 * "scale" -> "0.5", "axes" -> "1,2"), in no particular order. ie_core_attr()
 * looks one up. Parse them in the C locale (e.g. strtod).
 */

#ifndef IE_CORE_CPU_EXTENSION_H
#define IE_CORE_CPU_EXTENSION_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes. */
#define IE_CORE_CPU_EXTENSION_ABI_VERSION 1

/* The name of the symbol ie-core looks up. */
#define IE_CORE_CPU_EXTENSION_ENTRY "ie_core_cpu_extension"

/* Limits. */
#define IE_CORE_MAX_RANK 16    /* dimensions of a tensor */
#define IE_CORE_MAX_OUTPUTS 32 /* outputs of one layer */

/* Return values of shape functions and kernels. */
#define IE_CORE_OK 0
#define IE_CORE_ERROR 1

/* Element types: OpenVINO's names (ov::element::Type_t), fixed values. */
typedef enum IECoreElementType {
    IE_CORE_UNDEFINED = 0,
    IE_CORE_BOOLEAN = 1, /* 1 byte, 0 or 1 */
    IE_CORE_F16 = 2,
    IE_CORE_F32 = 3,
    IE_CORE_F64 = 4,
    IE_CORE_I8 = 5,
    IE_CORE_I16 = 6,
    IE_CORE_I32 = 7,
    IE_CORE_I64 = 8,
    IE_CORE_U8 = 9,
    IE_CORE_U16 = 10,
    IE_CORE_U32 = 11,
    IE_CORE_U64 = 12
} IECoreElementType;

/* A tensor: element type, shape, and (for kernels) its dense row-major data. */
typedef struct IECoreTensor {
    int32_t element_type;            /* an IECoreElementType value */
    int32_t rank;                    /* 0 .. IE_CORE_MAX_RANK */
    int64_t dims[IE_CORE_MAX_RANK];  /* dims[0 .. rank-1]; the rest is unused */
    void *data;                      /* see "Tensors" above */
} IECoreTensor;

/* One attribute of the layer's <data> element. */
typedef struct IECoreAttr {
    const char *key;
    const char *value;
} IECoreAttr;

/* What a shape function or kernel call sees of its layer. Valid during the call only. */
typedef struct IECoreOpContext {
    const char *layer_name;   /* the layer's name in the IR */
    const char *op_type;      /* the layer's type, as registered */
    const IECoreAttr *attrs;  /* the layer's attributes */
    int32_t num_attrs;
    void *user_data;          /* IECoreOpDesc.user_data of the op */
    char *error;              /* buffer for the message of an IE_CORE_ERROR return */
    size_t error_size;        /* its size in bytes, > 0; write a NUL-terminated string */
} IECoreOpContext;

typedef int (*IECoreShapeFn)(const IECoreOpContext *ctx,
                             const IECoreTensor *inputs, int32_t num_inputs,
                             IECoreTensor *outputs, int32_t *num_outputs);

typedef int (*IECoreKernelFn)(const IECoreOpContext *ctx,
                              const IECoreTensor *inputs, int32_t num_inputs,
                              const IECoreTensor *outputs, int32_t num_outputs);

/* One custom operation type. */
typedef struct IECoreOpDesc {
    const char *type;       /* the IR layer type it implements, e.g. "CustomScaleShift" (case-sensitive) */
    IECoreShapeFn shape;    /* required */
    IECoreKernelFn kernel;  /* required */
    void *user_data;        /* passed to both as ctx->user_data */
} IECoreOpDesc;

/* What the entry point returns. */
typedef struct IECoreExtension {
    int32_t abi_version;       /* IE_CORE_CPU_EXTENSION_ABI_VERSION; always the first field */
    const char *name;          /* the extension's name, for messages (may be NULL) */
    const char *version;       /* its own version string (may be NULL) */
    int32_t num_ops;
    const IECoreOpDesc *ops;   /* num_ops entries with distinct types */
} IECoreExtension;

#if defined(_WIN32)
#define IE_CORE_EXTENSION_EXPORT __declspec(dllexport)
#else
#define IE_CORE_EXTENSION_EXPORT __attribute__((visibility("default")))
#endif

/* The entry point's prototype (define it in exactly one source file of the library). */
IE_CORE_EXTENSION_EXPORT const IECoreExtension *ie_core_cpu_extension(int32_t engine_abi_version);

/* ---- helpers (header-only, reentrant) ---------------------------------- */

/* The value of attribute `key`, or NULL when the layer has none. */
static inline const char *ie_core_attr(const IECoreOpContext *ctx, const char *key) {
    int32_t i;
    for (i = 0; i < ctx->num_attrs; ++i)
        if (strcmp(ctx->attrs[i].key, key) == 0)
            return ctx->attrs[i].value;
    return NULL;
}

/* Write a printf-style message into ctx->error; returns IE_CORE_ERROR. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static inline int ie_core_error(const IECoreOpContext *ctx, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(ctx->error, ctx->error_size, format, args);
    va_end(args);
    return IE_CORE_ERROR;
}

/* The number of elements of a tensor (1 for rank 0). */
static inline int64_t ie_core_num_elements(const IECoreTensor *t) {
    int64_t n = 1;
    int32_t i;
    for (i = 0; i < t->rank; ++i)
        n *= t->dims[i];
    return n;
}

/* The size in bytes of one element of `element_type` (0 for IE_CORE_UNDEFINED or an unknown value). */
static inline size_t ie_core_element_size(int32_t element_type) {
    switch (element_type) {
    case IE_CORE_BOOLEAN: case IE_CORE_I8: case IE_CORE_U8: return 1;
    case IE_CORE_F16: case IE_CORE_I16: case IE_CORE_U16: return 2;
    case IE_CORE_F32: case IE_CORE_I32: case IE_CORE_U32: return 4;
    case IE_CORE_F64: case IE_CORE_I64: case IE_CORE_U64: return 8;
    default: return 0;
    }
}

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* IE_CORE_CPU_EXTENSION_H */
