"""The AUTOMATIC1111 door: `/sdapi/v1`, as SillyTavern, Open WebUI and Stable Diffusion
scripts speak it. txt2img and img2img become an order and a plan like any other request and
run the one pipeline; the checkpoints are the models offered; the options hold the model a
key chose, for its later requests; the lists clients fill their menus from are short and
true. Errors answer in A1111's shape, a 401 with `WWW-Authenticate: Basic`.

The routes live at the root: SillyTavern replaces the path of the URL it is given.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from flask import Blueprint, Flask, Response, current_app, g, request
from werkzeug.exceptions import MethodNotAllowed

from ..errors import FluxError, InvalidRequestError, NotFoundError
from ..generation.plan import Order
from ..stores.checkpoints import Checkpoints, MemoryCheckpoints
from ..upstream.catalog import ModelSpec
from ..wire.a1111 import SdRequest, find_checkpoint, parse_img2img, parse_txt2img
from ..wire.a1111_answers import (
    IDLE,
    SAMPLERS,
    SCHEDULERS,
    UPSCALERS,
    checkpoint,
    error_body,
    images_body,
    options_body,
)
from .auth import current_client, require_api_key
from .bodies import read_json
from .connection import still_connected
from .json_response import json_response, register_error_handlers
from .orders import plan, sources
from .request_log import collect_noted
from .state import current_state

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

bp = Blueprint("a1111", __name__)
API = "/sdapi/v1"
ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def init_app(app: Flask, shared: redis.Redis | None) -> None:
    """Serve the door on `app`, the keys' chosen checkpoints kept in `shared` (the Redis
    the service has), or else in this process."""
    checkpoints: Checkpoints = MemoryCheckpoints()
    if shared is not None:
        # Imported only when used, as the client is.
        from ..stores.redis_checkpoints import RedisCheckpoints  # noqa: PLC0415

        checkpoints = RedisCheckpoints(shared)
    elif app.extensions["flux"].settings.web_concurrency > 1:
        log.warning(
            "the checkpoint a key chooses through /sdapi/v1/options is kept by each worker "
            "alone; set REDIS_URL to share it"
        )
    app.extensions["a1111"] = checkpoints
    app.register_blueprint(bp)


@bp.post(f"{API}/txt2img")
@require_api_key
def txt2img() -> Response:
    """Draw `batch_size` x `n_iter` pictures from a prompt."""
    return _draw(parse_txt2img(read_json()))


@bp.post(f"{API}/img2img")
@require_api_key
def img2img() -> Response:
    """Draw from `init_images`, within `mask` if one is sent."""
    return _draw(parse_img2img(read_json()))


def _draw(asked: SdRequest) -> Response:
    # The pictures go in the answer, in base64: room for them is held until it is sent.
    planned = plan(_order(asked), param="prompt", inline=asked.send_images)
    stages = current_state().pipeline.run(planned, still_connected(request.environ))
    choice, stored = collect_noted(stages)
    return json_response(images_body(asked, planned, choice, stored, time.time()))


def _order(asked: SdRequest) -> Order:
    """The order of a txt2img or img2img request, with the checkpoint it draws with."""
    found = sources()
    images = tuple(
        found.encoded(image, f"`init_images[{index}]`")
        for index, image in enumerate(asked.init_images)
    )
    mask = found.encoded(asked.mask, "`mask`") if asked.mask is not None else None
    return Order(
        asked.prompt,
        _model(asked.checkpoint).id,
        asked.n,
        seed=asked.seed,
        size=asked.size,
        mime=asked.mime,
        owner=current_client(),
        images=images,
        mask=mask,
        mask_marks="black" if asked.mask_invert else "white",
        steps=asked.steps,
        negative_prompt=asked.negative_prompt,
        guidance=asked.cfg_scale,
        strength=asked.denoising_strength,
    )


def _model(override: str | None = None) -> ModelSpec:
    """The model a request draws with: `override_settings`' checkpoint if it names one
    offered, else the one its key chose, else FLUX_MODEL."""
    models = current_state().models
    if override is not None and (model := find_checkpoint(models, override)) is not None:
        return model
    chosen = _checkpoints().chosen(current_client())
    return (models.find(chosen) if chosen else None) or models.default


def _checkpoints() -> Checkpoints:
    checkpoints: Checkpoints = current_app.extensions["a1111"]
    return checkpoints


@bp.get(f"{API}/sd-models")
@require_api_key
def sd_models() -> Response:
    """The models offered, as A1111 checkpoints."""
    return json_response([checkpoint(model) for model in current_state().models.offered])


@bp.get(f"{API}/options")
@require_api_key
def options() -> Response:
    """The options: the checkpoint this key draws with."""
    return json_response(options_body(_model()))


@bp.post(f"{API}/options")
@require_api_key
def set_options() -> Response:
    """Choose the checkpoint this key draws with from now on; other options are ignored,
    and so is an empty checkpoint (Open WebUI sends one when it has none set)."""
    body = read_json()
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object of options.")
    name = body.get("sd_model_checkpoint")
    if name is None or name == "":
        return json_response(None)
    models = current_state().models
    model = find_checkpoint(models, name) if isinstance(name, str) else None
    if model is None:
        titles = ", ".join(checkpoint(offered)["title"] for offered in models.offered)
        raise InvalidRequestError(
            f"There is no checkpoint {str(name)[:200]!r}; this server offers: {titles}.",
            param="sd_model_checkpoint",
            code="model_not_found",
        )
    _checkpoints().choose(current_client(), model.id)
    g.log_fields["model"] = model.id
    return json_response(None)


@bp.get(f"{API}/samplers")
@require_api_key
def samplers() -> Response:
    """One sampler: each model samples its own way, and any name sent is accepted."""
    return json_response(SAMPLERS)


@bp.get(f"{API}/schedulers")
@require_api_key
def schedulers() -> Response:
    """One scheduler, the model's own."""
    return json_response(SCHEDULERS)


