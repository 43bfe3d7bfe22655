"""The ``ie`` command: devices, info, infer, benchmark, compare, batch, backend new and run.

Every failure the library reports (an :class:`~ie_core.errors.IEError`) and every
unreadable or unwritable file ends the command with one line on stderr and exit
status 1; a bad argument exits with status 2, as argparse does.
"""

import argparse
import csv
import functools
import glob
import json
import logging
import os
import re
import string
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter, deque
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import IENetwork, IEPlugin, __version__, config
from .backend import API_VERSION
from .compat import run_script
from .errors import IEError, InputError, NotSupportedError
from .graph import output_name
from .plugins import default_registry
from .types import precision_name

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_MODEL = DATA / "digits_cnn.xml"
DEFAULT_TEST_SET = DATA / "digits_test.npz"
TEMPLATES = Path(__file__).resolve().parent / "templates" / "backend"

log = logging.getLogger(__name__)


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with a bad argument reported as one line that points to ``--help``."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def progress(iterable=None, **kwargs):
    """A tqdm progress bar on stderr, shown only when stderr is a terminal."""
    return tqdm(iterable, file=sys.stderr, disable=None, leave=False, dynamic_ncols=True, **kwargs)


def print_json(value):
    print(json.dumps(value, indent=2, default=str))


