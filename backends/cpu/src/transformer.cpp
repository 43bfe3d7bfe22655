// ie_backend_cpu._ext.transformer: native kernels for the transformer / data-movement layers
// of the ie-core CPU backend (MVN, ScaledDotProductAttention, Transpose, Broadcast, Gather,
// Concat, Convert, Reduce*).
//
// Like the oneDNN primitives of ext.cpp, each factory builds a kernel object for one node's
// static shapes; its `run(...)` is const (no state between calls, so one object serves any
// number of concurrent requests), releases the GIL while it computes and runs on the
// compiled model's OpenMP thread count (`threads`, 0 = the process default), set on the
// executing thread around the call.
//
// Hot loops (MVN rows, the attention softmax) have an AVX-512 path chosen at run time
// (__builtin_cpu_supports) next to a portable one, so the extension itself needs no -march.
// ScaledDotProductAttention runs its two matrix products as oneDNN matmul primitives.
// The attention and LayerNorm cores (transformer.hpp) also run as steps of native programs.
//
// Registered by ext.cpp's PYBIND11_MODULE through transformer_module(m), as the submodule
// `_ext.transformer`.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define IE_TF_X86 1
#endif

#include "common.hpp"
#include "transformer.hpp"

namespace py = pybind11;

namespace ie_tf {

using iecpu::dense_strides;
using iecpu::ThreadGuard;

bool has_avx512() {
#ifdef IE_TF_X86
    static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    return ok;
#else
    return false;
#endif
}

int64_t prod(const dims_t &d, size_t from = 0, size_t to = SIZE_MAX) {
    const int64_t *b = d.data() + std::min(from, d.size()), *e = d.data() + std::min(to, d.size());
    int64_t p = 1;
    for (; b < e; ++b) p *= *b;
    return p;
}

dims_t pad_to(const dims_t &d, size_t rank) {
    dims_t out(rank - d.size(), 1);
    out.insert(out.end(), d.begin(), d.end());
    return out;
}

std::string shape_str(const dims_t &d) {
    std::ostringstream s;
    s << "(";
    for (size_t i = 0; i < d.size(); ++i) s << (i ? ", " : "") << d[i];
    s << ")";
    return s.str();
}

// A C-contiguous view of `a` (a copy only when it is not contiguous), checked against the
// element size and count the kernel was built for.
py::array contiguous(const py::array &a, int64_t itemsize, int64_t count, const char *what) {
    py::array c = (a.flags() & py::array::c_style) ? a : py::array::ensure(a, py::array::c_style);
    if (!c) throw std::invalid_argument(std::string(what) + ": cannot make the input contiguous");
    if (c.itemsize() != itemsize || c.size() != count) {
        std::ostringstream s;
        s << what << ": input has " << c.size() << " elements of " << c.itemsize() << " bytes, the kernel expects "
          << count << " of " << itemsize;
        throw std::invalid_argument(s.str());
    }
    return c;
}

py::array new_array(const py::dtype &dt, const dims_t &shape) {
    std::vector<py::ssize_t> s(shape.begin(), shape.end());
    return py::array(dt, s);
}

// Data size below which a parallel region costs more than it saves (an OpenMP fork/join is a
// few microseconds, and much more when the cores are oversubscribed): compute-bound kernels
// (transposes, MVN, reductions) go parallel from kParallelBytes, plain memory copies from
// kParallelCopyBytes.
constexpr int64_t kParallelBytes = 64 * 1024;
constexpr int64_t kParallelCopyBytes = 256 * 1024;

// ============================================================================ strided copy
// out[i0, ..., in] = in[sum(ik * stride_k)] over the output's dims: Transpose (permuted
// strides) and Broadcast (zero strides) in one engine. Dims are collapsed at build time.

struct StridedCopy {
    dims_t dims;     // collapsed output dims (at least 1)
    dims_t strides;  // input strides in elements per collapsed dim
    int64_t itemsize = 4;
    int64_t in_count = 0, out_count = 0;
    dims_t out_shape;
    py::dtype dtype;
    int threads = 0;
    std::string impl;

    StridedCopy(const dims_t &out_dims, const dims_t &in_strides, int64_t in_count_, const py::dtype &dt, int threads_)
        : itemsize(dt.itemsize()), in_count(in_count_), out_shape(out_dims), dtype(dt), threads(threads_) {
        if (out_dims.size() != in_strides.size()) throw std::invalid_argument("dims and strides differ in rank");
        if (itemsize != 1 && itemsize != 2 && itemsize != 4 && itemsize != 8)
            throw std::invalid_argument("unsupported element size");
        out_count = prod(out_dims);
        for (size_t i = 0; i < out_dims.size(); ++i) {
            if (out_dims[i] == 1) continue;
            if (!dims.empty() && strides.back() == in_strides[i] * out_dims[i]) {
                dims.back() *= out_dims[i];
                strides.back() = in_strides[i];
            } else {
                dims.push_back(out_dims[i]);
                strides.push_back(in_strides[i]);
            }
        }
        if (dims.empty()) {
            dims.push_back(1);
            strides.push_back(1);
        }
        if (dims.size() > 16) throw std::invalid_argument("more than 16 non-trivial dims");
        int n = static_cast<int>(dims.size());
        if (strides[n - 1] == 1)
            impl = n == 1 ? "native:copy" : "native:blocks";
        else if (strides[n - 1] == 0)
            impl = "native:broadcast";
        else if (n >= 2 && strides[n - 2] == 1)
            impl = "native:transpose2d";
        else
            impl = "native:gather";
    }

    template <typename T>
    void copy(const T *src, T *dst) const {
        const int n = static_cast<int>(dims.size());
        const int64_t last = dims[n - 1], st_last = strides[n - 1];
        const bool tile2d = st_last != 1 && st_last != 0 && n >= 2 && strides[n - 2] == 1;
        // the unit of work: one row of the last dim, or (tile2d) one [rows, last] plane
        const int inner_dims = tile2d ? 2 : 1;
        const int64_t rows = tile2d ? dims[n - 2] : 1;
        const int64_t unit = last * rows;
        const int64_t outer = out_count / std::max<int64_t>(unit, 1);
        const int64_t bytes = out_count * itemsize;
        auto body = [&](int64_t begin, int64_t end) {
            if (begin >= end) return;
            // multi-index of `begin` over the outer dims
            const int od = n - inner_dims;
            int64_t idx[16] = {0};
            int64_t off = 0;
            {
                int64_t r = begin;
                for (int k = od - 1; k >= 0; --k) {
                    idx[k] = r % dims[k];
                    r /= dims[k];
                    off += idx[k] * strides[k];
                }
            }
            for (int64_t o = begin; o < end; ++o) {
                T *out = dst + o * unit;
                const T *in = src + off;
                if (tile2d) {
                    // out[r, c] = in[r * 1 + c * st_last], blocked for the cache
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
                // advance the outer multi-index
                for (int k = od - 1; k >= 0; --k) {
                    if (++idx[k] < dims[k]) {
                        off += strides[k];
                        break;
                    }
                    off -= (dims[k] - 1) * strides[k];
                    idx[k] = 0;
                }
            }
        };
        int nt = omp_get_max_threads();
        const bool plain_copy = st_last == 1 || st_last == 0;
        if (nt > 1 && outer > 1 && bytes >= (plain_copy ? kParallelCopyBytes : kParallelBytes)) {
#pragma omp parallel num_threads(static_cast<int>(std::min<int64_t>(nt, outer)))
            {
                int t = omp_get_thread_num(), T_ = omp_get_num_threads();
                int64_t chunk = (outer + T_ - 1) / T_;
                body(t * chunk, std::min(outer, (t + 1) * chunk));
            }
        } else {
            body(0, outer);
        }
    }

    py::array run(const py::array &x) const {
        py::array in = contiguous(x, itemsize, in_count, "strided copy");
        py::array out = new_array(dtype, out_shape);
        const void *s = in.data();
        void *d = out.mutable_data();
        {
            py::gil_scoped_release release;
            ThreadGuard guard(threads);
            switch (itemsize) {
                case 1: copy(static_cast<const uint8_t *>(s), static_cast<uint8_t *>(d)); break;
                case 2: copy(static_cast<const uint16_t *>(s), static_cast<uint16_t *>(d)); break;
                case 4: copy(static_cast<const uint32_t *>(s), static_cast<uint32_t *>(d)); break;
                default: copy(static_cast<const uint64_t *>(s), static_cast<uint64_t *>(d)); break;
            }
        }
        return out;
    }
};

// ============================================================================ Gather
// data [outer, dim, inner], indices [k] (batch_dims 0) -> out [outer, k, inner]; negative
// indices count from the end, out-of-range ones give zeros.

struct Gather {
    int64_t outer, dim, inner, k, itemsize, idx_size;
    dims_t out_shape;
    py::dtype dtype;
    int threads;
    std::string impl = "native:gather";

