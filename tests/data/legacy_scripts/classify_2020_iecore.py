#!/usr/bin/env python
"""A classification script written against the IECore API of 2020 (read_network, input_info,
precisions, load_network, query_network, completion callbacks, output_blobs).

It reads the input images (uint8, NCHW) from a .npy file, runs them on two requests and saves
the network's outputs (one row per image) to another .npy file.
"""
from __future__ import print_function

import logging as log
import os
import sys
import tempfile
from argparse import ArgumentParser, SUPPRESS

import numpy as np
from inference_engine import IECore, StatusCode, WaitMode


def build_argparser():
    parser = ArgumentParser(add_help=False)
    args = parser.add_argument_group("Options")
    args.add_argument("-h", "--help", action="help", default=SUPPRESS, help="Show this help message and exit.")
    args.add_argument("-m", "--model", help="Required. Path to an .xml file with a trained model.", required=True)
    args.add_argument("-i", "--input", help="Required. Path to a .npy file with uint8 NCHW images.", required=True)
    args.add_argument("-o", "--output", help="Required. Path of the .npy file to save the outputs to.", required=True)
    args.add_argument("-d", "--device", help="Optional. Target device, CPU by default.", default="CPU")
    return parser


def main():
    log.basicConfig(format="[ %(levelname)s ] %(message)s", level=log.INFO, stream=sys.stdout)
    args = build_argparser().parse_args()

    ie = IECore()
    log.info("Available devices: {}".format(", ".join(ie.available_devices)))
    versions = ie.get_versions(args.device)
    for device, version in versions.items():
        log.info("{}: API {}.{}, build {}".format(device, version.major, version.minor, version.build_number))
    log.info("Device name: {}".format(ie.get_metric(args.device, "FULL_DEVICE_NAME")))

    net = ie.read_network(model=args.model, weights=os.path.splitext(args.model)[0] + ".bin")
    supported_layers = ie.query_network(net, args.device)
    not_supported_layers = [l for l in net.layers.keys() if l not in supported_layers]
    if not_supported_layers:
        log.error("Not supported layers: {}".format(", ".join(not_supported_layers)))
        return 1

    input_blob = next(iter(net.input_info))
    out_blob = next(iter(net.outputs))
    n, c, h, w = net.input_info[input_blob].input_data.shape
    net.input_info[input_blob].precision = "U8"
    net.outputs[out_blob].precision = "FP32"
    log.info("Input {} {} {}, output {} {}".format(
        input_blob, net.input_info[input_blob].input_data.shape, net.input_info[input_blob].precision,
        out_blob, net.outputs[out_blob].shape))
    last = net.layers[out_blob]
    log.info("Output layer {} reads {}; {} reads the input".format(
        last.name, last.parents, net.layers[input_blob].children))

    with tempfile.TemporaryDirectory() as tmp:
        net.serialize(os.path.join(tmp, "model.xml"), os.path.join(tmp, "model.bin"))
        saved = ie.read_network(os.path.join(tmp, "model.xml"))
        assert list(saved.input_info) == [input_blob] and list(saved.outputs) == [out_blob]

    images = np.load(args.input)
    ie.set_config({"PERF_COUNT": "YES"}, args.device)
    assert ie.get_config(args.device, "PERF_COUNT") == "YES"
    exec_net = ie.load_network(network=net, device_name=args.device, num_requests=2)

    results = [None] * len(images)
    done = []

    def callback(status, data):
        request, index = data
        assert status == StatusCode.OK
        results[index] = request.output_blobs[out_blob].buffer.copy()
        done.append(index)

    for first in range(0, len(images), 2):
        started = []
        for request_id, request in enumerate(exec_net.requests[: len(images) - first]):
            request.set_completion_callback(callback, (request, first + request_id))
            request.async_infer({input_blob: images[first + request_id][None]})
            started.append(request)
        for request in started:
            if request.wait(WaitMode.RESULT_READY) != StatusCode.OK:
                log.error("Inference failed")
                return 1
            log.info("Latency {:.3f} ms, {} layers profiled".format(request.latency, len(request.get_perf_counts())))
    assert sorted(done) == list(range(len(images)))

    outputs = np.concatenate(results)
    for i, probs in enumerate(outputs):
        top = np.argsort(np.squeeze(probs))[-3:][::-1]
        log.info("Image {}: top classes {}".format(i, list(top)))
    np.save(args.output, outputs)
    return 0


if __name__ == "__main__":
    sys.exit(main() or 0)
