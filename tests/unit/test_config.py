"""Settings are parsed once, with the SPEC's defaults, and bad values name their variable."""

import os
import re
from dataclasses import fields

import pytest
from limits.storage import MemoryStorage, RedisStorage

from config import (
    ABOVE,
    DEFAULT_MODELS,
    SETTINGS,
    ConfigError,
    Settings,
    as_text,
    load_settings,
)
from flux_service.stores.file_layout import STORE_MARKER
from flux_service.stores.store_urls import shared_redis
from flux_service.web.factory import open_redis
from flux_service.web.ratelimit import RateLimits

REQUIRED = {"CF_ACCOUNT_ID": "acc", "CF_API_TOKEN": "tok"}
S3 = {"IMAGE_STORE": "s3://pictures/f", "AWS_ACCESS_KEY_ID": "i", "AWS_SECRET_ACCESS_KEY": "s"}


def load(**env: str) -> Settings:
    return load_settings({**REQUIRED, **env}, env_file=None)


def test_defaults_follow_the_spec() -> None:
    settings = load()
    assert settings.api_keys == ()
    assert settings.cf_api_base == "https://api.cloudflare.com/client/v4"
    assert settings.flux_model == "@cf/black-forest-labs/flux-1-schnell"
    assert settings.models == DEFAULT_MODELS
    assert settings.flux_num_steps == 4
    assert settings.image_expiration == 1800
    assert settings.prompt_optimization is False
    assert settings.response_language == "en"
    assert settings.public_base_url == ""
    assert settings.port == 8000


def test_values_are_parsed() -> None:
    settings = load(
        API_KEY=" sk-first-0123456789, sk-second-0123456789 ,,",
        CF_API_BASE="http://127.0.0.1:9/client/v4/",
        FLUX_MODEL="flux-2-klein-4b",
        MODELS="sdxl-base, @cf/leonardo/phoenix-1.0",
        IMAGE_EXPIRATION="60",
        PROMPT_OPTIMIZATION="TRUE",
        EXTERNAL_API_BASE="https://llm.example/v1",
        EXTERNAL_MODEL="writer",
        RESPONSE_LANGUAGE="zh_CN",
        PUBLIC_BASE_URL="https://img.example/",
        PORT="5000",
    )
    assert settings.api_keys == ("sk-first-0123456789", "sk-second-0123456789")
    assert settings.cf_api_base == "http://127.0.0.1:9/client/v4"
    assert settings.flux_model == "@cf/black-forest-labs/flux-2-klein-4b"
    # FLUX_MODEL is always offered, first.
    assert settings.models == (
        "@cf/black-forest-labs/flux-2-klein-4b",
        "@cf/stabilityai/stable-diffusion-xl-base-1.0",
        "@cf/leonardo/phoenix-1.0",
    )
    assert settings.prompt_optimization is True
    assert settings.response_language == "zh-cn"
    assert settings.public_base_url == "https://img.example"
    assert settings.port == 5000


def test_editing_settings() -> None:
    settings = load()
    assert settings.max_body_bytes == 50 * 1024 * 1024
    assert (settings.edit_model, settings.fetch_image_urls) == ("", True)
    assert settings.fetch_private_networks == ()
    edited = load(
        MODELS="flux-1-schnell",
        EDIT_MODEL="sd-1.5-inpainting",
        FETCH_IMAGE_URLS="false",
        FETCH_PRIVATE_NETWORKS="127.0.0.2/32, 10.9.0.0/16",
    )
    # The model that edits is offered too.
    assert edited.models == (
        "@cf/black-forest-labs/flux-1-schnell",
        "@cf/runwayml/stable-diffusion-v1-5-inpainting",
    )
    assert edited.fetch_image_urls is False
    assert edited.fetch_private_networks == ("127.0.0.2/32", "10.9.0.0/16")


def test_failing_calls_are_tried_again_for_a_budget_of_their_own() -> None:
    assert (load().upstream_timeout, load().upstream_retry_budget) == (120.0, 20.0)
    settings = load(UPSTREAM_TIMEOUT="300", UPSTREAM_RETRY_BUDGET="2.5")
    assert (settings.upstream_timeout, settings.upstream_retry_budget) == (300.0, 2.5)
    assert load(UPSTREAM_RETRY_BUDGET="0").upstream_retry_budget == 0  # never tried again