def print_table(headers, rows):
    """``rows`` (lists of cells) under ``headers``, each column as wide as its widest cell."""
    cells = [[str(c) for c in row] for row in [headers] + rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


# --------------------------------------------------------------------------- devices and configuration


def default_device():
    return "CPU" if "CPU" in default_registry().backends() else "REFERENCE"


def resolve_device(args):
    """(device, its config keys, Settings or None): ``-d`` else the choice of ``--config`` or
    ``$IE_CORE_CONFIG`` else the default device; the file's keys for the device apply either way."""
    settings = config.load(args.config) if args.config or os.environ.get(config.ENV_VAR) else None
    if settings is None:
        return args.device or default_device(), {}, None
    if args.device:
        return args.device, config.device_keys(settings, args.device), settings
    choice = config.choose(settings, default_registry())
    for skipped in choice.skipped:
        log.info("%s: skipped %s", settings.path, skipped)
    return choice.device, choice.config, settings


def model_paths(args, settings):
    """The (model, weights) to run: the command line's, else the configuration file's."""
    if args.model:
        return args.model, args.weights
    if settings is not None and settings.model:
        return settings.model, settings.weights
    return None, None


def open_network(model, weights=None, batch=None):
    net = IENetwork(model=model, weights=weights)
    if batch is not None:
        net.batch_size = batch
    return net


def load_network(net, device, device_config, settings, extra_config=None):
    """(IEPlugin, ExecutableNetwork): ``net`` loaded on ``device`` with the configuration file's affinity."""
    plugin = IEPlugin(device)
    plugin.set_config(device_config)
    if settings is not None:
        config.assign_affinity(settings, plugin, net)
    return plugin, plugin.load(net, config=extra_config)


def cmd_devices(args):
    registry = default_registry()
    devices = {}
    for name, info in registry.devices().items():
        cls = registry.backends()[name][0]
        options = {key: {"default": opt.default, "doc": opt.doc} for key, opt in sorted(cls.config_options.items())}
        devices[name] = {**info, "config": options}
    failures = registry.failures()
    if args.json:
        print_json({"api_version": API_VERSION, "devices": devices, "failures": failures})
        return 0
    print(f"ie-core {__version__}, Backend API {API_VERSION}")
    for name, info in devices.items():
        emulator = "yes (software emulator)" if info["emulator"] else "no"
        print(f"\n{name}  {info['version']}  {info['package']}  Backend API {info['api_version']}  "
              f"emulator: {emulator}")
        if info["description"]:
            print(f"  {info['description']}")
        if info["capabilities"]:
            print(f"  capabilities: {', '.join(info['capabilities'])}")
        print("  config keys:")
        width = max(len(k) for k in info["config"])
        for key, opt in info["config"].items():
            print(f"    {key.ljust(width)}  default {opt['default']!r:8}  {opt['doc']}")
    if failures:
        print("\nfailed to load:")
        for name, reason in failures.items():
            print(f"  {name}: {reason}")
    return 0


# --------------------------------------------------------------------------- info


def ir_version(model):
    """The ``version`` attribute of the IR's ``<net>`` element."""
    for _, element in ET.iterparse(model, events=("start",)):
        return element.get("version", "")
    return ""


def macs(node):
    """Multiply-accumulates of one layer per inference (convolutions and MatMul; 0 for others)."""
    if any(src.node.output_shapes[src.index] is None for src in node.inputs) or node.output_shapes[0] is None:
        return 0
    shapes = [src.node.output_shapes[src.index] for src in node.inputs]
    out = node.output_shapes[0]
    if node.type == "Convolution":
        return int(np.prod(out)) * int(np.prod(shapes[1][1:]))
    if node.type == "GroupConvolution":
        return int(np.prod(out)) * int(np.prod(shapes[1][2:]))
    if node.type == "ConvolutionBackpropData":
        return int(np.prod(shapes[0])) * int(np.prod(shapes[1][1:]))
    if node.type == "GroupConvolutionBackpropData":
        return int(np.prod(shapes[0])) * int(np.prod(shapes[1][2:]))
    if node.type == "MatMul":
        a = shapes[0]
        transposed = str(node.attrs.get("transpose_a", "false")).lower() == "true"
        k = a[0] if len(a) == 1 else (a[-2] if transposed else a[-1])
        return int(np.prod(out)) * int(k)
    return 0


def describe_ports(items):
    return {name: {"shape": None if shape is None else list(shape), "precision": precision}
            for name, shape, precision in items}


def cmd_info(args):
    net = open_network(args.model, args.weights)
    graph = net._graph
    layers = [n for n in graph.nodes if n.type != "Result"]
    histogram = Counter(n.type for n in layers)
    parameters = sum(int(n.values[0].size) for n in graph.nodes
                     if n.type == "Const" and n.values[0] is not None and n.values[0].dtype.kind == "f")
    outputs = []
    for r in graph.results:
        src = r.inputs[0]
        shape, dtype = src.node.output_shapes[src.index], src.node.output_dtypes[src.index]
        outputs.append((output_name(src), shape,
                        precision_name(dtype) if dtype is not None else "UNSPECIFIED"))
    info = {
        "model": args.model,
        "name": net.name,
        "ir_version": ir_version(args.model),
        "inputs": describe_ports((name, shape, shape.precision) for name, shape in net.inputs.items()),
        "outputs": describe_ports(outputs),
        "layers": len(layers),
        "op_histogram": dict(histogram.most_common()),
        "parameters": parameters,
        "macs": sum(macs(n) for n in layers),
        "devices": device_support(net, progress_desc="querying devices"),
    }
    if args.json:
        print_json(info)
        return 0
    print(f"model: {info['model']} (network {info['name']!r}, IR version {info['ir_version']})")
    for kind in ("inputs", "outputs"):
        print(f"{kind}:")
        for name, port in info[kind].items():
            print(f"  {name}: {port['shape']} {port['precision']}")
    print(f"layers: {info['layers']}, parameters: {parameters:,}, MACs per inference: {info['macs']:,}")
    print("ops: " + ", ".join(f"{op} {count}" for op, count in histogram.most_common()))
    print("devices:")
    for device, support in info["devices"].items():
        if "error" in support:
            print(f"  {device}: cannot run it: {support['error']}")
        elif not support["not_native"]:
            print(f"  {device}: every layer native")
        else:
            missing = support["not_native"]
            shown = ", ".join(f"{name} ({why})" for name, why in list(missing.items())[:8])
            more = f", ... {len(missing) - 8} more" if len(missing) > 8 else ""
            print(f"  {device}: {len(missing)} of {support['layers']} layers not native: {shown}{more}")
    return 0


def device_support(net, progress_desc):
    """Per installed device: how many layers, and which do not run natively (layer -> why)."""
    result = {}
    names = [d for d in default_registry().devices() if d != "HETERO"]
    for device in progress(names, desc=progress_desc):
        try:
            support = IEPlugin(device).query(net)
        except IEError as exc:
            result[device] = {"error": str(exc)}
            continue
        not_native = {
            name: s.reason or ("not supported" if not s.supported else "no native kernel")
            for name, s in support.items()
            if not s.native
        }
        result[device] = {"layers": len(support), "not_native": not_native}
    return result


# --------------------------------------------------------------------------- infer


def cmd_infer(args):
    device, device_config, settings = resolve_device(args)
    model, weights = model_paths(args, settings)
    model = model or str(DEFAULT_MODEL)
    net = open_network(model, weights)
    digits = model == str(DEFAULT_MODEL) and not args.input
    inputs = None if digits else inputs_from_specs(args.input, net)
    extra = {"PERF_COUNT": "YES"} if args.perf_counts else None
    plugin, exec_net = load_network(net, device, device_config, settings, extra_config=extra)
    report = {"device": plugin.device, "device_version": plugin.version, "model": model, "network": net.name}
    if digits:
        correct, count, times = classify_digits(net, exec_net, args.iterations)
        report.update(accuracy=correct / count, correct=correct, images=count)
    else:
        result, times = timed_infer(exec_net, inputs, args.iterations)
        report["outputs"] = {name: describe_output(value) for name, value in result.items()}
        if args.output_dir:
            Path(args.output_dir).mkdir(parents=True, exist_ok=True)
            for name, value in result.items():
                out = Path(args.output_dir) / (name.replace("/", "_") + ".npy")
                np.save(out, value)
                report["outputs"][name]["saved_to"] = str(out)
    ms = np.array(times) * 1000.0
    report["latency_ms"] = {"median": float(np.median(ms)), "p90": float(np.percentile(ms, 90)), "runs": len(ms)}
    if args.perf_counts:
        report["perf_counts"] = exec_net.requests[0].get_perf_counts()
    if args.json:
        print_json(report)
        return 0
    print(f"device: {report['device']} ({report['device_version']})")
    if digits:
        print(f"model: {DEFAULT_MODEL.name} (CNN on scikit-learn digits, input {list(next(iter(net.inputs.values())))})")
        print(f"accuracy: {report['accuracy']:.4f} ({correct}/{count} held-out test images)")
    else:
        print(f"model: {model} ({net.name})")
        for name, out in report["outputs"].items():
            print(f"output {name}: shape {out['shape']} {out['dtype']}, {out['summary']}")
            if "saved_to" in out:
                print(f"  saved to {out['saved_to']}")
    lat = report["latency_ms"]
    print(f"latency: median {lat['median']:.3f} ms, p90 {lat['p90']:.3f} ms over {lat['runs']} runs")
    if args.perf_counts:
        print_perf_counts(report["perf_counts"])
    return 0


def classify_digits(net, exec_net, iterations):
    """The bundled held-out digits through ``exec_net``: (correct, images, seconds per inference)."""
    data = np.load(DEFAULT_TEST_SET)
    images, labels = data["images"].astype(np.float32)[:, None], data["labels"]
    input_name, output_name = next(iter(net.inputs)), net.outputs[0]
    correct, times = 0, []
    for image, label in progress(list(zip(images, labels)), desc="digits", unit="image"):
        t0 = time.perf_counter()
        prob = exec_net.infer({input_name: image[None]})[output_name]
        times.append(time.perf_counter() - t0)
        correct += int(np.argmax(prob) == label)
    _, more = timed_infer(exec_net, {input_name: images[:1]}, iterations)
    return correct, len(labels), times + more


def read_array(path, mmap_mode=None):
    """The array in the .npy file at ``path``; InputError naming the file when it holds none."""
    try:
        value = np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except ValueError as exc:
        raise InputError(f"{path}: not a .npy array file: {exc}") from None
    if not isinstance(value, np.ndarray):
        raise InputError(f"{path}: holds several arrays (.npz); give one .npy file per input")
    return value


def inputs_from_specs(specs, net):
    """``NAME=FILE.npy`` pairs (or one bare path for a single-input network) -> dict of arrays."""
    inputs = {}
    names = list(net.inputs)
    for spec in specs or []:
        name, sep, path = spec.partition("=")
        if not sep:
            if len(names) != 1:
                raise InputError(f"--input {spec}: the network has inputs {names}; give --input NAME=FILE.npy")
            name, path = names[0], spec
        if name not in names:
            raise InputError(f"--input {spec}: the network has no input {name!r}; its inputs are {names}")
        inputs[name] = read_array(path)
    missing = [n for n in names if n not in inputs]
    if missing:
        raise InputError(f"no --input for {missing} (network inputs: {dict(net.inputs)})")
    return inputs


def timed_infer(exec_net, inputs, iterations):
    result = exec_net.infer(inputs)
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        exec_net.infer(inputs)
        times.append(time.perf_counter() - t0)
    return result, times


def describe_output(value):
    """Shape, dtype and a one-line summary (min, max, mean; argmax of a single row) of an output."""
    text = "empty"
    if value.size:
        flat = value.astype(np.float64).ravel()
        text = f"min {flat.min():.6g} max {flat.max():.6g} mean {flat.mean():.6g}"
        if value.ndim == 2 and value.shape[0] == 1:
            text += f", argmax {int(np.argmax(flat))}"
    return {"shape": list(value.shape), "dtype": str(value.dtype), "summary": text}


def print_perf_counts(counts):
    """``get_perf_counts()`` as a table."""
    print_table(["layer", "type", "status", "exec_type", "real µs"],
                [[name, pc["layer_type"], pc["status"], pc["exec_type"], pc["real_time"]]
                 for name, pc in counts.items()])


# --------------------------------------------------------------------------- benchmark


def random_inputs(net, seed=0):
    """Inputs for ``net``: standard normal floats, zeros for integer inputs (valid indices)."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for name, info in net.inputs.items():
        dtype = net._graph.node(name).output_dtypes[0]
        inputs[name] = (rng.standard_normal(info.shape).astype(dtype) if dtype.kind == "f"
                        else np.zeros(info.shape, dtype))
    return inputs


def streams_key(plugin):
    """The device's throughput-streams configuration key; NotSupportedError when it has none."""
    keys = [k for k in plugin.get_metric("SUPPORTED_CONFIG_KEYS") if k.endswith("_THROUGHPUT_STREAMS")]
    if not keys:
        raise NotSupportedError(f"-nstreams: device {plugin.device} has no throughput-streams configuration key")
    return keys[0]


#: Inferences whose perf counts make the per-layer report: run after the measurement, so that
#: reading them does not slow the measured ones down.
PROFILED_RUNS = 100


class LayerTimes:
    """Per-layer real times summed over the profiled inferences."""

    def __init__(self):
        self.total = Counter()
        self.runs = 0
        self.info = {}

    def add(self, counts):
        self.runs += 1
        for name, pc in counts.items():
            if pc["status"] == "EXECUTED":
                self.total[name] += pc["real_time"]
                self.info[name] = (pc["layer_type"], pc["exec_type"])

    def rows(self):
        """[(layer, type, exec_type, average µs)], slowest first."""
        return [(name, *self.info[name], total / self.runs) for name, total in self.total.most_common()]


def cmd_benchmark(args):
    if args.report and Path(args.report).suffix.lower() not in (".json", ".csv"):
        raise InputError(f"--report {args.report}: expected a .json or .csv file name")
    if args.plot:
        pyplot()
    device, device_config, settings = resolve_device(args)
    model, weights = model_paths(args, settings)
    if model is None:
        raise InputError("benchmark: give MODEL.xml (or a configuration file with 'model:')")
    net = open_network(model, weights, args.batch)
    plugin = IEPlugin(device)
    plugin.set_config(device_config)
    if settings is not None:
        config.assign_affinity(settings, plugin, net)
    load_config = {}
    if args.nstreams:
        load_config[streams_key(plugin)] = str(args.nstreams)
    profile = bool(args.perf_counts or args.report or args.plot)
    if profile:
        load_config["PERF_COUNT"] = "YES"
    nireq = args.nireq or (settings.num_requests if settings else None) or (1 if args.api == "sync" else 2)
    t0 = time.perf_counter()
    exec_net = plugin.load(net, num_requests=nireq, config=load_config)
    load_ms = (time.perf_counter() - t0) * 1000
    inputs = random_inputs(net)
    exec_net.requests[0].infer(inputs)  # warm-up, not measured
    latencies, duration = measure(exec_net, inputs, args)
    layer_times = profile_layers(exec_net.requests[0], inputs, min(PROFILED_RUNS, len(latencies))) if profile else None
    batch = net.batch_size
    ms = np.array(latencies)
    report = {
        "model": model,
        "device": device,
        "device_version": plugin.version,
        "api": args.api,
        "batch": batch,
        "nireq": nireq,
        "config": load_config,
        "load_ms": round(load_ms, 3),
        "iterations": len(latencies),
        "duration_s": round(duration, 4),
        "throughput_fps": round(len(latencies) * batch / duration, 3),
        "latency_ms": {
            "median": float(np.median(ms)), "avg": float(ms.mean()), "min": float(ms.min()),
            "max": float(ms.max()), "p90": float(np.percentile(ms, 90)),
        },
        "layers": [
            {"layer": name, "type": ltype, "exec_type": exec_type, "avg_us": round(us, 2)}
            for name, ltype, exec_type, us in (layer_times.rows() if profile else [])
        ],
    }
    if args.report:
        write_report(args.report, report)
    if args.plot:
        plot_layers(args.plot, report)
    if args.json:
        print_json(report)
        return 0
    print(f"device: {device} ({plugin.version}); model: {model}; batch {batch}; {args.api} API, {nireq} request(s)")
    print(f"load: {load_ms:.1f} ms")
    print(f"count: {report['iterations']} iterations in {duration:.2f} s")
    lat = report["latency_ms"]
    print(f"latency (ms): median {lat['median']:.3f}  avg {lat['avg']:.3f}  min {lat['min']:.3f}  "
          f"max {lat['max']:.3f}  p90 {lat['p90']:.3f}")
    print(f"throughput: {report['throughput_fps']:.2f} FPS")
    if profile:
        print(f"slowest layers (average µs over {layer_times.runs} profiled inferences):")
        print_table(["layer", "type", "exec_type", "avg µs"],
                    [[r["layer"], r["type"], r["exec_type"], f"{r['avg_us']:.1f}"] for r in report["layers"][:10]])
    for path in (args.report, args.plot):
        if path:
            print(f"wrote {path}")
    return 0


def cmd_run(args):
    """``ie run SCRIPT [ARGS]``: :func:`ie_core.compat.run_script`."""
    run_script(args.script, args.args)
    return 0


def profile_layers(request, inputs, runs):
    """The per-layer times of ``runs`` synchronous inferences of ``request`` (PERF_COUNT=YES)."""
    times = LayerTimes()
    for _ in range(runs):
        request.infer(inputs)
        times.add(request.get_perf_counts())
    return times


def measure(exec_net, inputs, args):
    """Run until ``-t`` seconds or ``-niter`` iterations; returns (latencies in ms, wall seconds)."""
    limit_s = args.time if args.niter is None else None
    total = args.niter or None
    bar = progress(total=total or limit_s, desc="benchmark", unit="it" if total else "s")
    latencies = []

    def record(request):
        latencies.append(request.latency)
        bar.update(1 if total else 0)
        if not total:
            bar.n = round(min(time.perf_counter() - start, limit_s), 1)
            bar.refresh()

    def may_start():
        return started < total if total else time.perf_counter() - start < limit_s

    started = 0
    start = time.perf_counter()
    if args.api == "sync":
        request = exec_net.requests[0]
        while may_start():
            request.infer(inputs)
            started += 1
            record(request)
    else:
        in_flight = deque()
        for request in exec_net.requests:
            if not may_start():
                break
            request.async_infer(inputs)
            in_flight.append(request)
            started += 1
        while in_flight:
            request = in_flight.popleft()
            if request.wait() != 0:
                raise request.error
            record(request)
            if may_start():
                request.async_infer(inputs)
                in_flight.append(request)
                started += 1
    duration = time.perf_counter() - start
    bar.close()
    return latencies, duration


def write_report(path, report):
    """The benchmark report as JSON, or as CSV (the summary, then the per-layer table) by extension."""
    if Path(path).suffix.lower() == ".json":
        Path(path).write_text(json.dumps(report, indent=2) + "\n")
        return
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["metric", "value"])
        for key, value in report.items():
            if key == "latency_ms":
                for stat, ms in value.items():
                    out.writerow([f"latency_{stat}_ms", f"{ms:.4f}"])
            elif key not in ("layers", "config"):
                out.writerow([key, value])
        out.writerow([])
        out.writerow(["layer", "type", "exec_type", "avg_us"])
        for row in report["layers"]:
            out.writerow([row["layer"], row["type"], row["exec_type"], row["avg_us"]])


