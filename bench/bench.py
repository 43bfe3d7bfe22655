#!/usr/bin/env python
"""Benchmark ie-core's CPU device against OpenVINO and ONNX Runtime on the test models.

In one run, for each model (ResNet-50, MobileNetV2, the MiniLM-size BERT encoder, the
small CNN of tests/models.py, and the bundled digits CNN of ie_core/data):

* batch-1 synchronous latency (median and p90), the engines interleaved in blocks;
* throughput with 1, 2 and 4 requests in flight (start_async), interleaved in windows;
* load time (read + compile) against OpenVINO's compile_model and ORT's InferenceSession;
* peak RSS of load + inference, each engine alone in a fresh subprocess;
* N processes (default 2) running the same model (MobileNetV2) in a loop at once, as a server
  with N workers or N containers on one host do: aggregate throughput and p50/p90 latency;

prints the absolute figures, the ratios ie-core / best peer and the project's targets,
and writes the same report (with the machine and versions) to ``--out``.

    python bench/bench.py [--models resnet50,mobilenet_v2,bert_encoder,small_cnn,digits]
                          [--runs 30] [--warmup 5] [--quick] [--out bench/RESULTS.md]
                          [--no-rss] [--no-throughput] [--no-multi]
                          [--multi-procs 2] [--multi-seconds 8] [--multi-model mobilenet_v2]

Needs the test dependencies (openvino, torch, onnx, onnxscript) plus ``pip install
onnxruntime``. See bench/README.md for what each figure means. Tests never run this.
"""

import argparse
import datetime
import gc
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # ie_core from this checkout unless it is installed

