/* Element-wise kernels: activations, binary arithmetic and comparisons with numpy broadcasting,
 * Select, conversions.
 *
 * Broadcasting kernels get a ``meta`` array: the output dims (collapsed, outermost first) and
 * each input's element strides over them (0 along broadcast dims).
 */

__kernel void unary(__global const DATA_T* x, __global DATA_T* y, int count, int act, float alpha, float beta) {
    const int i = get_global_id(0);
    if (i < count) STORE(y, i, activate(LOAD(x, i), act, alpha, beta));
}


/* the input offsets of output element ``i``: meta = dims, then ``inputs`` stride lists */
inline void broadcast_offsets(__global const int* meta, int ndim, int inputs, int i, int* offsets) {
    for (int j = 0; j < inputs; ++j) offsets[j] = 0;
    int rest = i;
    for (int d = ndim - 1; d >= 0; --d) {
        const int pos = rest % meta[d];
        rest /= meta[d];
        for (int j = 0; j < inputs; ++j) offsets[j] += pos * meta[(j + 1) * ndim + d];
    }
}

#define BINARY(NAME, EXPR)                                                                       \
    __kernel void binary_##NAME(__global const DATA_T* a, __global const DATA_T* b,               \
                                __global DATA_T* out, __global const int* meta, int ndim, int count) { \
        const int i = get_global_id(0);                                                          \
        if (i >= count) return;                                                                  \
        int o[2];                                                                                \
        broadcast_offsets(meta, ndim, 2, i, o);                                                  \
        const float x = LOAD(a, o[0]), y = LOAD(b, o[1]);                                        \
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
BINARY(maximum, fmax(x, y))
BINARY(minimum, fmin(x, y))
BINARY(power, pow(x, y))
BINARY(squared_difference, (x - y) * (x - y))

/* comparisons of float tensors, a boolean (uchar) result */
#define COMPARE(NAME, EXPR)                                                                      \
    __kernel void compare_##NAME(__global const DATA_T* a, __global const DATA_T* b,              \
                                 __global uchar* out, __global const int* meta, int ndim, int count) { \
        const int i = get_global_id(0);                                                          \
        if (i >= count) return;                                                                  \
        int o[2];                                                                                \
        broadcast_offsets(meta, ndim, 2, i, o);                                                  \
        const float x = LOAD(a, o[0]), y = LOAD(b, o[1]);                                        \
        out[i] = (EXPR) ? 1 : 0;                                                                 \
    }
COMPARE(equal, x == y)
COMPARE(not_equal, x != y)
COMPARE(less, x < y)
COMPARE(less_equal, x <= y)
COMPARE(greater, x > y)
COMPARE(greater_equal, x >= y)

__kernel void select_where(__global const uchar* cond, __global const DATA_T* a, __global const DATA_T* b,
                     __global DATA_T* out, __global const int* meta, int ndim, int count) {
    const int i = get_global_id(0);
    if (i >= count) return;
    int o[3];
    broadcast_offsets(meta, ndim, 3, i, o);
    STORE(out, i, cond[o[0]] ? LOAD(a, o[1]) : LOAD(b, o[2]));
}

/* integer arithmetic, wrapping on overflow as numpy does (computed unsigned) */
#define INT_BINARY(NAME, T, U, EXPR)                                                             \
    __kernel void binary_##NAME(__global const T* a, __global const T* b, __global T* out,      \
                                __global const int* meta, int ndim, int count) {                 \
        const int i = get_global_id(0);                                                          \
        if (i >= count) return;                                                                  \
        int o[2];                                                                                \
        broadcast_offsets(meta, ndim, 2, i, o);                                                  \
        const T x = a[o[0]], y = b[o[1]];                                                        \
        out[i] = (EXPR);                                                                         \
    }
#define INT_OPS(TN, T, U)                                                                        \
    INT_BINARY(add_##TN, T, U, (T)((U)x + (U)y))                                                 \
    INT_BINARY(subtract_##TN, T, U, (T)((U)x - (U)y))                                            \
    INT_BINARY(multiply_##TN, T, U, (T)((U)x * (U)y))                                            \
    INT_BINARY(maximum_##TN, T, U, x > y ? x : y)                                                \
    INT_BINARY(minimum_##TN, T, U, x < y ? x : y)
INT_OPS(i32, int, uint)
INT_OPS(i64, long, ulong)

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