@bp.get(f"{API}/upscalers")
@require_api_key
def upscalers() -> Response:
    """No upscaler: hires fix is accepted and ignored."""
    return json_response(UPSCALERS)


@bp.get(f"{API}/latent-upscale-modes")
@bp.get(f"{API}/sd-vae")
@bp.get(f"{API}/sd-modules")
@require_api_key
def nothing_to_list() -> Response:
    """Latent upscale modes, VAEs and Forge's modules: the models come whole, none to pick."""
    return json_response([])


@bp.get(f"{API}/progress")
@require_api_key
def progress() -> Response:
    """Idle: a picture is drawn within its request, and no job waits in a queue."""
    return json_response(IDLE)


@bp.post(f"{API}/interrupt")
@require_api_key
def interrupt() -> Response:
    """Nothing to stop: a client that leaves has its picture left undrawn, if it was not yet
    being drawn (SillyTavern leaves, then sends this)."""
    return json_response({})


@bp.post(f"{API}/skip")
@require_api_key
def skip() -> Response:
    """Nothing to skip, as for `interrupt`."""
    return json_response(None)


@bp.route(f"{API}/<path:rest>", methods=ANY_METHOD)
def unknown(rest: str) -> Response:
    """Any other A1111 route: 405 for a method a route of ours does not take, else 404."""
    allowed = {
        method
        for rule in current_app.url_map.iter_rules()
        if rule.rule == request.path and rule.endpoint != "a1111.unknown"
        for method in rule.methods or ()
    }
    if allowed:
        raise MethodNotAllowed(valid_methods=sorted(allowed))
    raise NotFoundError(
        f"This service does not offer {request.method} {API}/{rest[:200]}: of AUTOMATIC1111's "
        "API it offers txt2img, img2img, sd-models, options, samplers, schedulers, upscalers, "
        "latent-upscale-modes, sd-vae, sd-modules, progress, interrupt and skip.",
        code="unknown_route",
    )


def _a1111_error(error: FluxError) -> Response:
    """`error` in A1111's shape; a 401 asks for HTTP Basic, as its clients send the key."""
    headers = error.headers()
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="Flux API", charset="UTF-8"'
    body = error_body(type(error).__name__, error.status, error.message)
    return json_response(body, error.status, headers)


register_error_handlers(bp, render=_a1111_error)