def _load_test_models():
    """tests/models.py (the model builders), imported by path under a private name."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_ie_core_bench_models", REPO / "tests" / "models.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


models = _load_test_models()

ALL_MODELS = ("resnet50", "mobilenet_v2", "bert_encoder", "small_cnn", "digits")
SMALL_MODELS = ("small_cnn", "digits")  # the "digits/small CNN" latency target applies to these
DIGITS_XML = REPO / "ie_core" / "data" / "digits_cnn.xml"
REQUESTS = (1, 2, 4)
PRECISION_KEY = "INFERENCE_PRECISION_HINT"

#: engine key -> (label, family, config); the order is the column order of every table
ENGINES = {
    "ie-f32": ("ie-core f32", "ie", {PRECISION_KEY: "f32"}),
    "ie-bf16": ("ie-core bf16", "ie", {PRECISION_KEY: "bf16"}),
    "ov-f32": ("OpenVINO f32", "ov", {PRECISION_KEY: "f32"}),
    "ov-default": ("OpenVINO default", "ov", {}),
    "ort": ("ONNX Runtime", "ort", {}),
}

#: targets of project issue 3
TARGET_F32 = 1.2  # ie-core f32 latency <= 1.2x the faster of OpenVINO f32 and ORT
TARGET_BF16 = 1.2  # ie-core bf16 latency <= 1.2x OpenVINO default
TARGET_TPUT = 0.9  # ie-core async throughput >= 0.9x OpenVINO's best
TARGET_SMALL = 1.5  # digits / small CNN latency <= 1.5x OpenVINO's
TARGET_PERF_SUM = 0.1  # ie-core perf counts of executed layers sum to within 10% of the latency

MULTI_ENGINES = ("ie-f32", "ov-f32", "ort")  # the engines of the N-process section
FP16_ENGINES = ("ie-f32", "ov-f32")  # the engines of the fp16-IR section (the ONNX files have f32 weights)
#: targets of project issue 7
TARGET_MULTI_TPUT = 1.0  # N processes: ie-core f32 aggregate throughput >= 1.0x OpenVINO f32's
TARGET_MULTI_P90 = 1.2  # N processes: ie-core f32 p90 <= 1.2x OpenVINO f32's

#: pause between blocks of different engines, so that the last engine's idle worker threads stop
#: spinning first: ONNX Runtime's intra-op threads spin 50-60 ms after its last run (measured on the
#: 2-core AMD EPYC machine by the process's CPU time while it slept)
SETTLE_S = 0.1


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# models


class Unavailable(Exception):
    """An engine cannot run a model or a configuration (reported as n/a)."""


def _model_dir():
    return models.model_dir(lambda: tempfile.mkdtemp(prefix="ie-core-bench-"))


def _export_onnx(name, directory):
    """ONNX of test model ``name`` (same seeded torch module and exporter as the IR), cached under ``directory``."""
    target = directory / "bench-onnx" / name
    onnx_path = target / f"{name}.onnx"
    if (target / "DONE").exists():
        return onnx_path
    import shutil

    import torch

    log(f"[{name}] exporting ONNX for ONNX Runtime into {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        with torch.no_grad():
            exporter = models._export_onnx(models.torch_model(name), name, tmp / f"{name}.onnx")
        (tmp / "exporter.txt").write_text(exporter + "\n")
        (tmp / "DONE").write_text("ok\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return onnx_path


def _digits_onnx(directory):
    """ONNX of the bundled digits CNN, written from its IR layers (Conv/Add/ReLU/MaxPool/Reshape/MatMul/SoftMax)."""
    target = directory / "bench-onnx" / "digits"
    onnx_path = target / "digits.onnx"
    stamp = f"{DIGITS_XML.stat().st_mtime_ns}-{(DIGITS_XML.with_suffix('.bin')).stat().st_size}\n"
    if (target / "DONE").exists() and (target / "DONE").read_text() == stamp:
        return onnx_path
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from ie_core import IENetwork

    net = IENetwork(str(DIGITS_XML))
    graph = net._graph
    nodes, inits = [], []
    names = {}  # (node name, port) -> onnx tensor name

    def src(node, i):
        s = node.inputs[i]
        return names[(s.node.name, s.index)]

    for node in graph.nodes:
        out = f"t{len(names)}"
        a = node.attrs
        if node.type == "Parameter":
            out = node.name
        elif node.type == "Const":
            inits.append(numpy_helper.from_array(np.asarray(node.values[0]), out))
        elif node.type == "Convolution":
            pads = [int(v) for v in a["pads_begin"].split(",")] + [int(v) for v in a["pads_end"].split(",")]
            nodes.append(helper.make_node(
                "Conv", [src(node, 0), src(node, 1)], [out],
                strides=[int(v) for v in a["strides"].split(",")],
                dilations=[int(v) for v in a["dilations"].split(",")], pads=pads))
        elif node.type == "MaxPool":
            if node.attrs.get("rounding_type", "floor").lower() != "floor":
                raise Unavailable("digits: MaxPool rounding not floor")
            pads = [int(v) for v in a["pads_begin"].split(",")] + [int(v) for v in a["pads_end"].split(",")]
            nodes.append(helper.make_node(
                "MaxPool", [src(node, 0)], [out], kernel_shape=[int(v) for v in a["kernel"].split(",")],
                strides=[int(v) for v in a["strides"].split(",")], pads=pads))
        elif node.type in ("Add", "MatMul", "ReLU", "Reshape", "SoftMax"):
            op = {"ReLU": "Relu", "SoftMax": "Softmax"}.get(node.type, node.type)
            ins = [src(node, i) for i in range(len(node.inputs))]
            kwargs = {}
            if node.type == "SoftMax":
                kwargs["axis"] = int(a.get("axis", 1))
            if node.type == "MatMul" and (a.get("transpose_a", "false") == "true" or a.get("transpose_b", "false") == "true"):
                if a.get("transpose_a", "false") == "true":
                    raise Unavailable("digits: MatMul transpose_a")
                tb = f"{out}_bT"
                nodes.append(helper.make_node("Transpose", [ins[1]], [tb], perm=[1, 0]))
                ins[1] = tb
            if node.type == "Reshape" and a.get("special_zero", "false") == "true":
                kwargs = {}  # ONNX Reshape: 0 copies the input dim, as special_zero=true
            nodes.append(helper.make_node(op, ins, [out], **kwargs))
        elif node.type == "Result":
            nodes.append(helper.make_node("Identity", [src(node, 0)], ["prob"]))
            s = node.inputs[0]
            out_shape = list(s.node.output_shapes[s.index])
            continue
        else:
            raise Unavailable(f"digits: no ONNX translation for {node.type}")
        for i in range(node.num_outputs):
            names[(node.name, i)] = out if i == 0 else f"{out}_{i}"
    (param,) = graph.parameters
    g = helper.make_graph(
        nodes, "digits_cnn",
        [helper.make_tensor_value_info(param.name, TensorProto.FLOAT, list(param.output_shapes[0]))],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, out_shape)], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    target.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(onnx_path))
    (target / "DONE").write_text(stamp)
    return onnx_path


def prepare_model(name, directory):
    """{"name", "xml", "onnx", "inputs", "variants"} for model ``name`` (builds the IR and the ONNX if needed).

    ``inputs`` is the batch-1 input of seed 0; ``variants`` holds it and a second input (seed 1),
    which the timed runs alternate so that no engine can answer a repeated input from a cache.
    """
    if name == "digits":
        images = np.load(REPO / "ie_core" / "data" / "digits_test.npz")["images"]
        variants = [{"data": images[i:i + 1, None].astype(np.float32)} for i in (0, 1)]
        try:
            onnx_path = str(_digits_onnx(directory))
        except Unavailable as exc:
            log(f"[digits] no ONNX for ONNX Runtime: {exc}")
            onnx_path = None
        return {"name": name, "xml": str(DIGITS_XML), "xml_fp16": None, "onnx": onnx_path, "inputs": variants[0],
                "variants": variants}
    xml = models.build(name, directory)
    onnx_path = _export_onnx(name, directory)
    variants = [models.make_inputs(name, 1, seed=seed) for seed in (0, 1)]
    return {"name": name, "xml": xml["fp32"], "xml_fp16": xml["fp16"], "onnx": str(onnx_path), "inputs": variants[0],
            "variants": variants}


# ----------------------------------------------------------------------------------------------
# engines: load, one sync inference, a throughput window


class IECore:
    family = "ie"

    def __init__(self, config):
        from ie_core import IEPlugin

        self.plugin = IEPlugin(device="CPU")
        self.config = dict(config)
        self.used_config = None

    def _load(self, net, num_requests, config):
        from ie_core.errors import ConfigError

        try:
            return self.plugin.load(net, num_requests=num_requests, config=config), config
        except ConfigError as exc:
            if config == {PRECISION_KEY: "f32"}:
                # no precision key on this backend: its default (f32) is what we want
                return self.plugin.load(net, num_requests=num_requests, config={}), {}
            raise Unavailable(f"CPU backend rejects {config}: {exc}") from None

    def load(self, model, num_requests=1):
        """Read + load; returns (handle, read seconds, total seconds)."""
        from ie_core import IENetwork

        t0 = time.perf_counter()
        net = IENetwork(model=model["xml"], weights=os.path.splitext(model["xml"])[0] + ".bin")
        t1 = time.perf_counter()
        exec_net, self.used_config = self._load(net, num_requests, self.config)
        t2 = time.perf_counter()
        self._net = net
        return exec_net, t1 - t0, t2 - t0

    def load_for_throughput(self, model, handle, n):
        """An ExecutableNetwork with ``n`` requests (``handle`` itself when it has that many)."""
        if len(handle.requests) == n:
            return handle
        return self._load(self._net, n, self.used_config)[0]

    @staticmethod
    def infer(handle, inputs):
        return next(iter(handle.infer(inputs).values()))

    def perf_count_sums(self, variants, runs):
        """Sync runs with PERF_COUNT=YES: per run (wall ms around InferRequest.infer, its
        ``latency`` in ms, the sum of the executed layers' real_time in ms, how many executed)."""
        exec_net, _ = self._load(self._net, 1, {**self.used_config, "PERF_COUNT": "YES"})
        request = exec_net.requests[0]
        rows = []
        for j in range(runs + 5):
            t0 = time.perf_counter()
            request.infer(variants[j % 2])
            wall = time.perf_counter() - t0
            executed = [pc["real_time"] for pc in request.get_perf_counts().values() if pc["status"] == "EXECUTED"]
            if j >= 5:
                rows.append((wall * 1e3, request.latency, sum(executed) / 1e3, len(executed)))
        return rows

    @staticmethod
    def throughput_window(handle, variants, seconds):
        """N requests kept in flight with start_async + wait (ping-pong); returns (count, seconds)."""
        n = len(handle.requests)
        requests = handle.requests
        t0 = time.perf_counter()
        deadline = t0 + seconds
        for i in range(n):
            handle.start_async(i, variants[i % 2])
        count, i = 0, 0
        pending = set(range(n))
        while pending:
            if requests[i].wait(-1) != 0:
                raise RuntimeError(f"ie-core request {i} failed: {requests[i].error!r}")
            count += 1
            if time.perf_counter() < deadline:
                handle.start_async(i, variants[count % 2])
            else:
                pending.discard(i)
            i = (i + 1) % n
            while pending and i not in pending:
                i = (i + 1) % n
        return count, time.perf_counter() - t0


class OpenVINO:
    family = "ov"

    def __init__(self, config):
        import openvino as ov

        self.ov = ov
        self.core = ov.Core()
        self.config = dict(config)
        self.used_config = dict(config)

    def load(self, model, num_requests=1):
        t0 = time.perf_counter()
        ov_model = self.core.read_model(model["xml"])
        t1 = time.perf_counter()
        compiled = self.core.compile_model(ov_model, "CPU", self.config)
        t2 = time.perf_counter()
        self._model = ov_model
        return (compiled, compiled.create_infer_request()), t1 - t0, t2 - t0

    def load_for_throughput(self, model, handle, n):
        """An AsyncInferQueue of ``n`` requests on the model compiled with the THROUGHPUT hint (compiled once)."""
        if getattr(self, "_tput", None) is None or self._tput[0] is not self._model:
            compiled = self.core.compile_model(self._model, "CPU", {**self.config, "PERFORMANCE_HINT": "THROUGHPUT"})
            self._tput = (self._model, compiled)
        return self.ov.AsyncInferQueue(self._tput[1], n)

    @staticmethod
    def infer(handle, inputs):
        return handle[1].infer(inputs)[0]

    @staticmethod
    def throughput_window(queue, variants, seconds):
        t0 = time.perf_counter()
        deadline = t0 + seconds
        count = 0
        while time.perf_counter() < deadline:
            queue.start_async(variants[count % 2])  # blocks until a request is idle
            count += 1
        queue.wait_all()
        return count, time.perf_counter() - t0

    def properties(self, handle):
        compiled = handle[0]
        out = {}
        for key in ("INFERENCE_PRECISION_HINT", "PERFORMANCE_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS"):
            try:
                out[key] = _prop(compiled.get_property(key))
            except Exception:  # pragma: no cover - depends on the OpenVINO version
                pass
        tput = getattr(self, "_tput", None)
        if tput is not None:
            for key in ("NUM_STREAMS", "INFERENCE_NUM_THREADS", "OPTIMAL_NUMBER_OF_INFER_REQUESTS"):
                try:
                    out[f"THROUGHPUT-hint {key}"] = _prop(tput[1].get_property(key))
                except Exception:  # pragma: no cover
                    pass
        return out


def _prop(value):
    text = str(value)
    return {"<Type: 'float32'>": "f32", "<Type: 'bfloat16'>": "bf16", "<Type: 'float16'>": "f16"}.get(text, text)


class OnnxRuntime:
    family = "ort"

    def __init__(self, config):
        import onnxruntime as ort

        self.ort = ort
        self.used_config = {}

    def load(self, model, num_requests=1):
        if not model.get("onnx"):
            raise Unavailable("no ONNX model")
        t0 = time.perf_counter()
        sess = self.ort.InferenceSession(model["onnx"], providers=["CPUExecutionProvider"])
        return sess, 0.0, time.perf_counter() - t0

    @staticmethod
    def load_for_throughput(model, handle, n):
        return (handle, n)

    @staticmethod
    def infer(handle, inputs):
        return handle.run(None, inputs)[0]

    @staticmethod
    def throughput_window(handle, variants, seconds):
        """N Python threads calling run() on the one session concurrently."""
        sess, n = handle
        counts = [0] * n
        start = threading.Barrier(n + 1)
        box = {}

        def worker(k):
            start.wait()
            deadline = box["deadline"]
            c = 0
            while time.perf_counter() < deadline:
                sess.run(None, variants[(c + k) % 2])
                c += 1
            counts[k] = c

        threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(n)]
        for t in threads:
            t.start()
        t0 = time.perf_counter()
        box["deadline"] = t0 + seconds
        start.wait()
        for t in threads:
            t.join()
        return sum(counts), time.perf_counter() - t0


