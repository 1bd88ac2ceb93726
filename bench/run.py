"""make bench: measure what the service adds to a generation, how many waiting clients it
holds, how fast it answers and serves images, and how many generations it sustains.

The stand-in and the service start exactly as the tests start them (the Procfile's command);
the load comes from `bench.load` in a process of its own. `--smoke` runs every scenario for
a second or two so CI keeps the suite working; the full run takes several minutes.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
import requests

from bench.report import measured, write_report
from config import read_environment
from flux_service.generation.inputs import read_input_image, reference_jpeg
from flux_service.launcher import standin_env
from tests import pictures
from tests.servers import (
    SeaweedServer,
    Server,
    free_port,
    listening_socket,
    start_service,
    start_standin,
    stop_all,
    wait_until_up,
)

KEY = "sk-bench-key-7c4f0d"
TOKEN = "bench-token"
ACCOUNT = "bench-account"
PROMPT = "a red fox in deep snow, golden hour"
MODEL = "@cf/black-forest-labs/flux-1-schnell"
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Profile:
    """How long and how hard each scenario runs."""

    overhead_latency: float = 1.0
    overhead_seconds: float = 30  # per path and client count, in `overhead_rounds` turns
    overhead_rounds: int = 3
    waiting_counts: tuple[int, ...] = (100, 500, 1000)
    waiting_latency: float = 5.0
    first_byte_streams: int = 200
    first_byte_latency: float = 5.0
    first_byte_seconds: float = 20
    serving_seconds: int = 10
    ceiling_concurrency: int = 32
    ceiling_seconds: float = 15
    photo_seconds: float = 20  # per body, in `overhead_rounds` turns
    photo_in_flight: int = 20
    photo_in_flight_latency: float = 3.0
    photo_decodes: int = 15
    s3_requests: int = 200  # per path, in each of `overhead_rounds` turns


SMOKE = Profile(
    overhead_latency=0.05,
    overhead_seconds=0.3,
    overhead_rounds=1,
    waiting_counts=(10,),
    waiting_latency=0.5,
    first_byte_streams=10,
    first_byte_latency=0.5,
    first_byte_seconds=2,
    serving_seconds=1,
    ceiling_concurrency=4,
    ceiling_seconds=1,
    photo_seconds=0.6,
    photo_in_flight=4,
    photo_in_flight_latency=0.5,
    photo_decodes=3,
    s3_requests=10,
)


class Bench:
    """The running servers, and the load and measurements driven against them."""

    def __init__(
        self,
        standin: Server,
        service: Server,
        floor: Server,
        service_cores: list[int] | None,
        env: dict[str, str],
    ) -> None:
        self.env = env  # the service's settings, for others started beside it
        self.standin = standin
        self.service = service
        self.floor = floor
        self.service_cores = service_cores  # nginx runs there too, for a fair comparison
        self.chat_url = f"{service.url}/v1/chat/completions"
        self.auth = {"Authorization": f"Bearer {KEY}"}

    def set_latency(self, seconds: float) -> None:
        requests.post(f"{self.standin.url}/_standin/config", json={"latency": seconds}, timeout=5)

    def load(self, mode: str, plan: dict) -> dict:
        """Run `bench.load` in its own process and return its report."""
        done = subprocess.run(
            [sys.executable, "-m", "bench.load", mode, json.dumps(plan)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        return json.loads(done.stdout)

    def chat_plan(self, prompt: str, stream: bool = False) -> dict:
        body = {
            "model": "flux-1-schnell",
            "stream": stream,
            "messages": [{"role": "user", "content": prompt}],
        }
        return {"url": self.chat_url, "headers": self.auth, "body": body}

    @staticmethod
    def direct_url(standin: Server) -> str:
        return f"{standin.url}/client/v4/accounts/{ACCOUNT}/ai/run/{MODEL}"

    def direct_plan(self) -> dict:
        """The very call the service makes for PROMPT, sent to the stand-in itself."""
        return {
            "url": self.direct_url(self.standin),
            "headers": {"Authorization": f"Bearer {TOKEN}"},
            "body": {"prompt": PROMPT, "steps": 4},
        }

    @contextmanager
    def peak_rss(self):
        """Sample the RSS of every service process; yields a dict that gets `peak_mb`."""
        found = {"peak_mb": 0.0}
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                try:
                    total = sum(p.memory_info().rss for p in processes(self.service)) / 2**20
                    found["peak_mb"] = max(found["peak_mb"], total)
                except psutil.Error:
                    pass
                stop.wait(0.05)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield found
        finally:
            stop.set()
            thread.join()


def start_floor(target: str) -> Server:
    """bench.floor under gunicorn with the service's worker class, on a socket of its own."""
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    app = f"bench.floor:make_app({target!r}, {TOKEN!r})"
    with listening_socket() as listener:
        fd = listener.fileno()
        options = ["--bind", f"fd://{fd}", "--worker-class", "gevent", "--workers", "1"]
        # Run from bench/, away from the service's gunicorn.conf.py, which gunicorn would read.
        quiet = ["--pythonpath", str(ROOT), "--no-control-socket", "--log-level", "warning"]
        command = [gunicorn, app, *options, *quiet]
        process = subprocess.Popen(command, cwd=ROOT / "bench", pass_fds=[fd])
        server = Server(process, f"http://127.0.0.1:{listener.getsockname()[1]}")
    wait_until_up(server, "/")
    return server


