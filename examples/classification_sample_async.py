#!/usr/bin/env python
"""Image classification, asynchronous: ie-core's version of the Inference Engine's classification_sample_async.py
(IECore as 2019 R2 – 2020 used it; the completion callback restarts the request until -ni inferences ran)."""

import logging as log
import sys
import threading
from argparse import SUPPRESS, ArgumentParser

import numpy as np
from ie_core import IECore, StatusCode

from sample_utils import print_top, read_image, read_labels


def build_argparser():
    parser = ArgumentParser(add_help=False)
    args = parser.add_argument_group("Options")
    args.add_argument("-h", "--help", action="help", default=SUPPRESS, help="Show this help message and exit.")
    args.add_argument("-m", "--model", help="Required. Path to an .xml file with a trained model.", required=True)
    args.add_argument("-i", "--input", help="Required. Paths to image files (one per batch item).", required=True,
                      nargs="+")
    args.add_argument("-l", "--cpu_extension", default=None,
                      help="Optional. Path to a custom-op library for the CPU (IECore.add_extension).")
    args.add_argument("-d", "--device", default="CPU",
                      help="Optional. The device to infer on: CPU, REFERENCE, HETERO:... (CPU by default).")
    args.add_argument("--labels", default=None, help="Optional. Path to a labels mapping file.")
    args.add_argument("-nt", "--number_top", default=10, type=int, help="Optional. Number of top results.")
    args.add_argument("-ni", "--number_iter", default=10, type=int, help="Optional. Number of inference iterations.")
    args.add_argument("-pc", "--perf_counts", action="store_true", help="Optional. Report performance counters.")
    return parser


class InferReqWrap:
    """Runs one request ``iterations`` times, each completion callback starting the next inference."""

    def __init__(self, request, iterations):
        self.request = request
        self.iterations = iterations
        self.count = 0
        self.status = StatusCode.OK
        self.finished = threading.Event()
        request.set_completion_callback(self.callback)

    def callback(self, status, _data=None):
        self.count += 1
        log.info("Completed {} async request execution(s)".format(self.count))
        if status != StatusCode.OK or self.count == self.iterations:
            self.status = status
            self.finished.set()
        else:
            self.request.async_infer()

    def run(self, inputs):
        self.request.async_infer(inputs)
        self.finished.wait()
        self.request.wait()
        return self.status


def main():
    log.basicConfig(format="[ %(levelname)s ] %(message)s", level=log.INFO, stream=sys.stdout)
    args = build_argparser().parse_args()

    log.info("Creating Inference Engine")
    ie = IECore()
    if args.cpu_extension and "CPU" in args.device:
        ie.add_extension(args.cpu_extension, "CPU")
    log.info("Loading network: {}".format(args.model))
    net = ie.read_network(model=args.model)
    assert len(net.input_info) == 1, "Sample supports only single input topologies"
    assert len(net.outputs) == 1, "Sample supports only single output topologies"

    log.info("Preparing input blobs")
    input_blob = next(iter(net.input_info))
    out_blob = next(iter(net.outputs))
    net.batch_size = len(args.input)
    net.input_info[input_blob].precision = "U8"
    n, c, h, w = net.input_info[input_blob].input_data.shape
    images = np.stack([read_image(path, w, h, c) for path in args.input])
    log.info("Batch size is {}".format(n))

    log.info("Loading model to the device")
    config = {"PERF_COUNT": "YES"} if args.perf_counts else None
    exec_net = ie.load_network(network=net, device_name=args.device, config=config)

    log.info("Starting inference in asynchronous mode ({} iterations)".format(args.number_iter))
    request = exec_net.requests[0]
    status = InferReqWrap(request, args.number_iter).run({input_blob: images})
    if status != StatusCode.OK:
        log.error("Inference failed with status {}: {}".format(status, request.error))
        return 1
    if args.perf_counts:
        for layer, stats in request.get_perf_counts().items():
            print("{:<70} {:<15} {:<15} {:<15} {:<10}".format(
                layer, stats["layer_type"], stats["exec_type"], stats["status"], stats["real_time"]))

    log.info("Processing output blob")
    labels_map = read_labels(args.labels)
    print_top(request.output_blobs[out_blob].buffer, args.input, args.number_top, labels_map)
    return 0


if __name__ == "__main__":
    sys.exit(main())
