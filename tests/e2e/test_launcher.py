"""`make run` itself: without credentials it serves the demo, a bad setting is a failed start
(gunicorn's exit status), never a silent exit 0, and a stop signal stops gunicorn as it asks."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import requests

from tests.helpers import FOX, Standin
from tests.servers import Server, free_port, wait_until_up

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


def command_of(process: psutil.Process) -> str:
    """What `process` runs, or what became of it."""
    try:
        return " ".join(process.cmdline())
    except psutil.Error as error:
        return f"({type(error).__name__})"


def test_sigterm_to_the_demo_lets_a_drawing_finish_then_stops_the_standin(tmp_path: Path) -> None:
    """As `docker stop` does to a container whose first process is the launcher."""
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("CF_", "API_"))
    }
    port = free_port()
    said = tmp_path / "stderr.txt"
    with (
        said.open("w") as errors,
        subprocess.Popen(
            [sys.executable, "-m", "flux_service.launcher"],
            cwd=ROOT,
            env={**env, "PORT": str(port)},
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            start_new_session=True,  # a group of its own, for the finally below
        ) as launcher,
    ):
        try:
            assert launcher.stdout is not None
            key = next(line.split()[-1] for line in launcher.stdout if "API key:" in line)
            url = f"http://127.0.0.1:{port}"
            wait_until_up(Server(launcher, url), "/healthz")
            children = psutil.Process(launcher.pid).children()
            commands = {child.pid: command_of(child) for child in children}
            standins = [child for child in children if "standin" in commands[child.pid]]
            assert len(standins) == 1, f"children {commands}, stderr:\n{said.read_text()[-4000:]}"
            (standin_process,) = standins
            (listening,) = standin_process.net_connections("tcp")
            standin = Standin(requests.Session(), f"http://127.0.0.1:{listening.laddr.port}")
            standin.configure(latency=2)
            answers: list[tuple[int, dict]] = []

            def ask() -> None:
                headers = {"Authorization": f"Bearer {key}"}
                body = {"messages": FOX}
                with requests.post(f"{url}/v1/chat/completions", json=body, headers=headers) as got:
                    answers.append((got.status_code, got.json()))

            asking = threading.Thread(target=ask)
            asking.start()
            deadline = time.monotonic() + 10
            while not standin.received():
                assert time.monotonic() < deadline, "the drawing never reached the stand-in"
                time.sleep(0.05)
            standin.session.close()
            launcher.send_signal(signal.SIGTERM)
            asking.join()
            assert launcher.wait(timeout=35) == 0
        finally:  # whatever of the launcher's is still running, should the test fail
            with contextlib.suppress(ProcessLookupError):
                os.killpg(launcher.pid, signal.SIGKILL)
    ((status, answer),) = answers
    assert status == 200
    assert "![" in answer["choices"][0]["message"]["content"]
    assert not any(child.is_running() for child in children)
