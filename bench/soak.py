"""make soak: a few minutes of mixed traffic while the stand-in fails one call in ten.

The stand-in and the service start as `make bench` starts them (the Procfile's command), with
prompt optimization on. Clients chat, streamed and not, ask the Images API for one or two
images as URLs or base64, list models, fetch images, send requests that must be refused,
and leave streams half-read. Every answer is counted by kind. Every image URL handed out
is fetched at once (it must decode), again just before it expires (the same bytes) and just
after (404). The service's RSS is read throughout.

Exit code 1 on any defect: a 500, a failed connection, a lost image, an error the injected
faults cannot explain, an error in the service's log, or a restarted worker.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import heapq
import io
import itertools
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from PIL import Image

from bench.load import IMAGE
from bench.report import measured, table
from bench.run import RESULTS, processes
from config import read_environment
from flux_service.launcher import standin_env
from tests.servers import Server, start_service, start_standin

KEY = "sk-soak-key-5e2a91"
TOKEN = "soak-token"
ACCOUNT = "soak-account"
OPTIMIZER_KEY = "soak-optimizer-key"
PROMPTS = (
    "a red fox in deep snow, golden hour",
    "a lighthouse on a cliff in a storm",
    "a bowl of ramen on a wooden table",
    "an astronaut reading in a hammock",
    "a watercolour of a quiet canal in Venice",
    "a robot watering tomato plants",
)
RATIOS = ("", " 16:9", " 3:4")
# A chat answer or an image check may wait on UPSTREAM_TIMEOUT plus a slow optimizer.
CLIENT_TIMEOUT = 60
# Images are checked this long before and after they expire; the answer is judged with
# EXPIRY_MARGIN to spare, so a check that starts a little late is still judged fairly.
CHECK_LEAD = 3.0
EXPIRY_MARGIN = 1.0
# The worker hands freed memory back every 10 s (gunicorn.conf.py); wait for that once.
TRIM_WAIT = 11.0
# The injected faults that can end a generation with each error code: a request fails with
# the error of its last try, and each failed request used up at least one fault. PASSING
# faults are tried again while UPSTREAM_TIMEOUT allows, so they may also end in a timeout.
PASSING = ("error 500", "error 503", "error 429", "garbage 502", "reset", "cut")
CAUSES = {
    "upstream_error": (
        "error 500", "error 503", "garbage 502", "reset", "cut",
        "success_false", "truncated", "bad_base64", "not_image",
    ),
    "server_is_overloaded": ("error 429",),
    "upstream_timeout": ("delay", *PASSING),
}  # fmt: skip


@dataclass(frozen=True)
class Profile:
    """How long and how hard the soak runs."""

    minutes: float = 3.0
    # About 16 images a second, which the default 256 MB store holds for the whole
    # expiration: the soak checks that images last, not what happens when it is full.
    clients: int = 16
    latency: float = 1.0  # seconds per image at the stand-in
    fault_rate: float = 0.1  # of Workers AI calls, and of optimizer calls
    expiration: int = 60  # IMAGE_EXPIRATION: short, so every image expires within the soak
    warmup: float = 10.0


SMOKE = Profile(minutes=0.25, clients=8, expiration=10, warmup=3.0)


@dataclass
class HandedOut:
    """An image URL handed out, and what its checks found."""

    url: str
    asked: float  # when the request that made it was sent: it expires no earlier than TTL later
    handed: float  # when its URL arrived: it expires no later than TTL after this
    digest: str = ""  # of the bytes first served
    served_before_expiry: bool = False
    gone_after_expiry: bool = False
    lost: bool = False  # not served, or not the same bytes, while it should have been
    outlived: bool = False  # still served after its expiry


@dataclass
class Soak:
    """What the clients share: where to send, and everything they found."""

    url: str
    ttl: int
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    images: list[HandedOut] = field(default_factory=list)
    due: list[tuple[float, int, str, HandedOut]] = field(default_factory=list)  # a heap
    order: itertools.count = field(default_factory=itertools.count)
    base64_images: int = 0

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {KEY}"}

    async def handed_out(self, session: aiohttp.ClientSession, url: str, asked: float) -> None:
        """Keep `url` for its checks at expiry, and fetch it now as a client would."""
        image = HandedOut(url, asked, time.monotonic())
        self.images.append(image)
        heapq.heappush(self.due, (asked + self.ttl - CHECK_LEAD, next(self.order), "before", image))
        heapq.heappush(
            self.due, (image.handed + self.ttl + CHECK_LEAD, next(self.order), "after", image)
        )
        await self.note("image fetched at once", self.check(session, image))

    async def check(self, session: aiohttp.ClientSession, image: HandedOut, stage: str = "") -> str:
        """Fetch `image` and judge the answer by its age: "ok", or what is wrong. `stage`
        names the scheduled checks: "before" and "after" its expiry."""
        sent = time.monotonic()
        async with session.get(image.url) as reply:
            status, data = reply.status, await reply.read()
        received = time.monotonic()
        must_serve = received < image.asked + self.ttl - EXPIRY_MARGIN
        must_be_gone = sent > image.handed + self.ttl + EXPIRY_MARGIN
        if status == 200 and must_be_gone:
            image.outlived = True
            return "image served after its expiry"
        if status == 200:
            digest = hashlib.sha256(data).hexdigest()
            if not image.digest and await asyncio.to_thread(decodable, data):
                image.digest = digest
            if digest != image.digest:
                image.lost = True
                return "image changed or undecodable"
            image.served_before_expiry |= stage == "before"
            return "ok"
        if status == 404 and not must_serve:
            image.gone_after_expiry |= stage == "after" and must_be_gone
            return "ok"
        image.lost = True
        return "image lost" if status == 404 else f"image GET {status}"

    async def keep_checking(self, session: aiohttp.ClientSession, traffic: asyncio.Task) -> None:
        """Check each image just before and just after its expiry, until all are done."""
        async with asyncio.TaskGroup() as checks:
            while self.due or not traffic.done():
                if not self.due or self.due[0][0] > time.monotonic():
                    await asyncio.sleep(0.1)
                    continue
                _, _, stage, image = heapq.heappop(self.due)
                checks.create_task(self.note("image check", self.check(session, image, stage)))

    async def note(self, operation: str, outcome: Awaitable[str]) -> None:
        """Count how `outcome` ended, a failed connection included."""
        try:
            kind = await outcome
        except (TimeoutError, aiohttp.ClientError) as error:
            kind = f"transport {type(error).__name__}"
        except (ValueError, KeyError, IndexError, TypeError):
            kind = "unreadable answer"
        self.outcomes[operation, kind] += 1


def decodable(data: bytes) -> bool:
    """Whether `data` is a whole image Pillow can decode."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
        return True
    except (OSError, SyntaxError, ValueError):
        return False


