"""Settings: the one place that reads the environment and the `.env` file.

`load_settings()` reads every variable once, at start-up, into a frozen `Settings`. A bad
value raises `ConfigError` naming the variable, so start-up stops with one clear line
instead of failing later in the middle of a request.

The module reads from top to bottom:
- the defaults, and `Settings`, the fields the service reads, each with its default;
- the parsers that know this service: the account pool, the models, the store (the generic
  ones are in flux_service/setting_parsers.py);
- `SETTINGS`, the table: one row per variable, in the order docs/settings.md shows them,
  with its parser, its line in the documentation and any older names that still work; its
  default is its field's, unless worked out from other settings by a named function just
  above it;
- `CHECKS`, the rules that span several settings, one function each, named for what it
  refuses;
- `load_settings`: every row in order, then what no single row gives (the models served,
  IMAGE_STORE=redis, the account pool), then every check.

A new setting is a field of `Settings` and a row of `SETTINGS`; `make docs` then writes its
line into docs/settings.md, and a unit test fails until it has.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, MISSING, dataclass, field, fields
from typing import Any, TypeVar
from urllib.parse import urlsplit

from dotenv import dotenv_values

# gunicorn's master imports config before gevent patches the standard library: what config
# takes from the package is plain data (the catalogue) or needs the standard library alone.
from flux_service.setting_parsers import (
    REDIS_SCHEMES,
    addresses,
    between,
    boolean,
    gateway_id,
    language_in,
    networks,
    neurons,
    optional_directory,
    optional_file,
    optional_redis,
    optional_url,
    rate_limit,
    region,
    url,
)
from flux_service.stores.file_layout import foreign_entries
from flux_service.upstream.catalog import lookup

LANGUAGES = ("en", "zh-cn", "zh-hant", "ja", "es", "fr", "ru", "de")

DEFAULT_CF_API_BASE = "https://api.cloudflare.com/client/v4"
DEFAULT_CF_AI_GATEWAY_BASE = "https://gateway.ai.cloudflare.com/v1"
DEFAULT_MODEL = "@cf/black-forest-labs/flux-1-schnell"
DEFAULT_MODELS = (
    DEFAULT_MODEL,
    "@cf/black-forest-labs/flux-2-klein-4b",
    "@cf/black-forest-labs/flux-2-klein-9b",
)
DEFAULT_STEPS = 4
DEFAULT_IMAGE_EXPIRATION = 1800
# Stores in memory keep images a week at most; on disk or in a bucket they may stay for good
# (IMAGE_EXPIRATION=0) or for years.
MAX_MEMORY_EXPIRATION = 7 * 86400
MAX_LASTING_EXPIRATION = 100 * 365 * 86400
LASTING_STORES = ("file", "s3")
DEFAULT_S3_REGION = "auto"  # what Cloudflare R2 takes; AWS needs the bucket's own
DEFAULT_PORT = 8000
DEFAULT_UPSTREAM_TIMEOUT = 120.0
# How long failing calls are tried again: a persistent outage answers in seconds, not minutes.
DEFAULT_UPSTREAM_RETRY_BUDGET = 20.0
DEFAULT_OPTIMIZER_TIMEOUT = 30.0
# The optimizer's model on Workers AI when no other endpoint is named: cheap (about 6 neurons
# a rewrite, against 173 for one FLUX.1 schnell image), no reasoning model, and the one
# Cloudflare names to replace the 8B Llama it retired (upstream/text_models.py).
DEFAULT_OPTIMIZER_MODEL = "@cf/google/gemma-4-26b-a4b-it"
# Well inside the 10 s without a byte that idle proxies and clients tolerate.
DEFAULT_STREAM_KEEPALIVE = 5.0
# Seconds a connection may stay idle between requests (and take to send its headers).
DEFAULT_IDLE_TIMEOUT = 10
# Seconds a socket may wait on the client for each read of its body or write of the answer.
DEFAULT_CLIENT_TIMEOUT = 30.0
DEFAULT_WORKER_CONNECTIONS = 4000
MIB = 1024 * 1024
DEFAULT_MAX_UNSENT_BYTES = 256 * MIB
# As much as OpenAI takes with images; memory is bounded by MAX_BODY_MEMORY, not by this.
DEFAULT_MAX_BODY_BYTES = 50 * MIB
DEFAULT_MAX_BODY_MEMORY = 256 * MIB
DEFAULT_MAX_IMAGE_BYTES = 20 * MIB
DEFAULT_IMAGE_STORE_MAX_BYTES = 256 * MIB
# Workers AI allows 720 text-to-image requests a minute, 12 a second; at the few seconds a
# FLUX image takes, 48 generations in flight already reach that rate.
DEFAULT_MAX_CONCURRENT_GENERATIONS = 48
DEFAULT_GENERATION_WAIT = 5.0
# gunicorn's own default: a proxy on this machine (nginx, Caddy).
DEFAULT_FORWARDED_ALLOW_IPS = ("127.0.0.1", "::1")
# A key shorter than this is refused outside demo mode: 16 random letters and digits are 95
# bits, which no one guesses; a word or a name is guessed in minutes.
MIN_KEY_CHARS = 16
# .env.example's placeholder: a service left with it is open to anyone who read the file.
EXAMPLE_KEYS = ("sk-change-me",)
_MAKE_A_KEY = "python3 -c 'import secrets; print(\"sk-\" + secrets.token_urlsafe(24))'"
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9_-]+")
_TOKEN = re.compile(r"\S+")
_ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s?#]+")

T = TypeVar("T")
Env = Mapping[str, str]


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class CloudflareAccount:
    """One Cloudflare account generations may draw from, and its Workers AI token."""

    id: str
    token: str = field(repr=False)


@dataclass(frozen=True)
class Settings:
    """Everything the service is configured with, parsed and checked."""

    cf_account_id: str
    cf_api_token: str = field(repr=False)
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    cf_api_base: str = DEFAULT_CF_API_BASE
    cf_ai_gateway: str = ""
    cf_ai_gateway_token: str = field(default="", repr=False)
    cf_ai_gateway_base: str = DEFAULT_CF_AI_GATEWAY_BASE
    flux_model: str = DEFAULT_MODEL
    models: tuple[str, ...] = DEFAULT_MODELS
    flux_num_steps: int = DEFAULT_STEPS
    image_expiration: int = DEFAULT_IMAGE_EXPIRATION
    prompt_optimization: bool = False
    external_api_base: str = ""
    optimizer_model: str = DEFAULT_OPTIMIZER_MODEL
    external_api_key: str = field(default="", repr=False)
    system_message: str = ""
    response_language: str = "en"
    public_base_url: str = ""
    port: int = DEFAULT_PORT
    upstream_timeout: float = DEFAULT_UPSTREAM_TIMEOUT
    upstream_retry_budget: float = DEFAULT_UPSTREAM_RETRY_BUDGET
    optimizer_timeout: float = DEFAULT_OPTIMIZER_TIMEOUT
    stream_keepalive: float = DEFAULT_STREAM_KEEPALIVE
    idle_timeout: int = DEFAULT_IDLE_TIMEOUT
    client_timeout: float = DEFAULT_CLIENT_TIMEOUT
    worker_connections: int = DEFAULT_WORKER_CONNECTIONS
    max_unsent_bytes: int = DEFAULT_MAX_UNSENT_BYTES
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_body_memory: int = DEFAULT_MAX_BODY_MEMORY
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    edit_model: str = ""  # "": the first served model that works from images
    fetch_image_urls: bool = True
    fetch_private_networks: tuple[str, ...] = ()  # tests only: private ones fetched anyway
    image_store: str = "memory"  # or a redis://, file:/// or s3:// URL
    s3_endpoint_url: str = ""  # "": AWS S3 itself
    aws_access_key_id: str = field(default="", repr=False)
    aws_secret_access_key: str = field(default="", repr=False)
    aws_region: str = DEFAULT_S3_REGION
    s3_ca_bundle: str = ""  # "": REQUESTS_CA_BUNDLE's, else certifi's
    image_public_base_url: str = ""  # a public bucket or its custom domain: answers link there
    image_store_max_bytes: int = DEFAULT_IMAGE_STORE_MAX_BYTES
    web_concurrency: int = 1
    max_concurrent_generations: int = DEFAULT_MAX_CONCURRENT_GENERATIONS
    max_generations_per_key: int = DEFAULT_MAX_CONCURRENT_GENERATIONS
    image_store_key_bytes: int = DEFAULT_IMAGE_STORE_MAX_BYTES
    generation_wait: float = DEFAULT_GENERATION_WAIT
    rate_limit: str = ""
    redis_url: str = ""  # where RATE_LIMIT counts when IMAGE_STORE is not a Redis
    daily_neuron_budget: float = 0.0  # 0: no cap on the whole service's day
    daily_neuron_budget_per_key: float = 0.0  # 0: no cap on each API key's day
    skip_client_tasks: bool = True
    reuse_images: bool = True  # answer repeatable requests from the store (see reuse.py)
    https_proxy: str = ""
    http_proxy: str = ""
    no_proxy: str = ""
    ca_bundle: str = ""
    forwarded_allow_ips: tuple[str, ...] = DEFAULT_FORWARDED_ALLOW_IPS
    demo_mode: bool = False
    # The pool, from CF_ACCOUNTS or CF_ACCOUNT_ID (cf_account_id is then its first account);
    # empty, as in settings built by hand, it is the one account of cf_account_id.
    cf_accounts: tuple[CloudflareAccount, ...] = ()
    metrics_token: str = field(default="", repr=False)  # "": /metrics for this machine alone
    mcp_allowed_origins: tuple[str, ...] = ()  # browser pages that may call /mcp; "*": any
    # What API keys are digested with for the store, the counts, the log and the metrics: a
    # secret of the deployment (its Cloudflare tokens), so that no one who guesses a key can
    # confirm it from a label, while every instance of it names a key alike.
    key_digest_secret: bytes = field(default=b"", repr=False)
    # Where every gunicorn worker keeps its counts; "": one process, counted in memory.
    prometheus_multiproc_dir: str = ""

    @property
    def accounts(self) -> tuple[CloudflareAccount, ...]:
        """The Cloudflare accounts generations are spread over, in their order."""
        return self.cf_accounts or (CloudflareAccount(self.cf_account_id, self.cf_api_token),)


def _pool(raw: str) -> tuple[CloudflareAccount, ...]:
    """CF_ACCOUNTS: account_id:api_token entries, comma-separated, each id once. Messages
    name entries by place and id, never with their token."""
    accounts: dict[str, CloudflareAccount] = {}
    for place, entry in enumerate((e.strip() for e in raw.split(",") if e.strip()), 1):
        name, colon, secret = (part.strip() for part in entry.partition(":"))
        if not colon or not _ACCOUNT_ID.fullmatch(name) or not _TOKEN.fullmatch(secret):
            raise ConfigError(
                f"CF_ACCOUNTS entry {place} is invalid: expected account_id:api_token "
                "(an id of letters, digits, - and _, then a token), entries comma-separated"
            )
        if name in accounts:
            raise ConfigError(f"CF_ACCOUNTS names the account {name} twice (entry {place})")
        accounts[name] = CloudflareAccount(name, secret)
    if raw and not accounts:
        raise ConfigError("CF_ACCOUNTS is invalid: expected account_id:api_token,…")
    return tuple(accounts.values())


def _keys(raw: str) -> tuple[str, ...]:
    """API_KEY's keys, comma-separated (`_no_weak_keys_outside_the_demo` checks them)."""
    return tuple(key.strip() for key in raw.split(",") if key.strip())