def processes(server: Server) -> list[psutil.Process]:
    """The server's process and all its children."""
    root = psutil.Process(server.process.pid)
    return [root, *root.children(recursive=True)]


def isolate(service: Server, standin: Server) -> tuple[list[int], str]:
    """Give the service a core of its own, as it has in production, where neither the clients
    nor Cloudflare run on its machine; the stand-in, the load generator and wrk share the
    rest. Returns the service's cores and a description."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return cores, "not pinned: one core"
    own, rest = cores[-1:], cores[:-1]
    for process in processes(service):
        process.cpu_affinity(own)
    for process in processes(standin):
        process.cpu_affinity(rest)
    os.sched_setaffinity(0, rest)  # and so the load generator and wrk, which start from here
    return own, f"service on core {own[0]}; stand-in, load generator and wrk on {rest}"


def percentile(values: list[float], share: float) -> float | None:
    """The `share` percentile (0..1) of `values`, nearest rank."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def overhead(bench: Bench, profile: Profile) -> dict:
    """Service latency minus the stand-in's own, at 1 and 50 clients, for 1:1 and 16:9.

    The three paths take turns in short rounds, so a slow moment of the machine lands on
    all of them alike instead of on whichever ran then.
    """
    bench.set_latency(profile.overhead_latency)
    results: dict = {"upstream_latency_ms": profile.overhead_latency * 1000}
    paths = {
        "direct": bench.direct_plan(),
        "floor": {**bench.direct_plan(), "url": bench.floor.url, "headers": {}},
        "1:1": bench.chat_plan(PROMPT),
        "16:9": bench.chat_plan(f"{PROMPT} 16:9"),
    }
    for clients in (1, 50):
        runs = taking_turns(bench, paths, clients, profile, profile.overhead_rounds)
        direct = runs["direct"]
        results[f"{clients}_clients"] = {
            "direct_p50_ms": ms(percentile(direct["latencies"], 0.5)),
            "direct_p99_ms": ms(percentile(direct["latencies"], 0.99)),
            "floor": compare(runs["floor"], direct),
            "1:1": compare(runs["1:1"], direct),
            "16:9": compare(runs["16:9"], direct),
            "direct_latencies_ms": [ms(x) for x in direct["latencies"]],
        }
    return results


