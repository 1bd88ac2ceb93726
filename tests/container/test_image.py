"""The image as `docker run` runs it: the demo without credentials, Cloudflare's API (here
the stand-in on this machine) with them, pictures on a named volume, the health check, and
SIGTERM while a picture is being drawn."""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import requests

from flux_service.launcher import standin_env
from tests.container.checks import PROMPT, demo_key, draw_a_fox, fetch, wait_for
from tests.container.podman import ROOT, Container, Podman
from tests.helpers import API_KEY, STANDIN_TOKEN, Standin
from tests.servers import free_port

# What runs inside a container to reach the demo's stand-in: it listens on the one loopback
# port of the container's own network (gunicorn listens on every address).
STANDIN_CALL = """
import sys, urllib.request as u
for line in open('/proc/net/tcp').read().splitlines()[1:]:
    local, state = line.split()[1], line.split()[3]
    if state == '0A' and local.startswith('0100007F:'):
        port = int(local.split(':')[1], 16)
body = sys.argv[2].encode() if len(sys.argv) > 2 else None
url = f'http://127.0.0.1:{port}{sys.argv[1]}'
request = u.Request(url, body, {'Content-Type': 'application/json'})
print(u.build_opener(u.ProxyHandler({})).open(request, timeout=5).read().decode())
"""


@pytest.fixture
def run(podman: Podman, flux_image: str) -> Iterator[Callable[..., Container]]:
    """`podman run --detach` of the image with the options given; each container is removed
    at the end."""
    started: list[Container] = []

    def run(*options: str) -> Container:
        container = Container(podman, f"flux-{uuid.uuid4().hex[:8]}")
        started.append(container)
        podman("run", "--detach", "--name", container.name, *options, flux_image)
        return container

    try:
        yield run
    finally:
        for container in started:
            container.remove()


def published(port: int) -> list[str]:
    """The options of `docker run -p`, on loopback, with the service on the same port."""
    return ["--publish", f"127.0.0.1:{port}:{port}", "--env", f"PORT={port}"]


def test_the_image_runs_the_launcher_as_a_user_with_no_settings_inside(
    podman: Podman, flux_image: str
) -> None:
    (image,) = json.loads(podman("image", "inspect", flux_image).stdout)
    config = image["Config"]
    assert config["User"] == "10001:10001"
    assert config["Cmd"] == ["python3", "-m", "flux_service.launcher"]
    assert "8000/tcp" in config["ExposedPorts"]
    assert "/healthz" in " ".join(image["Healthcheck"]["Test"])
    look = "id -u; stat -c %u:%g /data; ls -A /app; cat /app/Procfile"
    inside = podman("run", "--rm", flux_image, "sh", "-c", look).stdout.splitlines()
    assert inside[:2] == ["10001", "10001:10001"]
    assert inside[-1] == (ROOT / "Procfile").read_text().strip()
    files = set(inside[2:-1])
    assert {"app.py", "config.py", "gunicorn.conf.py", "openapi.yaml", "flux_service"} <= files
    assert not files & {".env", ".git", "tests", ".venv"}


def test_without_credentials_it_serves_the_demo_with_the_key_it_prints(
    run: Callable[..., Container], podman: Podman
) -> None:
    port = free_port()
    container = run(*published(port))
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/healthz")
    assert "DEMO MODE" in container.logs()
    draw_a_fox(url, demo_key(container))
    # The image's HEALTHCHECK, run once (podman schedules it with systemd, absent here).
    assert podman("healthcheck", "run", container.name, check=False).returncode == 0
    assert container.state("Health.Status") == "healthy"


def test_it_answers_its_health_check_within_seconds_of_starting(
    run: Callable[..., Container], standin: Standin, figures: dict[str, str]
) -> None:
    """From `podman run` to the first 200 of /healthz, three times in each mode."""
    for mode, options in (("demo", ["--network", "host"]), ("credentials", credentials(standin))):
        seconds = []
        for _ in range(3):
            port = free_port()
            start = time.monotonic()
            container = run(*options, f"--env=PORT={port}")
            wait_for(f"http://127.0.0.1:{port}/healthz")
            seconds.append(time.monotonic() - start)
            container.stop()
        median = statistics.median(seconds)
        every = ", ".join(f"{second:.2f}" for second in seconds)
        figures[f"podman run to first /healthz 200, {mode}"] = f"median {median:.2f} s ({every})"
        assert median < 15


