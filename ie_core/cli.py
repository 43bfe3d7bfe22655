"""The ``ie`` command: run a model (the bundled digits CNN by default) and list devices."""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from . import IENetwork, IEPlugin, __version__
from .compat import run_script
from .errors import IEError
from .plugins import default_registry

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_MODEL = DATA / "digits_cnn.xml"
DEFAULT_TEST_SET = DATA / "digits_test.npz"


def default_device():
    return "CPU" if "CPU" in default_registry().backends() else "REFERENCE"


def cmd_infer(args):
    net = IENetwork(model=args.model, weights=args.weights)
    device = args.device or default_device()
    plugin = IEPlugin(device)
    config = {"PERF_COUNT": "YES"} if args.perf_counts else None
    if args.model == str(DEFAULT_MODEL) and not args.input:
        return run_default_model(net, plugin, config, args.iterations)
    inputs = load_inputs(args.input, net)
    exec_net = plugin.load(net, config=config)
    result, times = timed_infer(exec_net, inputs, args.iterations)
    print(f"device: {device} ({plugin.version})")
    print(f"model: {args.model} ({net.name})")
    for name, value in result.items():
        print(f"output {name}: shape {list(value.shape)} {value.dtype}, {summarize(value)}")
        if args.output_dir:
            out = Path(args.output_dir) / (name.replace("/", "_") + ".npy")
            out.parent.mkdir(parents=True, exist_ok=True)
            np.save(out, value)
            print(f"  saved to {out}")
    print_latency(times)
    if args.perf_counts:
        print_perf_counts(exec_net.requests[0].get_perf_counts())
    return 0


def run_default_model(net, plugin, config, iterations):
    """Classify the bundled held-out digits; print device, accuracy and latency."""
    data = np.load(DEFAULT_TEST_SET)
    images, labels = data["images"].astype(np.float32)[:, None], data["labels"]
    input_name, output_name = next(iter(net.inputs)), net.outputs[0]
    exec_net = plugin.load(net, config=config)
    correct, times = 0, []
    for image, label in zip(images, labels):
        t0 = time.perf_counter()
        prob = exec_net.infer({input_name: image[None]})[output_name]
        times.append(time.perf_counter() - t0)
        correct += int(np.argmax(prob) == label)
    _, more = timed_infer(exec_net, {input_name: images[:1]}, iterations)
    print(f"device: {plugin.device} ({plugin.version})")
    print(f"model: {DEFAULT_MODEL.name} (CNN on scikit-learn digits, input {list(net.inputs[input_name])})")
    print(f"accuracy: {correct / len(labels):.4f} ({correct}/{len(labels)} held-out test images)")
    print_latency(times + more)
    if config:
        print_perf_counts(exec_net.requests[0].get_perf_counts())
    return 0


def load_inputs(specs, net):
    """``name=file.npy`` pairs (or one bare path for a single-input network) -> dict of arrays."""
    inputs = {}
    names = list(net.inputs)
    for spec in specs or []:
        name, sep, path = spec.partition("=")
        if not sep:
            if len(names) != 1:
                raise SystemExit(f"error: the network has inputs {names}; give --input NAME=FILE.npy")
            name, path = names[0], spec
        inputs[name] = np.load(path)
    missing = [n for n in names if n not in inputs]
    if missing:
        raise SystemExit(f"error: no --input for {missing} (network inputs: {dict(net.inputs)})")
    return inputs


def timed_infer(exec_net, inputs, iterations):
    result = exec_net.infer(inputs)
    times = []
    for _ in range(max(iterations, 0)):
        t0 = time.perf_counter()
        exec_net.infer(inputs)
        times.append(time.perf_counter() - t0)
    return result, times


def summarize(value):
    if value.size == 0:
        return "empty"
    flat = value.astype(np.float64).ravel()
    text = f"min {flat.min():.6g} max {flat.max():.6g} mean {flat.mean():.6g}"
    if value.ndim == 2 and value.shape[0] == 1:
        text += f", argmax {int(np.argmax(flat))}"
    return text


def print_latency(times):
    if times:
        ms = np.array(times) * 1000.0
        print(f"latency: median {np.median(ms):.3f} ms, p90 {np.percentile(ms, 90):.3f} ms over {len(ms)} runs")


def print_perf_counts(counts):
    print(f"{'layer':40} {'type':18} {'status':14} {'exec_type':24} {'real µs':>8}")
    for name, pc in counts.items():
        print(f"{name[:40]:40} {pc['layer_type'][:18]:18} {pc['status']:14} {pc['exec_type'][:24]:24} {pc['real_time']:>8}")


def cmd_devices(args):
    devices = default_registry().devices()
    for name, info in devices.items():
        print(f"{name:10} {info['version']:12} {info['package']:20} {info['description']}")
    return 0


def cmd_run(args):
    """``ie run SCRIPT [ARGS]``: :func:`ie_core.compat.run_script`."""
    run_script(args.script, args.args)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="ie", description="ie-core: run OpenVINO IR models.")
    parser.add_argument("--version", action="version", version=f"ie-core {__version__}")
    sub = parser.add_subparsers(dest="command")
    infer = sub.add_parser("infer", help="run a model (default: the bundled digits CNN on its test images)")
    infer.add_argument("-m", "--model", default=str(DEFAULT_MODEL), help="IR .xml (default: bundled digits CNN)")
    infer.add_argument("-w", "--weights", default=None, help="IR .bin (default: the .xml's name with .bin)")
    infer.add_argument("-i", "--input", action="append", help="NAME=FILE.npy, repeatable (FILE.npy alone for one input)")
    infer.add_argument("-d", "--device", default=None, help="device (default: CPU if installed, else REFERENCE)")
    infer.add_argument("-n", "--iterations", type=int, default=20, help="timed repetitions for the latency figure")
    infer.add_argument("-o", "--output-dir", default=None, help="save each output as NAME.npy here")
    infer.add_argument("--perf-counts", action="store_true", help="print per-layer times")
    infer.set_defaults(func=cmd_infer)
    devices = sub.add_parser("devices", help="list installed devices, their versions and packages")
    devices.set_defaults(func=cmd_devices)
    run = sub.add_parser("run", help="run a Python script with openvino.inference_engine mapped to ie_core")
    run.add_argument("script", help="the script (.py)")
    run.add_argument("args", nargs=argparse.REMAINDER, help="the script's arguments")
    run.set_defaults(func=cmd_run)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["infer"] + list(argv if argv is not None else sys.argv[1:]))
    try:
        return args.func(args)
    except IEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