    py::array run(const py::array &data, const py::array &indices) const {
        py::array d = contiguous(data, itemsize, outer * dim * inner, "Gather data");
        py::array ix = contiguous(indices, idx_size, k, "Gather indices");
        if (ix.dtype().kind() != 'i' && ix.dtype().kind() != 'u')
            throw std::invalid_argument("indices must be integers");
        const bool is_unsigned = ix.dtype().kind() == 'u';
        py::array out = new_array(dtype, out_shape);
        const char *src = static_cast<const char *>(d.data());
        const char *ip = static_cast<const char *>(ix.data());
        char *dst = static_cast<char *>(out.mutable_data());
        {
            py::gil_scoped_release release;
            ThreadGuard guard(threads);
            const int64_t row = inner * itemsize;
            auto index = [&](int64_t j) -> int64_t {
                switch (idx_size) {
                    case 8: return reinterpret_cast<const int64_t *>(ip)[j];
                    case 4: return is_unsigned ? int64_t(reinterpret_cast<const uint32_t *>(ip)[j])
                                               : int64_t(reinterpret_cast<const int32_t *>(ip)[j]);
                    case 2: return is_unsigned ? int64_t(reinterpret_cast<const uint16_t *>(ip)[j])
                                               : int64_t(reinterpret_cast<const int16_t *>(ip)[j]);
                    default: return is_unsigned ? int64_t(reinterpret_cast<const uint8_t *>(ip)[j])
                                                : int64_t(reinterpret_cast<const int8_t *>(ip)[j]);
                }
            };
            const int64_t total = outer * k;
            const bool par = omp_get_max_threads() > 1 && total * row >= kParallelCopyBytes && total > 1;
#pragma omp parallel for schedule(static) if (par)
            for (int64_t t = 0; t < total; ++t) {
                const int64_t o = t / k, j = t % k;
                int64_t i = index(j);
                if (i < 0) i += dim;
                char *to = dst + t * row;
                if (i < 0 || i >= dim)
                    std::memset(to, 0, static_cast<size_t>(row));
                else
                    std::memcpy(to, src + (o * dim + i) * row, static_cast<size_t>(row));
            }
        }
        return out;
    }
};

// ============================================================================ Concat
// inputs [outer, a_i * inner] -> out [outer, sum(a_i) * inner]

struct Concat {
    int64_t outer, inner, itemsize;
    dims_t axis_dims;
    dims_t out_shape;
    py::dtype dtype;
    int threads;
    std::string impl = "native:concat";

