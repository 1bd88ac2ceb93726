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
    assert "flux_service.upstream.catalog" in imports_of("config.py")
    assert "flux_service.web.orders" in imports_of("flux_service/web/openai_views.py")
    assert "config" in imports_of("flux_service/web/factory.py")


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


# The layers of flux_service/, lowest first: a module imports its own layer and those below
# it, never one above. The stand-in and the launcher stand apart.
LAYERS = ("core", "stores", "upstream", "generation", "wire", "web")
CORE = {"errors", "metrics", "logs", "clock", "offload", "proxies", "setting_parsers"}
APART = {"__init__", "launcher", "standin"}


def layer_of(module: str) -> str | None:
    """The layer of a module of flux_service (None: the stand-in, the launcher, the package)."""
    parts = module.split(".")
    if parts[0] != "flux_service" or len(parts) < 2 or parts[1] in APART:
        return None
    return "core" if parts[1] in CORE else parts[1]


def test_every_module_is_in_a_layer() -> None:
    modules = [module_name(path) for path in PRODUCT if path.startswith("flux_service/")]
    placed = {module: layer_of(module) for module in modules if layer_of(module) is not None}
    assert set(placed.values()) <= set(LAYERS), placed
    assert len(placed) > 40  # the walk found them


def test_imports_point_down_the_layers() -> None:
    upward = []
    for path in PRODUCT:
        module = module_name(path)
        layer = layer_of(module)
        if layer is None:
            continue
        for imported in imports_of(path):
            below = layer_of(imported)
            if below is not None and LAYERS.index(below) > LAYERS.index(layer):
                upward.append(f"{module} ({layer}) imports {imported} ({below})")
    assert upward == []


# What config may load of the package: gunicorn's master imports config before gevent
# patches anything, so it must stay light.
CONFIG_READS = {"upstream.catalog", "stores.file_layout", "setting_parsers"}
# Modules of the package config loads that need nothing but the standard library.
STANDARD_LIBRARY_ONLY = ["flux_service/setting_parsers.py", "flux_service/stores/file_layout.py"]


def test_config_reads_only_what_the_master_may_load() -> None:
    ours = {name for name in imports_of("config.py") if name.startswith("flux_service")}
    allowed = {f"flux_service.{name}" for name in CONFIG_READS}
    packages = {name.rpartition(".")[0] for name in allowed}
    assert ours <= allowed | packages | {"flux_service"}, ours - allowed - packages


@pytest.mark.parametrize("path", STANDARD_LIBRARY_ONLY)
def test_what_config_loads_needs_only_the_standard_library(path: str) -> None:
    imported = set()
    for node in ast.walk(ast.parse((ROOT / path).read_text(), path)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):  # a relative import is the package's own
            imported.add("." * node.level + (node.module or ""))
    outside = {name for name in imported if name.split(".")[0] not in sys.stdlib_module_names}
    assert outside == set()


def test_the_package_folders_import_nothing() -> None:
    # gunicorn's master imports the catalogue (through config) and the worker and logger
    # classes: every package they pass through must load nothing on the way.
    for init in (ROOT / "flux_service").rglob("__init__.py"):
        if init.parent.name != "standin":
            tree = ast.parse(init.read_text())
            imports = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
            assert imports == [], init


@pytest.mark.parametrize("late", ["requests", "urllib3", "flask", "werkzeug", "redis", "boto3"])
def test_the_masters_worker_and_logger_classes_load_nothing_they_must_not(late: str) -> None:
    # After the configuration, gunicorn's master imports `worker_class` and `logger_class`
    # itself. gunicorn's own gevent worker loads ssl and gevent there already; what matters
    # is that none of ours brings an HTTP client, Flask or a store's client in before the fork.
    check = (
        "import runpy, sys, importlib; conf = runpy.run_path('gunicorn.conf.py'); "
        "[getattr(importlib.import_module(name.rpartition('.')[0]), name.rpartition('.')[2]) "
        "for name in (conf['worker_class'], conf['logger_class'])]; "
        f"print({late!r} in sys.modules)"
    )
    env = {"CF_ACCOUNT_ID": "a", "CF_API_TOKEN": "t", "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert run.stdout.strip() == "False", f"the master's classes import {late}"


@pytest.mark.parametrize("client", ["redis", "boto3"])
def test_an_app_on_the_memory_store_loads_no_store_client(client: str) -> None:
    # redis-py and boto3 are imported where they are used: a worker without a shared Redis
    # or a bucket never holds them (7 MB and 24 MB).
    check = (
        "import sys; from config import load_settings; "
        "from flux_service.web.factory import create_app; "
        "create_app(load_settings({'CF_ACCOUNT_ID': 'a', 'CF_API_TOKEN': 't', "
        "'RATE_LIMIT': '5/minute'}, env_file=None)); "
        f"print({client!r} in sys.modules)"
    )
    run = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert run.stdout.strip().splitlines()[-1] == "False", f"a memory-store app loads {client}"
