"""A chat model that calls tools, for the MCP test of Open WebUI: a small server speaking
OpenAI's chat API on loopback, streamed or not.

Asked with tools, and no tool's result in the conversation yet, it asks for the tool whose
name ends in `generate_image`, with the last message as the prompt. Given the tool's result
(Open WebUI sends the picture after it, as a user message), it answers in a sentence.
Asked without tools (a chat app's title, tags or follow-ups), it answers with JSON each of
those tasks can read. It keeps every request it got, for the test to read.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "painter"
ANSWER = "Here is your picture."
TASKS = json.dumps({"title": "A picture", "tags": ["Art"], "follow_ups": []})


class ToolModel:
    """The server, its base URL (ending in /v1) and the chat requests it got."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        model = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    model._send_json(self, {"object": "list", "data": [_model_entry()]})
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                model.requests.append(body)
                model.answer(self, body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def tool_calls(self) -> list[dict]:
        """The tool calls it asked for, in order."""
        return [call for body in self.requests for call in _called(body)]

    def tool_results(self) -> list[Any]:
        """What the chat app sent back as the tools' results."""
        return [m["content"] for body in self.requests for m in body.get("messages", [])
                if m.get("role") == "tool"]  # fmt: skip

    def answer(self, handler: BaseHTTPRequestHandler, body: dict) -> None:
        messages = body.get("messages") or [{}]
        tool = next(
            (t["function"]["name"] for t in body.get("tools") or []
             if t.get("function", {}).get("name", "").endswith("generate_image")),
            None,
        )  # fmt: skip
        last = messages[-1]
        answered = any(message.get("role") == "tool" for message in messages)
        if tool is not None and not answered:
            call = {
                "id": f"call_{len(self.requests)}",
                "type": "function",
                "function": {"name": tool, "arguments": json.dumps({"prompt": _text(last)})},
            }
            message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
            finish = "tool_calls"
        else:
            text = ANSWER if answered else TASKS
            message, finish = {"role": "assistant", "content": text}, "stop"
        if body.get("stream"):
            self._send_stream(handler, message, finish)
        else:
            choice = {"index": 0, "message": message, "finish_reason": finish}
            self._send_json(handler, {**_completion("chat.completion"), "choices": [choice]})

    @staticmethod
    def _send_json(handler: BaseHTTPRequestHandler, body: dict) -> None:
        data = json.dumps(body).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    @staticmethod
    def _send_stream(handler: BaseHTTPRequestHandler, message: dict, finish: str) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Connection", "close")
        handler.end_headers()
        delta = {"role": "assistant"}
        if message.get("tool_calls"):
            delta["tool_calls"] = [{"index": 0, **call} for call in message["tool_calls"]]
        else:
            delta["content"] = message["content"]
        chunk = _completion("chat.completion.chunk")
        for choice in (
            {"delta": delta, "finish_reason": None},
            {"delta": {}, "finish_reason": finish},
        ):
            event = {**chunk, "choices": [{"index": 0, **choice}]}
            handler.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.close_connection = True


def _model_entry() -> dict:
    return {"id": MODEL, "object": "model", "created": 0, "owned_by": "tests"}


def _completion(kind: str) -> dict:
    return {"id": "chatcmpl-tool-model", "object": kind, "created": 0, "model": MODEL}


def _called(body: dict) -> list[dict]:
    return [call for m in body.get("messages", []) for call in m.get("tool_calls") or []]


def _text(message: dict) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if part.get("type") == "text")
    return str(content)
