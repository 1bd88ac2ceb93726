"""Settings: the one place that reads the environment and the `.env` file.

`load_settings()` parses and validates every variable once, at start-up, into a frozen
`Settings`. A bad value raises `ConfigError` naming the variable, so start-up stops with
one clear line instead of failing later in the middle of a request.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar
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
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9_-]+")
_TOKEN = re.compile(r"\S+")

T = TypeVar("T")


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
    external_model: str = ""
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
    reuse_pictures: bool = True  # answer repeatable requests from the store (see reuse.py)
    https_proxy: str = ""
    http_proxy: str = ""
    no_proxy: str = ""
    ca_bundle: str = ""
    forwarded_allow_ips: tuple[str, ...] = DEFAULT_FORWARDED_ALLOW_IPS
    demo_mode: bool = False
    # The pool, from CF_ACCOUNTS or CF_ACCOUNT_ID (cf_account_id is then its first account);
    # empty, as in settings built by hand, it is the one account of cf_account_id.
    cf_accounts: tuple[CloudflareAccount, ...] = ()

    @property
    def accounts(self) -> tuple[CloudflareAccount, ...]:
        """The Cloudflare accounts generations are spread over, in their order."""
        return self.cf_accounts or (CloudflareAccount(self.cf_account_id, self.cf_api_token),)

    metrics_token: str = field(default="", repr=False)  # "": /metrics for this machine alone
    # What API keys are digested with for the store, the counts, the log and the metrics: a
    # secret of the deployment (its Cloudflare tokens), so that no one who guesses a key can
    # confirm it from a label, while every instance of it names a key alike.
    key_digest_secret: bytes = field(default=b"", repr=False)
    # Where every gunicorn worker keeps its counts; "": one process, counted in memory.
    prometheus_multiproc_dir: str = ""


def read_environment(
    environ: Mapping[str, str] | None = None, env_file: str | None = ".env"
) -> dict[str, str]:
    """`environ` (default: the process environment) over the variables in `env_file`."""
    values: dict[str, str] = {}
    if env_file and os.path.exists(env_file):
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    return values


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: str | None = ".env"
) -> Settings:
    """Read and check every setting from `environ` over `env_file`."""
    env = {name: value.strip() for name, value in read_environment(environ, env_file).items()}

    def get(name: str, default: object = "") -> str:
        return env.get(name) or str(default)

    def setting(name: str, parser: Callable[[str], T], default: object = "") -> T:
        return _parse(name, get(name, default), parser)

    flux_model = setting("FLUX_MODEL", _model_id, DEFAULT_MODEL)
    models = setting("MODELS", _model_ids, ",".join(DEFAULT_MODELS))
    if flux_model not in models:
        models = (flux_model, *models)
    edit_model = setting("EDIT_MODEL", _optional_edit_model)
    if edit_model and edit_model not in models:
        models = (*models, edit_model)
    image_store = get("IMAGE_STORE", "memory")
    if image_store.lower() == "redis":  # the URL a Redis add-on put in REDIS_URL
        image_store = _required("REDIS_URL", get("REDIS_URL"), "when IMAGE_STORE=redis")
    image_store = _parse("IMAGE_STORE", image_store, _store)
    store_kind = store_scheme(image_store)
    default_workers = 1 if image_store == "memory" else 2 * (os.cpu_count() or 1)
    lasting = store_kind in LASTING_STORES
    longest = MAX_LASTING_EXPIRATION if lasting else MAX_MEMORY_EXPIRATION
    expiration = setting("IMAGE_EXPIRATION", between(0, longest), DEFAULT_IMAGE_EXPIRATION)
    if expiration == 0 and not lasting:
        raise ConfigError(
            f"IMAGE_EXPIRATION=0 keeps images for good, which IMAGE_STORE={store_kind} cannot "
            "(it holds them in memory): use IMAGE_STORE=file:///a/path or s3://bucket/prefix, "
            "or an expiration in seconds"
        )
    # Heroku (DYNO) and Render (RENDER) reach every dyno through their own router, from
    # addresses that change: there, the router is the only way in, so its headers are true.
    on_platform = bool(get("DYNO") or get("RENDER"))
    default_proxies = "*" if on_platform else ",".join(DEFAULT_FORWARDED_ALLOW_IPS)
    demo_mode = setting("DEMO_MODE", boolean, "false")
    api_keys = _api_keys(get("API_KEY"), demo_mode)
    # One key may take a share of what the instance offers: all of it when it is the only
    # key, a half with two, a third with three, a quarter from four keys on.
    sharers = min(max(len(api_keys), 1), 4)
    generations = setting(
        "MAX_CONCURRENT_GENERATIONS", between(1, 100_000), DEFAULT_MAX_CONCURRENT_GENERATIONS
    )
    store_bytes = setting(
        "IMAGE_STORE_MAX_BYTES", between(MIB, 1 << 40), DEFAULT_IMAGE_STORE_MAX_BYTES
    )
    if get("IMAGE_STORE_KEY_BYTES") and lasting:
        raise ConfigError(
            f"IMAGE_STORE_KEY_BYTES shares out what the memory and Redis stores hold; "
            f"IMAGE_STORE={store_kind}://… keeps every key's pictures alike (the disk's bound "
            "is the machine's, a bucket holds what its owner pays for): unset it"
        )
    accounts = _accounts(get("CF_ACCOUNTS"), get("CF_ACCOUNT_ID"), get("CF_API_TOKEN"))
    settings = Settings(
        api_keys=api_keys,
        cf_account_id=accounts[0].id,
        cf_api_token=accounts[0].token,
        cf_accounts=accounts,
        cf_api_base=setting("CF_API_BASE", url, DEFAULT_CF_API_BASE),
        cf_ai_gateway=setting("CF_AI_GATEWAY", gateway_id),
        cf_ai_gateway_token=get("CF_AI_GATEWAY_TOKEN"),
        cf_ai_gateway_base=setting("CF_AI_GATEWAY_BASE", url, DEFAULT_CF_AI_GATEWAY_BASE),
        flux_model=flux_model,
        models=models,
        flux_num_steps=setting("FLUX_NUM_STEPS", between(1, 100), DEFAULT_STEPS),
        image_expiration=expiration,
        # CF_IS_TRANSLATE is the Worker's name for the switch.
        prompt_optimization=setting(
            "PROMPT_OPTIMIZATION", boolean, get("CF_IS_TRANSLATE", "false")
        ),
        external_api_base=setting("EXTERNAL_API_BASE", optional_url),
        external_model=get("EXTERNAL_MODEL"),
        external_api_key=get("EXTERNAL_API_KEY"),
        system_message=get("SYSTEM_MESSAGE"),
        response_language=setting("RESPONSE_LANGUAGE", language_in(LANGUAGES), "en"),
        public_base_url=setting("PUBLIC_BASE_URL", optional_url),
        port=setting("PORT", between(1, 65535), DEFAULT_PORT),
        upstream_timeout=setting(
            "UPSTREAM_TIMEOUT", between(0.1, 3600.0), DEFAULT_UPSTREAM_TIMEOUT
        ),
        upstream_retry_budget=setting(
            "UPSTREAM_RETRY_BUDGET", between(0.0, 3600.0), DEFAULT_UPSTREAM_RETRY_BUDGET
        ),
        optimizer_timeout=setting(
            "OPTIMIZER_TIMEOUT", between(0.1, 600.0), DEFAULT_OPTIMIZER_TIMEOUT
        ),
        stream_keepalive=setting("STREAM_KEEPALIVE", between(0.1, 60.0), DEFAULT_STREAM_KEEPALIVE),
        idle_timeout=setting("IDLE_TIMEOUT", between(1, 600), DEFAULT_IDLE_TIMEOUT),
        client_timeout=setting("CLIENT_TIMEOUT", between(0.5, 600.0), DEFAULT_CLIENT_TIMEOUT),
        worker_connections=setting(
            "WORKER_CONNECTIONS", between(10, 100_000), DEFAULT_WORKER_CONNECTIONS
        ),
        max_unsent_bytes=setting(
            "MAX_UNSENT_BYTES", between(MIB, 1 << 40), DEFAULT_MAX_UNSENT_BYTES
        ),
        max_body_bytes=setting("MAX_BODY_BYTES", between(1024, 1024 * MIB), DEFAULT_MAX_BODY_BYTES),
        max_body_memory=setting("MAX_BODY_MEMORY", between(MIB, 1 << 40), DEFAULT_MAX_BODY_MEMORY),
        max_image_bytes=setting(
            "MAX_IMAGE_BYTES", between(1024, 1024 * MIB), DEFAULT_MAX_IMAGE_BYTES
        ),
        edit_model=edit_model,
        fetch_image_urls=setting("FETCH_IMAGE_URLS", boolean, "true"),
        fetch_private_networks=setting("FETCH_PRIVATE_NETWORKS", networks, ""),
        image_store_max_bytes=store_bytes,
        image_store_key_bytes=setting(
            "IMAGE_STORE_KEY_BYTES", between(MIB, 1 << 40), store_bytes // sharers
        ),
        https_proxy=get("HTTPS_PROXY", get("https_proxy")),
        http_proxy=get("HTTP_PROXY", get("http_proxy")),
        no_proxy=get("NO_PROXY", get("no_proxy")),
        ca_bundle=setting("REQUESTS_CA_BUNDLE", optional_file),
        forwarded_allow_ips=setting("FORWARDED_ALLOW_IPS", addresses, default_proxies),
        image_store=image_store,
        s3_endpoint_url=setting("S3_ENDPOINT_URL", optional_url),
        aws_access_key_id=get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=get("AWS_SECRET_ACCESS_KEY"),
        aws_region=setting("AWS_REGION", region, get("AWS_DEFAULT_REGION", DEFAULT_S3_REGION)),
        image_public_base_url=setting("IMAGE_PUBLIC_BASE_URL", optional_url),
        web_concurrency=setting("WEB_CONCURRENCY", between(1, 256), default_workers),
        max_concurrent_generations=generations,
        max_generations_per_key=setting(
            "MAX_GENERATIONS_PER_KEY", between(1, 100_000), max(1, generations // sharers)
        ),
        generation_wait=setting("GENERATION_WAIT", between(0.0, 600.0), DEFAULT_GENERATION_WAIT),
        rate_limit=setting("RATE_LIMIT", rate_limit),
        redis_url=setting("REDIS_URL", optional_redis),
        daily_neuron_budget=setting("DAILY_NEURON_BUDGET", neurons, "0"),
        daily_neuron_budget_per_key=setting("DAILY_NEURON_BUDGET_PER_KEY", neurons, "0"),
        skip_client_tasks=setting("SKIP_CLIENT_TASKS", boolean, "true"),
        reuse_pictures=setting("REUSE_PICTURES", boolean, "true"),
        demo_mode=demo_mode,
        metrics_token=get("METRICS_TOKEN"),
        key_digest_secret=digest_secret(accounts),
        # gunicorn.conf.py sets it for the workers (see there); prometheus_client reads it too.
        prometheus_multiproc_dir=setting("PROMETHEUS_MULTIPROC_DIR", optional_directory),
    )
    if settings.image_store == "memory" and settings.web_concurrency > 1:
        raise ConfigError(
            f"WEB_CONCURRENCY={settings.web_concurrency} needs a shared image store: with "
            "IMAGE_STORE=memory every worker process keeps its own images, so an image one "
            "worker stored would be missing when another serves /image/<key>. Set "
            "IMAGE_STORE=redis://… to run several workers, or WEB_CONCURRENCY=1 (Heroku sets "
            "WEB_CONCURRENCY by itself: heroku config:set WEB_CONCURRENCY=1)."
        )
    counted = [
        name
        for name, value in (
            ("RATE_LIMIT", settings.rate_limit),
            ("DAILY_NEURON_BUDGET", settings.daily_neuron_budget),
            ("DAILY_NEURON_BUDGET_PER_KEY", settings.daily_neuron_budget_per_key),
        )
        if value
    ]
    if counted and settings.web_concurrency > 1 and store_kind in LASTING_STORES:
        _required(
            "REDIS_URL",
            settings.redis_url,
            f"for {' and '.join(counted)} with IMAGE_STORE={store_kind}://… and WEB_CONCURRENCY="
            f"{settings.web_concurrency}: each worker would count on its own, and let "
            "several times the limit through (or set WEB_CONCURRENCY=1)",
        )
    if store_kind == "s3":
        _required("AWS_ACCESS_KEY_ID", settings.aws_access_key_id, "when IMAGE_STORE=s3://…")
        _required(
            "AWS_SECRET_ACCESS_KEY", settings.aws_secret_access_key, "when IMAGE_STORE=s3://…"
        )
    elif settings.image_public_base_url:
        raise ConfigError(
            "IMAGE_PUBLIC_BASE_URL links answers to a public bucket: it needs IMAGE_STORE=s3://…"
        )
    if settings.prompt_optimization:
        _required("EXTERNAL_API_BASE", settings.external_api_base, "when PROMPT_OPTIMIZATION=true")
        _required("EXTERNAL_MODEL", settings.external_model, "when PROMPT_OPTIMIZATION=true")
    return settings


def _accounts(pool: str, account_id: str, token: str) -> tuple[CloudflareAccount, ...]:
    """CF_ACCOUNTS, or the one account of CF_ACCOUNT_ID and CF_API_TOKEN.

    Beside CF_ACCOUNTS, those two may stay only as one of its entries (as when a pool grew
    from the one account): anything else would leave unclear which account is meant.
    Messages name entries by place and id, never with their token.
    """
    if not pool:
        return (
            CloudflareAccount(
                _required("CF_ACCOUNT_ID", account_id, "(or CF_ACCOUNTS)"),
                _required("CF_API_TOKEN", token, "(or CF_ACCOUNTS)"),
            ),
        )
    accounts: dict[str, CloudflareAccount] = {}
    for place, entry in enumerate((e.strip() for e in pool.split(",") if e.strip()), 1):
        name, colon, secret = (part.strip() for part in entry.partition(":"))
        if not colon or not _ACCOUNT_ID.fullmatch(name) or not _TOKEN.fullmatch(secret):
            raise ConfigError(
                f"CF_ACCOUNTS entry {place} is invalid: expected account_id:api_token "
                "(an id of letters, digits, - and _, then a token), entries comma-separated"
            )
        if name in accounts:
            raise ConfigError(f"CF_ACCOUNTS names the account {name} twice (entry {place})")
        accounts[name] = CloudflareAccount(name, secret)
    if not accounts:
        raise ConfigError("CF_ACCOUNTS is invalid: expected account_id:api_token,…")
    if (account_id or token) and accounts.get(account_id) != CloudflareAccount(account_id, token):
        raise ConfigError(
            "CF_ACCOUNT_ID and CF_API_TOKEN are set beside CF_ACCOUNTS but are not one of its "
            "entries: unset them, or make them one account of CF_ACCOUNTS with its token"
        )
    return tuple(accounts.values())


def digest_secret(accounts: tuple[CloudflareAccount, ...]) -> bytes:
    """The secret API keys are digested with, from the Cloudflare tokens in any order."""
    tokens = "\0".join(sorted(account.token for account in accounts))
    return hashlib.sha256(b"flux-api key digests\0" + tokens.encode()).digest()


def _api_keys(raw: str, demo: bool) -> tuple[str, ...]:
    """The keys of API_KEY; outside demo mode, never the example's, nor a short one. A
    message names a key by its place, never by itself."""
    keys = tuple(key.strip() for key in raw.split(",") if key.strip())
    if demo:
        return keys
    for place, key in enumerate(keys, 1):
        if key in EXAMPLE_KEYS:
            raise ConfigError(
                f"API_KEY holds {key}, the placeholder of .env.example: anyone who read that "
                "file could use this service. Set a key of your own, e.g. the output of "
                "python3 -c 'import secrets; print(\"sk-\" + secrets.token_urlsafe(24))'"
            )
        if len(key) < MIN_KEY_CHARS:
            raise ConfigError(
                f"API_KEY's key {place} has {len(key)} characters: a key needs at least "
                f"{MIN_KEY_CHARS}, or it can be guessed. Make a longer one, e.g. the output of "
                "python3 -c 'import secrets; print(\"sk-\" + secrets.token_urlsafe(24))'"
            )
    return keys


def _required(name: str, value: str, when: str = "") -> str:
    if not value:
        raise ConfigError(f"{name} is required{' ' + when if when else ''}")
    return value


def _parse(name: str, raw: str, parser: Callable[[str], T]) -> T:
    try:
        return parser(raw)
    except ValueError as error:
        raise ConfigError(f"{name}={_redact(raw)!r} is invalid: {error}") from None


def _redact(raw: str) -> str:
    """`raw` without a password, should it be a URL that carries one."""
    return re.sub(r"(?<=://)[^/@\s]*@", "…@", raw)


def _model_id(raw: str) -> str:
    model = lookup(raw)
    if model is None:
        raise ValueError("not a Workers AI text-to-image model this service knows (see README)")
    return model.id


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


def _model_ids(raw: str) -> tuple[str, ...]:
    ids = [_model_id(name) for name in raw.split(",") if name.strip()]
    if not ids:
        raise ValueError("expected at least one model id")
    return tuple(dict.fromkeys(ids))


def store_scheme(image_store: str) -> str:
    """Which kind of store IMAGE_STORE names: memory, redis, file or s3."""
    scheme = urlsplit(image_store).scheme
    return scheme if scheme in LASTING_STORES else "memory" if image_store == "memory" else "redis"


def _store(raw: str) -> str:
    if raw.lower() == "memory":
        return "memory"
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
