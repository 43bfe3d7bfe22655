"""``ie batch``: one output file per input file, in batches, locally and on a local Ray cluster."""

import numpy as np
import pytest

from helpers import DEVICES, assert_close, openvino_infer
from ie_core.cli import DEFAULT_MODEL
from test_cli import assert_fails, run_ie, two_inputs  # noqa: F401  (fixture)
from test_cli_compare import digits


def test_batch_writes_one_output_per_input(tmp_path):
    images, _ = digits(tmp_path, count=7)
    run = run_ie("batch", DEFAULT_MODEL, "--inputs", tmp_path / "in", "--output", tmp_path / "out",
                 "--batch-size", 3, "-d", DEVICES[-1])
    assert run.returncode == 0, run.stderr
    assert f"wrote 7 output files to {tmp_path / 'out'}" in run.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"img{i:03d}.npy" for i in range(7)]
    for i, image in enumerate(images):
        assert_close(np.load(tmp_path / "out" / f"img{i:03d}.npy"), openvino_infer(str(DEFAULT_MODEL),
                                                                                   {"data": image[None]})[0])


def test_batch_multi_input_npz(two_inputs, tmp_path):  # noqa: F811
    _, xml, _, _ = two_inputs
    rng = np.random.default_rng(2)
    samples = [(rng.standard_normal(3).astype(np.float32), rng.standard_normal(3).astype(np.float32)) for _ in range(3)]
    for i, (a, b) in enumerate(samples):
        np.savez(tmp_path / f"pair{i}.npz", a=a, b=b)
    run = run_ie("batch", xml, "--inputs", str(tmp_path / "pair*.npz"), "--output", tmp_path / "out",
                 "-d", "REFERENCE")
    assert run.returncode == 0, run.stderr
    for i, (a, b) in enumerate(samples):
        np.testing.assert_array_equal(np.load(tmp_path / "out" / f"pair{i}.npy"), (a * b)[None])


def test_batch_errors(tmp_path):
    digits(tmp_path, count=2)
    (tmp_path / "empty").mkdir()
    out = ["--output", tmp_path / "out"]
    assert_fails(run_ie("batch", DEFAULT_MODEL, "--inputs", tmp_path / "empty", *out), r"no \.npy or \.npz files")
    np.save(tmp_path / "in" / "wrong.npy", np.zeros((3, 3), np.float32))
    assert_fails(run_ie("batch", DEFAULT_MODEL, "--inputs", tmp_path / "in", *out),
                 r"wrong\.npy: input data: expected shape \[1, 8, 8\] \(one sample\), got \[3, 3\]")
    (tmp_path / "file").write_text("")
    assert_fails(run_ie("batch", DEFAULT_MODEL, "--inputs", tmp_path / "in", "--output", tmp_path / "file" / "out"),
                 r"File exists|Not a directory")
    assert_fails(run_ie("batch", DEFAULT_MODEL, "--output", tmp_path / "out"), r"required: --inputs", code=2)
    assert_fails(run_ie("batch", DEFAULT_MODEL, "--inputs", tmp_path / "in", *out, "--batch-size", 0),
                 r"expected a positive integer", code=2)


def test_batch_on_ray_equals_batch_without(tmp_path):
    pytest.importorskip("ray", reason="pip install 'ie-core[ray]'")
    digits(tmp_path, count=5)
    common = [DEFAULT_MODEL, "--inputs", tmp_path / "in", "--batch-size", 2, "-d", DEVICES[-1]]
    local = run_ie("batch", *common, "--output", tmp_path / "local")
    assert local.returncode == 0, local.stderr
    on_ray = run_ie("batch", *common, "--output", tmp_path / "ray", "--ray", "--actors", 1)
    assert on_ray.returncode == 0, on_ray.stderr
    assert "wrote 5 output files" in on_ray.stdout and "on Ray" in on_ray.stdout
    names = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "ray").iterdir()) and len(names) == 5
    for name in names:
        np.testing.assert_array_equal(np.load(tmp_path / "ray" / name), np.load(tmp_path / "local" / name))