def pyplot():
    """matplotlib's pyplot on the non-interactive Agg backend; NotSupportedError when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        raise NotSupportedError("--plot needs matplotlib: pip install 'ie-core[plot]'") from None
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt


def plot_layers(path, report, top=25):
    """A PNG of the ``top`` slowest layers' average times (needs matplotlib: ``pip install ie-core[plot]``)."""
    plt = pyplot()
    rows = report["layers"][:top][::-1]
    fig, ax = plt.subplots(figsize=(8, 0.9 + 0.28 * max(len(rows), 1)), dpi=80)
    types = sorted({r["type"] for r in rows})
    colors = {t: plt.get_cmap("tab10")(i % 10) for i, t in enumerate(types)}
    ax.barh([f"{r['layer'][:40]}" for r in rows], [r["avg_us"] for r in rows],
            color=[colors[r["type"]] for r in rows])
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[t]) for t in types]
    ax.legend(handles, types, fontsize=7, loc="lower right")
    ax.set_xlabel("average time per inference (µs)")
    ax.set_title(f"{Path(report['model']).name} on {report['device']}, batch {report['batch']}", fontsize=9)
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# --------------------------------------------------------------------------- samples: compare and batch


def sample_files(pattern):
    """The .npy/.npz files of a directory, or those a glob pattern matches, sorted; InputError when none."""
    if os.path.isdir(pattern):
        files = [str(p) for p in sorted(Path(pattern).iterdir()) if p.suffix in (".npy", ".npz")]
    else:
        files = sorted(f for f in glob.glob(pattern) if f.endswith((".npy", ".npz")))
    if not files:
        raise InputError(f"--inputs {pattern}: no .npy or .npz files there")
    return files


