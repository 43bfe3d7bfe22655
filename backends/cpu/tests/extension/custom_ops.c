/*
 * An example ie-core CPU extension (see backends/cpu/include/ie_core_cpu_extension.h).
 *
 * Build:
 *     cc -shared -fPIC -O2 -I "$(python -c 'import ie_backend_cpu; print(ie_backend_cpu.include_dir())')" \
 *        custom_ops.c -o libcustom_ops.so
 * Use:
 *     plugin = IEPlugin("CPU"); plugin.add_cpu_extension("./libcustom_ops.so")
 *
 * Ops:
 *   CustomScaleShift   y = x * scale + shift (f32/f64); attributes `scale` (required), `shift` (default 0).
 *   CustomPairConcat   two inputs of one element type and equal dims but the last: concatenated on the
 *                      last axis (any element type).
 *   CustomAssertFinite y = x (f32); the kernel fails when x holds a NaN or an infinity. Attribute
 *                      `delay_us` (default 0): sleep that long first (for tests of concurrent requests).
 *
 * Everything is reentrant: no global mutable state (kernels may run concurrently).
 */
#define _POSIX_C_SOURCE 200809L
#include <ie_core_cpu_extension.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Parse a float attribute; `fallback` when absent (and `required` is 0). */
static int float_attr(const IECoreOpContext *ctx, const char *key, int required, double fallback, double *out) {
    const char *text = ie_core_attr(ctx, key);
    char *end;
    if (text == NULL) {
        if (required)
            return ie_core_error(ctx, "required attribute '%s' is missing", key);
        *out = fallback;
        return IE_CORE_OK;
    }
    errno = 0;
    *out = strtod(text, &end);
    while (*end == ' ')
        ++end;
    if (end == text || *end != '\0' || errno == ERANGE)
        return ie_core_error(ctx, "attribute %s='%s' is not a number", key, text);
    return IE_CORE_OK;
}

static void copy_desc(IECoreTensor *out, const IECoreTensor *in) {
    int32_t i;
    out->element_type = in->element_type;
    out->rank = in->rank;
    for (i = 0; i < in->rank; ++i)
        out->dims[i] = in->dims[i];
}

/* ---- CustomScaleShift ---------------------------------------------------- */

static int scale_shift_shape(const IECoreOpContext *ctx, const IECoreTensor *inputs, int32_t num_inputs,
                             IECoreTensor *outputs, int32_t *num_outputs) {
    double scale, shift;
    (void)num_outputs; /* one output: the default */
    if (num_inputs != 1)
        return ie_core_error(ctx, "expects 1 input, got %d", (int)num_inputs);
    if (inputs[0].element_type != IE_CORE_F32 && inputs[0].element_type != IE_CORE_F64)
        return ie_core_error(ctx, "supports f32 and f64 inputs only (element type %d)", (int)inputs[0].element_type);
    if (float_attr(ctx, "scale", 1, 1.0, &scale) != IE_CORE_OK || float_attr(ctx, "shift", 0, 0.0, &shift) != IE_CORE_OK)
        return IE_CORE_ERROR;
    copy_desc(&outputs[0], &inputs[0]);
    return IE_CORE_OK;
}

static int scale_shift_kernel(const IECoreOpContext *ctx, const IECoreTensor *inputs, int32_t num_inputs,
                              const IECoreTensor *outputs, int32_t num_outputs) {
    double scale, shift;
    int64_t i, n = ie_core_num_elements(&inputs[0]);
    (void)num_inputs;
    (void)num_outputs;
    if (float_attr(ctx, "scale", 1, 1.0, &scale) != IE_CORE_OK || float_attr(ctx, "shift", 0, 0.0, &shift) != IE_CORE_OK)
        return IE_CORE_ERROR;
    if (inputs[0].element_type == IE_CORE_F32) {
        const float *x = (const float *)inputs[0].data;
        float *y = (float *)outputs[0].data;
        const float s = (float)scale, b = (float)shift;
        for (i = 0; i < n; ++i)
            y[i] = x[i] * s + b;
    } else {
        const double *x = (const double *)inputs[0].data;
        double *y = (double *)outputs[0].data;
        for (i = 0; i < n; ++i)
            y[i] = x[i] * scale + shift;
    }
    return IE_CORE_OK;
}

/* ---- CustomPairConcat ---------------------------------------------------- */

