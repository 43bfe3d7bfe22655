#!/usr/bin/env python
"""A script of 2021 that imports openvino.inference_engine, in a process that also uses today's OpenVINO.

Prints one line per check; run it with ``ie run`` or ``python -m ie_core.compat``.
"""
import sys

import numpy as np
import openvino as ov
from openvino.inference_engine import IECore
from openvino.inference_engine.ie_api import IENetwork

model = sys.argv[1]
core = ov.Core()
expected = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
ie = IECore()
net = ie.read_network(model)
assert isinstance(net, IENetwork)
name = next(iter(net.input_info))
out = next(iter(net.outputs))
x = np.random.default_rng(0).uniform(0, 16, net.input_info[name].input_data.shape).astype(np.float32)
got = ie.load_network(net, sys.argv[2]).infer({name: x})[out]
want = expected({0: x})[expected.outputs[0]]
print("openvino", ov.__version__, "devices", core.available_devices)
print("inference_engine module", IECore.__module__)
print("max difference", float(np.abs(got - want).max()))