def taking_turns(
    bench: Bench, plans: dict[str, dict], clients: int, profile: Profile, rounds: int
) -> dict[str, dict]:
    """Each plan's latencies and errors at `clients` clients, the plans taking turns in
    `rounds` short rounds of the overhead's time, so that a slow moment of the machine lands
    on all of them alike instead of on whichever ran then."""
    load = {
        "concurrency": clients,
        "duration": profile.overhead_seconds / rounds,
        "stagger": profile.overhead_latency,
    }
    runs: dict[str, dict] = {name: {"latencies": [], "errors": {}} for name in plans}
    for _ in range(rounds):
        for name, plan in plans.items():
            report = bench.load("post", {**plan, **load})
            runs[name]["latencies"] += report["latencies"]
            for error, count in report["errors"].items():
                runs[name]["errors"][error] = runs[name]["errors"].get(error, 0) + count
    return runs


def compare(through: dict, direct: dict) -> dict:
    """Latencies through the service, and what it adds to the direct ones (p50 and p99)."""
    row = {"requests": len(through["latencies"]), "errors": through["errors"]}
    for name, share in (("p50", 0.5), ("p99", 0.99)):
        ours, theirs = (
            percentile(through["latencies"], share),
            percentile(direct["latencies"], share),
        )
        row[f"{name}_ms"] = ms(ours)
        row[f"overhead_{name}_ms"] = ms(ours - theirs)
    row["latencies_ms"] = [ms(x) for x in through["latencies"]]
    return row


def waiting(bench: Bench, profile: Profile) -> dict:
    """N streams on a slow upstream, all open together: do they all finish, how soon, in how
    much memory? Each N is opened over one second (N streams a second), and the largest
    also all at once, as a burst."""
    bench.set_latency(profile.waiting_latency)
    results: dict = {"upstream_latency_s": profile.waiting_latency}
    largest = max(profile.waiting_counts)
    runs = [(str(count), count, 1.0) for count in profile.waiting_counts]
    runs.append((f"{largest} at once", largest, 0.0))
    for label, count, ramp in runs:
        plan = {**bench.chat_plan(PROMPT, stream=True), "count": count, "ramp": ramp}
        with bench.peak_rss() as rss:
            report = bench.load("streams", plan)
        results[label] = {
            "completed": len(report["completions"]),
            "errors": report["errors"],
            "completion_p50_s": round(percentile(report["completions"], 0.5) or 0, 3),
            "completion_p99_s": round(percentile(report["completions"], 0.99) or 0, 3),
            "first_byte_p99_ms": ms(percentile(report["first_bytes"], 0.99)),
            "peak_rss_mb": round(rss["peak_mb"], 1),
        }
    return results


def first_byte(bench: Bench, profile: Profile) -> dict:
    """Time to the first SSE byte with `first_byte_streams` streams always in flight."""
    bench.set_latency(profile.first_byte_latency)
    plan = {
        **bench.chat_plan(PROMPT, stream=True),
        "concurrency": profile.first_byte_streams,
        "duration": profile.first_byte_seconds,
        "stagger": profile.first_byte_latency,
    }
    report = bench.load("streams", plan)
    return {
        "streams": profile.first_byte_streams,
        "upstream_latency_s": profile.first_byte_latency,
        "samples": len(report["first_bytes"]),
        "errors": report["errors"],
        "p50_ms": ms(percentile(report["first_bytes"], 0.5)),
        "p99_ms": ms(percentile(report["first_bytes"], 0.99)),
    }


