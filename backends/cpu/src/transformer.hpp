// The transformer kernels that native programs (program.cpp) run as steps: attention over
// strided Q/K/V/output views and LayerNorm rows. Implemented in transformer.cpp, which also
// runs them as the standalone ScaledDotProductAttention and MVN kernels.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

namespace ie_tf {

using dims_t = std::vector<int64_t>;

// A tensor seen through strides (in elements): dims[i] steps strides[i] elements.
struct StridedView {
    dims_t dims, strides;
};

// out = softmax(Q Kᵀ * scale + mask) V for Q [batch.., L, E], K [batch.., S, E], V [batch.., S, Ev]
// (batch dims broadcast), each read through its view, the output [batch.., L, Ev] written through
// its view. The mask (f32, plain, broadcast to [batch.., L, S]) is optional, `causal` masks
// columns after the row. With `bf16`, Q·Kᵀ and P·V run on bf16 operands (f32 accumulation,
// softmax in f32, P rounded to bf16); with `bf16_in` too, Q, K and V are bf16 tensors (read through
// their views as they are, not converted). The output is f32, or bf16 with `bf16_out`.
class Attention {
public:
    Attention(const StridedView &q, const StridedView &k, const StridedView &v, const StridedView &out,
              const dims_t &mask_shape, bool has_mask, bool causal, bool bf16, bool bf16_in, bool bf16_out);
    void execute(dnnl::stream &strm, const void *q, const void *k, const void *v, const float *mask, float scale,
                 void *out, void *scratch) const;
    size_t scratch_bytes() const;
    const std::string &impl() const;
    float default_scale() const;  // 1/sqrt(E)

private:
    struct State;
    std::shared_ptr<const State> state_;
};

// y = (x - mean) / sqrt(var + eps) [* gamma] [+ beta] over rows of n elements (eps inside the
// square root, or outside: / (sqrt(var) + eps); only x - mean without normalize_variance).
// With eps inside and normalize_variance it runs oneDNN's layer normalization, otherwise the
// extension's own row kernel. x and y may be the same buffer.
class LayerNorm {
public:
    LayerNorm(int64_t rows, int64_t n, float eps, bool inside, bool norm_var, std::vector<float> gamma,
              std::vector<float> beta);  // gamma, beta: empty or n values
    void execute(dnnl::stream &strm, const float *x, float *y, void *scratch) const;
    size_t scratch_bytes() const;
    const std::string &impl() const;

private:
    struct State;
    std::shared_ptr<const State> state_;
};

}  // namespace ie_tf
