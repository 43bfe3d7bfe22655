/* Matrix products: MatMul (tiled in local memory, and a plain kernel for few rows), convolution as an
 * implicit GEMM (tiled in local memory) and the depthwise convolution.
 *
 * The tiled kernels run work-groups of 8x8 work-items on TILE x TILE output tiles: each work-item
 * computes 8 rows x 8 columns, keeps a float8 per row and reads the left operand's scalars from
 * local memory (broadcast), the right operand's rows as float8. Products are written as
 * multiply-add, not fma(): OpenCL contracts them where the hardware fuses (FP_CONTRACT is on by
 * default), while fma() is a slow library call on some CPU devices. Epilogue: + bias, + residual,
 * activation (flags HAS_BIAS, HAS_RESIDUAL; ``act``, ``alpha``, ``beta`` as activate()).
 */
#define TILE 64
#define TILE_K 16
#define WG 8

inline float epilogue(float v, __global const DATA_T* bias, int bias_index, __global const DATA_T* res,
                      int index, int flags, int act, float alpha, float beta) {
    if (flags & HAS_BIAS) v += LOAD(bias, bias_index);
    if (flags & HAS_RESIDUAL) v += LOAD(res, index);
    return activate(v, act, alpha, beta);
}

/* The 8x8 block product of one K tile; As and Bs hold TILE_K rows of TILE values. The tiles are
 * loaded by columns: work-item ``lid`` loads column ``lid`` (WG * WG == TILE). */
#define TILE_PRODUCT(acc, As, Bs, tx, ty)                                             \
    for (int kk = 0; kk < TILE_K; ++kk) {                                             \
        __local const float* ap = As + kk * TILE + (ty) * 8;                          \
        float8 b = vload8((tx), Bs + kk * TILE);                                      \
        acc[0] += (float8)ap[0] * b;                                       \
        acc[1] += (float8)ap[1] * b;                                       \
        acc[2] += (float8)ap[2] * b;                                       \
        acc[3] += (float8)ap[3] * b;                                       \
        acc[4] += (float8)ap[4] * b;                                       \
        acc[5] += (float8)ap[5] * b;                                       \
        acc[6] += (float8)ap[6] * b;                                       \
        acc[7] += (float8)ap[7] * b;                                       \
    }

/* C[b] = A[b] x B[b]: A(m, k) at a_off[b] + m*sam + k*sak, B(k, n) at b_off[b] + k*sbk + n*sbn,
 * C (and the residual) dense [batch][M][N]; bias along N. offsets: a_off, b_off pairs per batch. */
