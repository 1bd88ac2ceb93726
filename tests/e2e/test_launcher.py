"""`make run` itself: without credentials it serves the demo, and a bad setting is a failed
start (gunicorn's exit status), never a silent exit 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_bad_setting_in_demo_mode_fails_make_run() -> None:
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("CF_", "API_"))
    }
    run = subprocess.run(
        [sys.executable, "-m", "flux_service.launcher"],
        cwd=ROOT,
        env={**env, "WEB_CONCURRENCY": "2", "PORT": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "DEMO MODE" in run.stdout
    assert "WEB_CONCURRENCY=2 needs a shared image store" in run.stderr
    assert run.returncode != 0