def serving(bench: Bench, profile: Profile) -> dict:
    """GET /image/<key> under wrk, from the memory store and from the disk store (a second
    service, on the same core, taking turns), next to nginx serving the same bytes."""
    bench.set_latency(0)
    url = drawn_url(bench.chat_url, bench)
    image = requests.get(url, timeout=10).content
    with tempfile.TemporaryDirectory() as root, disk_service(bench, root) as disk:
        disk_url = drawn_url(f"{disk.url}/v1/chat/completions", bench)
        assert requests.get(disk_url, timeout=10).content == image  # the same picture
        rounds = 1 if profile is SMOKE else 2
        turns = [
            (wrk(url, profile.serving_seconds), wrk(disk_url, profile.serving_seconds))
            for _ in range(rounds)
        ]
    ours, from_disk = (best(round_[i] for round_ in turns) for i in (0, 1))
    with nginx_serving(image, bench.service_cores) as nginx_url:
        theirs = wrk(nginx_url, profile.serving_seconds)
    return {
        "image_kb": round(len(image) / 1024, 1),
        "connections": 32,
        "service": ours,
        "disk": from_disk,
        "disk_to_memory": round(from_disk["requests_per_s"] / ours["requests_per_s"], 3),
        "nginx": theirs,
        "ratio_to_nginx": round(ours["requests_per_s"] / theirs["requests_per_s"], 3),
    }


def best(runs: Iterable[dict]) -> dict:
    """The run with the most requests a second: the one the noise of the machine hurt least."""
    return max(runs, key=lambda run: run["requests_per_s"])


def drawn_url(chat_url: str, bench: Bench) -> str:
    """The link to a freshly drawn picture of PROMPT."""
    body = bench.chat_plan(PROMPT)["body"]
    answer = requests.post(chat_url, json=body, headers=bench.auth, timeout=30).json()
    return answer["choices"][0]["message"]["content"].rsplit("(", 1)[1].rstrip(")")


def disk_service(bench: Bench, root: str):
    """The service with IMAGE_STORE on disk under `root`, on the main service's cores."""
    return side_service(bench, root, IMAGE_STORE=f"file://{root}/images")


@contextmanager
def side_service(bench: Bench, root: str, **settings: str):
    """A second service, with `settings` over the main one's and its log in `root`, on the
    main service's cores."""
    env = {**bench.env, "WEB_CONCURRENCY": "1", **settings}
    with open(f"{root}/service.log", "wb") as log:
        server = start_service(env, stdout=log, stderr=log)
    try:
        for process in processes(server) if bench.service_cores else []:
            process.cpu_affinity(bench.service_cores)
        yield server
    finally:
        server.stop()


def wrk(url: str, seconds: int) -> dict:
    """wrk's requests/s and MB/s for `url` at 32 connections."""
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    transfer = fields["Transfer/sec"].strip()
    megabytes = float(transfer[:-2]) * {"GB": 1024, "MB": 1, "KB": 1 / 1024}[transfer[-2:]]
    return {
        "requests_per_s": float(fields["Requests/sec"]),
        "mb_per_s": round(megabytes, 1),
        "non_2xx": int(fields.get("Non-2xx or 3xx responses", "0")),
    }


@contextmanager
def nginx_serving(data: bytes, cores: list[int] | None):
    """nginx (one worker, like the service, on its cores) serving `data` from a file."""
    with tempfile.TemporaryDirectory() as root:
        Path(root, "image.jpeg").write_bytes(data)
        port = free_port()
        conf = Path(root, "nginx.conf")
        conf.write_text(
            f"worker_processes 1; pid {root}/nginx.pid; error_log {root}/error.log;\n"
            "events { worker_connections 1024; }\n"
            f"http {{ access_log off; sendfile on; client_body_temp_path {root};\n"
            f"  server {{ listen 127.0.0.1:{port}; root {root}; }} }}\n"
        )
        process = subprocess.Popen(["nginx", "-c", str(conf), "-g", "daemon off; user root;"])
        server = Server(process, f"http://127.0.0.1:{port}")
        try:
            wait_until_up(server, "/image.jpeg")
            for nginx in processes(server) if cores else []:
                nginx.cpu_affinity(cores)
            yield f"{server.url}/image.jpeg"
        finally:
            process.terminate()
            process.wait()


