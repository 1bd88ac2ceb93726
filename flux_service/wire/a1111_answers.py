"""AUTOMATIC1111's answers, built as it builds them: the images with the request's
`parameters` and an `info` string that says what was really drawn; the checkpoints, options
and the lists clients fill their menus from; and its error body. Pure functions.

`parameters` repeats A1111's own fields of the request, its defaults filled in, and nothing
else: a client's other keys (SillyTavern's `auth`) are never sent back.
"""

from __future__ import annotations

import time

import orjson
import pybase64

from ..generation.pipeline import Stored
from ..generation.plan import Plan, PromptChoice
from ..upstream.catalog import ModelSpec
from .a1111 import SdRequest, checkpoint_title, model_sha256, short_hash

VERSION = "Flux API"
SAMPLER = "Euler"  # what /samplers offers and `info` reports: each model samples its own way

# A1111's request fields and their defaults (modules/api/models.py, v1.10), as `parameters`
# repeats them.
COMMON_FIELDS: dict[str, object] = {
    "prompt": "", "negative_prompt": "", "styles": None, "seed": -1, "subseed": -1,
    "subseed_strength": 0, "seed_resize_from_h": -1, "seed_resize_from_w": -1,
    "sampler_name": None, "scheduler": None, "batch_size": 1, "n_iter": 1, "steps": 50,
    "cfg_scale": 7.0, "width": 512, "height": 512, "restore_faces": None, "tiling": None,
    "do_not_save_samples": False, "do_not_save_grid": False, "eta": None,
    "denoising_strength": None, "s_min_uncond": None, "s_churn": None, "s_tmax": None,
    "s_tmin": None, "s_noise": None, "override_settings": None,
    "override_settings_restore_afterwards": True, "refiner_checkpoint": None,
    "refiner_switch_at": None, "disable_extra_networks": False, "firstpass_image": None,
    "comments": None, "sampler_index": "Euler", "script_name": None, "script_args": [],
    "send_images": True, "save_images": False, "alwayson_scripts": {},
    "force_task_id": None, "infotext": None,
}  # fmt: skip
TXT2IMG_FIELDS: dict[str, object] = {
    **COMMON_FIELDS, "enable_hr": False, "denoising_strength": 0.75, "firstphase_width": 0,
    "firstphase_height": 0, "hr_scale": 2.0, "hr_upscaler": None, "hr_second_pass_steps": 0,
    "hr_resize_x": 0, "hr_resize_y": 0, "hr_checkpoint_name": None, "hr_sampler_name": None,
    "hr_scheduler": None, "hr_prompt": "", "hr_negative_prompt": "",
}  # fmt: skip
IMG2IMG_FIELDS: dict[str, object] = {
    **COMMON_FIELDS, "init_images": None, "resize_mode": 0, "denoising_strength": 0.75,
    "image_cfg_scale": None, "mask": None, "mask_blur_x": 4, "mask_blur_y": 4,
    "mask_blur": None, "mask_round": True, "inpainting_fill": 0, "inpaint_full_res": True,
    "inpaint_full_res_padding": 0, "inpainting_mask_invert": 0,
    "initial_noise_multiplier": None, "latent_mask": None,
}  # fmt: skip
# The pictures sent are never repeated: A1111 leaves them out too, unless asked.
_NOT_REPEATED = ("init_images", "mask")

SAMPLERS = [{"name": SAMPLER, "aliases": ["k_euler"], "options": {}}]
SCHEDULERS = [
    {
        "name": "automatic",
        "label": "Automatic",
        "aliases": None,
        "default_rho": -1.0,
        "need_inner_model": False,
    }
]
UPSCALERS = [{"name": "None", "model_name": None, "model_path": None, "model_url": None,
              "scale": 1.0}]  # fmt: skip
IDLE = {
    "progress": 0.0,
    "eta_relative": 0.0,
    "state": {
        "skipped": False,
        "interrupted": False,
        "stopping_generation": False,
        "job": "",
        "job_count": 0,
        "job_timestamp": "0",
        "job_no": 0,
        "sampling_step": 0,
        "sampling_steps": 0,
    },
    "current_image": None,
    "textinfo": None,
}


def images_body(
    asked: SdRequest, plan: Plan, choice: PromptChoice, stored: list[Stored], now: float
) -> dict:
    """A txt2img or img2img answer: `images` in bare base64 (none with `send_images:
    false`), the request's `parameters`, and `info` on what was drawn."""
    sent = stored if asked.send_images else []
    return {
        "images": [pybase64.b64encode(s.image.data).decode() for s in sent],
        "parameters": parameters(asked),
        "info": orjson.dumps(info(asked, plan, choice, stored, now)).decode(),
    }


def parameters(asked: SdRequest) -> dict:
    """A1111's fields of the request, its defaults where they were not sent."""
    img2img = bool(asked.init_images)
    known = IMG2IMG_FIELDS if img2img else TXT2IMG_FIELDS
    sent = {name: asked.fields[name] for name in known if name in asked.fields}
    repeated = {**known, **sent}
    for name in _NOT_REPEATED if img2img else ():
        repeated[name] = None
    return repeated