async def error_kind(reply: aiohttp.ClientResponse) -> str:
    """An error answer as "status code": "502 upstream_error"."""
    try:
        error = (await reply.json(content_type=None))["error"]
        return f"{reply.status} {error['code'] or error['type']}"
    except (ValueError, KeyError, TypeError):
        return f"{reply.status} without an error body"


def prompt(rng: random.Random) -> str:
    return rng.choice(PROMPTS) + rng.choice(RATIOS)


def model_and_seed(rng: random.Random) -> dict[str, object]:
    """Mostly FLUX.1 schnell (JSON), sometimes FLUX.2 klein (multipart) with a seed.

    Few seeds, so the stand-in draws from its cache and leaves the cores to the service.
    """
    if rng.random() < 0.8:
        return {"model": "flux-1-schnell"}
    return {"model": "flux-2-klein-4b", "seed": rng.randrange(4)}


def chat_body(rng: random.Random, stream: bool) -> dict:
    message = {"role": "user", "content": prompt(rng)}
    return {**model_and_seed(rng), "messages": [message], "stream": stream}


def post_chat(soak: Soak, session: aiohttp.ClientSession, body: dict) -> Any:
    return session.post(f"{soak.url}/v1/chat/completions", json=body, headers=soak.auth)


async def chat(soak: Soak, session: aiohttp.ClientSession, rng: random.Random) -> str:
    asked = time.monotonic()
    body = chat_body(rng, stream=False)
    async with post_chat(soak, session, body) as reply:
        if reply.status != 200:
            return await error_kind(reply)
        content = (await reply.json())["choices"][0]["message"]["content"]
    found = IMAGE.search(content.encode())
    if not found:
        return "no image"
    await soak.handed_out(session, found[1].decode(), asked)
    return "ok"


