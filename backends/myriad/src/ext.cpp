// ie_backend_myriad._ext: the MYRIAD emulator's FP16 storage rounding, the im2col
// of its convolutions and its depthwise convolution.
//
// round_fp16(x) returns a new float32 array holding IEEE binary16(x) for every
// element of x: round to nearest, ties to even, subnormals kept (quantum
// 2^-24), overflow to +-inf, NaN returned unchanged. The values stay in float32
// containers because the layers compute on them in float32.
//
// Its loop is branch-free integer and float arithmetic that GCC vectorises at
// -O3 -fno-trapping-math (with trapping math it keeps the float addition behind
// a branch). Where the compiler supports it, target_clones adds AVX2 and AVX-512
// variants of the loops, chosen at load time, so the wheel runs on any x86-64;
// products and sums stay separate float32 operations (-ffp-contract=off), so every
// variant gives the same results.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>

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

// im2col of a 2-d convolution: x (N, C, H, W) -> cols (C * KH * KW, N * OH * OW), row
// (c, i, j) holding input pixel (oy * SH - PT + i * DH, ox * SW - PL + j * DW) of channel c
// for every output position (n, oy, ox), zero where that lies in the padding. The rows
// are in the order of the filters' (C, KH, KW) axes, so `filters (O, C*KH*KW) @ cols` is
// the convolution.
struct Geometry {
    int64_t n, c, h, w;
    int kh, kw, sh, sw, dh, dw, pt, pl, oh, ow;
};

// The output columns [lo, hi) whose kernel tap j reads an input column inside the image:
// output column ox reads input column ox * sw - left.
struct Columns {
    int64_t left, lo, hi;
};

Columns columns(const Geometry& g, int j) {
    const int64_t left = g.pl - static_cast<int64_t>(j) * g.dw;
    const int64_t lo = std::min<int64_t>(g.ow, left > 0 ? (left + g.sw - 1) / g.sw : 0);
    const int64_t last = g.w - 1 + left;
    const int64_t hi = last < 0 ? lo : std::max<int64_t>(lo, std::min<int64_t>(g.ow, last / g.sw + 1));
    return {left, lo, hi};
}

void im2col_loop(const float* src, float* dst, const Geometry& g) {
    const int64_t positions = static_cast<int64_t>(g.oh) * g.ow;
    for (int64_t ci = 0; ci < g.c; ++ci) {
        for (int i = 0; i < g.kh; ++i) {
            for (int j = 0; j < g.kw; ++j) {
                float* row = dst + ((ci * g.kh + i) * g.kw + j) * g.n * positions;
                const auto [left, lo, hi] = columns(g, j);
                for (int64_t b = 0; b < g.n; ++b) {
                    const float* plane = src + (b * g.c + ci) * g.h * g.w;
                    for (int64_t oy = 0; oy < g.oh; ++oy) {
                        float* out = row + b * positions + oy * g.ow;
                        const int64_t iy = oy * g.sh - g.pt + static_cast<int64_t>(i) * g.dh;
                        if (iy < 0 || iy >= g.h) {
                            std::fill(out, out + g.ow, 0.0f);
                            continue;
                        }
                        const float* in = plane + iy * g.w;
                        std::fill(out, out + lo, 0.0f);
                        if (g.sw == 1) {
                            std::copy(in + (lo - left), in + (hi - left), out + lo);
                        } else {
                            for (int64_t ox = lo; ox < hi; ++ox) {
                                out[ox] = in[ox * g.sw - left];
                            }
                        }
                        std::fill(out + hi, out + g.ow, 0.0f);
                    }
                }
            }
        }
    }
}

