"""Planning a generation: everything decided before any upstream call."""

import pytest

from config import Settings
from flux_service.catalog import CATALOG
from flux_service.errors import InvalidRequestError
from flux_service.pipeline import MAX_SEED, Pipeline, fit_within
from flux_service.store import MemoryStore
from flux_service.workers_ai import WorkersAIClient

SCHNELL = "@cf/black-forest-labs/flux-1-schnell"
KLEIN = "@cf/black-forest-labs/flux-2-klein-4b"


@pytest.fixture
def pipeline() -> Pipeline:
    settings = Settings(cf_account_id="a", cf_api_token="t", flux_num_steps=6)
    models = {model_id: CATALOG[model_id] for model_id in settings.models}
    return Pipeline(settings, models, WorkersAIClient(settings), None, MemoryStore(60, 1 << 20))


def test_a_plain_prompt_gets_the_default_model_and_size(pipeline: Pipeline) -> None:
    job = pipeline.plan("a red fox")
    assert (job.model.id, job.width, job.height, job.steps) == (SCHNELL, 1024, 1024, 6)
    assert job.seed is None  # FLUX.1 schnell takes no seed
    assert not job.scaled


@pytest.mark.parametrize("name", ["flux-2-klein-4b", KLEIN, "black-forest-labs/flux-2-klein-4b"])
def test_a_model_is_picked_by_id_or_short_name(pipeline: Pipeline, name: str) -> None:
    assert pipeline.plan("a fox", model=name).model.id == KLEIN


@pytest.mark.parametrize("name", ["gpt-4o", "dall-e-3", "sdxl-base", ""])
def test_unknown_or_unserved_models_fall_back_to_flux_model(pipeline: Pipeline, name: str) -> None:
    assert pipeline.plan("a fox", model=name).model.id == SCHNELL


def test_models_with_a_seed_get_a_random_one_or_the_one_asked_for(pipeline: Pipeline) -> None:
    seeds = {pipeline.plan("a fox", model=KLEIN).seed for _ in range(20)}
    assert len(seeds) > 1 and all(0 <= seed <= MAX_SEED for seed in seeds)
    assert pipeline.plan("a fox", model=KLEIN, seed=42).seed == 42
    assert pipeline.plan("a fox", model=KLEIN).steps is None  # klein runs fixed steps


def test_sizes_beyond_the_model_are_scaled_down(pipeline: Pipeline) -> None:
    job = pipeline.plan("a fox 2048x1152")
    assert (job.width, job.height, job.scaled) == (1024, 576, True)
    job = pipeline.plan("a fox 1280x720", model=KLEIN)
    assert (job.width, job.height, job.scaled) == (1280, 720, False)


@pytest.mark.parametrize(
    ("text", "seed", "param", "words"),
    [
        ("   ", None, "messages", "empty"),
        ("16:9", None, "messages", "empty"),
        ("x" * 2049, None, "messages", "at most 2048"),
        ("x" * 100_000, None, "messages", "at most 2048"),
    ],
)
def test_unusable_input_is_refused_before_any_call(
    pipeline: Pipeline, text: str, seed: int | None, param: str, words: str
) -> None:
    with pytest.raises(InvalidRequestError, match=words) as caught:
        pipeline.plan(text, seed=seed)
    assert caught.value.param == param


@pytest.mark.parametrize(
    ("size", "limit", "fitted"),
    [
        ((1024, 576), 1024, (1024, 576)),
        ((2048, 1152), 1024, (1024, 576)),
        ((900, 3000), 1920, (576, 1920)),
    ],
)
def test_fit_within_keeps_the_ratio(
    size: tuple[int, int], limit: int, fitted: tuple[int, int]
) -> None:
    assert fit_within(*size, limit) == fitted