FAMILIES = {"ie": IECore, "ov": OpenVINO, "ort": OnnxRuntime}


def make_engine(key):
    label, family, config = ENGINES[key]
    return FAMILIES[family](config)


# ----------------------------------------------------------------------------------------------
# peak RSS: one engine, one model, a fresh process


def _proc_status():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) / 1024.0  # MiB
    return out


def rss_child(spec):
    """Runs in the subprocess: import, load, infer; prints one JSON line."""
    import resource

    try:
        engine = make_engine(spec["engine"])
        model = {"xml": spec["xml"], "onnx": spec["onnx"], "name": spec["model"]}
        inputs = {k: np.asarray(v, dtype=spec["dtypes"][k]).reshape(spec["shapes"][k]) for k, v in spec["inputs"].items()}
        base = _proc_status()["VmRSS"]
        handle, read_s, load_s = engine.load(model)
        after_load = _proc_status()["VmRSS"]
        t0 = time.perf_counter()
        engine.infer(handle, inputs)
        first_s = time.perf_counter() - t0
        for _ in range(spec["runs"]):
            engine.infer(handle, inputs)
        st = _proc_status()
        result = {
            "ok": True,
            "baseline_mib": base,
            "after_load_mib": after_load,
            "peak_mib": st["VmHWM"],
            "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "cold_load_s": load_s,
            "cold_read_s": read_s,
            "first_infer_s": first_s,
        }
    except Unavailable as exc:
        result = {"ok": False, "why": str(exc)}
    print("RSS-JSON " + json.dumps(result), flush=True)


def measure_rss(engine_key, model, runs):
    inputs = model["inputs"]
    spec = {
        "engine": engine_key,
        "model": model["name"],
        "xml": model["xml"],
        "onnx": model["onnx"],
        "runs": runs,
        "inputs": {k: v.ravel().tolist() for k, v in inputs.items()},
        "shapes": {k: list(v.shape) for k, v in inputs.items()},
        "dtypes": {k: str(v.dtype) for k, v in inputs.items()},
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
        spec_path = f.name
    try:
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_rss-child", spec_path],
                              capture_output=True, text=True, timeout=600)
    finally:
        os.unlink(spec_path)
    for line in proc.stdout.splitlines():
        if line.startswith("RSS-JSON "):
            return json.loads(line[len("RSS-JSON "):])
    tail = " | ".join(line.strip() for line in proc.stderr.strip().splitlines()[-3:])
    return {"ok": False, "why": f"child failed (rc {proc.returncode}): {tail}"}


# ----------------------------------------------------------------------------------------------
# N processes at once: one engine, one model, each process in its own inference loop


def loop_child(spec):
    """Runs in each of the N subprocesses: load, warm up, say READY, read the common start time
    (time.time() seconds) from stdin, infer in a loop until start + seconds; prints one JSON line."""
    try:
        engine = make_engine(spec["engine"])
        model = {"xml": spec["xml"], "onnx": spec["onnx"], "name": spec["model"]}
        variants = [{k: np.asarray(v, dtype=spec["dtypes"][k]).reshape(spec["shapes"][k]) for k, v in var.items()}
                    for var in spec["variants"]]
        handle, _, _ = engine.load(model)
        for j in range(spec["warmup"]):
            engine.infer(handle, variants[j % 2])
    except Unavailable as exc:
        print("LOOP-JSON " + json.dumps({"ok": False, "why": str(exc)}), flush=True)
        return
    print("READY", flush=True)
    start = float(sys.stdin.readline())
    time.sleep(max(0.0, start - time.time()))
    stop = time.perf_counter() + spec["seconds"]
    latencies = []
    while True:
        t0 = time.perf_counter()
        if t0 >= stop:
            break
        engine.infer(handle, variants[len(latencies) % 2])
        latencies.append((time.perf_counter() - t0) * 1e3)
    print("LOOP-JSON " + json.dumps({"ok": True, "latencies_ms": latencies}), flush=True)


