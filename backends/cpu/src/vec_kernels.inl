// The bodies of vec_kernels.hpp's kernels. vec_kernels.cpp includes this file once per
// instruction set, each time inside its own namespace and `#pragma GCC target`, so the same
// plain C++ loops are vectorised for AVX-512, AVX2 and the baseline. No intrinsics here, and
// no #include: everything used is declared before the inclusion (templates from the standard
// headers keep the default target and are inlined into these functions).

namespace {

inline float from_bits(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

inline uint32_t to_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

// f32 -> bf16, rounding to nearest even (NaN stays NaN)
inline uint16_t bf16_of(float f) {
    const uint32_t u = to_bits(f);
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const uint32_t quiet = (u >> 16) | 0x40u;
    return static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? quiet : rounded);
}

// exp(x) for x <= 88 (Cephes' expf: 2^n * p(r), r = x - n ln2), 0 below -87.34 and for NaN;
// written without branches so that a loop calling it vectorises.
inline float exp_small(float x) {
    const bool zero = !(x >= -87.33654f);
    x = zero ? 0.0f : x;
    const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + (r + 1.0f);
    const float two_n = from_bits(static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23);
    return zero ? 0.0f : p * two_n;
}

void softmax_row(float *row, int64_t n, float scale, const float *mask, int64_t mask_stride, int64_t valid,
                 uint16_t *bf16_out) {
    float mx = -std::numeric_limits<float>::infinity();
    if (!mask) {
#pragma omp simd reduction(max : mx)
        for (int64_t i = 0; i < valid; ++i) {
            const float v = row[i] * scale;
            row[i] = v;
            mx = v > mx ? v : mx;
        }
    } else if (mask_stride == 0) {
        const float m = mask[0];
#pragma omp simd reduction(max : mx)
        for (int64_t i = 0; i < valid; ++i) {
            const float v = row[i] * scale + m;
            row[i] = v;
            mx = v > mx ? v : mx;
        }
    } else if (mask_stride == 1) {
#pragma omp simd reduction(max : mx)
        for (int64_t i = 0; i < valid; ++i) {
            const float v = row[i] * scale + mask[i];
            row[i] = v;
            mx = v > mx ? v : mx;
        }
    } else {
#pragma omp simd reduction(max : mx)
        for (int64_t i = 0; i < valid; ++i) {
            const float v = row[i] * scale + mask[i * mask_stride];
            row[i] = v;
            mx = v > mx ? v : mx;
        }
    }
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < valid; ++i) {
        const float e = exp_small(row[i] - mx);
        row[i] = e;
        sum += e;
    }
    for (int64_t i = valid; i < n; ++i) row[i] = 0.0f;
    const float inv = 1.0f / sum;
    if (bf16_out) {
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) bf16_out[i] = bf16_of(row[i] * inv);
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) row[i] *= inv;
    }
}

// Mean and variance accumulate in double. The output is (x - mean) * 1/sqrt(var + eps) (eps
// inside), (x - mean) / (sqrt(var) + eps) (eps outside), or x - mean without normalize_variance.
float inv_std(double var, float eps, bool inside) {
    return static_cast<float>(inside ? 1.0 / std::sqrt(var + double(eps)) : 1.0 / (std::sqrt(var) + double(eps)));
}

void mvn_rows(const float *x, float *y, int64_t n, float eps, bool inside, bool norm_var, const float *gamma,
              const float *beta, int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
        const float *xr = x + o * n;
        float *yr = y + o * n;
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < n; ++i) s += xr[i];
        const double mean = s / double(n);
        float scale = 1.0f;
        if (norm_var) {
            double q = 0.0;
#pragma omp simd reduction(+ : q)
            for (int64_t i = 0; i < n; ++i) {
                const double d = double(xr[i]) - mean;
                q += d * d;
            }
            scale = inv_std(q / double(n), eps, inside);
        }
        const float m = static_cast<float>(mean);
        if (gamma && beta) {
#pragma omp simd
            for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - m) * scale * gamma[i] + beta[i];
        } else if (gamma) {
#pragma omp simd
            for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - m) * scale * gamma[i];
        } else if (beta) {
#pragma omp simd
            for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - m) * scale + beta[i];
        } else {
#pragma omp simd
            for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - m) * scale;
        }
    }
}

