// ie_backend_cpu._ext.Program: a compiled sequence of (fused) oneDNN primitives.
//
// The Python compiler (ie_backend_cpu/compiler.py) adds one step per executed
// layer group (a convolution with its folded bias, post-ops and residual sum,
// a pooling, ...) in execution order; attention and LayerNorm steps run the
// extension's own kernels (transformer.hpp) on the same buffers. Tensors between
// steps keep whatever layout the producing primitive chose (format_tag::any: oneDNN's blocked
// layouts, bf16 under the bf16 precision hint); a step that needs another
// layout or data type gets a reorder in front of it, which is timed with it.
// finalize() plans the memory: every intermediate tensor gets an offset in one
// arena, buffers are reused once their last reader has run, residual sums
// write in place into the shortcut's buffer when it is dead afterwards.
// Each Request owns an arena, a scratchpad and prebuilt argument maps, so
// run() only binds the input pointers and executes; outputs are plain f32
// arrays that view the request's arena (rewritten by its next inference).
// They are made by each run and hold the request's Python object; the request
// holds nothing of Python's, so no reference cycle passes through C++.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <sstream>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "common.hpp"
#include "transformer.hpp"

namespace py = pybind11;
using namespace iecpu;
using dt = memory::data_type;

namespace {

bool is_plain(const memory::desc &md, dt type) {
    if (md.get_data_type() != type) return false;
    return md == plain_md(md.get_dims(), type);
}

memory::desc any_md(const dims_t &d, dt type) { return memory::desc(d, type, memory::format_tag::any); }

// A scratch buffer of `bytes` (an empty descriptor for none).
memory::desc byte_md(size_t bytes) {
    if (bytes == 0) return memory::desc();
    return memory::desc({static_cast<memory::dim>(bytes)}, dt::u8, memory::format_tag::a);
}

dt dtype_of(bool bf16) { return bf16 ? dt::bf16 : dt::f32; }

// dst[m, n] = a[m, k] b[k, n] (+ bias[n]) as a 1x1 convolution over nhwc views of a and dst (the same
// buffers): oneDNN 3.2 runs f32 matmuls on AVX2 with its gemm, and such convolutions with brgemm kernels,
// faster. None when oneDNN would not use a brgemm kernel for it.
std::optional<dnnl::convolution_forward::primitive_desc> rows_conv_pd(memory::dim m, memory::dim k, memory::dim n,
                                                                     bool with_bias, const dnnl::primitive_attr &attr) {
    memory::desc src({1, k, m, 1}, dt::f32, dims_t{m * k, 1, k, k});
    memory::desc dst({1, n, m, 1}, dt::f32, dims_t{m * n, 1, n, n});
    memory::desc bias = with_bias ? memory::desc({n}, dt::f32, memory::format_tag::a) : memory::desc();
    try {
        dnnl::convolution_forward::primitive_desc pd(cpu_engine(), dnnl::prop_kind::forward_inference,
                                                     algorithm::convolution_direct, src, any_md({n, k, 1, 1}, dt::f32),
                                                     bias, dst, {1, 1}, {0, 0}, {0, 0}, {0, 0}, attr);
        if (std::strncmp(pd.impl_info_str(), "brg", 3) == 0) return pd;
    } catch (const dnnl::error &) {
    }
    return std::nullopt;
}

struct Tensor {
    dims_t dims;
    memory::desc md;
    int alias = -1;       // shares the buffer of this tensor
    int input = -1;       // index of the program input it is
    bool output = false;  // handed back to the caller: never reused
    size_t offset = 0;    // in the arena (roots only)
};

struct Arg {
    int arg;
    int tensor;
    memory::desc md;  // how the primitive sees the tensor's buffer
};

// A step computed by the extension's own kernels (transformer.hpp) instead of a oneDNN primitive;
// it finds its buffers in the argument map like a primitive.
struct NativeKernel {
    virtual ~NativeKernel() = default;
    virtual void execute(dnnl::stream &strm, const std::unordered_map<int, memory> &args) const = 0;
};

void *buffer_of(const std::unordered_map<int, memory> &args, int arg) { return args.at(arg).get_data_handle(); }

struct AttentionKernel : NativeKernel {
    ie_tf::Attention attention;
    float scale;
    bool has_mask;
    AttentionKernel(ie_tf::Attention a, float s, bool m) : attention(std::move(a)), scale(s), has_mask(m) {}
    void execute(dnnl::stream &strm, const std::unordered_map<int, memory> &args) const override {
        const float *mask = has_mask ? static_cast<const float *>(buffer_of(args, DNNL_ARG_SRC_3)) : nullptr;
        void *scratch = args.count(DNNL_ARG_SCRATCHPAD) ? buffer_of(args, DNNL_ARG_SCRATCHPAD) : nullptr;
        attention.execute(strm, buffer_of(args, DNNL_ARG_SRC_0), buffer_of(args, DNNL_ARG_SRC_1),
                          buffer_of(args, DNNL_ARG_SRC_2), mask, scale, buffer_of(args, DNNL_ARG_DST), scratch);
    }
};

struct SoftmaxNanRowsKernel : NativeKernel {
    std::array<int64_t, 3> split;
    explicit SoftmaxNanRowsKernel(std::array<int64_t, 3> s) : split(s) {}
    void execute(dnnl::stream &strm, const std::unordered_map<int, memory> &args) const override {
        strm.wait();
        iecpu::softmax_nan_rows(static_cast<float *>(buffer_of(args, DNNL_ARG_DST)), split[0], split[1], split[2]);
    }
};

struct NanResultKernel : NativeKernel {
    float value;
    int64_t count;
    NanResultKernel(float v, int64_t n) : value(v), count(n) {}
    void execute(dnnl::stream &strm, const std::unordered_map<int, memory> &args) const override {
        strm.wait();
        iecpu::nan_result(static_cast<const float *>(buffer_of(args, DNNL_ARG_SRC)),
                          static_cast<float *>(buffer_of(args, DNNL_ARG_DST)), count, value);
    }
};

struct LayerNormKernel : NativeKernel {
    ie_tf::LayerNorm norm;
    explicit LayerNormKernel(ie_tf::LayerNorm n) : norm(std::move(n)) {}
    void execute(dnnl::stream &strm, const std::unordered_map<int, memory> &args) const override {
        void *scratch = args.count(DNNL_ARG_SCRATCHPAD) ? buffer_of(args, DNNL_ARG_SCRATCHPAD) : nullptr;
        norm.execute(strm, static_cast<const float *>(buffer_of(args, DNNL_ARG_SRC)),
                     static_cast<float *>(buffer_of(args, DNNL_ARG_DST)), scratch);
    }
};

struct Exec {
    dnnl::primitive prim;
    std::shared_ptr<const NativeKernel> native;  // instead of prim
    std::vector<Arg> args;
    std::vector<std::pair<int, memory>> constants;
    memory::desc scratch;
};

struct Step {
    std::string name;
    std::string impl;
    std::vector<Exec> execs;
    // residual sum: the shortcut tensor, copied into dst by execs[copy] unless done in place
    int sum_src = -1, sum_dst = -1, sum_copy = -1;
    // element-wise step that may write into its input's buffer when that is dead afterwards
    int inplace_src = -1, inplace_dst = -1;
};

size_t align64(size_t n) { return (n + 63) & ~size_t(63); }

// The activation layouts a layout hint names: plain, channels-last, 16- and 8-channel blocks.
using tag = memory::format_tag;
tag layout_tag(size_t rank, int which) {
    static const tag t3[] = {tag::abc, tag::acb, tag::aBc16b, tag::aBc8b};
    static const tag t4[] = {tag::abcd, tag::acdb, tag::aBcd16b, tag::aBcd8b};
    static const tag t5[] = {tag::abcde, tag::acdeb, tag::aBcde16b, tag::aBcde8b};
    if (which < 0 || which > 3) return tag::undef;
    if (rank == 3) return t3[which];
    if (rank == 4) return t4[which];
    if (rank == 5) return t5[which];
    return tag::undef;
}

int layout_of(const memory::desc &md) {
    const dims_t d = md.get_dims();
    for (int i = 0; i < 4; ++i) {
        tag t = layout_tag(d.size(), i);
        if (t != tag::undef && md == memory::desc(d, md.get_data_type(), t)) return i;
    }
    return -1;
}

}  // namespace

