// ie_backend_myriad._ext: the MYRIAD emulator's FP16 storage rounding.
//
// round_fp16(x) returns a new float32 array holding IEEE binary16(x) for every
// element of x: round to nearest, ties to even, subnormals kept (quantum
// 2^-24), overflow to +-inf, NaN returned unchanged. The values stay in float32
// containers because the layers compute on them in float32.
//
// The loop is branch-free integer and float arithmetic that GCC vectorises at
// -O3 -fno-trapping-math (with trapping math it keeps the float addition behind
// a branch); where the compiler supports it, target_clones adds AVX2 and AVX-512
// variants chosen at load time, so the wheel runs on any x86-64.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <cstring>

namespace py = pybind11;

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define IE_MYRIAD_CLONES __attribute__((target_clones("default", "avx2", "avx512f")))
#else
#define IE_MYRIAD_CLONES
#endif

namespace {

constexpr int kMantissa = 10;                                   // binary16: 10 stored mantissa bits
constexpr int kDrop = 23 - kMantissa;                           // float32 mantissa bits rounded away
constexpr int32_t kMinNormal = (127 - 14) << 23;                // 2^-14, binary16's smallest normal
constexpr int32_t kMaxFinite = ((127 + 15) << 23) | (((1 << kMantissa) - 1) << kDrop);  // 65504
constexpr int32_t kInf = 0x7f800000;
// Adding 2^(9 - kMantissa) to |x| < 2^-14 rounds it (in float32, to nearest even) to a
// multiple of 2^-24, binary16's subnormal quantum; subtracting it back is exact.
constexpr float kSubnormalShift = 0.5f;

// Signed 32-bit lanes: the magnitudes compared are below 2^31, and x86 has signed compares only.
IE_MYRIAD_CLONES
void round_fp16_loop(const int32_t* __restrict src, int32_t* __restrict dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const int32_t bits = src[i];
        const int32_t sign = bits & INT32_MIN;
        const int32_t mag = bits & INT32_MAX;
        const int32_t lsb = (mag >> kDrop) & 1;
        int32_t normal = (mag + ((1 << (kDrop - 1)) - 1) + lsb) & ~((1 << kDrop) - 1);
        normal = normal > kMaxFinite ? kInf : normal;
        float small;
        std::memcpy(&small, &mag, sizeof small);
        small = (small + kSubnormalShift) - kSubnormalShift;
        int32_t subnormal;
        std::memcpy(&subnormal, &small, sizeof subnormal);
        const int32_t rounded = sign | (mag < kMinNormal ? subnormal : normal);
        dst[i] = mag > kInf ? bits : rounded;
    }
}

py::array_t<float> round_fp16(py::array_t<float, py::array::c_style | py::array::forcecast> x) {
    py::array_t<float> out(x.request().shape);
    const auto* src = reinterpret_cast<const int32_t*>(x.data());
    auto* dst = reinterpret_cast<int32_t*>(out.mutable_data());
    const int64_t n = x.size();
    {
        py::gil_scoped_release release;
        round_fp16_loop(src, dst, n);
    }
    return out;
}

}  // namespace

PYBIND11_MODULE(_ext, m) {
    m.doc() = "FP16 storage rounding of the MYRIAD emulator";
    m.def("round_fp16", &round_fp16, py::arg("x"),
          "float32 array -> new float32 array of its IEEE binary16 roundings (RNE, subnormals, overflow to inf)");
}