void mvn_blocks(const float *x, float *y, const MvnShape &sh, int64_t begin, int64_t end) {
    const int64_t r = sh.r, inner = sh.inner, blocks = (inner + kBlock - 1) / kBlock;
    for (int64_t u = begin; u < end; ++u) {
        const int64_t o = u / blocks, b0 = (u % blocks) * kBlock, w = std::min(inner, b0 + kBlock) - b0;
        double mean[kBlock], q[kBlock];
        float scale[kBlock], meanf[kBlock];
        for (int64_t j = 0; j < w; ++j) mean[j] = q[j] = 0.0;
        const float *base = x + o * r * inner + b0;
        float *out = y + o * r * inner + b0;
        for (int64_t i = 0; i < r; ++i)
            for (int64_t j = 0; j < w; ++j) mean[j] += base[i * inner + j];
        for (int64_t j = 0; j < w; ++j) mean[j] /= double(r);
        if (sh.norm_var)
            for (int64_t i = 0; i < r; ++i)
                for (int64_t j = 0; j < w; ++j) {
                    const double d = base[i * inner + j] - mean[j];
                    q[j] += d * d;
                }
        for (int64_t j = 0; j < w; ++j) {
            scale[j] = sh.norm_var ? inv_std(q[j] / double(r), sh.eps, sh.inside) : 1.0f;
            meanf[j] = static_cast<float>(mean[j]);
        }
        for (int64_t i = 0; i < r; ++i)
            for (int64_t j = 0; j < w; ++j) out[i * inner + j] = (base[i * inner + j] - meanf[j]) * scale[j];
    }
}

// ---------------------------------------------------------------------------- reductions
// Sums accumulate in double; max and min are IEEE maxNum/minNum (fmax/fmin): they skip NaN, which is the result
// only where every value is NaN.

template <RedOp OP>
double red_init() {
    if constexpr (OP == RedOp::max || OP == RedOp::min) return std::numeric_limits<double>::quiet_NaN();
    if constexpr (OP == RedOp::prod) return 1.0;
    return 0.0;
}

template <RedOp OP>
double red_step(double acc, float v) {
    if constexpr (OP == RedOp::max) return std::fmax(acc, double(v));
    if constexpr (OP == RedOp::min) return std::fmin(acc, double(v));
    if constexpr (OP == RedOp::prod) return acc * v;
    if constexpr (OP == RedOp::l1) return acc + std::fabs(double(v));
    if constexpr (OP == RedOp::l2) return acc + double(v) * double(v);
    return acc + v;
}

template <RedOp OP>
float red_finish(double acc, int64_t n) {
    if constexpr (OP == RedOp::mean) return static_cast<float>(acc / double(n));
    if constexpr (OP == RedOp::l2) return static_cast<float>(std::sqrt(acc));
    return static_cast<float>(acc);
}

template <RedOp OP>
float reduce_row(const float *x, int64_t r) {
    if constexpr (OP == RedOp::max || OP == RedOp::min) {
        // the comparisons skip NaN; `seen` tells a row of NaNs from one whose maximum is -inf
        int seen = 0;
        float m;
        if constexpr (OP == RedOp::max) {
            m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m) reduction(| : seen)
            for (int64_t i = 0; i < r; ++i) {
                m = x[i] > m ? x[i] : m;
                seen |= x[i] == x[i];
            }
        } else {
            m = std::numeric_limits<float>::infinity();
#pragma omp simd reduction(min : m) reduction(| : seen)
            for (int64_t i = 0; i < r; ++i) {
                m = x[i] < m ? x[i] : m;
                seen |= x[i] == x[i];
            }
        }
        return seen ? m : NAN;
    } else if constexpr (OP == RedOp::prod) {
        double a = 1.0;
#pragma omp simd reduction(* : a)
        for (int64_t i = 0; i < r; ++i) a *= x[i];
        return red_finish<OP>(a, r);
    } else {
        double a = 0.0;
#pragma omp simd reduction(+ : a)
        for (int64_t i = 0; i < r; ++i) a = red_step<OP>(a, x[i]);
        return red_finish<OP>(a, r);
    }
}

