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
// oneDNN primitives do what they can: the attention's two matrix products (matmul), LayerNorm
// with eps inside the square root (layer normalization) and the f32 -> bf16 conversions
// (reorder). The other loops (the attention's fused scale/mask/softmax, the other MVN forms,
// reductions, Convert, strided copies) are vec_kernels.hpp's, compiled per instruction set and
// chosen at run time like oneDNN's (isa.hpp): implementation names end in the set in use
// ("native:reduce_avx2", "attention:brg:avx512_core:softmax_avx512_core").
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
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "common.hpp"
#include "isa.hpp"
#include "transformer.hpp"
#include "vec_kernels.hpp"

namespace py = pybind11;

namespace ie_tf {

using iecpu::dense_strides;
using iecpu::ThreadGuard;
using iecpu::vec::DT;
using iecpu::vec::RedOp;

// "<what>_<instruction set of the vec kernels>"
std::string native_impl(const std::string &what) { return what + "_" + iecpu::vec::kernels().isa; }

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

// Runs body(begin, end) over [0, units), split in equal chunks over the calling thread's OpenMP
// team when `parallel` (and there are a team and two units), in one call otherwise.
template <class Body>
void for_units(int64_t units, bool parallel, const Body &body) {
    const int nt = omp_get_max_threads();
    if (!parallel || nt < 2 || units < 2) {
        body(int64_t(0), units);
        return;
    }
#pragma omp parallel num_threads(static_cast<int>(std::min<int64_t>(nt, units)))
    {
        const int64_t t = omp_get_thread_num(), team = omp_get_num_threads();
        const int64_t chunk = (units + team - 1) / team;
        body(std::min(units, t * chunk), std::min(units, (t + 1) * chunk));
    }
}

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
        impl = native_impl(impl);
    }

    py::array run(const py::array &x) const {
        py::array in = contiguous(x, itemsize, in_count, "strided copy");
        py::array out = new_array(dtype, out_shape);
        const void *s = in.data();
        void *d = out.mutable_data();
        {
            py::gil_scoped_release release;
            ThreadGuard guard(threads);
            const iecpu::vec::StridedPlan plan{static_cast<int>(dims.size()), dims.data(), strides.data()};
            const int64_t units = iecpu::vec::strided_units(plan);
            const bool plain_copy = strides.back() == 1 || strides.back() == 0;
            const bool par = out_count * itemsize >= (plain_copy ? kParallelCopyBytes : kParallelBytes);
            const auto copy = iecpu::vec::kernels().strided_copy;
            const int size = static_cast<int>(itemsize);
            for_units(units, par, [&](int64_t begin, int64_t end) { copy(size, s, d, plan, begin, end); });
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
// vec_kernels.hpp's conversion: OpenVINO's CPU semantics, as ie_core's reference.

DT dt_of(const std::string &name) {
    static const std::unordered_map<std::string, DT> table = {
        {"float32", DT::f32}, {"float64", DT::f64}, {"int8", DT::i8},    {"int16", DT::i16},
        {"int32", DT::i32},   {"int64", DT::i64},   {"uint8", DT::u8},   {"uint16", DT::u16},
        {"uint32", DT::u32},  {"uint64", DT::u64},  {"bool", DT::boolean}};
    auto it = table.find(name);
    if (it == table.end()) throw std::invalid_argument("unsupported element type " + name);
    return it->second;
}

struct Convert {
    DT from, to;
    int64_t count, in_itemsize, out_itemsize;
    dims_t out_shape;
    py::dtype out_dtype;
    int threads;
    std::string impl = native_impl("native:convert");

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
            const bool par = count * std::max(in_itemsize, out_itemsize) >= kParallelCopyBytes;
            const auto convert = iecpu::vec::kernels().convert;
            for_units(count, par, [&](int64_t begin, int64_t end) { convert(from, to, s, d, begin, end); });
        }
        return out;
    }
};

// ============================================================================ Reduce (f32)
// x [outer, r, inner] -> out [outer, inner] (vec_kernels.hpp: sums accumulate in double, max and
// min propagate NaN).

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
    std::string impl = native_impl("native:reduce");

    py::array run(const py::array &x) const {
        py::array in = contiguous(x, 4, outer * r * inner, "Reduce");
        py::array out = new_array(py::dtype::of<float>(), out_shape);
        const float *s = static_cast<const float *>(in.data());
        float *d = static_cast<float *>(out.mutable_data());
        {
            py::gil_scoped_release release;
            ThreadGuard guard(threads);
            const auto reduce = iecpu::vec::kernels().reduce;
            for_units(iecpu::vec::block_units(outer, inner), outer * r * inner * 4 >= kParallelBytes,
                      [&](int64_t begin, int64_t end) { reduce(op, s, d, r, inner, begin, end); });
        }
        return out;
    }
};