def read_sample(path, input_names, mmap_mode=None):
    """The inputs of one sample: a .npy for a single-input network, a .npz with one array per input.

    ``mmap_mode="r"`` maps a .npy file instead of reading it (to check its shape).
    """
    if path.endswith(".npy"):
        if len(input_names) != 1:
            raise InputError(f"{path}: the network has inputs {input_names}; give .npz files with one array each")
        return {input_names[0]: read_array(path, mmap_mode)}
    try:
        with np.load(path, allow_pickle=False) as archive:
            sample = {name: archive[name] for name in archive.files}
    except ValueError as exc:
        raise InputError(f"{path}: not a .npz archive of arrays: {exc}") from None
    if sorted(sample) != sorted(input_names):
        raise InputError(f"{path}: holds arrays {sorted(sample)}, the network's inputs are {input_names}")
    return sample


def infer_sample(exec_net, sample, path):
    try:
        return exec_net.infer(sample)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


# --------------------------------------------------------------------------- compare


def read_labels(path, count):
    """Integer class labels, one per sample: a .npy array or a text file with one per line."""
    if path.endswith(".npy"):
        labels = read_array(path).astype(np.int64).ravel()
    else:
        lines = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
        if not all(re.fullmatch(r"-?\d+", line) for line in lines):
            raise InputError(f"--labels {path}: expected one integer label per line")
        labels = np.array([int(line) for line in lines])
    if len(labels) != count:
        raise InputError(f"--labels {path}: {len(labels)} labels for {count} input samples")
    return labels


