"""CPU custom-op extensions: IEPlugin("CPU").add_cpu_extension(path) with the C ABI of ie_core_cpu_extension.h.

The example extension tests/extension/custom_ops.c is compiled with the system C
compiler against the header installed with ie-backend-cpu, and runs an IR whose
layers have the custom types. Its ops are not OpenVINO ops, so the expected
values are numpy expressions.
"""

import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ie_backend_cpu = pytest.importorskip("ie_backend_cpu")

from ie_backend_cpu import extension  # noqa: E402
from ie_core import IENetwork, IEPlugin, errors  # noqa: E402

SOURCE_DIR = Path(__file__).parent / "extension"
SCALE, SHIFT = 0.5, -1.25
FOLD_SCALE, FOLD_SHIFT = 2.0, 1.0
CONST = np.arange(6, dtype=np.float32).reshape(2, 3, 1)


# ---- building libraries ----------------------------------------------------


def _compiler():
    for candidate in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


def compile_library(source, out_dir, name, defines=()):
    """Compile ``source`` (a path, or C text) into ``out_dir/lib<name>.so``; skips the test without a compiler."""
    cc = _compiler()
    if cc is None:
        pytest.skip("no C compiler (cc/gcc/clang) to build the example extension")
    out_dir = Path(out_dir)
    if not isinstance(source, Path):
        text, source = source, out_dir / f"{name}.c"
        source.write_text(text)
    target = out_dir / f"lib{name}.so"
    cmd = [cc, "-shared", "-fPIC", "-O2", "-std=c99", "-Wall", "-I", ie_backend_cpu.include_dir()]
    cmd += [f"-D{d}" for d in defines] + [str(source), "-o", str(target)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stderr}"
    return str(target)


@pytest.fixture(scope="module")
def libcustom(tmp_path_factory):
    """The example extension, built once for the module."""
    return compile_library(SOURCE_DIR / "custom_ops.c", tmp_path_factory.mktemp("ext"), "custom_ops")


# ---- IR -----------------------------------------------------------------------


def _port(pid, dims, names=None):
    named = f' names="{names}"' if names else ""
    return f'<port id="{pid}" precision="FP32"{named}>' + "".join(f"<dim>{d}</dim>" for d in dims) + "</port>"


def _layer(lid, name, ltype, version, data, ins, outs):
    """A <layer>: ``ins``/``outs`` are lists of dims; input ports are 0.., output ports follow them."""
    attrs = " ".join(f'{k}="{v}"' for k, v in data.items())
    body = f"<data {attrs}/>" if data else ""
    if ins:
        body += "<input>" + "".join(_port(i, d) for i, d in enumerate(ins)) + "</input>"
    if outs:
        body += "<output>" + "".join(_port(len(ins) + i, d, name) for i, d in enumerate(outs)) + "</output>"
    return f'<layer id="{lid}" name="{name}" type="{ltype}" version="{version}">{body}</layer>'


def write_ir(directory, layers, edges, blob=b"", name="custom"):
    """Write ``layers`` (from :func:`_layer`) and ``edges`` ((from, port, to, port)) as IR v11; returns the xml path."""
    text = (
        f'<?xml version="1.0"?>\n<net name="{name}" version="11">\n<layers>\n'
        + "\n".join(layers)
        + "\n</layers>\n<edges>\n"
        + "\n".join(f'<edge from-layer="{a}" from-port="{b}" to-layer="{c}" to-port="{d}"/>' for a, b, c, d in edges)
        + "\n</edges>\n</net>\n"
    )
    xml = Path(directory) / f"{name}.xml"
    xml.write_text(text)
    xml.with_suffix(".bin").write_bytes(blob)
    return str(xml)


def read(xml):
    return IENetwork(model=xml, weights=xml[:-4] + ".bin")