def test_pictures_are_reused_unless_turned_off() -> None:
    assert load().reuse_images is True
    assert load(REUSE_PICTURES="off").reuse_images is False
    with pytest.raises(ConfigError, match="REUSE_PICTURES"):
        load(REUSE_PICTURES="sometimes")


def test_mcp_lets_in_browser_pages_by_their_origin_alone() -> None:
    assert load().mcp_allowed_origins == ()
    origins = load(
        MCP_ALLOWED_ORIGINS="https://App.example, http://localhost:6274"
    ).mcp_allowed_origins
    assert origins == ("https://app.example", "http://localhost:6274")
    assert load(MCP_ALLOWED_ORIGINS="*").mcp_allowed_origins == ("*",)
    for wrong in ("app.example", "https://app.example/chat", "https://"):
        with pytest.raises(ConfigError, match="MCP_ALLOWED_ORIGINS"):
            load(MCP_ALLOWED_ORIGINS=wrong)


def test_the_shared_redis_is_the_stores_else_redis_url() -> None:
    assert shared_redis(load()) == ""
    assert shared_redis(load(IMAGE_STORE="redis://r:6379/0")) == "redis://r:6379/0"
    assert shared_redis(load(REDIS_URL="redis://q:6379/1")) == "redis://q:6379/1"
    assert shared_redis(load(**S3)) == ""
    assert shared_redis(load(**S3, REDIS_URL="redis://r:6379/1")) == "redis://r:6379/1"
    assert shared_redis(load(IMAGE_STORE="redis://a/0", REDIS_URL="redis://b/0")) == "redis://a/0"
    with pytest.raises(ConfigError, match="REDIS_URL"):
        load(REDIS_URL="http://r:6379")


def test_the_optimizer_needs_nothing_but_its_switch() -> None:
    settings = load(PROMPT_OPTIMIZATION="true")  # on Workers AI, with the images' accounts
    assert (settings.external_api_base, settings.optimizer_model) == (
        "",
        "@cf/google/gemma-4-26b-a4b-it",
    )
    assert load(PROMPT_OPTIMIZATION="true", OPTIMIZER_MODEL="@cf/x/y").optimizer_model == "@cf/x/y"
    with pytest.raises(ConfigError, match=r"OPTIMIZER_MODEL \(or EXTERNAL_MODEL\) is required"):
        load(PROMPT_OPTIMIZATION="true", EXTERNAL_API_BASE="https://llm.example/v1")


def test_the_workers_switch_name_still_works() -> None:
    settings = load(CF_IS_TRANSLATE="true", EXTERNAL_API_BASE="https://x.test", EXTERNAL_MODEL="m")
    assert settings.prompt_optimization is True


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"CF_ACCOUNT_ID": ""}, "CF_ACCOUNT_ID"),
        ({"CF_API_TOKEN": ""}, "CF_API_TOKEN"),
        ({"CF_API_BASE": "ftp://x"}, "CF_API_BASE"),
        ({"FLUX_MODEL": "@cf/meta/llama-3-8b"}, "FLUX_MODEL"),
        ({"MODELS": "flux-1-schnell,nope"}, "MODELS"),
        ({"FLUX_NUM_STEPS": "four"}, "FLUX_NUM_STEPS"),
        ({"FLUX_NUM_STEPS": "0"}, "FLUX_NUM_STEPS"),
        ({"IMAGE_EXPIRATION": "-5"}, "IMAGE_EXPIRATION"),
        ({"PROMPT_OPTIMIZATION": "maybe"}, "PROMPT_OPTIMIZATION"),
        ({"PROMPT_OPTIMIZATION": "true", "EXTERNAL_API_BASE": "https://x.test"}, "EXTERNAL_MODEL"),
        ({"RESPONSE_LANGUAGE": "klingon"}, "RESPONSE_LANGUAGE"),
        ({"PUBLIC_BASE_URL": "img.example"}, "PUBLIC_BASE_URL"),
        ({"PORT": "99999"}, "PORT"),
        ({"UPSTREAM_TIMEOUT": "soon"}, "UPSTREAM_TIMEOUT"),
        ({"UPSTREAM_RETRY_BUDGET": "a while"}, "UPSTREAM_RETRY_BUDGET"),
        ({"UPSTREAM_RETRY_BUDGET": "-1"}, "UPSTREAM_RETRY_BUDGET"),
        ({"EDIT_MODEL": "flux-1-schnell"}, "EDIT_MODEL"),
        ({"FETCH_PRIVATE_NETWORKS": "*"}, "FETCH_PRIVATE_NETWORKS"),
        ({"FETCH_PRIVATE_NETWORKS": "10.0.0.0/33"}, "FETCH_PRIVATE_NETWORKS"),
        ({"MAX_IMAGE_BYTES": "big"}, "MAX_IMAGE_BYTES"),
        ({"DAILY_NEURON_BUDGET": "lots"}, "DAILY_NEURON_BUDGET"),
        ({"DAILY_NEURON_BUDGET": "-1"}, "DAILY_NEURON_BUDGET"),
        ({"DAILY_NEURON_BUDGET": "nan"}, "DAILY_NEURON_BUDGET"),
        ({"DAILY_NEURON_BUDGET_PER_KEY": "inf"}, "DAILY_NEURON_BUDGET_PER_KEY"),
        ({"DAILY_NEURON_BUDGET_PER_KEY": "10k"}, "DAILY_NEURON_BUDGET_PER_KEY"),
    ],
)
def test_a_bad_value_names_its_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings({**REQUIRED, **env}, env_file=None)