    py::array run(const std::vector<py::object> &xs) const {
        if (xs.size() != axis_dims.size()) throw std::invalid_argument("Concat: wrong number of inputs");
        std::vector<py::array> held;
        std::vector<const char *> srcs;
        for (size_t i = 0; i < xs.size(); ++i) {
            py::array a = py::array::ensure(xs[i]);
            if (!a) throw std::invalid_argument("Concat: an input is not an array");
            held.push_back(contiguous(a, itemsize, outer * axis_dims[i] * inner, "Concat input"));
            srcs.push_back(static_cast<const char *>(held.back().data()));
        }
        py::array out = new_array(dtype, out_shape);
        char *dst = static_cast<char *>(out.mutable_data());
        {
            py::gil_scoped_release release;
            ThreadGuard guard(threads);
            int64_t total_axis = 0;
            for (auto a : axis_dims) total_axis += a;
            const int64_t out_row = total_axis * inner * itemsize;
            const bool par = omp_get_max_threads() > 1 && outer > 1 && outer * out_row >= kParallelCopyBytes;
#pragma omp parallel for schedule(static) if (par)
            for (int64_t o = 0; o < outer; ++o) {
                char *to = dst + o * out_row;
                for (size_t i = 0; i < srcs.size(); ++i) {
                    const int64_t n = axis_dims[i] * inner * itemsize;
                    std::memcpy(to, srcs[i] + o * n, static_cast<size_t>(n));
                    to += n;
                }
            }
        }
        return out;
    }
};

// ============================================================================ Convert
// OpenVINO's CPU semantics, as ie_core's reference: float -> int truncates toward zero,
// NaN/inf/out-of-range values become the minimum of the intermediate range (int32 for
// destinations up to 32 bits except u32, int64 otherwise) and then wrap to the destination
// width; -> boolean is x != 0 (NaN -> false).

enum class DT { f32, f64, i8, i16, i32, i64, u8, u16, u32, u64, boolean };

DT dt_of(const std::string &name) {
    static const std::unordered_map<std::string, DT> table = {
        {"float32", DT::f32}, {"float64", DT::f64}, {"int8", DT::i8},    {"int16", DT::i16},
        {"int32", DT::i32},   {"int64", DT::i64},   {"uint8", DT::u8},   {"uint16", DT::u16},
        {"uint32", DT::u32},  {"uint64", DT::u64},  {"bool", DT::boolean}};
    auto it = table.find(name);
    if (it == table.end()) throw std::invalid_argument("unsupported element type " + name);
    return it->second;
}

template <typename S, typename D>
void convert_loop(const S *src, D *dst, int64_t n, bool par) {
    constexpr bool src_float = std::is_floating_point<S>::value;
    constexpr bool dst_float = std::is_floating_point<D>::value;
#pragma omp parallel for schedule(static) if (par)
    for (int64_t i = 0; i < n; ++i) {
        S v = src[i];
        if constexpr (std::is_same<D, bool>::value) {
            dst[i] = v != S(0);  // NaN != 0 is true: cleared below
            if constexpr (src_float) dst[i] = dst[i] && !std::isnan(v);
        } else if constexpr (src_float && !dst_float) {
            constexpr bool wide = sizeof(D) == 8 || std::is_same<D, uint32_t>::value;
            double t = std::trunc(static_cast<double>(v));
            if constexpr (wide) {
                int64_t r = (t >= -9223372036854775808.0 && t < 9223372036854775808.0) ? static_cast<int64_t>(t)
                                                                                       : INT64_MIN;
                dst[i] = static_cast<D>(r);
            } else {
                int64_t r = (t >= -2147483648.0 && t < 2147483648.0) ? static_cast<int64_t>(t) : int64_t(INT32_MIN);
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
void convert_from(const void *src, void *dst, DT to, int64_t n, bool par) {
    const S *s = static_cast<const S *>(src);
    switch (to) {
        case DT::f32: convert_loop(s, static_cast<float *>(dst), n, par); break;
        case DT::f64: convert_loop(s, static_cast<double *>(dst), n, par); break;
        case DT::i8: convert_loop(s, static_cast<int8_t *>(dst), n, par); break;
        case DT::i16: convert_loop(s, static_cast<int16_t *>(dst), n, par); break;
        case DT::i32: convert_loop(s, static_cast<int32_t *>(dst), n, par); break;
        case DT::i64: convert_loop(s, static_cast<int64_t *>(dst), n, par); break;
        case DT::u8: convert_loop(s, static_cast<uint8_t *>(dst), n, par); break;
        case DT::u16: convert_loop(s, static_cast<uint16_t *>(dst), n, par); break;
        case DT::u32: convert_loop(s, static_cast<uint32_t *>(dst), n, par); break;
        case DT::u64: convert_loop(s, static_cast<uint64_t *>(dst), n, par); break;
        case DT::boolean: convert_loop(s, static_cast<bool *>(dst), n, par); break;
    }
}

struct Convert {
    DT from, to;
    int64_t count, in_itemsize, out_itemsize;
    dims_t out_shape;
    py::dtype out_dtype;
    int threads;
    std::string impl = "native:convert";

    py::array run(const py::array &x) const {
        py::array in = contiguous(x, in_itemsize, count, "Convert");
        if (dt_of(py::str(in.dtype()).cast<std::string>()) != from)
            throw std::invalid_argument("Convert: unexpected input element type");
        py::array out = new_array(out_dtype, out_shape);
        const void *s = in.data();
        void *d = out.mutable_data();
        {
            py::gil_scoped_release release;
            ThreadGuard guard(threads);
            bool par = omp_get_max_threads() > 1 && count * std::max(in_itemsize, out_itemsize) >= kParallelCopyBytes;
            switch (from) {
                case DT::f32: convert_from<float>(s, d, to, count, par); break;
                case DT::f64: convert_from<double>(s, d, to, count, par); break;
                case DT::i8: convert_from<int8_t>(s, d, to, count, par); break;
                case DT::i16: convert_from<int16_t>(s, d, to, count, par); break;
                case DT::i32: convert_from<int32_t>(s, d, to, count, par); break;
                case DT::i64: convert_from<int64_t>(s, d, to, count, par); break;
                case DT::u8: convert_from<uint8_t>(s, d, to, count, par); break;
                case DT::u16: convert_from<uint16_t>(s, d, to, count, par); break;
                case DT::u32: convert_from<uint32_t>(s, d, to, count, par); break;
                case DT::u64: convert_from<uint64_t>(s, d, to, count, par); break;
                case DT::boolean: convert_from<bool>(s, d, to, count, par); break;
            }
        }
        return out;
    }
};

// ============================================================================ Reduce (f32)
// x [outer, r, inner] -> out [outer, inner]; sums accumulate in double.

enum class RedOp { sum, mean, max, min, prod, l1, l2 };

RedOp red_of(const std::string &name) {
    static const std::unordered_map<std::string, RedOp> table = {
        {"sum", RedOp::sum}, {"mean", RedOp::mean}, {"max", RedOp::max}, {"min", RedOp::min},
        {"prod", RedOp::prod}, {"l1", RedOp::l1},    {"l2", RedOp::l2}};
    auto it = table.find(name);
    if (it == table.end()) throw std::invalid_argument("unknown reduction " + name);
    return it->second;
}

struct Reduce {
    RedOp op;
    int64_t outer, r, inner;
    dims_t out_shape;
    int threads;
    std::string impl = "native:reduce";

    template <RedOp OP>
    static double init() {
        if constexpr (OP == RedOp::max) return -std::numeric_limits<double>::infinity();
        if constexpr (OP == RedOp::min) return std::numeric_limits<double>::infinity();
        if constexpr (OP == RedOp::prod) return 1.0;
        return 0.0;
    }
    template <RedOp OP>
    static double step(double acc, float v) {
        if constexpr (OP == RedOp::max) return std::isnan(v) || std::isnan(acc) ? NAN : std::max(acc, double(v));
        if constexpr (OP == RedOp::min) return std::isnan(v) || std::isnan(acc) ? NAN : std::min(acc, double(v));
        if constexpr (OP == RedOp::prod) return acc * v;
        if constexpr (OP == RedOp::l1) return acc + std::fabs(double(v));
        if constexpr (OP == RedOp::l2) return acc + double(v) * double(v);
        return acc + v;
    }
    template <RedOp OP>
    static float finish(double acc, int64_t n) {
        if constexpr (OP == RedOp::mean) return static_cast<float>(acc / double(n));
        if constexpr (OP == RedOp::l2) return static_cast<float>(std::sqrt(acc));
        return static_cast<float>(acc);
    }

    template <RedOp OP>
    void compute(const float *x, float *y) const {
        int nt = omp_get_max_threads();
        const int64_t bytes = outer * r * inner * 4;
        if (inner == 1) {
            const bool par = nt > 1 && outer > 1 && bytes >= kParallelBytes;
#pragma omp parallel for schedule(static) if (par)
            for (int64_t o = 0; o < outer; ++o) {
                const float *row = x + o * r;
                // 8 independent accumulators (vectorisable without reassociation)
                double acc[8];
                for (int j = 0; j < 8; ++j) acc[j] = init<OP>();
                int64_t i = 0;
                for (; i + 8 <= r; i += 8)
                    for (int j = 0; j < 8; ++j) acc[j] = step<OP>(acc[j], row[i + j]);
                double a = init<OP>();
                for (int j = 0; j < 8; ++j) {
                    if constexpr (OP == RedOp::max || OP == RedOp::min)
                        a = std::isnan(acc[j]) || std::isnan(a) ? NAN
                            : (OP == RedOp::max ? std::max(a, acc[j]) : std::min(a, acc[j]));
                    else if constexpr (OP == RedOp::prod)
                        a *= acc[j];
                    else
                        a += acc[j];
                }
                for (; i < r; ++i) a = step<OP>(a, row[i]);
                y[o] = finish<OP>(a, r);
            }
            return;
        }
        // inner > 1: accumulate rows of `inner` into a double buffer per (outer, inner block)
        constexpr int64_t BLK = 256;
        const int64_t blocks = (inner + BLK - 1) / BLK;
        const int64_t units = outer * blocks;
        const bool par = nt > 1 && units > 1 && bytes >= kParallelBytes;
#pragma omp parallel for schedule(static) if (par)
        for (int64_t u = 0; u < units; ++u) {
            const int64_t o = u / blocks, b0 = (u % blocks) * BLK, b1 = std::min(inner, b0 + BLK);
            double acc[BLK];
            for (int64_t j = 0; j < b1 - b0; ++j) acc[j] = init<OP>();
            const float *base = x + o * r * inner;
            for (int64_t i = 0; i < r; ++i) {
                const float *row = base + i * inner + b0;
                for (int64_t j = 0; j < b1 - b0; ++j) acc[j] = step<OP>(acc[j], row[j]);
            }
            for (int64_t j = 0; j < b1 - b0; ++j) y[o * inner + b0 + j] = finish<OP>(acc[j], r);
        }
    }

    py::array run(const py::array &x) const {
        py::array in = contiguous(x, 4, outer * r * inner, "Reduce");
        py::array out = new_array(py::dtype::of<float>(), out_shape);
        const float *s = static_cast<const float *>(in.data());
        float *d = static_cast<float *>(out.mutable_data());
        {
            py::gil_scoped_release release;
            ThreadGuard guard(threads);
            switch (op) {
                case RedOp::sum: compute<RedOp::sum>(s, d); break;
                case RedOp::mean: compute<RedOp::mean>(s, d); break;
                case RedOp::max: compute<RedOp::max>(s, d); break;
                case RedOp::min: compute<RedOp::min>(s, d); break;
                case RedOp::prod: compute<RedOp::prod>(s, d); break;
                case RedOp::l1: compute<RedOp::l1>(s, d); break;
                case RedOp::l2: compute<RedOp::l2>(s, d); break;
            }
        }
        return out;
    }
};

// ============================================================================ vector helpers

#ifdef IE_TF_X86
#define IE_TF_AVX512 __attribute__((target("avx512f,avx512dq")))

IE_TF_AVX512 static inline __m512 exp512(__m512 x) {
    // Cephes expf: exp(x) = 2^n * exp(r), r = x - n ln2 in [-ln2/2, ln2/2]; inputs below
    // -87.3 (exp underflows the normal range), -inf and NaN give 0, above 88.7 +inf (scalef).
    const __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.33654f), _CMP_GE_OQ);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500E-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_maskz_scalef_ps(keep, p, n);
}

IE_TF_AVX512 static inline __mmask16 tail_mask(int64_t n) {
    return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u);
}
#endif

// ============================================================================ MVN (f32)
// x [outer, r, inner]: normalise over r for every (outer, inner). Mean and variance accumulate
// in double; the output is (x - mean) * 1/sqrt(var + eps) (eps inside) or
// (x - mean) / (sqrt(var) + eps) (eps outside), or x - mean without normalize_variance.

#ifdef IE_TF_X86
IE_TF_AVX512 static void mvn_row_avx512(const float *x, float *y, int64_t n, float eps, bool inside, bool norm_var,
                                        const float *gamma, const float *beta) {
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
    }
    if (i < n) {
        __m512 v = _mm512_maskz_loadu_ps(tail_mask(n - i), x + i);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
    }
    const double mean_d = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1)) / double(n);
    const __m512 mean = _mm512_set1_ps(static_cast<float>(mean_d));
    float scale = 1.0f;
    if (norm_var) {
        const __m512d md = _mm512_set1_pd(mean_d);
        __m512d q0 = _mm512_setzero_pd(), q1 = _mm512_setzero_pd();
        for (i = 0; i < n; i += 16) {
            __m512 v = _mm512_maskz_loadu_ps(tail_mask(n - i), x + i);
            __m512d a = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(v)), md);
            __m512d b = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)), md);
            if (n - i < 16) {  // zero the padding lanes (they hold -mean)
                __mmask16 m = tail_mask(n - i);
                a = _mm512_maskz_mov_pd(__mmask8(m & 0xFF), a);
                b = _mm512_maskz_mov_pd(__mmask8(m >> 8), b);
            }
            q0 = _mm512_fmadd_pd(a, a, q0);
            q1 = _mm512_fmadd_pd(b, b, q1);
        }
        const double var = _mm512_reduce_add_pd(_mm512_add_pd(q0, q1)) / double(n);
        scale = static_cast<float>(inside ? 1.0 / std::sqrt(var + double(eps)) : 1.0 / (std::sqrt(var) + double(eps)));
    }
    const __m512 sc = _mm512_set1_ps(scale);
    for (i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mean), sc);
        if (gamma) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, gamma + i));
        if (beta) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, beta + i));
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}
#endif