class Program;

class Request {
public:
    std::shared_ptr<const Program> prog;
    char *arena = nullptr;
    char *scratch = nullptr;
    std::unique_ptr<char[]> storage;
    std::vector<std::vector<std::unordered_map<int, memory>>> args;  // [step][exec]
    std::vector<std::vector<memory>> input_mems;                    // per program input
    std::vector<long long> times;
    dnnl::stream strm;

    explicit Request(std::shared_ptr<const Program> p);
    py::list run(const std::vector<py::array> &inputs, bool profile);
    std::vector<long long> get_times() const { return times; }
};

class Program : public std::enable_shared_from_this<Program> {
public:
    std::vector<Tensor> tensors;
    std::vector<Step> steps;
    std::vector<int> inputs;   // tensor ids
    std::vector<int> outputs;  // tensor ids (plain f32)
    std::vector<std::pair<int, int>> copies;  // (tensor, its copy in another layout) made by ensure()
    size_t arena_size = 0, scratch_size = 0;
    int threads = 0;
    bool finalized = false;

    explicit Program(int threads_) : threads(threads_) {}

    int root(int t) const {
        while (tensors[t].alias >= 0) t = tensors[t].alias;
        return t;
    }

    int new_tensor(const dims_t &dims, const memory::desc &md) {
        memory::dim count = 1;
        for (memory::dim d : dims)
            if (d <= 0 || __builtin_mul_overflow(count, d, &count))
                throw std::invalid_argument("a program tensor needs positive dimensions whose product fits int64");
        Tensor t;
        t.dims = dims;
        t.md = md;
        tensors.push_back(t);
        return static_cast<int>(tensors.size()) - 1;
    }

    int add_input(const dims_t &dims) {
        int t = new_tensor(dims, plain_md(dims));
        tensors[t].input = static_cast<int>(inputs.size());
        inputs.push_back(t);
        return t;
    }

    // A tensor whose layout the producing step decides.
    int add_tensor(const dims_t &dims) { return new_tensor(dims, memory::desc()); }

    const memory::desc &md(int t) const {
        if (!tensors.at(t).md) throw std::logic_error("tensor read before it is produced");
        return tensors[t].md;
    }

