// ie_backend_fpga._ext: the FPGA emulator's storage rounding, FP11 and FP16.
//
// round_float(x, mantissa_bits) returns a new float32 array holding, for every
// element of x, its rounding to the float format with 1 sign bit, 5 exponent
// bits (bias 15) and `mantissa_bits` stored mantissa bits: 5 for the
// accelerator's FP11, 10 for FP16 (IEEE binary16). Round to nearest, ties to
// even; subnormals kept (quantum 2^(-14 - mantissa_bits)); overflow to +-inf;
// NaN returned unchanged. The values stay in float32 containers because the
// layers compute on them in float32.
//
// The loop is branch-free integer and float arithmetic that GCC vectorises at
// -O3 -fno-trapping-math (with trapping math it keeps the float addition behind
// a branch); where the compiler supports it, target_clones adds AVX2 and AVX-512
// variants chosen at load time, so the wheel runs on any x86-64.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace py = pybind11;

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define IE_FPGA_CLONES __attribute__((target_clones("default", "avx2", "avx512f")))
#else
#define IE_FPGA_CLONES
#endif

namespace {

template <int Mantissa>
struct Format {
    static constexpr int kDrop = 23 - Mantissa;                  // float32 mantissa bits rounded away
    static constexpr int32_t kMinNormal = (127 - 14) << 23;      // 2^-14, the smallest normal
    static constexpr int32_t kMaxFinite = ((127 + 15) << 23) | (((1 << Mantissa) - 1) << kDrop);
    static constexpr int32_t kInf = 0x7f800000;
    // Adding 2^(9 - Mantissa) to |x| < 2^-14 rounds it (in float32, to nearest even) to a
    // multiple of 2^(-14 - Mantissa), the subnormal quantum; subtracting it back is exact.
    static constexpr float kSubnormalShift = static_cast<float>(1 << 9) / static_cast<float>(1 << Mantissa);
};

// Signed 32-bit lanes: the magnitudes compared are below 2^31, and x86 has signed compares only.
template <int Mantissa>
IE_FPGA_CLONES void round_loop(const int32_t* __restrict src, int32_t* __restrict dst, int64_t n) {
    using F = Format<Mantissa>;
    for (int64_t i = 0; i < n; ++i) {
        const int32_t bits = src[i];
        const int32_t sign = bits & INT32_MIN;
        const int32_t mag = bits & INT32_MAX;
        const int32_t lsb = (mag >> F::kDrop) & 1;
        int32_t normal = (mag + ((1 << (F::kDrop - 1)) - 1) + lsb) & ~((1 << F::kDrop) - 1);
        normal = normal > F::kMaxFinite ? F::kInf : normal;
        float small;
        std::memcpy(&small, &mag, sizeof small);
        small = (small + F::kSubnormalShift) - F::kSubnormalShift;
        int32_t subnormal;
        std::memcpy(&subnormal, &small, sizeof subnormal);
        const int32_t rounded = sign | (mag < F::kMinNormal ? subnormal : normal);
        dst[i] = mag > F::kInf ? bits : rounded;
    }
}

py::array_t<float> round_float(py::array_t<float, py::array::c_style | py::array::forcecast> x, int mantissa_bits) {
    if (mantissa_bits != 5 && mantissa_bits != 10) {
        throw std::invalid_argument("mantissa_bits must be 5 (FP11) or 10 (FP16), got " + std::to_string(mantissa_bits));
    }
    py::array_t<float> out(x.request().shape);
    const auto* src = reinterpret_cast<const int32_t*>(x.data());
    auto* dst = reinterpret_cast<int32_t*>(out.mutable_data());
    const int64_t n = x.size();
    {
        py::gil_scoped_release release;
        if (mantissa_bits == 5) {
            round_loop<5>(src, dst, n);
        } else {
            round_loop<10>(src, dst, n);
        }
    }
    return out;
}

}  // namespace

PYBIND11_MODULE(_ext, m) {
    m.doc() = "FP11/FP16 storage rounding of the FPGA emulator";
    m.def("round_float", &round_float, py::arg("x"), py::arg("mantissa_bits"),
          "float32 array -> new float32 array rounded to 1+5+mantissa_bits bit floats (RNE, subnormals, overflow to inf)");
}
