#!/usr/bin/env python
"""A classification script written against the Inference Engine Python API of 2018 R3 only
(the preview API: IENetwork.from_ir, IEPlugin, inputs as dims lists, outputs as a list of names).

It reads the input batch from a .npy file and saves the network's output to another.
"""
from __future__ import print_function

import os
import sys
from argparse import ArgumentParser

import numpy as np
from inference_engine import IENetwork, IEPlugin


def build_argparser():
    parser = ArgumentParser()
    parser.add_argument("-m", "--model", help="Path to an .xml file with a trained model.", required=True, type=str)
    parser.add_argument("-i", "--input", help="Path to a .npy file with the input batch", required=True, type=str)
    parser.add_argument("-o", "--output", help="Path of the .npy file to save the output to", required=True, type=str)
    parser.add_argument("-pp", "--plugin_dir", help="Path to a plugin folder", type=str, default=None)
    parser.add_argument("-d", "--device", help="Target device", default="CPU", type=str)
    parser.add_argument("-nt", "--number_top", help="Number of top results", default=3, type=int)
    return parser


def main():
    args = build_argparser().parse_args()
    model_xml = args.model
    model_bin = os.path.splitext(model_xml)[0] + ".bin"

    plugin = IEPlugin(device=args.device, plugin_dirs=args.plugin_dir)
    net = IENetwork.from_ir(model=model_xml, weights=model_bin)

    supported_layers = plugin.get_supported_layers(net)
    not_supported_layers = [l for l in net.layers.keys() if l not in supported_layers]
    if len(not_supported_layers) != 0:
        print("Following layers are not supported by the plugin for specified device {}:\n {}".format(
            plugin.device, ", ".join(not_supported_layers)))
        sys.exit(1)

    assert len(net.inputs.keys()) == 1, "Sample supports only single input topologies"
    assert len(net.outputs) == 1, "Sample supports only single output topologies"
    input_blob = next(iter(net.inputs))
    out_blob = next(iter(net.outputs))
    print("Network {}: inputs {}, outputs {}".format(net.name, net.inputs, net.outputs))

    images = np.load(args.input)
    net.batch_size = images.shape[0]
    n, c, h, w = net.inputs[input_blob]
    assert (n, c, h, w) == images.shape, (net.inputs[input_blob], images.shape)

    layers = net.layers
    weighted = [name for name, layer in layers.items() if layer.weights]
    print("{} layers, {} with weights; first: {} ({}, {}) params {}".format(
        len(layers), len(weighted), weighted[0], layers[weighted[0]].type, layers[weighted[0]].precision,
        sorted(layers[weighted[0]].params)))
    for layer in layers.values():
        layer.affinity = args.device
        layer.params = dict(layer.params)

    plugin.set_config({"PERF_COUNT": "YES"})
    exec_net = plugin.load(network=net, num_requests=2)
    del net

    res = exec_net.infer(inputs={input_blob: images})

    exec_net.requests[1].inputs[input_blob][:] = images
    handle = exec_net.start_async(request_id=1)
    status = handle.wait()
    if status != 0:
        print("Asynchronous inference failed with status {}".format(status))
        sys.exit(1)
    assert np.array_equal(handle.outputs[out_blob], res[out_blob]), "sync and async results differ"

    perf_counts = exec_net.requests[0].get_perf_counts()
    executed = [layer for layer, stats in perf_counts.items() if stats["status"] == "EXECUTED"]
    print("{} layers executed; e.g. {}: {} {} {} us".format(
        len(executed), executed[0], perf_counts[executed[0]]["layer_type"], perf_counts[executed[0]]["exec_type"],
        perf_counts[executed[0]]["real_time"]))

    output = res[out_blob]
    for i, probs in enumerate(output):
        probs = np.squeeze(probs)
        top_ind = np.argsort(probs)[-args.number_top:][::-1]
        print("Image {}: {}".format(i, ", ".join("{} {:.5f}".format(j, probs[j]) for j in top_ind)))
    np.save(args.output, output)


if __name__ == "__main__":
    sys.exit(main() or 0)