async def stream(soak: Soak, session: aiohttp.ClientSession, rng: random.Random) -> str:
    asked = time.monotonic()
    body = chat_body(rng, stream=True)
    content, done = [], False
    async with post_chat(soak, session, body) as reply:
        if reply.status != 200:
            return await error_kind(reply)
        async for line in reply.content:
            if not line.startswith(b"data: "):
                continue  # blank lines between events, keep-alive comments
            if line.strip() == b"data: [DONE]":
                done = True
                break
            event = json.loads(line[6:])
            if "error" in event:
                return f"stream error {event['error']['code']}"
            content += [choice["delta"].get("content") or "" for choice in event["choices"]]
    found = IMAGE.search("".join(content).encode())
    if not done or not found:
        return "stream ended early" if not done else "no image"
    await soak.handed_out(session, found[1].decode(), asked)
    return "ok"


async def leave_stream(soak: Soak, session: aiohttp.ClientSession, rng: random.Random) -> str:
    """Start a stream, read its first bytes and hang up: the generation runs on without us."""
    body = chat_body(rng, stream=True)
    async with post_chat(soak, session, body) as reply:
        if reply.status != 200:
            return await error_kind(reply)
        await reply.content.readany()
        reply.close()
    return "ok"


async def images(soak: Soak, session: aiohttp.ClientSession, rng: random.Random) -> str:
    asked = time.monotonic()
    n, response_format = rng.choice((1, 2)), rng.choice(("url", "b64_json"))
    body = {"prompt": prompt(rng), "n": n, "response_format": response_format}
    body.update(model_and_seed(rng))
    async with session.post(
        f"{soak.url}/v1/images/generations", json=body, headers=soak.auth
    ) as reply:
        if reply.status != 200:
            return await error_kind(reply)
        items = (await reply.json())["data"]
    if len(items) != n:
        return f"{len(items)} images for n={n}"
    for item in items:
        if response_format == "url":
            await soak.handed_out(session, item["url"], asked)
        elif await asyncio.to_thread(decodable, base64.b64decode(item["b64_json"])):
            soak.base64_images += 1
        else:
            return "base64 image undecodable"
    return "ok"


async def models(soak: Soak, session: aiohttp.ClientSession, _rng: random.Random) -> str:
    async with session.get(f"{soak.url}/v1/models", headers=soak.auth) as reply:
        if reply.status != 200:
            return await error_kind(reply)
        return "ok" if (await reply.json())["data"] else "no models"


async def refetch(soak: Soak, session: aiohttp.ClientSession, rng: random.Random) -> str:
    """Fetch an image handed out earlier, as chat apps do when a chat is opened again."""
    return await soak.check(session, rng.choice(soak.images)) if soak.images else "ok"


async def wrong_key(soak: Soak, session: aiohttp.ClientSession, rng: random.Random) -> str:
    headers = {"Authorization": "Bearer not-the-key"}
    url = f"{soak.url}/v1/chat/completions"
    async with session.post(url, json=chat_body(rng, stream=False), headers=headers) as reply:
        return "ok" if reply.status == 200 else await error_kind(reply)


async def bad_json(soak: Soak, session: aiohttp.ClientSession, _rng: random.Random) -> str:
    headers = {**soak.auth, "Content-Type": "application/json"}
    url = f"{soak.url}/v1/images/generations"
    async with session.post(url, data=b'{"prompt": "a fox",', headers=headers) as reply:
        return "ok" if reply.status == 200 else await error_kind(reply)


