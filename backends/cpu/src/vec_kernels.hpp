// The extension's own compute loops, compiled once per instruction set (vec_kernels.cpp) and
// chosen at run time: the set is oneDNN's effective ISA (isa.hpp), so ONEDNN_MAX_CPU_ISA caps
// these kernels and oneDNN's together. Each function works on a range [begin, end) of its
// independent units (rows, blocks, elements); callers split the range over their OpenMP team.
#pragma once

#include <cstdint>

namespace iecpu::vec {

enum class DT { f32, f64, i8, i16, i32, i64, u8, u16, u32, u64, boolean };
enum class RedOp { sum, mean, max, min, prod, l1, l2 };

// x [outer, r, inner] normalised over r for every (outer, inner)
struct MvnShape {
    int64_t outer = 0, r = 0, inner = 0;
    float eps = 0.f;
    bool inside = true, norm_var = true;
};

// Units of a block-wise kernel over [outer, r, inner]: rows when inner == 1, otherwise
// (outer, block of kBlock inner elements) pairs.
constexpr int64_t kBlock = 256;
inline int64_t block_units(int64_t outer, int64_t inner) {
    return inner == 1 ? outer : outer * ((inner + kBlock - 1) / kBlock);
}

// A copy through input strides over collapsed output dims (at most 16): see StridedCopy.
struct StridedPlan {
    int rank = 0;
    const int64_t *dims = nullptr, *strides = nullptr;
};

struct Kernels {
    const char *isa;
    // row[s] = softmax(row[s] * scale + mask[s * mask_stride]) over s < n, columns >= valid
    // masked out; with bf16_out the probabilities go there (rounded to nearest even) and row
    // keeps the unnormalised exponentials.
    void (*softmax_row)(float *row, int64_t n, float scale, const float *mask, int64_t mask_stride, int64_t valid,
                        uint16_t *bf16_out);
    // LayerNorm rows [begin, end) of n elements, gamma/beta optional
    void (*mvn_rows)(const float *x, float *y, int64_t n, float eps, bool inside, bool norm_var, const float *gamma,
                     const float *beta, int64_t begin, int64_t end);
    void (*mvn_blocks)(const float *x, float *y, const MvnShape &shape, int64_t begin, int64_t end);
    // [outer, r, inner] -> [outer, inner]: the units [begin, end) of block_units(outer, inner)
    void (*reduce)(RedOp op, const float *x, float *y, int64_t r, int64_t inner, int64_t begin, int64_t end);
    void (*convert)(DT from, DT to, const void *src, void *dst, int64_t begin, int64_t end);
    // the outer units [begin, end) of a strided copy of `itemsize`-byte elements
    void (*strided_copy)(int itemsize, const void *src, void *dst, const StridedPlan &plan, int64_t begin,
                         int64_t end);
};

// The kernels for the instruction set in use (isa.hpp's native_isa()).
const Kernels &kernels();

// The units a strided copy splits into (rows of the last dim, or planes of a 2-D transpose).
int64_t strided_units(const StridedPlan &plan);

}  // namespace iecpu::vec
