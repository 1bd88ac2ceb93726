"""compose.yaml and compose.scale.yaml, run by podman-compose as they are: the service alone
(the demo without credentials), then two instances behind the README's nginx with Redis and
SeaweedFS, where a picture one instance drew is served by the other."""

from __future__ import annotations

import base64
import contextlib
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.container.checks import demo_key, draw_a_fox, fetch, wait_for
from tests.container.podman import ROOT, Compose, Podman, PodmanError
from tests.helpers import API_KEY
from tests.servers import free_port

# What the compose files read from the shell, set here so that none comes from the machine.
SHELL = (
    "API_KEY", "CF_ACCOUNT_ID", "CF_API_TOKEN", "CF_ACCOUNTS", "WEB_CONCURRENCY", "PORT",
    "S3_ACCESS_KEY", "S3_SECRET_KEY",
)  # fmt: skip
# Run inside an instance: the bytes of one of its own URLs, in base64.
FETCH = (
    "import base64, sys, urllib.request as u; "
    "sys.stdout.write(base64.b64encode(u.build_opener(u.ProxyHandler({}))"
    ".open(sys.argv[1], timeout=5).read()).decode())"
)


@pytest.fixture
def compose(podman: Podman, tmp_path: Path) -> Iterator[Callable[..., Compose]]:
    """A project folder holding copies of the compose files and docs/nginx.conf, and
    podman-compose on one of them; whatever it brings up is brought down at the end."""
    project = tmp_path / "flux-api"
    (project / "docs").mkdir(parents=True)
    for name in ("compose.yaml", "compose.scale.yaml", "docs/nginx.conf"):
        shutil.copy(ROOT / name, project / name)
    made: list[Compose] = []

    def make(file: str, **shell: str) -> Compose:
        made.append(Compose(podman, project, (file,), {name: "" for name in SHELL} | shell))
        return made[-1]

    try:
        yield make
    finally:
        for project_compose in made:  # the session's end removes what this leaves
            with contextlib.suppress(PodmanError, subprocess.TimeoutExpired):
                project_compose("down", "--volumes", timeout=120)


@pytest.mark.usefixtures("flux_image")
def test_compose_up_serves_the_demo(
    compose: Callable[..., Compose], figures: dict[str, str]
) -> None:
    port = free_port()
    alone = compose("compose.yaml", PORT=str(port))
    start = time.monotonic()
    alone("up", "--detach")
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/healthz")
    figures["compose.yaml: up to first /healthz 200"] = f"{time.monotonic() - start:.1f} s"
    service = alone.container("flux-api")
    assert "DEMO MODE" in service.logs()
    draw_a_fox(url, demo_key(service))
    start = time.monotonic()
    alone("stop")
    assert time.monotonic() - start < 30  # gunicorn stopped by itself, not killed after 35 s
    assert service.state("ExitCode") == "0"


@pytest.mark.usefixtures("flux_image", "service_images")
def test_scale_out_serves_every_picture_from_every_instance(
    compose: Callable[..., Compose], figures: dict[str, str]
) -> None:
    port = free_port()
    scaled = compose("compose.scale.yaml", PORT=str(port), API_KEY=API_KEY, WEB_CONCURRENCY="1")
    start = time.monotonic()
    scaled("up", "--detach")
    url = f"http://127.0.0.1:{port}"
    instances = [scaled.container(f"flux-api-{number}") for number in (1, 2)]
    # Each instance's own health check first, as a load balancer would: nginx would give an
    # instance that refused it while starting 10 s off (its fail_timeout).
    for instance in instances:
        deadline = time.monotonic() + 120
        while instance.podman("healthcheck", "run", instance.name, check=False).returncode:
            assert time.monotonic() < deadline, instance.logs()
            time.sleep(0.2)
    figures["compose.scale.yaml: up to both instances healthy"] = (
        f"{time.monotonic() - start:.1f} s"
    )
    wait_for(f"{url}/healthz")
    figures["compose.scale.yaml: up to first /healthz 200 through nginx"] = (
        f"{time.monotonic() - start:.1f} s"
    )
    link, picture = draw_a_fox(url, API_KEY)  # the link is nginx's, as nginx told the instance
    figures["compose.scale.yaml: up to first picture through nginx"] = (
        f"{time.monotonic() - start:.1f} s"
    )
    drew = [instance for instance in instances if "/v1/chat/completions" in instance.logs()]
    assert len(drew) == 1  # one instance drew it
    key_path = link.removeprefix(url)
    for instance in instances:  # and each serves it, from its own address
        served = instance.exec("python3", "-c", FETCH, f"http://127.0.0.1:8000{key_path}").stdout
        assert base64.b64decode(served) == picture
    assert fetch(link) == picture
    # The rate-limit counts and the day's spending are in the one Redis.
    counts = scaled.container("redis").exec("redis-cli", "--scan", "--pattern", "flux:spend:*")
    assert counts.stdout.split()
