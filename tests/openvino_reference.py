"""The tests' reference: OpenVINO's own f32 inference (a module that imports nothing of ie-core, so that a
worker process can run it without loading the backends)."""

import numpy as np
import openvino as ov

_CORE = ov.Core()


def infer(xml, inputs, reshape=None):
    """Run the IR at ``xml`` on OpenVINO's CPU device in f32 (``reshape``: new input shapes first); outputs in
    Result order."""
    model = _CORE.read_model(xml)
    if reshape:
        model.reshape(reshape)
    compiled = _CORE.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    by_name = [inputs[port.get_node().get_friendly_name()] for port in compiled.inputs]
    result = compiled(by_name)
    return [np.asarray(result[out]) for out in compiled.outputs]
