#include "isa.hpp"

#include "oneapi/dnnl/dnnl.hpp"

namespace iecpu {

namespace {

// oneDNN's ISA values are cumulative bit masks: a set includes the bits of the sets below it.
bool includes(dnnl::cpu_isa effective, dnnl::cpu_isa isa) {
    const unsigned bits = static_cast<unsigned>(isa);
    return (static_cast<unsigned>(effective) & bits) == bits;
}

}  // namespace

Isa native_isa() {
    static const Isa isa = [] {
#if defined(__x86_64__)
        const dnnl::cpu_isa effective = dnnl::get_effective_cpu_isa();
        __builtin_cpu_init();
        if (includes(effective, dnnl::cpu_isa::avx512_core) && __builtin_cpu_supports("avx512f") &&
            __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma"))
            return Isa::avx512_core;
        if (includes(effective, dnnl::cpu_isa::avx2) && __builtin_cpu_supports("avx2") &&
            __builtin_cpu_supports("fma"))
            return Isa::avx2;
#endif
        return Isa::baseline;
    }();
    return isa;
}

const char *isa_name(Isa isa) {
    switch (isa) {
        case Isa::avx512_core: return "avx512_core";
        case Isa::avx2: return "avx2";
        case Isa::baseline: break;
    }
#if defined(__x86_64__)
    return "sse2";
#else
    return "any";
#endif
}

std::string dnnl_isa_name() {
    using dnnl::cpu_isa;
    switch (dnnl::get_effective_cpu_isa()) {
        case cpu_isa::sse41: return "sse41";
        case cpu_isa::avx: return "avx";
        case cpu_isa::avx2: return "avx2";
        case cpu_isa::avx2_vnni: return "avx2_vnni";
        case cpu_isa::avx2_vnni_2: return "avx2_vnni_2";
        case cpu_isa::avx512_core: return "avx512_core";
        case cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
        case cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
        case cpu_isa::avx512_core_fp16: return "avx512_core_fp16";
        case cpu_isa::avx512_core_amx: return "avx512_core_amx";
        case cpu_isa::avx512_core_amx_fp16: return "avx512_core_amx_fp16";
        default: return "any";
    }
}

}  // namespace iecpu