static void mvn_row_scalar(const float *x, float *y, int64_t n, float eps, bool inside, bool norm_var,
                           const float *gamma, const float *beta) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j) acc[j] += x[i + j];
    double s = 0;
    for (int j = 0; j < 8; ++j) s += acc[j];
    for (; i < n; ++i) s += x[i];
    const double mean = s / double(n);
    float scale = 1.0f;
    if (norm_var) {
        double q = 0;
        for (i = 0; i < n; ++i) {
            double d = x[i] - mean;
            q += d * d;
        }
        const double var = q / double(n);
        scale = static_cast<float>(inside ? 1.0 / std::sqrt(var + double(eps)) : 1.0 / (std::sqrt(var) + double(eps)));
    }
    const float m = static_cast<float>(mean);
    for (i = 0; i < n; ++i) {
        float v = (x[i] - m) * scale;
        if (gamma) v *= gamma[i];
        if (beta) v += beta[i];
        y[i] = v;
    }
}

void LayerNorm::execute(const float *x, float *y) const {
    const float *g = gamma.empty() ? nullptr : gamma.data();
    const float *b = beta.empty() ? nullptr : beta.data();
    const bool avx = has_avx512();
    const bool par = omp_get_max_threads() > 1 && rows > 1 && rows * n * 4 >= kParallelBytes / 2;
#pragma omp parallel for schedule(static) if (par)
    for (int64_t o = 0; o < rows; ++o) {
#ifdef IE_TF_X86
        if (avx) {
            mvn_row_avx512(x + o * n, y + o * n, n, eps, inside, norm_var, g, b);
            continue;
        }
#endif
        mvn_row_scalar(x + o * n, y + o * n, n, eps, inside, norm_var, g, b);
    }
}

std::string LayerNorm::impl() const { return has_avx512() ? "native:avx512" : "native"; }

struct Mvn {
    int64_t outer, r, inner;
    float eps;
    bool inside, norm_var;
    dims_t out_shape;
    int threads;
    std::string impl;

    void compute(const float *x, float *y) const {
        const int nt = omp_get_max_threads();
        const int64_t bytes = outer * r * inner * 4;
        if (inner == 1) {
            LayerNorm rows_norm;
            rows_norm.rows = outer;
            rows_norm.n = r;
            rows_norm.eps = eps;
            rows_norm.inside = inside;
            rows_norm.norm_var = norm_var;
            rows_norm.execute(x, y);
            return;
        }
        constexpr int64_t BLK = 256;
        const int64_t blocks = (inner + BLK - 1) / BLK;
        const int64_t units = outer * blocks;
        const bool par = nt > 1 && units > 1 && bytes >= kParallelBytes / 2;
#pragma omp parallel for schedule(static) if (par)
        for (int64_t u = 0; u < units; ++u) {
            const int64_t o = u / blocks, b0 = (u % blocks) * BLK, w = std::min(inner, b0 + BLK) - b0;
            double mean[BLK], q[BLK];
            float scale[BLK], meanf[BLK];
            for (int64_t j = 0; j < w; ++j) mean[j] = q[j] = 0.0;
            const float *base = x + o * r * inner + b0;
            float *out = y + o * r * inner + b0;
            for (int64_t i = 0; i < r; ++i)
                for (int64_t j = 0; j < w; ++j) mean[j] += base[i * inner + j];
            for (int64_t j = 0; j < w; ++j) mean[j] /= double(r);
            if (norm_var) {
                for (int64_t i = 0; i < r; ++i)
                    for (int64_t j = 0; j < w; ++j) {
                        double d = base[i * inner + j] - mean[j];
                        q[j] += d * d;
                    }
            }
            for (int64_t j = 0; j < w; ++j) {
                double var = q[j] / double(r);
                scale[j] = !norm_var ? 1.0f
                                     : static_cast<float>(inside ? 1.0 / std::sqrt(var + double(eps))
                                                                 : 1.0 / (std::sqrt(var) + double(eps)));
                meanf[j] = static_cast<float>(mean[j]);
            }
            for (int64_t i = 0; i < r; ++i)
                for (int64_t j = 0; j < w; ++j) out[i * inner + j] = (base[i * inner + j] - meanf[j]) * scale[j];
        }
    }

