"""Scripts written for the API of 2018 R3 and of 2020 (tests/data/legacy_scripts/), run unchanged in a
subprocess, and the opt-in ways to run scripts that import ``openvino.inference_engine``."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import ie_core
from helpers import DEVICES, assert_close, openvino_infer

DEVICE = DEVICES[-1]
SCRIPTS = Path(__file__).parent / "data" / "legacy_scripts"
DIGITS = Path(ie_core.__file__).parent / "data" / "digits_cnn.xml"
SQUEEZENET = Path(__file__).parent / "data" / "legacy_ir" / "v6-squeezenet1.1-fp16" / "squeezenet1.1.xml"
CAT_CLASSES = range(281, 286)  # ImageNet's domestic cats (tabby ... Egyptian cat)


def run(*args, cwd=None):
    done = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)
    assert done.returncode == 0, f"{args} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def digits(count):
    data = np.load(DIGITS.parent / "digits_test.npz")
    return data["images"][:count, None].astype(np.uint8)


def chelsea_bgr():
    """scikit-image's photograph of a cat, resized to SqueezeNet's 227 x 227, as uint8 NCHW BGR."""
    data = pytest.importorskip("skimage.data")
    transform = pytest.importorskip("skimage.transform")
    image = transform.resize(data.chelsea(), (227, 227), preserve_range=True, anti_aliasing=True)
    return np.round(image[:, :, ::-1]).astype(np.uint8).transpose(2, 0, 1)[None]


@pytest.mark.parametrize("script", ["classify_2018_r3.py", "classify_2020_iecore.py"])
def test_script_on_the_digits_model(script, tmp_path):
    images = digits(3)
    np.save(tmp_path / "in.npy", images.astype(np.float32) if "2018" in script else images)
    done = run(SCRIPTS / script, "-m", DIGITS, "-i", tmp_path / "in.npy", "-o", tmp_path / "out.npy", "-d", DEVICE)
    expected = openvino_infer(str(DIGITS), {"data": images.astype(np.float32)}, reshape={"data": images.shape})[0]
    assert_close(np.load(tmp_path / "out.npy"), expected)
    if "2018" in script:
        assert "from_ir() method of IENetwork is deprecated" in done.stderr
    else:
        assert "Warning" not in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("script", ["classify_2018_r3.py", "classify_2020_iecore.py"])
def test_script_classifies_a_photograph_with_legacy_ir(script, tmp_path):
    image = chelsea_bgr()
    np.save(tmp_path / "in.npy", image.astype(np.float32) if "2018" in script else image)
    run(SCRIPTS / script, "-m", SQUEEZENET, "-i", tmp_path / "in.npy", "-o", tmp_path / "out.npy", "-d", DEVICE)
    probs = np.load(tmp_path / "out.npy").reshape(-1)
    assert int(np.argmax(probs)) in CAT_CLASSES and probs.sum() == pytest.approx(1, abs=1e-3)


@pytest.mark.parametrize("command", [["-m", "ie_core.compat"], ["-m", "ie_core", "run"]], ids=["compat", "ie-run"])
def test_openvino_inference_engine_beside_openvino(command):
    done = run(*command, SCRIPTS / "openvino_2021.py", DIGITS, DEVICE)
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    assert lines["inference_engine"] == "module ie_core.api"
    assert "CPU" in lines["openvino"]  # the real OpenVINO, working in the same process
    assert float(lines["max"].split()[-1]) < 1e-5


def test_openvino_inference_engine_is_opt_in(tmp_path):
    script = tmp_path / "plain.py"
    script.write_text("import openvino.inference_engine\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "No module named 'openvino.inference_engine'" in done.stderr


def test_import_hook_without_openvino_installed(tmp_path):
    script = tmp_path / "no_openvino.py"
    script.write_text(textwrap.dedent(
        """
        import os
        import sys

        import ie_core
        import inference_engine.ie_api
        from ie_core.compat import enable_openvino_inference_engine

        sys.modules.pop("openvino", None)
        sys.path[:] = [p for p in sys.path if not os.path.isdir(os.path.join(p, "openvino"))]
        enable_openvino_inference_engine()
        import openvino
        from openvino.inference_engine import IECore
        from openvino.inference_engine.ie_api import IENetwork
        print(IECore is ie_core.IECore, IENetwork is ie_core.IENetwork, openvino.__doc__.startswith("An empty"))
        """
    ))
    assert run(script).stdout.split() == ["True", "True", "True"]
