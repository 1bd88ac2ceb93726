"""LiteLLM's proxy (1.108.7) in front of the service, with litellm.yaml as docs/clients.md
shows it, and the openai SDK as the proxy's caller; then LiteLLM's own SDK straight to the
service.

The proxy drops `response_format` (drop_params), always adds `stream_options` to streamed
chat, and sends edits under `image[]`: each test shows that the caller still gets its
pictures, and what the stand-in drew for them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import openai
import pytest

from tests.e2e.service import Service
from tests.helpers import API_KEY, Standin, decode, fetch_image, image_url
from tests.interop.clients import (
    HERE,
    Pictures,
    ThirdPartyServer,
    assert_drew_from,
    clean_env,
    clients_page_block,
    program,
    run_program,
    serve,
)
from tests.pictures import encoded, pattern

# The proxy takes most of a minute to start, and LiteLLM's SDK half a minute to import.
pytestmark = pytest.mark.timeout(240)

CLIENT = "LiteLLM proxy 1.108.7"
MASTER_KEY = "sk-litellm-master"
FOX = [{"role": "user", "content": "a red fox in deep snow 16:9"}]
PICTURE = pattern(900, 600)
# LiteLLM's SDK, run by its own Python: one image, printed as LiteLLM parsed it.
SDK_CALL = """
import json, sys, litellm
answer = litellm.image_generation(
    model="openai/flux", api_base=sys.argv[1], api_key=sys.argv[2], prompt="a red fox"
)
print(json.dumps(answer.model_dump()))
"""


def litellm_env(**settings: str) -> dict[str, str]:
    # The cost map is read from the package, not fetched.
    return clean_env(LITELLM_LOCAL_MODEL_COST_MAP="True", **settings)


@pytest.fixture(scope="module")
def proxy(
    make_service: Callable[..., Service], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThirdPartyServer]:
    """The proxy, with no database: the master key is its only key."""
    service = make_service()
    env = litellm_env(
        FLUX_API_BASE=f"{service.url}/v1", FLUX_API_KEY=API_KEY, LITELLM_MASTER_KEY=MASTER_KEY
    )
    command = [program("litellm", "litellm"), "--config", HERE / "litellm.yaml"]
    command += ["--host", "127.0.0.1", "--port", "{port}"]
    log = tmp_path_factory.mktemp("litellm") / "litellm.log"
    with serve(command, env, "/health/liveliness", log) as running:
        yield running


@pytest.fixture
def caller(proxy: ThirdPartyServer) -> Iterator[openai.OpenAI]:
    """The openai SDK, calling the proxy with its master key."""
    with openai.OpenAI(
        base_url=f"{proxy.url}/v1", api_key=MASTER_KEY, max_retries=0, timeout=60
    ) as client:
        yield client


def test_chat_through_the_proxy(caller: openai.OpenAI, pictures: Pictures) -> None:
    content = caller.chat.completions.create(model="flux", messages=FOX).choices[0].message.content
    assert "Image size: 1024x576" in content
    assert fetch_image(image_url(content))[1].size == (1024, 576)
    assert pictures.shown(CLIENT, 1) == 1


def test_streamed_chat_through_the_proxy_ends_with_the_usage(
    caller: openai.OpenAI, pictures: Pictures
) -> None:
    stream = caller.chat.completions.create(
        model="flux", messages=FOX, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens > 0
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert fetch_image(image_url(content))[1].size == (1024, 576)
    assert pictures.shown(CLIENT, 1) == 1


def test_images_without_a_format_come_as_base64(caller: openai.OpenAI, pictures: Pictures) -> None:
    answer = caller.images.generate(model="flux", prompt="a red fox", size="512x512")
    assert answer.data is not None
    (item,) = answer.data
    assert item.url is None
    assert decode(item.b64_json).size == (512, 512)
    assert pictures.shown(CLIENT, 1) == 1


def test_dall_e_3_by_name_answers_with_a_url(caller: openai.OpenAI, pictures: Pictures) -> None:
    answer = caller.images.generate(
        model="dall-e-3", prompt="a red fox", size="1024x1024", response_format="url"
    )
    assert answer.data is not None
    (item,) = answer.data
    assert item.b64_json is None
    response, image = fetch_image(item.url)
    assert image.size == (1024, 1024)
    assert response.headers["Content-Type"] == f"image/{image.format.lower()}"
    assert pictures.shown(CLIENT, 1) == 1


def test_an_edit_through_the_proxy(
    caller: openai.OpenAI, pictures: Pictures, standin: Standin
) -> None:
    answer = caller.images.edit(
        model="flux", image=("picture.png", encoded(PICTURE), "image/png"), prompt="a moon"
    )
    assert answer.data is not None
    assert decode(answer.data[0].b64_json).size == (1024, 683)  # the picture's own 3:2
    assert_drew_from(standin, PICTURE)
    assert pictures.shown(CLIENT, 1) == 1


def test_the_service_s_error_reaches_the_caller(caller: openai.OpenAI, pictures: Pictures) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        caller.images.generate(model="flux", prompt="")
    assert caught.value.status_code == 400
    assert "`prompt` must be a non-empty string." in caught.value.message
    assert pictures.shown(CLIENT, 0) == 0


def test_litellm_s_sdk_draws_an_image(service: Service, pictures: Pictures) -> None:
    python = program("litellm", "python")
    printed = run_program(
        [python, "-c", SDK_CALL, f"{service.url}/v1", API_KEY], env=litellm_env(), timeout=110
    )
    (item,) = json.loads(printed)["data"]
    assert item["url"] is None
    assert decode(item["b64_json"]).size == (1024, 1024)
    assert pictures.shown("LiteLLM SDK 1.108.7", 1) == 1


def test_the_docs_show_this_configuration() -> None:
    block = clients_page_block("### LiteLLM in front", "yaml")
    assert block == (HERE / "litellm.yaml").read_text()
