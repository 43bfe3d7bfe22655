/* Row-wise kernels: one work-group of RED_WG work-items per row, reducing in local memory.
 *
 * A "row" of softmax and MVN is ``length`` elements ``stride`` apart starting at
 * (outer * length) * stride + inner for row = outer * stride + inner.
 */
#define RED_WG 64

#define RED_SUM 0
#define RED_MEAN 1
#define RED_MAX 2
#define RED_MIN 3
#define RED_PROD 4
#define RED_L1 5
#define RED_L2 6

inline float combine(float a, float b, int op) {
    switch (op) {
    case RED_MAX: return fmax(a, b); /* maxNum: NaN only where every value is */
    case RED_MIN: return fmin(a, b);
    case RED_PROD: return a * b;
    default: return a + b;
    }
}

/* the value every work-item of the group gets: ``v`` combined over the group */
inline float group_reduce(float v, __local float* scratch, int op) {
    const int lid = get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = RED_WG / 2; width > 0; width >>= 1) {
        if (lid < width) scratch[lid] = combine(scratch[lid], scratch[lid + width], op);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float result = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return result;
}

/* softmax, or with ``log`` set log-softmax: x - max - log(sum(exp(x - max))) */
__kernel __attribute__((reqd_work_group_size(RED_WG, 1, 1)))
void softmax(__global const DATA_T* x, __global DATA_T* y, int length, int stride, int log_softmax) {
    __local float scratch[RED_WG];
    const int row = get_group_id(0), lid = get_local_id(0);
    const int base = (row / stride) * length * stride + row % stride;
    float m = -INFINITY;
    for (int j = lid; j < length; j += RED_WG) m = combine(m, LOAD(x, base + j * stride), RED_MAX);
    m = group_reduce(m, scratch, RED_MAX);
    float s = 0.0f;
    for (int j = lid; j < length; j += RED_WG) s += exp(LOAD(x, base + j * stride) - m);
    s = group_reduce(s, scratch, RED_SUM);
    if (log_softmax) {
        const float log_sum = log(s);
        for (int j = lid; j < length; j += RED_WG) STORE(y, base + j * stride, LOAD(x, base + j * stride) - m - log_sum);
    } else {
        for (int j = lid; j < length; j += RED_WG) STORE(y, base + j * stride, exp(LOAD(x, base + j * stride) - m) / s);
    }
}

/* MVN: (x - mean) / sqrt(var + eps) (eps_inside) or / (sqrt(var) + eps); with HAS_SCALE and
 * HAS_SHIFT (LayerNorm's affine part, along the row: stride 1) times scale[j] plus shift[j]. */
#define NORMALIZE_VARIANCE 1
#define EPS_INSIDE 2
#define HAS_SCALE 4
#define HAS_SHIFT 8

__kernel __attribute__((reqd_work_group_size(RED_WG, 1, 1)))
void mvn(__global const DATA_T* x, __global DATA_T* y, __global const DATA_T* scale, __global const DATA_T* shift,
         int length, int stride, float eps, int flags) {
    __local float scratch[RED_WG];
    const int row = get_group_id(0), lid = get_local_id(0);
    const int base = (row / stride) * length * stride + row % stride;
    float s = 0.0f;
    for (int j = lid; j < length; j += RED_WG) s += LOAD(x, base + j * stride);
    const float mean = group_reduce(s, scratch, RED_SUM) / length;
    float inv = 1.0f;
    if (flags & NORMALIZE_VARIANCE) {
        float q = 0.0f;
        for (int j = lid; j < length; j += RED_WG) {
            const float d = LOAD(x, base + j * stride) - mean;
            q += d * d;
        }
        const float var = group_reduce(q, scratch, RED_SUM) / length;
        inv = 1.0f / ((flags & EPS_INSIDE) ? sqrt(var + eps) : sqrt(var) + eps);
    }
    for (int j = lid; j < length; j += RED_WG) {
        float v = (LOAD(x, base + j * stride) - mean) * inv;
        if (flags & HAS_SCALE) v *= LOAD(scale, j);
        if (flags & HAS_SHIFT) v += LOAD(shift, j);
        STORE(y, base + j * stride, v);
    }
}

/* Reduce over any axes: one work-group per output element. meta: the kept dims and their input
 * strides (``kept`` of each), then the reduced dims and their input strides (``reduced`` each). */
__kernel __attribute__((reqd_work_group_size(RED_WG, 1, 1)))
void reduce(__global const DATA_T* x, __global DATA_T* y, __global const int* meta, int kept, int reduced,
            int count, int op) {
    __local float scratch[RED_WG];
    const int out = get_group_id(0), lid = get_local_id(0);
    __global const int* rdims = meta + 2 * kept;
    int rest = out, base = 0;
    for (int d = kept - 1; d >= 0; --d) {
        base += (rest % meta[d]) * meta[kept + d];
        rest /= meta[d];
    }
    const float init = op == RED_MAX || op == RED_MIN ? NAN : (op == RED_PROD ? 1.0f : 0.0f);
    float acc = init;
    for (int r = lid; r < count; r += RED_WG) {
        int rr = r, offset = base;
        for (int d = reduced - 1; d >= 0; --d) {
            offset += (rr % rdims[d]) * rdims[reduced + d];
            rr /= rdims[d];
        }
        float v = LOAD(x, offset);
        if (op == RED_L1) v = fabs(v);
        else if (op == RED_L2) v = v * v;
        acc = combine(acc, v, op);
    }
    acc = group_reduce(acc, scratch, op);
    if (lid == 0) {
        if (op == RED_MEAN) acc /= count;
        else if (op == RED_L2) acc = sqrt(acc);
        STORE(y, out, acc);
    }
}
