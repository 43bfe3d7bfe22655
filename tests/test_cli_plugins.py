"""plugin_dirs load only modules that declare ie_core hooks, each in isolation; IE_CORE_TRACE_HOOKS logs hook calls."""

import json
import os
import re
import subprocess
import sys
import textwrap

from test_cli import run_ie

PLUGIN_FILES = {
    "toy_device.py": '''
        from ie_core.backend import Backend, ExecutorModel, GraphExecutor, hookimpl, reference_kernel

        class ToyBackend(Backend):
            device_name = "TOYDEV"

            def compile(self, graph, config, num_requests):
                return ExecutorModel(GraphExecutor(graph, reference_kernel), config)

        @hookimpl
        def ie_core_backends():
            return [ToyBackend]
    ''',
    # a script that happens to lie in the directory: never imported
    "sample_script.py": '''
        print("SAMPLE SCRIPT RAN")
        raise SystemExit(7)
    ''',
    # declares a hook, then exits while being imported: reported, the caller goes on
    "exits_on_import.py": '''
        from ie_core.backend import hookimpl

        raise SystemExit(3)

        @hookimpl
        def ie_core_backends():
            return []
    ''',
    "broken_import.py": '''
        import ie_core.backend

        import no_such_dependency_of_this_plugin

        @ie_core.backend.hookimpl
        def ie_core_backends():
            return []
    ''',
    "syntax_error.py": "def broken(:\n",
}

LIST_DEVICES = """
import json, sys
from ie_core.plugins import DeviceRegistry
registry = DeviceRegistry([sys.argv[1]])
print(json.dumps({"devices": sorted(registry.devices()), "failures": registry.failures()}))
"""


def test_plugin_dirs_load_only_declared_plugins_in_isolation(tmp_path):
    for name, source in PLUGIN_FILES.items():
        (tmp_path / name).write_text(textwrap.dedent(source))
    run = subprocess.run([sys.executable, "-c", LIST_DEVICES, str(tmp_path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "SAMPLE SCRIPT RAN" not in run.stdout
    result = json.loads(run.stdout)
    assert "TOYDEV" in result["devices"] and "REFERENCE" in result["devices"]
    failures = result["failures"]
    assert set(failures) == {str(tmp_path / n) for n in ("exits_on_import.py", "broken_import.py", "syntax_error.py")}
    assert failures[str(tmp_path / "exits_on_import.py")].endswith("import failed: SystemExit: 3")
    assert "ModuleNotFoundError: No module named 'no_such_dependency_of_this_plugin'" in \
        failures[str(tmp_path / "broken_import.py")]
    assert "cannot read the module: SyntaxError" in failures[str(tmp_path / "syntax_error.py")]


def test_trace_hooks_logs_every_hook_call():
    run = run_ie("devices", env={"IE_CORE_TRACE_HOOKS": "1"})
    assert run.returncode == 0, run.stderr
    assert re.search(r"ie_core\.hooks.*call ie_core_backends\(\) on ie-core \(built in\)", run.stderr)
    assert re.search(r"ie_core\.hooks.*ie_core_backends returned \[\[<class 'ie_core\.reference\.ReferenceBackend'>\]\]",
                     run.stderr)
    quiet = run_ie("devices", env={"IE_CORE_TRACE_HOOKS": "0"})
    assert "ie_core.hooks" not in quiet.stderr


def test_trace_hooks_without_logging_configured():
    script = "from ie_core import IEPlugin; IEPlugin('REFERENCE')"
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "IE_CORE_TRACE_HOOKS": "1"})
    assert run.returncode == 0, run.stderr
    assert "[ie_core.hooks] call ie_core_backends() on ie-core (built in)" in run.stderr


LOOKUP_SCRIPT = """
import json, sys
from ie_core import IECore, IEPlugin
IEPlugin("TOYDEV")
IEPlugin("TOYDEV")
after_toy = sorted(m for m in ("toy_device", "toy_other", "ie_backend_broken_missing_module") if m in sys.modules)
IEPlugin("OTHERDEV")
after_other = sorted(m for m in ("toy_device", "toy_other") if m in sys.modules)
print(json.dumps({"after_toy": after_toy, "after_other": after_other, "devices": IECore().available_devices}))
"""


def test_entry_points_are_imported_when_their_device_is_first_used(tmp_path):
    """An entry point named after its device is imported on its own; the others only when a device is not
    found that way, or when the devices are listed."""
    (tmp_path / "toy_device.py").write_text(textwrap.dedent(PLUGIN_FILES["toy_device.py"]))
    (tmp_path / "toy_other.py").write_text(
        textwrap.dedent(PLUGIN_FILES["toy_device.py"]).replace("TOYDEV", "OTHERDEV"))
    dist = tmp_path / "ie_backend_toys-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ie-backend-toys\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[ie_core.backends]\ntoydev = toy_device\nnot_named_after_its_device = toy_other\n"
        "broken = ie_backend_broken_missing_module\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", LOOKUP_SCRIPT], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["after_toy"] == ["toy_device"]
    assert result["after_other"] == ["toy_device", "toy_other"]
    assert {"TOYDEV", "OTHERDEV", "REFERENCE"} <= set(result["devices"])
    listing = run_ie("devices", "--json", env={"PYTHONPATH": env["PYTHONPATH"]})
    assert "broken" in json.loads(listing.stdout)["failures"]