Operation = Callable[[Soak, aiohttp.ClientSession, random.Random], Awaitable[str]]
# (operation, weight): mostly generations, as on a real instance.
OPERATIONS: dict[str, tuple[Operation, int]] = {
    "chat": (chat, 25),
    "chat, streamed": (stream, 25),
    "images": (images, 20),
    "stream left half-read": (leave_stream, 5),
    "models": (models, 5),
    "image fetched again": (refetch, 12),
    "wrong key": (wrong_key, 4),
    "bad JSON": (bad_json, 4),
}
EXPECTED = {"wrong key": "401 invalid_api_key", "bad JSON": "400 invalid_request_error"}
GENERATIONS = ("chat", "chat, streamed", "images")


def verdict(operation: str, kind: str) -> str:
    """Whether an outcome is what the request should get, an injected fault's doing, or a
    defect. Whether there were enough faults to explain the errors is checked apart."""
    if kind == EXPECTED.get(operation, "ok"):
        return "expected"
    if operation in GENERATIONS and kind.split()[-1] in CAUSES:
        return "injected fault"
    return "DEFECT"


async def traffic(soak: Soak, session: aiohttp.ClientSession, clients: int, seconds: float) -> None:
    """`clients` clients, each making one request after another for `seconds`."""
    deadline = time.monotonic() + seconds
    names = list(OPERATIONS)
    weights = [weight for _, weight in OPERATIONS.values()]

    async def client(index: int) -> None:
        rng = random.Random(index)
        await asyncio.sleep(index * 0.05)  # spread the starts
        while time.monotonic() < deadline:
            name = rng.choices(names, weights)[0]
            await soak.note(name, OPERATIONS[name][0](soak, session, rng))

    await asyncio.gather(*(client(index) for index in range(clients)))


class Rss:
    """The RSS of the service's processes (gunicorn's master and workers), and its peak."""

    def __init__(self, service: Server) -> None:
        self.service = service
        self.peak = 0.0

    def now(self) -> float:
        """Megabytes in use now."""
        total = sum(process.memory_info().rss for process in processes(self.service)) / 2**20
        self.peak = max(self.peak, total)
        return round(total, 1)

    async def watch(self) -> None:
        while True:
            # A process may come or go between listing and reading.
            with contextlib.suppress(psutil.Error):
                self.now()
            await asyncio.sleep(0.5)


async def run_soak(standin: Server, service: Server, profile: Profile) -> dict:
    """Warm up, soak, wait for every image to expire; return the figures."""
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def control(path: str, body: dict | None = None) -> dict:
            async with session.request(
                "GET" if body is None else "POST", f"{standin.url}/_standin/{path}", json=body
            ) as reply:
                return await reply.json()

        print("soak: warming up…", file=sys.stderr, flush=True)
        await traffic(Soak(service.url, profile.expiration), session, 4, profile.warmup)
        await control("reset", {})
        rates = {"fault_rate": profile.fault_rate, "optimizer_fault_rate": profile.fault_rate}
        await control("config", rates)

        rss = Rss(service)
        watcher = asyncio.create_task(rss.watch())
        start_rss = rss.now()
        pids = {process.pid for process in processes(service)}
        print(f"soak: {profile.minutes:g} min of traffic…", file=sys.stderr, flush=True)
        state = Soak(service.url, profile.expiration)
        started = time.monotonic()
        running = asyncio.create_task(
            traffic(state, session, profile.clients, profile.minutes * 60)
        )
        checker = asyncio.create_task(state.keep_checking(session, running))
        await running
        seconds = time.monotonic() - started
        requests_in_traffic = sum(state.outcomes.values())
        end_rss = rss.now()
        upstream = await control("counts")

        print("soak: waiting for the last images to expire…", file=sys.stderr, flush=True)
        await control("reset", {})
        await checker
        # The store lets expired images go when the next one comes: make one (not kept
        # for checks), then let the worker hand the memory back.
        flush = chat(Soak(service.url, profile.expiration), session, random.Random())
        await state.note("chat once every image expired", flush)
        await asyncio.sleep(TRIM_WAIT)
        settled_rss = rss.now()
        watcher.cancel()
        restarted = pids != {process.pid for process in processes(service)}
    return {
        "requests": requests_in_traffic,
        "requests_per_s": round(requests_in_traffic / seconds, 1),
        "outcomes": [
            {"operation": op, "outcome": kind, "count": count, "verdict": verdict(op, kind)}
            for (op, kind), count in sorted(state.outcomes.items())
        ],
        "upstream": upstream,
        "images": {
            "handed_out": len(state.images),
            "served_until_expiry": sum(p.served_before_expiry for p in state.images),
            "gone_after_expiry": sum(p.gone_after_expiry for p in state.images),
            "lost": sum(p.lost for p in state.images),
            "outlived_expiry": sum(p.outlived for p in state.images),
            "base64_decoded": state.base64_images,
        },
        "rss_mb": {
            "start": start_rss,
            "end_of_traffic": end_rss,
            "after_expiry": settled_rss,
            "peak": round(rss.peak, 1),
        },
        "worker_restarted": restarted,
    }


