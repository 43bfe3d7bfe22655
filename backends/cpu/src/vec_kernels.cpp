// vec_kernels.hpp's kernels, compiled for AVX-512 (the avx512_core subset: F, BW, DQ, VL),
// AVX2 (with FMA) and the baseline from one source (vec_kernels.inl), with target pragmas
// instead of -m flags so that the extension itself stays loadable on any x86-64 CPU.

#include "vec_kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "isa.hpp"

namespace iecpu::vec {

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c,bmi,bmi2,lzcnt,popcnt")
namespace isa_avx512_core {
#include "vec_kernels.inl"
}
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,bmi,bmi2,lzcnt,popcnt")
namespace isa_avx2 {
#include "vec_kernels.inl"
}
#pragma GCC pop_options
#endif

namespace isa_baseline {
#include "vec_kernels.inl"
}

namespace {

#define IECPU_KERNEL_TABLE(ns, isa)                                                                          \
    Kernels {                                                                                                \
        isa_name(isa), ns::softmax_row, ns::mvn_rows, ns::mvn_blocks, ns::reduce, ns::convert, ns::strided_copy \
    }

Kernels table_for(Isa isa) {
    switch (isa) {
#if defined(__x86_64__)
        case Isa::avx512_core: return IECPU_KERNEL_TABLE(isa_avx512_core, isa);
        case Isa::avx2: return IECPU_KERNEL_TABLE(isa_avx2, isa);
#endif
        default: return IECPU_KERNEL_TABLE(isa_baseline, Isa::baseline);
    }
}

}  // namespace

const Kernels &kernels() {
    static const Kernels table = table_for(native_isa());
    return table;
}

int64_t strided_units(const StridedPlan &plan) {
    const int n = plan.rank;
    const int64_t st_last = plan.strides[n - 1];
    const bool tile2d = st_last != 1 && st_last != 0 && n >= 2 && plan.strides[n - 2] == 1;
    int64_t units = 1;
    for (int i = 0; i < n - (tile2d ? 2 : 1); ++i) units *= plan.dims[i];
    return units;
}

}  // namespace iecpu::vec
