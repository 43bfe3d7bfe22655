// ie_backend_cpu._ext: oneDNN primitives for the ie-core CPU backend.
//
// Each factory builds one oneDNN primitive for a node's static shapes (f32;
// inputs and outputs are plain row-major arrays, a primitive that prefers
// another layout gets reorders around it) and returns a `Primitive` whose
// `run(inputs)` executes it.  A Primitive is immutable after construction, so
// one instance serves any number of concurrent inference requests:
//  * the scratchpad is user-managed and allocated per execution,
//  * a stream is created per execution,
//  * the GIL is released while oneDNN computes,
//  * the OpenMP thread count of the executing thread is set per execution to
//    the compiled model's CPU_THREADS_NUM (0 = the process default).

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "common.hpp"
#include "isa.hpp"
#include "vec_kernels.hpp"

namespace py = pybind11;
using dnnl::algorithm;
using dnnl::memory;
using dims_t = memory::dims;
using namespace iecpu;

void init_program(py::module_ &m);  // program.cpp
void transformer_module(py::module_ &m);  // transformer.cpp

namespace {

memory::desc strided_md(const dims_t &dims, const dims_t &strides) {
    return memory::desc(dims, memory::data_type::f32, strides);
}

std::string dims_str(const std::vector<py::ssize_t> &d) {
    std::ostringstream s;
    s << "(";
    for (size_t i = 0; i < d.size(); ++i) s << (i ? ", " : "") << d[i];
    s << ")";
    return s.str();
}

// OpenMP (libgomp) keeps a pool of team threads per calling thread and hands them
// the same team numbers in every parallel region of the same size, so pinning them
// once from inside a region sticks for that caller's later regions.
void bind_threads(const std::vector<std::vector<int>> &masks, bool master) {
    if (masks.empty()) return;
    for (auto &m : masks)
        for (int c : m)
            if (c < 0 || c >= CPU_SETSIZE) throw std::invalid_argument("bind_threads: CPU number out of range");
    const int n = static_cast<int>(masks.size());
    int failed = 0;
    {
        py::gil_scoped_release release;
#pragma omp parallel num_threads(n) reduction(+ : failed)
        {
            const int t = omp_get_thread_num();
            if ((t > 0 || master) && t < n && !masks[t].empty()) {
                cpu_set_t set;
                CPU_ZERO(&set);
                for (int c : masks[t]) CPU_SET(c, &set);
                failed += sched_setaffinity(0, sizeof(set), &set) != 0;
            }
        }
    }
    if (failed) throw std::runtime_error("bind_threads: sched_setaffinity failed");
}

}  // namespace

// A layout conversion run around a primitive (user plain layout <-> the primitive's own).
struct Reorder {
    bool on = false;
    memory::desc to_md;       // the layout converted into
    memory::desc scratch_md;
    dnnl::primitive prim;

    Reorder() = default;
    Reorder(const memory::desc &from, const memory::desc &to) : on(true), to_md(to) {
        auto &eng = cpu_engine();
        dnnl::reorder::primitive_desc pd(eng, from, eng, to, user_scratchpad_attr());
        prim = dnnl::reorder(pd);
        scratch_md = pd.scratchpad_desc();
    }

    void execute(dnnl::stream &strm, const memory &from, const memory &to) const;
};

// Memory for a user-managed scratchpad, 64-byte aligned.
struct Scratch {
    std::unique_ptr<char[]> buf;
    void *get(size_t size) {
        buf.reset(new char[size + 64]);
        return reinterpret_cast<void *>((reinterpret_cast<uintptr_t>(buf.get()) + 63) & ~uintptr_t(63));
    }
};