def info(
    asked: SdRequest, plan: Plan, choice: PromptChoice, stored: list[Stored], now: float
) -> dict:
    """What was really drawn, in the keys of A1111's `info`: the prompt and negative prompt
    sent, each picture's seed, the size delivered, the model; `extra_generation_params`
    says what was dropped or changed, and why."""
    model = plan.model
    width, height = stored[0].image.width, stored[0].image.height
    seeds = [s.seed for s in stored]
    steps = model.steps_run(plan.steps)
    count = len(stored)
    return {
        "prompt": choice.text,
        "all_prompts": [choice.text] * count,
        "negative_prompt": plan.negative_prompt,
        "all_negative_prompts": [plan.negative_prompt] * count,
        "seed": seeds[0],
        "all_seeds": seeds,
        "subseed": -1,
        "all_subseeds": [-1] * count,
        "subseed_strength": 0,
        "width": width,
        "height": height,
        "sampler_name": SAMPLER,
        "cfg_scale": plan.guidance,
        "steps": steps,
        "batch_size": asked.batch_size,
        "restore_faces": False,
        "face_restoration_model": None,
        "sd_model_name": model.short_name,
        "sd_model_hash": short_hash(model),
        "sd_vae_name": None,
        "sd_vae_hash": None,
        "seed_resize_from_w": -1,
        "seed_resize_from_h": -1,
        "denoising_strength": plan.strength,
        "extra_generation_params": notes(asked, plan, choice, stored, steps),
        "index_of_first_image": 0,
        "infotexts": [infotext(plan, choice, s, steps) for s in stored],
        "styles": list(asked.styles),
        "job_timestamp": time.strftime("%Y%m%d%H%M%S", time.gmtime(now)),
        "clip_skip": None,
        "is_using_inpainting_conditioning": bool(plan.fields.get("mask")),
        "version": VERSION,
    }


def notes(
    asked: SdRequest, plan: Plan, choice: PromptChoice, stored: list[Stored], steps: int | None
) -> dict:
    """What `info` adds to A1111's keys: the model's id, and each field asked for that was
    dropped or changed, and why; `steps` is what the model runs (None: its fixed number)."""
    model, name = plan.model, plan.model.short_name
    found: dict[str, object] = {"Model id": model.id}
    if asked.negative_prompt.strip() and not plan.negative_prompt:
        found["Negative prompt"] = f"dropped: {name} takes none"
    if asked.cfg_scale is not None and plan.guidance is None:
        found["CFG scale"] = f"dropped: {name} takes no guidance"
    elif asked.cfg_scale is not None and plan.guidance != asked.cfg_scale:
        found["CFG scale"] = (
            f"{asked.cfg_scale:g} asked; {plan.guidance:g} is the nearest {name} takes"
        )
    if asked.seed is not None and not model.seed:
        found["Seed"] = f"dropped: {name} takes no seed"
    if asked.steps is not None and steps != asked.steps:
        found["Steps"] = (
            f"{asked.steps} asked; {name} runs a fixed number"
            if steps is None
            else f"{asked.steps} asked; {steps} is the nearest {name} takes"
        )
    if plan.scaled:
        found["Size"] = (
            f"{plan.prompt.width}x{plan.prompt.height} asked; {name} draws "
            f"{model.max_side} pixels a side at most"
        )
    if asked.denoising_strength is not None and asked.init_images and plan.strength is None:
        found["Denoising strength"] = f"dropped: {name} works from its pictures as references"
    if plan.edit is not None and plan.edit.mask_use == "kept":
        found["Mask"] = f"applied after drawing: {name} takes no mask"
    if choice.optimized:
        found["Prompt"] = f"written by {choice.optimizer} from the prompt asked for"
    if any(s.reused for s in stored):
        found["Reused"] = [s.reused for s in stored]  # drawn before for an identical request
    return found


def infotext(plan: Plan, choice: PromptChoice, stored: Stored, steps: int | None) -> str:
    """One picture's line of parameters, as A1111 writes it under the prompt."""
    model = plan.model
    lines = [choice.text]
    if plan.negative_prompt:
        lines.append(f"Negative prompt: {plan.negative_prompt}")
    values = {
        "Steps": steps,
        "Sampler": SAMPLER,
        "CFG scale": plan.guidance,
        "Seed": stored.seed,
        "Size": f"{stored.image.width}x{stored.image.height}",
        "Model hash": short_hash(model),
        "Model": model.short_name,
        "Denoising strength": plan.strength,
        "Version": VERSION,
    }
    lines.append(", ".join(f"{key}: {value}" for key, value in values.items() if value is not None))
    return "\n".join(lines)


def checkpoint(model: ModelSpec) -> dict:
    """One entry of `/sdapi/v1/sd-models`: a model as an A1111 checkpoint."""
    return {
        "title": checkpoint_title(model),
        "model_name": model.short_name,
        "hash": short_hash(model),
        "sha256": model_sha256(model),
        "filename": model.id,
        "config": None,
    }


def options_body(model: ModelSpec) -> dict:
    """`/sdapi/v1/options`: the checkpoint a key draws with. No `forge_preset`: SillyTavern
    would take the service for Forge."""
    return {
        "sd_model_checkpoint": checkpoint_title(model),
        "sd_checkpoint_hash": model_sha256(model),
    }


def error_body(name: str, status: int, message: str) -> dict:
    """A1111's error body: the error's class name, its message as `detail`, and both as
    `errors`."""
    return {"error": name, "detail": message, "body": "", "errors": f"{status}: {message}"}