template <RedOp OP>
void reduce_units(const float *x, float *y, int64_t r, int64_t inner, int64_t begin, int64_t end) {
    if (inner == 1) {
        for (int64_t o = begin; o < end; ++o) y[o] = reduce_row<OP>(x + o * r, r);
        return;
    }
    const int64_t blocks = (inner + kBlock - 1) / kBlock;
    for (int64_t u = begin; u < end; ++u) {
        const int64_t o = u / blocks, b0 = (u % blocks) * kBlock, w = std::min(inner, b0 + kBlock) - b0;
        double acc[kBlock];
        for (int64_t j = 0; j < w; ++j) acc[j] = red_init<OP>();
        const float *base = x + o * r * inner + b0;
        for (int64_t i = 0; i < r; ++i) {
            const float *row = base + i * inner;
            for (int64_t j = 0; j < w; ++j) acc[j] = red_step<OP>(acc[j], row[j]);
        }
        for (int64_t j = 0; j < w; ++j) y[o * inner + b0 + j] = red_finish<OP>(acc[j], r);
    }
}

void reduce(RedOp op, const float *x, float *y, int64_t r, int64_t inner, int64_t begin, int64_t end) {
    switch (op) {
        case RedOp::sum: reduce_units<RedOp::sum>(x, y, r, inner, begin, end); break;
        case RedOp::mean: reduce_units<RedOp::mean>(x, y, r, inner, begin, end); break;
        case RedOp::max: reduce_units<RedOp::max>(x, y, r, inner, begin, end); break;
        case RedOp::min: reduce_units<RedOp::min>(x, y, r, inner, begin, end); break;
        case RedOp::prod: reduce_units<RedOp::prod>(x, y, r, inner, begin, end); break;
        case RedOp::l1: reduce_units<RedOp::l1>(x, y, r, inner, begin, end); break;
        case RedOp::l2: reduce_units<RedOp::l2>(x, y, r, inner, begin, end); break;
    }
}

// ---------------------------------------------------------------------------- Convert
// OpenVINO's CPU semantics, as ie_core's reference: float -> int truncates toward zero,
// NaN/inf/out-of-range values become the minimum of the intermediate range (int32 for
// destinations up to 32 bits except u32, int64 otherwise) and then wrap to the destination
// width; -> boolean is x != 0 (NaN -> false).

template <typename S, typename D>
void convert_range(const S *src, D *dst, int64_t begin, int64_t end) {
    constexpr bool src_float = std::is_floating_point<S>::value;
    constexpr bool dst_float = std::is_floating_point<D>::value;
    for (int64_t i = begin; i < end; ++i) {
        const S v = src[i];
        if constexpr (std::is_same<D, bool>::value) {
            if constexpr (src_float)
                dst[i] = v != S(0) && !std::isnan(v);
            else
                dst[i] = v != S(0);
        } else if constexpr (src_float && !dst_float) {
            constexpr bool wide = sizeof(D) == 8 || std::is_same<D, uint32_t>::value;
            const double t = std::trunc(static_cast<double>(v));
            if constexpr (wide) {
                const int64_t r = (t >= -9223372036854775808.0 && t < 9223372036854775808.0) ? static_cast<int64_t>(t)
                                                                                             : INT64_MIN;
                dst[i] = static_cast<D>(r);
            } else {
                const int64_t r =
                    (t >= -2147483648.0 && t < 2147483648.0) ? static_cast<int64_t>(t) : int64_t(INT32_MIN);
                dst[i] = static_cast<D>(static_cast<uint64_t>(r));
            }
        } else if constexpr (!src_float && !dst_float) {
            dst[i] = static_cast<D>(static_cast<uint64_t>(static_cast<int64_t>(v)));
        } else {
            dst[i] = static_cast<D>(v);
        }
    }
}

template <typename S>
void convert_from(DT to, const void *src, void *dst, int64_t begin, int64_t end) {
    const S *s = static_cast<const S *>(src);
    switch (to) {
        case DT::f32: convert_range(s, static_cast<float *>(dst), begin, end); break;
        case DT::f64: convert_range(s, static_cast<double *>(dst), begin, end); break;
        case DT::i8: convert_range(s, static_cast<int8_t *>(dst), begin, end); break;
        case DT::i16: convert_range(s, static_cast<int16_t *>(dst), begin, end); break;
        case DT::i32: convert_range(s, static_cast<int32_t *>(dst), begin, end); break;
        case DT::i64: convert_range(s, static_cast<int64_t *>(dst), begin, end); break;
        case DT::u8: convert_range(s, static_cast<uint8_t *>(dst), begin, end); break;
        case DT::u16: convert_range(s, static_cast<uint16_t *>(dst), begin, end); break;
        case DT::u32: convert_range(s, static_cast<uint32_t *>(dst), begin, end); break;
        case DT::u64: convert_range(s, static_cast<uint64_t *>(dst), begin, end); break;
        case DT::boolean: convert_range(s, static_cast<bool *>(dst), begin, end); break;
    }
}