def top1(value):
    """Class index per row: the argmax over the last axis, the batch axis kept."""
    return np.argmax(value.reshape(value.shape[0], -1) if value.ndim > 2 else value, axis=-1)


def cmd_compare(args):
    if len(args.device) < 2:
        raise InputError("compare: give at least two devices, e.g. -d REFERENCE -d CPU")
    net = open_network(args.model, args.weights)
    input_names = list(net.inputs)
    if args.inputs:
        files = sample_files(args.inputs)
        samples = [read_sample(f, input_names) for f in files]
    else:
        files = [f"random sample {i}" for i in range(args.samples)]
        samples = [random_inputs(net, seed=i) for i in range(args.samples)]
    labels = read_labels(args.labels, len(samples)) if args.labels else None
    outputs = {}
    with progress(total=len(args.device) * len(samples), desc="compare", unit="inference") as bar:
        for device in args.device:
            exec_net = IEPlugin(device).load(net)
            results = []
            for sample, path in zip(samples, files):
                results.append(infer_sample(exec_net, sample, path))
                bar.update(1)
            outputs[device] = {name: np.stack([r[name] for r in results]) for name in net.outputs}
    reference = args.device[0]
    report = {"model": args.model, "reference": reference, "samples": len(samples), "devices": {}}
    for device in args.device:
        entry = {"outputs": {}}
        for name in net.outputs:
            actual, expected = outputs[device][name], outputs[reference][name]
            entry["outputs"][name] = output_stats(actual, expected)
        if labels is not None:
            predicted = top1(outputs[device][net.outputs[0]].reshape(len(samples), -1))
            entry["accuracy"] = float(np.mean(predicted == labels))
        report["devices"][device] = entry
    if args.json:
        print_json(report)
        return 0
    print(f"model: {args.model}; {len(samples)} samples; errors against {reference}")
    rows = []
    for device, entry in report["devices"].items():
        for name, stats in entry["outputs"].items():
            agree = "-" if stats["top1_agreement"] is None else f"{stats['top1_agreement']:.4f}"
            row = [device, name, f"{stats['max_abs']:.3g}", f"{stats['rel_l2']:.3g}", agree]
            if labels is not None:
                row.append(f"{entry['accuracy']:.4f}")
            rows.append(row)
    headers = ["device", "output", "max abs", "rel L2", "top-1 agree"] + (["accuracy"] if labels is not None else [])
    print_table(headers, rows)
    return 0