    py::array run(const py::array &x) const {
        py::array in = contiguous(x, 4, outer * r * inner, "MVN");
        py::array out = new_array(py::dtype::of<float>(), out_shape);
        const float *s = static_cast<const float *>(in.data());
        float *d = static_cast<float *>(out.mutable_data());
        {
            py::gil_scoped_release release;
            ThreadGuard guard(threads);
            compute(s, d);
        }
        return out;
    }
};

// ============================================================================ attention
// scores = Q Kᵀ (oneDNN matmul, batch-broadcast, Q and K read through their views),
// softmax(scores * scale + mask) per row (in place, fused, AVX-512 exp), out = P V (oneDNN
// matmul writing through the output's view). bf16: Q, K and V are first converted to bf16
// (unless they are bf16 already) and P is rounded to bf16; both products accumulate in f32.

// the engine of the native programs too: their streams run these primitives
using iecpu::cpu_engine;

struct AlignedBuf {
    std::unique_ptr<char[]> raw;
    void *ptr = nullptr;
    explicit AlignedBuf(size_t bytes) : raw(new char[bytes + 64]) {
        ptr = reinterpret_cast<void *>((reinterpret_cast<uintptr_t>(raw.get()) + 63) & ~uintptr_t(63));
    }
};

size_t align64(size_t n) { return (n + 63) & ~size_t(63); }

// f32 -> bf16, rounding to nearest even (NaN stays NaN)
static inline uint16_t bf16_of(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
    return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

bool has_avx512_bf16() {
#ifdef IE_TF_X86
    static const bool ok = has_avx512() && __builtin_cpu_supports("avx512bf16");
    return ok;
#else
    return false;
#endif
}

#ifdef IE_TF_X86
IE_TF_AVX512 __attribute__((target("avx512bf16"))) static void bf16_row_avx512(const float *x, uint16_t *y,
                                                                               int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + i));
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(y + i), reinterpret_cast<__m256i &>(h));
    }
    for (; i < n; ++i) y[i] = bf16_of(x[i]);
}
#endif

static void bf16_row(const float *x, uint16_t *y, int64_t n) {
#ifdef IE_TF_X86
    if (has_avx512_bf16()) return bf16_row_avx512(x, y, n);
#endif
    for (int64_t i = 0; i < n; ++i) y[i] = bf16_of(x[i]);
}

// Whether `view` sees each of prod(dims) consecutive elements once (its strides are a permutation
// of dense ones): a transposed dense tensor, which can be converted to bf16 as it lies and read
// through the same strides.
static bool covers_dense_span(const StridedView &view) {
    std::vector<std::pair<int64_t, int64_t>> by_stride;  // (stride, dim) of the dims > 1
    for (size_t i = 0; i < view.dims.size(); ++i)
        if (view.dims[i] > 1) by_stride.emplace_back(view.strides[i], view.dims[i]);
    std::sort(by_stride.begin(), by_stride.end());
    int64_t expected = 1;
    for (auto &[stride, dim] : by_stride) {
        if (stride != expected) return false;
        expected *= dim;
    }
    return true;
}

// bf16 copy of n consecutive f32 values
static void convert_bf16(const float *src, uint16_t *dst, int64_t n) {
    constexpr int64_t kBlock = 4096;
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    const bool par = omp_get_max_threads() > 1 && blocks > 1 && n * 4 >= kParallelBytes;
#pragma omp parallel for schedule(static) if (par)
    for (int64_t b = 0; b < blocks; ++b)
        bf16_row(src + b * kBlock, dst + b * kBlock, std::min(kBlock, n - b * kBlock));
}


#ifdef IE_TF_X86
// row[s] = exp(row[s] * scale + mask[s * mstride] - max) over s < n (columns >= valid masked out);
// returns 1 / their sum.
IE_TF_AVX512 static inline float softmax_exp_avx512(float *row, int64_t n, float scale, const float *mask,
                                                    int64_t mstride, int64_t valid) {
    const __m512 vs = _mm512_set1_ps(scale);
    const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    __m512 vmax = ninf;
    const __m512 mscalar = mask && mstride == 0 ? _mm512_set1_ps(mask[0]) : _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row + i), vs);
        if (mask) v = _mm512_add_ps(v, mstride ? _mm512_maskz_loadu_ps(m, mask + i) : mscalar);
        if (valid < n && i + 16 > valid) {
            __mmask16 ok = valid > i ? tail_mask(valid - i) : __mmask16(0);
            v = _mm512_mask_mov_ps(ninf, ok, v);
        }
        _mm512_mask_storeu_ps(row + i, m, v);
        vmax = _mm512_mask_max_ps(vmax, m, vmax, v);
    }
    const float mx = _mm512_reduce_max_ps(vmax);
    const __m512 vm = _mm512_set1_ps(mx);
    __m512 vsum = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + i), vm));
        e = _mm512_maskz_mov_ps(m, e);
        _mm512_mask_storeu_ps(row + i, m, e);
        vsum = _mm512_add_ps(vsum, e);
    }
    return 1.0f / _mm512_reduce_add_ps(vsum);
}

// row[s] = softmax(row[s] * scale + mask[s * mstride]) over s < n; columns >= valid are masked out.
IE_TF_AVX512 static void softmax_row_avx512(float *row, int64_t n, float scale, const float *mask, int64_t mstride,
                                            int64_t valid) {
    const __m512 inv = _mm512_set1_ps(softmax_exp_avx512(row, n, scale, mask, mstride, valid));
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(row + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row + i), inv));
    }
}

// The same softmax written as bf16 to `out` (`row` is left with the unnormalised exponentials).
IE_TF_AVX512 __attribute__((target("avx512bf16"))) static void softmax_row_bf16_avx512(
    float *row, int64_t n, float scale, const float *mask, int64_t mstride, int64_t valid, uint16_t *out) {
    const float inv = softmax_exp_avx512(row, n, scale, mask, mstride, valid);
    const __m512 vinv = _mm512_set1_ps(inv);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256bh h = _mm512_cvtneps_pbh(_mm512_mul_ps(_mm512_loadu_ps(row + i), vinv));
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(out + i), reinterpret_cast<__m256i &>(h));
    }
    for (; i < n; ++i) out[i] = bf16_of(row[i] * inv);
}
#endif

