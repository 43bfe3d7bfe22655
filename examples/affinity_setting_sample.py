#!/usr/bin/env python
"""HETERO affinities: ie-core's version of the Inference Engine's affinity_setting_sample.py.

The plugin gives every layer its default device (set_initial_affinity), the sample moves every
Convolution to the last device of the -d list, and the HETERO device writes hetero_affinity.dot and
hetero_subgraphs.dot into the current directory."""

import logging as log
import os
import sys
from argparse import SUPPRESS, ArgumentParser

import numpy as np
from ie_core import IENetwork, IEPlugin

from sample_utils import read_image


def build_argparser():
    parser = ArgumentParser(add_help=False)
    args = parser.add_argument_group("Options")
    args.add_argument("-h", "--help", action="help", default=SUPPRESS, help="Show this help message and exit.")
    args.add_argument("-m", "--model", help="Required. Path to an .xml file with a trained model.", required=True)
    args.add_argument("-i", "--input", help="Required. Path to an image file.", required=True)
    args.add_argument("-l", "--cpu_extension", default=None,
                      help="Optional. Path to a custom-op library for the CPU (IEPlugin.add_cpu_extension).")
    args.add_argument("-pp", "--plugin_dir", default=None, help="Optional. Path to a folder of device plugins.")
    args.add_argument("-d", "--device", default="HETERO:CPU,REFERENCE",
                      help="Optional. The HETERO devices, e.g. HETERO:CPU,REFERENCE (the default).")
    args.add_argument("-nt", "--number_top", default=10, type=int, help="Optional. Number of top results.")
    return parser


def main():
    log.basicConfig(format="[ %(levelname)s ] %(message)s", level=log.INFO, stream=sys.stdout)
    args = build_argparser().parse_args()
    assert args.device.split(":")[0] == "HETERO", \
        "This sample supports only the HETERO device. Please specify it, e.g. HETERO:CPU,REFERENCE"
    devices = args.device.split(":")[1].split(",")
    model_xml = args.model
    model_bin = os.path.splitext(model_xml)[0] + ".bin"

    plugin = IEPlugin(device=args.device, plugin_dirs=args.plugin_dir)
    if args.cpu_extension and "CPU" in args.device:
        plugin.add_cpu_extension(args.cpu_extension)
    net = IENetwork(model=model_xml, weights=model_bin)
    if not any(layer.type == "Convolution" for layer in net.layers.values()):
        log.warning("Specified IR doesn't contain any Convolution operations for which affinity going to be set.")

    plugin.set_config({"TARGET_FALLBACK": ",".join(devices)})
    plugin.set_config({"HETERO_DUMP_GRAPH_DOT": "YES"})
    plugin.set_initial_affinity(net)
    for layer in net.layers.values():
        if layer.type == "Convolution":
            layer.affinity = devices[-1]
    placed = {}
    for layer in net.layers.values():
        placed[layer.affinity] = placed.get(layer.affinity, 0) + 1
    log.info("Layers per device: {}".format(", ".join("{} {}".format(d, k) for d, k in sorted(placed.items()))))

    assert len(net.inputs) == 1, "Sample supports only single input topologies"
    assert len(net.outputs) == 1, "Sample supports only single output topologies"
    input_blob = next(iter(net.inputs))
    out_blob = next(iter(net.outputs))
    n, c, h, w = net.inputs[input_blob].shape
    image = read_image(args.input, w, h, c).reshape((n, c, h, w))
    exec_net = plugin.load(network=net)
    del net
    res = exec_net.infer(inputs={input_blob: image})
    probs = res[out_blob].reshape(n, -1)
    for i in np.argsort(probs, axis=1)[0, -args.number_top:][::-1]:
        log.info("{:f} #{:d}".format(probs[0, i], i))
    cwd = os.getcwd()
    log.info("Graphs representing default and resulting affinities dumped to {} and {} files respectively".format(
        os.path.join(cwd, "hetero_affinity.dot"), os.path.join(cwd, "hetero_subgraphs.dot")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