def defects(results: dict) -> list[str]:
    """Everything that makes the soak fail."""
    found = [
        f"{row['count']} × {row['operation']}: {row['outcome']}"
        for row in results["outcomes"]
        if row["verdict"] == "DEFECT"
    ]
    injected = results["upstream"]["workers_ai"]["faults"]
    for code, causes in CAUSES.items():
        seen = sum(
            row["count"]
            for row in results["outcomes"]
            if row["verdict"] == "injected fault" and row["outcome"].split()[-1] == code
        )
        possible = sum(injected.get(cause, 0) for cause in causes)
        if seen > possible:
            found.append(f"{seen} {code} errors, but only {possible} faults that end so")
    images = results["images"]
    for name in ("lost", "outlived_expiry"):
        if images[name]:
            found.append(f"{images[name]} images {name.replace('_', ' ')}")
    for name in ("served_until_expiry", "gone_after_expiry"):
        if images[name] != images["handed_out"]:
            missing = images["handed_out"] - images[name]
            found.append(f"{missing} images not confirmed {name.replace('_', ' ')}")
    if results["service_log_errors"]:
        found.append(f"{results['service_log_errors']} errors in the service's log")
    if results["standin_failures"]:
        found.append(f"the stand-in itself failed {results['standin_failures']} times")
    if results["worker_restarted"]:
        found.append("a service worker restarted")
    return found


def log_lines(path: Path, *marks: str) -> int:
    """Lines of the log at `path` that hold one of `marks`."""
    return sum(any(mark in line for mark in marks) for line in path.read_text().splitlines())