def _origins(raw: str) -> tuple[str, ...]:
    """MCP_ALLOWED_ORIGINS: origins (`scheme://host[:port]`), comma-separated, or `*`."""
    found = []
    for entry in (e.strip() for e in raw.split(",") if e.strip()):
        if entry != "*" and not _ORIGIN.fullmatch(entry):
            raise ValueError(
                f"expected origins such as https://app.example.com, comma-separated, or *; "
                f"{entry!r} is not one (an origin has no path)"
            )
        found.append(entry.lower())
    return tuple(found)


def _model_id(raw: str) -> str:
    model = lookup(raw)
    if model is None:
        raise ValueError("not a Workers AI text-to-image model this service knows (see README)")
    return model.id


def _model_ids(raw: str) -> tuple[str, ...]:
    ids = [_model_id(name) for name in raw.split(",") if name.strip()]
    if not ids:
        raise ValueError("expected at least one model id")
    return tuple(dict.fromkeys(ids))


def _optional_edit_model(raw: str) -> str:
    if not raw:
        return ""
    model = lookup(raw)
    if model is None or model.inputs is None:
        raise ValueError(
            "not a model that works from images (flux-2-klein-4b, flux-2-klein-9b, flux-2-dev, "
            "sd-1.5-img2img, sd-1.5-inpainting)"
        )
    return model.id


