#!/usr/bin/env python
"""A small benchmark: ie-core's version of the Inference Engine's benchmark_app.py (2019 R2 flags).

Runs the model for -niter iterations or -t seconds, synchronously on one request or asynchronously
on -nireq requests kept busy, and reports the count, the duration, the median latency and the
throughput. Inputs are the -i images (resized) or, without -i, random data."""

import logging as log
import os
import statistics
import sys
import time
from argparse import SUPPRESS, ArgumentParser
from collections import deque

import numpy as np
from ie_core import IECore, StatusCode

from sample_utils import read_image


def build_argparser():
    parser = ArgumentParser(add_help=False)
    args = parser.add_argument_group("Options")
    args.add_argument("-h", "--help", action="help", default=SUPPRESS, help="Show this help message and exit.")
    args.add_argument("-i", "--path_to_input", default=None,
                      help="Optional. Path to an image file or a folder of images (random data without it).")
    args.add_argument("-m", "--path_to_model", required=True, help="Required. Path to an .xml file with a trained model.")
    args.add_argument("-d", "--target_device", default="CPU",
                      help="Optional. The device to infer on: CPU, REFERENCE, HETERO:... (CPU by default).")
    args.add_argument("-l", "--path_to_extension", default=None,
                      help="Optional. Path to a custom-op library for the CPU (IECore.add_extension).")
    args.add_argument("-api", "--api_type", default="async", choices=["sync", "async"],
                      help="Optional. Use the sync or async API (async by default).")
    args.add_argument("-niter", "--number_iterations", type=int, default=None,
                      help="Optional. Number of iterations (default: run for -t seconds).")
    args.add_argument("-nireq", "--number_infer_requests", type=int, default=2,
                      help="Optional. Number of infer requests for the async API (2 by default).")
    args.add_argument("-b", "--batch_size", type=int, default=None,
                      help="Optional. Batch size (default: the model's).")
    args.add_argument("-t", "--time", type=int, default=None,
                      help="Optional. Seconds to run for (10 by default, when -niter is not given either).")
    args.add_argument("-nstreams", "--number_streams", default=None,
                      help="Optional. CPU_THROUGHPUT_STREAMS: inferences the CPU runs at once.")
    args.add_argument("-nthreads", "--number_threads", type=int, default=None,
                      help="Optional. CPU_THREADS_NUM: threads per inference on the CPU.")
    args.add_argument("-pin", "--infer_threads_pinning", default=None, choices=["YES", "NO"],
                      help="Optional. CPU_BIND_THREAD: pin the CPU's threads (the device's default otherwise).")
    args.add_argument("-pc", "--perf_counts", action="store_true", help="Optional. Report performance counters.")
    return parser


def device_config(ie, device, args):
    """The configuration keys the options ask for that ``device`` accepts (a warning for the others)."""
    wanted = {
        "CPU_THROUGHPUT_STREAMS": args.number_streams,
        "CPU_THREADS_NUM": None if args.number_threads is None else str(args.number_threads),
        "CPU_BIND_THREAD": args.infer_threads_pinning,
        "PERF_COUNT": "YES" if args.perf_counts else None,
    }
    supported = ie.get_metric(device, "SUPPORTED_CONFIG_KEYS")
    config = {}
    for key, value in wanted.items():
        if value is None:
            continue
        if key in supported:
            config[key] = value
        else:
            log.warning("{} does not accept {}; ignored".format(device, key))
    return config


def input_data(info, path):
    """Input data of ``info``'s shape: the images at ``path`` if it is an image input, else random values."""
    shape = info.input_data.shape
    if path and len(shape) == 4:
        files = sorted(os.path.join(path, f) for f in os.listdir(path)) if os.path.isdir(path) else [path]
        n, c, h, w = shape
        return np.stack([read_image(files[i % len(files)], w, h, c) for i in range(n)]).astype(np.float32)
    return np.random.default_rng(0).uniform(0, 1, shape).astype(np.float32)


def main():
    log.basicConfig(format="[ %(levelname)s ] %(message)s", level=log.INFO, stream=sys.stdout)
    args = build_argparser().parse_args()
    if args.number_iterations is not None and args.number_iterations <= 0:
        log.error("Number of iterations should be positive (invalid -niter option value)")
        return 1
    duration = args.time if args.time is not None else (None if args.number_iterations else 10)

    ie = IECore()
    if args.path_to_extension:
        ie.add_extension(args.path_to_extension, "CPU")
    net = ie.read_network(args.path_to_model)
    if args.batch_size:
        net.batch_size = args.batch_size
    log.info("Network {}: batch size {}".format(net.name, net.batch_size))
    config = device_config(ie, args.target_device, args)
    nireq = args.number_infer_requests if args.api_type == "async" else 1
    exec_net = ie.load_network(net, args.target_device, config=config, num_requests=nireq)
    inputs = {name: input_data(info, args.path_to_input) for name, info in net.input_info.items()}
    for request in exec_net.requests:
        request.infer(inputs)  # warm-up: the first inference of a request prepares it

    latencies = []
    start = time.perf_counter()

    def may_start(count):
        if args.number_iterations is not None and count >= args.number_iterations:
            return False
        return duration is None or time.perf_counter() - start < duration

    if args.api_type == "sync":
        request = exec_net.requests[0]
        while may_start(len(latencies)):
            request.infer()
            latencies.append(request.latency)
    else:
        busy = deque()
        for request in exec_net.requests:
            if may_start(len(busy)):
                request.async_infer()
                busy.append(request)
        started = len(busy)
        while busy:
            request = busy.popleft()
            if request.wait(-1) != StatusCode.OK:
                log.error("Inference failed: {}".format(request.error))
                return 1
            latencies.append(request.latency)
            if may_start(started):
                request.async_infer()
                busy.append(request)
                started += 1
    total = time.perf_counter() - start

    if args.perf_counts:
        for layer, stats in exec_net.requests[0].get_perf_counts().items():
            print("{:<70} {:<15} {:<15} {:<15} {:<10}".format(
                layer, stats["layer_type"], stats["exec_type"], stats["status"], stats["real_time"]))
    print("Count:      {} iterations".format(len(latencies)))
    print("Duration:   {:.2f} ms".format(total * 1000))
    print("Latency:    {:.4f} ms".format(statistics.median(latencies)))
    print("Throughput: {:.3f} FPS".format(len(latencies) * net.batch_size / total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