def credentials(standin: Standin) -> list[str]:
    """The settings of a container that serves through the stand-in on this machine, which
    it reaches on the host's network."""
    settings = {**standin_env(standin.url, STANDIN_TOKEN), "API_KEY": API_KEY}
    return ["--network", "host", *(f"--env={name}={value}" for name, value in settings.items())]


def test_with_credentials_pictures_on_a_volume_outlive_a_restart(
    run: Callable[..., Container], standin: Standin
) -> None:
    port = free_port()
    container = run(
        *credentials(standin), f"--env=PORT={port}", "--env=IMAGE_STORE=file:///data",
        "--volume", f"pictures-{uuid.uuid4().hex[:8]}:/data",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/healthz")
    assert "DEMO MODE" not in container.logs()
    link, picture = draw_a_fox(url, API_KEY)
    assert container.stop() < 30  # gunicorn stopped by itself, not killed after 35 s
    container.podman("start", container.name)
    wait_for(f"{url}/healthz")
    assert fetch(link) == picture
    assert len(standin.received()) == 1  # kept, not drawn again


def test_with_credentials_the_example_key_is_refused(podman: Podman, flux_image: str) -> None:
    settings = {**standin_env("http://127.0.0.1:9"), "API_KEY": "sk-change-me"}
    refused = podman(
        "run", "--rm", *(f"--env={name}={value}" for name, value in settings.items()),
        flux_image, check=False, timeout=60,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "the placeholder of .env.example" in refused.stdout + refused.stderr


def ask_in_background(url: str, key: str) -> tuple[threading.Thread, list[tuple[int, str]]]:
    answers: list[tuple[int, str]] = []

    def ask() -> None:
        body = {"messages": [{"role": "user", "content": PROMPT}]}
        headers = {"Authorization": f"Bearer {key}"}
        with requests.Session() as session:
            session.trust_env = False
            with session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as got:
                answers.append((got.status_code, got.text))

    asking = threading.Thread(target=ask)
    asking.start()
    return asking, answers


def stopped_while_drawing(
    container: Container, url: str, key: str, drawing: Callable[[], bool]
) -> float:
    """Ask for a picture, stop the container once the stand-in is drawing it, and check that
    the answer is the picture and the container's exit 0; the seconds the stop took."""
    asking, answers = ask_in_background(url, key)
    deadline = time.monotonic() + 10
    while not drawing():
        assert time.monotonic() < deadline, "the drawing never reached the stand-in"
        time.sleep(0.05)
    seconds = container.stop()
    asking.join()
    ((status, body),) = answers
    assert status == 200, body
    assert "/image/" in body
    # Whatever the first process is, it ended with gunicorn's status; had anything lingered
    # (in the demo, the stand-in), podman would have killed it after 35 s (exit 137).
    assert container.state("ExitCode") == "0"
    assert "Handling signal: term" in container.logs()
    return seconds


def test_sigterm_lets_a_drawing_finish_then_gunicorn_exits_0(
    run: Callable[..., Container], standin: Standin
) -> None:
    """With credentials the launcher becomes gunicorn, the container's first process."""
    standin.configure(latency=3)
    port = free_port()
    container = run(*credentials(standin), f"--env=PORT={port}")
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/healthz")
    seconds = stopped_while_drawing(container, url, API_KEY, lambda: bool(standin.received()))
    assert 1 < seconds < 30


def test_sigterm_in_the_demo_lets_a_drawing_finish_then_stops_the_standin(
    run: Callable[..., Container],
) -> None:
    """In the demo the launcher stays the first process, with gunicorn and the stand-in its
    children: SIGTERM must reach gunicorn, and the stand-in must outlive the drawing."""
    port = free_port()
    container = run(*published(port))
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/healthz")

    def standin(path: str, body: str = "") -> str:
        return container.exec("python3", "-c", STANDIN_CALL, path, *[body] * bool(body)).stdout

    standin("/_standin/config", json.dumps({"latency": 3}))
    drawing = lambda: json.loads(standin("/_standin/requests")) != []  # noqa: E731
    seconds = stopped_while_drawing(container, url, demo_key(container), drawing)
    assert 1 < seconds < 30


def test_the_demo_standin_listens_on_the_containers_loopback_only(
    run: Callable[..., Container],
) -> None:
    port = free_port()
    container = run(*published(port))
    wait_for(f"http://127.0.0.1:{port}/healthz")
    table = container.exec("cat", "/proc/net/tcp").stdout.splitlines()[1:]
    listening = [line.split()[1] for line in table if line.split()[3] == "0A"]
    # gunicorn on every address, the stand-in on 127.0.0.1
    assert sorted(address.split(":")[0] for address in listening) == ["00000000", "0100007F"]