    // A reorder exec converting tensor `t` into layout `want` (into a new tensor, or `into`).
    int convert(Step &step, int t, const memory::desc &want, int into = -1) {
        if (into < 0) into = new_tensor(tensors[t].dims, want);
        auto &eng = cpu_engine();
        dnnl::reorder::primitive_desc pd(eng, md(t), eng, want, user_scratchpad_attr());
        Exec e;
        e.prim = dnnl::reorder(pd);
        e.args = {{DNNL_ARG_FROM, t, md(t)}, {DNNL_ARG_TO, into, want}};
        e.scratch = pd.scratchpad_desc();
        step.execs.push_back(std::move(e));
        if (step.impl.empty()) step.impl = std::string("reorder:") + pd.impl_info_str();
        return into;
    }

    // `t` in layout `want`: itself, the copy an earlier step made, or a new copy made by `step`
    // (e.g. the bf16 copy of a LayerNorm output that the Q, K and V projections all read).
    int ensure(Step &step, int t, const memory::desc &want) {
        if (md(t) == want) return t;
        for (auto &[from, copy] : copies)
            if (from == t && tensors[copy].md == want) return copy;
        int copy = convert(step, t, want);
        copies.emplace_back(t, copy);
        return copy;
    }

    int ensure_plain(Step &step, int t, dt type) {
        return is_plain(md(t), type) ? t : ensure(step, t, plain_md(tensors[t].dims, type));
    }

    Step &new_step(const std::string &name) {
        if (finalized) throw std::logic_error("program already finalized");
        steps.emplace_back();
        steps.back().name = name;
        return steps.back();
    }

    // The residual sum of a step writing `dst` (post-op sum): the shortcut `sum_src` is copied into
    // dst before the step's primitive runs, unless finalize() computes it in place in its buffer.
    void residual_sum(Step &step, int sum_src, int dst) {
        step.sum_src = sum_src;
        step.sum_dst = dst;
        step.sum_copy = static_cast<int>(step.execs.size());
        convert(step, sum_src, md(dst), dst);
    }

    static dnnl::post_ops make_post_ops(const std::vector<std::tuple<std::string, float, float>> &ops, bool sum) {
        dnnl::post_ops po;
        if (sum) po.append_sum(1.f);
        for (auto &[alg, alpha, beta] : ops) po.append_eltwise(algorithm_named(alg), alpha, beta);
        return po;
    }

    template <typename PD>
    void finish_main(Step &step, const PD &pd, Exec &&e) {
        e.scratch = pd.scratchpad_desc();
        step.impl = pd.impl_info_str();
        step.execs.push_back(std::move(e));
    }

    // The activation layout (see layout_tag) a convolution prefers for its source, -1 if none of those.
    static int preferred_src_layout(const dims_t &sd, const dims_t &w_dims, const dims_t &dd, const dims_t &strides,
                                    const dims_t &dil, const dims_t &pad_l, const dims_t &pad_r, bool bf16,
                                    int threads) {
        ThreadGuard guard(threads);
        dt ct = dtype_of(bf16);
        try {
            dnnl::convolution_forward::primitive_desc pd(cpu_engine(), dnnl::prop_kind::forward_inference,
                                                         algorithm::convolution_direct, any_md(sd, ct),
                                                         any_md(w_dims, ct), any_md(dd, ct), strides, dil, pad_l,
                                                         pad_r, user_scratchpad_attr());
            return layout_of(pd.src_desc());
        } catch (const dnnl::error &) {
            return -1;
        }
    }

    void conv(const std::string &name, int src, int dst, const farray &weights, const dims_t &w_dims,
              std::optional<farray> bias, const dims_t &strides, const dims_t &dil, const dims_t &pad_l,
              const dims_t &pad_r, const std::vector<std::tuple<std::string, float, float>> &post, int sum_src,
              bool bf16, bool out_bf16, int dst_layout) {
        ThreadGuard guard(threads);
        auto &eng = cpu_engine();
        Step &step = new_step(name);
        dt ct = dtype_of(bf16), ot = dtype_of(out_bf16);
        const dims_t &sd = tensors[src].dims, &dd = tensors[dst].dims;
        dnnl::primitive_attr attr = user_scratchpad_attr();
        attr.set_post_ops(make_post_ops(post, sum_src >= 0));
        memory::desc bmd = bias ? memory::desc({dd[1]}, dt::f32, memory::format_tag::a) : memory::desc();
        auto make = [&](const memory::desc &smd, const memory::desc &dmd) {
            return dnnl::convolution_forward::primitive_desc(eng, dnnl::prop_kind::forward_inference,
                                                             algorithm::convolution_direct, smd, any_md(w_dims, ct),
                                                             bmd, dmd, strides, dil, pad_l, pad_r, attr);
        };
        auto fast = [](const dnnl::convolution_forward::primitive_desc &p) {
            std::string impl = p.impl_info_str();
            return impl.rfind("ref", 0) != 0 && impl.find("gemm") == std::string::npos;
        };
        dnnl::convolution_forward::primitive_desc pd = make(any_md(sd, ct), any_md(dd, ot));
        // the layout the consumers prefer, unless that costs a slower implementation
        tag want = layout_tag(dd.size(), dst_layout);
        if (want != tag::undef && !(pd.dst_desc() == memory::desc(dd, ot, want))) {
            try {
                auto hinted = make(any_md(sd, ct), memory::desc(dd, ot, want));
                if (fast(hinted)) pd = hinted;
            } catch (const dnnl::error &) {
            }
        }
        // a plain source (a network input) read as it is rather than reordered, where that is as fast
        if (is_plain(md(src), ct) && !(pd.src_desc() == md(src)) && sd.size() >= 3 && sd[1] <= 4) {
            try {
                auto direct = make(md(src), pd.dst_desc());
                if (fast(direct)) pd = direct;
            } catch (const dnnl::error &) {
            }
        }
        int s = ensure(step, src, pd.src_desc());
        tensors[dst].md = pd.dst_desc();
        if (sum_src >= 0) residual_sum(step, sum_src, dst);
        Exec e;
        e.prim = dnnl::convolution_forward(pd);
        e.args = {{DNNL_ARG_SRC, s, pd.src_desc()}, {DNNL_ARG_DST, dst, pd.dst_desc()}};
        e.constants.emplace_back(DNNL_ARG_WEIGHTS, constant_memory(weights, w_dims, pd.weights_desc()));
        if (bias) e.constants.emplace_back(DNNL_ARG_BIAS, constant_memory(*bias, bmd.get_dims(), bmd));
        finish_main(step, pd, std::move(e));
    }