// Depthwise convolution: y[n, c] = sum over taps (i, j) of w[c, i, j] * x[n, c] shifted, the
// taps added in (i, j) order, float32 throughout; zero padding.
IE_MYRIAD_CLONES
void depthwise_loop(const float* src, const float* weights, float* dst, const Geometry& g) {
    const int64_t positions = static_cast<int64_t>(g.oh) * g.ow;
    std::fill(dst, dst + g.n * g.c * positions, 0.0f);
    for (int64_t b = 0; b < g.n; ++b) {
        for (int64_t ci = 0; ci < g.c; ++ci) {
            const float* plane = src + (b * g.c + ci) * g.h * g.w;
            float* out = dst + (b * g.c + ci) * positions;
            for (int i = 0; i < g.kh; ++i) {
                for (int j = 0; j < g.kw; ++j) {
                    const float tap = weights[(ci * g.kh + i) * g.kw + j];
                    const auto [left, lo, hi] = columns(g, j);
                    for (int64_t oy = 0; oy < g.oh; ++oy) {
                        const int64_t iy = oy * g.sh - g.pt + static_cast<int64_t>(i) * g.dh;
                        if (iy < 0 || iy >= g.h) {
                            continue;
                        }
                        const float* in = plane + iy * g.w;
                        float* row = out + oy * g.ow;
                        if (g.sw == 1) {
                            for (int64_t ox = lo; ox < hi; ++ox) {
                                row[ox] += tap * in[ox - left];
                            }
                        } else {
                            for (int64_t ox = lo; ox < hi; ++ox) {
                                row[ox] += tap * in[ox * g.sw - left];
                            }
                        }
                    }
                }
            }
        }
    }
}

py::array_t<float> depthwise(py::array_t<float, py::array::c_style | py::array::forcecast> x,
                             py::array_t<float, py::array::c_style | py::array::forcecast> w,
                             int kh, int kw, int sh, int sw, int dh, int dw, int pt, int pl, int oh, int ow) {
    if (x.ndim() != 4 || w.size() != x.shape(1) * kh * kw) {
        throw std::invalid_argument("depthwise expects x (N, C, H, W) and C * KH * KW weights");
    }
    const Geometry g{x.shape(0), x.shape(1), x.shape(2), x.shape(3), kh, kw, sh, sw, dh, dw, pt, pl, oh, ow};
    py::array_t<float> y({g.n, g.c, static_cast<int64_t>(oh), static_cast<int64_t>(ow)});
    const float* src = x.data();
    const float* weights = w.data();
    float* dst = y.mutable_data();
    {
        py::gil_scoped_release release;
        depthwise_loop(src, weights, dst, g);
    }
    return y;
}

py::array_t<float> im2col(py::array_t<float, py::array::c_style | py::array::forcecast> x,
                          int kh, int kw, int sh, int sw, int dh, int dw, int pt, int pl, int oh, int ow) {
    if (x.ndim() != 4) {
        throw std::invalid_argument("im2col expects a 4-d (N, C, H, W) tensor");
    }
    const Geometry g{x.shape(0), x.shape(1), x.shape(2), x.shape(3), kh, kw, sh, sw, dh, dw, pt, pl, oh, ow};
    py::array_t<float> cols({g.c * kh * kw, g.n * oh * ow});
    const float* src = x.data();
    float* dst = cols.mutable_data();
    {
        py::gil_scoped_release release;
        im2col_loop(src, dst, g);
    }
    return cols;
}

}  // namespace

PYBIND11_MODULE(_ext, m) {
    m.doc() = "FP16 storage rounding, convolution im2col and depthwise convolution of the MYRIAD emulator";
    m.def("round_fp16", &round_fp16, py::arg("x"),
          "float32 array -> new float32 array of its IEEE binary16 roundings (RNE, subnormals, overflow to inf)");
    m.def("im2col", &im2col, py::arg("x"), py::arg("kh"), py::arg("kw"), py::arg("sh"), py::arg("sw"), py::arg("dh"),
          py::arg("dw"), py::arg("pt"), py::arg("pl"), py::arg("oh"), py::arg("ow"),
          "x (N, C, H, W) -> columns (C*KH*KW, N*OH*OW) of a 2-d convolution, zeros in the padding");
    m.def("depthwise", &depthwise, py::arg("x"), py::arg("w"), py::arg("kh"), py::arg("kw"), py::arg("sh"),
          py::arg("sw"), py::arg("dh"), py::arg("dw"), py::arg("pt"), py::arg("pl"), py::arg("oh"), py::arg("ow"),
          "x (N, C, H, W), w (C, KH, KW) -> the 2-d depthwise convolution (N, C, OH, OW), zero padding");
}
