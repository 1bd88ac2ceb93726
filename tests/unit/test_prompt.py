"""Prompt cleaning and size parsing."""

import pytest

from flux_service.generation.prompt import (
    PromptSpec,
    clean_prompt,
    parse_prompt,
    ratio_label,
    shorten,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a red fox", PromptSpec("a red fox", 1024, 1024)),
        ("a red fox 1:1", PromptSpec("a red fox", 1024, 1024, sized=True)),
        ("a red fox 1:2", PromptSpec("a red fox", 512, 1024, sized=True)),
        ("a red fox 3:2", PromptSpec("a red fox", 768, 512, sized=True)),
        ("a red fox 3:4", PromptSpec("a red fox", 768, 1024, sized=True)),
        ("a red fox 16:9", PromptSpec("a red fox", 1024, 576, sized=True)),
        ("a red fox 9:16", PromptSpec("a red fox", 576, 1024, sized=True)),
        ("a red fox, 16:9", PromptSpec("a red fox", 1024, 576, sized=True)),
        ("a red fox 16 : 9  ", PromptSpec("a red fox", 1024, 576, sized=True)),
        ("一只红狐狸，16：9", PromptSpec("一只红狐狸", 1024, 576, sized=True)),
        ("a red fox 1280x720", PromptSpec("a red fox", 1280, 720, sized=True)),
        ("a red fox 800×600", PromptSpec("a red fox", 800, 600, sized=True)),
    ],
)
def test_size_token_at_the_end_sets_the_size(text: str, expected: PromptSpec) -> None:
    assert parse_prompt(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "breakfast at 10:30 in the morning",
        "the train leaves at 10:30",
        "a 16:9 screen in a dark room",
        "a clock showing 4:3",
        "a 2x4 lego brick",
        "a grid of 10x10 tiles",
        "a red fox16:9",
    ],
)
def test_text_that_only_looks_like_a_size_stays_text(text: str) -> None:
    spec = parse_prompt(text)
    assert spec.text == text
    assert (spec.width, spec.height) == (1024, 1024)


def test_only_a_ratio_leaves_an_empty_prompt() -> None:
    assert parse_prompt("16:9") == PromptSpec("", 1024, 576, sized=True)


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("  a cat  ", "a cat"),
        ("a cat ---ntl", "a cat"),
        ("a cat ---tl", "a cat"),
        ("a cat---ntl 16:9", "a cat 16:9"),
        ("a\tcat\non a\r\nmat", "a cat on a mat"),
        ("a\x00 cat\x07\x1b", "a cat"),
        ("a cat \ud800", "a cat"),
        ("🦊 in 雪 and مرحبا", "🦊 in 雪 and مرحبا"),
        ("family 👨‍👩‍👧 portrait", "family 👨‍👩‍👧 portrait"),
    ],
)
def test_clean_prompt(text: str, cleaned: str) -> None:
    assert clean_prompt(text) == cleaned


@pytest.mark.parametrize(
    ("width", "height", "label"),
    [(1024, 576, "16:9"), (768, 512, "3:2"), (1280, 720, "16:9"), (1000, 700, "10:7")],
)
def test_ratio_label_is_reduced(width: int, height: int, label: str) -> None:
    assert ratio_label(width, height) == label


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("hello world foo", 11, "hello world"),
        ("hello world foo", 13, "hello world"),
        ("hello, world", 7, "hello"),
        ("abcdefgh", 4, "abcd"),
    ],
)
def test_shorten_cuts_at_a_word_boundary(text: str, limit: int, expected: str) -> None:
    assert shorten(text, limit) == expected
    assert len(shorten(text, limit)) <= limit


def test_open_webui_rag_template_gives_way_to_the_request_after_it() -> None:
    wrapped = (
        "### Task:\nRespond to the user query using the provided context, incorporating "
        "inline citations…\n\n### Output:\nProvide a clear and direct response…\n\n"
        '<context>\n<source id="1">a fox lives in the forest</source>\n</context>\n'
        "a red fox in the forest 16:9"
    )
    assert parse_prompt(wrapped) == PromptSpec("a red fox in the forest", 1024, 576, sized=True)
    assert clean_prompt("### Task: draw </context> nothing") == "nothing"
    assert clean_prompt("a sign that reads </context>") == "a sign that reads </context>"