def test_dotenv_is_read_and_the_environment_wins(tmp_path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("CF_ACCOUNT_ID=from-file\nCF_API_TOKEN=file-token\nPORT=7000\n")
    settings = load_settings({"PORT": "7100"}, env_file=str(env_file))
    assert (settings.cf_account_id, settings.port) == ("from-file", 7100)


@pytest.mark.parametrize(
    ("keys", "words"),
    [
        ("sk-change-me", "API_KEY holds sk-change-me, the placeholder of .env.example"),
        ("sk-long-enough-0123456789,sk-change-me", "the placeholder of .env.example"),
        ("sk-long-enough-0123456789,hunter2", "API_KEY's key 2 has 7 characters"),
        ("abcdefghijklmno", "API_KEY's key 1 has 15 characters: a key needs at least 16"),
    ],
)
def test_the_example_key_and_short_keys_are_refused(keys: str, words: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(words)) as refused:
        load(API_KEY=keys)
    assert "hunter2" not in str(refused.value)
    assert load(API_KEY=keys, DEMO_MODE="true").api_keys  # the local demo takes any key


def test_secrets_stay_out_of_repr() -> None:
    settings = load(API_KEY="sk-secret-0123456789", EXTERNAL_API_KEY="ext-secret")
    text = repr(settings)
    assert "tok" not in text
    assert "sk-secret" not in text
    assert "ext-secret" not in text


def test_scaling_settings() -> None:
    settings = load(
        IMAGE_STORE="redis://:secret@redis.internal:6379/0",
        MAX_CONCURRENT_GENERATIONS="10",
        GENERATION_WAIT="2.5",
        RATE_LIMIT="20/minute;500/day",
    )
    assert settings.image_store == "redis://:secret@redis.internal:6379/0"
    assert settings.web_concurrency >= 2  # two per core with a shared store
    assert (settings.max_concurrent_generations, settings.generation_wait) == (10, 2.5)
    assert settings.rate_limit == "20/minute;500/day"
    assert load().web_concurrency == 1


def test_several_workers_need_a_shared_store() -> None:
    with pytest.raises(ConfigError, match="WEB_CONCURRENCY=2 needs a shared image store"):
        load(WEB_CONCURRENCY="2")
    assert load(IMAGE_STORE="redis://localhost", WEB_CONCURRENCY="2").web_concurrency == 2


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"IMAGE_STORE": "postgres://x"}, "IMAGE_STORE"),
        ({"RATE_LIMIT": "many"}, "RATE_LIMIT"),
        ({"MAX_CONCURRENT_GENERATIONS": "0"}, "MAX_CONCURRENT_GENERATIONS"),
        ({"IMAGE_STORE_MAX_BYTES": "1000"}, "IMAGE_STORE_MAX_BYTES"),
        ({"REQUESTS_CA_BUNDLE": "/no/such/file.pem"}, "REQUESTS_CA_BUNDLE"),
        ({"PROMETHEUS_MULTIPROC_DIR": "/no/such/folder"}, "PROMETHEUS_MULTIPROC_DIR"),
    ],
)
def test_bad_scaling_settings_name_their_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load(**env)


