// The instruction set the extension's own kernels (vec_kernels.hpp) run on.
//
// It follows oneDNN's effective ISA, which oneDNN derives once from the CPU and the
// ONEDNN_MAX_CPU_ISA (or DNNL_MAX_CPU_ISA) environment variable: one switch caps oneDNN's
// primitives and these kernels alike, e.g. ONEDNN_MAX_CPU_ISA=AVX2 runs the AVX2 code on an
// AVX-512 machine.
#pragma once

#include <string>

namespace iecpu {

enum class Isa { baseline, avx2, avx512_core };

// The set the kernels were compiled for that the effective ISA allows (decided once).
Isa native_isa();

// "avx512_core", "avx2", or the baseline's name ("sse2" on x86-64, "any" elsewhere).
const char *isa_name(Isa isa);

// oneDNN's effective ISA, lower case as in its implementation names ("avx512_core_bf16", ...).
std::string dnnl_isa_name();

}  // namespace iecpu
