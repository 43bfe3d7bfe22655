"""Fuzz target: the IR v10/v11 reader (``ie_core.ir.reader``) on arbitrary .xml and .bin bytes."""

import sys

import atheris
from common import run

with atheris.instrument_imports(include=["ie_core"]):
    from ie_core.ir.reader import IRv10Reader, map_weights
    from ie_core.ir.xmlparse import parse_xml


def read(xml_path, bin_path):
    IRv10Reader(xml_path, bin_path, map_weights(bin_path)).read(parse_xml(xml_path))


def test_one_input(data):
    run(data, read)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