def ceiling(bench: Bench, profile: Profile) -> dict:
    """Generations per second the service sustains when the upstream answers at once."""
    bench.set_latency(0)
    plan = {
        **bench.chat_plan(PROMPT),
        "concurrency": profile.ceiling_concurrency,
        "duration": profile.ceiling_seconds,
    }
    report = bench.load("post", plan)
    return {
        "clients": profile.ceiling_concurrency,
        "generations_per_s": round(len(report["latencies"]) / report["seconds"], 1),
        "errors": report["errors"],
        "p50_ms": ms(percentile(report["latencies"], 0.5)),
    }


def photo(bench: Bench, profile: Profile) -> dict:
    """A chat carrying a 12-megapixel JPEG as a data URI (about 7 MB), one client at a time,
    next to the same chat carrying the image the model gets from it (511x383 JPEG): the
    difference is what reading the photo costs (parse, decode at reduced scale, downscale,
    encode); the upstream work is the same. Then `photo_in_flight` photo chats at once on
    a slow upstream, with the service's peak RSS."""
    bench.set_latency(0.05)
    big = pictures.photo()
    small = model_sized(big)
    with tempfile.TemporaryDirectory() as folder:
        plans = {}
        bodies = {
            "photo": photo_chat(big, "image/jpeg"),
            "fitted": photo_chat(small, "image/jpeg"),
            "streamed": {**photo_chat(big, "image/jpeg"), "stream": True},
        }
        for name, body in bodies.items():
            path = Path(folder) / f"{name}.json"
            path.write_text(json.dumps(body))
            plans[name] = {"url": bench.chat_url, "headers": bench.auth, "body_file": str(path)}
        latencies: dict[str, list[float]] = {"photo": [], "fitted": []}
        errors: dict[str, int] = {}
        load = {"concurrency": 1, "duration": profile.photo_seconds / profile.overhead_rounds}
        for _ in range(profile.overhead_rounds):
            for name in latencies:
                report = bench.load("post", {**plans[name], **load})
                latencies[name] += report["latencies"]
                for error, count in report["errors"].items():
                    errors[error] = errors.get(error, 0) + count
        bench.set_latency(profile.photo_in_flight_latency)
        crowd = {**plans["streamed"], "count": profile.photo_in_flight, "ramp": 0.5}
        with bench.peak_rss() as rss:
            report = bench.load("streams", crowd)
    # What no server can skip: libjpeg decoding the photo at the reduced scale it is read at.
    decodes = []
    for _ in range(profile.photo_decodes):
        started = time.perf_counter()
        read_input_image(big, 511)
        decodes.append(time.perf_counter() - started)
    photo_p50 = percentile(latencies["photo"], 0.5) or 0
    fitted_p50 = percentile(latencies["fitted"], 0.5) or 0
    return {
        "photo_mb": round(len(big) * 4 / 3 / 1e6, 1),
        "requests": {name: len(values) for name, values in latencies.items()},
        "errors": errors,
        "photo_p50_ms": ms(photo_p50),
        "fitted_p50_ms": ms(fitted_p50),
        "added_p50_ms": ms(photo_p50 - fitted_p50),
        "decode_alone_p50_ms": ms(percentile(decodes, 0.5)),
        "in_flight": profile.photo_in_flight,
        "in_flight_completed": len(report["completions"]),
        "in_flight_errors": report["errors"],
        "in_flight_peak_rss_mb": round(rss["peak_mb"], 1),
    }


def model_sized(data: bytes) -> bytes:
    """`data` as the model gets it: within 511 pixels, as JPEG."""
    return reference_jpeg(read_input_image(data, 511), 511)


def photo_chat(data: bytes, mime: str) -> dict:
    uri = f"data:{mime};base64,{base64.b64encode(data).decode()}"
    parts = [
        {"type": "text", "text": "make it look like winter"},
        {"type": "image_url", "image_url": {"url": uri}},
    ]
    return {"model": "flux-2-klein-4b", "messages": [{"role": "user", "content": parts}]}


