"""gunicorn.conf.py's hooks for the metrics: a fresh folder each start, a dead worker's live
gauges removed, the folder gone at exit, and ssl never loaded into the master meanwhile."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The master's part, played in a process of its own: start twice, lose a worker, stop.
MASTER = """
import json, os, runpy, sys, types
conf = runpy.run_path("gunicorn.conf.py")
first, second = types.SimpleNamespace(), types.SimpleNamespace()
conf["on_starting"](second)
conf["on_starting"](first)
folder = first.metrics_dir
seen = {"fresh": os.listdir(folder), "own": folder != second.metrics_dir}
seen["variable"] = os.environ["PROMETHEUS_MULTIPROC_DIR"] == folder
for name in ("gauge_livesum_4242.db", "gauge_livesum_4343.db", "counter_4242.db"):
    open(os.path.join(folder, name), "wb").close()
conf["child_exit"](first, types.SimpleNamespace(pid=4242))
seen["left"] = sorted(os.listdir(folder))
seen["ssl"] = "ssl" in sys.modules
for server in (first, second):
    conf["on_exit"](server)
seen["removed"] = not os.path.exists(folder) and not os.path.exists(second.metrics_dir)
print(json.dumps(seen))
"""


def test_the_master_prepares_and_tidies_the_metrics_folder() -> None:
    env = {"CF_ACCOUNT_ID": "a", "CF_API_TOKEN": "t", "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-c", MASTER], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {
        "fresh": [],
        "own": True,
        "variable": True,
        # The dead worker's live gauge goes; its counters stay in the totals.
        "left": ["counter_4242.db", "gauge_livesum_4343.db"],
        "ssl": False,
        "removed": True,
    }
