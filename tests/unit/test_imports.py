"""How the modules depend on each other: no module imports one that imports it back, and
gunicorn's master loads nothing that gevent's worker must patch first."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ["app.py", "config.py", "gunicorn.conf.py", *sorted(
    str(path.relative_to(ROOT)) for path in (ROOT / "flux_service").rglob("*.py")
)]  # fmt: skip


def module_name(path: str) -> str:
    name = path.removesuffix(".py").replace("/", ".")
    return name.removesuffix(".__init__")


def imports_of(path: str) -> set[str]:
    """The project's modules that `path` imports, wherever in it (TYPE_CHECKING included)."""
    tree = ast.parse((ROOT / path).read_text(), path)
    package = (
        module_name(path) if path.endswith("__init__.py") else module_name(path).rpartition(".")[0]
    )
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    ours = {module_name(path) for path in PRODUCT}
    return {name for name in found if name in ours} - {module_name(path)}


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = {module_name(path): imports_of(path) for path in PRODUCT}
    cycles = []

    def visit(module: str, trail: list[str]) -> None:
        for imported in sorted(graph.get(module, ())):
            if imported in trail:
                cycles.append([*trail[trail.index(imported) :], imported])
            elif imported not in done:
                visit(imported, [*trail, imported])
        done.add(module)

    done: set[str] = set()
    for module in sorted(graph):
        visit(module, [module])
    assert cycles == []


def test_the_walk_sees_the_imports_it_must() -> None:
    assert "flux_service.catalog" in imports_of("config.py")
    assert "flux_service.pipeline" in imports_of("flux_service/routes.py")
    assert "config" in imports_of("flux_service/factory.py")


@pytest.mark.parametrize("late", ["ssl", "requests", "urllib3", "gevent.monkey", "flask"])
def test_gunicorns_master_loads_nothing_the_worker_patches(late: str) -> None:
    # The master reads gunicorn.conf.py (and so the settings) before any worker starts; the
    # gevent worker patches ssl and sockets, and what was imported before the patch stays
    # unpatched.
    check = f"import runpy, sys; runpy.run_path('gunicorn.conf.py'); print({late!r} in sys.modules)"
    env = {"CF_ACCOUNT_ID": "a", "CF_API_TOKEN": "t", "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert run.stdout.strip() == "False", f"gunicorn.conf.py imports {late}"
