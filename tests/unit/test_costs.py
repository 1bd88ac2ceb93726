"""What each image costs, by the pricing page's rates and the live measurements they fit."""

import pytest

from flux_service.upstream.catalog import CATALOG, ModelSpec, lookup
from flux_service.upstream.costs import dollars, estimate

# $ per 1,000 neurons, and klein-9b's dollar prices in neurons.
RATE = 0.011 / 1000
FIRST_MP, EXTRA_MP = 0.015 / RATE, 0.002 / RATE
MP = 1024 * 1024
REFERENCE = (511, 511)  # a picture FLUX.2 works from, within its 511 a side

# (model, width, height, steps, pictures worked from, neurons): two sizes for every model.
CASES = [
    # Measured: 172.8 neurons, 4 tiles × (4.8 + 9.6 × 4).
    ("flux-1-schnell", 1024, 1024, 4, (), 172.8),
    ("flux-1-schnell", 1024, 1024, 8, (), 4 * (4.8 + 9.6 * 8)),
    ("flux-2-klein-4b", 1024, 1024, None, (), 4 * 26.05),
    ("flux-2-klein-4b", 512, 512, None, (REFERENCE, REFERENCE), 26.05 + 2 * 5.37),
    # Measured: 1,363.64 neurons, the first megapixel alone.
    ("flux-2-klein-9b", 1024, 1024, None, (), 1363.64),
    ("flux-2-klein-9b", 1920, 1088, None, ((511, 384),),
     FIRST_MP + EXTRA_MP * (1920 * 1088 / MP - 1) + EXTRA_MP * 511 * 384 / MP),
    # Measured: 7,500 neurons without `steps`, which ran 50: 4 tiles × 37.5 × 50.
    ("flux-2-dev", 1024, 1024, 50, (), 7500),
    ("flux-2-dev", 512, 768, 25, (REFERENCE,), 1.5 * 37.5 * 25 + 18.75 * 25),
    ("lucid-origin", 1024, 1024, 20, (), 4 * (636 + 12 * 20)),
    # Measured: 3,904.69 neurons at its default 1120x1120, in 15 steps.
    ("lucid-origin", 1120, 1120, 15, (), 3904.69),
    # Measured: 3,120 neurons, 4 tiles × (530 + 10 × 25).
    ("phoenix-1.0", 1024, 1024, 25, (), 3120),
    ("phoenix-1.0", 512, 512, 25, (), 530 + 10 * 25),
]  # fmt: skip
UNPRICED = ["sdxl-base", "sdxl-lightning", "dreamshaper-8-lcm", "sd-1.5-img2img",
            "sd-1.5-inpainting"]  # fmt: skip


def model(name: str) -> ModelSpec:
    found = lookup(name)
    assert found is not None
    return found


@pytest.mark.parametrize(("name", "width", "height", "steps", "inputs", "neurons"), CASES)
def test_an_image_costs_tiles_times_the_tile_and_step_rates(
    name: str,
    width: int,
    height: int,
    steps: int | None,
    inputs: tuple[tuple[int, int], ...],
    neurons: float,
) -> None:
    cost = estimate(model(name), width, height, steps, inputs)
    assert cost.neurons == pytest.approx(neurons, abs=0.01)
    assert cost.dollars == pytest.approx(neurons * RATE, abs=1e-6)
    assert cost.published


@pytest.mark.parametrize("name", UNPRICED)
@pytest.mark.parametrize(("width", "height"), [(1024, 1024), (512, 768)])
def test_models_without_a_published_price_count_as_free_and_say_so(
    name: str, width: int, height: int
) -> None:
    cost = estimate(model(name), width, height, 20)
    assert (cost.neurons, cost.dollars, cost.published) == (0, 0, False)


def test_every_model_in_the_catalogue_is_costed_here() -> None:
    names = {case[0] for case in CASES} | set(UNPRICED)
    assert {model(name).id for name in names} == set(CATALOG)


def test_the_measured_figures_in_dollars() -> None:
    schnell, phoenix = model("flux-1-schnell"), model("phoenix-1.0")
    assert estimate(schnell, 1024, 1024, 4).dollars == pytest.approx(0.0019, abs=1e-4)
    assert estimate(phoenix, 1024, 1024, 25).dollars == pytest.approx(0.034, abs=1e-3)
    assert estimate(model("flux-2-klein-9b"), 1024, 1024, None).dollars == pytest.approx(0.015)


def test_a_picture_worked_from_is_a_whole_tile_at_least() -> None:
    klein = model("flux-2-klein-4b")
    small = estimate(klein, 512, 512, None, ((64, 64),))
    assert small.neurons == pytest.approx(26.05 + 5.37)
    large = estimate(klein, 512, 512, None, ((1024, 512),))
    assert large.neurons == pytest.approx(26.05 + 2 * 5.37)


def test_costs_add_up_per_image_and_convert_at_the_published_rate() -> None:
    one = estimate(model("flux-1-schnell"), 1024, 1024, 4)
    assert one.times(3).neurons == pytest.approx(3 * 172.8)
    assert dollars(1000) == pytest.approx(0.011)
    assert dollars(10_000) == pytest.approx(0.11)  # the free allocation of a day


@pytest.mark.parametrize(
    ("name", "asked", "run"),
    [("flux-1-schnell", 100, 8), ("flux-1-schnell", None, 4), ("flux-2-dev", 0, 25),
     ("flux-2-klein-4b", 30, None), ("phoenix-1.0", 60, 50)],
)  # fmt: skip
def test_the_steps_costed_are_the_steps_sent(name: str, asked: int | None, run: int) -> None:
    assert model(name).steps_run(asked) == run