@pytest.fixture
def custom_ir(tmp_path):
    """x[2,3,4] -> CustomScaleShift -> CustomPairConcat(., y[2,3,5]) -> ReLU -> CustomPairConcat(., folded)

    where folded = CustomScaleShift(Const[2,3,1]) is computed at load time (constant folding).
    """
    layers = [
        _layer(0, "x", "Parameter", "opset1", {"shape": "2,3,4", "element_type": "f32"}, [], [(2, 3, 4)]),
        _layer(1, "y", "Parameter", "opset1", {"shape": "2,3,5", "element_type": "f32"}, [], [(2, 3, 5)]),
        _layer(2, "scaled", "CustomScaleShift", "extension", {"scale": SCALE, "shift": SHIFT}, [(2, 3, 4)], [(2, 3, 4)]),
        _layer(3, "joined", "CustomPairConcat", "extension", {}, [(2, 3, 4), (2, 3, 5)], [(2, 3, 9)]),
        _layer(4, "relu", "ReLU", "opset1", {}, [(2, 3, 9)], [(2, 3, 9)]),
        _layer(5, "c", "Const", "opset1", {"element_type": "f32", "shape": "2,3,1", "offset": 0, "size": CONST.nbytes}, [], [(2, 3, 1)]),
        _layer(6, "folded", "CustomScaleShift", "extension", {"scale": FOLD_SCALE, "shift": FOLD_SHIFT}, [(2, 3, 1)], [(2, 3, 1)]),
        _layer(7, "out", "CustomPairConcat", "extension", {}, [(2, 3, 9), (2, 3, 1)], [(2, 3, 10)]),
        _layer(8, "out/result", "Result", "opset1", {}, [(2, 3, 10)], []),
    ]
    edges = [(0, 0, 2, 0), (2, 1, 3, 0), (1, 0, 3, 1), (3, 2, 4, 0), (5, 0, 6, 0), (4, 1, 7, 0), (6, 1, 7, 1), (7, 2, 8, 0)]
    return write_ir(tmp_path, layers, edges, CONST.tobytes())


def expected_output(x, y):
    joined = np.concatenate([x * np.float32(SCALE) + np.float32(SHIFT), y], axis=-1)
    folded = CONST * np.float32(FOLD_SCALE) + np.float32(FOLD_SHIFT)
    return np.concatenate([np.maximum(joined, 0), folded], axis=-1)


def random_inputs(seed):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((2, 3, 4)).astype(np.float32),
        "y": rng.standard_normal((2, 3, 5)).astype(np.float32),
    }


def single_op_ir(directory, ltype, data, dims=(2, 8), name="single"):
    """x -> one layer of ``ltype`` -> Result."""
    layers = [
        _layer(0, "x", "Parameter", "opset1", {"shape": ",".join(map(str, dims)), "element_type": "f32"}, [], [dims]),
        _layer(1, "check", ltype, "extension", data, [dims], [dims]),
        _layer(2, "check/result", "Result", "opset1", {}, [dims], []),
    ]
    return write_ir(directory, layers, [(0, 0, 1, 0), (1, 1, 2, 0)], name=name)


CUSTOM_LAYERS = {"scaled", "joined", "folded", "out"}


# ---- the header ----------------------------------------------------------------


def test_header_is_installed_with_the_package():
    header = Path(ie_backend_cpu.include_dir()) / extension.HEADER
    text = header.read_text()
    version = re.search(r"#define IE_CORE_CPU_EXTENSION_ABI_VERSION (\d+)", text)
    assert version and int(version.group(1)) == extension.ABI_VERSION
    assert f'"{extension.ENTRY_POINT}"' in text


# ---- running an IR with custom layers -------------------------------------------


def test_ir_with_custom_layers_reads(custom_ir):
    net = read(custom_ir)
    assert net.layers["scaled"].type == "CustomScaleShift"
    assert net.layers["scaled"].params == {"scale": str(SCALE), "shift": str(SHIFT)}
    assert net.layers["joined"].type == "CustomPairConcat"
    assert list(net.outputs) == ["out"]


def test_load_without_extension_fails(custom_ir):
    net = read(custom_ir)
    plugin = IEPlugin("CPU")
    assert not CUSTOM_LAYERS & plugin.get_supported_layers(net)
    with pytest.raises(errors.UnsupportedOpError, match="CustomScaleShift.*add_cpu_extension"):
        plugin.load(net)


def test_extension_runs_custom_layers(custom_ir, libcustom):
    net = read(custom_ir)
    plugin = IEPlugin("CPU")
    plugin.add_cpu_extension(libcustom)
    assert CUSTOM_LAYERS | {"relu"} <= plugin.get_supported_layers(net)
    exec_net = plugin.load(net)
    for seed in range(3):
        inputs = random_inputs(seed)
        out = exec_net.infer(inputs)["out"]
        assert out.shape == (2, 3, 10) and out.dtype == np.float32
        np.testing.assert_allclose(out, expected_output(**inputs), rtol=1e-6, atol=1e-6)


def test_extension_is_per_plugin(custom_ir, libcustom):
    IEPlugin("CPU").add_cpu_extension(libcustom)
    with pytest.raises(errors.UnsupportedOpError):
        IEPlugin("CPU").load(read(custom_ir))