static int pair_concat_shape(const IECoreOpContext *ctx, const IECoreTensor *inputs, int32_t num_inputs,
                             IECoreTensor *outputs, int32_t *num_outputs) {
    const IECoreTensor *a = &inputs[0], *b = &inputs[1];
    int32_t i;
    (void)num_outputs;
    if (num_inputs != 2)
        return ie_core_error(ctx, "expects 2 inputs, got %d", (int)num_inputs);
    if (a->element_type != b->element_type)
        return ie_core_error(ctx, "inputs have different element types (%d, %d)", (int)a->element_type,
                             (int)b->element_type);
    if (a->rank < 1 || a->rank != b->rank)
        return ie_core_error(ctx, "inputs must have the same rank >= 1 (got %d and %d)", (int)a->rank, (int)b->rank);
    for (i = 0; i + 1 < a->rank; ++i)
        if (a->dims[i] != b->dims[i])
            return ie_core_error(ctx, "inputs differ in dimension %d (%lld vs %lld); only the last may differ",
                                 (int)i, (long long)a->dims[i], (long long)b->dims[i]);
    copy_desc(&outputs[0], a);
    outputs[0].dims[a->rank - 1] = a->dims[a->rank - 1] + b->dims[a->rank - 1];
    return IE_CORE_OK;
}

static int pair_concat_kernel(const IECoreOpContext *ctx, const IECoreTensor *inputs, int32_t num_inputs,
                              const IECoreTensor *outputs, int32_t num_outputs) {
    const IECoreTensor *a = &inputs[0], *b = &inputs[1];
    size_t size = ie_core_element_size(a->element_type);
    int32_t last = outputs[0].rank - 1;
    size_t row_a = (size_t)a->dims[last] * size, row_b = (size_t)b->dims[last] * size;
    int64_t r, rows = 1;
    const char *pa = (const char *)a->data, *pb = (const char *)b->data;
    char *out = (char *)outputs[0].data;
    (void)ctx;
    (void)num_inputs;
    (void)num_outputs;
    for (r = 0; r < last; ++r)
        rows *= outputs[0].dims[r];
    for (r = 0; r < rows; ++r) {
        memcpy(out, pa + r * row_a, row_a);
        memcpy(out + row_a, pb + r * row_b, row_b);
        out += row_a + row_b;
    }
    return IE_CORE_OK;
}

/* ---- CustomAssertFinite -------------------------------------------------- */

static int assert_finite_shape(const IECoreOpContext *ctx, const IECoreTensor *inputs, int32_t num_inputs,
                               IECoreTensor *outputs, int32_t *num_outputs) {
    double delay;
    (void)num_outputs;
    if (num_inputs != 1 || inputs[0].element_type != IE_CORE_F32)
        return ie_core_error(ctx, "expects one f32 input");
    if (float_attr(ctx, "delay_us", 0, 0.0, &delay) != IE_CORE_OK)
        return IE_CORE_ERROR;
    copy_desc(&outputs[0], &inputs[0]);
    return IE_CORE_OK;
}

static int assert_finite_kernel(const IECoreOpContext *ctx, const IECoreTensor *inputs, int32_t num_inputs,
                                const IECoreTensor *outputs, int32_t num_outputs) {
    const float *x = (const float *)inputs[0].data;
    float *y = (float *)outputs[0].data;
    int64_t i, n = ie_core_num_elements(&inputs[0]);
    double delay;
    (void)num_inputs;
    (void)num_outputs;
    if (float_attr(ctx, "delay_us", 0, 0.0, &delay) != IE_CORE_OK)
        return IE_CORE_ERROR;
    if (delay > 0) {
        struct timespec ts;
        ts.tv_sec = (time_t)(delay / 1e6);
        ts.tv_nsec = (long)((delay - (double)ts.tv_sec * 1e6) * 1e3);
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
    for (i = 0; i < n; ++i) {
        if (!isfinite(x[i]))
            return ie_core_error(ctx, "non-finite value %g at element %lld of layer '%s'", (double)x[i],
                                 (long long)i, ctx->layer_name);
        y[i] = x[i];
    }
    return IE_CORE_OK;
}

/* ---- the table ----------------------------------------------------------- */

static const IECoreOpDesc OPS[] = {
    {"CustomScaleShift", scale_shift_shape, scale_shift_kernel, NULL},
    {"CustomPairConcat", pair_concat_shape, pair_concat_kernel, NULL},
    {"CustomAssertFinite", assert_finite_shape, assert_finite_kernel, NULL},
};

static const IECoreExtension EXTENSION = {
    IE_CORE_CPU_EXTENSION_ABI_VERSION, "custom_ops example", "1.0", (int32_t)(sizeof(OPS) / sizeof(OPS[0])), OPS,
};

IE_CORE_EXTENSION_EXPORT const IECoreExtension *ie_core_cpu_extension(int32_t engine_abi_version) {
    (void)engine_abi_version; /* ie-core checks EXTENSION.abi_version against its own */
    return &EXTENSION;
}