static void softmax_row_scalar(float *row, int64_t n, float scale, const float *mask, int64_t mstride, int64_t valid) {
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n; ++i) {
        float v = row[i] * scale;
        if (mask) v += mask[i * mstride];
        if (i >= valid) v = -std::numeric_limits<float>::infinity();
        row[i] = v;
        mx = std::max(mx, v);
    }
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
        row[i] = std::exp(row[i] - mx);
        sum += row[i];
    }
    const float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; ++i) row[i] *= inv;
}

// A oneDNN matmul c = a @ b on the given memory descriptors, with a user scratchpad.
struct Matmul {
    dnnl::matmul prim;
    dnnl::memory::desc a_md, b_md, c_md, scratch_md;
    std::string impl;

    Matmul() = default;
    Matmul(const dnnl::memory::desc &a, const dnnl::memory::desc &b, const dnnl::memory::desc &c)
        : a_md(a), b_md(b), c_md(c) {
        dnnl::matmul::primitive_desc pd(cpu_engine(), a_md, b_md, c_md, iecpu::user_scratchpad_attr());
        prim = dnnl::matmul(pd);
        scratch_md = pd.scratchpad_desc();
        impl = pd.impl_info_str();
    }

    void execute(dnnl::stream &strm, const void *a, const void *b, void *c, void *scratch) const {
        auto &eng = cpu_engine();
        std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, dnnl::memory(a_md, eng, const_cast<void *>(a))},
                                                   {DNNL_ARG_WEIGHTS, dnnl::memory(b_md, eng, const_cast<void *>(b))},
                                                   {DNNL_ARG_DST, dnnl::memory(c_md, eng, c)}};
        if (scratch_md.get_size()) args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(scratch_md, eng, scratch));
        prim.execute(strm, args);
    }
};

struct Attention::State {
    dims_t batch;  // the broadcast batch dims
    int64_t L = 0, S = 0, E = 0, Ev = 0;
    bool causal = false, has_mask = false, bf16 = false, convert_inputs = false;
    std::vector<int64_t> row_mask_off;  // per scores row: offset of its mask row
    int64_t mask_col_stride = 0;
    StridedView q, k, v;  // the inputs (f32 ones converted to bf16 as they lie under bf16)
    Matmul qk, pv;
    // scratch: scores (f32), bf16 P, Q, K, V, the matmuls' scratchpad
    size_t scores_at = 0, probs_at = 0, q_at = 0, k_at = 0, v_at = 0, matmul_at = 0, bytes = 0;
    std::string impl;
};

Attention::Attention(const StridedView &q, const StridedView &k, const StridedView &v, const StridedView &out,
                     const dims_t &mask_shape, bool has_mask, bool causal, bool bf16, bool bf16_in,
                     bool bf16_out) {
    using dt = dnnl::memory::data_type;
    using md = dnnl::memory::desc;
    const size_t rank = q.dims.size();
    if (rank < 3 || rank > 12) throw std::invalid_argument("attention: unsupported rank");
    for (const StridedView *x : {&q, &k, &v, &out})
        if (x->dims.size() != rank || x->strides.size() != rank)
            throw std::invalid_argument("attention: views of different ranks");
    auto st = std::make_shared<State>();
    st->L = q.dims[rank - 2];
    st->E = q.dims[rank - 1];
    st->S = k.dims[rank - 2];
    st->Ev = v.dims[rank - 1];
    if (k.dims[rank - 1] != st->E || v.dims[rank - 2] != st->S)
        throw std::invalid_argument("attention: shapes do not fit");
    for (size_t i = 0; i + 2 < rank; ++i) {
        int64_t b = std::max({q.dims[i], k.dims[i], v.dims[i]});
        for (auto d : {q.dims[i], k.dims[i], v.dims[i]})
            if (d != b && d != 1) throw std::invalid_argument("attention: batch dims do not broadcast");
        st->batch.push_back(b);
    }
    dims_t sc = st->batch, od = st->batch;
    sc.insert(sc.end(), {st->L, st->S});
    od.insert(od.end(), {st->L, st->Ev});
    if (out.dims != od) throw std::invalid_argument("attention: unexpected output shape");
    st->causal = causal;
    st->bf16 = bf16 || bf16_in;
    st->convert_inputs = bf16 && !bf16_in;
    st->q = q;
    st->k = k;
    st->v = v;

    size_t end = 0;
    auto take = [&end](size_t bytes) {
        size_t at = end;
        end += align64(bytes);
        return at;
    };
    const dt ct = st->bf16 ? dt::bf16 : dt::f32;
    // swap_last: [.., S, E] read as [.., E, S]
    auto view_md = [&](const dims_t &dims, dims_t strides, bool swap_last) {
        dims_t d = dims;
        if (swap_last) {
            std::swap(d[rank - 1], d[rank - 2]);
            std::swap(strides[rank - 1], strides[rank - 2]);
        }
        return md(d, ct, strides);
    };
    st->scores_at = take(prod(sc) * 4);
    if (st->bf16) st->probs_at = take(prod(sc) * 2);
    if (st->convert_inputs) {  // converted as they lie: read through the same strides
        for (const StridedView *x : {&q, &k, &v})
            if (!covers_dense_span(*x))
                throw std::invalid_argument("attention: f32 inputs under bf16 must be transposed dense tensors");
        st->q_at = take(prod(q.dims) * 2);
        st->k_at = take(prod(k.dims) * 2);
        st->v_at = take(prod(v.dims) * 2);
    }
    md a = view_md(q.dims, q.strides, false), b = view_md(k.dims, k.strides, true),
       p = view_md(sc, dense_strides(sc), false), vv = view_md(v.dims, v.strides, false);
    st->qk = Matmul(a, b, md(sc, dt::f32, dense_strides(sc)));
    st->pv = Matmul(p, vv, md(out.dims, bf16_out ? dt::bf16 : dt::f32, out.strides));
    st->matmul_at = take(std::max(st->qk.scratch_md.get_size(), st->pv.scratch_md.get_size()));
    st->bytes = end;
    st->impl = "attention:" + st->qk.impl;

    st->has_mask = has_mask && !causal;
    if (st->has_mask) {
        if (mask_shape.size() > rank) throw std::invalid_argument("attention: mask rank too high");
        dims_t m = pad_to(mask_shape, rank);
        dims_t ms = dense_strides(m);
        for (size_t i = 0; i < rank; ++i) {
            int64_t full = sc[i];
            if (m[i] != full && m[i] != 1) throw std::invalid_argument("attention: mask does not broadcast");
            if (m[i] == 1) ms[i] = 0;
        }
        st->mask_col_stride = ms[rank - 1];
        const int64_t rows = prod(st->batch) * st->L;
        st->row_mask_off.resize(rows);
        for (int64_t r = 0; r < rows; ++r) {
            int64_t rem = r, off = (rem % st->L) * ms[rank - 2];
            rem /= st->L;
            for (int i = static_cast<int>(rank) - 3; i >= 0; --i) {
                off += (rem % st->batch[i]) * ms[i];
                rem /= st->batch[i];
            }
            st->row_mask_off[r] = off;
        }
    }
    state_ = st;
}

size_t Attention::scratch_bytes() const { return state_->bytes; }
const std::string &Attention::impl() const { return state_->impl; }
float Attention::default_scale() const { return static_cast<float>(1.0 / std::sqrt(double(state_->E))); }