def measure_processes(engine_key, model, procs, seconds, warmup):
    """``procs`` processes running ``engine_key`` on ``model`` for the same ``seconds``: aggregate
    inferences/s, p50/p90 over all their inferences (ms), inferences per process; or {"ok": False}."""
    spec = {
        "engine": engine_key, "model": model["name"], "xml": model["xml"], "onnx": model["onnx"],
        "seconds": seconds, "warmup": warmup,
        "variants": [{k: v.ravel().tolist() for k, v in var.items()} for var in model["variants"]],
        "shapes": {k: list(v.shape) for k, v in model["inputs"].items()},
        "dtypes": {k: str(v.dtype) for k, v in model["inputs"].items()},
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
        spec_path = f.name
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_loop-child", spec_path]
    children = [subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(procs)]
    try:
        results = []
        for child in children:  # every child loaded and warm before any of them starts
            line = child.stdout.readline()
            if line.strip() != "READY":
                results.append(json.loads(line[len("LOOP-JSON "):]) if line.startswith("LOOP-JSON ")
                               else {"ok": False, "why": "child failed: " + _tail(child)})
        if not results:
            start = f"{time.time() + 0.5}\n"
            for child in children:
                child.stdin.write(start)
                child.stdin.flush()
            for child in children:
                out, _ = child.communicate(timeout=seconds + 600)
                line = next((x for x in out.splitlines() if x.startswith("LOOP-JSON ")), None)
                results.append(json.loads(line[len("LOOP-JSON "):]) if line
                               else {"ok": False, "why": f"child failed (rc {child.returncode})"})
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait()
        os.unlink(spec_path)
    failed = [r for r in results if not r.get("ok")]
    if failed:
        return {"ok": False, "why": failed[0].get("why")}
    ms = np.concatenate([np.asarray(r["latencies_ms"]) for r in results])
    return {"ok": True, "per_process": [len(r["latencies_ms"]) for r in results], "throughput": ms.size / seconds,
            "p50": float(np.median(ms)), "p90": float(np.percentile(ms, 90))}


def _tail(child):
    child.kill()
    _, err = child.communicate()
    return " | ".join(line.strip() for line in err.strip().splitlines()[-3:])


# ----------------------------------------------------------------------------------------------
# measurements in the main process


class Bench:
    def __init__(self, args):
        self.args = args
        self.engines = {}
        for key in ENGINES:
            self.engines[key] = make_engine(key)

    def run_model(self, model):
        a = self.args
        name = model["name"]
        inputs = model["inputs"]
        variants = model["variants"]
        res = {"latency": {}, "load": {}, "load_read": {}, "throughput": {}, "agreement": {}, "unavailable": {},
               "config": {}, "ov_props": {}}
        keys = list(self.engines)

        # --- load time: read + compile, engines interleaved, the median of --load-reps
        handles = {}
        loads = {k: [] for k in keys}
        reads = {k: [] for k in keys}
        for rep in range(-1, a.load_reps):  # rep -1: untimed, so that no engine pays one-time set-up here
            for k in _rotated(keys, rep):
                if k in res["unavailable"]:
                    continue
                eng = self.engines[k]
                handles.pop(k, None)
                gc.collect()
                try:
                    h, read_s, total_s = eng.load(model)
                except Unavailable as exc:
                    res["unavailable"][k] = str(exc)
                    log(f"[{name}] {ENGINES[k][0]}: n/a ({exc})")
                    continue
                except Exception as exc:  # a failing engine costs its column, not the run
                    res["unavailable"][k] = f"load failed: {type(exc).__name__}: {exc}"
                    log(f"[{name}] {ENGINES[k][0]}: load failed\n{traceback.format_exc()}")
                    continue
                handles[k] = h
                if rep >= 0:
                    loads[k].append(total_s)
                    reads[k].append(read_s)
                time.sleep(SETTLE_S)
        live = [k for k in keys if k in handles]
        for k in live:
            res["load"][k] = statistics.median(loads[k])
            res["load_read"][k] = statistics.median(reads[k])
            res["config"][k] = self.engines[k].used_config
        log(f"[{name}] load (s): " + ", ".join(f"{ENGINES[k][0]} {res['load'][k]:.3f}" for k in live))

        # --- outputs agree? (against OpenVINO f32)
        outs = {k: np.asarray(self.engines[k].infer(handles[k], inputs), dtype=np.float64) for k in live}
        ref = outs.get("ov-f32")
        if ref is not None:
            scale = float(np.max(np.abs(ref))) or 1.0
            for k in live:
                if outs[k].shape != ref.shape:
                    res["agreement"][k] = f"shape {list(outs[k].shape)} != {list(ref.shape)}"
                else:
                    res["agreement"][k] = float(np.max(np.abs(outs[k] - ref))) / scale

        # --- warm-up, then latency: rounds of blocks, one block per engine per round, order rotated
        for k in live:
            for j in range(a.warmup):
                self.engines[k].infer(handles[k], variants[j % 2])
        times = {k: [] for k in live}
        rounds = math.ceil(a.runs / a.block)
        gc_was = gc.isenabled()
        gc.disable()
        try:
            for r in range(rounds):
                for k in _rotated(live, r):
                    eng, h = self.engines[k], handles[k]
                    eng.infer(h, variants[1])  # untimed: this engine's threads and caches back
                    for j in range(min(a.block, a.runs - r * a.block)):
                        x = variants[j % 2]
                        t0 = time.perf_counter()
                        eng.infer(h, x)
                        times[k].append(time.perf_counter() - t0)
                    time.sleep(SETTLE_S)
        finally:
            if gc_was:
                gc.enable()
        for k in live:
            ms = np.asarray(times[k]) * 1e3
            res["latency"][k] = {"median": float(np.median(ms)), "p90": float(np.percentile(ms, 90)),
                                 "min": float(ms.min()), "n": int(ms.size)}
        log(f"[{name}] latency median (ms): " + ", ".join(f"{ENGINES[k][0]} {res['latency'][k]['median']:.2f}" for k in live))

        # --- ie-core perf counts: do the executed layers add up to the latency?
        res["perf_counts"] = {}
        for k in live:
            if self.engines[k].family == "ie":
                rows = np.asarray(self.engines[k].perf_count_sums(variants, a.runs))
                res["perf_counts"][k] = {
                    "wall": float(np.median(rows[:, 0])), "latency": float(np.median(rows[:, 1])),
                    "sum": float(np.median(rows[:, 2])), "ratio": float(np.median(rows[:, 2] / rows[:, 1])),
                    "wall_ratio": float(np.median(rows[:, 2] / rows[:, 0])), "layers": int(rows[0, 3])}

        # --- throughput: for each N, rounds of one window per engine, order rotated
        if not a.no_throughput:
            for n in REQUESTS:
                tput_handles = {}
                for k in live:
                    eng = self.engines[k]
                    tput_handles[k] = eng.load_for_throughput(model, handles[k], n)
                    # warm-up window
                    eng.throughput_window(tput_handles[k], variants, min(0.2, a.window))
                rates = {k: [] for k in live}
                for r in range(a.rounds):
                    for k in _rotated(live, r + n):
                        c, s = self.engines[k].throughput_window(tput_handles[k], variants, a.window)
                        rates[k].append(c / s)
                        time.sleep(SETTLE_S)
                for k in live:
                    res["throughput"].setdefault(k, {})[n] = statistics.median(rates[k])
                del tput_handles
                gc.collect()
                log(f"[{name}] throughput N={n} (inf/s): " + ", ".join(
                    f"{ENGINES[k][0]} {res['throughput'][k][n]:.1f}" for k in live))
        for k in live:
            if self.engines[k].family == "ov":
                res["ov_props"][k] = self.engines[k].properties(handles[k])
        handles.clear()
        for eng in self.engines.values():
            if hasattr(eng, "_tput"):
                eng._tput = None
        gc.collect()
        return res


def _rotated(seq, r):
    seq = list(seq)
    if not seq:
        return seq
    r %= len(seq)
    return seq[r:] + seq[:r]


# ----------------------------------------------------------------------------------------------
# machine description and report


def machine_info():
    info = {}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
    except OSError:
        fields = {}
    info["cpu"] = fields.get("Model name", platform.processor() or "?")
    info["cpus"] = fields.get("CPU(s)", str(os.cpu_count()))
    info["cores_per_socket"] = fields.get("Core(s) per socket", "?")
    info["threads_per_core"] = fields.get("Thread(s) per core", "?")
    info["hypervisor"] = fields.get("Hypervisor vendor", "none")
    try:
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        info["usable_cpus"] = os.cpu_count()
    flags = set(fields.get("Flags", "").split())
    interest = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "avx_vnni")
    info["flags"] = ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in interest)
    try:
        with open("/proc/meminfo") as f:
            mem = dict(line.split(":", 1) for line in f)
        info["ram"] = f"{int(mem['MemTotal'].split()[0]) / 1024 / 1024:.1f} GiB"
    except OSError:
        info["ram"] = "?"
    info["os"] = f"{platform.system()} {platform.release()}"
    import ie_backend_cpu

    cap = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    info["spin"] = ie_backend_cpu.SPIN_POLICY
    info["isa"] = (f"{ie_backend_cpu.cpu_isa()} (oneDNN's effective ISA, which ie-core's own kernels follow: "
                   f"{ie_backend_cpu.native_isa()})" + (f", capped by ONEDNN_MAX_CPU_ISA={cap}" if cap else ""))
    return info