def test_adding_the_same_extension_twice_is_harmless(custom_ir, libcustom):
    plugin = IEPlugin("CPU")
    plugin.add_cpu_extension(libcustom)
    plugin.add_cpu_extension(Path(libcustom))
    inputs = random_inputs(7)
    out = plugin.load(read(custom_ir)).infer(inputs)["out"]
    np.testing.assert_allclose(out, expected_output(**inputs), rtol=1e-6, atol=1e-6)


def test_reshaped_network_runs(custom_ir, libcustom):
    """The shape function is not the identity: a new batch changes every custom layer's output."""
    net = read(custom_ir)
    net.reshape({"x": (2, 3, 6)})
    plugin = IEPlugin("CPU")
    plugin.add_cpu_extension(libcustom)
    inputs = {"x": np.ones((2, 3, 6), np.float32), "y": np.zeros((2, 3, 5), np.float32)}
    out = plugin.load(net).infer(inputs)["out"]
    assert out.shape == (2, 3, 12)
    np.testing.assert_allclose(out, expected_output(**inputs), rtol=1e-6)


def test_perf_counts_of_custom_layers(custom_ir, libcustom):
    plugin = IEPlugin("CPU")
    plugin.add_cpu_extension(libcustom)
    exec_net = plugin.load(read(custom_ir), config={"PERF_COUNT": "YES"})
    exec_net.infer(random_inputs(3))
    counts = exec_net.requests[0].get_perf_counts()
    for name in ("scaled", "joined", "out"):
        assert counts[name]["layer_type"] == read(custom_ir).layers[name].type
        assert counts[name]["status"] == "EXECUTED"
        assert counts[name]["exec_type"] == "extension"
    assert counts["folded"]["status"] == "OPTIMIZED_OUT"  # computed once at load time


NEGATING_ABS = """
#include <ie_core_cpu_extension.h>
static int shape(const IECoreOpContext *ctx, const IECoreTensor *in, int32_t n, IECoreTensor *out, int32_t *m) {
    (void)m;
    if (n != 1 || in[0].element_type != IE_CORE_F32) return ie_core_error(ctx, "f32 only");
    out[0] = in[0];
    return IE_CORE_OK;
}
static int kernel(const IECoreOpContext *ctx, const IECoreTensor *in, int32_t n, const IECoreTensor *out, int32_t m) {
    int64_t i, count = ie_core_num_elements(&in[0]);
    (void)ctx; (void)n; (void)m;
    for (i = 0; i < count; ++i) ((float *)out[0].data)[i] = -((const float *)in[0].data)[i];
    return IE_CORE_OK;
}
static const IECoreOpDesc OPS[] = {{"Abs", shape, kernel, NULL}};
static const IECoreExtension EXTENSION = {IE_CORE_CPU_EXTENSION_ABI_VERSION, "negating abs", "0", 1, OPS};
IE_CORE_EXTENSION_EXPORT const IECoreExtension *ie_core_cpu_extension(int32_t v) { (void)v; return &EXTENSION; }
"""


def test_extension_replaces_a_builtin_op(tmp_path):
    """An extension op of a standard type takes precedence over the device's own (oneDNN) kernel."""
    lib = compile_library(NEGATING_ABS, tmp_path, "negating_abs")
    xml = single_op_ir(tmp_path, "Abs", {})
    xml_text = Path(xml).read_text().replace('type="Abs" version="extension"', 'type="Abs" version="opset1"')
    Path(xml).write_text(xml_text)
    x = np.linspace(-2, 2, 16, dtype=np.float32).reshape(2, 8)
    np.testing.assert_array_equal(IEPlugin("CPU").load(read(xml)).infer({"x": x})["check"], np.abs(x))
    plugin = IEPlugin("CPU")
    plugin.add_cpu_extension(lib)
    exec_net = plugin.load(read(xml), config={"PERF_COUNT": "YES"})
    np.testing.assert_array_equal(exec_net.infer({"x": x})["check"], -x)
    assert exec_net.requests[0].get_perf_counts()["check"]["exec_type"] == "extension"


# ---- bad libraries ----------------------------------------------------------------


def _assert_extension_error(exc):
    assert isinstance(exc, extension.ExtensionError)
    assert isinstance(exc, errors.IEError) and isinstance(exc, RuntimeError)


def test_missing_library(tmp_path):
    path = tmp_path / "libnothere.so"
    with pytest.raises(extension.ExtensionError, match="libnothere.so.*does not exist") as info:
        IEPlugin("CPU").add_cpu_extension(str(path))
    _assert_extension_error(info.value)


