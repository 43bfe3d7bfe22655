"""The classic samples in examples/, each run as a user runs it (subprocess) on the legacy IR fixtures and
photographs that ship inside scikit-image (written to temporary files)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import ie_core
from helpers import DEVICES

pytest.importorskip("PIL", reason="the samples read images with Pillow")
skimage_data = pytest.importorskip("skimage.data")

from PIL import Image  # noqa: E402

DEVICE = DEVICES[-1]
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
LEGACY = Path(__file__).parent / "data" / "legacy_ir"
SQUEEZENET = LEGACY / "v6-squeezenet1.1-fp16" / "squeezenet1.1.xml"
FACES = {"v3": LEGACY / "v3-face-detection-retail-0004-fp16" / "face-detection-retail-0004.xml",
         "v4": LEGACY / "v4-face-detection-retail-0004-fp32" / "face-detection-retail-0004.xml"}
DIGITS = Path(ie_core.__file__).parent / "data" / "digits_cnn.xml"
CAT_CLASSES = {281, 282, 283, 284, 285}  # ImageNet's domestic cats (tabby ... Egyptian cat)

pytestmark = pytest.mark.slow


def run_sample(name, *args, cwd):
    done = subprocess.run([sys.executable, str(EXAMPLES / name), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)
    assert done.returncode == 0, f"{name} {args} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """scikit-image's cat and astronaut (and the astronaut mirrored) as PNG files."""
    directory = tmp_path_factory.mktemp("photos")
    astronaut = skimage_data.astronaut()
    images = {"chelsea": skimage_data.chelsea(), "astronaut": astronaut, "mirrored": astronaut[:, ::-1].copy()}
    for name, pixels in images.items():
        Image.fromarray(pixels).save(directory / f"{name}.png")
    return {name: directory / f"{name}.png" for name in images}


def top_classes(output):
    """The class ids each "classid probability" table lists, per image, in order."""
    tables = output.split("classid probability")[1:]
    return [[int(m) for m in re.findall(r"^\s*(\d+)\s+[\d.]+$", table, re.M)] for table in tables]


def test_classification_sample(photos, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"n{i:08d} class{i}\n" for i in range(1000)))
    out = run_sample("classification_sample.py", "-m", SQUEEZENET, "-i", photos["chelsea"], photos["chelsea"],
                     "-d", DEVICE, "-nt", "3", "-ni", "2", "-pc", cwd=tmp_path)
    assert "Batch size is 2" in out and "Average running time of one iteration" in out
    assert re.search(r"^conv1/convolution +Convolution ", out, re.M)  # the performance counters
    tops = top_classes(out)
    assert len(tops) == 2 and tops[0] == tops[1] and len(tops[0]) == 3 and tops[0][0] in CAT_CLASSES
    named = run_sample("classification_sample.py", "-m", SQUEEZENET, "-i", photos["chelsea"], "-d", DEVICE,
                       "--labels", labels, "-nt", "1", cwd=tmp_path)
    assert f"class{tops[0][0]}" in named


def test_classification_sample_async(photos, tmp_path):
    out = run_sample("classification_sample_async.py", "-m", SQUEEZENET, "-i", photos["chelsea"], "-d", DEVICE,
                     "-nt", "5", "-ni", "3", cwd=tmp_path)
    assert "Completed 3 async request execution(s)" in out and "Completed 4" not in out
    tops = top_classes(out)
    assert len(tops) == 1 and tops[0][0] in CAT_CLASSES


@pytest.mark.parametrize("version", sorted(FACES))
def test_object_detection_sample_ssd_ping_pong(version, photos, tmp_path):
    frames = [photos["astronaut"], photos["mirrored"], photos["astronaut"]]
    out = run_sample("object_detection_sample_ssd.py", "-m", FACES[version], "-i", *frames, "-d", DEVICE,
                     cwd=tmp_path)
    boxes = {}
    for block in out.split("Frame ")[1:]:
        frame = int(block.split()[0])
        boxes[frame] = [tuple(map(int, m)) for m in re.findall(r"\((\d+),(\d+)\)-\((\d+),(\d+)\)", block)]
    assert sorted(boxes) == [0, 1, 2]
    # the astronaut's face lies around x 180-270, y 55-180 of the 512 x 512 photograph; mirrored, x 242-332
    for frame, (x_lo, x_hi) in {0: (180, 270), 1: (242, 332), 2: (180, 270)}.items():
        assert len(boxes[frame]) == 1, out
        xmin, ymin, xmax, ymax = boxes[frame][0]
        assert x_lo - 20 <= xmin < (xmin + xmax) / 2 < xmax <= x_hi + 20 and 30 <= ymin < ymax <= 200


def test_affinity_setting_sample(photos, tmp_path):
    devices = "HETERO:" + ",".join(dict.fromkeys([DEVICE, "REFERENCE"]))
    out = run_sample("affinity_setting_sample.py", "-m", SQUEEZENET, "-i", photos["chelsea"], "-d", devices,
                     "-nt", "3", cwd=tmp_path)
    placed = dict(pair.split() for pair in re.search(r"Layers per device: (.*)", out).group(1).split(", "))
    if DEVICE != "REFERENCE":
        assert placed["REFERENCE"] == "26"  # SqueezeNet's 26 convolutions; the other layers on the first device
    top = [int(m) for m in re.findall(r"\d\.\d+ #(\d+)", out)]
    assert len(top) == 3 and top[0] in CAT_CLASSES
    assert (tmp_path / "hetero_affinity.dot").is_file() and (tmp_path / "hetero_subgraphs.dot").is_file()


@pytest.mark.parametrize("api", ["sync", "async"])
def test_benchmark_app(api, photos, tmp_path):
    out = run_sample("benchmark_app.py", "-m", DIGITS, "-d", DEVICE, "-api", api, "-niter", "12", "-nireq", "3",
                     cwd=tmp_path)
    assert re.search(r"^Count: +12 iterations$", out, re.M)
    assert re.search(r"^Throughput: +[\d.]+ FPS$", out, re.M) and re.search(r"^Latency: +[\d.]+ ms$", out, re.M)
    out = run_sample("benchmark_app.py", "-m", SQUEEZENET, "-i", photos["chelsea"], "-d", DEVICE, "-b", "2",
                     "-niter", "2", "-pc", cwd=tmp_path)
    assert "batch size 2" in out and re.search(r"^Count: +2 iterations$", out, re.M) and "conv1/convolution" in out
