#!/usr/bin/env python
"""Image classification, synchronous: ie-core's version of the Inference Engine's classification_sample.py
(2018 R4 – 2019 R1 flags, IEPlugin and IENetwork as that sample used them)."""

import logging as log
import os
import sys
import time
from argparse import SUPPRESS, ArgumentParser

import numpy as np
from ie_core import IENetwork, IEPlugin

from sample_utils import print_top, read_image, read_labels


def build_argparser():
    parser = ArgumentParser(add_help=False)
    args = parser.add_argument_group("Options")
    args.add_argument("-h", "--help", action="help", default=SUPPRESS, help="Show this help message and exit.")
    args.add_argument("-m", "--model", help="Required. Path to an .xml file with a trained model.", required=True)
    args.add_argument("-i", "--input", help="Required. Paths to image files (one per batch item).", required=True,
                      nargs="+")
    args.add_argument("-l", "--cpu_extension", default=None,
                      help="Optional. Path to a custom-op library for the CPU (IEPlugin.add_cpu_extension).")
    args.add_argument("-pp", "--plugin_dir", default=None, help="Optional. Path to a folder of device plugins.")
    args.add_argument("-d", "--device", default="CPU",
                      help="Optional. The device to infer on: CPU, REFERENCE, HETERO:... (CPU by default).")
    args.add_argument("--labels", default=None, help="Optional. Path to a labels mapping file.")
    args.add_argument("-nt", "--number_top", default=10, type=int, help="Optional. Number of top results.")
    args.add_argument("-ni", "--number_iter", default=1, type=int, help="Optional. Number of inference iterations.")
    args.add_argument("-pc", "--perf_counts", action="store_true", help="Optional. Report performance counters.")
    return parser


def main():
    log.basicConfig(format="[ %(levelname)s ] %(message)s", level=log.INFO, stream=sys.stdout)
    args = build_argparser().parse_args()
    model_xml = args.model
    model_bin = os.path.splitext(model_xml)[0] + ".bin"

    log.info("Initializing plugin for {} device...".format(args.device))
    plugin = IEPlugin(device=args.device, plugin_dirs=args.plugin_dir)
    if args.cpu_extension and "CPU" in args.device:
        plugin.add_cpu_extension(args.cpu_extension)
    log.info("Reading IR...")
    net = IENetwork(model=model_xml, weights=model_bin)

    if plugin.device == "CPU":
        supported_layers = plugin.get_supported_layers(net)
        not_supported_layers = [name for name in net.layers if name not in supported_layers]
        if not_supported_layers:
            log.error("Following layers are not supported by the plugin for specified device {}:\n {}".format(
                plugin.device, ", ".join(not_supported_layers)))
            return 1
    assert len(net.inputs) == 1, "Sample supports only single input topologies"
    assert len(net.outputs) == 1, "Sample supports only single output topologies"

    log.info("Preparing input blobs")
    input_blob = next(iter(net.inputs))
    out_blob = next(iter(net.outputs))
    net.batch_size = len(args.input)
    n, c, h, w = net.inputs[input_blob].shape
    images = np.stack([read_image(path, w, h, c) for path in args.input])
    log.info("Batch size is {}".format(n))

    log.info("Loading IR to the plugin...")
    exec_net = plugin.load(network=net, config={"PERF_COUNT": "YES"} if args.perf_counts else None)
    del net

    log.info("Starting inference ({} iterations)".format(args.number_iter))
    infer_time = []
    for _ in range(args.number_iter):
        t0 = time.perf_counter()
        res = exec_net.infer(inputs={input_blob: images})
        infer_time.append((time.perf_counter() - t0) * 1000)
    log.info("Average running time of one iteration: {:.3f} ms".format(np.average(infer_time)))
    if args.perf_counts:
        perf_counts = exec_net.requests[0].get_perf_counts()
        log.info("Performance counters:")
        print("{:<70} {:<15} {:<15} {:<15} {:<10}".format("name", "layer_type", "exec_type", "status", "real_time, us"))
        for layer, stats in perf_counts.items():
            print("{:<70} {:<15} {:<15} {:<15} {:<10}".format(
                layer, stats["layer_type"], stats["exec_type"], stats["status"], stats["real_time"]))

    log.info("Processing output blob")
    labels_map = read_labels(args.labels)
    print_top(res[out_blob], args.input, args.number_top, labels_map)
    return 0


if __name__ == "__main__":
    sys.exit(main())
