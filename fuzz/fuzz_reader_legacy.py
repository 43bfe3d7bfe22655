"""Fuzz target: the legacy IR v2–v7 reader (``ie_core.ir.legacy``) on arbitrary .xml and .bin bytes.

The IR version comes from the file when it is a legacy one, else 7, so that every input reaches this reader.
"""

import sys

import atheris
from common import run

with atheris.instrument_imports(include=["ie_core"]):
    from ie_core.ir.legacy import LegacyIRReader
    from ie_core.ir.reader import LEGACY_VERSIONS, map_weights
    from ie_core.ir.xmlparse import parse_xml


def read(xml_path, bin_path):
    root = parse_xml(xml_path)
    version = int(root.get("version")) if root.get("version") in LEGACY_VERSIONS else 7
    LegacyIRReader(xml_path, bin_path, map_weights(bin_path), version).read(root)


def test_one_input(data):
    run(data, read)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
