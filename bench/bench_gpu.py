#!/usr/bin/env python
"""Benchmark ie-core's GPU device (on whatever OpenCL device exists) next to its CPU device.

For each model of tests/models.py (ResNet-50, MobileNetV2, the BERT encoder, the small CNN), each
figure measured in a fresh subprocess:

* **cold load**: ``IEPlugin("GPU").load()`` with an empty kernel cache (``CL_CACHE_DIR``) and, on
  PoCL, an empty PoCL cache (``POCL_CACHE_DIR``), then the first inference (PoCL compiles each
  kernel for its work-group size on first use);
* **ie-core cache only**: a new process with the kernel cache of the cold run and, on PoCL, an empty
  PoCL cache again (what the program binaries alone save: PoCL still compiles each kernel for its
  work-group size on first use);
* **cached load**: a new process with both caches kept (a user's second run);
* **latency**: median and p90 of batch-1 synchronous inferences after warm-up runs, on GPU (in the
  cached-load process) and on ie-core's CPU device (in a process of its own, when installed).

Prints a markdown report naming the OpenCL device; ``--out`` also writes it.

    python bench/bench_gpu.py [--models resnet50,mobilenet_v2,bert_encoder,small_cnn] [--runs 20]
                              [--warmup 3] [--out report.md]

Needs the test dependencies (openvino, torch, onnx, onnxscript) to build the models, ie-backend-gpu
and an OpenCL device (``IE_CORE_GPU_ALLOW_CPU=1`` is set here, so PoCL serves where no GPU is).
Tests never run this.
"""

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODELS = ("resnet50", "mobilenet_v2", "bert_encoder", "small_cnn")


def _test_models():
    """tests/models.py, imported by path under a private name."""
    spec = importlib.util.spec_from_file_location("_ie_core_bench_gpu_models", REPO / "tests" / "models.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def worker(args):
    """One measurement in this process (on ``args.device``); prints a JSON line."""
    from ie_core import IENetwork, IEPlugin

    models = _test_models()
    xml = models.build(args.worker, models.model_dir(tempfile.mkdtemp))["fp32"]
    inputs = models.make_inputs(args.worker)
    if args.device == "CPU":
        exec_net = IEPlugin("CPU").load(IENetwork(xml))
        print(json.dumps({"ms": _latencies(exec_net, inputs, args.warmup, args.runs)}))
        return
    plugin = IEPlugin("GPU")
    start = time.perf_counter()
    exec_net = plugin.load(IENetwork(xml), config={"CL_CACHE_DIR": args.cache})
    loaded = time.perf_counter()
    exec_net.infer(inputs)
    first = time.perf_counter()
    result = {
        "device": plugin.get_metric("FULL_DEVICE_NAME"),
        "load_s": loaded - start,
        "first_infer_s": first - loaded,
        "kernel_cache": plugin.get_metric("CL_KERNEL_CACHE"),
    }
    if args.runs:
        result["ms"] = _latencies(exec_net, inputs, args.warmup, args.runs)
    print(json.dumps(result))


def _latencies(exec_net, inputs, warmup, runs):
    for _ in range(warmup):
        exec_net.infer(inputs)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        exec_net.infer(inputs)
        times.append((time.perf_counter() - start) * 1000)
    return times


def _run_worker(model, runs, warmup, device="GPU", cache="", pocl_cache=""):
    env = dict(os.environ, IE_CORE_GPU_ALLOW_CPU="1", POCL_CACHE_DIR=pocl_cache)
    cmd = [sys.executable, __file__, "--worker", model, "--device", device, "--cache", cache, "--runs", str(runs),
           "--warmup", str(warmup)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def _stats(times):
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--out")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--device", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    from ie_core import available_devices

    has_cpu = "CPU" in available_devices()
    rows, device = [], None
    load_before = os.getloadavg()
    for model in args.models.split(","):
        with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as pocl_cache:
            cold = _run_worker(model, 0, 0, cache=cache, pocl_cache=pocl_cache)
            with tempfile.TemporaryDirectory() as fresh_pocl_cache:
                ours = _run_worker(model, 0, 0, cache=cache, pocl_cache=fresh_pocl_cache)
            cached = _run_worker(model, args.runs, args.warmup, cache=cache, pocl_cache=pocl_cache)
        cpu = _run_worker(model, args.runs, args.warmup, device="CPU") if has_cpu else None
        device = cold["device"]
        rows.append((model, cold, ours, cached, cpu))
        print(f"{model}: done", file=sys.stderr)
    load_after = os.getloadavg()
    lines = [
        "# ie-core GPU device",
        "",
        f"OpenCL device: **{device}**; host {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after. "
        f"Latency: batch 1, median (p90) of {args.runs} runs after {args.warmup} warm-up runs.",
        "",
        "Load and first inference in seconds, each in a new process.",
        "",
        "| model | programs | cold load | cold 1st infer | ie-core cache only: load | 1st infer "
        "| both caches: load | 1st infer | GPU latency ms | CPU latency ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model, cold, ours, cached, cpu in rows:
        gpu_ms = "%.1f (%.1f)" % _stats(cached["ms"])
        cpu_ms = "%.1f (%.1f)" % _stats(cpu["ms"]) if cpu else "n/a"
        lines.append(
            f"| {model} | {cold['kernel_cache']['builds']} built, {ours['kernel_cache']['disk_hits']} cached "
            f"| {cold['load_s']:.2f} | {cold['first_infer_s']:.2f} | {ours['load_s']:.2f} "
            f"| {ours['first_infer_s']:.2f} | {cached['load_s']:.2f} | {cached['first_infer_s']:.2f} | {gpu_ms} "
            f"| {cpu_ms} |"
        )
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        Path(args.out).write_text(report)


if __name__ == "__main__":
    main()
