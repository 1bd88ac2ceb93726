"""The code map in docs/development.md names exactly what is in flux_service/ and tests/;
the benchmark page links the reports the runs write, and pastes none of them."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def mapped(folder: str) -> set[str]:
    """The names the code map lists under `folder`/ (a path: `flux_service/web`)."""
    page = (ROOT / "docs" / "development.md").read_text()
    lines = page.split("\n## The code map\n", 1)[1].split("```", 2)[1].splitlines()
    depth = folder.count("/") * 2
    start = next(
        number
        for number, line in enumerate(lines)
        if line.startswith(" " * depth + folder.rsplit("/", 1)[-1] + "/") and _indent(line) == depth
    )
    names = set()
    for line in lines[start + 1 :]:
        if _indent(line) <= depth:
            break
        if _indent(line) == depth + 2:
            names.add(line.split()[0].rstrip("/"))
    return names


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def present(folder: str) -> set[str]:
    """What `folder` holds: its modules and folders, without caches or installed packages."""
    skip = {"__pycache__", "node_modules"}
    if folder == "tests" or folder.count("/"):
        skip.add("__init__.py")
    return {
        path.name
        for path in (ROOT / folder).iterdir()
        if path.name not in skip and (path.is_dir() or path.suffix == ".py")
    }


PACKAGES = ["flux_service", *(f"flux_service/{layer}" for layer in
            ("stores", "upstream", "generation", "wire", "web"))]  # fmt: skip


@pytest.mark.parametrize("folder", [*PACKAGES, "tests"])
def test_the_docs_map_every_module_and_folder(folder: str) -> None:
    assert mapped(folder) == present(folder)


def test_benchmark_figures_are_linked_from_the_files_the_runs_write() -> None:
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    shown = page + (ROOT / "README.md").read_text()
    for report in ("bench/results/latest.md", "bench/results/soak.md"):
        assert f"](../{report})" in page  # relative to docs/
        first = (ROOT / report).read_text().splitlines()[0]
        assert first.startswith(("Measured ", "Soaked "))
        # The report's own lines are nowhere in the docs: not one of them was pasted.
        tables = [line for line in (ROOT / report).read_text().splitlines() if "|" in line]
        pasted = [line for line in tables if line in shown and line.strip("|- ")]
        assert pasted == []