void convert(DT from, DT to, const void *src, void *dst, int64_t begin, int64_t end) {
    switch (from) {
        case DT::f32: convert_from<float>(to, src, dst, begin, end); break;
        case DT::f64: convert_from<double>(to, src, dst, begin, end); break;
        case DT::i8: convert_from<int8_t>(to, src, dst, begin, end); break;
        case DT::i16: convert_from<int16_t>(to, src, dst, begin, end); break;
        case DT::i32: convert_from<int32_t>(to, src, dst, begin, end); break;
        case DT::i64: convert_from<int64_t>(to, src, dst, begin, end); break;
        case DT::u8: convert_from<uint8_t>(to, src, dst, begin, end); break;
        case DT::u16: convert_from<uint16_t>(to, src, dst, begin, end); break;
        case DT::u32: convert_from<uint32_t>(to, src, dst, begin, end); break;
        case DT::u64: convert_from<uint64_t>(to, src, dst, begin, end); break;
        case DT::boolean: convert_from<bool>(to, src, dst, begin, end); break;
    }
}

// ---------------------------------------------------------------------------- strided copy
// out[i0, ..., in] = in[sum(ik * stride_k)]: one unit is a row of the last dim, or (a 2-D
// transpose: the last dim strided, the one before it contiguous) a [rows, last] plane, tiled.

template <typename T>
void strided_copy_range(const T *src, T *dst, const StridedPlan &plan, int64_t begin, int64_t end) {
    const int n = plan.rank;
    const int64_t *dims = plan.dims, *strides = plan.strides;
    const int64_t last = dims[n - 1], st_last = strides[n - 1];
    const bool tile2d = st_last != 1 && st_last != 0 && n >= 2 && strides[n - 2] == 1;
    const int od = n - (tile2d ? 2 : 1);
    const int64_t rows = tile2d ? dims[n - 2] : 1, unit = last * rows;
    int64_t idx[16] = {0};
    int64_t off = 0;
    for (int64_t k = od - 1, rem = begin; k >= 0; --k) {
        idx[k] = rem % dims[k];
        rem /= dims[k];
        off += idx[k] * strides[k];
    }
    for (int64_t o = begin; o < end; ++o) {
        T *out = dst + o * unit;
        const T *in = src + off;
        if (tile2d) {
            constexpr int64_t B = 16;
            for (int64_t r0 = 0; r0 < rows; r0 += B) {
                const int64_t r1 = std::min(rows, r0 + B);
                for (int64_t c0 = 0; c0 < last; c0 += B) {
                    const int64_t c1 = std::min(last, c0 + B);
                    for (int64_t r = r0; r < r1; ++r)
                        for (int64_t c = c0; c < c1; ++c) out[r * last + c] = in[r + c * st_last];
                }
            }
        } else if (st_last == 1) {
            std::memcpy(out, in, static_cast<size_t>(last) * sizeof(T));
        } else if (st_last == 0) {
            std::fill(out, out + last, *in);
        } else {
            for (int64_t c = 0; c < last; ++c) out[c] = in[c * st_last];
        }
        for (int k = od - 1; k >= 0; --k) {
            if (++idx[k] < dims[k]) {
                off += strides[k];
                break;
            }
            off -= (dims[k] - 1) * strides[k];
            idx[k] = 0;
        }
    }
}

void strided_copy(int itemsize, const void *src, void *dst, const StridedPlan &plan, int64_t begin, int64_t end) {
    switch (itemsize) {
        case 1:
            strided_copy_range(static_cast<const uint8_t *>(src), static_cast<uint8_t *>(dst), plan, begin, end);
            break;
        case 2:
            strided_copy_range(static_cast<const uint16_t *>(src), static_cast<uint16_t *>(dst), plan, begin, end);
            break;
        case 4:
            strided_copy_range(static_cast<const uint32_t *>(src), static_cast<uint32_t *>(dst), plan, begin, end);
            break;
        default:
            strided_copy_range(static_cast<const uint64_t *>(src), static_cast<uint64_t *>(dst), plan, begin, end);
            break;
    }
}

}  // namespace