def output_stats(actual, expected):
    """Max abs error, relative L2 error and (for class scores) top-1 agreement of ``actual`` against ``expected``."""
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    norm = np.linalg.norm(e.ravel())
    diff = np.linalg.norm((a - e).ravel())
    agreement = None
    if expected.dtype.kind == "f" and expected[0].size > 1:
        agreement = float(np.mean(top1(a.reshape(len(a), -1)) == top1(e.reshape(len(e), -1))))
    return {
        "max_abs": float(np.max(np.abs(a - e))) if a.size else 0.0,
        "rel_l2": float(diff / norm if norm > 0 else diff),
        "top1_agreement": agreement,
    }


# --------------------------------------------------------------------------- batch


def output_file(out_dir, path, outputs):
    """Where the outputs of input file ``path`` go: NAME.npy for one output, NAME.npz for several."""
    return Path(out_dir) / (Path(path).stem + (".npy" if len(outputs) == 1 else ".npz"))


def write_outputs(out_dir, path, outputs):
    target = output_file(out_dir, path, outputs)
    if len(outputs) == 1:
        np.save(target, next(iter(outputs.values())))
    else:
        np.savez(target, **outputs)


def one_sample(value, shape, path, name):
    """``value`` as one sample of an input of ``shape``: with a batch dimension of 1."""
    if tuple(value.shape) == tuple(shape[1:]):
        value = value[None]
    if tuple(value.shape) != (1,) + tuple(shape[1:]):
        raise InputError(f"{path}: input {name}: expected shape {list(shape[1:])} (one sample), got {list(value.shape)}")
    return value


def stack_batch(samples, files, net):
    """One array per input: the samples stacked along the batch axis, padded with the last one to a full batch."""
    stacked = {}
    for name, info in net.inputs.items():
        rows = [one_sample(sample[name], info.shape, path, name) for sample, path in zip(samples, files)]
        rows += [rows[-1]] * (net.batch_size - len(rows))
        stacked[name] = np.concatenate(rows)
    return stacked


def load_row(row, shapes, mmap_mode=None):
    """A Ray Data row for the input file ``row["path"]``: its path and one column per network input."""
    path = row["path"]
    sample = read_sample(path, list(shapes), mmap_mode)
    return {"path": path, **{name: one_sample(sample[name], shape, path, name)[0] for name, shape in shapes.items()}}


def run_on_ray(net, model, weights, device, device_config, files, out_dir, address, actors):
    """``ie batch --ray``: the files through :class:`ie_core.ray.IEPredictor` actors on Ray Data; returns the count."""
    try:
        import ray
    except ImportError:
        raise NotSupportedError("--ray needs Ray Data: pip install 'ie-core[ray]'") from None
    from .ray import IEPredictor

    shapes = {name: tuple(info.shape) for name, info in net.inputs.items()}
    predictor = {"model": os.path.abspath(model), "weights": weights and os.path.abspath(weights),
                 "device": device, "config": device_config, "batch_size": net.batch_size}
    # what Ray's workers would fail on, checked here where it makes one clear error line
    IEPlugin(device).set_config(device_config)
    for path in files:
        load_row({"path": path}, shapes, mmap_mode="r")
    own_cluster = not ray.is_initialized()
    if own_cluster:
        ray.init(address=address, num_cpus=None if address else actors + 1, include_dashboard=False,
                 logging_level=logging.WARNING, log_to_driver=False)
    ray.data.DataContext.get_current().print_on_execution_start = False
    if not log.isEnabledFor(logging.INFO):
        logging.getLogger("ray.data").setLevel(logging.WARNING)
    try:
        ds = ray.data.from_items([{"path": os.path.abspath(f)} for f in files])
        ds = ds.map(functools.partial(load_row, shapes=shapes))
        ds = ds.map_batches(IEPredictor, fn_constructor_kwargs=predictor, batch_size=net.batch_size,
                            compute=ray.data.ActorPoolStrategy(size=actors))
        written = 0
        for batch in ds.iter_batches(batch_size=net.batch_size):
            for i, path in enumerate(batch["path"]):
                write_outputs(out_dir, path, {name: batch[name][i][None] for name in net.outputs})
            written += len(batch["path"])
        return written
    finally:
        if own_cluster:
            ray.shutdown()


