"""``ie compare``: the same inputs on several devices, error statistics against the first, accuracy with labels."""

import json

import numpy as np

from helpers import DEVICES, openvino_infer
from ie_core.cli import DEFAULT_MODEL, DEFAULT_TEST_SET
from test_cli import assert_fails, run_ie, two_inputs  # noqa: F401  (fixture)


def digits(tmp_path, count=12):
    data = np.load(DEFAULT_TEST_SET)
    images, labels = data["images"][:count].astype(np.float32)[:, None], data["labels"][:count]
    (tmp_path / "in").mkdir()
    for i, image in enumerate(images):
        np.save(tmp_path / "in" / f"img{i:03d}.npy", image[None])
    (tmp_path / "labels.txt").write_text("".join(f"{label}\n" for label in labels))
    return images, labels


def test_compare_with_labels(tmp_path):
    images, labels = digits(tmp_path)
    openvino_top1 = [int(np.argmax(openvino_infer(str(DEFAULT_MODEL), {"data": image[None]})[0])) for image in images]
    expected_accuracy = float(np.mean(np.array(openvino_top1) == labels))
    devices = ["REFERENCE", *DEVICES]
    run = run_ie("compare", DEFAULT_MODEL, *[a for d in devices for a in ("-d", d)], "--inputs", tmp_path / "in",
                 "--labels", tmp_path / "labels.txt", "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["reference"] == "REFERENCE" and report["samples"] == 12
    for device in devices:
        entry = report["devices"][device]
        assert entry["accuracy"] == expected_accuracy
        stats = entry["outputs"]["prob"]
        assert stats["rel_l2"] <= 1e-5 and stats["max_abs"] <= 1e-5 and stats["top1_agreement"] == 1.0
    assert report["devices"]["REFERENCE"]["outputs"]["prob"] == {"max_abs": 0.0, "rel_l2": 0.0, "top1_agreement": 1.0}
    text = run_ie("compare", DEFAULT_MODEL, "-d", "REFERENCE", "-d", DEVICES[-1], "--inputs",
                  str(tmp_path / "in" / "*.npy"), "--labels", tmp_path / "labels.txt")
    assert text.returncode == 0, text.stderr
    assert "12 samples; errors against REFERENCE" in text.stdout
    assert text.stdout.splitlines()[1].split() == ["device", "output", "max", "abs", "rel", "L2", "top-1", "agree",
                                                   "accuracy"]


def test_compare_multi_input_npz_and_random(two_inputs, tmp_path):  # noqa: F811
    _, xml, x, y = two_inputs
    for i in range(3):
        np.savez(tmp_path / f"s{i}.npz", a=x + i, b=y)
    run = run_ie("compare", xml, "-d", "REFERENCE", "-d", DEVICES[-1], "--inputs", tmp_path, "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["devices"][DEVICES[-1]]["outputs"]["product"]["rel_l2"] <= 1e-6
    run = run_ie("compare", xml, "-d", "REFERENCE", "-d", "REFERENCE", "-n", 2, "--json")
    assert run.returncode == 0 and json.loads(run.stdout)["samples"] == 2


def test_compare_errors(two_inputs, tmp_path):  # noqa: F811
    tmp, xml, _, _ = two_inputs
    images, _ = digits(tmp_path, count=3)
    inputs = ["--inputs", tmp_path / "in"]
    assert_fails(run_ie("compare", DEFAULT_MODEL, "-d", "REFERENCE", *inputs), r"give at least two devices")
    assert_fails(run_ie("compare", DEFAULT_MODEL, "-d", "REFERENCE", "-d", "NOPE", *inputs), r"Unknown plugin: NOPE")
    assert_fails(run_ie("compare", DEFAULT_MODEL, "-d", "REFERENCE", "-d", "REFERENCE", *inputs,
                        "--labels", tmp_path / "missing.txt"), r"No such file")
    (tmp_path / "bad_labels.txt").write_text("1\ntwo\n3\n")
    assert_fails(run_ie("compare", DEFAULT_MODEL, "-d", "REFERENCE", "-d", "REFERENCE", *inputs,
                        "--labels", tmp_path / "bad_labels.txt"), r"expected one integer label per line")
    (tmp_path / "short.txt").write_text("1\n")
    assert_fails(run_ie("compare", DEFAULT_MODEL, "-d", "REFERENCE", "-d", "REFERENCE", *inputs,
                        "--labels", tmp_path / "short.txt"), r"1 labels for 3 input samples")
    (tmp_path / "empty").mkdir()
    assert_fails(run_ie("compare", DEFAULT_MODEL, "-d", "REFERENCE", "-d", "REFERENCE", "--inputs",
                        tmp_path / "empty"), r"no \.npy or \.npz files there")
    assert_fails(run_ie("compare", xml, "-d", "REFERENCE", "-d", "REFERENCE", "--inputs", tmp),
                 r"x\.npy: the network has inputs \['a', 'b'\]; give \.npz files")
    np.savez(tmp_path / "empty" / "one.npz", a=np.zeros((2, 3), np.float32))
    assert_fails(run_ie("compare", xml, "-d", "REFERENCE", "-d", "REFERENCE", "--inputs", tmp_path / "empty"),
                 r"one\.npz: holds arrays \['a'\], the network's inputs are \['a', 'b'\]")
