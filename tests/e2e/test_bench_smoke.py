"""The benchmark suite, for a second or two per scenario, so that it cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import TARGETS
from bench.run import SCENARIOS

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.slow
def test_the_benchmark_suite_runs_and_reports(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "latest.json").read_text())
    assert set(SCENARIOS) <= set(results)
    for row in results["waiting"].values():
        if isinstance(row, dict):
            assert row["completed"] == 10
            assert row["errors"] == {}
    assert results["serving"]["service"]["requests_per_s"] > 0
    assert results["serving"]["nginx"]["requests_per_s"] > 0
    assert results["ceiling"]["generations_per_s"] > 0
    assert results["mcp"]["1_clients"]["mcp"]["requests"] > 0
    assert results["mcp"]["1_clients"]["mcp"]["errors"] == {}
    report = (tmp_path / "latest.md").read_text()
    for target in TARGETS:
        assert target.what in report
    assert (tmp_path / "latency.png").read_bytes().startswith(b"\x89PNG")
