// The EXAMPLE device's own kernel: Relu on float32 tensors.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

namespace py = pybind11;

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

// max(x, 0) elementwise, max being IEEE maxNum as in the reference op: NaN gives 0.
static FloatArray relu(const FloatArray &x) {
    FloatArray y(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    const float *in = x.data();
    float *out = y.mutable_data();
    const py::ssize_t n = x.size();
    {
        py::gil_scoped_release unlocked;
        for (py::ssize_t i = 0; i < n; ++i) {
            out[i] = in[i] > 0.0f ? in[i] : 0.0f;
        }
    }
    return y;
}

PYBIND11_MODULE(_kernels, m) {
    m.doc() = "native kernels of the EXAMPLE device";
    m.def("relu", &relu, py::arg("x"), "Relu of a float32 array, as a new array");
}
