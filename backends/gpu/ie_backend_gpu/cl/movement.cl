/* Data movement on raw elements (any dtype of that size): strided copies (Transpose, Broadcast,
 * Concat), copies through an index table (slicing, splitting, tiling...) and Gather. Float tensors
 * move in their storage type. */

/* dst[dst_off + sum(i_d * dst_stride_d)] = src[src_off + sum(i_d * src_stride_d)] over the
 * iteration dims; meta: dims, src strides, dst strides (``ndim`` each). */
#define COPY_ND(BYTES, T)                                                                        \
    __kernel void copy_nd_##BYTES(__global const T* src, __global T* dst, __global const int* meta, \
                                  int ndim, int count, int src_off, int dst_off) {               \
        const int i = get_global_id(0);                                                          \
        if (i >= count) return;                                                                  \
        int rest = i, s = src_off, d = dst_off;                                                  \
        for (int k = ndim - 1; k >= 0; --k) {                                                    \
            const int pos = rest % meta[k];                                                      \
            rest /= meta[k];                                                                     \
            s += pos * meta[ndim + k];                                                           \
            d += pos * meta[2 * ndim + k];                                                       \
        }                                                                                        \
        dst[d] = src[s];                                                                         \
    }
COPY_ND(1, uchar)
COPY_ND(2, ushort)
COPY_ND(4, uint)
COPY_ND(8, ulong)

/* Gather: the data viewed as [batch][outer][K][inner], the indices as [batch][nidx]; output
 * [batch][outer][nidx][inner]. Negative indices count from the end; out of range gives zeros. */
#define GATHER(BYTES, T, INAME, I)                                                               \
    __kernel void gather_##BYTES##_##INAME(__global const T* data, __global const I* indices,    \
                                           __global T* out, int outer, int K, int nidx, int inner, \
                                           int count) {                                          \
        const int o = get_global_id(0);                                                          \
        if (o >= count) return;                                                                  \
        const int in = o % inner;                                                                \
        int rest = o / inner;                                                                    \
        const int i = rest % nidx;                                                               \
        rest /= nidx;                                                                            \
        const int oi = rest % outer, b = rest / outer;                                           \
        long index = (long)indices[b * nidx + i];                                                \
        if (index < 0) index += K;                                                               \
        out[o] = (index >= 0 && index < K) ? data[((b * outer + oi) * K + (int)index) * inner + in] : (T)0; \
    }
GATHER(1, uchar, i32, int)
GATHER(2, ushort, i32, int)
GATHER(4, uint, i32, int)
GATHER(8, ulong, i32, int)
GATHER(1, uchar, i64, long)
GATHER(2, ushort, i64, long)
GATHER(4, uint, i64, long)
GATHER(8, ulong, i64, long)

/* dst[i] = src[table[i]]: the source element of every output element, computed at load time. */
#define TAKE(BYTES, T)                                                                           \
    __kernel void take_##BYTES(__global const T* src, __global const int* table, __global T* dst,   \
                               int count) {                                                      \
        const int i = get_global_id(0);                                                          \
        if (i < count) dst[i] = src[table[i]];                                                   \
    }
TAKE(1, uchar)
TAKE(2, ushort)
TAKE(4, uint)
TAKE(8, ulong)
