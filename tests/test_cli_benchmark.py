"""``ie benchmark``: latency statistics, throughput, per-layer report (JSON, CSV), plot, and bad arguments."""

import csv
import json

import pytest

from helpers import DEVICES
from ie_core.cli import DEFAULT_MODEL
from test_cli import assert_fails, run_ie


@pytest.mark.parametrize("api", ["sync", "async"])
def test_benchmark_json(api):
    run = run_ie("benchmark", DEFAULT_MODEL, "-d", DEVICES[-1], "-niter", 30, "--api", api, "-pc", "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["iterations"] == 30 and report["api"] == api and report["nireq"] == (1 if api == "sync" else 2)
    lat = report["latency_ms"]
    assert 0 < lat["min"] <= lat["median"] <= lat["max"] and lat["min"] <= lat["avg"] <= lat["max"]
    assert lat["median"] <= lat["p90"] <= lat["max"] and report["throughput_fps"] > 0
    types = {row["type"] for row in report["layers"]}
    assert {"Convolution", "MatMul", "SoftMax"} <= types


def test_benchmark_text_report_and_plot(tmp_path):
    run = run_ie("benchmark", DEFAULT_MODEL, "-d", "REFERENCE", "-b", 2, "-nireq", 3, "-t", 0.5,
                 "--report", tmp_path / "r.csv", "--plot", tmp_path / "layers.png")
    assert run.returncode == 0, run.stderr
    assert "batch 2; async API, 3 request(s)" in run.stdout
    assert "latency (ms): median " in run.stdout and "throughput: " in run.stdout
    assert "slowest layers" in run.stdout
    rows = list(csv.reader(open(tmp_path / "r.csv")))
    summary = dict(r for r in rows[: rows.index([])] if len(r) == 2)
    assert summary["device"] == "REFERENCE" and summary["batch"] == "2" and "latency_p90_ms" in summary
    assert rows[rows.index([]) + 1] == ["layer", "type", "exec_type", "avg_us"]
    assert (tmp_path / "layers.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run = run_ie("benchmark", DEFAULT_MODEL, "-d", "REFERENCE", "-niter", 5, "--report", tmp_path / "r.json")
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "r.json").read_text())["iterations"] == 5


def test_benchmark_bad_arguments(tmp_path):
    assert_fails(run_ie("benchmark", DEFAULT_MODEL, "-t", 0), r"argument -t/--time: expected a positive number", 2)
    assert_fails(run_ie("benchmark", DEFAULT_MODEL, "-niter", -1), r"expected a positive integer, got '-1'", 2)
    assert_fails(run_ie("benchmark", DEFAULT_MODEL, "-t", 1, "-niter", 3), r"not allowed with argument", 2)
    assert_fails(run_ie("benchmark", DEFAULT_MODEL, "--api", "fast"), r"invalid choice: 'fast'", 2)
    assert_fails(run_ie("benchmark", DEFAULT_MODEL, "-niter", 2, "--report", tmp_path / "r.txt"),
                 r"expected a \.json or \.csv file name")
    assert_fails(run_ie("benchmark", DEFAULT_MODEL, "-d", "REFERENCE", "-nstreams", 2, "-niter", 2),
                 r"device REFERENCE has no throughput-streams configuration key")
    assert_fails(run_ie("benchmark"), r"give MODEL\.xml")