    void pool(const std::string &name, int src, int dst, const std::string &alg, const dims_t &kernel,
              const dims_t &strides, const dims_t &dil, const dims_t &pad_l, const dims_t &pad_r) {
        ThreadGuard guard(threads);
        auto &eng = cpu_engine();
        Step &step = new_step(name);
        memory::desc smd = md(src);
        dt type = smd.get_data_type();
        auto make = [&](const memory::desc &s) {
            return dnnl::pooling_forward::primitive_desc(eng, dnnl::prop_kind::forward_inference, algorithm_named(alg),
                                                         s, any_md(tensors[dst].dims, type), strides, kernel, dil,
                                                         pad_l, pad_r, user_scratchpad_attr());
        };
        dnnl::pooling_forward::primitive_desc pd;
        try {
            pd = make(smd);
        } catch (const dnnl::error &) {
            smd = plain_md(tensors[src].dims, type);
            pd = make(smd);
        }
        int s = ensure(step, src, pd.src_desc());
        tensors[dst].md = pd.dst_desc();
        Exec e;
        e.prim = dnnl::pooling_forward(pd);
        e.args = {{DNNL_ARG_SRC, s, pd.src_desc()}, {DNNL_ARG_DST, dst, pd.dst_desc()}};
        finish_main(step, pd, std::move(e));
    }

    // With `nan_value`, a native pass writes it where src is NaN (so dst cannot take src's buffer).
    void eltwise(const std::string &name, int src, int dst, const std::string &alg, float alpha, float beta,
                 std::optional<float> nan_value) {
        ThreadGuard guard(threads);
        Step &step = new_step(name);
        memory::desc smd = md(src);
        dnnl::eltwise_forward::primitive_desc pd(cpu_engine(), dnnl::prop_kind::forward_inference,
                                                 algorithm_named(alg), smd, smd, alpha, beta, user_scratchpad_attr());
        tensors[dst].md = smd;
        Exec e;
        e.prim = dnnl::eltwise_forward(pd);
        e.args = {{DNNL_ARG_SRC, src, smd}, {DNNL_ARG_DST, dst, smd}};
        finish_main(step, pd, std::move(e));
        if (!nan_value) {
            step.inplace_src = src;
            step.inplace_dst = dst;
            return;
        }
        Exec fix;
        const auto count = static_cast<int64_t>(smd.get_size() / sizeof(float));
        fix.native = std::make_shared<NanResultKernel>(*nan_value, count);
        fix.args = {{DNNL_ARG_SRC, src, smd}, {DNNL_ARG_DST, dst, smd}};
        step.execs.push_back(std::move(fix));
    }

    // a (op) b with b a tensor of a's shape, or (b_tensor < 0) the constant `b` broadcast from b_dims.
    void binary(const std::string &name, int a, int b_tensor, std::optional<farray> b, const dims_t &b_dims, int dst,
                const std::string &alg) {
        ThreadGuard guard(threads);
        auto &eng = cpu_engine();
        Step &step = new_step(name);
        memory::desc amd, bmd;
        int at = a, bt = b_tensor;
        if (b_tensor >= 0 && tensors[b_tensor].dims == tensors[a].dims) {
            amd = md(a);
            if (amd.get_data_type() != dt::f32 && md(b_tensor).get_data_type() != amd.get_data_type()) {
                at = ensure_plain(step, a, dt::f32);
                amd = md(at);
            }
            bt = ensure(step, b_tensor, amd);
            bmd = amd;
        } else {
            at = ensure_plain(step, a, dt::f32);
            amd = md(at);
            bmd = plain_md(b_dims);
            if (b_tensor >= 0) {
                bt = ensure_plain(step, b_tensor, dt::f32);
                bmd = plain_md(b_dims);  // same bytes, rank-padded dims
            }
        }
        dnnl::binary::primitive_desc pd(eng, algorithm_named(alg), amd, bmd, amd, user_scratchpad_attr());
        tensors[dst].md = amd;
        step.inplace_src = at;
        step.inplace_dst = dst;
        Exec e;
        e.prim = dnnl::binary(pd);
        e.args = {{DNNL_ARG_SRC_0, at, amd}, {DNNL_ARG_DST, dst, amd}};
        if (bt >= 0)
            e.args.push_back({DNNL_ARG_SRC_1, bt, bmd});
        else
            e.constants.emplace_back(DNNL_ARG_SRC_1, constant_memory(*b, b_dims, bmd));
        finish_main(step, pd, std::move(e));
    }