def test_a_password_in_a_url_never_reaches_the_message() -> None:
    with pytest.raises(ConfigError) as caught:
        load(IMAGE_STORE="mongodb://admin:hunter2@db.internal/")
    assert "hunter2" not in str(caught.value)


def test_image_store_redis_takes_the_add_ons_url() -> None:
    assert load(IMAGE_STORE="redis", REDIS_URL="rediss://h:6380").image_store == "rediss://h:6380"
    with pytest.raises(ConfigError, match="REDIS_URL is required when IMAGE_STORE=redis"):
        load(IMAGE_STORE="redis")


def test_an_s3_store_takes_the_standard_aws_names() -> None:
    s3 = {
        "IMAGE_STORE": "s3://pictures/flux/",
        "S3_ENDPOINT_URL": "http://127.0.0.1:8333",
        "AWS_ACCESS_KEY_ID": "key-id",
        "AWS_SECRET_ACCESS_KEY": "very-secret",
    }
    settings = load(**s3, IMAGE_PUBLIC_BASE_URL="https://img.example", IMAGE_EXPIRATION="0")
    assert settings.image_store == "s3://pictures/flux/"
    assert settings.s3_endpoint_url == "http://127.0.0.1:8333"
    assert (settings.aws_access_key_id, settings.aws_secret_access_key) == ("key-id", "very-secret")
    assert settings.aws_region == "auto"  # what R2 takes
    assert settings.image_public_base_url == "https://img.example"
    assert settings.image_expiration == 0  # kept for good
    assert "very-secret" not in repr(settings)
    assert load(**s3, AWS_REGION="eu-central-1").aws_region == "eu-central-1"
    with pytest.raises(ConfigError, match="AWS_SECRET_ACCESS_KEY is required when IMAGE_STORE=s3"):
        load(**{**s3, "AWS_SECRET_ACCESS_KEY": ""})
    with pytest.raises(ConfigError, match="IMAGE_PUBLIC_BASE_URL"):
        load(IMAGE_PUBLIC_BASE_URL="https://img.example")


def test_a_disk_store_takes_an_absolute_folder_and_lasting_expirations() -> None:
    settings = load(IMAGE_STORE="file:///var/lib/flux", IMAGE_EXPIRATION="0")
    assert (settings.image_store, settings.image_expiration) == ("file:///var/lib/flux", 0)
    assert settings.web_concurrency > 1 or os.cpu_count() == 1  # workers share the folder
    assert load(IMAGE_STORE="file:///d", IMAGE_EXPIRATION=str(365 * 86400)).image_expiration
    for bad in ("file://host/d", "file:relative", "ftp://x/y", "s3://UPPER/x"):
        with pytest.raises(ConfigError, match="IMAGE_STORE"):
            load(IMAGE_STORE=bad)


def test_a_disk_store_refuses_a_folder_that_holds_other_things(tmp_path) -> None:
    home = tmp_path / "home"
    (home / "docs").mkdir(parents=True)
    (home / "docs" / "thesis.pdf").write_bytes(b"%PDF")
    (home / ".bashrc").write_text("")
    with pytest.raises(ConfigError, match=r"IMAGE_STORE=.* the folder holds what this serv"):
        load(IMAGE_STORE=f"file://{home}")
    with pytest.raises(ConfigError, match=r"IMAGE_STORE=.* is a file, not a folder"):
        load(IMAGE_STORE=f"file://{home / 'docs' / 'thesis.pdf'}")
    with pytest.raises(ConfigError, match="IMAGE_STORE"):
        load(IMAGE_STORE="file:///")