@contextlib.contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """Send standard error, and so that of the processes started meanwhile, to `path`."""
    saved = os.dup(2)
    with path.open("wb") as log:
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def render(r: dict) -> str:
    """The figures as markdown: a summary, then every outcome and every injected fault."""
    p, rss, upstream = r["images"], r["rss_mb"], r["upstream"]

    def calls(target: str) -> str:
        made, injected = upstream[target]["calls"], sum(upstream[target]["faults"].values())
        return f"{made} / {injected} ({injected / max(made, 1):.1%})"

    generations = sum(o["count"] for o in r["outcomes"] if o["operation"] in GENERATIONS)
    failed = sum(o["count"] for o in r["outcomes"] if o["verdict"] == "injected fault")
    summary = [
        ["requests", f"{r['requests']} ({r['requests_per_s']}/s)"],
        ["generations failed by an injected fault", f"{failed} of {generations}"],
        ["Workers AI calls / faults injected", calls("workers_ai")],
        ["optimizer calls / faults injected", calls("optimizer")],
        ["image URLs handed out", p["handed_out"]],
        ["… served, the same bytes, until just before expiry", p["served_until_expiry"]],
        ["… 404 just after expiry", p["gone_after_expiry"]],
        ["… lost", p["lost"]],
        ["images dropped early by a full store", p["dropped_by_full_store"]],
        ["base64 images decoded", p["base64_decoded"]],
        ["RSS at start, after warm-up", f"{rss['start']} MB"],
        ["RSS at the end of traffic", f"{rss['end_of_traffic']} MB"],
        ["RSS once every image expired", f"{rss['after_expiry']} MB"],
        ["peak RSS", f"{rss['peak']} MB"],
        ["errors in the service's log", r["service_log_errors"]],
        ["defects", len(r["defects"])],
    ]
    s = r["settings"]
    lines = [
        f"Soaked {r['date']} at commit {r.get('commit', 'unknown')} on {r['cores']} cores "
        f"({r['profile']} run): {s['minutes']:g} min of traffic from {s['clients']} clients; "
        f"the stand-in takes {s['latency']:g} s an image and fails {s['fault_rate']:.0%} of "
        f"Workers AI and optimizer calls; images expire after {s['expiration']} s.",
        "",
        *table(["measure", "result"], summary),
        "",
        "Outcomes:",
        "",
        *table(
            ["operation", "outcome", "count", "verdict"],
            [[o["operation"], o["outcome"], o["count"], o["verdict"]] for o in r["outcomes"]],
        ),
        "",
        "Faults injected:",
        "",
        *table(
            ["target", "fault", "count"],
            [
                [target, fault, count]
                for target, seen in upstream.items()
                for fault, count in sorted(seen["faults"].items())
            ],
        ),
    ]
    if r["defects"]:
        lines += ["", "**Defects:**", "", *(f"- {defect}" for defect in r["defects"])]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="15 s of traffic, 10 s expiry")
    parser.add_argument("--minutes", type=float, help="how long the traffic lasts")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    profile = SMOKE if args.smoke else Profile()
    if args.minutes:
        profile = Profile(**{**asdict(profile), "minutes": args.minutes})

    args.out.mkdir(parents=True, exist_ok=True)
    standin_log, service_log = args.out / "soak-standin.log", args.out / "soak-service.log"
    with contextlib.ExitStack() as servers:
        # The stand-in logs a socket error for each connection it resets on purpose: keep
        # those out of the report, and look there only for its own failures.
        with stderr_to(standin_log):
            standin = start_standin(
                latency=profile.latency, token=TOKEN, account=ACCOUNT, optimizer_key=OPTIMIZER_KEY
            )
        servers.callback(standin.stop)
        env = {
            **read_environment(env_file=None),
            **standin_env(standin.url, TOKEN, ACCOUNT),
            "API_KEY": KEY,
            "IMAGE_EXPIRATION": str(profile.expiration),
            "UPSTREAM_TIMEOUT": "10",
            "PROMPT_OPTIMIZATION": "true",
            "EXTERNAL_API_BASE": f"{standin.url}/openai/v1",
            "EXTERNAL_MODEL": "standin-writer",
            "EXTERNAL_API_KEY": OPTIMIZER_KEY,
            # The soak times each link's expiry from its answer, as if it were a new image.
            "REUSE_IMAGES": "false",
        }
        with service_log.open("wb") as log:
            service = start_service(env, stdout=log, stderr=log)
        servers.callback(service.stop)
        results = {
            **measured(),
            "cores": os.cpu_count(),
            "profile": "smoke" if args.smoke else "full",
            "settings": asdict(profile),
            **asyncio.run(run_soak(standin, service, profile)),
        }
    # The service's JSON lines and gunicorn's own; Flask's line for a stand-in that failed.
    results["service_log_errors"] = log_lines(
        service_log, '"level": "error"', '"level": "critical"', "[ERROR]", "[CRITICAL]"
    )
    results["images"]["dropped_by_full_store"] = log_lines(service_log, "image store full")
    results["standin_failures"] = log_lines(standin_log, "ERROR in app")
    results["defects"] = defects(results)
    (args.out / "soak.json").write_text(json.dumps(results, indent=1))
    markdown = render(results)
    (args.out / "soak.md").write_text(markdown)
    print(markdown)
    if results["defects"]:
        sys.exit(f"soak: {len(results['defects'])} defects, see above")


if __name__ == "__main__":
    main()