    // dst = a @ b (+ bias) (+ sum_src) with post-ops. a (and a runtime b) are read as plain tensors
    // through (dims, strides) views; a constant b is reordered once into the layout oneDNN prefers.
    void matmul(const std::string &name, int a, const dims_t &a_dims, const dims_t &a_strides, int b_tensor,
                std::optional<farray> b, const dims_t &b_dims, const dims_t &b_strides, std::optional<farray> bias,
                const dims_t &bias_dims, const std::vector<std::tuple<std::string, float, float>> &post, int sum_src,
                int dst, const dims_t &dst_dims, bool bf16, bool out_bf16) {
        ThreadGuard guard(threads);
        auto &eng = cpu_engine();
        Step &step = new_step(name);
        dt ct = dtype_of(bf16 && b_tensor < 0), ot = dtype_of(out_bf16 && b_tensor < 0);
        int at = ensure_plain(step, a, ct);
        memory::desc amd(a_dims, ct, a_strides);
        memory::desc bmd = b_tensor >= 0 ? memory::desc(b_dims, ct, b_strides) : any_md(b_dims, ct);
        int bt = b_tensor >= 0 ? ensure_plain(step, b_tensor, ct) : -1;
        memory::desc dmd = plain_md(dst_dims, ot);
        memory::desc biasmd = bias ? plain_md(bias_dims) : memory::desc();
        dnnl::primitive_attr attr = user_scratchpad_attr();
        attr.set_post_ops(make_post_ops(post, sum_src >= 0));
        tensors[dst].md = plain_md(tensors[dst].dims, ot);
        const size_t rank = b_dims.size();
        const memory::dim k = b_dims[rank - 2], n = b_dims[rank - 1];
        if (b_tensor < 0 && ct == dt::f32 && ot == dt::f32 && a_strides == dense_strides(a_dims) &&
            std::all_of(b_dims.begin(), b_dims.end() - 2, [](memory::dim d) { return d == 1; })) {
            memory::dim m = 1;
            for (size_t d = 0; d + 1 < a_dims.size(); ++d) m *= a_dims[d];
            if (auto cpd = rows_conv_pd(m, k, n, bias.has_value(), attr)) {
                if (sum_src >= 0) residual_sum(step, sum_src, dst);
                Exec e;
                e.prim = dnnl::convolution_forward(*cpd);
                e.args = {{DNNL_ARG_SRC, at, cpd->src_desc()}, {DNNL_ARG_DST, dst, cpd->dst_desc()}};
                // the weights [n, k, 1, 1] viewed in b's buffer (b[k, n] through b_strides)
                memory::desc view({n, k, 1, 1}, dt::f32, dims_t{b_strides[rank - 1], b_strides[rank - 2], 1, 1});
                e.constants.emplace_back(DNNL_ARG_WEIGHTS, constant_memory(*b, view, cpd->weights_desc()));
                if (bias) e.constants.emplace_back(DNNL_ARG_BIAS, constant_memory(*bias, {n}, cpd->bias_desc()));
                finish_main(step, *cpd, std::move(e));
                return;
            }
        }
        dnnl::matmul::primitive_desc pd(eng, amd, bmd, biasmd, dmd, attr);
        if (sum_src >= 0) residual_sum(step, sum_src, dst);
        Exec e;
        e.prim = dnnl::matmul(pd);
        e.args = {{DNNL_ARG_SRC, at, amd}, {DNNL_ARG_DST, dst, dmd}};
        if (bt >= 0)
            e.args.push_back({DNNL_ARG_WEIGHTS, bt, bmd});
        else  // b given in the logical (dims, strides) view of a plain array
            e.constants.emplace_back(DNNL_ARG_WEIGHTS,
                                     constant_memory(*b, memory::desc(b_dims, dt::f32, b_strides), pd.weights_desc()));
        if (bias) e.constants.emplace_back(DNNL_ARG_BIAS, constant_memory(*bias, bias_dims, biasmd));
        finish_main(step, pd, std::move(e));
    }