void Reorder::execute(dnnl::stream &strm, const memory &from, const memory &to) const {
    std::unordered_map<int, memory> args{{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    Scratch scratch;
    if (size_t size = scratch_md.get_size())
        args.emplace(DNNL_ARG_SCRATCHPAD, memory(scratch_md, cpu_engine(), scratch.get(size)));
    prim.execute(strm, args);
}

// One oneDNN primitive with its runtime input slots, baked constant arguments and output.
class Primitive {
public:
    dnnl::primitive prim;
    std::vector<std::pair<int, memory::desc>> inputs;  // runtime inputs (user layout), in run() order
    std::vector<Reorder> input_reorders;               // per input: into the primitive's layout, if needed
    std::vector<std::pair<int, memory>> constants;     // arguments baked in at build time
    memory::desc dst_md;                               // the primitive's output layout
    memory::desc user_dst_md;                          // the returned array's (plain) layout
    Reorder dst_reorder;                               // dst_md -> user_dst_md, if they differ
    memory::desc scratch_md;
    std::vector<py::ssize_t> out_shape;
    std::string impl;
    int threads = 0;
    std::function<void(const std::vector<const float *> &, float *)> finish;  // (inputs, output), after the primitive

    template <typename P, typename PD>
    void init(const PD &pd, const dims_t &out_dims) {
        prim = P(pd);
        impl = pd.impl_info_str();
        dst_md = user_dst_md = pd.dst_desc();
        scratch_md = pd.scratchpad_desc();
        out_shape.assign(out_dims.begin(), out_dims.end());
    }

    void add_input(int arg, const memory::desc &user_md, const memory::desc &prim_md) {
        inputs.emplace_back(arg, user_md);
        input_reorders.push_back(user_md == prim_md ? Reorder() : Reorder(user_md, prim_md));
    }

    void add_input(int arg, const memory::desc &md) { add_input(arg, md, md); }

    void set_user_dst(const memory::desc &user_md) {
        user_dst_md = user_md;
        dst_reorder = user_md == dst_md ? Reorder() : Reorder(dst_md, user_md);
    }

    py::array run(const std::vector<py::array> &args) const {
        if (args.size() != inputs.size()) {
            std::ostringstream s;
            s << "expected " << inputs.size() << " inputs, got " << args.size();
            throw std::invalid_argument(s.str());
        }
        std::vector<farray> held;
        held.reserve(args.size());
        for (size_t i = 0; i < args.size(); ++i) {
            held.push_back(farray::ensure(args[i]));
            if (!held.back()) throw std::invalid_argument("input is not convertible to float32");
            size_t want = inputs[i].second.get_size();
            size_t have = static_cast<size_t>(held.back().size()) * sizeof(float);
            if (want != have) {
                std::ostringstream s;
                s << "input " << i << " has " << held.back().size() << " elements, the primitive expects "
                  << want / sizeof(float);
                throw std::invalid_argument(s.str());
            }
        }
        py::array_t<float> out(out_shape);
        float *dst = out.mutable_data();
        std::vector<const float *> srcs;
        for (auto &a : held) srcs.push_back(a.data());
        {
            py::gil_scoped_release release;
            ThreadGuard guard(threads);
            t_last_threads = omp_get_max_threads();
            auto &eng = cpu_engine();
            dnnl::stream strm(eng);
            std::unordered_map<int, memory> margs;
            for (size_t i = 0; i < inputs.size(); ++i) {
                memory user(inputs[i].second, eng, const_cast<float *>(srcs[i]));
                const Reorder &r = input_reorders[i];
                if (r.on) {
                    memory inner(r.to_md, eng);
                    r.execute(strm, user, inner);
                    margs.emplace(inputs[i].first, inner);
                } else {
                    margs.emplace(inputs[i].first, user);
                }
            }
            for (auto &c : constants) margs.emplace(c.first, c.second);
            memory user_dst(user_dst_md, eng, dst);
            memory inner_dst = dst_reorder.on ? memory(dst_md, eng) : user_dst;
            margs.emplace(DNNL_ARG_DST, inner_dst);
            Scratch scratch;
            if (size_t size = scratch_md.get_size())
                margs.emplace(DNNL_ARG_SCRATCHPAD, memory(scratch_md, eng, scratch.get(size)));
            prim.execute(strm, margs);
            if (dst_reorder.on) dst_reorder.execute(strm, inner_dst, user_dst);
            strm.wait();
            if (finish) finish(srcs, dst);
        }
        return std::move(out);
    }
};

namespace {

std::shared_ptr<Primitive> make_conv(const dims_t &src, const farray &weights, const dims_t &w_dims,
                                     const dims_t &dst, const dims_t &strides, const dims_t &dilations,
                                     const dims_t &pad_l, const dims_t &pad_r, int threads, bool blocked_layouts) {
    ThreadGuard guard(threads);
    auto &eng = cpu_engine();
    auto any = [](const dims_t &d) { return memory::desc(d, memory::data_type::f32, memory::format_tag::any); };
    // Activations: plain, or (blocked_layouts) whatever oneDNN prefers, reordered around the call.
    memory::desc src_md = blocked_layouts ? any(src) : plain_md(src);
    memory::desc dst_md = blocked_layouts ? any(dst) : plain_md(dst);
    dnnl::convolution_forward::primitive_desc pd(eng, dnnl::prop_kind::forward_inference,
                                                 algorithm::convolution_direct, src_md, any(w_dims), dst_md,
                                                 strides, dilations, pad_l, pad_r, user_scratchpad_attr());
    auto p = std::make_shared<Primitive>();
    p->init<dnnl::convolution_forward>(pd, dst);
    p->threads = threads;
    p->add_input(DNNL_ARG_SRC, plain_md(src), pd.src_desc());
    p->set_user_dst(plain_md(dst));
    p->constants.emplace_back(DNNL_ARG_WEIGHTS, constant_memory(weights, w_dims, pd.weights_desc()));
    return p;
}

std::shared_ptr<Primitive> make_pool(const std::string &alg, const dims_t &src, const dims_t &dst,
                                     const dims_t &kernel, const dims_t &strides, const dims_t &dilations,
                                     const dims_t &pad_l, const dims_t &pad_r, int threads) {
    ThreadGuard guard(threads);
    dnnl::pooling_forward::primitive_desc pd(cpu_engine(), dnnl::prop_kind::forward_inference,
                                             algorithm_named(alg), plain_md(src), plain_md(dst), strides,
                                             kernel, dilations, pad_l, pad_r, user_scratchpad_attr());
    auto p = std::make_shared<Primitive>();
    p->init<dnnl::pooling_forward>(pd, dst);
    p->threads = threads;
    p->add_input(DNNL_ARG_SRC, plain_md(src));
    return p;
}

std::shared_ptr<Primitive> make_matmul(const dims_t &a_dims, const dims_t &a_strides, const dims_t &b_dims,
                                       const dims_t &b_strides, const dims_t &dst, const dims_t &out_shape,
                                       int threads) {
    ThreadGuard guard(threads);
    memory::desc a = strided_md(a_dims, a_strides), b = strided_md(b_dims, b_strides);
    dnnl::matmul::primitive_desc pd(cpu_engine(), a, b, plain_md(dst), user_scratchpad_attr());
    auto p = std::make_shared<Primitive>();
    p->init<dnnl::matmul>(pd, out_shape);
    p->threads = threads;
    p->add_input(DNNL_ARG_SRC, a);
    p->add_input(DNNL_ARG_WEIGHTS, b);
    return p;
}

std::shared_ptr<Primitive> make_binary(const std::string &alg, const dims_t &a, const dims_t &b,
                                       const dims_t &dst, const dims_t &out_shape, int threads) {
    ThreadGuard guard(threads);
    dnnl::binary::primitive_desc pd(cpu_engine(), algorithm_named(alg), plain_md(a), plain_md(b), plain_md(dst),
                                    user_scratchpad_attr());
    auto p = std::make_shared<Primitive>();
    p->init<dnnl::binary>(pd, out_shape);
    p->threads = threads;
    p->add_input(DNNL_ARG_SRC_0, plain_md(a));
    p->add_input(DNNL_ARG_SRC_1, plain_md(b));
    return p;
}

// With `nan_value`, the output holds it where the input is NaN.
std::shared_ptr<Primitive> make_eltwise(const std::string &alg, const dims_t &dims, const dims_t &out_shape,
                                        float alpha, float beta, std::optional<float> nan_value, int threads) {
    ThreadGuard guard(threads);
    dnnl::eltwise_forward::primitive_desc pd(cpu_engine(), dnnl::prop_kind::forward_inference, algorithm_named(alg),
                                             plain_md(dims), plain_md(dims), alpha, beta, user_scratchpad_attr());
    auto p = std::make_shared<Primitive>();
    p->init<dnnl::eltwise_forward>(pd, out_shape);
    p->threads = threads;
    p->add_input(DNNL_ARG_SRC, plain_md(dims));
    if (nan_value) {
        const int64_t n = static_cast<int64_t>(plain_md(dims).get_size() / sizeof(float));
        p->finish = [value = *nan_value, n](const std::vector<const float *> &srcs, float *y) {
            nan_result(srcs[0], y, n, value);
        };
    }
    return p;
}

std::shared_ptr<Primitive> make_prelu(const dims_t &dims, const dims_t &w_dims, const dims_t &out_shape,
                                      int threads) {
    ThreadGuard guard(threads);
    dnnl::prelu_forward::primitive_desc pd(cpu_engine(), dnnl::prop_kind::forward_inference, plain_md(dims),
                                           plain_md(w_dims), plain_md(dims), user_scratchpad_attr());
    auto p = std::make_shared<Primitive>();
    p->init<dnnl::prelu_forward>(pd, out_shape);
    p->threads = threads;
    p->add_input(DNNL_ARG_SRC, plain_md(dims));
    p->add_input(DNNL_ARG_WEIGHTS, plain_md(w_dims));
    return p;
}

std::shared_ptr<Primitive> make_softmax(const dims_t &dims, int axis, const dims_t &out_shape, int threads) {
    ThreadGuard guard(threads);
    dnnl::softmax_forward::primitive_desc pd(cpu_engine(), dnnl::prop_kind::forward_inference,
                                             algorithm::softmax_accurate, plain_md(dims), plain_md(dims), axis,
                                             user_scratchpad_attr());
    auto p = std::make_shared<Primitive>();
    p->init<dnnl::softmax_forward>(pd, out_shape);
    p->threads = threads;
    p->add_input(DNNL_ARG_SRC, plain_md(dims));
    auto split = around_axis(dims, axis);
    p->finish = [split](const std::vector<const float *> &, float *y) {
        softmax_nan_rows(y, split[0], split[1], split[2]);
    };
    return p;
}

}  // namespace

PYBIND11_MODULE(_ext, m) {
    m.doc() = "oneDNN primitives for the ie-core CPU backend";
    g_default_threads = omp_get_max_threads();

    py::register_exception<dnnl::error>(m, "DnnlError", PyExc_RuntimeError);

    py::class_<Primitive, std::shared_ptr<Primitive>>(m, "Primitive")
        .def("run", &Primitive::run, py::arg("inputs"),
             "Execute with the runtime inputs (float32 arrays); returns a new output array.")
        .def_readonly("impl", &Primitive::impl)
        .def_readonly("threads", &Primitive::threads)
        .def_property_readonly("out_shape", [](const Primitive &p) { return p.out_shape; })
        .def("__repr__", [](const Primitive &p) {
            return "<Primitive " + p.impl + " -> " + dims_str(p.out_shape) + ">";
        });

    m.def("convolution", &make_conv, py::arg("src"), py::arg("weights"), py::arg("weights_dims"), py::arg("dst"),
          py::arg("strides"), py::arg("dilations"), py::arg("pad_l"), py::arg("pad_r"), py::arg("threads") = 0, py::arg("blocked_layouts") = false);
    m.def("pooling", &make_pool, py::arg("algorithm"), py::arg("src"), py::arg("dst"), py::arg("kernel"),
          py::arg("strides"), py::arg("dilations"), py::arg("pad_l"), py::arg("pad_r"), py::arg("threads") = 0);
    m.def("matmul", &make_matmul, py::arg("a_dims"), py::arg("a_strides"), py::arg("b_dims"), py::arg("b_strides"),
          py::arg("dst"), py::arg("out_shape"), py::arg("threads") = 0);
    m.def("binary", &make_binary, py::arg("algorithm"), py::arg("a"), py::arg("b"), py::arg("dst"),
          py::arg("out_shape"), py::arg("threads") = 0);
    m.def("eltwise", &make_eltwise, py::arg("algorithm"), py::arg("dims"), py::arg("out_shape"),
          py::arg("alpha") = 0.f, py::arg("beta") = 0.f, py::arg("nan_value") = std::nullopt, py::arg("threads") = 0);
    m.def("prelu", &make_prelu, py::arg("dims"), py::arg("weights_dims"), py::arg("out_shape"),
          py::arg("threads") = 0);
    m.def("softmax", &make_softmax, py::arg("dims"), py::arg("axis"), py::arg("out_shape"), py::arg("threads") = 0);

    init_program(m);
    transformer_module(m);

    m.def("dnnl_version", []() {
        const dnnl_version_t *v = dnnl_version();
        std::ostringstream s;
        s << v->major << "." << v->minor << "." << v->patch;
        return s.str();
    }, "oneDNN's version as major.minor.patch");
    m.def("cpu_isa", &dnnl_isa_name,
          "oneDNN's effective instruction set: the CPU's, capped by ONEDNN_MAX_CPU_ISA (e.g. avx512_core_bf16)");
    m.def("native_isa", []() { return std::string(vec::kernels().isa); },
          "The instruction set the extension's own kernels run on (follows cpu_isa(): avx512_core, avx2, sse2)");
    m.def("dnnl_hash", []() { return std::string(dnnl_version()->hash); }, "oneDNN's git hash");
    m.def("omp_max_threads", []() { return omp_get_max_threads(); },
          "omp_get_max_threads() of the calling thread (what oneDNN uses on it)");
    m.def("last_threads", []() { return t_last_threads; },
          "The OpenMP thread count the calling thread's last primitive execution ran with (0: none yet)");
    m.def("default_threads", []() { return g_default_threads; },
          "The OpenMP thread count at import time (OMP_NUM_THREADS or the number of cores)");
    m.def("bind_threads", &bind_threads, py::arg("masks"), py::arg("master") = true,
          "Pin the calling thread's OpenMP team of len(masks) threads: thread t to the CPUs masks[t] "
          "(the calling thread itself only when master is true)");
    m.def("team_cpus", [](int threads) {
        std::vector<std::vector<int>> out(std::max(threads, 1));
        py::gil_scoped_release release;
#pragma omp parallel num_threads(threads)
        {
            cpu_set_t set;
            if (sched_getaffinity(0, sizeof(set), &set) == 0)
                for (int c = 0; c < CPU_SETSIZE; ++c)
                    if (CPU_ISSET(c, &set)) out[omp_get_thread_num()].push_back(c);
        }
        return out;
    }, "The CPUs each thread of the calling thread's OpenMP team of `threads` may run on");
}