void Attention::execute(dnnl::stream &strm, const void *q, const void *k, const void *v, const float *mask,
                        float scale, void *out, void *scratch) const {
    const State &s = *state_;
    char *base = static_cast<char *>(scratch);
    float *scores = reinterpret_cast<float *>(base + s.scores_at);
    uint16_t *probs = reinterpret_cast<uint16_t *>(base + s.probs_at);
    const void *a = q, *b = k, *vv = v;
    if (s.convert_inputs) {
        convert_bf16(static_cast<const float *>(q), reinterpret_cast<uint16_t *>(base + s.q_at), prod(s.q.dims));
        convert_bf16(static_cast<const float *>(k), reinterpret_cast<uint16_t *>(base + s.k_at), prod(s.k.dims));
        convert_bf16(static_cast<const float *>(v), reinterpret_cast<uint16_t *>(base + s.v_at), prod(s.v.dims));
        a = base + s.q_at;
        b = base + s.k_at;
        vv = base + s.v_at;
    }
    s.qk.execute(strm, a, b, scores, base + s.matmul_at);
    strm.wait();
    const int64_t rows = prod(s.batch) * s.L, S = s.S;
    const bool avx = has_avx512(), avx_bf16 = has_avx512_bf16();
    const bool par = omp_get_max_threads() > 1 && rows > 1;
#pragma omp parallel for schedule(static) if (par)
    for (int64_t r = 0; r < rows; ++r) {
        float *row = scores + r * S;
        const float *mrow = s.has_mask ? mask + s.row_mask_off[r] : nullptr;
        const int64_t valid = s.causal ? std::min<int64_t>(r % s.L + 1, S) : S;
#ifdef IE_TF_X86
        if (s.bf16 && avx_bf16) {
            softmax_row_bf16_avx512(row, S, scale, mrow, s.mask_col_stride, valid, probs + r * S);
            continue;
        }
        if (avx)
            softmax_row_avx512(row, S, scale, mrow, s.mask_col_stride, valid);
        else
#endif
            softmax_row_scalar(row, S, scale, mrow, s.mask_col_stride, valid);
        if (s.bf16) bf16_row(row, probs + r * S, S);
    }
    s.pv.execute(strm, s.bf16 ? static_cast<const void *>(probs) : scores, vv, out, base + s.matmul_at);
    strm.wait();
}

struct Sdpa {
    dims_t out_shape;
    int64_t q_count = 0, k_count = 0, v_count = 0, mask_count = 0;
    bool has_mask = false, mask_bool = false, has_scale_input = false;
    std::shared_ptr<Attention> attention;
    int threads = 0;
    std::string impl;

    py::array run(const std::vector<py::object> &objs) const {
        const size_t want = has_scale_input ? 5 : (has_mask ? 4 : 3);
        if (objs.size() < want) throw std::invalid_argument("ScaledDotProductAttention: missing inputs");
        std::vector<py::array> xs;
        for (size_t i = 0; i < want; ++i) {
            xs.push_back(py::array::ensure(objs[i]));
            if (!xs.back()) throw std::invalid_argument("ScaledDotProductAttention: an input is not an array");
        }
        py::array qa = contiguous(xs[0], 4, q_count, "SDPA query");
        py::array ka = contiguous(xs[1], 4, k_count, "SDPA key");
        py::array va = contiguous(xs[2], 4, v_count, "SDPA value");
        py::array ma;
        if (has_mask) ma = contiguous(xs[3], mask_bool ? 1 : 4, mask_count, "SDPA mask");
        float scale = attention->default_scale();
        if (has_scale_input) {
            py::array sa = py::array::ensure(xs[4], py::array::c_style);
            if (!sa || sa.size() < 1) throw std::invalid_argument("SDPA scale input is empty");
            py::array_t<float, py::array::forcecast> sf(sa);
            scale = sf.data()[0];
        }
        py::array out = new_array(py::dtype::of<float>(), out_shape);
        const float *qp = static_cast<const float *>(qa.data());
        const float *kp = static_cast<const float *>(ka.data());
        const float *vp = static_cast<const float *>(va.data());
        const void *mp = has_mask ? ma.data() : nullptr;
        float *op = static_cast<float *>(out.mutable_data());
        {
            py::gil_scoped_release release;
            ThreadGuard guard(threads);
            AlignedBuf scratch(attention->scratch_bytes());
            std::unique_ptr<AlignedBuf> mbuf;
            const float *mask = static_cast<const float *>(mp);
            if (has_mask && mask_bool) {
                mbuf.reset(new AlignedBuf(static_cast<size_t>(mask_count) * sizeof(float)));
                float *m = static_cast<float *>(mbuf->ptr);
                const uint8_t *b = static_cast<const uint8_t *>(mp);
                for (int64_t i = 0; i < mask_count; ++i) m[i] = b[i] ? 0.0f : -std::numeric_limits<float>::infinity();
                mask = m;
            }
            dnnl::stream strm(cpu_engine());
            attention->execute(strm, qp, kp, vp, mask, scale, op, scratch.ptr);
        }
        return out;
    }
};

// ---------------------------------------------------------------------------- factories

std::shared_ptr<StridedCopy> make_transpose(const dims_t &in_shape, const dims_t &order, const py::dtype &dt,
                                            int threads) {
    if (order.size() != in_shape.size()) throw std::invalid_argument("order has the wrong length");
    dims_t in_str = dense_strides(in_shape), out_dims, strides;
    for (auto a : order) {
        if (a < 0 || a >= static_cast<int64_t>(in_shape.size())) throw std::invalid_argument("bad order");
        out_dims.push_back(in_shape[a]);
        strides.push_back(in_str[a]);
    }
    return std::make_shared<StridedCopy>(out_dims, strides, prod(in_shape), dt, threads);
}

// `view` is the input's shape aligned to the output's rank (1 = broadcast)
std::shared_ptr<StridedCopy> make_broadcast(const dims_t &view, const dims_t &out_shape, const py::dtype &dt,
                                            int threads) {
    if (view.size() != out_shape.size()) throw std::invalid_argument("view and output ranks differ");
    dims_t in_str = dense_strides(view), strides;
    for (size_t i = 0; i < view.size(); ++i) {
        if (view[i] != out_shape[i] && view[i] != 1) throw std::invalid_argument("not broadcastable");
        strides.push_back(view[i] == out_shape[i] ? in_str[i] : 0);
    }
    return std::make_shared<StridedCopy>(out_shape, strides, prod(view), dt, threads);
}

std::shared_ptr<Gather> make_gather(const dims_t &data, const dims_t &indices, int64_t axis, int64_t idx_itemsize,
                                    const py::dtype &dt, int threads) {
    if (axis < 0 || axis >= static_cast<int64_t>(data.size())) throw std::invalid_argument("bad axis");
    auto g = std::make_shared<Gather>();
    g->outer = prod(data, 0, axis);
    g->dim = data[axis];
    g->inner = prod(data, axis + 1);
    g->k = prod(indices);
    g->itemsize = dt.itemsize();
    g->idx_size = idx_itemsize;
    g->dtype = dt;
    g->threads = threads;
    for (int64_t i = 0; i < axis; ++i) g->out_shape.push_back(data[i]);
    for (auto d : indices) g->out_shape.push_back(d);
    for (size_t i = axis + 1; i < data.size(); ++i) g->out_shape.push_back(data[i]);
    return g;
}

