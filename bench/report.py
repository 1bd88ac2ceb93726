"""The benchmark's report: latest.json, a markdown table with each figure next to its target,
and a plot of the latency distributions."""

from __future__ import annotations

import json
import operator
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no screen: draw straight to a file
import matplotlib.pyplot as plt


@dataclass(frozen=True)
class Target:
    """A figure of the results, where it is found, and the bound it must keep."""

    what: str
    path: tuple[str, ...]
    unit: str
    bound: float
    compare: str  # "<=" or ">="

    def read(self, results: dict) -> float:
        value = results
        for key in self.path:
            value = value[key]
        return sum(value.values()) if isinstance(value, dict) else value

    def met(self, value: float) -> bool:
        return (operator.le if self.compare == "<=" else operator.ge)(value, self.bound)


OVER_50 = ("overhead", "50_clients")
STREAMS_1000 = ("waiting", "1000")
TARGETS = [
    Target("Overhead 1:1, p50, 50 clients", (*OVER_50, "1:1", "overhead_p50_ms"), "ms", 2, "<="),
    Target("Overhead 1:1, p99, 50 clients", (*OVER_50, "1:1", "overhead_p99_ms"), "ms", 10, "<="),
    Target(
        "Overhead 16:9 crop, p50, 50 clients", (*OVER_50, "16:9", "overhead_p50_ms"), "ms", 40, "<="
    ),
    Target(
        "1000 streams open together, 5 s upstream: errors", (*STREAMS_1000, "errors"), "", 0, "<="
    ),
    Target("1000 streams: completion p99", (*STREAMS_1000, "completion_p99_s"), "s", 6, "<="),
    Target("1000 streams: peak RSS", (*STREAMS_1000, "peak_rss_mb"), "MB", 500, "<="),
    Target("First byte p99, 200 streams", ("first_byte", "p99_ms"), "ms", 50, "<="),
    Target("12 MP photo in a chat: added p50, one core", ("photo", "added_p50_ms"), "ms", 60, "<="),
    Target(
        "20 photo chats in flight: peak RSS", ("photo", "in_flight_peak_rss_mb"), "MB", 600, "<="
    ),
    Target(
        "Image serving, 32 connections",
        ("serving", "service", "requests_per_s"),
        "req/s",
        3000,
        ">=",
    ),
    Target(
        "Image serving: disk store to memory store", ("serving", "disk_to_memory"), "×", 1.0, ">="
    ),
    Target("Image through S3: added to a direct GET, p50", ("s3", "added_p50_ms"), "ms", 5, "<="),
    Target(
        "MCP tools/call over the Images API, p50, 50 clients",
        ("mcp", "50_clients", "mcp", "overhead_p50_ms"),
        "ms",
        2,
        "<=",
    ),
    Target("A1111 txt2img over the Images API, p50", ("a1111", "added_p50_ms"), "ms", 2, "<="),
]


