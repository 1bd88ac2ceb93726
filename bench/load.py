"""The load generator: a process of its own that drives HTTP load and prints what it measured.

    python -m bench.load post    '<json plan>'   closed loop of POSTs: latency of each
    python -m bench.load streams '<json plan>'   streamed chats: first byte and completion

A plan names the URL, headers and body (or a `body_file` holding it), and how much load:
`concurrency` clients for `duration` seconds (each starts its next request when its last
one ends), or `count` requests all open together (started at once, or evenly over `ramp`
seconds). The result
is one JSON object on stdout.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections import Counter

import aiohttp

IMAGE = re.compile(rb"!\[[^\]]*\]\((\S+?)\)")


async def timed_post(session: aiohttp.ClientSession, plan: dict) -> tuple[float, str | None]:
    """One POST: its latency in seconds, and an error name or None."""
    started = time.perf_counter()
    try:
        async with session.post(plan["url"], data=plan["data"], headers=plan["headers"]) as reply:
            await reply.read()
            error = None if reply.status == 200 else f"HTTP {reply.status}"
    except (TimeoutError, aiohttp.ClientError) as exc:
        error = type(exc).__name__
    return time.perf_counter() - started, error


async def timed_stream(session: aiohttp.ClientSession, plan: dict) -> dict:
    """One streamed chat: seconds to the first byte and to [DONE], and whether it is whole."""
    started = time.perf_counter()
    first_byte = None
    received = bytearray()
    try:
        async with session.post(plan["url"], data=plan["data"], headers=plan["headers"]) as reply:
            async for piece in reply.content.iter_any():
                if first_byte is None:
                    first_byte = time.perf_counter() - started
                received += piece
            status = reply.status
    except (TimeoutError, aiohttp.ClientError) as exc:
        return {"error": type(exc).__name__}
    whole = received.endswith(b"data: [DONE]\n\n") and IMAGE.search(received) is not None
    error = None if status == 200 and whole else (f"HTTP {status}" if status != 200 else "partial")
    return {"first_byte": first_byte, "done": time.perf_counter() - started, "error": error}


async def closed_loop(plan: dict, run_one) -> list:
    """`concurrency` clients, each sending one request after another for `duration` seconds.

    Client starts are spread over `stagger` seconds (one upstream latency), so requests
    arrive at a steady rate as real users' do, not in waves of `concurrency` at once.
    """
    started = time.perf_counter()
    deadline = started + plan["duration"]
    spread = plan.get("stagger", 0) / plan["concurrency"]
    results: list = []

    async def client(session: aiohttp.ClientSession, index: int) -> None:
        await asyncio.sleep(index * spread)
        while time.perf_counter() < deadline:
            results.append(await run_one(session, plan))

    async with _session(plan) as session:
        await asyncio.gather(*(client(session, i) for i in range(plan["concurrency"])))
    return results


async def all_together(plan: dict, run_one) -> list:
    """`count` requests, all open at the same time: started at once, or spread evenly over
    `ramp` seconds."""
    spread = plan.get("ramp", 0) / plan["count"]

    async def one(session: aiohttp.ClientSession, index: int):
        await asyncio.sleep(index * spread)
        return await run_one(session, plan)

    async with _session(plan) as session:
        return await asyncio.gather(*(one(session, i) for i in range(plan["count"])))


def _session(plan: dict) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=0, force_close=plan.get("force_close", False))
    timeout = aiohttp.ClientTimeout(total=plan.get("timeout", 120))
    return aiohttp.ClientSession(connector=connector, timeout=timeout)


def main() -> None:
    mode, plan = sys.argv[1], json.loads(sys.argv[2])
    if "body_file" in plan:  # a body too large for the command line (an attached photo)
        with open(plan.pop("body_file"), "rb") as body:
            plan["data"] = body.read()
    else:
        plan["data"] = json.dumps(plan["body"]).encode()
    # Encoded once: the time to encode a body is the client's, not the service's.
    plan["headers"] = {**plan["headers"], "Content-Type": "application/json"}
    started = time.perf_counter()
    if mode == "post":
        results = asyncio.run(closed_loop(plan, timed_post))
        report = {
            "latencies": [latency for latency, error in results if error is None],
            "errors": dict(Counter(error for _, error in results if error)),
        }
    else:
        run = all_together if "count" in plan else closed_loop
        streams = asyncio.run(run(plan, timed_stream))
        report = {
            "first_bytes": [s["first_byte"] for s in streams if s.get("first_byte") is not None],
            "completions": [s["done"] for s in streams if not s.get("error")],
            "errors": dict(Counter(s["error"] for s in streams if s.get("error"))),
        }
    report["seconds"] = time.perf_counter() - started
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