std::shared_ptr<Concat> make_concat(const std::vector<dims_t> &shapes, int64_t axis, const py::dtype &dt,
                                    int threads) {
    if (shapes.empty()) throw std::invalid_argument("no inputs");
    auto c = std::make_shared<Concat>();
    const dims_t &first = shapes[0];
    c->outer = prod(first, 0, axis);
    c->inner = prod(first, axis + 1);
    c->itemsize = dt.itemsize();
    c->dtype = dt;
    c->threads = threads;
    c->out_shape = first;
    c->out_shape[axis] = 0;
    for (auto &s : shapes) {
        c->axis_dims.push_back(s[axis]);
        c->out_shape[axis] += s[axis];
    }
    return c;
}

std::shared_ptr<Convert> make_convert(const dims_t &shape, const py::dtype &from, const py::dtype &to, int threads) {
    auto c = std::make_shared<Convert>();
    c->from = dt_of(py::str(from).cast<std::string>());
    c->to = dt_of(py::str(to).cast<std::string>());
    c->count = prod(shape);
    c->in_itemsize = from.itemsize();
    c->out_itemsize = to.itemsize();
    c->out_shape = shape;
    c->out_dtype = to;
    c->threads = threads;
    return c;
}

std::shared_ptr<Reduce> make_reduce(const std::string &op, int64_t outer, int64_t r, int64_t inner,
                                    const dims_t &out_shape, int threads) {
    auto p = std::make_shared<Reduce>();
    p->op = red_of(op);
    p->outer = outer;
    p->r = r;
    p->inner = inner;
    p->out_shape = out_shape;
    p->threads = threads;
    return p;
}

std::shared_ptr<Mvn> make_mvn(int64_t outer, int64_t r, int64_t inner, float eps, bool inside, bool norm_var,
                              const dims_t &shape, int threads) {
    auto m = std::make_shared<Mvn>();
    m->outer = outer;
    m->r = r;
    m->inner = inner;
    m->eps = eps;
    m->inside = inside;
    m->norm_var = norm_var;
    m->out_shape = shape;
    m->threads = threads;
    m->impl = inner == 1 && has_avx512() ? "native:avx512" : "native";
    return m;
}

std::shared_ptr<Sdpa> make_sdpa(const dims_t &q_shape, const dims_t &k_shape, const dims_t &v_shape,
                                const dims_t &mask_shape, bool has_mask, bool mask_bool, bool causal,
                                bool has_scale_input, const dims_t &out_shape, int threads) {
    ThreadGuard guard(threads);
    const size_t rank = std::max({q_shape.size(), k_shape.size(), v_shape.size()});
    if (rank < 3 || rank > 12) throw std::invalid_argument("SDPA: unsupported rank");
    auto dense = [rank](const dims_t &shape) {
        dims_t d = pad_to(shape, rank);
        return StridedView{d, dense_strides(d)};
    };
    StridedView q = dense(q_shape), k = dense(k_shape), v = dense(v_shape);
    dims_t out;
    for (size_t i = 0; i + 2 < rank; ++i) out.push_back(std::max({q.dims[i], k.dims[i], v.dims[i]}));
    out.insert(out.end(), {q.dims[rank - 2], v.dims[rank - 1]});
    if (prod(out) != prod(out_shape)) throw std::invalid_argument("SDPA: unexpected output shape");
    auto p = std::make_shared<Sdpa>();
    p->attention = std::make_shared<Attention>(q, k, v, StridedView{out, dense_strides(out)}, mask_shape, has_mask,
                                               causal, false, false, false);
    p->out_shape = out_shape;
    p->q_count = prod(q.dims);
    p->k_count = prod(k.dims);
    p->v_count = prod(v.dims);
    p->has_mask = has_mask && !causal;
    p->mask_bool = mask_bool;
    p->mask_count = has_mask ? prod(mask_shape) : 0;
    p->has_scale_input = has_scale_input;
    p->threads = threads;
    p->impl = "native:" + p->attention->impl() + (has_avx512() ? "+avx512" : "");
    return p;
}

}  // namespace ie_tf

void transformer_module(py::module_ &parent) {
    using namespace ie_tf;
    py::module_ m = parent.def_submodule("transformer", "native transformer and data-movement kernels");

    py::class_<StridedCopy, std::shared_ptr<StridedCopy>>(m, "StridedCopy")
        .def("run", &StridedCopy::run, py::arg("x"))
        .def_readonly("impl", &StridedCopy::impl)
        .def_readonly("dims", &StridedCopy::dims)
        .def_readonly("strides", &StridedCopy::strides);
    py::class_<Gather, std::shared_ptr<Gather>>(m, "Gather")
        .def("run", &Gather::run, py::arg("data"), py::arg("indices"))
        .def_readonly("impl", &Gather::impl);
    py::class_<Concat, std::shared_ptr<Concat>>(m, "Concat")
        .def("run", &Concat::run, py::arg("inputs"))
        .def_readonly("impl", &Concat::impl);
    py::class_<Convert, std::shared_ptr<Convert>>(m, "Convert")
        .def("run", &Convert::run, py::arg("x"))
        .def_readonly("impl", &Convert::impl);
    py::class_<Reduce, std::shared_ptr<Reduce>>(m, "Reduce")
        .def("run", &Reduce::run, py::arg("x"))
        .def_readonly("impl", &Reduce::impl);
    py::class_<Mvn, std::shared_ptr<Mvn>>(m, "Mvn")
        .def("run", &Mvn::run, py::arg("x"))
        .def_readonly("impl", &Mvn::impl);
    py::class_<Sdpa, std::shared_ptr<Sdpa>>(m, "Sdpa")
        .def("run", &Sdpa::run, py::arg("inputs"))
        .def_readonly("impl", &Sdpa::impl);

    m.def("transpose", &make_transpose, py::arg("in_shape"), py::arg("order"), py::arg("dtype"),
          py::arg("threads") = 0);
    m.def("broadcast", &make_broadcast, py::arg("view"), py::arg("out_shape"), py::arg("dtype"),
          py::arg("threads") = 0);
    m.def("gather", &make_gather, py::arg("data"), py::arg("indices"), py::arg("axis"), py::arg("index_itemsize"),
          py::arg("dtype"), py::arg("threads") = 0);
    m.def("concat", &make_concat, py::arg("shapes"), py::arg("axis"), py::arg("dtype"), py::arg("threads") = 0);
    m.def("convert", &make_convert, py::arg("shape"), py::arg("src"), py::arg("dst"), py::arg("threads") = 0);
    m.def("reduce", &make_reduce, py::arg("op"), py::arg("outer"), py::arg("r"), py::arg("inner"),
          py::arg("out_shape"), py::arg("threads") = 0);
    m.def("mvn", &make_mvn, py::arg("outer"), py::arg("r"), py::arg("inner"), py::arg("eps"), py::arg("inside"),
          py::arg("normalize_variance"), py::arg("shape"), py::arg("threads") = 0);
    m.def("sdpa", &make_sdpa, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("mask_shape"), py::arg("has_mask"),
          py::arg("mask_bool"), py::arg("causal"), py::arg("has_scale_input"), py::arg("out_shape"),
          py::arg("threads") = 0);
    m.def("has_avx512", &has_avx512, "whether the AVX-512 paths run on this CPU");
}