def write_report(results: dict, out: Path) -> str:
    """Write latest.json, latest.md and latency.png into `out`; return the markdown."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=1))
    markdown = render(results)
    (out / "latest.md").write_text(markdown)
    if "overhead" in results:
        plot(results, out / "latency.png")
    return markdown


def table(header: list[str], rows: list[list[object]]) -> list[str]:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def render(r: dict) -> str:
    """The results as markdown: the targets first, then each scenario in detail."""
    rows = []
    for target in TARGETS:
        try:
            value = target.read(r)
        except KeyError:
            rows.append([target.what, "not run", f"{target.compare} {target.bound:g}", "—"])
            continue
        verdict = "yes" if target.met(value) else "**no**"
        bound = f"{target.compare.replace('<=', '≤').replace('>=', '≥')} {target.bound:g}"
        rows.append([target.what, f"{value:g} {target.unit}", f"{bound} {target.unit}", verdict])
    lines = [
        f"Measured {r['date']} at commit {r.get('commit', 'unknown')} on {r['cores']} cores "
        f"({r['profile']} run; {r['placement']}).",
        "",
    ]
    lines += table(["measure", "result", "target", "met"], rows)
    for section in (
        _overhead,
        _waiting,
        _first_byte,
        _serving,
        _ceiling,
        _photo,
        _s3,
        _mcp,
        _a1111,
    ):
        try:
            lines += ["", *section(r)]
        except KeyError:
            continue
    return "\n".join(lines) + "\n"


def _overhead(r: dict) -> list[str]:
    over = r["overhead"]
    paths = (
        ("floor", "floor: a bare gunicorn + gevent + requests proxy"),
        ("1:1", "service, 1:1"),
        ("16:9", "service, 16:9 (crop)"),
    )
    rows = []
    for clients in (1, 50):
        row = over[f"{clients}_clients"]
        direct = ["stand-in, called directly", "", row["direct_p50_ms"], row["direct_p99_ms"]]
        rows.append([clients, *direct, "", ""])
        for key, label in paths:
            cell = row[key]
            numbers = [cell["p50_ms"], cell["p99_ms"], cell["overhead_p50_ms"]]
            rows.append([clients, label, cell["requests"], *numbers, cell["overhead_p99_ms"]])
    intro = (
        f"Overhead: non-streaming chat, {over['upstream_latency_ms']:g} ms upstream; the "
        "latency minus that of the same call made to the stand-in directly (ms). The floor "
        "is what any proxy on this stack adds: two more hops through gunicorn and requests."
    )
    header = ["clients", "path", "requests", "p50", "p99", "overhead p50", "overhead p99"]
    return [intro, "", *table(header, rows)]


def _waiting(r: dict) -> list[str]:
    wait = r["waiting"]
    rows = [
        [
            count,
            row["completed"],
            sum(row["errors"].values()),
            row["completion_p50_s"],
            row["completion_p99_s"],
            row["first_byte_p99_ms"],
            row["peak_rss_mb"],
        ]
        for count, row in wait.items()
        if count != "upstream_latency_s"
    ]
    intro = (
        f"Waiting clients: N streams open together on a {wait['upstream_latency_s']:g} s "
        "upstream, opened over one second (N a second), or all at once. Completion is timed "
        "from each stream's own start."
    )
    header = [
        "streams",
        "completed",
        "errors",
        "completion p50 (s)",
        "completion p99 (s)",
        "first byte p99 (ms)",
        "peak RSS (MB)",
    ]
    return [intro, "", *table(header, rows)]


def _first_byte(r: dict) -> list[str]:
    first = r["first_byte"]
    return [
        f"First byte: {first['streams']} streams always in flight on a "
        f"{first['upstream_latency_s']:g} s upstream, {first['samples']} streams measured: "
        f"p50 {first['p50_ms']} ms, p99 {first['p99_ms']} ms, errors "
        f"{sum(first['errors'].values())}."
    ]


def _serving(r: dict) -> list[str]:
    serve = r["serving"]
    rows = [
        [
            "this service, GET /image/<key>",
            f"{serve['service']['requests_per_s']:.0f}",
            serve["service"]["mb_per_s"],
        ],
        [
            "this service, the disk store (sendfile)",
            f"{serve['disk']['requests_per_s']:.0f}",
            serve["disk"]["mb_per_s"],
        ],
        [
            "nginx, one worker, the same file from disk",
            f"{serve['nginx']['requests_per_s']:.0f}",
            serve["nginx"]["mb_per_s"],
        ],
    ]
    intro = f"Image serving: a {serve['image_kb']} KB JPEG, wrk at 32 connections."
    ratio = (
        f"Ratio to nginx: {serve['ratio_to_nginx']}. Disk store to memory store: "
        f"{serve['disk_to_memory']} (the better of two turns each, taken alternately)."
    )
    return [intro, "", *table(["server", "requests/s", "MB/s"], rows), "", ratio]


def _ceiling(r: dict) -> list[str]:
    ceil = r["ceiling"]
    return [
        f"Ceiling: {ceil['generations_per_s']} generations/s with a zero-latency upstream and "
        f"{ceil['clients']} clients (p50 {ceil['p50_ms']} ms, errors "
        f"{sum(ceil['errors'].values())})."
    ]


def _photo(r: dict) -> list[str]:
    photo = r["photo"]
    return [
        f"Photo: a chat carrying a 12-megapixel JPEG ({photo['photo_mb']} MB as a data URI), "
        f"one at a time: p50 {photo['photo_p50_ms']} ms, against {photo['fitted_p50_ms']} ms "
        f"for the same chat carrying the 511-pixel JPEG the model gets from it; reading the "
        f"photo adds {photo['added_p50_ms']} ms, of which decoding the JPEG alone (Pillow, at "
        f"a quarter scale, in the bench's own process) takes {photo['decode_alone_p50_ms']} ms. "
        f"{photo['in_flight']} photo chats at once on a "
        f"3 s upstream: {photo['in_flight_completed']} completed, peak RSS "
        f"{photo['in_flight_peak_rss_mb']} MB."
    ]


def _s3(r: dict) -> list[str]:
    s3 = r["s3"]
    return [
        f"Through S3: a {s3['image_kb']} KB JPEG kept in SeaweedFS, fetched one request at a "
        f"time ({s3['requests']['service']} each way, in turns): GET /image/<key> p50 "
        f"{s3['service_p50_ms']} ms (p99 {s3['service_p99_ms']} ms), against "
        f"{s3['direct_p50_ms']} ms for the same object from SeaweedFS's own endpoint; the "
        f"service adds {s3['added_p50_ms']} ms (signing and reading the object, answering)."
    ]


def _mcp(r: dict) -> list[str]:
    mcp = r["mcp"]
    rows = []
    for clients in (1, 50):
        row = mcp[f"{clients}_clients"]
        through = row["mcp"]
        rows.append([clients, "POST /v1/images/generations (base64)", row["images_requests"],
                     row["images_p50_ms"], row["images_p99_ms"], "", ""])  # fmt: skip
        rows.append([clients, "POST /mcp, tools/call generate_image", through["requests"],
                     through["p50_ms"], through["p99_ms"], through["overhead_p50_ms"],
                     through["overhead_p99_ms"]])  # fmt: skip
    intro = (
        f"MCP: the same picture (FLUX.1 schnell, 1024x1024) through an MCP tools/call and through "
        f"the Images API in base64, {mcp['upstream_latency_ms']:g} ms upstream, taking turns; "
        "added: the tools/call's latency minus the Images API's (ms)."
    )
    header = ["clients", "path", "requests", "p50", "p99", "added p50", "added p99"]
    return [intro, "", *table(header, rows)]


def _a1111(r: dict) -> list[str]:
    a1111 = r["a1111"]
    errors = sum(a1111["images_errors"].values()) + sum(a1111["txt2img_errors"].values())
    return [
        f"AUTOMATIC1111: the same 1024x1024 picture, {a1111['clients']} clients, "
        f"{a1111['upstream_latency_ms']:g} ms upstream, the two taking turns: POST "
        f"/sdapi/v1/txt2img p50 {a1111['txt2img_p50_ms']} ms (p99 {a1111['txt2img_p99_ms']} ms, "
        f"{a1111['txt2img_requests']} requests), POST /v1/images/generations in base64 p50 "
        f"{a1111['images_p50_ms']} ms (p99 {a1111['images_p99_ms']} ms, "
        f"{a1111['images_requests']} requests); the A1111 door adds {a1111['added_p50_ms']} ms "
        f"at p50, {a1111['added_p99_ms']} ms at p99; errors {errors}."
    ]


def plot(r: dict, path: Path) -> None:
    """Latency distributions at 50 clients: the stand-in directly, and the service."""
    row = r["overhead"]["50_clients"]
    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=100)
    curves = (
        ("stand-in, called directly", row["direct_latencies_ms"]),
        ("service, 1:1", row["1:1"]["latencies_ms"]),
        ("service, 16:9 (crop)", row["16:9"]["latencies_ms"]),
    )
    for label, values in curves:
        ordered = sorted(values)
        axes.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], label=label)
    upstream = r["overhead"]["upstream_latency_ms"]
    axes.set_title(f"Non-streaming chat, 50 clients, {upstream:g} ms upstream")
    axes.set_xlabel("latency (ms)")
    axes.set_ylabel("share of requests")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def measured() -> dict[str, str]:
    """When a run was made, and of which commit (`-dirty` with changes not committed), for
    the first line of its report: the figures are of that tree alone."""
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit}
