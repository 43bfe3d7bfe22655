"""YAML configuration files: device preference, per-device keys, HETERO settings, validation errors with lines."""

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

import ie_core
from helpers import DEVICES
from ie_core import IENetwork, IEPlugin, config
from ie_core.cli import DEFAULT_MODEL
from ie_core.errors import ConfigError, ConfigFileError
from ie_core.plugins import default_registry
from test_cli import assert_fails, run_ie

LAST = DEVICES[-1]  # CPU when installed, else REFERENCE


def write(tmp_path, text, name="ie.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_first_usable_device_with_its_keys(tmp_path):
    path = write(tmp_path, f"""
        # GPU and MYRIAD are known devices: skipped when their packages are not installed
        devices: [GPU, MYRIAD.1, {LAST}, REFERENCE]
        config:
          {LAST}:
            PERF_COUNT: YES
          REFERENCE: {{PERF_COUNT: "NO"}}
        num_requests: 3
        model: models/net.xml
        """)
    installed = default_registry().backends()
    plugin = IEPlugin.from_config(path)
    if "GPU" not in installed and "MYRIAD" not in installed:
        assert plugin.device == LAST
        assert plugin.get_config("PERF_COUNT") == "YES"
    settings = plugin.settings
    assert settings.num_requests == 3 and settings.model == str(tmp_path / "models" / "net.xml")
    assert settings.weights is None
    assert [e.value for e in settings.devices] == ["GPU", "MYRIAD.1", LAST, "REFERENCE"]
    assert settings.devices[0].line == 2


def test_environment_variable_names_the_file(tmp_path, monkeypatch):
    path = write(tmp_path, "devices: [REFERENCE]\n")
    monkeypatch.setenv(config.ENV_VAR, str(path))
    assert IEPlugin.from_config().device == "REFERENCE"
    monkeypatch.delenv(config.ENV_VAR)
    with pytest.raises(ConfigFileError, match="no configuration file given and IE_CORE_CONFIG is not set"):
        IEPlugin.from_config()


def test_the_ie_command_uses_the_file(tmp_path):
    path = write(tmp_path, f"""
        devices: [{LAST}]
        num_requests: 3
        model: {DEFAULT_MODEL}
        """)
    run = run_ie("benchmark", "-niter", 6, "--json", env={config.ENV_VAR: str(path)})
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["device"] == LAST and report["nireq"] == 3 and report["model"] == str(DEFAULT_MODEL)
    # the subprocess imports the ie_core this test did (whose bundled model the file names), not another copy
    same_core = {"PYTHONPATH": str(Path(ie_core.__file__).resolve().parents[1])}
    run = run_ie("infer", "--config", path, "-n", 1, cwd=tmp_path, env=same_core)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"device: {LAST} ") and "accuracy: " in run.stdout
    # -d wins over the file
    run = run_ie("infer", "--config", path, "-d", "REFERENCE", "-n", 1, cwd=tmp_path, env=same_core)
    assert run.returncode == 0 and run.stdout.startswith("device: REFERENCE ")