    // dst = ScaledDotProductAttention(q, k, v, mask): q, k, v and dst seen through (dims, strides)
    // views of their plain buffers (fused Transposes; q, k, v f32, or bf16 under bf16 when all three
    // are; dst f32, or bf16 with out_bf16), the mask (-1: none) plain f32.
    void attention(const std::string &name, int q, const dims_t &q_dims, const dims_t &q_strides, int k,
                   const dims_t &k_dims, const dims_t &k_strides, int v, const dims_t &v_dims, const dims_t &v_strides,
                   int mask, int dst, const dims_t &dst_dims, const dims_t &dst_strides, bool causal,
                   std::optional<float> scale, bool bf16, bool out_bf16) {
        ThreadGuard guard(threads);
        Step &step = new_step(name);
        // bf16 Q, K, V (written so by their MatMuls) are read as they are, otherwise f32 ones
        const bool in_bf16 =
            bf16 && is_plain(md(q), dt::bf16) && is_plain(md(k), dt::bf16) && is_plain(md(v), dt::bf16);
        const dt it = dtype_of(in_bf16);
        int qt = ensure_plain(step, q, it), kt = ensure_plain(step, k, it), vt = ensure_plain(step, v, it);
        int mt = mask >= 0 ? ensure_plain(step, mask, dt::f32) : -1;
        ie_tf::Attention att({q_dims, q_strides}, {k_dims, k_strides}, {v_dims, v_strides}, {dst_dims, dst_strides},
                             mt >= 0 ? tensors[mt].dims : dims_t{}, mt >= 0, causal, bf16, in_bf16, out_bf16);
        tensors[dst].md = plain_md(tensors[dst].dims, dtype_of(out_bf16));
        Exec e;
        e.native = std::make_shared<AttentionKernel>(att, scale ? *scale : att.default_scale(), mt >= 0);
        e.args = {{DNNL_ARG_SRC_0, qt, memory::desc(q_dims, it, q_strides)},
                  {DNNL_ARG_SRC_1, kt, memory::desc(k_dims, it, k_strides)},
                  {DNNL_ARG_SRC_2, vt, memory::desc(v_dims, it, v_strides)},
                  {DNNL_ARG_DST, dst, memory::desc(dst_dims, dtype_of(out_bf16), dst_strides)}};
        if (mt >= 0) e.args.push_back({DNNL_ARG_SRC_3, mt, md(mt)});
        e.scratch = byte_md(att.scratch_bytes());
        step.impl = att.impl();
        step.execs.push_back(std::move(e));
    }

    // dst = MVN over rows of n elements of src (* gamma + beta, each optional).
    void layer_norm(const std::string &name, int src, int dst, int64_t n, float eps, bool inside, bool norm_var,
                    std::optional<farray> gamma, std::optional<farray> beta) {
        if (n <= 0) throw std::invalid_argument("layer_norm: rows of " + std::to_string(n) + " elements");
        ThreadGuard guard(threads);
        Step &step = new_step(name);
        int s = ensure_plain(step, src, dt::f32);
        auto values = [](const std::optional<farray> &a) {
            return a ? std::vector<float>(a->data(), a->data() + a->size()) : std::vector<float>{};
        };
        const int64_t rows = static_cast<int64_t>(md(s).get_size() / sizeof(float)) / n;
        ie_tf::LayerNorm norm(rows, n, eps, inside, norm_var, values(gamma), values(beta));
        tensors[dst].md = plain_md(tensors[dst].dims);
        step.inplace_src = s;
        step.inplace_dst = dst;
        Exec e;
        e.native = std::make_shared<LayerNormKernel>(norm);
        e.args = {{DNNL_ARG_SRC, s, md(s)}, {DNNL_ARG_DST, dst, tensors[dst].md}};
        e.scratch = byte_md(norm.scratch_bytes());
        step.impl = norm.impl();
        step.execs.push_back(std::move(e));
    }

    void softmax(const std::string &name, int src, int dst, int axis) {
        ThreadGuard guard(threads);
        Step &step = new_step(name);
        int s = ensure_plain(step, src, dt::f32);
        memory::desc smd = md(s);
        dnnl::softmax_forward::primitive_desc pd(cpu_engine(), dnnl::prop_kind::forward_inference,
                                                 algorithm::softmax_accurate, smd, smd, axis, user_scratchpad_attr());
        tensors[dst].md = smd;
        Exec e;
        e.prim = dnnl::softmax_forward(pd);
        e.args = {{DNNL_ARG_SRC, s, smd}, {DNNL_ARG_DST, dst, smd}};
        finish_main(step, pd, std::move(e));
        Exec nan_rows;
        nan_rows.native = std::make_shared<SoftmaxNanRowsKernel>(iecpu::around_axis(tensors[s].dims, axis));
        nan_rows.args = {{DNNL_ARG_DST, dst, smd}};
        step.execs.push_back(std::move(nan_rows));
    }

    // dst: src with other dims (same elements). Free on a plain tensor, a reorder to plain otherwise.
    // Returns false when nothing runs (the step is an alias).
    bool reshape(const std::string &name, int src, int dst) {
        auto count = [this](int t) {
            memory::dim c = 1;
            for (memory::dim d : tensors.at(t).dims) c *= d;  // new_tensor checked that it does not overflow
            return c;
        };
        if (count(src) != count(dst)) throw std::invalid_argument("reshape: the tensors' element counts differ");
        ThreadGuard guard(threads);
        const memory::desc &smd = md(src);
        dt type = smd.get_data_type();
        if (is_plain(smd, type)) {
            tensors[dst].alias = src;
            tensors[dst].md = plain_md(tensors[dst].dims, type);
            return false;
        }
        Step &step = new_step(name);
        memory::desc want = plain_md(tensors[src].dims, type);
        convert(step, src, want, dst);
        tensors[dst].md = plain_md(tensors[dst].dims, type);
        return true;
    }

    // Marks `t` as a program output (plain f32); returns the tensor that holds it.
    int add_output(const std::string &name, int t) {
        bool copy = !is_plain(md(t), dt::f32) || tensors[root(t)].input >= 0;
        for (int o : outputs)
            if (root(o) == root(t)) copy = true;
        if (copy) {
            Step &step = new_step(name);
            t = convert(step, t, plain_md(tensors[t].dims, dt::f32));
        }
        tensors[root(t)].output = true;
        outputs.push_back(t);
        return t;
    }

