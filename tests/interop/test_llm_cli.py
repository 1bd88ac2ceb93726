"""The `llm` command line tool with the service as an extra OpenAI model: what it prints is
the markdown answer, whose link is the picture, streamed or not, and a picture passed with
`-a` reaches the model that edits."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.e2e.service import Service
from tests.helpers import API_KEY, Standin, fetch_image, image_url
from tests.interop.clients import Pictures, assert_drew_from, clean_env, program, run_program
from tests.pictures import encoded, pattern

CLIENT = "llm 0.36"
PICTURE = pattern(900, 600)


@pytest.fixture
def llm(service: Service, tmp_path: Path) -> Callable[..., str]:
    """Run `llm` with a fresh user folder that knows the service as the model `flux`."""
    models = [
        {
            "model_id": "flux",
            "model_name": "flux",
            "api_base": f"{service.url}/v1",
            "api_key_name": "flux",
            "vision": True,  # lets `-a` attach pictures
        }
    ]
    (tmp_path / "extra-openai-models.yaml").write_text(yaml.safe_dump(models, sort_keys=False))
    (tmp_path / "keys.json").write_text(json.dumps({"flux": API_KEY}))
    env = clean_env(LLM_USER_PATH=str(tmp_path))

    def run(*arguments: str | Path) -> str:
        return run_program([program("llm", "llm"), "-m", "flux", *arguments], env=env, cwd=tmp_path)

    return run


@pytest.mark.parametrize("options", [[], ["--no-stream"]], ids=["streamed", "no-stream"])
def test_llm_prints_the_answer_whose_link_is_the_picture(
    llm: Callable[..., str], pictures: Pictures, standin: Standin, options: list[str]
) -> None:
    printed = llm(*options, "a red fox 16:9")
    assert "Image size: 1024x576" in printed
    assert standin.received()[0]["inputs"]["prompt"] == "a red fox"  # the ratio was read
    response, image = fetch_image(image_url(printed))
    assert image.size == (1024, 576)
    assert response.headers["Content-Type"] == f"image/{image.format.lower()}"
    assert pictures.shown(CLIENT, 1) == 1


def test_an_attached_picture_is_edited(
    llm: Callable[..., str], pictures: Pictures, standin: Standin, tmp_path: Path
) -> None:
    path = tmp_path / "picture.png"
    path.write_bytes(encoded(PICTURE))
    printed = llm("-a", path, "make the sky purple")
    assert "Images worked from: attached (900x600)" in printed
    assert fetch_image(image_url(printed))[1].size == (1024, 683)  # the picture's own 3:2
    assert_drew_from(standin, PICTURE)
    assert pictures.shown(CLIENT, 1) == 1