BAD_FILES = {
    "devices: [CPU, NOPE]\n": r":1: unknown device 'NOPE'; known devices: .*CPU.*REFERENCE",
    "devices: [CPU]\nnumrequests: 3\n": r":2: unknown key 'numrequests' in the file; expected one of: devices,",
    "devices: [CPU]\nnum_requests: two\n": r":2: num_requests must be a positive integer, got 'two'",
    "devices: [CPU]\nnum_requests: 0\n": r":2: num_requests must be a positive integer, got 0",
    "devices:\n  - CPU\n  - [REFERENCE]\n": r":3: an entry of devices must be a single value, got a list",
    "devices: {CPU: 1}\n": r":1: devices must be a list of device names, got a mapping",
    "devices: [CPU\n": r":2: not valid YAML: expected ',' or ']'",
    "devices: [REFERENCE]\nconfig:\n  REFERENCE:\n    PERF_COUNT: YES\n    NO_SUCH_KEY: 1\n":
        r":5: config of REFERENCE: \[NOT_FOUND\] Unsupported property NO_SUCH_KEY by REFERENCE plugin",
    "devices: [REFERENCE]\nconfig:\n  REFERENCE: {PERF_COUNT: maybe}\n":
        r":3: config of REFERENCE: Wrong value 'maybe' for property key PERF_COUNT",
    "devices: [REFERENCE]\nconfig:\n  REFERENCE: {PERF_COUNT: [1]}\n":
        r":3: REFERENCE config key PERF_COUNT must be a single value, got a list",
    "devices: [REFERENCE]\nhetero:\n  fallback: [CPU]\n  affinity: {Softmax: TPU}\n": r":4: unknown device 'TPU'",
    "devices: [REFERENCE]\nhetero:\n  fallbacks: [CPU]\n": r":3: unknown key 'fallbacks' in hetero",
    "devices: [REFERENCE]\nweights: net.bin\n": r":2: 'weights' is given without 'model'",
    "num_requests: 2\n": r":1: missing key 'devices'",
    "": r":1: the file is empty",
    "devices: [GPU, FPGA]\n": r":1: none of the devices is usable here: GPU \(not installed: pip install "
                              r"ie-backend-gpu\); FPGA \(not installed: pip install ie-backend-fpga\)",
}


@pytest.mark.parametrize("text", list(BAD_FILES), ids=range(len(BAD_FILES)))
def test_validation_errors_name_file_and_line(tmp_path, text):
    if "GPU, FPGA" in text and {"GPU", "FPGA"} & set(default_registry().backends()):
        pytest.skip("a GPU or FPGA backend is installed")
    path = write(tmp_path, text)
    with pytest.raises(ConfigFileError, match=f"^{path}{BAD_FILES[text]}") as error:
        IEPlugin.from_config(path)
    assert isinstance(error.value, ConfigError)


def test_bad_files_through_the_ie_command(tmp_path):
    path = write(tmp_path, "devices: [CPU, NOPE]\n")
    assert_fails(run_ie("infer", "--config", path), rf"^ie infer: error: {path}:1: unknown device 'NOPE'")
    assert_fails(run_ie("benchmark", DEFAULT_MODEL, env={config.ENV_VAR: str(path)}), rf"{path}:1: unknown device")
    assert_fails(run_ie("infer", "--config", tmp_path / "missing.yaml"),
                 r"missing\.yaml: cannot read the configuration file: .*No such file")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00devices")
    assert_fails(run_ie("infer", "--config", tmp_path / "binary.yaml"), r"binary\.yaml: cannot read")
    assert_fails(run_ie("infer", "--config", write(tmp_path, "devices: !!python/object:os.system [ls]\n", "x.yaml")),
                 r"x\.yaml:1: not valid YAML: .*python/object")


def test_hetero_entry(tmp_path):
    path = write(tmp_path, f"""
        devices: [HETERO, REFERENCE]
        hetero:
          fallback: [GPU, {LAST}, REFERENCE]
          affinity:
            SoftMax: REFERENCE
        """)
    settings = config.load(path)
    choice = config.choose(settings, default_registry())
    if "HETERO" not in default_registry().backends():
        assert choice.device == "REFERENCE"
        assert choice.skipped == ["HETERO (not installed: pip install ie-backend-hetero)"]
        return
    # GPU is skipped unless it is usable here (an OpenCL GPU, or OpenCL CPU devices allowed by IE_CORE_GPU_ALLOW_CPU=1)
    assert choice.device in (f"HETERO:{LAST},REFERENCE", f"HETERO:GPU,{LAST},REFERENCE")
    plugin = IEPlugin.from_config(path)
    net = IENetwork(str(DEFAULT_MODEL))
    config.assign_affinity(settings, plugin, net)
    assert {layer.affinity for layer in net.layers.values() if layer.type == "SoftMax"} == {"REFERENCE"}
    image = np.zeros((1, 1, 8, 8), np.float32)
    expected = IEPlugin("REFERENCE").load(IENetwork(str(DEFAULT_MODEL))).infer({"data": image})["prob"]
    np.testing.assert_allclose(plugin.load(net).infer({"data": image})["prob"], expected, rtol=1e-4, atol=1e-6)