def store_scheme(image_store: str) -> str:
    """Which kind of store IMAGE_STORE names: memory, redis, file or s3."""
    scheme = urlsplit(image_store).scheme
    return scheme if scheme in LASTING_STORES else "memory" if image_store == "memory" else "redis"


def _store(raw: str) -> str:
    """IMAGE_STORE: memory, a Redis URL, `redis` (REDIS_URL's, read later), a disk folder of
    the store's own, or a bucket with a key prefix."""
    if raw.lower() in ("memory", "redis"):
        return raw.lower()
    parts = urlsplit(raw)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError("expected file:///an/absolute/path")
        _check_store_folder(parts.path)
        return raw
    if parts.scheme == "s3":
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", parts.netloc):
            raise ValueError("expected s3://bucket/prefix, with a valid bucket name")
        if not re.fullmatch(r"[A-Za-z0-9!_.*'()/-]*", parts.path):
            raise ValueError("expected s3://bucket/prefix, the prefix of plain characters")
        if not parts.path.strip("/"):
            raise ValueError(
                "the bucket needs a key prefix the service keeps its pictures under, alone: "
                f"without one, its sweep and lifecycle rule would span the whole bucket; use "
                f"s3://{parts.netloc}/flux-api/ (pictures stored at the bucket's root stay "
                "where they are, untouched)"
            )
        return raw
    if parts.scheme not in REDIS_SCHEMES:
        raise ValueError(
            "expected memory, a redis://, rediss:// or unix:// URL, file:///path or s3://bucket/prefix"
        )
    return raw


