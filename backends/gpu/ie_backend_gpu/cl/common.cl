/* Shared by every program: the storage type of float tensors and the activations.
 *
 * Float tensors are stored as DATA_T: float, or half with -DSTORE_HALF (read and written
 * with vload_half/vstore_half, which every OpenCL device has; arithmetic stays float).
 */
#ifdef STORE_HALF
#define DATA_T half
#define LOAD(p, i) vload_half((i), (p))
#define STORE(p, i, v) vstore_half_rte((v), (i), (p))
#else
#define DATA_T float
#define LOAD(p, i) ((p)[i])
#define STORE(p, i, v) ((p)[i] = (v))
#endif

/* activation codes (ie_backend_gpu.kernels.ACTIVATIONS) */
#define ACT_NONE 0
#define ACT_RELU 1
#define ACT_CLAMP 2
#define ACT_GELU_ERF 3
#define ACT_GELU_TANH 4
#define ACT_SIGMOID 5
#define ACT_TANH 6
#define ACT_EXP 7
#define ACT_LOG 8
#define ACT_SQRT 9
#define ACT_ABS 10
#define ACT_NEGATIVE 11
#define ACT_ERF 12
#define ACT_SWISH 13
#define ACT_HSWISH 14
#define ACT_HSIGMOID 15
#define ACT_ELU 16
#define ACT_SOFTPLUS 17
#define ACT_MISH 18
#define ACT_FLOOR 19
#define ACT_CEILING 20
#define ACT_SIN 21
#define ACT_COS 22
#define ACT_SOFTSIGN 23

inline float softplus(float x) { return fmax(x, 0.0f) + log1p(exp(-fabs(x))); }

/* min(max(x, lo), hi) with IEEE maxNum/minNum (fmax/fmin): NaN gives lo, as in ie_core.ops.elementwise */
inline float clampf(float x, float lo, float hi) { return fmin(fmax(x, lo), hi); }

inline float activate(float x, int act, float alpha, float beta) {
    switch (act) {
    case ACT_RELU: return x > 0.0f ? x : 0.0f;
    case ACT_CLAMP: return clampf(x, alpha, beta);
    case ACT_GELU_ERF: return 0.5f * x * erfc(-x * M_SQRT1_2_F);
    case ACT_GELU_TANH: return 0.5f * x * (1.0f + tanh(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case ACT_SIGMOID: return 1.0f / (1.0f + exp(-x));
    case ACT_TANH: return tanh(x);
    case ACT_EXP: return exp(x);
    case ACT_LOG: return log(x);
    case ACT_SQRT: return sqrt(x);
    case ACT_ABS: return fabs(x);
    case ACT_NEGATIVE: return -x;
    case ACT_ERF: return erf(x);
    case ACT_SWISH: return x / (1.0f + exp(-alpha * x));
    case ACT_HSWISH: return x * clampf(x + 3.0f, 0.0f, 6.0f) / 6.0f;
    case ACT_HSIGMOID: return clampf(x + 3.0f, 0.0f, 6.0f) / 6.0f;
    case ACT_ELU: return x > 0.0f ? x : alpha * expm1(x);
    case ACT_SOFTPLUS: return softplus(x);
    case ACT_MISH: return x * tanh(softplus(x));
    case ACT_FLOOR: return floor(x);
    case ACT_CEILING: return ceil(x);
    case ACT_SIN: return sin(x);
    case ACT_COS: return cos(x);
    case ACT_SOFTSIGN: return x / (1.0f + fabs(x));
    default: return x;
    }
}

/* epilogue flags of the convolution and MatMul kernels */
#define HAS_BIAS 1
#define HAS_RESIDUAL 2
