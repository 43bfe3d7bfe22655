"""Architecture: which packages may import which, checked on the sources' imports (ast).

The core imports no backend; a backend imports no other backend (HETERO reaches its
devices through the registry); a backend imports only ``ie_core.backend`` from the
core. Tests are not packages' code and are not checked.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path):
    """The absolute module names ``path`` imports (``from m import n`` gives ``m`` and ``m.n``), with the
    string arguments of importlib.import_module and __import__ calls."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield node.args[0].value


def sources(directory):
    """The package sources under ``directory``: its .py files outside tests/ folders."""
    return [p for p in sorted(directory.rglob("*.py")) if "tests" not in p.relative_to(directory).parts]


def backend_packages():
    """Backend directory -> the top-level packages it ships (``ie_backend_*`` folders with an __init__.py)."""
    found = {}
    for directory in sorted((ROOT / "backends").iterdir()):
        packages = {p.parent.name for p in directory.glob("ie_backend_*/__init__.py")}
        if packages:
            found[directory] = packages
    return found


def _top(module):
    return module.split(".")[0]


def test_the_backends_are_found():
    assert any("ie_backend_cpu" in packages for packages in backend_packages().values())


def test_the_core_imports_no_backend():
    offending = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in sources(ROOT / "ie_core")
        for module in imported_modules(path)
        if _top(module).startswith("ie_backend")
    ]
    assert not offending, offending


def test_a_backend_imports_no_other_backend():
    packages = backend_packages()
    offending = [
        f"{path.relative_to(ROOT)}: {module}"
        for directory, own in packages.items()
        for path in sources(directory)
        for module in imported_modules(path)
        if _top(module).startswith("ie_backend") and _top(module) not in own
    ]
    assert not offending, offending


def test_a_backend_imports_only_the_backend_api_from_the_core():
    offending = [
        f"{path.relative_to(ROOT)}: {module}"
        for directory in backend_packages()
        for path in sources(directory)
        for module in imported_modules(path)
        if _top(module) == "ie_core" and module != "ie_core.backend" and not module.startswith("ie_core.backend.")
    ]
    assert not offending, offending
