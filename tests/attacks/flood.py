"""A flood from a process of its own, so that its work does not slow the client that measures:
`python -m tests.attacks.flood URL COUNT ROUNDS` posts COUNT over-long prompts at once, ROUNDS
times over, from the attacker's address, and prints how many of each status came back."""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections import Counter

from tests.helpers import API_KEY

ATTACKER = "127.0.0.2"
PROMPT_BYTES = 900_000


def post(host: str, port: int, body: bytes, statuses: Counter[str], lock: threading.Lock) -> None:
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: flood\r\nAuthorization: Bearer {API_KEY}\r\n"
        "Content-Type: application/json\r\nConnection: close\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    try:
        with socket.create_connection((host, port), timeout=60, source_address=(ATTACKER, 0)) as s:
            s.sendall(head + body)
            status = s.recv(64).split(b" ")[1].decode()
    except OSError as error:
        status = type(error).__name__
    with lock:
        statuses[status] += 1


def main() -> None:
    url, count, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"messages": [{"role": "user", "content": "x " * (PROMPT_BYTES // 2)}]})
    statuses: Counter[str] = Counter()
    lock = threading.Lock()
    for _ in range(rounds):
        threads = [
            threading.Thread(target=post, args=(host, int(port), body.encode(), statuses, lock))
            for _ in range(count)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    print(json.dumps(statuses))


if __name__ == "__main__":
    main()
