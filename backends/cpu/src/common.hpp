// Shared helpers of the CPU backend's extension: the engine, the OpenMP thread guard,
// algorithm names and plain memory descriptors.
#pragma once

#include <pybind11/numpy.h>

#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "oneapi/dnnl/dnnl.hpp"

namespace iecpu {

using dnnl::algorithm;
using dnnl::memory;
using dims_t = memory::dims;

// omp_get_max_threads() at import time (OMP_NUM_THREADS or the number of cores).
inline int g_default_threads = 1;
// omp_get_max_threads() inside the calling thread's last execution: what oneDNN ran with.
inline thread_local int t_last_threads = 0;

inline dnnl::engine &cpu_engine() {
    static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    return eng;
}

// Sets the calling thread's OpenMP thread count for the guard's lifetime.
struct ThreadGuard {
    int saved;
    explicit ThreadGuard(int threads) : saved(omp_get_max_threads()) {
        omp_set_num_threads(threads > 0 ? threads : g_default_threads);
    }
    ~ThreadGuard() { omp_set_num_threads(saved); }
};

inline dims_t dense_strides(const dims_t &dims) {
    dims_t strides(dims.size(), 1);
    for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i)
        strides[i] = strides[i + 1] * std::max<memory::dim>(dims[i + 1], 1);
    return strides;
}

inline memory::desc plain_md(const dims_t &dims, memory::data_type dt = memory::data_type::f32) {
    if (dims.empty()) return memory::desc({1}, dt, dims_t{1});
    return memory::desc(dims, dt, dense_strides(dims));
}

using farray = pybind11::array_t<float, pybind11::array::c_style | pybind11::array::forcecast>;

// A constant f32 array, seen through `view` (dims and strides over its buffer), in the layout `want`, owned
// by the returned memory: reordered straight from the array's buffer (no staging copy), or copied where
// `want` is the view's layout.
inline memory constant_memory(const farray &value, const memory::desc &view, const memory::desc &want) {
    auto &eng = cpu_engine();
    if (view.get_size() > static_cast<size_t>(value.size()) * sizeof(float))
        throw std::invalid_argument("constant has fewer elements than its view");
    memory out(want, eng);
    if (want == view) {
        std::memcpy(out.get_data_handle(), value.data(), view.get_size());
        return out;
    }
    memory user(view, eng, const_cast<float *>(value.data()));
    dnnl::stream strm(eng);
    dnnl::reorder(user, out).execute(strm, user, out);
    strm.wait();
    return out;
}

// constant_memory of an array of plain `dims`.
inline memory constant_memory(const farray &value, const dims_t &dims, const memory::desc &want) {
    return constant_memory(value, plain_md(dims), want);
}

inline dnnl::primitive_attr user_scratchpad_attr() {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return attr;
}

inline algorithm algorithm_named(const std::string &name) {
    static const std::unordered_map<std::string, algorithm> table = {
        {"binary_add", algorithm::binary_add},
        {"binary_sub", algorithm::binary_sub},
        {"binary_mul", algorithm::binary_mul},
        {"binary_div", algorithm::binary_div},
        {"binary_max", algorithm::binary_max},
        {"binary_min", algorithm::binary_min},
        {"eltwise_relu", algorithm::eltwise_relu},
        {"eltwise_logistic", algorithm::eltwise_logistic},
        {"eltwise_tanh", algorithm::eltwise_tanh},
        {"eltwise_clip", algorithm::eltwise_clip},
        {"eltwise_elu", algorithm::eltwise_elu},
        {"eltwise_exp", algorithm::eltwise_exp},
        {"eltwise_log", algorithm::eltwise_log},
        {"eltwise_sqrt", algorithm::eltwise_sqrt},
        {"eltwise_abs", algorithm::eltwise_abs},
        {"eltwise_gelu_erf", algorithm::eltwise_gelu_erf},
        {"eltwise_gelu_tanh", algorithm::eltwise_gelu_tanh},
        {"eltwise_swish", algorithm::eltwise_swish},
        {"eltwise_hardswish", algorithm::eltwise_hardswish},
        {"eltwise_hardsigmoid", algorithm::eltwise_hardsigmoid},
        {"eltwise_soft_relu", algorithm::eltwise_soft_relu},
        {"eltwise_mish", algorithm::eltwise_mish},
        {"eltwise_linear", algorithm::eltwise_linear},
        {"pooling_max", algorithm::pooling_max},
        {"pooling_avg_include_padding", algorithm::pooling_avg_include_padding},
        {"pooling_avg_exclude_padding", algorithm::pooling_avg_exclude_padding},
    };
    auto it = table.find(name);
    if (it == table.end()) throw std::invalid_argument("unknown oneDNN algorithm " + name);
    return it->second;
}

// Softmax as the opset specifies it, exp(x - max) / sum(exp(x - max)), is NaN across a row that holds a
// NaN or +inf (the sum is NaN); oneDNN's leaves the row's other entries finite. `y` is the softmax of
// [outer, n, inner] along n; rows with a NaN become all NaN.
inline void softmax_nan_rows(float *y, int64_t outer, int64_t n, int64_t inner) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
#pragma omp parallel for collapse(2) if (outer * inner > 64)
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            float *row = y + o * n * inner + i;
            bool any = false;
            for (int64_t k = 0; k < n; ++k) any |= std::isnan(row[k * inner]);
            if (any)
                for (int64_t k = 0; k < n; ++k) row[k * inner] = nan;
        }
}

// dst[i] = value where src[i] is NaN: for activations whose oneDNN kernel maps NaN to another number than the
// opset's formula gives, with its min and max read as IEEE minNum/maxNum (Exp(NaN) is NaN, HSigmoid(NaN) is 0).
inline void nan_result(const float *src, float *dst, int64_t n, float value) {
#pragma omp parallel for simd if (n > 65536)
    for (int64_t i = 0; i < n; ++i)
        if (src[i] != src[i]) dst[i] = value;
}

// (outer, n, inner) of `dims` split around `axis`.
inline std::array<int64_t, 3> around_axis(const dims_t &dims, int axis) {
    std::array<int64_t, 3> split{1, dims.empty() ? 1 : dims[axis], 1};
    for (int d = 0; d < axis; ++d) split[0] *= dims[d];
    for (size_t d = axis + 1; d < dims.size(); ++d) split[2] *= dims[d];
    return split;
}

}  // namespace iecpu