__kernel __attribute__((reqd_work_group_size(WG, WG, 1)))
void matmul_tiled(__global const DATA_T* A, __global const DATA_T* B, __global DATA_T* C,
                  __global const DATA_T* bias, __global const DATA_T* res, __global const int* offsets,
                  int M, int N, int K, int sam, int sak, int sbk, int sbn,
                  int flags, int act, float alpha, float beta) {
    const int tx = get_local_id(0), ty = get_local_id(1), lid = ty * WG + tx;
    const int n0 = get_group_id(0) * TILE, m0 = get_group_id(1) * TILE, batch = get_group_id(2);
    const int a_base = offsets[2 * batch], b_base = offsets[2 * batch + 1];
    const int c_base = batch * M * N;
    __local float As[TILE_K * TILE];
    __local float Bs[TILE_K * TILE];
    float8 acc[8];
    for (int i = 0; i < 8; ++i) acc[i] = 0.0f;
    const int m = m0 + lid, n = n0 + lid;
    const bool m_in = m < M, n_in = n < N;
    for (int k0 = 0; k0 < K; k0 += TILE_K) {
        for (int kk = 0; kk < TILE_K; ++kk) {
            const int k = k0 + kk;
            As[kk * TILE + lid] = (m_in && k < K) ? LOAD(A, a_base + m * sam + k * sak) : 0.0f;
            Bs[kk * TILE + lid] = (n_in && k < K) ? LOAD(B, b_base + k * sbk + n * sbn) : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        TILE_PRODUCT(acc, As, Bs, tx, ty)
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int i = 0; i < 8; ++i) {
        const int row = m0 + ty * 8 + i;
        if (row >= M) break;
        float r[8];
        vstore8(acc[i], 0, r);
        for (int j = 0; j < 8; ++j) {
            const int col = n0 + tx * 8 + j;
            if (col < N) {
                const int index = c_base + row * N + col;
                STORE(C, index, epilogue(r[j], bias, col, res, index, flags, act, alpha, beta));
            }
        }
    }
}

/* MatMul with few rows (M <= 8): one work-item per output element, columns along dimension 0. */
__kernel void matmul_gemv(__global const DATA_T* A, __global const DATA_T* B, __global DATA_T* C,
                          __global const DATA_T* bias, __global const DATA_T* res, __global const int* offsets,
                          int M, int N, int K, int sam, int sak, int sbk, int sbn,
                          int flags, int act, float alpha, float beta) {
    const int n = get_global_id(0), m = get_global_id(1), batch = get_global_id(2);
    if (n >= N) return;
    __global const DATA_T* a = A + offsets[2 * batch] + m * sam;
    __global const DATA_T* b = B + offsets[2 * batch + 1] + n * sbn;
    float acc = 0.0f;
    for (int k = 0; k < K; ++k) acc += LOAD(a, k * sak) * LOAD(b, k * sbk);
    const int index = (batch * M + m) * N + n;
    STORE(C, index, epilogue(acc, bias, n, res, index, flags, act, alpha, beta));
}

/* Convolution as an implicit GEMM per image and group: rows = the group's OG output channels,
 * columns = the OH*OW output pixels, K = CG*KH*KW. Weights W are [G][K][OG] (k-major). The input
 * tile is gathered from the NCHW input on the fly (zero outside): work-item ``lid`` always loads
 * output pixel n0 + lid, and ``taps`` gives for each k its (channel offset, row shift, column shift, 0),
 * so the loads need no division. Bias along the output channel. */
__kernel __attribute__((reqd_work_group_size(WG, WG, 1)))
void conv_gemm(__global const DATA_T* X, __global const DATA_T* W, __global DATA_T* O,
               __global const DATA_T* bias, __global const DATA_T* res, __global const int4* taps,
               int C, int H, int Wd, int G, int OG, int CG, int OH, int OW, int SH, int SW, int PH, int PW,
               int K, int pointwise, int flags, int act, float alpha, float beta) {
    const int tx = get_local_id(0), ty = get_local_id(1), lid = ty * WG + tx;
    const int n0 = get_group_id(0) * TILE, m0 = get_group_id(1) * TILE;
    const int image = get_group_id(2) / G, g = get_group_id(2) % G;
    const int M = OG, N = OH * OW;
    __global const DATA_T* x = X + (image * C + g * CG) * H * Wd;
    __global const DATA_T* w = W + g * K * OG;
    const int p = n0 + lid, m = m0 + lid;
    const bool p_in = p < N, m_in = m < M;
    const int ih0 = (p / OW) * SH - PH, iw0 = (p % OW) * SW - PW;
    __local float As[TILE_K * TILE];
    __local float Bs[TILE_K * TILE];
    float8 acc[8];
    for (int i = 0; i < 8; ++i) acc[i] = 0.0f;
    for (int k0 = 0; k0 < K; k0 += TILE_K) {
        for (int kk = 0; kk < TILE_K; ++kk) {
            const int k = k0 + kk;
            As[kk * TILE + lid] = (m_in && k < K) ? LOAD(w, k * OG + m) : 0.0f;
            float v = 0.0f;
            if (p_in && k < K) {
                if (pointwise) {
                    v = LOAD(x, k * N + p);
                } else {
                    const int4 t = taps[k];
                    const int ih = ih0 + t.y, iw = iw0 + t.z;
                    if (ih >= 0 && ih < H && iw >= 0 && iw < Wd) v = LOAD(x, t.x + ih * Wd + iw);
                }
            }
            Bs[kk * TILE + lid] = v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        TILE_PRODUCT(acc, As, Bs, tx, ty)
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int i = 0; i < 8; ++i) {
        const int row = m0 + ty * 8 + i;
        if (row >= M) break;
        const int channel = g * OG + row;
        float r[8];
        vstore8(acc[i], 0, r);
        for (int j = 0; j < 8; ++j) {
            const int col = n0 + tx * 8 + j;
            if (col < N) {
                const int index = (image * G * OG + channel) * N + col;
                STORE(O, index, epilogue(r[j], bias, channel, res, index, flags, act, alpha, beta));
            }
        }
    }
}

/* Depthwise convolution (one input and one output channel per group): one work-item per output
 * element; weights [C][KH][KW]. */
__kernel void conv_depthwise(__global const DATA_T* X, __global const DATA_T* W, __global DATA_T* O,
                             __global const DATA_T* bias, __global const DATA_T* res,
                             int C, int H, int Wd, int OH, int OW,
                             int KH, int KW, int SH, int SW, int DH, int DW, int PH, int PW,
                             int flags, int act, float alpha, float beta) {
    const int ow = get_global_id(0), oh = get_global_id(1), plane = get_global_id(2);
    if (ow >= OW || oh >= OH) return;
    const int c = plane % C;
    __global const DATA_T* x = X + plane * H * Wd;
    __global const DATA_T* w = W + c * KH * KW;
    float acc = 0.0f;
    for (int kh = 0; kh < KH; ++kh) {
        const int ih = oh * SH - PH + kh * DH;
        if (ih < 0 || ih >= H) continue;
        for (int kw = 0; kw < KW; ++kw) {
            const int iw = ow * SW - PW + kw * DW;
            if (iw >= 0 && iw < Wd) acc += LOAD(x, ih * Wd + iw) * LOAD(w, kh * KW + kw);
        }
    }
    const int index = (plane * OH + oh) * OW + ow;
    STORE(O, index, epilogue(acc, bias, c, res, index, flags, act, alpha, beta));
}