def test_a_disk_store_takes_a_new_empty_marked_or_earlier_store_folder(tmp_path) -> None:
    assert load(IMAGE_STORE=f"file://{tmp_path / 'new'}").image_store.endswith("new")
    empty = tmp_path / "empty"
    (empty / "lost+found").mkdir(parents=True)  # a fresh filesystem's root
    assert load(IMAGE_STORE=f"file://{empty}")
    earlier = tmp_path / "earlier"  # a store made before the marker was
    for name in ("ab", "Z_", ".reuse"):
        (earlier / name).mkdir(parents=True)
    (earlier / ".sweep-lock").write_bytes(b"")
    assert load(IMAGE_STORE=f"file://{earlier}")
    marked = tmp_path / "marked"
    marked.mkdir()
    (marked / STORE_MARKER).write_bytes(b"")
    (marked / "put here by hand.txt").write_text("left alone")
    assert load(IMAGE_STORE=f"file://{marked}")


@pytest.mark.parametrize("store", ["s3://pictures", "s3://pictures/", "s3://pictures//"])
def test_a_bucket_without_a_prefix_is_refused(store: str) -> None:
    s3 = {"AWS_ACCESS_KEY_ID": "i", "AWS_SECRET_ACCESS_KEY": "s"}
    with pytest.raises(ConfigError, match=r"IMAGE_STORE=.* needs a key prefix .* s3://pictures/f"):
        load(IMAGE_STORE=store, **s3)


@pytest.mark.parametrize(
    "store", ["file:///var/lib/flux", "s3://pictures/flux/"], ids=["disk", "bucket"]
)
def test_a_keys_share_is_refused_where_it_would_go_unheeded(store: str) -> None:
    s3 = {"AWS_ACCESS_KEY_ID": "i", "AWS_SECRET_ACCESS_KEY": "s"}
    assert load(IMAGE_STORE=store, **s3)
    with pytest.raises(ConfigError, match=r"IMAGE_STORE_KEY_BYTES shares out .* unset it"):
        load(IMAGE_STORE=store, IMAGE_STORE_KEY_BYTES="10485760", **s3)


@pytest.mark.parametrize("written", ["00", "+0", "-0", " 0"])
def test_zero_written_any_way_needs_a_lasting_store(written: str) -> None:
    with pytest.raises(ConfigError, match="IMAGE_EXPIRATION=0 keeps images for good"):
        load(IMAGE_EXPIRATION=written)
    assert load(IMAGE_STORE="file:///var/lib/flux", IMAGE_EXPIRATION=written).image_expiration == 0


@pytest.mark.parametrize("store", ["memory", "redis://r:6379/0"])
def test_stores_in_memory_refuse_to_keep_for_good(store: str) -> None:
    with pytest.raises(ConfigError, match="IMAGE_EXPIRATION=0 keeps images for good"):
        load(IMAGE_STORE=store, IMAGE_EXPIRATION="0")
    with pytest.raises(ConfigError, match="IMAGE_EXPIRATION"):
        load(IMAGE_STORE=store, IMAGE_EXPIRATION=str(8 * 86400))


def test_rate_limits_with_several_workers_on_disk_need_a_redis() -> None:
    disk = {"IMAGE_STORE": "file:///d", "RATE_LIMIT": "20/minute", "WEB_CONCURRENCY": "4"}
    with pytest.raises(ConfigError, match="REDIS_URL is required for RATE_LIMIT"):
        load(**disk)
    assert load(**disk, REDIS_URL="redis://r:6379/0").redis_url == "redis://r:6379/0"
    assert load(**{**disk, "WEB_CONCURRENCY": "1"}).rate_limit == "20/minute"


def test_daily_neuron_budgets_are_off_unless_set() -> None:
    assert (load().daily_neuron_budget, load().daily_neuron_budget_per_key) == (0, 0)
    settings = load(DAILY_NEURON_BUDGET="10000", DAILY_NEURON_BUDGET_PER_KEY="2500.5")
    assert (settings.daily_neuron_budget, settings.daily_neuron_budget_per_key) == (10000, 2500.5)
    assert load(DAILY_NEURON_BUDGET="0").daily_neuron_budget == 0


