"""Fuzz target: read, load on the CPU device and run an IR (.xml and .bin bytes), with fixed random inputs;
inputs are mutated by :mod:`mutator` (structure-aware, and byte-level one time in twenty)."""

import importlib
import sys

import atheris
from common import fill, run

with atheris.instrument_imports(include=["ie_core", "ie_backend_cpu"]):
    importlib.import_module("ie_backend_cpu")  # instrumented here; the device registry finds it imported
    from ie_core import IENetwork, IEPlugin
from mutator import custom_mutator

PLUGIN = IEPlugin("CPU")


def load_and_infer(xml_path, bin_path):
    exec_net = PLUGIN.load(IENetwork(xml_path, bin_path))
    exec_net.infer(fill(exec_net.requests[0]))


def test_one_input(data):
    run(data, load_and_infer)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()