def cmd_batch(args):
    device, device_config, settings = resolve_device(args)
    model, weights = model_paths(args, settings)
    if model is None:
        raise InputError("batch: give MODEL.xml (or a configuration file with 'model:')")
    files = sample_files(args.inputs)
    Path(args.output).mkdir(parents=True, exist_ok=True)
    net = open_network(model, weights, args.batch_size)
    if args.ray is not None:
        written = run_on_ray(net, model, weights, device, device_config, files, args.output,
                             address=args.ray or None, actors=args.actors)
        print(f"wrote {written} output files to {args.output} (device {device}, on Ray)")
        return 0
    plugin, exec_net = load_network(net, device, device_config, settings)
    batch = net.batch_size
    names = list(net.inputs)
    with progress(total=len(files), desc="batch", unit="file") as bar:
        for start in range(0, len(files), batch):
            chunk = files[start:start + batch]
            inputs = stack_batch([read_sample(f, names) for f in chunk], chunk, net)
            result = infer_sample(exec_net, inputs, chunk[0])
            for i, path in enumerate(chunk):
                write_outputs(args.output, path, {name: value[i:i + 1] for name, value in result.items()})
            bar.update(len(chunk))
    print(f"wrote {len(files)} output files to {args.output} (device {device})")
    return 0


# --------------------------------------------------------------------------- backend new


def cmd_backend_new(args):
    device = args.name.upper()
    if not re.fullmatch(r"[A-Z][A-Z0-9_]*", device):
        raise InputError(f"backend new: {args.name!r} is not a device name (a letter, then letters, digits or _)")
    if device in default_registry().backends():
        raise InputError(f"backend new: device {device} is already installed; choose another name")
    slug = device.lower()
    target = Path(args.dir) if args.dir else Path(f"ie-backend-{slug.replace('_', '-')}")
    if target.exists() and any(target.iterdir()):
        raise InputError(f"backend new: {target} exists and is not empty")
    values = {
        "device": device,
        "slug": slug,
        "cls": "".join(part.title() for part in slug.split("_")),
        "package": f"ie-backend-{slug.replace('_', '-')}",
        "module": f"ie_backend_{slug}",
        "api_version": API_VERSION,
    }
    written = []
    for template in sorted(TEMPLATES.rglob("*.tmpl")):
        relative = str(template.relative_to(TEMPLATES))[: -len(".tmpl")]
        relative = relative.replace("MODULE", values["module"]).replace("SLUG", slug)
        out = target / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(string.Template(template.read_text()).substitute(values))
        written.append(relative)
    print(f"wrote the package {values['package']} (device {device}) to {target}:")
    for relative in written:
        print(f"  {relative}")
    print(f"install it with: pip install -e {target}; test it with: pytest {target / 'tests'}")
    return 0


# --------------------------------------------------------------------------- the parser


def add_model(parser, optional=False):
    if optional:
        parser.add_argument("model", nargs="?", metavar="MODEL.xml",
                            help="the IR .xml (default: the configuration file's 'model:')")
    else:
        parser.add_argument("model", metavar="MODEL.xml", help="the IR .xml")
    parser.add_argument("-w", "--weights", help="the IR .bin (default: the .xml's name with .bin)")


def add_device(parser):
    parser.add_argument("-d", "--device", help="device string, e.g. CPU, MYRIAD.1, HETERO:FPGA,CPU "
                        "(default: the configuration file's choice, else CPU if installed, else REFERENCE)")
    parser.add_argument("--config", metavar="FILE.yaml",
                        help=f"YAML configuration choosing the device and its settings (default: ${config.ENV_VAR})")


