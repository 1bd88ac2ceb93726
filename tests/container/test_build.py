"""Rebuilding the image: nothing is done again when nothing changed, a change to the
service's code leaves the base, Python and the dependencies' layers as they were, and what a
work tree holds beside the code (.env, caches) stays out."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.container.podman import ROOT, Podman

# What the Dockerfile copies, and what a build reads beside it.
CONTEXT = (
    "Dockerfile", ".dockerignore", "requirements.txt", "Procfile", "app.py", "config.py",
    "gunicorn.conf.py", "openapi.yaml",
)  # fmt: skip


def test_a_rebuild_with_no_change_makes_the_same_image(
    podman: Podman, flux_image: str, figures: dict[str, str]
) -> None:
    seconds = podman.build(ROOT, "localhost/flux-api:again")
    figures["rebuild, nothing changed"] = f"{seconds:.1f} s"
    assert podman.layers("localhost/flux-api:again") == podman.layers(flux_image)


def test_a_change_to_the_code_keeps_the_dependency_layers(
    podman: Podman, flux_image: str, figures: dict[str, str], tmp_path: Path
) -> None:
    for name in CONTEXT:
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(
        ROOT / "flux_service",
        tmp_path / "flux_service",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    with (tmp_path / "app.py").open("a") as app:
        app.write("# changed\n")
    # What a work tree holds beside the code, and .dockerignore keeps out.
    (tmp_path / ".env").write_text("API_KEY=sk-planted-in-the-work-tree\n")
    (tmp_path / "flux_service" / "__pycache__").mkdir()
    (tmp_path / "flux_service" / "__pycache__" / "planted.cpython-311.pyc").write_bytes(b"")
    seconds = podman.build(tmp_path, "localhost/flux-api:changed")
    figures["rebuild, app.py changed"] = f"{seconds:.1f} s"
    before, after = podman.layers(flux_image), podman.layers("localhost/flux-api:changed")
    # The base, Debian's Python with the service's user, and the virtualenv stay; the
    # service's files and what follows them are new.
    assert len(after) == len(before) == 6
    assert after[:3] == before[:3]
    assert after[3] != before[3]
    look = "ls -A /app /app/flux_service/__pycache__; env"
    inside = podman("run", "--rm", "localhost/flux-api:changed", "sh", "-c", look).stdout
    assert "planted" not in inside
    assert ".env" not in inside.split()
