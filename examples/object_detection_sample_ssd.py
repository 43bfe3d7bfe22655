#!/usr/bin/env python
"""SSD object detection: ie-core's version of the Inference Engine's object_detection_sample_ssd.py, run the way
object_detection_demo_ssd_async.py ran a video: the images are frames, two requests ping-pong (one infers the
next frame while the current one's detections are read)."""

import logging as log
import sys
from argparse import SUPPRESS, ArgumentParser

from ie_core import IECore, StatusCode

from sample_utils import image_size, read_image, read_labels


def build_argparser():
    parser = ArgumentParser(add_help=False)
    args = parser.add_argument_group("Options")
    args.add_argument("-h", "--help", action="help", default=SUPPRESS, help="Show this help message and exit.")
    args.add_argument("-m", "--model", help="Required. Path to an .xml file with a trained SSD model.", required=True)
    args.add_argument("-i", "--input", help="Required. Paths to image files, inferred in order as frames.",
                      required=True, nargs="+")
    args.add_argument("-l", "--cpu_extension", default=None,
                      help="Optional. Path to a custom-op library for the CPU (IECore.add_extension).")
    args.add_argument("-d", "--device", default="CPU",
                      help="Optional. The device to infer on: CPU, REFERENCE, HETERO:... (CPU by default).")
    args.add_argument("--labels", default=None, help="Optional. Path to a labels mapping file.")
    args.add_argument("-pt", "--prob_threshold", default=0.5, type=float,
                      help="Optional. Probability threshold for detections filtering.")
    return parser


def main():
    log.basicConfig(format="[ %(levelname)s ] %(message)s", level=log.INFO, stream=sys.stdout)
    args = build_argparser().parse_args()

    log.info("Loading Inference Engine")
    ie = IECore()
    version = ie.get_versions(args.device)[args.device.partition(":")[0].partition(".")[0]]
    log.info("{}: API version {}.{}, build {}".format(args.device, version.major, version.minor, version.build_number))
    if args.cpu_extension and "CPU" in args.device:
        ie.add_extension(args.cpu_extension, "CPU")
    net = ie.read_network(model=args.model)

    image_inputs = [name for name, info in net.input_info.items() if len(info.layout) == 4]
    assert len(image_inputs) == 1 and len(net.input_info) == 1, "Sample supports only single image input topologies"
    input_blob = image_inputs[0]
    net.input_info[input_blob].precision = "U8"
    n, c, h, w = net.input_info[input_blob].input_data.shape

    out_blob = next((name for name in net.outputs if net.layers[name].type == "DetectionOutput"), None)
    if out_blob is None:
        log.error("Can't find a DetectionOutput layer in the topology")
        return 1
    output_info = net.outputs[out_blob]
    if len(output_info.shape) != 4 or output_info.shape[3] != 7:
        log.error("Incorrect output dimensions for an SSD model: {}".format(output_info.shape))
        return 1
    output_info.precision = "FP32"

    log.info("Loading model to the device")
    exec_net = ie.load_network(network=net, device_name=args.device, num_requests=2)
    labels_map = read_labels(args.labels)

    log.info("Starting inference in async mode: two requests, ping-pong")
    cur_request_id, next_request_id = 0, 1
    exec_net.start_async(request_id=cur_request_id, inputs={input_blob: read_image(args.input[0], w, h, c)})
    for frame, path in enumerate(args.input):
        if frame + 1 < len(args.input):
            next_image = read_image(args.input[frame + 1], w, h, c)
            exec_net.start_async(request_id=next_request_id, inputs={input_blob: next_image})
        request = exec_net.requests[cur_request_id]
        if request.wait(-1) != StatusCode.OK:
            log.error("Inference of {} failed: {}".format(path, request.error))
            return 1
        ih, iw = image_size(path)
        print("Frame {} ({}), inferred in {:.1f} ms:".format(frame, path, request.latency))
        for proposal in request.outputs[out_blob][0][0]:
            if proposal[0] < 0:
                break
            if proposal[2] < args.prob_threshold:
                continue
            label = int(proposal[1])
            name = labels_map[label] if labels_map else str(label)
            xmin, ymin, xmax, ymax = (int(v * s) for v, s in zip(proposal[3:7], (iw, ih, iw, ih)))
            print("  [{}] prob = {:.6f}  ({},{})-({},{})".format(name, proposal[2], xmin, ymin, xmax, ymax))
        cur_request_id, next_request_id = next_request_id, cur_request_id
    log.info("Execution successful")
    return 0


if __name__ == "__main__":
    sys.exit(main())