def _check_store_folder(path: str) -> None:
    """Refuse a folder that is not the disk store's own: a file, or a folder that holds
    what the store did not write (`/`, a home folder, one full of documents)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError("it is a file, not a folder")
    foreign = foreign_entries(path)
    if foreign:
        shown = ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else "")
        raise ValueError(
            f"the folder holds what this service did not write ({shown}); the disk store "
            "takes a folder of its own, new or empty, such as file:///var/lib/flux-api/images"
        )


# A default worked out from the settings read before it (the rows above) and the environment.
DerivedDefault = Callable[[Mapping[str, Any], Env], object]


@dataclass(frozen=True)
class Setting:
    """One variable: how its text is read, what is read when it is unset or empty, and its
    line in docs/settings.md."""

    env: str
    parse: Callable[[str], Any]  # the text to the value; ValueError says what was expected
    doc: str  # the line's meaning; ABOVE: said on the line of the variable above
    _: KW_ONLY
    # as_text writes it as text, then it is parsed as given. None: its field's in Settings,
    # so that a default is written once; a row gives its own only when the field has none,
    # or when it is worked out from other settings.
    default: object | DerivedDefault = None
    shown: str = ""  # the default as the documentation shows it, when not the default itself
    aliases: tuple[str, ...] = ()  # older names that still work; the current name wins
    field_name: str = ""  # the field of Settings; "": the variable in lower case

    def __post_init__(self) -> None:
        object.__setattr__(self, "field_name", self.field_name or self.env.lower())
        if self.default is None:
            default = next(f.default for f in fields(Settings) if f.name == self.field_name)
            if default is MISSING:
                raise TypeError(f"{self.env} needs a default: its field in Settings has none")
            object.__setattr__(self, "default", default)


ABOVE = "(the variable above says)"
_REQUIRED = "— (required without `CF_ACCOUNTS`)"


def _key_share(read: Mapping[str, Any], _: Env) -> object:
    return read["image_store_max_bytes"] // _sharers(read)


def _generation_share(read: Mapping[str, Any], _: Env) -> object:
    return max(1, read["max_concurrent_generations"] // _sharers(read))


def _sharers(read: Mapping[str, Any]) -> int:
    """How many keys share the instance: one key may take all of it, each of two keys a
    half, of three a third, and from four keys on a quarter."""
    return min(max(len(read["api_keys"]), 1), 4)


def _workers(read: Mapping[str, Any], _: Env) -> object:
    """One worker with the memory store (the others would not see its images), else two
    per core."""
    return 1 if read["image_store"] == "memory" else 2 * (os.cpu_count() or 1)


def _optimizer_model(read: Mapping[str, Any], _: Env) -> object:
    """Workers AI's default chat model, unless another provider's endpoint is named: its
    models are its own to name."""
    return "" if read["external_api_base"] else DEFAULT_OPTIMIZER_MODEL


def _trusted_proxies(_: Mapping[str, Any], env: Env) -> object:
    """Heroku (DYNO) and Render (RENDER) reach every dyno through their own router, from
    addresses that change: there, the router is the only way in, so its headers are true."""
    return "*" if env.get("DYNO") or env.get("RENDER") else DEFAULT_FORWARDED_ALLOW_IPS


# fmt: off
SETTINGS: tuple[Setting, ...] = (
    Setting("API_KEY", _keys,
            "keys clients must send, comma-separated, each of 16 characters or more (`python3 -c "
            "'import secrets; print(\"sk-\" + secrets.token_urlsafe(24))'` makes one). Start-up "
            "refuses a shorter key, and `.env.example`'s placeholder `sk-change-me`, except in "
            "the local demo. Without one the service generates for nobody", field_name="api_keys"),
    Setting("CF_ACCOUNT_ID", str, "Cloudflare account id", default="", shown=_REQUIRED),
    Setting("CF_API_TOKEN", str,
            "Cloudflare API token with the Workers AI permission", default="", shown=_REQUIRED),
    Setting("CF_ACCOUNTS", _pool,
            "several Cloudflare accounts, `account_id:api_token,account_id:api_token`: "
            "generations take them in turn, and one out of its allocation or at its rate limit "
            "rests ([Several Cloudflare accounts](deploying.md#several-cloudflare-accounts)). "
            "Each id once; beside it, `CF_ACCOUNT_ID` and `CF_API_TOKEN` may stay only as one of "
            "its entries"),
    Setting("CF_API_BASE", url, "base of the Workers AI REST API"),
    Setting("CF_AI_GATEWAY", gateway_id,
            "an AI Gateway id: calls then go to "
            "`{CF_AI_GATEWAY_BASE}/{account}/{gateway}/workers-ai/{model}`"),
    Setting("CF_AI_GATEWAY_TOKEN", str,
            "sent as `cf-aig-authorization: Bearer …` for an authenticated gateway"),
    Setting("CF_AI_GATEWAY_BASE", url, "base of AI Gateway"),
    Setting("FLUX_MODEL", _model_id, "the default model (id or short name)"),
    Setting("MODELS", _model_ids,
            "models offered, comma-separated; `FLUX_MODEL` is always included",
            shown="FLUX.1 schnell, FLUX.2 klein 4B, klein 9B"),
    Setting("FLUX_NUM_STEPS", between(1, 100),
            "diffusion steps for `FLUX_MODEL`, clamped to what it allows; other models use their "
            "own default"),
    Setting("IMAGE_EXPIRATION", between(0, MAX_LASTING_EXPIRATION),
            "seconds an image is kept (at most 7 days in memory or Redis); `0` keeps images for "
            "good, on disk or in S3 only (the memory and Redis stores refuse it at start-up). "
            "The answer and the home page say how long"),
    Setting("IMAGE_STORE", _store,
            "where images wait: `memory` (this process), a `redis://` / `rediss://` URL shared "
            "by every worker and instance, `redis` for the URL in `REDIS_URL` (as Redis add-ons "
            "set it), `file:///a/folder` (files on this machine's disk, shared by its workers, "
            "kept across restarts), or `s3://bucket/prefix` (an S3-compatible bucket; the prefix "
            "is required, and the service's alone)"),
    Setting("IMAGE_STORE_MAX_BYTES", between(MIB, 1 << 40),
            "most bytes of images kept, in memory, in Redis or on disk; when full, the oldest "
            "goes first (and a warning is logged). At least 1 MiB"),
    Setting("S3_ENDPOINT_URL", optional_url,
            "with `IMAGE_STORE=s3://…`: the S3-compatible endpoint, e.g. `https://<account "
            "id>.r2.cloudflarestorage.com` (R2), `http://minio:9000`, `http://seaweedfs:8333`; "
            "with one set, buckets are addressed as paths, as MinIO and SeaweedFS need",
            shown="AWS S3"),
    Setting("AWS_ACCESS_KEY_ID", str,
            "the bucket's credentials (for R2, an API token's S3 key pair); the secret is never "
            "logged", shown="— (required with `s3://`)"),
    Setting("AWS_SECRET_ACCESS_KEY", str, ABOVE),
    Setting("AWS_REGION", region,
            "the bucket's region: `auto` for R2, the bucket's own for AWS S3",
            aliases=("AWS_DEFAULT_REGION",)),
    Setting("AWS_CA_BUNDLE", optional_file,
            "a CA bundle file the S3 endpoint's certificate is checked with, for a store on a "
            "private CA (MinIO, SeaweedFS); it applies to writes and reads alike",
            shown="`REQUESTS_CA_BUNDLE`'s, else the usual public CAs", field_name="s3_ca_bundle"),
    Setting("IMAGE_PUBLIC_BASE_URL", optional_url,
            "with `s3://…`: where anyone reads the bucket (a public R2 bucket's `r2.dev` address "
            "or its custom domain); answers then link to "
            "`<IMAGE_PUBLIC_BASE_URL>/<prefix><key>`, served by the bucket itself"),
    Setting("IMAGE_STORE_KEY_BYTES", between(MIB, 1 << 40),
            "most bytes of images one API key holds in the memory or Redis store (the same "
            "shares as `MAX_GENERATIONS_PER_KEY`); past it, that key's own oldest image goes "
            "first, never another key's. The disk and S3 stores keep every key's images alike, "
            "and start-up refuses the setting with them",
            default=_key_share, shown="a share of `IMAGE_STORE_MAX_BYTES`"),
    Setting("WEB_CONCURRENCY", between(1, 256),
            "gunicorn worker processes; more than one needs a shared store (Redis, disk or S3), "
            "and start-up refuses otherwise",
            default=_workers, shown="`1` with `memory`, two per core otherwise"),
    Setting("MAX_CONCURRENT_GENERATIONS", between(1, 100_000),
            "generations running at once on this instance (split among its workers); beyond it a "
            "new one waits up to `GENERATION_WAIT`, then gets 503 with `Retry-After: 5`. 48 in "
            "flight at a few seconds each is Workers AI's 720 a minute"),
    Setting("MAX_GENERATIONS_PER_KEY", between(1, 100_000),
            "generations one API key may have running at once: all of them with one key in "
            "`API_KEY`, half with two, a third with three, a quarter from four on. Beyond it: "
            "503 at once",
            default=_generation_share, shown="a share of `MAX_CONCURRENT_GENERATIONS`"),
    Setting("GENERATION_WAIT", between(0.0, 600.0),
            "seconds a generation may wait for a free slot"),
    Setting("RATE_LIMIT", rate_limit,
            "per-key limit on images drawn, e.g. `20/minute` or `20/minute;500/day` (a request "
            "for `n=4` takes four, before anything is drawn); counted in the Redis of "
            "`IMAGE_STORE`, or else in that of `REDIS_URL`, or else in memory. Refused requests "
            "(a bad body, a wrong key) count against ten times the limit, so a client that only "
            "sends garbage waits too, before every route that needs a key; a client without a "
            "valid key (none, or a new made-up one each time) is counted by its address. Over "
            "it: 429 with `Retry-After`", shown="off"),
    Setting("DAILY_NEURON_BUDGET", neurons,
            "the most Workers AI neurons the whole service may spend in a UTC day, estimated "
            "(see [Models](api.md#models)), e.g. `10000` for Cloudflare's free allocation. A "
            "generation that would pass what is left is refused before anything is drawn (the "
            "optimizer included): 429 with `Retry-After` until 00:00 UTC. Counted where "
            "`RATE_LIMIT` counts; `0` or unset: no cap", shown="off"),
    Setting("DAILY_NEURON_BUDGET_PER_KEY", neurons,
            "the same for each API key on its own", shown="off"),
    Setting("REDIS_URL", optional_redis,
            "a Redis where `RATE_LIMIT` counts when `IMAGE_STORE` is not Redis (with `s3://…`, "
            "so that every instance counts together); with `IMAGE_STORE=redis`, the store "
            "itself. `RATE_LIMIT` or a `DAILY_NEURON_BUDGET` with a `file://` or `s3://` store "
            "and several workers needs it (start-up says so): each worker would count on its own"),
    Setting("PROMPT_OPTIMIZATION", boolean,
            "rewrite prompts with a chat model first, in English whatever language they come "
            "in (the Worker's `CF_IS_TRANSLATE` is read too); with nothing else set, on Workers "
            "AI with the same token",
            aliases=("CF_IS_TRANSLATE",)),
    Setting("EXTERNAL_API_BASE", optional_url,
            "an OpenAI-compatible base URL (with or without `/v1`) of another provider's chat "
            "model to optimize with; unset, the optimizer runs on Workers AI's own "
            "OpenAI-compatible endpoint, with the Cloudflare accounts and tokens the images use",
            shown="Workers AI"),
    Setting("OPTIMIZER_MODEL", str,
            "the optimizer's chat model: a Workers AI model id, or the other provider's model "
            "name (required with `EXTERNAL_API_BASE`). On Workers AI its neurons count in the "
            "day's spending, the budgets, the metrics and the log line",
            default=_optimizer_model, shown=f"`{DEFAULT_OPTIMIZER_MODEL}` on Workers AI",
            aliases=("EXTERNAL_MODEL",)),
    Setting("EXTERNAL_API_KEY", str, "the other provider's key, if it needs one"),
    Setting("SYSTEM_MESSAGE", str, "the optimizer's instructions", shown="built in"),
    Setting("REUSE_IMAGES", boolean,
            "answer a repeatable request (a model without a seed, or the client's own `seed`) "
            "that is identical to one of the same key with the picture it stored, while that is "
            "kept, and share one upstream call among identical requests at the same moment "
            "([Reused images](api.md#reused-images))", aliases=("REUSE_PICTURES",)),
    Setting("SKIP_CLIENT_TASKS", boolean,
            "answer chat apps' title, tag and check requests with text instead of an image"),
    Setting("OPTIMIZER_TIMEOUT", between(0.1, 600.0),
            "seconds to wait for the optimizer before drawing from the original prompt"),
    Setting("RESPONSE_LANGUAGE", language_in(LANGUAGES),
            "answer language: `en`, `zh-cn`, `zh-hant`, `ja`, `es`, `fr`, `ru`, `de`"),
    Setting("PUBLIC_BASE_URL", optional_url,
            "base of image URLs, e.g. `https://flux.example.com`", shown="from the request"),
    Setting("UPSTREAM_TIMEOUT", between(0.1, 3600.0),
            "seconds to wait for Workers AI"),
    Setting("UPSTREAM_RETRY_BUDGET", between(0.0, 3600.0),
            "seconds in which a Workers AI call that failed for a passing reason (a 5xx, out of "
            "capacity, a dropped connection) is tried again; after it the failure is answered "
            "(502 or 503). `0`: never tried again. A single slow call still has all of "
            "`UPSTREAM_TIMEOUT`"),
    Setting("STREAM_KEEPALIVE", between(0.1, 60.0),
            "seconds a stream may wait on an upstream before it sends a `: keep-alive` comment; "
            "lower it behind proxies that close quieter connections"),
    Setting("MAX_BODY_BYTES", between(1024, 1024 * MIB),
            "largest request body accepted (a 413 states it)"),
    Setting("MAX_BODY_MEMORY", between(MIB, 1 << 40),
            "request bodies held in memory at once, over all requests of a worker; past it a "
            "request waits up to `GENERATION_WAIT`, then gets 503 with `Retry-After: 5`"),
    Setting("MAX_IMAGE_BYTES", between(1024, 1024 * MIB),
            "largest picture taken to work from, attached, uploaded or fetched"),
    Setting("EDIT_MODEL", _optional_edit_model,
            "the model that draws edits for requests whose own model takes no pictures; it is "
            "added to `MODELS`", shown="the first model in `MODELS` that works from images"),
    Setting("FETCH_IMAGE_URLS", boolean,
            "fetch `http(s)` picture URLs (from public addresses only); `false` refuses them "
            "with a 400"),
    Setting("FETCH_PRIVATE_NETWORKS", networks,
            "**for tests only**: networks fetched from although they are private, e.g. "
            "`127.0.0.2/32`"),
    Setting("IDLE_TIMEOUT", between(1, 600),
            "seconds a connection may stay idle between requests, and the most a client may take "
            "to send a request's headers. Raise it above the idle timeout of a load balancer "
            "that reuses its connections (AWS ALB: 60)"),
    Setting("CLIENT_TIMEOUT", between(0.5, 600.0),
            "seconds the service waits on a client for each read of its body and each write of "
            "its answer; the whole body must arrive within this plus a second per 100 KB"),
    Setting("WORKER_CONNECTIONS", between(10, 100_000),
            "connections one worker holds at once. When all are in use and another client comes, "
            "the worker closes the ones that have waited longest for their next request (an "
            "eighth of them, at most 32 at a time, as nginx does) to let it in; one whose "
            "request has begun to arrive or is being answered is never closed this way. Only "
            "while every connection has a request in flight do new clients wait in the kernel's "
            "queue"),
    Setting("MAX_UNSENT_BYTES", between(MIB, 1 << 40),
            "what a worker may hold of base64 answers its clients have not read yet; a request "
            "that would pass it waits up to `GENERATION_WAIT`, then gets 503 before anything is "
            "drawn"),
    Setting("FORWARDED_ALLOW_IPS", addresses,
            "the proxies whose `X-Forwarded-*` headers are believed: addresses or networks, "
            "comma-separated, or `*`",
            default=_trusted_proxies, shown="`127.0.0.1,::1` (`*` on Heroku and Render)"),
    Setting("HTTPS_PROXY", str,
            "a proxy for the calls to Workers AI, the optimizer and the S3 store, and the hosts "
            "that bypass it",
            aliases=("https_proxy",)),
    Setting("HTTP_PROXY", str, ABOVE, aliases=("http_proxy",)),
    Setting("NO_PROXY", str, ABOVE, aliases=("no_proxy",)),
    Setting("REQUESTS_CA_BUNDLE", optional_file,
            "a CA bundle file for those calls, for proxies that inspect TLS (the S3 store's "
            "too, unless `AWS_CA_BUNDLE` is set)",
            field_name="ca_bundle"),
    Setting("PORT", between(1, 65535), "listen port (Heroku and Render set it)"),
    Setting("METRICS_TOKEN", str,
            "a token `GET /metrics` then needs, as `Authorization: Bearer <token>` (compared in "
            "constant time; a 401 without it). Unset, `/metrics` answers this machine alone "
            "(loopback, not through a proxy) and 403 to anyone else"),
    Setting("MCP_ALLOWED_ORIGINS", _origins,
            "browser pages that may call `/mcp`, by their origin (`https://app.example.com`), "
            "comma-separated, or `*` for any. A request whose `Origin` is another gets 403: the "
            "MCP transport's guard against DNS rebinding. Requests without an `Origin` (every "
            "desktop, command-line and server client) and from `PUBLIC_BASE_URL`'s own origin "
            "always pass", shown="none"),
    Setting("PROMETHEUS_MULTIPROC_DIR", optional_directory,
            "where the workers keep their counts for `/metrics`. `gunicorn.conf.py` sets it, "
            "over any value of yours, to a fresh temporary folder for each start, and removes "
            "the folder at the end (a master killed outright leaves it in the temporary folder)",
            shown="set by `gunicorn.conf.py`"),
    Setting("DEMO_MODE", boolean,
            "`true`: the local demo. `make run` sets it when no Cloudflare credentials are set, "
            "and points the service at the Workers AI stand-in; the home page and the log then "
            "say that images come from the stand-in, and `API_KEY` takes keys of any length, "
            "`.env.example`'s placeholder too. Not for a real deployment"),
)
# fmt: on


def _no_weak_keys_outside_the_demo(s: Settings, _: Env) -> None:
    """API_KEY holds neither the example's key nor a short one, unless in the local demo. A
    message names a key by its place, never by itself."""
    for place, key in enumerate(() if s.demo_mode else s.api_keys, 1):
        if key in EXAMPLE_KEYS:
            raise ConfigError(
                f"API_KEY holds {key}, the placeholder of .env.example: anyone who read that "
                "file could use this service. Set a key of your own, e.g. the output of "
                + _MAKE_A_KEY
            )
        if len(key) < MIN_KEY_CHARS:
            raise ConfigError(
                f"API_KEY's key {place} has {len(key)} characters: a key needs at least "
                f"{MIN_KEY_CHARS}, or it can be guessed. Make a longer one, e.g. the output of "
                + _MAKE_A_KEY
            )


def _no_lasting_images_in_memory(s: Settings, _: Env) -> None:
    """The memory and Redis stores keep an image a week at most, never for good."""
    kind = store_scheme(s.image_store)
    if kind in LASTING_STORES:
        return
    if s.image_expiration == 0:
        raise ConfigError(
            f"IMAGE_EXPIRATION=0 keeps images for good, which IMAGE_STORE={kind} cannot "
            "(it holds them in memory): use IMAGE_STORE=file:///a/path or s3://bucket/prefix, "
            "or an expiration in seconds"
        )
    if s.image_expiration > MAX_MEMORY_EXPIRATION:
        raise ConfigError(
            f"IMAGE_EXPIRATION={s.image_expiration} is longer than IMAGE_STORE={kind} keeps "
            f"an image (a week, {MAX_MEMORY_EXPIRATION} seconds): use IMAGE_STORE=file:///a/path "
            "or s3://bucket/prefix, or a shorter expiration"
        )


def _no_key_share_where_it_goes_unheeded(s: Settings, env: Env) -> None:
    """IMAGE_STORE_KEY_BYTES only with the stores that share themselves out by key."""
    kind = store_scheme(s.image_store)
    if env.get("IMAGE_STORE_KEY_BYTES") and kind in LASTING_STORES:
        raise ConfigError(
            f"IMAGE_STORE_KEY_BYTES shares out what the memory and Redis stores hold; "
            f"IMAGE_STORE={kind}://… keeps every key's pictures alike (the disk's bound "
            "is the machine's, a bucket holds what its owner pays for): unset it"
        )


def _no_workers_without_a_shared_store(s: Settings, _: Env) -> None:
    """Several workers only with a store they all see."""
    if s.image_store == "memory" and s.web_concurrency > 1:
        raise ConfigError(
            f"WEB_CONCURRENCY={s.web_concurrency} needs a shared image store: with "
            "IMAGE_STORE=memory every worker process keeps its own images, so an image one "
            "worker stored would be missing when another serves /image/<key>. Set "
            "IMAGE_STORE=redis://… to run several workers, or WEB_CONCURRENCY=1 (Heroku sets "
            "WEB_CONCURRENCY by itself: heroku config:set WEB_CONCURRENCY=1)."
        )


def _no_limits_counted_by_each_worker(s: Settings, _: Env) -> None:
    """RATE_LIMIT and the budgets, with several workers on disk or S3, count in a Redis."""
    counted = [
        name
        for name, value in (
            ("RATE_LIMIT", s.rate_limit),
            ("DAILY_NEURON_BUDGET", s.daily_neuron_budget),
            ("DAILY_NEURON_BUDGET_PER_KEY", s.daily_neuron_budget_per_key),
        )
        if value
    ]
    kind = store_scheme(s.image_store)
    if counted and s.web_concurrency > 1 and kind in LASTING_STORES:
        _required(
            "REDIS_URL",
            s.redis_url,
            f"for {' and '.join(counted)} with IMAGE_STORE={kind}://… and WEB_CONCURRENCY="
            f"{s.web_concurrency}: each worker would count on its own, and let "
            "several times the limit through (or set WEB_CONCURRENCY=1)",
        )


def _no_bucket_without_credentials(s: Settings, _: Env) -> None:
    """An S3 store has both halves of its key pair."""
    if store_scheme(s.image_store) == "s3":
        when = "when IMAGE_STORE=s3://…"
        _required("AWS_ACCESS_KEY_ID", s.aws_access_key_id, when)
        _required("AWS_SECRET_ACCESS_KEY", s.aws_secret_access_key, when)


def _no_public_links_without_a_bucket(s: Settings, _: Env) -> None:
    """IMAGE_PUBLIC_BASE_URL only with the S3 store, whose bucket it reads."""
    if s.image_public_base_url and store_scheme(s.image_store) != "s3":
        raise ConfigError(
            "IMAGE_PUBLIC_BASE_URL links answers to a public bucket: it needs IMAGE_STORE=s3://…"
        )


def _no_optimizer_without_its_model(s: Settings, _: Env) -> None:
    """An optimizer on another provider's endpoint names the model it calls there."""
    if s.prompt_optimization and s.external_api_base:
        _required(
            "OPTIMIZER_MODEL (or EXTERNAL_MODEL)",
            s.optimizer_model,
            "when PROMPT_OPTIMIZATION=true names an EXTERNAL_API_BASE",
        )


