"""The answer text, in every language."""

import re
import string
from dataclasses import replace

import pytest

from config import LANGUAGES
from flux_service.generation.codec import EncodedImage
from flux_service.generation.pipeline import Stored
from flux_service.generation.plan import Plan, PromptChoice
from flux_service.generation.prompt import PromptSpec
from flux_service.upstream.catalog import CATALOG
from flux_service.wire.markdown import failure_part, intro, markdown_text, prompt_part, result_part
from flux_service.wire.translations import TEXTS, duration, kept_for, time_left

SCHNELL = CATALOG["@cf/black-forest-labs/flux-1-schnell"]
PLAN = Plan(
    prompt=PromptSpec("a red fox", 1280, 720),
    model=SCHNELL,
    width=1024,
    height=576,
    steps=4,
    seeds=(None,),
)
STORED = Stored(
    0,
    image=EncodedImage(b"", "image/jpeg", 1024, 576),
    key="KEY",
    seed=7,
    upstream_seconds=1.0,
    kept=1800,
)
URL = "https://x.test/image/KEY"


def placeholders(phrase: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(phrase) if name}


def test_every_language_has_every_phrase_with_the_same_placeholders() -> None:
    assert set(TEXTS) == set(LANGUAGES)
    english = TEXTS["en"]
    for language, phrases in TEXTS.items():
        assert set(phrases) == set(english), language
        for key, phrase in phrases.items():
            assert placeholders(phrase) == placeholders(english[key]), (language, key)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_answer_says_the_six_things_in_each_language(language: str) -> None:
    phrases = TEXTS[language]
    content = (
        intro(language, PLAN)
        + prompt_part(
            language, PromptChoice("a red fox, golden light", optimizer="writer-1", optimized=True)
        )
        + result_part(language, PLAN, STORED, URL)
    )
    assert f"{phrases['original']}: a red fox" in content
    assert f"{phrases['optimizer']}: writer-1" in content
    assert f"{phrases['sent']}: a red fox, golden light" in content
    assert f"{phrases['size']}: 1024x576 (16:9)" in content
    assert phrases["success"] in content
    assert content.endswith("![a red fox](https://x.test/image/KEY)")
    assert f"{phrases['seed']}: 7" in content
    assert "1280x720" in content  # the scaled-down note names the size asked for
    assert f"{phrases['kept']}: 30 min" in content
    assert phrases["reused"] not in content


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_image_kept_for_good_says_so(language: str) -> None:
    content = result_part(language, PLAN, replace(STORED, kept=None), URL)
    assert f"{TEXTS[language]['kept']}: {TEXTS[language]['kept_forever']}" in content


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_reused_image_says_so_and_how_long_it_has_left(language: str) -> None:
    content = result_part(language, PLAN, replace(STORED, kept=1573.6, reused=True), URL)
    assert f"- ♻️ {TEXTS[language]['reused']}\n" in content
    assert f"{TEXTS[language]['kept']}: 26 min\n" in content


@pytest.mark.parametrize(
    ("seconds", "left"),
    [(1799.9, "29 min"), (59.5, "59 s"), (7200, "2 h"), (3 * 86400 + 5, "3 d"), (0.4, "0 s")],
)
def test_time_left_counts_whole_units_down(seconds: float, left: str) -> None:
    assert time_left(seconds) == left


@pytest.mark.parametrize(
    ("seconds", "long", "short"),
    [(1800, "30 minutes", "30 min"), (3600, "1 hour", "1 h"), (7 * 86400, "7 days", "7 d"),
     (90, "90 seconds", "90 s")],
)  # fmt: skip
def test_durations_in_the_largest_unit_that_divides_them(
    seconds: int, long: str, short: str
) -> None:
    assert (duration(seconds), duration(seconds, short=True)) == (long, short)
    assert kept_for(seconds) == f"for {long}"


def test_an_image_never_deleted_is_kept_for_good() -> None:
    assert kept_for(0) == "for good"


@pytest.mark.parametrize("language", LANGUAGES)
def test_without_optimizer_the_answer_says_the_original_prompt_was_used(language: str) -> None:
    content = prompt_part(language, PromptChoice("a red fox"))
    assert TEXTS[language]["no_optimizer"] in content


def test_a_failed_optimizer_is_named() -> None:
    content = prompt_part("en", PromptChoice("a red fox", optimizer="writer-1"))
    assert "writer-1 did not answer, so the original prompt was used" in content


def test_a_shortened_prompt_says_so() -> None:
    content = prompt_part(
        "en", PromptChoice("a red fox", optimizer="writer-1", optimized=True, shortened_to=2048)
    )
    assert "shortened to the model's limit of 2048 characters" in content


def test_failure_line() -> None:
    assert (
        failure_part("en", "Workers AI failed.")
        == "\n❌ Image generation failed: Workers AI failed."
    )


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a *bold* [link](x) <b>", r"a \*bold\* \[link\](x) \<b\>"),
        ("two\nlines", "two lines"),
        ("snake_case #tag", r"snake\_case \#tag"),
    ],
)
def test_markdown_text_shows_prompts_as_written(raw: str, shown: str) -> None:
    assert markdown_text(raw) == shown


def test_alt_text_cannot_break_the_image_markdown() -> None:
    plan = replace(PLAN, prompt=PromptSpec("a ](evil) [fox\nline", 1024, 1024), height=1024)
    line = result_part("en", plan, STORED, URL).splitlines()[-1]
    # One image: the alt text holds no unescaped bracket, and the URL closes the line.
    assert re.fullmatch(r"!\[(?:\\.|[^\]\\\n])*\]\(https://x\.test/image/KEY\)", line), line


@pytest.mark.parametrize(
    ("url", "linked"),
    [
        ("https://x.test/image/KEY", "https://x.test/image/KEY"),
        ("https://x.test/a)[c](javascript:alert(1))/image/K", "https://x.test/a%29%5Bc%5D%28javascript:alert%281%29%29/image/K"),
        ('https://x.test/a b"c<d>\\e/image/K', "https://x.test/a%20b%22c%3Cd%3E%5Ce/image/K"),
        ("https://x.test/caf%C3%A9/image/K", "https://x.test/caf%C3%A9/image/K"),
    ],
)  # fmt: skip
def test_a_link_cannot_break_out_of_its_markdown(url: str, linked: str) -> None:
    line = result_part("en", PLAN, STORED, url).splitlines()[-1]
    assert line == f"![a red fox]({linked})"