def s3(bench: Bench, profile: Profile) -> dict:
    """GET /image/<key> from a service that keeps its pictures in SeaweedFS, next to a GET of
    the same object from SeaweedFS's own (public) endpoint, one request at a time, the two
    taking turns: the difference is what the service adds to fetching the object."""
    bench.set_latency(0)
    with tempfile.TemporaryDirectory() as root:
        seaweed = SeaweedServer(Path(root) / "seaweed")
        seaweed.start()
        try:
            # SeaweedFS stands for a store elsewhere: it runs beside the load, not the service.
            psutil.Process(seaweed.process.pid).cpu_affinity(sorted(os.sched_getaffinity(0)))
            with side_service(bench, root, **seaweed.store_env("bench/")) as service:
                url = drawn_url(f"{service.url}/v1/chat/completions", bench)
                key = url.rsplit("/", 1)[1]
                paths = {"service": url, "direct": f"{seaweed.public_url}/bench/{key}"}
                with requests.Session() as session:
                    image = session.get(url, timeout=10).content
                    assert session.get(paths["direct"], timeout=10).content == image
                    latencies: dict[str, list[float]] = {name: [] for name in paths}
                    for _ in range(profile.overhead_rounds):
                        for name, path in paths.items():
                            latencies[name] += timed_gets(session, path, profile.s3_requests)
        finally:
            seaweed.stop()
    service_p50 = percentile(latencies["service"], 0.5) or 0
    direct_p50 = percentile(latencies["direct"], 0.5) or 0
    return {
        "image_kb": round(len(image) / 1024, 1),
        "requests": {name: len(values) for name, values in latencies.items()},
        "direct_p50_ms": ms(direct_p50),
        "service_p50_ms": ms(service_p50),
        "service_p99_ms": ms(percentile(latencies["service"], 0.99)),
        "added_p50_ms": ms(service_p50 - direct_p50),
    }


def a1111(bench: Bench, profile: Profile) -> dict:
    """The same picture through AUTOMATIC1111's txt2img (HTTP Basic, as its clients send the
    key) and through the Images API (base64), at 50 clients, the two taking turns: what the
    A1111 door adds (reading its body, its checkpoint, building `parameters` and `info`)."""
    bench.set_latency(profile.overhead_latency)
    basic = base64.b64encode(f"bench:{KEY}".encode()).decode()
    paths = {
        "images": images_plan(bench),
        "txt2img": {
            "url": f"{bench.service.url}/sdapi/v1/txt2img",
            "headers": {"Authorization": f"Basic {basic}"},
            "body": {"prompt": PROMPT, "width": 1024, "height": 1024},
        },
    }
    runs = taking_turns(bench, paths, 50, profile, profile.overhead_rounds)
    images, txt2img = (runs[name] for name in paths)
    row = compare(txt2img, images)
    return {
        "upstream_latency_ms": profile.overhead_latency * 1000,
        "clients": 50,
        **images_row(images),
        "txt2img_requests": row["requests"],
        "txt2img_errors": row["errors"],
        "txt2img_p50_ms": row["p50_ms"],
        "txt2img_p99_ms": row["p99_ms"],
        "added_p50_ms": row["overhead_p50_ms"],
        "added_p99_ms": row["overhead_p99_ms"],
    }


def timed_gets(session: requests.Session, url: str, count: int) -> list[float]:
    """The latency of each of `count` GETs of `url`, one after another, whole bodies read."""
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        response = session.get(url, timeout=10)
        response.raise_for_status()
        latencies.append(time.perf_counter() - started)
    return latencies


MCP_TURNS = 3  # the MCP scenario's turns for each of the overhead's rounds