// ============================================================================ oneDNN helpers

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

dnnl::memory user_memory(const dnnl::memory::desc &md, const void *ptr) {
    return dnnl::memory(md, cpu_engine(), const_cast<void *>(ptr));
}

// ============================================================================ MVN (f32)

struct LayerNorm::State {
    int64_t rows = 0, n = 0;
    float eps = 0.f;
    bool inside = true, norm_var = true;
    std::vector<float> gamma, beta;  // empty: none
    // eps inside the square root and normalize_variance: oneDNN's layer normalization
    std::optional<dnnl::layer_normalization_forward> prim;
    dnnl::memory::desc data_md, scratch_md;
    dnnl::memory scale, shift;
    std::string impl;
};

LayerNorm::LayerNorm(int64_t rows, int64_t n, float eps, bool inside, bool norm_var, std::vector<float> gamma,
                     std::vector<float> beta) {
    if (!gamma.empty() && gamma.size() != size_t(n)) throw std::invalid_argument("LayerNorm: gamma size");
    if (!beta.empty() && beta.size() != size_t(n)) throw std::invalid_argument("LayerNorm: beta size");
    auto st = std::make_shared<State>();
    st->rows = rows;
    st->n = n;
    st->eps = eps;
    st->inside = inside;
    st->norm_var = norm_var;
    st->gamma = std::move(gamma);
    st->beta = std::move(beta);
    if (inside && norm_var) {
        using flags = dnnl::normalization_flags;
        flags f = flags::none;
        if (!st->gamma.empty()) f = f | flags::use_scale;
        if (!st->beta.empty()) f = f | flags::use_shift;
        st->data_md = iecpu::plain_md({rows, n});
        dnnl::layer_normalization_forward::primitive_desc pd(cpu_engine(), dnnl::prop_kind::forward_inference,
                                                             st->data_md, st->data_md, eps, f,
                                                             iecpu::user_scratchpad_attr());
        st->prim = dnnl::layer_normalization_forward(pd);
        st->scratch_md = pd.scratchpad_desc();
        st->impl = pd.impl_info_str();
        const dnnl::memory::desc vec_md = iecpu::plain_md({n});
        if (!st->gamma.empty()) st->scale = user_memory(vec_md, st->gamma.data());
        if (!st->beta.empty()) st->shift = user_memory(vec_md, st->beta.data());
    } else {
        st->impl = native_impl("native:mvn");
    }
    state_ = st;
}

size_t LayerNorm::scratch_bytes() const { return state_->scratch_md.get_size(); }
const std::string &LayerNorm::impl() const { return state_->impl; }

void LayerNorm::execute(dnnl::stream &strm, const float *x, float *y, void *scratch) const {
    const State &s = *state_;
    if (s.prim) {
        std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, user_memory(s.data_md, x)},
                                                   {DNNL_ARG_DST, user_memory(s.data_md, y)}};
        if (s.scale) args.emplace(DNNL_ARG_SCALE, s.scale);
        if (s.shift) args.emplace(DNNL_ARG_SHIFT, s.shift);
        if (s.scratch_md.get_size()) args.emplace(DNNL_ARG_SCRATCHPAD, user_memory(s.scratch_md, scratch));
        s.prim->execute(strm, args);
        strm.wait();
        return;
    }
    const float *g = s.gamma.empty() ? nullptr : s.gamma.data();
    const float *b = s.beta.empty() ? nullptr : s.beta.data();
    const auto rows = iecpu::vec::kernels().mvn_rows;
    for_units(s.rows, s.rows * s.n * 4 >= kParallelBytes / 2,
              [&](int64_t begin, int64_t end) { rows(x, y, s.n, s.eps, s.inside, s.norm_var, g, b, begin, end); });
}

// x [outer, r, inner]: normalised over r for every (outer, inner); LayerNorm rows when inner == 1.
struct Mvn {
    iecpu::vec::MvnShape shape;
    dims_t out_shape;
    int threads;
    std::shared_ptr<LayerNorm> rows;  // inner == 1
    std::string impl;