def test_not_a_shared_library(tmp_path):
    path = tmp_path / "libjunk.so"
    path.write_text("not an ELF file")
    with pytest.raises(extension.ExtensionError, match="cannot load CPU extension .*libjunk.so") as info:
        IEPlugin("CPU").add_cpu_extension(str(path))
    _assert_extension_error(info.value)


def test_library_without_entry_point(tmp_path):
    lib = compile_library("int some_function(void) { return 42; }\n", tmp_path, "no_entry")
    with pytest.raises(extension.ExtensionError, match="does not export the symbol 'ie_core_cpu_extension'") as info:
        IEPlugin("CPU").add_cpu_extension(lib)
    _assert_extension_error(info.value)


WRONG_ABI = """
#include <ie_core_cpu_extension.h>
static const IECoreExtension EXTENSION = {ABI, "wrong abi", "0", 0, NULL};
IE_CORE_EXTENSION_EXPORT const IECoreExtension *ie_core_cpu_extension(int32_t engine_abi_version) {
#ifdef REFUSE
    if (engine_abi_version != 999) return NULL;
#endif
    (void)engine_abi_version;
    return &EXTENSION;
}
"""


def test_abi_version_mismatch(tmp_path):
    lib = compile_library(WRONG_ABI, tmp_path, "wrong_abi", ["ABI=999"])
    with pytest.raises(extension.ExtensionError, match=f"ABI version 999.*implements version {extension.ABI_VERSION}") as info:
        IEPlugin("CPU").add_cpu_extension(lib)
    _assert_extension_error(info.value)


def test_library_refusing_the_engine_abi(tmp_path):
    lib = compile_library(WRONG_ABI, tmp_path, "refusing", ["ABI=999", "REFUSE"])
    with pytest.raises(extension.ExtensionError, match=f"refused ABI version {extension.ABI_VERSION}"):
        IEPlugin("CPU").add_cpu_extension(lib)


DUPLICATE = """
#include <ie_core_cpu_extension.h>
static int shape(const IECoreOpContext *c, const IECoreTensor *i, int32_t n, IECoreTensor *o, int32_t *m) {
    (void)c; (void)i; (void)n; (void)o; (void)m; return IE_CORE_ERROR;
}
static int kernel(const IECoreOpContext *c, const IECoreTensor *i, int32_t n, const IECoreTensor *o, int32_t m) {
    (void)c; (void)i; (void)n; (void)o; (void)m; return IE_CORE_ERROR;
}
static const IECoreOpDesc OPS[] = {{"CustomScaleShift", shape, kernel, NULL}};
static const IECoreExtension EXTENSION = {IE_CORE_CPU_EXTENSION_ABI_VERSION, "dup", "0", 1, OPS};
IE_CORE_EXTENSION_EXPORT const IECoreExtension *ie_core_cpu_extension(int32_t v) { (void)v; return &EXTENSION; }
"""


def test_two_extensions_with_the_same_op_type(tmp_path, libcustom):
    other = compile_library(DUPLICATE, tmp_path, "duplicate")
    plugin = IEPlugin("CPU")
    plugin.add_cpu_extension(libcustom)
    with pytest.raises(extension.ExtensionError, match="'CustomScaleShift', which the extension .* already provides"):
        plugin.add_cpu_extension(other)


def test_add_cpu_extension_on_another_device(tmp_path):
    with pytest.raises(errors.NotSupportedError, match="only for CPU or HETERO"):
        IEPlugin("REFERENCE").add_cpu_extension(str(tmp_path / "libcustom_ops.so"))


# ---- errors reported by the extension ----------------------------------------------


def test_kernel_error_becomes_inference_error(tmp_path, libcustom):
    net = read(single_op_ir(tmp_path, "CustomAssertFinite", {}))
    plugin = IEPlugin("CPU")
    plugin.add_cpu_extension(libcustom)
    exec_net = plugin.load(net, num_requests=1)
    x = np.ones((2, 8), np.float32)
    np.testing.assert_array_equal(exec_net.infer({"x": x})["check"], x)
    x[0, 3] = np.nan
    with pytest.raises(errors.InferenceError, match=r"layer 'check' \(CustomAssertFinite\): non-finite value nan at element 3") as info:
        exec_net.infer({"x": x})
    assert isinstance(info.value, RuntimeError)
    # async: the error is the request's status
    request = exec_net.requests[0]
    request.async_infer({"x": x})
    assert request.wait() != 0
    assert isinstance(request.error, errors.InferenceError)
    # the request still works afterwards
    x[0, 3] = 2.0
    np.testing.assert_array_equal(exec_net.infer({"x": x})["check"], x)