def versions():
    import ie_backend_cpu
    import onnxruntime
    import openvino

    import ie_core

    return {
        "ie-core": f"{ie_core.__version__} ({Path(ie_core.__file__).parent})",
        "ie-backend-cpu": f"{getattr(ie_backend_cpu, '__version__', '?')} ({Path(ie_backend_cpu.__file__).parent})",
        "oneDNN (ie-backend-cpu)": ie_backend_cpu.dnnl_version(),
        "openvino": openvino.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def cpu_times():
    """(total, steal) jiffies from /proc/stat, or None."""
    try:
        with open("/proc/stat") as f:
            parts = f.readline().split()[1:]
        vals = [int(v) for v in parts]
        return sum(vals[:8]), vals[7] if len(vals) > 7 else 0
    except OSError:
        return None


def fmt(v, digits=2):
    """A figure with about three significant digits (``digits`` decimals at most for values >= 1)."""
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.{min(digits, 1)}f}"
    if v >= 1:
        return f"{v:.{digits}f}"
    return f"{v:.3f}"


def peak_cell(r):
    """An RSS child's peak and, in brackets, its growth over the RSS after the imports (MiB)."""
    return f"{r['peak_mib']:.0f} (+{r['peak_mib'] - r['baseline_mib']:.0f})"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(r):
    return "n/a" if r is None else f"{r:.2f}x"


def verdict(r, target, higher_is_better=False):
    if r is None:
        return "n/a"
    ok = r >= target if higher_is_better else r <= target
    return "met" if ok else "not met"


