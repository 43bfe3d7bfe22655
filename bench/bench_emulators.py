#!/usr/bin/env python
"""Latency of the emulated devices against the CPU device (f32) on the same models.

For each model, batch-1 synchronous inference on CPU and on each emulated device,
interleaved in blocks of runs so that both see the same machine load; prints the
median and minimum latency of each and the ratios device / CPU (the project's target:
MYRIAD on resnet50 within 3x of CPU). ``--profile`` adds each device's time per layer
type (PERF_COUNT=YES, from the fastest run). ``--threads N`` runs every device on N threads
(CPU_THREADS_NUM for the CPU device, OPENBLAS_NUM_THREADS for numpy's BLAS, which the
emulators' matrix products use): on a machine shared with other work, one thread each
compares the devices' arithmetic rather than how their thread pools cope with the load.

    python bench/bench_emulators.py [--models resnet50,mobilenet_v2,bert_encoder,digits]
                                    [--device MYRIAD --device HETERO:FPGA,CPU] [--runs 20]
                                    [--threads N] [--profile]

Needs ie-core with the CPU device and the emulators installed, and the test models
(tests/models.py builds and caches them; that needs the test dependencies). Devices
that cannot load a model (FPGA alone runs only its layer set) are reported as such.
"""

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # ie_core from this checkout unless it is installed

DIGITS = REPO / "ie_core" / "data" / "digits_cnn.xml"


def _test_models():
    spec = importlib.util.spec_from_file_location("_ie_core_bench_models", REPO / "tests" / "models.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def model_and_inputs(name, models):
    """(xml path, inputs) of a test model, or of the bundled digits CNN."""
    import numpy as np
    from ie_core import IENetwork

    if name == "digits":
        image = np.load(DIGITS.with_name("digits_test.npz"))["images"][:1, None].astype(np.float32)
        net = IENetwork(str(DIGITS), str(DIGITS.with_suffix(".bin")))
        return str(DIGITS), {next(iter(net.inputs)): image}
    directory = models.model_dir(lambda: tempfile.mkdtemp(prefix="ie-bench-models-"))
    return models.build(name, directory)["fp32"], models.make_inputs(name)


def load(device, xml, profile, threads):
    from ie_core import IENetwork, IEPlugin

    config = {"PERF_COUNT": "YES"} if profile else {}
    if threads and device == "CPU":
        config["CPU_THREADS_NUM"] = str(threads)
    return IEPlugin(device).load(IENetwork(xml, xml[:-4] + ".bin"), config=config)


def timed(exec_net, inputs):
    start = time.perf_counter()
    exec_net.infer(inputs)
    return (time.perf_counter() - start) * 1000.0


def layer_profile(exec_net, inputs):
    """Milliseconds per layer type of one inference, largest first."""
    exec_net.infer(inputs)
    by_type = {}
    for pc in exec_net.requests[0].get_perf_counts().values():
        by_type[pc["layer_type"]] = by_type.get(pc["layer_type"], 0) + pc["real_time"] / 1000.0
    return sorted(by_type.items(), key=lambda kv: -kv[1])


def bench_model(name, devices, runs, block, profile, threads, models):
    from ie_core.errors import IEError

    xml, inputs = model_and_inputs(name, models)
    loaded = {}
    for device in ["CPU"] + devices:
        try:
            loaded[device] = load(device, xml, profile, threads)
        except IEError as exc:
            print(f"  {device:18} cannot load {name}: {str(exc).splitlines()[0][:120]}")
            continue
        timed(loaded[device], inputs)
    times = {device: [] for device in loaded}
    for _ in range(0, runs, block):
        for device, exec_net in loaded.items():
            times[device] += [timed(exec_net, inputs) for _ in range(block)]
    cpu = statistics.median(times["CPU"])
    cpu_min = min(times["CPU"])
    for device, ts in times.items():
        med, low = statistics.median(ts), min(ts)
        ratio = "" if device == "CPU" else f"  x{med / cpu:5.2f} of CPU (min x{low / cpu_min:5.2f})"
        print(f"  {device:18} median {med:9.2f} ms  min {low:9.2f} ms{ratio}")
        if profile and device != "CPU":
            top = ", ".join(f"{t} {ms:.1f}" for t, ms in layer_profile(loaded[device], inputs)[:8])
            print(f"  {'':18} ms per layer type: {top}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet50,mobilenet_v2,bert_encoder,digits")
    parser.add_argument("--device", action="append", dest="devices",
                        help="a device to compare with CPU, repeatable (default: MYRIAD and HETERO:FPGA,CPU)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per device and model")
    parser.add_argument("--block", type=int, default=2, help="runs per device before switching to the next")
    parser.add_argument("--profile", action="store_true", help="print the time per layer type")
    parser.add_argument("--threads", type=int, default=0, help="threads per device (default: all cores)")
    args = parser.parse_args(argv)
    if args.threads:  # before numpy (imported with ie_core below) starts its BLAS threads
        os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(args.threads)
    devices = args.devices or ["MYRIAD", "HETERO:FPGA,CPU"]
    models = _test_models()
    print(f"threads per device: {args.threads or 'all cores'}")
    for name in args.models.split(","):
        print(f"{name}:")
        bench_model(name, devices, args.runs, args.block, args.profile, args.threads, models)
    return 0


if __name__ == "__main__":
    sys.exit(main())
