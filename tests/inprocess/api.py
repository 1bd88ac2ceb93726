"""The requests in-process tests repeat, and reading their answers."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from PIL import Image
from werkzeug.test import TestResponse

from config import Settings, load_settings
from flux_service.launcher import standin_env
from tests.helpers import API_KEY, OPTIMIZER_KEY, STANDIN_TOKEN, decode

STANDIN_URL = "http://standin.test"  # where the in-process stand-in answers
BASE_ENV = {
    **standin_env(STANDIN_URL, STANDIN_TOKEN),
    "API_KEY": API_KEY,
    "UPSTREAM_TIMEOUT": "10",
    "EXTERNAL_API_BASE": f"{STANDIN_URL}/openai/v1",
    "EXTERNAL_MODEL": "standin-writer",
    "EXTERNAL_API_KEY": OPTIMIZER_KEY,
    # Tests count the upstream calls their requests make; the reuse tests turn reuse on.
    "REUSE_IMAGES": "false",
}


def settings_with(**env: str) -> Settings:
    """The settings of a test app: BASE_ENV with `env` over it, as the environment would give."""
    return load_settings({**BASE_ENV, **env}, env_file=None)


class Api:
    """The requests tests repeat, made with the test key through a test client."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def post(self, path: str, body: object, key: str = API_KEY) -> TestResponse:
        return self.client.post(path, json=body, headers={"Authorization": f"Bearer {key}"})

    def chat(self, prompt: str, **fields: object) -> TestResponse:
        """A chat request with one user message."""
        return self.post("/v1/chat/completions", {"messages": user(prompt), **fields})

    def answer(self, prompt: str, **fields: object) -> str:
        """The text of a successful chat answer, streamed or not."""
        response = self.chat(prompt, **fields)
        assert response.status_code == 200, response.get_data(as_text=True)
        if fields.get("stream"):
            return streamed_text(response)
        return response.get_json()["choices"][0]["message"]["content"]

    def images(self, **body: object) -> TestResponse:
        return self.post("/v1/images/generations", body)

    def picture(self, item: dict) -> Image.Image:
        """The image of an Images API answer's item: its base64, or fetched from its URL."""
        return decode(item["b64_json"]) if "b64_json" in item else self.image(item["url"])

    def image(self, url: str) -> Image.Image:
        """The image an answer links to, fetched from the app."""
        response = self.client.get(urlsplit(url).path)
        assert response.status_code == 200, response.get_data(as_text=True)
        return decode(response.data)


def user(prompt: str) -> list[dict]:
    return [{"role": "user", "content": prompt}]


def events(response: TestResponse) -> list[dict]:
    """The JSON data events of a streamed answer, named or not, without [DONE]."""
    lines = response.get_data(as_text=True).splitlines()
    return [json.loads(line[6:]) for line in lines if line.startswith("data: {")]


def streamed_text(response: TestResponse) -> str:
    """The content a streamed chat answer carried."""
    return "".join(
        chunk["choices"][0]["delta"].get("content") or ""
        for chunk in events(response)
        if chunk.get("choices")
    )