CHECKS: tuple[Callable[[Settings, Env], None], ...] = (
    _no_weak_keys_outside_the_demo,
    _no_lasting_images_in_memory,
    _no_key_share_where_it_goes_unheeded,
    _no_workers_without_a_shared_store,
    _no_limits_counted_by_each_worker,
    _no_bucket_without_credentials,
    _no_public_links_without_a_bucket,
    _no_optimizer_without_its_model,
)


def read_environment(environ: Env | None = None, env_file: str | None = ".env") -> dict[str, str]:
    """`environ` (default: the process environment) over the variables in `env_file`."""
    values: dict[str, str] = {}
    if env_file and os.path.exists(env_file):
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    return values


def load_settings(environ: Env | None = None, env_file: str | None = ".env") -> Settings:
    """Read and check every setting from `environ` over `env_file`."""
    env = {name: value.strip() for name, value in read_environment(environ, env_file).items()}
    read: dict[str, Any] = {}
    for row in SETTINGS:
        name, text = _text_of(row, read, env)
        read[row.field_name] = _parse(name, text, row.parse)
    read |= _served_models(read)
    read |= _store_of_redis_url(read)
    read |= _account_pool(read)
    settings = Settings(**read)
    for check in CHECKS:
        check(settings, env)
    return settings


def _text_of(row: Setting, read: Mapping[str, Any], env: Env) -> tuple[str, str]:
    """The variable that gives `row` its text, and that text: the current name's, else an
    older name's, else the default's (a variable set empty counts as unset)."""
    for name in (row.env, *row.aliases):
        if env.get(name):
            return name, env[name]
    default = row.default(read, env) if callable(row.default) else row.default
    return row.env, as_text(default)