def _argmin(d, keys):
    cand = [(d[k], k) for k in keys if d.get(k) is not None]
    return min(cand) if cand else (None, None)


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def report(args, results, rss, fp16, multi, meta):
    L = []
    keys = list(ENGINES)
    labels = [ENGINES[k][0] for k in keys]
    L.append("# ie-core benchmark")
    L.append("")
    L.append(f"- date: {meta['date']} (wall time of the run: {meta['wall_s'] / 60:.1f} min)")
    L.append(f"- command: `{meta['command']}`")
    m = meta["machine"]
    L.append(f"- machine: {m['cpu']}, {m['cpus']} CPUs ({m['cores_per_socket']} cores/socket, "
             f"{m['threads_per_core']} threads/core, {m['usable_cpus']} usable), hypervisor {m['hypervisor']}, "
             f"RAM {m['ram']}, {m['os']}")
    L.append(f"- CPU flags: {m['flags']}")
    L.append(f"- instruction set: {m['isa']}")
    L.append(f"- ie-core's GNU OpenMP spin-waits: {m['spin']}")
    L.append("- versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    L.append(f"- noise: load average {meta['load_before']} before, {meta['load_after']} after; "
             f"CPU steal time during the run {meta['steal']}")
    L.append(f"- settings: {args.runs} timed runs per engine after {args.warmup} warm-up runs, in blocks of "
             f"{args.block} (engines interleaved); throughput: {args.rounds} round(s) of {args.window:g} s windows "
             f"per engine and N; load: median of {args.load_reps}; RSS: fresh process, load + {args.rss_runs} "
             "inferences")
    L.append("- engines: ie-core CPU `plugin.load(net, config=...)` (f32; bf16 with "
             "`INFERENCE_PRECISION_HINT=bf16` when the backend accepts it); OpenVINO CPU `compile_model(model, "
             "\"CPU\", {\"INFERENCE_PRECISION_HINT\": \"f32\"})` and with no config (\"default\"); ONNX Runtime "
             "`InferenceSession(onnx, providers=[\"CPUExecutionProvider\"])`, default session options. "
             "Every engine uses its default threading.")
    configs = {}
    for name, res in results.items():
        for k, c in res["config"].items():
            configs.setdefault(k, set()).add(json.dumps(c, sort_keys=True))
    L.append("- configs used: " + "; ".join(f"{ENGINES[k][0]} {' / '.join(sorted(v))}" for k, v in configs.items()))
    unavailable = {}
    for name, res in results.items():
        for k, why in res["unavailable"].items():
            unavailable.setdefault((k, why), []).append(name)
    for (k, why), names in unavailable.items():
        L.append(f"- n/a: {ENGINES[k][0]} on {', '.join(names)}: {why}")
    ov_notes = {}
    for name, res in results.items():
        for k, props in res["ov_props"].items():
            text = ", ".join(f"{pk}={pv}" for pk, pv in props.items())
            ov_notes.setdefault((k, text), []).append(name)
    for (k, text), names in ov_notes.items():
        L.append(f"- {ENGINES[k][0]} compiled-model properties ({', '.join(names)}): {text}")
    for name, per in rss.items():
        for k, r in per.items():
            if not r.get("ok") and k not in results.get(name, {}).get("unavailable", {}):
                L.append(f"- peak RSS n/a: {ENGINES[k][0]} on {name}: {r.get('why')}")
    L.append("")

    # --- latency
    L.append("## Batch-1 synchronous latency (ms, median / p90)")
    L.append("")
    L.append("Ratios use medians. f32: ie-core f32 / the faster of OpenVINO f32 and ONNX Runtime. bf16: ie-core "
             "bf16 / OpenVINO default. small: ie-core f32 / the faster of OpenVINO's two configurations.")
    L.append("")
    rows = []
    for name, res in results.items():
        lat = res["latency"]
        med = {k: lat[k]["median"] for k in lat}
        row = [name] + [f"{fmt(lat[k]['median'])} / {fmt(lat[k]['p90'])}" if k in lat else "n/a" for k in keys]
        f32_peer, _ = _argmin(med, ["ov-f32", "ort"])
        row.append(fmt_ratio(ratio(med.get("ie-f32"), f32_peer)))
        row.append(fmt_ratio(ratio(med.get("ie-bf16"), med.get("ov-default"))))
        if name in SMALL_MODELS:
            row.append(fmt_ratio(ratio(med.get("ie-f32"), _argmin(med, ["ov-f32", "ov-default"])[0])))
        else:
            row.append("")
        rows.append(row)
    L += table(["model"] + labels + ["f32 ratio", "bf16 ratio", "small ratio"], rows)
    L.append("")

    # --- throughput
    if not args.no_throughput:
        L.append("## Throughput (inferences/s, batch 1, N requests in flight)")
        L.append("")
        L.append("ie-core: `plugin.load(net, num_requests=N)`, every request restarted with `start_async(i, inputs)` "
                 "as soon as its `wait()` returns (all N kept in flight). OpenVINO: compiled with "
                 "`PERFORMANCE_HINT=THROUGHPUT` (plus the precision), `AsyncInferQueue(compiled, N)`. ONNX Runtime: "
                 "N Python threads calling `run()` on one session concurrently. Each figure: completed inferences / "
                 "(window + drain), median over rounds. Ratios: ie-core f32 / the better of OpenVINO f32 and ONNX "
                 "Runtime, ie-core bf16 / OpenVINO default, at the same N; \"best\" rows take each engine's best N "
                 "(the targets below compare with OpenVINO only).")
        L.append("")
        rows = []
        for name, res in results.items():
            tp = res["throughput"]
            for n in list(REQUESTS) + ["best"]:
                vals = {}
                for k in keys:
                    if k in tp:
                        vals[k] = max(tp[k].values()) if n == "best" else tp[k].get(n)
                cells = []
                for k in keys:
                    if k not in vals:
                        cells.append("n/a")
                    elif n == "best":
                        best_n = max(tp[k], key=tp[k].get)
                        cells.append(f"{fmt(vals[k], 1)} (N={best_n})")
                    else:
                        cells.append(fmt(vals[k], 1))
                f32_peer = max([vals[k] for k in ("ov-f32", "ort") if vals.get(k) is not None], default=None)
                rows.append([name, str(n)] + cells + [fmt_ratio(ratio(vals.get("ie-f32"), f32_peer)),
                                                     fmt_ratio(ratio(vals.get("ie-bf16"), vals.get("ov-default")))])
        L += table(["model", "N"] + labels + ["f32 ratio", "bf16 ratio"], rows)
        L.append("")

    # --- load
    L.append("## Load time (ms): read the model + compile")
    L.append("")
    L.append("ie-core: `IENetwork(xml, bin)` + `plugin.load(net)`; OpenVINO: `core.read_model(xml)` + "
             "`core.compile_model(model, \"CPU\", config)`; ONNX Runtime: `InferenceSession(onnx)`. Median of the "
             "interleaved loads in the benchmark process (warm: files cached, libraries initialised), the read part in "
             "brackets; \"cold\": the one load in the fresh RSS process (first load in a process). Ratio: ie-core f32 / "
             "the fastest peer (OpenVINO f32, OpenVINO default, ONNX Runtime).")
    L.append("")
    rows = []
    for name, res in results.items():
        ld = res["load"]
        cells = []
        for k in keys:
            if k not in ld:
                cells.append("n/a")
                continue
            c = f"{fmt(ld[k] * 1e3, 1)}"
            if res["load_read"].get(k):
                c += f" ({fmt(res['load_read'][k] * 1e3, 1)})"
            cold = rss.get(name, {}).get(k, {})
            if cold.get("ok"):
                c += f"; cold {fmt(cold['cold_load_s'] * 1e3, 1)}"
            cells.append(c)
        peer, _ = _argmin(ld, ["ov-f32", "ov-default", "ort"])
        rows.append([name] + cells + [fmt_ratio(ratio(ld.get("ie-f32"), peer))])
    L += table(["model"] + labels + ["ratio"], rows)
    L.append("")

    # --- RSS
    if rss:
        L.append("## Peak RSS (MiB): load + inference, each engine alone in a fresh process")
        L.append("")
        L.append("VmHWM of the child process after loading the model and running it; in brackets the growth over "
                 "its RSS after importing the engine (numpy and the engine's Python package). Ratio: ie-core f32 "
                 "peak / the smallest peer peak.")
        L.append("")
        rows = []
        for name, per in rss.items():
            cells = []
            peaks = {}
            for k in keys:
                r = per.get(k)
                if not r or not r.get("ok"):
                    cells.append("n/a")
                    continue
                peaks[k] = r["peak_mib"]
                cells.append(peak_cell(r))
            peer, _ = _argmin(peaks, ["ov-f32", "ov-default", "ort"])
            rows.append([name] + cells + [fmt_ratio(ratio(peaks.get("ie-f32"), peer))])
        L += table(["model"] + labels + ["ratio"], rows)
        L.append("")

    if fp16:
        L.append("## IRs with fp16-compressed weights (`compress_to_fp16`): cold load and peak RSS")
        L.append("")
        L.append("The same fresh-process measurement on the IRs saved with fp16 weights (the ONNX files have f32 "
                 "weights: no ONNX Runtime column). Cold load: read + compile, the read part in brackets. Ratios: "
                 "ie-core f32 / OpenVINO f32.")
        L.append("")
        rows = []
        for name, per in fp16.items():
            ie, ov = per.get("ie-f32", {}), per.get("ov-f32", {})
            cells = []
            for r in (ie, ov):
                cells.append(f"{fmt(r['cold_load_s'] * 1e3, 1)} ({fmt(r['cold_read_s'] * 1e3, 1)})"
                             if r.get("ok") else "n/a")
            cells += [peak_cell(r) if r.get("ok") else "n/a" for r in (ie, ov)]
            both = ie.get("ok") and ov.get("ok")
            cells.append(fmt_ratio(ratio(ie["cold_load_s"], ov["cold_load_s"])) if both else "n/a")
            cells.append(fmt_ratio(ratio(ie["peak_mib"], ov["peak_mib"])) if both else "n/a")
            rows.append([name] + cells)
        L += table(["model", "ie-core f32 load (ms)", "OpenVINO f32 load (ms)", "ie-core f32 peak (MiB)",
                    "OpenVINO f32 peak (MiB)", "load ratio", "RSS ratio"], rows)
        L.append("")

    # --- perf counts
    L.append("## Perf counts (ie-core, PERF_COUNT=YES): executed layers' real_time against the latency")
    L.append("")
    L.append("Sync `InferRequest.infer` runs (as many as the latency runs, after 5 warm-up runs): the "
             "request's measured `latency`, and the wall time around the call (`time.perf_counter`, which adds the "
             "Python call itself); sum: the executed layers' `real_time` (the request's own work included as its "
             "Parameter/Result layers); medians. Target: the sum within 10% of the latency.")
    L.append("")
    rows = []
    for name, res in results.items():
        for k, pc in res.get("perf_counts", {}).items():
            rows.append([name, ENGINES[k][0], str(pc["layers"]), fmt(pc["latency"], 3), fmt(pc["wall"], 3),
                         fmt(pc["sum"], 3), f"{pc['ratio']:.2f}", f"{pc['wall_ratio']:.2f}"])
    L += table(["model", "engine", "executed layers", "latency (ms)", "wall (ms)", "sum (ms)", "sum / latency",
                "sum / wall"], rows)
    L.append("")

    # --- agreement
    L.append("## Output agreement (max |out - OpenVINO f32| / max |OpenVINO f32|, batch-1 input)")
    L.append("")
    rows = []
    for name, res in results.items():
        ag = res["agreement"]
        rows.append([name] + [("n/a" if k not in ag else ag[k] if isinstance(ag[k], str) else f"{ag[k]:.1e}") for k in keys])
    L += table(["model"] + labels, rows)
    L.append("")

    # --- N processes
    if multi:
        L.append(f"## {args.multi_procs} processes at once ({args.multi_model}, {args.multi_seconds:g} s)")
        L.append("")
        L.append(f"{args.multi_procs} processes, each with the engine's default threading, load the model, warm up, "
                 f"then run sync batch-1 inferences in a loop for the same {args.multi_seconds:g} s (one engine at a "
                 "time): inferences completed per process, aggregate inferences/s, p50/p90 over all their inferences. "
                 "Ratios: ie-core f32 / OpenVINO f32.")
        L.append("")
        rows = []
        for k, r in multi.items():
            if not r.get("ok"):
                rows.append([ENGINES[k][0], "n/a", "n/a", "n/a", f"n/a ({r.get('why')})"])
                continue
            rows.append([ENGINES[k][0], " + ".join(str(c) for c in r["per_process"]), fmt(r["throughput"], 1),
                         fmt(r["p50"]), fmt(r["p90"])])
        L += table(["engine", "inferences per process", "aggregate (inf/s)", "p50 (ms)", "p90 (ms)"], rows)
        L.append("")

    # --- targets
    L.append("## Targets (project issues 3 and 7)")
    L.append("")
    for name, res in results.items():
        med = {k: v["median"] for k, v in res["latency"].items()}
        ie = med.get("ie-f32")
        if name in SMALL_MODELS:
            peer, pk = _argmin(med, ["ov-f32", "ov-default"])
            r = ratio(ie, peer)
            L.append(f"- {name}: small-CNN latency, ie-core f32 {fmt(ie)} ms vs {ENGINES[pk][0] if pk else 'n/a'} "
                     f"{fmt(peer)} ms = {fmt_ratio(r)} (target <= {TARGET_SMALL}x): **{verdict(r, TARGET_SMALL)}**")
        else:
            peer, pk = _argmin(med, ["ov-f32", "ort"])
            r = ratio(ie, peer)
            L.append(f"- {name}: f32 latency, ie-core f32 {fmt(ie)} ms vs {ENGINES[pk][0] if pk else 'n/a'} "
                     f"{fmt(peer)} ms = {fmt_ratio(r)} (target <= {TARGET_F32}x): **{verdict(r, TARGET_F32)}**")
        bf, ovd = med.get("ie-bf16"), med.get("ov-default")
        r = ratio(bf, ovd)
        if bf is None:
            L.append(f"- {name}: bf16 latency (target <= {TARGET_BF16}x OpenVINO default): **n/a** (ie-core bf16 "
                     "not available, see above)")
        else:
            L.append(f"- {name}: bf16 latency, ie-core bf16 {fmt(bf)} ms vs OpenVINO default {fmt(ovd)} ms = "
                     f"{fmt_ratio(r)} (target <= {TARGET_BF16}x): **{verdict(r, TARGET_BF16)}**")
        if not args.no_throughput:
            tp = res["throughput"]
            for ie_k, ov_k in (("ie-f32", "ov-f32"), ("ie-bf16", "ov-default")):
                a = max(tp[ie_k].values()) if ie_k in tp else None
                b = max(tp[ov_k].values()) if ov_k in tp else None
                r = ratio(a, b)
                if a is None:
                    L.append(f"- {name}: throughput (target >= {TARGET_TPUT}x {ENGINES[ov_k][0]}'s best): **n/a** "
                             f"({ENGINES[ie_k][0]} not available)")
                    continue
                an = f" (N={max(tp[ie_k], key=tp[ie_k].get)})" if ie_k in tp else ""
                bn = f" (N={max(tp[ov_k], key=tp[ov_k].get)})" if ov_k in tp else ""
                L.append(f"- {name}: throughput, {ENGINES[ie_k][0]} best {fmt(a, 1)}/s{an} vs {ENGINES[ov_k][0]} best "
                         f"{fmt(b, 1)}/s{bn} = {fmt_ratio(r)} (target >= {TARGET_TPUT}x): "
                         f"**{verdict(r, TARGET_TPUT, higher_is_better=True)}**")
        for k, pc in res.get("perf_counts", {}).items():
            ok = abs(pc["ratio"] - 1) <= TARGET_PERF_SUM
            L.append(f"- {name}: {ENGINES[k][0]} perf counts sum {fmt(pc['sum'], 3)} ms vs latency "
                     f"{fmt(pc['latency'], 3)} ms = {pc['ratio']:.2f} (target within {TARGET_PERF_SUM:.0%}): "
                     f"**{'met' if ok else 'not met'}**")
    ie, ov = multi.get("ie-f32", {}), multi.get("ov-f32", {})
    if ie.get("ok") and ov.get("ok"):
        r = ratio(ie["throughput"], ov["throughput"])
        L.append(f"- {args.multi_procs} processes on {args.multi_model}: aggregate throughput, ie-core f32 "
                 f"{fmt(ie['throughput'], 1)}/s vs OpenVINO f32 {fmt(ov['throughput'], 1)}/s = {fmt_ratio(r)} "
                 f"(target >= {TARGET_MULTI_TPUT}x): **{verdict(r, TARGET_MULTI_TPUT, higher_is_better=True)}**")
        r = ratio(ie["p90"], ov["p90"])
        L.append(f"- {args.multi_procs} processes on {args.multi_model}: p90, ie-core f32 {fmt(ie['p90'])} ms vs "
                 f"OpenVINO f32 {fmt(ov['p90'])} ms = {fmt_ratio(r)} (target <= {TARGET_MULTI_P90}x): "
                 f"**{verdict(r, TARGET_MULTI_P90)}**")
    L.append("")
    return "\n".join(L)