def mcp(bench: Bench, profile: Profile) -> dict:
    """The same picture through an MCP `tools/call` of generate_image and through
    /v1/images/generations (in base64, as the tool's result carries it), at 1 and 50
    clients, the two taking turns in short rounds: the difference is what the MCP door adds
    to a generation (reading JSON-RPC, the text, links and structured content it answers)."""
    bench.set_latency(profile.overhead_latency)
    plans = {"images": images_plan(bench), "mcp": mcp_plan(bench)}
    sample = requests.post(plans["mcp"]["url"], json=plans["mcp"]["body"],
                           headers=plans["mcp"]["headers"], timeout=30).json()  # fmt: skip
    assert not sample["result"].get("isError"), sample  # a tool error would be a 200 too
    results: dict = {"upstream_latency_ms": profile.overhead_latency * 1000}
    # Shorter turns than the overhead's: a busy moment of the machine lands on both alike.
    rounds = profile.overhead_rounds * MCP_TURNS
    for clients in (1, 50):
        runs = taking_turns(bench, plans, clients, profile, rounds)
        results[f"{clients}_clients"] = {
            **images_row(runs["images"]),
            "mcp": compare(runs["mcp"], runs["images"]),
        }
    return results


def images_row(images: dict) -> dict:
    """The Images API's side of a comparison: how many, which errors, p50 and p99."""
    return {
        "images_requests": len(images["latencies"]),
        "images_errors": images["errors"],
        "images_p50_ms": ms(percentile(images["latencies"], 0.5)),
        "images_p99_ms": ms(percentile(images["latencies"], 0.99)),
    }


def images_plan(bench: Bench) -> dict:
    body = {"model": "flux-1-schnell", "prompt": PROMPT, "response_format": "b64_json"}
    url = f"{bench.service.url}/v1/images/generations"
    return {"url": url, "headers": bench.auth, "body": body}


def mcp_plan(bench: Bench) -> dict:
    """A 2026-07-28 tools/call, with the headers its revision asks for."""
    version = "2026-07-28"
    meta = {
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    arguments = {"prompt": PROMPT, "model": "flux-1-schnell"}
    params = {"name": "generate_image", "arguments": arguments, "_meta": meta}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
    headers = {**bench.auth, "MCP-Protocol-Version": version, "Mcp-Method": "tools/call",
               "Mcp-Name": "generate_image"}  # fmt: skip
    return {"url": f"{bench.service.url}/mcp", "headers": headers, "body": body}


SCENARIOS = {
    "overhead": overhead,
    "waiting": waiting,
    "first_byte": first_byte,
    "serving": serving,
    "ceiling": ceiling,
    "photo": photo,
    "s3": s3,
    "mcp": mcp,
    "a1111": a1111,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a second or two per scenario")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--only", nargs="*", choices=list(SCENARIOS), help="some scenarios")
    parser.add_argument("--no-pin", action="store_true", help="let every process use every core")
    args = parser.parse_args()
    profile = SMOKE if args.smoke else Profile()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: make bench installs it")

    standin = start_standin(token=TOKEN, account=ACCOUNT)
    env = {
        **read_environment(env_file=None),
        **standin_env(standin.url, TOKEN, ACCOUNT),
        "API_KEY": KEY,
        "UPSTREAM_TIMEOUT": "60",
        # Measure what the service itself can hold, not the cap that protects the upstream.
        "MAX_CONCURRENT_GENERATIONS": "100000",
        # Every request of the benchmark is the same: reused, none would reach the upstream.
        "REUSE_IMAGES": "false",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "service.log").open("wb") as log:
        service = start_service(env, stdout=log, stderr=log)
    floor = start_floor(Bench.direct_url(standin))
    try:
        cores, placement = (None, "not pinned") if args.no_pin else isolate(service, standin)
        for process in processes(floor) if cores else []:
            process.cpu_affinity(cores)
        bench = Bench(standin, service, floor, cores, env)
        results = {
            **measured(),
            "cores": os.cpu_count(),
            "profile": "smoke" if args.smoke else "full",
            "placement": placement,
            "settings": asdict(profile),
        }
        for name, scenario in SCENARIOS.items():
            if not args.only or name in args.only:
                print(f"bench: {name}…", file=sys.stderr, flush=True)
                results[name] = scenario(bench, profile)
    finally:
        stop_all([floor, service, standin])
    print(write_report(results, args.out))


if __name__ == "__main__":
    main()
