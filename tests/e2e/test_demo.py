"""The demo `make run` serves without credentials, with nothing set but PROMPT_OPTIMIZATION:
the optimizer runs on the stand-in's Workers AI, as it would on Cloudflare's with one token."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import requests

from tests.servers import Server, free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_optimizes_prompts_on_workers_ai_with_nothing_else_set(tmp_path: Path) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CF_", "API_", "EXTERNAL_", "OPTIMIZER_"))
    }
    port = free_port()
    banner = tmp_path / "banner.txt"
    with banner.open("w") as out:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "flux_service.launcher"],
            cwd=ROOT,
            env={**env, "PORT": str(port), "PROMPT_OPTIMIZATION": "true"},
            stdout=out,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, as a terminal's Ctrl-C reaches
        )
    try:
        url = f"http://127.0.0.1:{port}"
        # Gunicorn listens before its worker has loaded the app, so a busy machine can hold a
        # first request past any short read timeout: any failure only means "not up yet".
        wait_until_up(Server(launcher, url), "/healthz")
        key = re.search(r"API key: (\S+)", banner.read_text())
        assert key is not None
        response = requests.post(
            f"{url}/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "雪の中の赤いキツネ"}]},
            headers={"Authorization": f"Bearer {key[1]}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        answer = response.json()["choices"][0]["message"]["content"]
        assert "Prompt model: @cf/google/gemma-4-26b-a4b-it" in answer
        assert "Original prompt: 雪の中の赤いキツネ" in answer
        english = "A richly detailed image of a red fox in the snow"
        assert f"Prompt sent to the model: {english}" in answer
    finally:
        os.killpg(launcher.pid, signal.SIGINT)  # Ctrl-C: gunicorn, the stand-in, the launcher
        launcher.wait(timeout=30)
