"""Planning a generation: everything decided before any upstream call."""

from dataclasses import replace
from typing import cast

import pytest

from config import Settings
from flux_service.errors import InvalidRequestError
from flux_service.generation.codec import fit_within
from flux_service.generation.pipeline import Stored, collect
from flux_service.generation.plan import Order, Planner, PromptChoice
from flux_service.generation.sources import ImageSource
from flux_service.generation.spending import MemoryCounts, Spending
from flux_service.stores.base import MemoryStore
from flux_service.upstream.catalog import MAX_SEED, ServedModels
from flux_service.upstream.costs import Cost
from flux_service.upstream.optimizer import PromptOptimizer
from tests.helpers import planner

SCHNELL = "@cf/black-forest-labs/flux-1-schnell"
KLEIN = "@cf/black-forest-labs/flux-2-klein-4b"


@pytest.fixture
def pipeline() -> Planner:
    return planner(Settings(cf_account_id="a", cf_api_token="t", flux_num_steps=6))


def test_a_plain_prompt_gets_the_default_model_and_size(pipeline: Planner) -> None:
    plan = pipeline.plan(Order("a red fox"))
    assert (plan.model.id, plan.width, plan.height, plan.steps) == (SCHNELL, 1024, 1024, 6)
    assert plan.seeds == (None,)  # FLUX.1 schnell takes no seed
    assert not plan.scaled


@pytest.mark.parametrize("name", ["flux-2-klein-4b", KLEIN, "black-forest-labs/flux-2-klein-4b"])
def test_a_model_is_picked_by_id_or_short_name(pipeline: Planner, name: str) -> None:
    assert pipeline.plan(Order("a fox", model=name)).model.id == KLEIN


@pytest.mark.parametrize("name", ["gpt-4o", "dall-e-3", "sdxl-base", ""])
def test_unknown_or_unserved_models_fall_back_to_flux_model(pipeline: Planner, name: str) -> None:
    assert pipeline.plan(Order("a fox", model=name)).model.id == SCHNELL


def test_models_with_a_seed_get_a_random_one_or_the_one_asked_for(pipeline: Planner) -> None:
    seeds = {pipeline.plan(Order("a fox", model=KLEIN)).seeds[0] for _ in range(20)}
    assert len(seeds) > 1
    assert all(0 <= seed <= MAX_SEED for seed in seeds)
    assert pipeline.plan(Order("a fox", model=KLEIN, seed=42)).seeds == (42,)
    assert pipeline.plan(Order("a fox", model=KLEIN)).steps is None  # klein runs fixed steps


def test_several_images_get_consecutive_seeds(pipeline: Planner) -> None:
    assert pipeline.plan(Order("a fox", model=KLEIN, n=3, seed=MAX_SEED)).seeds == (
        MAX_SEED,
        0,
        1,
    )
    assert pipeline.plan(Order("a fox", n=2)).seeds == (None, None)


def test_sizes_beyond_the_model_are_scaled_down(pipeline: Planner) -> None:
    plan = pipeline.plan(Order("a fox 2048x1152"))
    assert (plan.width, plan.height, plan.scaled) == (1024, 576, True)
    plan = pipeline.plan(Order("a fox 1280x720", model=KLEIN))
    assert (plan.width, plan.height, plan.scaled) == (1280, 720, False)


def test_an_explicit_size_holds_unless_the_prompt_names_one(pipeline: Planner) -> None:
    plan = pipeline.plan(Order("a fox", model=KLEIN, size=(512, 768)))
    assert (plan.prompt.text, plan.width, plan.height) == ("a fox", 512, 768)
    # The words the user typed win over a size field, often a client's default.
    plan = pipeline.plan(Order("a fox 16:9", model=KLEIN, size=(512, 512)))
    assert (plan.prompt.text, plan.width, plan.height) == ("a fox", 1024, 576)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("   ", "empty"),
        ("16:9", "empty"),
        ("x" * 2049, "at most 2048"),
        ("x" * 100_000, "at most 2048"),
    ],
)
def test_unusable_input_is_refused_before_any_call(
    pipeline: Planner, text: str, words: str
) -> None:
    with pytest.raises(InvalidRequestError, match=words) as caught:
        pipeline.plan(Order(text))
    assert caught.value.param is None  # the view names the field it came in
    assert caught.value.about("prompt").param == "prompt"