    void finalize() {
        if (finalized) return;
        const int n = static_cast<int>(tensors.size()), ns = static_cast<int>(steps.size());
        auto liveness = [&](std::vector<int> &first, std::vector<int> &last) {
            first.assign(n, -1);
            last.assign(n, -1);
            for (int s = 0; s < ns; ++s)
                for (auto &e : steps[s].execs)
                    for (auto &a : e.args) {
                        int r = root(a.tensor);
                        if (first[r] < 0) first[r] = s;
                        last[r] = s;
                    }
        };
        std::vector<int> first, last;
        liveness(first, last);
        // residual sums in place: the shortcut's buffer becomes the convolution's output
        for (int s = 0; s < ns; ++s) {
            Step &st = steps[s];
            if (st.sum_src < 0) continue;
            int r = root(st.sum_src);
            const Tensor &t = tensors[r];
            if (last[r] != s || t.input >= 0 || t.output || tensors[st.sum_dst].output) continue;
            if (!(md(st.sum_src) == md(st.sum_dst))) continue;
            // the convolution must not read the buffer it would write into
            bool read = false;
            for (int k = 0; k < static_cast<int>(st.execs.size()); ++k)
                if (k != st.sum_copy)
                    for (auto &a : st.execs[k].args)
                        if (root(a.tensor) == r) read = true;
            if (read) continue;
            tensors[st.sum_dst].alias = r;
            st.execs.erase(st.execs.begin() + st.sum_copy);
            liveness(first, last);
        }
        // element-wise layers in place: the output takes the buffer of an input dead afterwards
        for (int s = 0; s < ns; ++s) {
            Step &st = steps[s];
            if (st.inplace_src < 0 || st.execs.size() != 1) continue;
            int r = root(st.inplace_src);
            const Tensor &t = tensors[r];
            if (last[r] != s || t.input >= 0 || t.output || tensors[st.inplace_dst].output) continue;
            if (!(md(st.inplace_src) == md(st.inplace_dst)) || tensors[st.inplace_dst].alias >= 0) continue;
            bool other = false;  // read through another argument too (x op x)
            for (auto &a : st.execs[0].args)
                if (a.tensor != st.inplace_src && a.tensor != st.inplace_dst && root(a.tensor) == r) other = true;
            if (other) continue;
            tensors[st.inplace_dst].alias = r;
            liveness(first, last);
        }
        // greedy first-fit placement in order of definition
        struct Block {
            size_t off, size;
            int tensor;
        };
        std::vector<Block> live;
        std::vector<std::vector<int>> defined(ns), dying(ns);
        for (int t = 0; t < n; ++t) {
            if (root(t) != t || first[t] < 0 || tensors[t].input >= 0) continue;
            defined[first[t]].push_back(t);
            if (!tensors[t].output) dying[last[t]].push_back(t);
        }
        size_t end = 0;
        for (int s = 0; s < ns; ++s) {
            for (int t : defined[s]) {
                size_t size = align64(std::max<size_t>(tensor_bytes(t), 1));
                std::sort(live.begin(), live.end(), [](const Block &x, const Block &y) { return x.off < y.off; });
                size_t off = 0;  // the first gap that fits, else the end
                for (auto &b : live) {
                    if (b.off >= off + size) break;
                    off = std::max(off, b.off + b.size);
                }
                tensors[t].offset = off;
                live.push_back({off, size, t});
                end = std::max(end, off + size);
            }
            for (int t : dying[s])
                live.erase(std::remove_if(live.begin(), live.end(), [t](const Block &b) { return b.tensor == t; }),
                           live.end());
        }
        arena_size = end;
        for (auto &st : steps)
            for (auto &e : st.execs) scratch_size = std::max(scratch_size, e.scratch.get_size());
        finalized = true;
    }

    // Bytes a tensor's buffer needs: the largest of the layouts it is seen in (aliases included).
    size_t tensor_bytes(int r) const {
        size_t size = 0;
        for (int t = 0; t < static_cast<int>(tensors.size()); ++t)
            if (root(t) == r && tensors[t].md) size = std::max(size, tensors[t].md.get_size());
        for (auto &st : steps)
            for (auto &e : st.execs)
                for (auto &a : e.args)
                    if (root(a.tensor) == r) size = std::max(size, a.md.get_size());
        return size;
    }

    std::shared_ptr<Request> new_request() {
        finalize();
        return std::make_shared<Request>(shared_from_this());
    }

    py::list step_info() const {
        py::list out;
        for (auto &s : steps) out.append(py::make_tuple(s.name, s.impl, s.execs.size()));
        return out;
    }
};

