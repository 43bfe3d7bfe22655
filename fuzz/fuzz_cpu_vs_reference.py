"""Fuzz target: structure-aware mutations of valid IRs (:mod:`mutator`), run on CPU and on REFERENCE, which
must agree.

Both devices read the same network and get the same inputs; they must both refuse
it with an IEError of the same type or both run it to outputs of the same shapes
and types, equal up to float rounding (NaN and infinities in the same places). A
disagreement is a finding.
"""

import importlib
import sys

import atheris
import numpy as np
from common import fill, run

with atheris.instrument_imports(include=["ie_core", "ie_backend_cpu"]):
    importlib.import_module("ie_backend_cpu")  # instrumented here; the device registry finds it imported
    from ie_core import IENetwork, IEPlugin
    from ie_core.errors import IEError
from mutator import custom_mutator

DEVICES = {name: IEPlugin(name) for name in ("REFERENCE", "CPU")}


class Disagreement(AssertionError):
    """CPU and REFERENCE disagree on a network; ``key`` names the kind of layer where they first do."""

    def __init__(self, key, message):
        super().__init__(f"{key}: {message}")
        self.key = key


def outcome(device, net):
    """The outputs of ``net`` on ``device`` for the fixed inputs, or the IEError loading or running it raised."""
    try:
        exec_net = DEVICES[device].load(net)
        return exec_net.infer(fill(exec_net.requests[0]))
    except IEError as exc:
        return exc


def agree(a, b):
    """Whether two outputs are the same up to float rounding."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind != "f":
        return np.array_equal(a, b)
    if not np.array_equal(np.isnan(a), np.isnan(b)) or not np.array_equal(np.isinf(a), np.isinf(b)):
        return False
    finite = np.isfinite(a)
    a, b = a[finite].astype(np.float64), b[finite].astype(np.float64)
    scale = max(1.0, float(np.abs(b).max(initial=0.0)))
    return bool(np.allclose(a, b, rtol=1e-3, atol=1e-4 * scale))


def sane(net):
    """Whether every float constant of ``net`` is finite and at most 1e4 in magnitude: otherwise overflow
    makes the order of the kernels' float operations decide between inf and NaN, and outputs differ."""
    for node in net._graph.nodes:
        for value in node.values:
            if value is not None and value.dtype.kind == "f" and value.size and not (
                    np.isfinite(value).all() and np.abs(value).max() <= 1e4):
                return False
    return True


def first_disagreement(xml_path, bin_path):
    """The type of the first layer whose outputs differ between the devices when every layer's output is
    a network output (None if they then agree: the devices differ only in the layers they fuse)."""
    net = IENetwork(xml_path, bin_path)
    layers = [name for name, layer in net.layers.items() if layer.type not in ("Const", "Parameter")]
    net.add_outputs(layers)
    ref, cpu = outcome("REFERENCE", net), outcome("CPU", net)
    if isinstance(ref, IEError) or isinstance(cpu, IEError):
        return None
    for name in layers:
        for output in (n for n in ref if n == name or n.rpartition(".")[0] == name):
            if not agree(cpu[output], ref[output]):
                return net.layers[name].type
    return None


def compare(xml_path, bin_path):
    net = IENetwork(xml_path, bin_path)
    ref, cpu = outcome("REFERENCE", net), outcome("CPU", net)
    if isinstance(ref, IEError) or isinstance(cpu, IEError):
        if type(ref) is not type(cpu):
            raise Disagreement("refusal", f"REFERENCE: {ref!r:.200}; CPU: {cpu!r:.200}")
        return
    if not sane(net):
        return
    for name, value in ref.items():
        if not agree(cpu[name], value):
            layer = net.layers.get(name) or net.layers[name.rpartition(".")[0]]
            where = first_disagreement(xml_path, bin_path) or f"fused {layer.type}"
            raise Disagreement(where, f"output {name}: CPU {cpu[name].ravel()[:6]} != "
                                      f"REFERENCE {value.ravel()[:6]}")


def test_one_input(data):
    run(data, compare)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()