def test_collect_puts_the_images_in_the_plans_order() -> None:
    choice = PromptChoice("a fox")
    second, first = (
        Stored(i, image=None, key=f"k{i}", seed=None, upstream_seconds=0.0)  # type: ignore[arg-type]
        for i in (1, 0)
    )
    assert collect([choice, second, first]) == (choice, [first, second])


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


@pytest.mark.parametrize(
    ("order", "neurons"),
    [
        (Order("a red fox"), 4 * (4.8 + 9.6 * 6)),  # FLUX_NUM_STEPS=6; schnell draws 1024x1024
        (Order("a red fox 16:9"), 4 * (4.8 + 9.6 * 6)),  # cropped afterwards, paid in full
        (Order("a fox", model="flux-2-klein-4b", size=(500, 500)), 512 * 512 / 512**2 * 26.05),
    ],
)
def test_a_plan_costs_what_the_model_is_asked_to_draw(
    pipeline: Planner, order: Order, neurons: float
) -> None:
    assert pipeline.plan(order).cost.neurons == pytest.approx(neurons)


SDXL = "@cf/stabilityai/stable-diffusion-xl-base-1.0"


@pytest.fixture
def every_model() -> Planner:
    return planner(Settings(cf_account_id="a", cf_api_token="t", models=(SCHNELL, KLEIN, SDXL)))


def test_steps_asked_for_are_run_within_the_models_range(every_model: Planner) -> None:
    assert every_model.plan(Order("a fox", steps=2)).steps == 2
    assert every_model.plan(Order("a fox", steps=50)).steps == 8  # schnell runs 8 at most
    plan = every_model.plan(Order("a fox", model=SDXL, steps=50))
    assert (plan.steps, plan.quality) == (20, "medium")  # its usual 20 is its most
    assert every_model.plan(Order("a fox", model=SDXL, steps=5)).quality == "low"
    assert every_model.plan(Order("a fox", model=KLEIN, steps=30)).steps is None  # fixed


def test_a_negative_prompt_and_guidance_go_only_to_models_that_take_them(
    every_model: Planner,
) -> None:
    order = Order("a fox", negative_prompt="  blurry\x00 ", guidance=7.0)
    schnell = every_model.plan(order)
    assert (schnell.negative_prompt, schnell.guidance) == ("", None)
    sdxl = every_model.plan(replace(order, model=SDXL))
    assert (sdxl.negative_prompt, sdxl.guidance) == ("blurry", 7.0)
    klein = every_model.plan(replace(order, model=KLEIN, guidance=99.0))
    assert (klein.negative_prompt, klein.guidance) == ("", 20.0)  # clamped to its range


def test_a_negative_prompt_too_long_for_the_model_is_refused(every_model: Planner) -> None:
    with pytest.raises(InvalidRequestError, match="negative prompt has 10001 characters"):
        every_model.plan(Order("a fox", model=SDXL, negative_prompt="x" * 10_001))
    # A model that takes none drops it, however long.
    assert every_model.plan(Order("a fox", negative_prompt="x" * 10_001)).negative_prompt == ""


class Writer:
    """An optimizer that may cost 100 neurons a rewrite, and spends 10 on a decision."""

    model = "@cf/google/gemma-4-26b-a4b-it"

    def estimate(self, _prompt: str) -> Cost:
        return Cost(100.0)

    def decide(self, _earlier: str, message: str) -> tuple[bool, str, Cost]:
        return False, f"{message}, as a new image", Cost(10.0)


def test_a_follow_up_is_held_to_the_rewrite_it_made_not_to_another() -> None:
    """The decision writes the prompt: what is left must cover the image, not a second
    rewrite that will never be asked for."""
    settings = Settings(cf_account_id="a", cf_api_token="t")
    image = planner(settings).plan(Order("a fox")).cost.neurons
    # Room for the image and a rewrite at its most, so the decision is asked; then the
    # 10 it spent and the image fit, with a second rewrite they would not.
    spending = Spending(MemoryCounts(), budget=image + 100 + 5)
    models = ServedModels.from_ids(settings.flux_model, settings.models)
    writer = cast(PromptOptimizer, Writer())
    planned = Planner(settings, models, MemoryStore(60, 1 << 20), spending, writer)
    earlier = ImageSource("earlier", lambda: b"")
    order = Order("make the sky red", earlier=earlier, earlier_prompt="a lighthouse at dusk")
    plan = planned.plan(order)
    assert plan.written is not None
    assert plan.written.text == "make the sky red, as a new image"
    assert plan.cost.neurons == image
