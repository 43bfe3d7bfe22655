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
