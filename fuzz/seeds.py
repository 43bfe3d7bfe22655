"""Writes the fuzz targets' seed inputs: ``python fuzz/seeds.py DIR`` fills DIR/v11 and DIR/legacy.

v11 seeds: the conformance suite's networks (every op it covers), the malformed corpus's
valid IR v11 model and its malformed variants. Legacy seeds: the corpus's legacy models
and variants, and the smallest real Model Optimizer fixture (IR v2).
"""

import sys
from pathlib import Path

from common import ROOT, join

from ie_core.testing import catalogue
from malformed_models import Model, written, malformed_cases, valid_models

LEGACY_FIXTURE = ROOT / "tests" / "data" / "legacy_ir" / "v2-samplenet-fp32" / "SampLeNet.xml"


def seeds():
    """(corpus name, seed name, Model) of every seed."""
    for case in catalogue.CATALOGUE:
        yield "v11", case.name, written(catalogue.build(case).write)
    for name, model in valid_models().items():
        yield "v11" if name == "v11" else "legacy", name, model
    for case in malformed_cases():
        yield "v11" if case.name.startswith("v11-") else "legacy", case.name, case.model
    if LEGACY_FIXTURE.is_file():
        yield "legacy", "samplenet", Model(LEGACY_FIXTURE.read_bytes(), LEGACY_FIXTURE.with_suffix(".bin").read_bytes())


def main(directory):
    for corpus, name, model in seeds():
        path = Path(directory) / corpus
        path.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(join(model.xml, model.bin))


if __name__ == "__main__":
    main(sys.argv[1])
