"""Whatever one test leaves in the stand-in, the next one never sees: the order tests run in
does not matter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CASES = Path(__file__).resolve().parent / "cases" / "left_behind.py"
ROOT = CASES.parents[3]


def test_faults_a_test_leaves_queued_never_reach_the_next_one() -> None:
    # The review's failing pair in miniature: faults queued and left, then a test that asks
    # for no stand-in of its own. It runs in its own session, in this order, unshuffled.
    ordered = [
        f"{CASES}::test_one_leaves_faults_behind",
        f"{CASES}::test_two_finds_a_clean_stand_in",
    ]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider",
         "--rootdir", str(ROOT), "-q", *ordered],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "2 passed" in run.stdout