    py::array run(const py::array &x) const {
        py::array in = contiguous(x, 4, shape.outer * shape.r * shape.inner, "MVN");
        py::array out = new_array(py::dtype::of<float>(), out_shape);
        const float *s = static_cast<const float *>(in.data());
        float *d = static_cast<float *>(out.mutable_data());
        {
            py::gil_scoped_release release;
            ThreadGuard guard(threads);
            if (rows) {
                AlignedBuf scratch(rows->scratch_bytes());
                dnnl::stream strm(cpu_engine());
                rows->execute(strm, s, d, scratch.ptr);
            } else {
                const auto blocks = iecpu::vec::kernels().mvn_blocks;
                const bool par = shape.outer * shape.r * shape.inner * 4 >= kParallelBytes / 2;
                for_units(iecpu::vec::block_units(shape.outer, shape.inner), par,
                          [&](int64_t begin, int64_t end) { blocks(s, d, shape, begin, end); });
            }
        }
        return out;
    }
};

// ============================================================================ attention
// scores = Q Kᵀ (oneDNN matmul, batch-broadcast, Q and K read through their views),
// softmax(scores * scale + mask) per row (in place, fused: vec_kernels.hpp), out = P V (oneDNN
// matmul writing through the output's view). bf16: Q, K and V are first converted to bf16
// (unless they are bf16 already; oneDNN reorders) and P is rounded to bf16; both products
// accumulate in f32.

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

// A oneDNN reorder of n consecutive f32 values into bf16.
struct ToBf16 {
    dnnl::reorder prim;
    dnnl::memory::desc from_md, to_md;

    ToBf16() = default;
    explicit ToBf16(int64_t n)
        : from_md(iecpu::plain_md({n})), to_md(iecpu::plain_md({n}, dnnl::memory::data_type::bf16)) {
        prim = dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), from_md, cpu_engine(), to_md));
    }

    void execute(dnnl::stream &strm, const void *from, void *to) const {
        prim.execute(strm, {{DNNL_ARG_FROM, user_memory(from_md, from)}, {DNNL_ARG_TO, user_memory(to_md, to)}});
    }
};



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
    ToBf16 q_bf16, k_bf16, v_bf16;  // with convert_inputs
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
        st->q_bf16 = ToBf16(prod(q.dims));
        st->k_bf16 = ToBf16(prod(k.dims));
        st->v_bf16 = ToBf16(prod(v.dims));
    }
    md a = view_md(q.dims, q.strides, false), b = view_md(k.dims, k.strides, true),
       p = view_md(sc, dense_strides(sc), false), vv = view_md(v.dims, v.strides, false);
    st->qk = Matmul(a, b, md(sc, dt::f32, dense_strides(sc)));
    st->pv = Matmul(p, vv, md(out.dims, bf16_out ? dt::bf16 : dt::f32, out.strides));
    st->matmul_at = take(std::max(st->qk.scratch_md.get_size(), st->pv.scratch_md.get_size()));
    st->bytes = end;
    st->impl = "attention:" + st->qk.impl + ":" + native_impl("softmax");

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
        a = base + s.q_at;
        b = base + s.k_at;
        vv = base + s.v_at;
        s.q_bf16.execute(strm, q, base + s.q_at);
        s.k_bf16.execute(strm, k, base + s.k_at);
        s.v_bf16.execute(strm, v, base + s.v_at);
    }
    s.qk.execute(strm, a, b, scores, base + s.matmul_at);
    strm.wait();
    const int64_t rows = prod(s.batch) * s.L, S = s.S;
    const auto softmax = iecpu::vec::kernels().softmax_row;
    const bool par = omp_get_max_threads() > 1 && rows > 1;
#pragma omp parallel for schedule(static) if (par)
    for (int64_t r = 0; r < rows; ++r) {
        const float *mrow = s.has_mask ? mask + s.row_mask_off[r] : nullptr;
        const int64_t valid = s.causal ? std::min<int64_t>(r % s.L + 1, S) : S;
        softmax(scores + r * S, S, scale, mrow, s.mask_col_stride, valid, s.bf16 ? probs + r * S : nullptr);
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
    ThreadGuard guard(threads);
    auto m = std::make_shared<Mvn>();
    m->shape = {outer, r, inner, eps, inside, norm_var};
    m->out_shape = shape;
    m->threads = threads;
    if (inner == 1) {
        m->rows = std::make_shared<LayerNorm>(outer, r, eps, inside, norm_var, std::vector<float>{},
                                              std::vector<float>{});
        m->impl = m->rows->impl();
    } else {
        m->impl = native_impl("native:mvn");
    }
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
    p->impl = p->attention->impl();
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
}