# ----------------------------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(ALL_MODELS), help="comma-separated, from " + ", ".join(ALL_MODELS))
    p.add_argument("--runs", type=int, default=None, help="timed batch-1 runs per engine and model (default 30)")
    p.add_argument("--warmup", type=int, default=None, help="untimed runs per engine before timing (default 5)")
    p.add_argument("--block", type=int, default=None, help="timed runs per engine before switching engine (default 5)")
    p.add_argument("--window", type=float, default=None, help="seconds per throughput window (default 1.5)")
    p.add_argument("--rounds", type=int, default=None, help="throughput windows per engine and N (default 3)")
    p.add_argument("--load-reps", type=int, default=None, help="loads per engine and model (default 3)")
    p.add_argument("--rss-runs", type=int, default=None, help="inferences in each RSS subprocess (default 10)")
    p.add_argument("--quick", action="store_true", help="a fast smoke run: few runs, short windows")
    p.add_argument("--out", default=str(REPO / "bench" / "RESULTS.md"), help="where to write the report")
    p.add_argument("--json", default=None, help="also write the raw figures as JSON to this path")
    p.add_argument("--no-rss", action="store_true", help="skip the peak-RSS subprocesses")
    p.add_argument("--no-throughput", action="store_true", help="skip the throughput measurement")
    p.add_argument("--no-multi", action="store_true", help="skip the N-processes section")
    p.add_argument("--multi-procs", type=int, default=2, help="processes of the N-processes section (default 2)")
    p.add_argument("--multi-seconds", type=float, default=None, help="seconds each of them runs (default 8)")
    p.add_argument("--multi-model", default="mobilenet_v2", help="the model they run (default mobilenet_v2)")
    p.add_argument("--_rss-child", dest="rss_child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--_loop-child", dest="loop_child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    defaults = dict(runs=30, warmup=5, block=5, window=1.5, rounds=3, load_reps=3, rss_runs=10, multi_seconds=8.0)
    quick = dict(runs=10, warmup=2, block=5, window=0.3, rounds=1, load_reps=1, rss_runs=3, multi_seconds=2.0)
    for k, v in (quick if args.quick else defaults).items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in args.models if m not in ALL_MODELS]
    if bad:
        p.error(f"unknown model(s) {', '.join(bad)}; choose from {', '.join(ALL_MODELS)}")
    if args.runs < 1 or args.block < 1 or args.rounds < 1 or args.load_reps < 1 or args.warmup < 0 or args.window <= 0:
        p.error("--runs, --block, --rounds, --load-reps must be >= 1, --warmup >= 0, --window > 0")
    if args.multi_procs < 1 or args.multi_seconds <= 0 or args.multi_model not in ALL_MODELS:
        p.error(f"--multi-procs must be >= 1, --multi-seconds > 0, --multi-model one of {', '.join(ALL_MODELS)}")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.rss_child:
        with open(args.rss_child) as f:
            rss_child(json.load(f))
        return 0
    if args.loop_child:
        with open(args.loop_child) as f:
            loop_child(json.load(f))
        return 0
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        sys.exit("bench.py needs ONNX Runtime: pip install onnxruntime")

    start = time.time()
    steal0 = cpu_times()
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], REPO) if sys.argv[0] else "bench.py"] + sys.argv[1:]),
        # loads ie_backend_cpu, so before prepare_model imports torch, whose libgomp.so.1 would keep
        # GNU OpenMP's default spin count (see ie_backend_cpu.SPIN_POLICY)
        "machine": machine_info(),
        "versions": versions(),
        "load_before": " ".join(f"{v:.2f}" for v in os.getloadavg()),
    }
    meta["command"] = "python " + meta["command"]
    directory = Path(_model_dir())
    log(f"models in {directory}")
    prepared = [prepare_model(name, directory) for name in args.models]

    bench = Bench(args)
    results = {}
    for model in prepared:
        log(f"[{model['name']}] measuring")
        results[model["name"]] = bench.run_model(model)
    del bench
    gc.collect()

    rss, fp16 = {}, {}
    if not args.no_rss:
        for model in prepared:
            per = {}
            for k in ENGINES:
                per[k] = measure_rss(k, model, args.rss_runs)
                r = per[k]
                log(f"[{model['name']}] RSS {ENGINES[k][0]}: " + (
                    f"peak {r['peak_mib']:.0f} MiB, cold load {r['cold_load_s'] * 1e3:.0f} ms" if r.get("ok") else f"n/a ({r.get('why')})"))
            rss[model["name"]] = per
            if model["xml_fp16"]:
                for path in (model["xml_fp16"], os.path.splitext(model["xml_fp16"])[0] + ".bin"):
                    Path(path).read_bytes()  # in the page cache for every engine, as the f32 files are by now
                fp16[model["name"]] = {k: measure_rss(k, {**model, "xml": model["xml_fp16"]}, args.rss_runs)
                                       for k in FP16_ENGINES}

    multi = {}
    if not args.no_multi:
        model = next((m for m in prepared if m["name"] == args.multi_model), None) or prepare_model(
            args.multi_model, directory)
        for k in MULTI_ENGINES:
            multi[k] = measure_processes(k, model, args.multi_procs, args.multi_seconds, args.warmup)
            r = multi[k]
            log(f"[{model['name']}] {args.multi_procs} processes, {ENGINES[k][0]}: " + (
                f"{r['throughput']:.1f} inf/s, p50 {r['p50']:.2f} ms, p90 {r['p90']:.2f} ms" if r.get("ok")
                else f"n/a ({r.get('why')})"))

    steal1 = cpu_times()
    if steal0 and steal1 and steal1[0] > steal0[0]:
        meta["steal"] = f"{100.0 * (steal1[1] - steal0[1]) / (steal1[0] - steal0[0]):.1f}%"
    else:
        meta["steal"] = "n/a"
    meta["load_after"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    meta["wall_s"] = time.time() - start
    text = report(args, results, rss, fp16, multi, meta)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    log(f"written to {out}")
    if args.json:
        raw = {"meta": meta, "results": results, "rss": rss, "multi": multi,
               "engines": {k: v[0] for k, v in ENGINES.items()}}
        Path(args.json).write_text(json.dumps(raw, indent=1, default=str) + "\n")
        log(f"raw figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