Request::Request(std::shared_ptr<const Program> p) : prog(std::move(p)), strm(cpu_engine()) {
    const Program &P = *prog;
    auto &eng = cpu_engine();
    size_t total = P.arena_size + align64(P.scratch_size) + 128;
    storage.reset(new (std::nothrow) char[total]);
    if (!storage) {
        PyErr_Format(PyExc_MemoryError, "cannot allocate the %zu bytes of the program's working memory", total);
        throw py::error_already_set();
    }
    arena = reinterpret_cast<char *>((reinterpret_cast<uintptr_t>(storage.get()) + 63) & ~uintptr_t(63));
    scratch = arena + P.arena_size;
    input_mems.resize(P.inputs.size());
    times.assign(P.steps.size(), 0);
    args.resize(P.steps.size());
    for (size_t s = 0; s < P.steps.size(); ++s) {
        for (auto &e : P.steps[s].execs) {
            std::unordered_map<int, memory> m;
            for (auto &a : e.args) {
                int r = P.root(a.tensor);
                const Tensor &t = P.tensors[r];
                if (t.input >= 0) {
                    memory mem(a.md, eng, nullptr);
                    input_mems[t.input].push_back(mem);
                    m.emplace(a.arg, mem);
                } else {
                    m.emplace(a.arg, memory(a.md, eng, arena + t.offset));
                }
            }
            for (auto &c : e.constants) m.emplace(c.first, c.second);
            if (e.scratch.get_size()) m.emplace(DNNL_ARG_SCRATCHPAD, memory(e.scratch, eng, scratch));
            args[s].push_back(std::move(m));
        }
    }
}

py::list Request::run(const std::vector<py::array> &in, bool profile) {
    const Program &P = *prog;
    using clock = std::chrono::steady_clock;
    // profiled: each step is timed from the end of the previous one, so that binding the inputs
    // counts to the first step and handing back the outputs to the last (the whole call is covered)
    auto t_prev = profile ? clock::now() : clock::time_point();
    auto elapsed = [&t_prev]() {
        auto now = clock::now();
        long long ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - t_prev).count();
        t_prev = now;
        return ns;
    };
    if (in.size() != P.inputs.size()) throw std::invalid_argument("wrong number of program inputs");
    std::vector<farray> held;
    held.reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
        held.push_back(farray::ensure(in[i]));
        if (!held.back()) throw std::invalid_argument("input is not convertible to float32");
        size_t want = P.tensors[P.inputs[i]].md.get_size();
        if (static_cast<size_t>(held.back().size()) * sizeof(float) != want)
            throw std::invalid_argument("program input has the wrong number of elements");
        for (auto &m : input_mems[i]) m.set_data_handle(const_cast<float *>(held.back().data()));
    }
    {
        py::gil_scoped_release release;
        ThreadGuard guard(P.threads);
        t_last_threads = omp_get_max_threads();
        for (size_t s = 0; s < P.steps.size(); ++s) {
            const auto &execs = P.steps[s].execs;
            for (size_t k = 0; k < execs.size(); ++k) {
                if (execs[k].native)
                    execs[k].native->execute(strm, args[s][k]);
                else
                    execs[k].prim.execute(strm, args[s][k]);
            }
            if (profile) {
                strm.wait();
                times[s] = elapsed();
            }
        }
        strm.wait();
    }
    py::list outputs;
    py::object owner = py::cast(this, py::return_value_policy::reference);
    for (int t : P.outputs) {
        const Tensor &r = P.tensors[P.root(t)];
        std::vector<py::ssize_t> shape(P.tensors[t].dims.begin(), P.tensors[t].dims.end());
        outputs.append(py::array_t<float>(shape, reinterpret_cast<float *>(arena + r.offset), owner));
    }
    if (profile && !times.empty()) times.back() += elapsed();
    return outputs;
}

void init_program(py::module_ &m) {
    py::class_<Request, std::shared_ptr<Request>>(m, "ProgramRequest")
        .def("run", &Request::run, py::arg("inputs"), py::arg("profile") = false,
             "Run with the program inputs (float32 arrays); returns the outputs (views of this request's memory).")
        .def_property_readonly("times", &Request::get_times, "ns per step of the last profiled run");

    py::class_<Program, std::shared_ptr<Program>>(m, "Program")
        .def(py::init<int>(), py::arg("threads") = 0)
        .def("add_input", &Program::add_input)
        .def("add_tensor", &Program::add_tensor)
        .def("add_output", &Program::add_output)
        .def("conv", &Program::conv)
        .def_static("preferred_src_layout", &Program::preferred_src_layout,
                    "The activation layout a convolution prefers for its source (0 plain, 1 channels-last, "
                    "2/3 16/8-channel blocks; -1 another)")
        .def("pool", &Program::pool)
        .def("eltwise", &Program::eltwise)
        .def("binary", &Program::binary)
        .def("matmul", &Program::matmul)
        .def("softmax", &Program::softmax)
        .def("attention", &Program::attention)
        .def("layer_norm", &Program::layer_norm)
        .def("reshape", &Program::reshape)
        .def("finalize", &Program::finalize)
        .def("new_request", &Program::new_request)
        .def("steps", &Program::step_info, "(layer name, implementation, primitives run incl. reorders) per step")
        .def_readonly("threads", &Program::threads)
        .def_readonly("arena_size", &Program::arena_size)
        .def_readonly("scratch_size", &Program::scratch_size)
        .def("tensor_layout", [](const Program &p, int t) {
            const memory::desc &own = p.tensors.at(t).md;
            return py::make_tuple(own.get_format_kind() == memory::format_kind::blocked && own.get_inner_nblks() > 0,
                                  own.get_data_type() == dt::bf16);
        }, "(blocked, bf16) of a tensor's layout");
}