def test_shape_function_error_names_the_layer(tmp_path, libcustom):
    net = read(single_op_ir(tmp_path, "CustomScaleShift", {"shift": "1"}))  # no scale
    plugin = IEPlugin("CPU")
    plugin.add_cpu_extension(libcustom)
    with pytest.raises(errors.ShapeInferenceError, match=r"layer 'check' \(CustomScaleShift\): required attribute 'scale' is missing"):
        plugin.load(net)


def test_shape_function_rejects_inputs(custom_ir, libcustom):
    net = read(custom_ir)
    net.reshape({"y": (2, 4, 5)})
    plugin = IEPlugin("CPU")
    plugin.add_cpu_extension(libcustom)
    with pytest.raises(errors.ShapeInferenceError, match=r"layer 'joined' \(CustomPairConcat\): inputs differ in dimension 1"):
        plugin.load(net)


def test_bad_attribute_value(tmp_path, libcustom):
    net = read(single_op_ir(tmp_path, "CustomScaleShift", {"scale": "lots"}))
    plugin = IEPlugin("CPU")
    plugin.add_cpu_extension(libcustom)
    with pytest.raises(errors.ShapeInferenceError, match="attribute scale='lots' is not a number"):
        plugin.load(net)


def test_output_count_mismatch(tmp_path, libcustom):
    """The IR declares two outputs; the shape function produces one."""
    layers = [
        _layer(0, "x", "Parameter", "opset1", {"shape": "4", "element_type": "f32"}, [], [(4,)]),
        _layer(1, "two", "CustomScaleShift", "extension", {"scale": "1"}, [(4,)], [(4,), (4,)]),
        _layer(2, "r0", "Result", "opset1", {}, [(4,)], []),
        _layer(3, "r1", "Result", "opset1", {}, [(4,)], []),
    ]
    net = read(write_ir(tmp_path, layers, [(0, 0, 1, 0), (1, 1, 2, 0), (1, 2, 3, 0)]))
    plugin = IEPlugin("CPU")
    plugin.add_cpu_extension(libcustom)
    with pytest.raises(errors.ShapeInferenceError, match="'two'.*declares 2 outputs"):
        plugin.load(net)


# ---- concurrency ------------------------------------------------------------------------


def test_concurrent_requests(custom_ir, libcustom):
    plugin = IEPlugin("CPU")
    plugin.add_cpu_extension(libcustom)
    exec_net = plugin.load(read(custom_ir), num_requests=2)
    for round_ in range(10):
        inputs = [random_inputs(100 * round_ + i) for i in range(2)]
        for request, data in zip(exec_net.requests, inputs):
            request.async_infer(data)
        for request, data in zip(exec_net.requests, inputs):
            assert request.wait() == 0, request.error
            np.testing.assert_allclose(request.outputs["out"], expected_output(**data), rtol=1e-6, atol=1e-6)


def test_kernels_run_in_parallel(tmp_path, libcustom):
    """Kernels are called without the GIL: two requests each sleeping 0.4 s in the kernel overlap."""
    delay = 0.4
    net = read(single_op_ir(tmp_path, "CustomAssertFinite", {"delay_us": int(delay * 1e6)}))
    plugin = IEPlugin("CPU")
    plugin.add_cpu_extension(libcustom)
    exec_net = plugin.load(net, num_requests=2)
    xs = [np.full((2, 8), i, np.float32) for i in range(2)]
    exec_net.infer({"x": xs[0]})  # warm up
    t0 = time.perf_counter()
    for request, x in zip(exec_net.requests, xs):
        request.async_infer({"x": x})
    for request, x in zip(exec_net.requests, xs):
        assert request.wait() == 0, request.error
        np.testing.assert_array_equal(request.outputs["check"], x)
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.6 * delay, f"two requests took {elapsed:.2f} s: the kernels did not overlap"


def test_threads_sharing_one_network(custom_ir, libcustom):
    """Many threads run the same compiled network through their own requests."""
    plugin = IEPlugin("CPU")
    plugin.add_cpu_extension(libcustom)
    exec_net = plugin.load(read(custom_ir), num_requests=4)
    failures = []

    def work(index):
        request = exec_net.requests[index]
        for k in range(25):
            data = random_inputs(1000 * index + k)
            request.infer(data)
            if not np.allclose(request.outputs["out"], expected_output(**data), rtol=1e-6, atol=1e-6):
                failures.append((index, k))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