@pytest.mark.parametrize("variable", ["DAILY_NEURON_BUDGET", "DAILY_NEURON_BUDGET_PER_KEY"])
def test_budgets_with_several_workers_on_disk_need_a_redis(variable: str) -> None:
    disk = {"IMAGE_STORE": "file:///d", variable: "10000", "WEB_CONCURRENCY": "4"}
    with pytest.raises(ConfigError, match=f"REDIS_URL is required for {variable} with"):
        load(**disk)
    assert load(**disk, REDIS_URL="redis://r:6379/0").redis_url == "redis://r:6379/0"
    assert load(**{**disk, "WEB_CONCURRENCY": "1"}).web_concurrency == 1
    assert load(IMAGE_STORE="redis://r/0", WEB_CONCURRENCY="4", **{variable: "1"})


@pytest.mark.parametrize(
    ("env", "redis"),
    [
        ({}, None),  # no shared Redis: each process counts in memory
        ({**S3, "WEB_CONCURRENCY": "1"}, None),
        ({**S3, "REDIS_URL": "redis://r:6379/1"}, ("r", 6379, 1)),
        ({"IMAGE_STORE": "redis://a:6380/2"}, ("a", 6380, 2)),
        ({"IMAGE_STORE": "redis://a:6379/0", "REDIS_URL": "redis://b:6379/0"}, ("a", 6379, 0)),
    ],
)
def test_rate_limits_count_in_the_store_or_in_redis_url(
    env: dict[str, str], redis: tuple[str, int, int] | None
) -> None:
    # Built as the app builds them, never connected: no Redis need answer at these addresses.
    settings = load(**env, RATE_LIMIT="5/minute")
    storage = RateLimits(settings, open_redis(settings))._window.storage
    if redis is None:
        assert isinstance(storage, MemoryStorage)
    else:
        assert isinstance(storage, RedisStorage)
        kwargs = storage.storage.connection_pool.connection_kwargs
        assert (kwargs["host"], kwargs["port"], kwargs["db"]) == redis


@pytest.mark.parametrize(
    "limit",
    ["20/minute", "20 per minute", "20/minute;500/day", "1/second, 5/2 hours", "3 PER DAY",
     "many", "20/fortnight", "/minute", "20/minute;", "20 minutes", "20/minute 500/day"],
)  # fmt: skip
def test_rate_limits_are_read_as_flask_limiter_reads_them(limit: str) -> None:
    # The parser the check stands in for, imported only by this test.
    from limits import parse_many  # noqa: PLC0415

    try:
        parse_many(limit)
        accepted = True
    except ValueError:
        accepted = False
    if accepted:
        assert load(RATE_LIMIT=limit).rate_limit == limit
    else:
        with pytest.raises(ConfigError, match="RATE_LIMIT"):
            load(RATE_LIMIT=limit)


def pool(**env: str) -> Settings:
    return load_settings(env, env_file=None)


def test_cf_accounts_is_a_pool_in_its_order() -> None:
    settings = pool(CF_ACCOUNTS=" first:tok-1 , second:tok:with:colons,")
    assert [(a.id, a.token) for a in settings.accounts] == [
        ("first", "tok-1"),
        ("second", "tok:with:colons"),
    ]


def test_the_one_account_form_is_a_pool_of_one() -> None:
    accounts = load().accounts
    assert [(a.id, a.token) for a in accounts] == [("acc", "tok")]
    assert Settings(cf_account_id="a", cf_api_token="t").accounts[0].id == "a"


def test_the_one_account_form_may_stay_as_an_entry_of_the_pool() -> None:
    settings = pool(CF_ACCOUNTS="acc:tok,other:tok-2", **REQUIRED)
    assert [a.id for a in settings.accounts] == ["acc", "other"]


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"CF_ACCOUNTS": "acc:tok,secret-token-only"}, "CF_ACCOUNTS entry 2 is invalid"),
        ({"CF_ACCOUNTS": "acc:"}, "CF_ACCOUNTS entry 1 is invalid"),
        ({"CF_ACCOUNTS": ":secret-token-only"}, "CF_ACCOUNTS entry 1 is invalid"),
        ({"CF_ACCOUNTS": "a/b:secret-token-only"}, "CF_ACCOUNTS entry 1 is invalid"),
        ({"CF_ACCOUNTS": "acc:secret token only"}, "CF_ACCOUNTS entry 1 is invalid"),
        ({"CF_ACCOUNTS": " , "}, "CF_ACCOUNTS is invalid"),
        ({"CF_ACCOUNTS": "acc:tok,acc:secret-token-only"}, "names the account acc twice"),
        (
            {"CF_ACCOUNTS": "acc:tok", "CF_ACCOUNT_ID": "other", "CF_API_TOKEN": "tok"},
            "CF_ACCOUNT_ID and CF_API_TOKEN are set beside CF_ACCOUNTS",
        ),
        (
            {"CF_ACCOUNTS": "acc:tok", "CF_ACCOUNT_ID": "acc", "CF_API_TOKEN": "secret-token-only"},
            "CF_ACCOUNT_ID and CF_API_TOKEN are set beside CF_ACCOUNTS",
        ),
        ({"CF_ACCOUNTS": "acc:tok", "CF_API_TOKEN": "secret-token-only"}, "CF_ACCOUNTS"),
        ({"CF_ACCOUNT_ID": "acc"}, "CF_API_TOKEN is required"),
    ],
)
def test_a_bad_pool_stops_start_up_without_showing_a_token(env: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError, match=words) as caught:
        pool(**env)
    assert "secret" not in str(caught.value)