def as_text(value: object) -> str:
    """A value written as a variable's text: `true`, `120` for 120.0, `a,b` for a tuple."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def _parse(name: str, raw: str, parser: Callable[[str], T]) -> T:
    try:
        return parser(raw)
    except ConfigError:  # a parser's own message, which names its variable
        raise
    except ValueError as error:
        raise ConfigError(f"{name}={_redact(raw)!r} is invalid: {error}") from None


def _redact(raw: str) -> str:
    """`raw` without a password, should it be a URL that carries one."""
    return re.sub(r"(?<=://)[^/@\s]*@", "…@", raw)


def _required(name: str, value: str, when: str = "") -> str:
    if not value:
        raise ConfigError(f"{name} is required{' ' + when if when else ''}")
    return value


def _served_models(read: Mapping[str, Any]) -> dict[str, Any]:
    """MODELS, with FLUX_MODEL always offered, first, and EDIT_MODEL, last."""
    models = read["models"]
    if read["flux_model"] not in models:
        models = (read["flux_model"], *models)
    if read["edit_model"] and read["edit_model"] not in models:
        models = (*models, read["edit_model"])
    return {"models": models}


def _store_of_redis_url(read: Mapping[str, Any]) -> dict[str, Any]:
    """IMAGE_STORE=redis: the Redis of REDIS_URL, the variable Redis add-ons set."""
    if read["image_store"] != "redis":
        return {}
    return {"image_store": _required("REDIS_URL", read["redis_url"], "when IMAGE_STORE=redis")}


def _account_pool(read: Mapping[str, Any]) -> dict[str, Any]:
    """The pool of CF_ACCOUNTS, or the one account of CF_ACCOUNT_ID and CF_API_TOKEN.

    Beside CF_ACCOUNTS, those two may stay only as one of its entries (as when a pool grew
    from the one account): anything else would leave unclear which account is meant.
    """
    one, pool = CloudflareAccount(read["cf_account_id"], read["cf_api_token"]), read["cf_accounts"]
    if not pool:
        _required("CF_ACCOUNT_ID", one.id, "(or CF_ACCOUNTS)")
        _required("CF_API_TOKEN", one.token, "(or CF_ACCOUNTS)")
        pool = (one,)
    elif (one.id or one.token) and one not in pool:
        raise ConfigError(
            "CF_ACCOUNT_ID and CF_API_TOKEN are set beside CF_ACCOUNTS but are not one of its "
            "entries: unset them, or make them one account of CF_ACCOUNTS with its token"
        )
    first = pool[0]
    return {
        "cf_accounts": pool,
        "cf_account_id": first.id,
        "cf_api_token": first.token,
        "key_digest_secret": digest_secret(pool),
    }


def digest_secret(accounts: tuple[CloudflareAccount, ...]) -> bytes:
    """The secret API keys are digested with, from the Cloudflare tokens in any order."""
    tokens = "\0".join(sorted(account.token for account in accounts))
    return hashlib.sha256(b"flux-api key digests\0" + tokens.encode()).digest()
