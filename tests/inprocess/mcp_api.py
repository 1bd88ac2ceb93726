"""MCP requests through a test client, and reading their answers: each answer checked
against the spec's schema of the revision it speaks."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask.testing import FlaskClient
from PIL import Image
from werkzeug.test import TestResponse

from tests.helpers import API_KEY, decode
from tests.mcp_messages import MODERN, call
from tests.mcp_schemas import answer_names, check


class Mcp:
    """An MCP client of the app, with the test key."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def post(
        self, body: object, headers: dict[str, str] | None = None, key: str | None = API_KEY
    ) -> TestResponse:
        sent = {**({"Authorization": f"Bearer {key}"} if key else {}), **(headers or {})}
        return self.client.post("/mcp", json=body, headers=sent)

    def result(self, body: dict, headers: dict[str, str], revision: str = MODERN) -> dict:
        """The result of a request that must succeed, checked against `revision`'s schema."""
        response = self.post(body, headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "application/json"
        answer = response.get_json()
        check(revision, answer_names(revision)[0], answer)
        assert answer["id"] == body["id"]
        return answer["result"]

    def call(self, tool: str, arguments: dict, revision: str = MODERN) -> dict:
        """A tool's result (a tool error too), checked against the schema of `revision`."""
        result = self.result(*call(tool, arguments, revision), revision=revision)
        check(revision, "CallToolResult", result)
        return result

    def error(self, body: object, headers: dict[str, str] | None = None, **options) -> tuple:
        """A refused request's status, JSON-RPC error and id."""
        response = self.post(body, headers, **options)
        assert response.mimetype == "application/json", response.get_data(as_text=True)
        answer = response.get_json()
        assert answer["jsonrpc"] == "2.0"
        assert "result" not in answer
        return response.status_code, answer["error"], answer["id"]

    def pictures(self, result: dict) -> list[Image.Image]:
        """The pictures of a result's image blocks."""
        return [decode(block["data"]) for block in result["content"] if block["type"] == "image"]

    def linked(self, url: str) -> Image.Image:
        """The full picture a result links to, fetched from the app."""
        response = self.client.get(urlsplit(url).path)
        assert response.status_code == 200, response.get_data(as_text=True)
        return decode(response.data)