def build_parser():
    parser = ArgumentParser(
        prog="ie",
        description="ie-core: run OpenVINO IR models on the installed devices.",
        epilog="Run 'ie COMMAND --help' for a command's options. Without a command, 'ie' runs 'ie infer'.",
    )
    parser.add_argument("--version", action="version", version=f"ie-core {__version__} (Backend API {API_VERSION})")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what ie-core does (to stderr)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)

    devices = sub.add_parser("devices", help="list installed devices, their packages, config keys and load failures",
                             description="List every installed device: package and version, Backend API "
                             "version, emulator or native, configuration keys with defaults; and every plugin "
                             "that failed to load, with the reason.")
    devices.add_argument("--json", action="store_true", help="print JSON")
    devices.set_defaults(func=cmd_devices)
    run = sub.add_parser("run", help="run a Python script with openvino.inference_engine mapped to ie_core")
    run.add_argument("script", help="the script (.py)")
    run.add_argument("args", nargs=argparse.REMAINDER, help="the script's arguments")
    run.set_defaults(func=cmd_run)

    info = sub.add_parser("info", help="describe a model: inputs, outputs, ops, parameters, MACs, device support",
                          description="Describe an IR: version, inputs and outputs, op histogram, parameter "
                          "count, multiply-accumulates per inference, and for each installed device whether "
                          "it runs every layer natively.")
    add_model(info)
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=cmd_info)

    infer = sub.add_parser("infer", help="run a model (default: the bundled digits CNN on its test images)",
                           description="Run a model on .npy inputs and print its outputs and latency; "
                           "without a model, classify the bundled digits test set.")
    infer.add_argument("-m", "--model", help="IR .xml (default: the configuration file's, else the bundled digits CNN)")
    infer.add_argument("-w", "--weights", help="IR .bin (default: the .xml's name with .bin)")
    infer.add_argument("-i", "--input", action="append", metavar="NAME=FILE.npy",
                       help="an input, repeatable (FILE.npy alone for a single-input network)")
    add_device(infer)
    infer.add_argument("-n", "--iterations", type=positive_int, default=20,
                       help="timed repetitions for the latency figure (default 20)")
    infer.add_argument("-o", "--output-dir", help="save each output as NAME.npy here")
    infer.add_argument("--perf-counts", action="store_true", help="print per-layer times")
    infer.add_argument("--json", action="store_true", help="print JSON")
    infer.set_defaults(func=cmd_infer)

    bench = sub.add_parser("benchmark", help="measure latency and throughput (as OpenVINO's benchmark_app)",
                           description="Measure latency (median, avg, min, max, p90) and throughput on random "
                           "inputs, with per-layer times; write a JSON/CSV report and a PNG of the layer times.")
    add_model(bench, optional=True)
    add_device(bench)
    bench.add_argument("-b", "--batch", type=positive_int, help="batch size (default: the model's)")
    bench.add_argument("-nireq", "--nireq", type=positive_int,
                       help="inference requests (default: 1 for sync, 2 for async, or the configuration file's)")
    bench.add_argument("-nstreams", "--nstreams", type=positive_int, help="device throughput streams")
    limit = bench.add_mutually_exclusive_group()
    limit.add_argument("-t", "--time", type=positive_float, default=5.0, help="seconds to run (default 5)")
    limit.add_argument("-niter", "--niter", type=positive_int, help="iterations to run (instead of -t)")
    bench.add_argument("--api", choices=("sync", "async"), default="async", help="inference API (default async)")
    bench.add_argument("-pc", "--perf-counts", action="store_true", help="report per-layer times")
    bench.add_argument("--report", metavar="FILE.json|FILE.csv", help="write the report (implies -pc)")
    bench.add_argument("--plot", metavar="FILE.png",
                       help="plot per-layer times (implies -pc; needs pip install 'ie-core[plot]')")
    bench.add_argument("--json", action="store_true", help="print the report as JSON")
    bench.set_defaults(func=cmd_benchmark)

    compare = sub.add_parser("compare", help="run the same inputs on several devices and compare their outputs",
                             description="Run the same inputs on each device; print per-output error "
                             "statistics against the first device (max abs, relative L2, top-1 agreement) "
                             "and accuracy per device when labels are given.")
    add_model(compare)
    compare.add_argument("-d", "--device", action="append", required=True,
                         help="a device, repeatable; the first is the reference")
    compare.add_argument("--inputs", metavar="DIR|GLOB",
                         help=".npy files (one per sample) or .npz (one array per input); default: random inputs")
    compare.add_argument("-n", "--samples", type=positive_int, default=8,
                         help="random samples without --inputs (default 8)")
    compare.add_argument("--labels", metavar="FILE",
                         help="class labels, in the inputs' sorted order: a text file (one per line) or .npy")
    compare.add_argument("--json", action="store_true", help="print JSON")
    compare.set_defaults(func=cmd_compare)

    batch = sub.add_parser("batch", help="run a model over a directory of .npy files, one output file per input",
                           description="Run a model over .npy files (or .npz, one array per input), writing "
                           "one output file per input: NAME.npy for a single-output network, else NAME.npz.")
    add_model(batch, optional=True)
    batch.add_argument("--inputs", metavar="DIR|GLOB", required=True, help="the input files")
    batch.add_argument("--output", metavar="DIR", required=True, help="where to write the outputs")
    add_device(batch)
    batch.add_argument("--batch-size", type=positive_int, help="samples per inference (default: the model's batch)")
    batch.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                       help="run on Ray Data: a local Ray without ADDRESS, else the cluster at ADDRESS "
                       "(needs pip install 'ie-core[ray]')")
    batch.add_argument("--actors", type=positive_int, default=2,
                       help="with --ray: actors, each with its own loaded network (default 2)")
    batch.set_defaults(func=cmd_batch)

    backend = sub.add_parser("backend", help="tools for writing a backend",
                             description="Tools for writing a backend of your own (see docs/backends.md).")
    backend_sub = backend.add_subparsers(dest="backend_command", metavar="COMMAND", required=True,
                                         parser_class=ArgumentParser)
    new = backend_sub.add_parser("new", help="write a new backend package from the template",
                                 description="Write a new, installable backend package for device NAME: "
                                 "reference kernels under the new name, its entry point, README and "
                                 "a conformance test that passes as generated.")
    new.add_argument("name", metavar="NAME", help="the device name, e.g. NPU")
    new.add_argument("--dir", help="where to write it (default: ./ie-backend-NAME)")
    new.set_defaults(func=cmd_backend_new)
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version", "-v", "--verbose"):
        argv = ["infer"] + argv
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(argv + ["infer"])
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    try:
        return args.func(args)
    except BrokenPipeError:
        # the reader of stdout went away (``ie devices | head``): stop quietly, as the Python docs advise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (IEError, OSError) as exc:
        print(f"ie {args.command}: error: {exc}", file=sys.stderr)
        return 1
