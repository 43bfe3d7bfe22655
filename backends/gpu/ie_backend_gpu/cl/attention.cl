/* ScaledDotProductAttention: softmax(Q K^T * scale + mask) V in one pass over the keys (online
 * softmax), built with -DHEAD_DIM=E -DVALUE_DIM=Ev -DKEY_TILE=T (T * (E + Ev) floats of local
 * memory).
 *
 * One work-item per query row, work-groups of QUERY_GROUP rows of one batch entry sharing key
 * and value tiles of KEY_TILE rows in local memory. Operands are addressed by strides:
 * meta = batch dims, then the batch strides of q, k, v, mask and out (``nbd`` each), then the
 * row strides q_l, k_s, v_s, mask_l, mask_s, out_l (the last axis of q, k, v, out is dense).
 * mask_kind: 0 none, 1 additive (fmask), 2 boolean (bmask, false masks the key out).
 */
#define QUERY_GROUP 32

__kernel __attribute__((reqd_work_group_size(QUERY_GROUP, 1, 1)))
void sdpa(__global const DATA_T* q, __global const DATA_T* k, __global const DATA_T* v,
          __global const DATA_T* fmask, __global const uchar* bmask, __global DATA_T* out,
          __global const int* meta, int nbd, int L, int S, float scale, int mask_kind, int causal) {
    const int lid = get_local_id(0), l = get_group_id(0) * QUERY_GROUP + lid, b = get_group_id(1);
    int qo = 0, ko = 0, vo = 0, mo = 0, oo = 0, rest = b;
    for (int d = nbd - 1; d >= 0; --d) {
        const int pos = rest % meta[d];
        rest /= meta[d];
        qo += pos * meta[nbd + d];
        ko += pos * meta[2 * nbd + d];
        vo += pos * meta[3 * nbd + d];
        mo += pos * meta[4 * nbd + d];
        oo += pos * meta[5 * nbd + d];
    }
    __global const int* rows = meta + 6 * nbd;
    const int q_l = rows[0], k_s = rows[1], v_s = rows[2], m_l = rows[3], m_s = rows[4], o_l = rows[5];
    __local float Ks[KEY_TILE * HEAD_DIM];
    __local float Vs[KEY_TILE * VALUE_DIM];
    const bool active = l < L;
    float qv[HEAD_DIM], acc[VALUE_DIM];
    for (int e = 0; e < HEAD_DIM; ++e) qv[e] = active ? LOAD(q, qo + l * q_l + e) * scale : 0.0f;
    for (int e = 0; e < VALUE_DIM; ++e) acc[e] = 0.0f;
    float m = -INFINITY, sum = 0.0f;
    for (int s0 = 0; s0 < S; s0 += KEY_TILE) {
        for (int idx = lid; idx < KEY_TILE * HEAD_DIM; idx += QUERY_GROUP) {
            const int s = s0 + idx / HEAD_DIM;
            Ks[idx] = s < S ? LOAD(k, ko + s * k_s + idx % HEAD_DIM) : 0.0f;
        }
        for (int idx = lid; idx < KEY_TILE * VALUE_DIM; idx += QUERY_GROUP) {
            const int s = s0 + idx / VALUE_DIM;
            Vs[idx] = s < S ? LOAD(v, vo + s * v_s + idx % VALUE_DIM) : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (active) {
            float logits[KEY_TILE];
            float tile_max = -INFINITY;
            for (int j = 0; j < KEY_TILE; ++j) {
                const int s = s0 + j;
                float dot = -INFINITY;
                if (s < S) {
                    dot = 0.0f;
                    for (int e = 0; e < HEAD_DIM; ++e) dot += qv[e] * Ks[j * HEAD_DIM + e];
                    if (mask_kind == 1) dot += LOAD(fmask, mo + l * m_l + s * m_s);
                    else if (mask_kind == 2 && !bmask[mo + l * m_l + s * m_s]) dot = -INFINITY;
                    if (causal && s > l) dot = -INFINITY;
                }
                logits[j] = dot;
                tile_max = fmax(tile_max, dot);
            }
            const float m_new = fmax(m, tile_max);
            if (m_new != -INFINITY) {
                const float correction = exp(m - m_new);
                sum *= correction;
                for (int e = 0; e < VALUE_DIM; ++e) acc[e] *= correction;
                for (int j = 0; j < KEY_TILE; ++j) {
                    const float p = exp(logits[j] - m_new);
                    sum += p;
                    for (int e = 0; e < VALUE_DIM; ++e) acc[e] += p * Vs[j * VALUE_DIM + e];
                }
                m = m_new;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (active)
        for (int e = 0; e < VALUE_DIM; ++e) STORE(out, oo + l * o_l + e, acc[e] / sum);
}