def test_tokens_never_show_in_the_settings_repr() -> None:
    settings = pool(CF_ACCOUNTS="acc:secret-1,other:secret-2")
    assert "secret" not in repr(settings)
    assert "other" in repr(settings)


def test_settings_built_by_hand_hold_what_an_empty_environment_gives() -> None:
    # Each field's default goes through its row as text: its parser must read it back as it
    # was. A default worked out from other settings must give the field's when none is set.
    loaded, by_hand = load(), Settings(cf_account_id="acc", cf_api_token="tok")
    pooled = {"cf_accounts", "key_digest_secret"}  # worked out from the accounts
    differ = [
        name
        for name in (entry.name for entry in fields(Settings))
        if name not in pooled and getattr(loaded, name) != getattr(by_hand, name)
    ]
    assert differ == []


def test_every_field_has_its_row_and_every_row_its_line() -> None:
    rows = {row.field_name for row in SETTINGS}
    assert {entry.name for entry in fields(Settings)} == rows | {"key_digest_secret"}
    names = [row.env for row in SETTINGS]
    assert len(names) == len(set(names))
    assert not {alias for row in SETTINGS for alias in row.aliases} & set(names)
    assert all(row.doc for row in SETTINGS)
    assert SETTINGS[0].doc != ABOVE
    assert all(row.shown for row in SETTINGS if callable(row.default))


@pytest.mark.parametrize(
    ("current", "older", "field", "first", "second"),
    [
        ("AWS_REGION", "AWS_DEFAULT_REGION", "aws_region", "eu-central-1", "us-east-1"),
        ("HTTPS_PROXY", "https_proxy", "https_proxy", "http://a:3128", "http://b:3128"),
        ("HTTP_PROXY", "http_proxy", "http_proxy", "http://a:3128", "http://b:3128"),
        ("NO_PROXY", "no_proxy", "no_proxy", "localhost", ".internal"),
        ("REUSE_IMAGES", "REUSE_PICTURES", "reuse_images", "false", "true"),
        ("PROMPT_OPTIMIZATION", "CF_IS_TRANSLATE", "prompt_optimization", "false", "true"),
        ("OPTIMIZER_MODEL", "EXTERNAL_MODEL", "optimizer_model", "writer", "other-writer"),
    ],
)
def test_an_older_name_still_works_and_the_current_one_wins(
    current: str, older: str, field: str, first: str, second: str
) -> None:
    optimizer = {"EXTERNAL_API_BASE": "https://llm.example/v1", "EXTERNAL_MODEL": "writer"}
    read = [
        getattr(load(**{**optimizer, **env}), field)
        for env in ({older: first}, {older: first, current: second}, {older: first, current: ""})
    ]
    assert [as_text(value) for value in read] == [first, second, first]  # "": unset


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"CF_IS_TRANSLATE": "maybe"}, "CF_IS_TRANSLATE"),
        ({"AWS_DEFAULT_REGION": "Frankfurt"}, "AWS_DEFAULT_REGION"),
        ({"IMAGE_STORE": "redis", "REDIS_URL": "http://r:6379"}, "REDIS_URL"),
    ],
)
def test_a_bad_value_is_named_by_the_variable_that_was_set(
    env: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigError, match=f"^{variable}="):
        load(**env)
