/* Element-wise kernels: activations, binary arithmetic with numpy broadcasting, conversions.
 *
 * Broadcasting kernels get a ``meta`` array: the output dims (collapsed, outermost first) and
 * each input's element strides over them (0 along broadcast dims).
 */

__kernel void unary(__global const DATA_T* x, __global DATA_T* y, int count, int act, float alpha, float beta) {
    const int i = get_global_id(0);
    if (i < count) STORE(y, i, activate(LOAD(x, i), act, alpha, beta));
}

/* numpy's maximum/minimum propagate NaN */
inline float maxf(float a, float b) { return (isnan(a) || a > b) ? a : b; }
inline float minf(float a, float b) { return (isnan(a) || a < b) ? a : b; }

#define BINARY(NAME, EXPR)                                                                       \
    __kernel void binary_##NAME(__global const DATA_T* a, __global const DATA_T* b,               \
                                __global DATA_T* out, __global const int* meta, int ndim, int count) { \
        const int i = get_global_id(0);                                                          \
        if (i >= count) return;                                                                  \
        int rest = i, ia = 0, ib = 0;                                                            \
        for (int d = ndim - 1; d >= 0; --d) {                                                    \
            const int dim = meta[d], pos = rest % dim;                                           \
            rest /= dim;                                                                         \
            ia += pos * meta[ndim + d];                                                          \
            ib += pos * meta[2 * ndim + d];                                                      \
        }                                                                                        \
        const float x = LOAD(a, ia), y = LOAD(b, ib);                                            \
        STORE(out, i, (EXPR));                                                                   \
    }                                                                                            \
    __kernel void binary_##NAME##_flat(__global const DATA_T* a, __global const DATA_T* b,        \
                                       __global DATA_T* out, int count) {                        \
        const int i = get_global_id(0);                                                          \
        if (i >= count) return;                                                                  \
        const float x = LOAD(a, i), y = LOAD(b, i);                                              \
        STORE(out, i, (EXPR));                                                                   \
    }

BINARY(add, x + y)
BINARY(subtract, x - y)
BINARY(multiply, x * y)
BINARY(divide, x / y)
BINARY(maximum, maxf(x, y))
BINARY(minimum, minf(x, y))
BINARY(power, pow(x, y))
BINARY(squared_difference, (x - y) * (x - y))

/* Convert: integers to float storage, float storage to integers (truncated toward zero; NaN,
 * infinities and values outside the intermediate range, int32 up to 32-bit destinations and
 * int64 for 64-bit ones, become that range's minimum, then wrap to the destination), booleans. */
#define TO_FLOAT(NAME, SRC)                                                                      \
    __kernel void convert_##NAME##_to_float(__global const SRC* x, __global DATA_T* y, int count) { \
        const int i = get_global_id(0);                                                          \
        if (i < count) STORE(y, i, (float)x[i]);                                                 \
    }
TO_FLOAT(i64, long)
TO_FLOAT(i32, int)
TO_FLOAT(u8, uchar)
TO_FLOAT(i8, char)

#define FROM_FLOAT(NAME, DST, WIDE, LO, HI, FILL)                                                \
    __kernel void convert_float_to_##NAME(__global const DATA_T* x, __global DST* y, int count) { \
        const int i = get_global_id(0);                                                          \
        if (i >= count) return;                                                                  \
        const float t = trunc(LOAD(x, i));                                                       \
        y[i] = (DST)((t >= LO && t < HI) ? (WIDE)t : FILL);                                      \
    }
FROM_FLOAT(i64, long, long, -9223372036854775808.0f, 9223372036854775808.0f, LONG_MIN)
FROM_FLOAT(i32, int, int, -2147483648.0f, 2147483648.0f, INT_MIN)
FROM_FLOAT(u8, uchar, int, -2147483648.0f, 2147483648.0f, INT_MIN)
FROM_FLOAT(i8, char, int, -2147483648.0f, 2147483648.0f, INT_MIN)

__kernel void convert_float_to_bool(__global const DATA_T* x, __global uchar* y, int count) {
    const int i = get_global_id(0);
    if (i >= count) return;
    const float v = LOAD(x, i);
    y[i] = (v != 0.0f && !isnan(v)) ? 1 : 0;
}

#define INT_TO_INT(NAME, SRC, DST)                                                               \
    __kernel void convert_##NAME(__global const SRC* x, __global DST* y, int count) {            \
        const int i = get_global_id(0);                                                          \
        if (i < count) y[i] = (DST)x[i];                                                         \
    }
INT_TO_INT(i64_to_i32, long, int)
INT_TO_INT(i32_to_i64, int, long)
INT_TO_INT(u8_to_i32, uchar, int)
INT_TO_INT(u8_to_i64, uchar, long)

#define INT_TO_BOOL(NAME, SRC)                                                                   \
    __kernel void convert_##NAME##_to_bool(__global const SRC* x, __global uchar* y, int count) { \
        const int i = get_global_id(0);                                                          \
        if (i < count) y[i] = x[i] != 0 ? 1 : 0;                                                 \
    }
INT_TO_BOOL(i64, long)
INT_TO_BOOL(i32, int)
INT_TO_BOOL(u8, uchar)

/* float storage to float32 and back (the network's inputs and outputs under STORE_HALF) */
__kernel void store_from_f32(__global const float* x, __global DATA_T* y, int count) {
    const int i = get_global_id(0);
    if (i < count) STORE(y, i, x[i]);
}

__kernel void store_to_f32(__global const DATA_T* x, __global float* y, int count) {
    const int i = get_global_id(0);
    if (i < count) y[i] = LOAD(x, i);
}
