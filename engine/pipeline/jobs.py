"""The job contract the server (and the CLI) run tasks through.

``validate_job(task, params)`` checks and normalises a request's params and
raises :class:`ParamError` naming the offending field; ``run_job(model, task,
params, progress, cancelled)`` runs it and returns a JSON-ready dict. Params
(JSON names; anything else is refused as an unknown parameter):

========== ==================================================================
task       params
========== ==================================================================
generate   text (required), seconds (optional: the model picks), seed,
           variants (1..8, default 1), fps (default 20), options, path
           ({"points": [[x, z], ...], "seconds"}: follow it on the ground)
inbetween  motion (required), from_frame, to_frame (required, at the
           motion's fps), text, seed, options
continue   motion (required), seconds (required), text, seed, options
caption    motion (required)
compose    items (required: [{"text", "start", "end", "parts"}], seconds),
           transition (seconds between touching items, default 0.8), seed,
           fps, options
========== ==================================================================

``motion`` is a :meth:`Motion.to_dict`-style object: ``{"fps",
"joint_positions"}`` or ``{"fps", "local_quats", "root_translation",
["rest_offsets"]}``. ``options`` is ``{"foot_cleanup": bool, "in_place":
bool}`` (both default false). ``seed`` None means "pick one": the one used is
returned, so any result can be made again.

Results: generate -> ``{"motions": [motion dict, ...], "seeds": [int, ...],
"understood_as": reading}`` (variant i used seed ``seeds[i]``); inbetween /
continue -> ``{"motion": motion dict, "seed": int, "understood_as": reading
or null}``; caption -> ``{"caption": str}``; compose -> ``{"motion": motion
dict, "seed": int, "items": [{"item", "text", "start", "end", "parts",
"understood_as"}, ...]}``. ``understood_as`` is how the
model read the text (:meth:`engine.prompts.reading.PromptReading.to_dict`:
``message``, ``known``, ``action``, ``style``, ``model_text``, ``closest``
...). A text with nothing to read (".", "?", emoji, "a") is refused as a
ParamError on ``text`` before any model runs.
"""
from __future__ import annotations

import math
import secrets
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import MotionGPTError
from ..models.bundle import MANIFEST, default_model_dir, no_model_message
from ..lm.vocab import TOKEN_RE
from ..models.motiongpt import MAX_PROMPT_CHARS
from ..prompts.meaning import refusal
from . import tasks
from .errors import PROMPT_REFUSED, JobCancelled, ParamError
from .fields import as_float, check_unicode, is_number, kind, shown
from .motion_io import MAX_SECONDS, RESULT_BYTES_PER_FRAME, Motion, check_fps
from .post import PostOptions

__all__ = ["TASKS", "validate_job", "run_job", "load_model", "estimate_result_bytes", "result_size_field", "JobCancelled", "ParamError",
           "MAX_PROMPT_CHARS", "MAX_SECONDS", "MAX_VARIANTS", "MAX_SEED"]

TASKS: tuple[str, ...] = ("generate", "inbetween", "continue", "caption", "compose")
MAX_VARIANTS: int = 8
MAX_SEED: int = 2 ** 31 - 1

PARAMS: dict[str, tuple[str, ...]] = {
    "generate": ("text", "seconds", "seed", "variants", "fps", "options", "path"),
    "inbetween": ("motion", "from_frame", "to_frame", "text", "seed", "options"),
    "continue": ("motion", "seconds", "text", "seed", "options", "path"),
    "caption": ("motion",),
    "compose": ("items", "transition", "seed", "fps", "options"),
}


def validate_job(task: str, params: dict[str, Any]) -> dict[str, Any]:
    """Checked, normalised params for ``task`` (a Motion under "motion", a
    PostOptions under "options", numbers as int/float, text whitespace
    collapsed, optional text None when empty). Idempotent: already
    normalised params pass unchanged. Raises ParamError(field, message)."""
    if not isinstance(task, str) or task not in TASKS:
        raise ParamError("task", f"unknown task {shown(task)}; expected one of {', '.join(TASKS)}")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ParamError("params", "must be an object of named parameters")
    allowed = PARAMS[task]
    for key in params:
        if key not in allowed:
            raise ParamError(str(key), f"unknown parameter for {task}; it takes {', '.join(allowed)}")
    out: dict[str, Any] = {}
    if task == "compose":
        from .compose import Timeline, parse_timeline
        items = params.get("items")
        if isinstance(items, list):                      # each text checked as generate's is
            for i, item in enumerate(items):
                if isinstance(item, dict) and item.get("text") is not None:
                    _text(item.get("text"), f"items[{i}].text", required=True)
        timeline = items if isinstance(items, Timeline) else parse_timeline(items, params.get("transition"))
        out["items"] = timeline
        out["transition"] = timeline.transition
        out["seed"] = _seed(params.get("seed"))
        out["fps"] = check_fps(params.get("fps", tasks.MODEL_FPS), "fps")
        out["options"] = _options(params.get("options"))
        for item in timeline.items:
            why = refusal(item.text)
            if why:
                raise ParamError(f"items[{item.index}].text", why, code=PROMPT_REFUSED)
        return out
    if task == "generate":
        out["text"] = _text(params.get("text"), "text", required=True)
        out["seconds"] = _seconds(params.get("seconds"), "seconds", required=False)
        out["seed"] = _seed(params.get("seed"))
        out["variants"] = _int(params.get("variants", 1), "variants", 1, MAX_VARIANTS)
        out["fps"] = check_fps(params.get("fps", tasks.MODEL_FPS), "fps")
        out["options"] = _options(params.get("options"))
        raw_path = params.get("path")
        if raw_path is not None:
            from .path_follow import GroundPath, parse_path
            out["path"] = raw_path if isinstance(raw_path, GroundPath) else parse_path(raw_path)
            if out["seconds"] is not None and out["path"].seconds is None:
                out["path"].seconds = out["seconds"]
        if out["seconds"] is not None and round(out["seconds"] * out["fps"]) < 2:
            raise ParamError("seconds", f"{out['seconds']:g} s is under two frames at {out['fps']:g} fps; ask for more")
        return _readable(out)
    out["motion"] = _motion(params.get("motion"))
    if task == "caption":
        return out
    motion = out["motion"]
    if task == "inbetween":
        last = motion.num_frames - 1
        f0 = _int(params.get("from_frame"), "from_frame", 0, None, required=True)
        f1 = _int(params.get("to_frame"), "to_frame", 0, None, required=True)
        if f0 > last:
            raise ParamError("from_frame", f"frame {f0} is outside the motion (frames 0..{last} at "
                                           f"{motion.fps:g} fps)")
        if f1 > last:
            raise ParamError("to_frame", f"frame {f1} is outside the motion (frames 0..{last} at {motion.fps:g} fps)")
        if f0 >= f1:
            raise ParamError("to_frame", f"must be after the first key (frame {f0}), got {f1}")
        if f1 - f0 < 2:
            raise ParamError("to_frame", f"the gap {f0}..{f1} has no frame in between; leave at least one "
                                         "frame between the keys")
        out["from_frame"], out["to_frame"] = f0, f1
    else:
        out["seconds"] = _seconds(params.get("seconds"), "seconds", required=True)
        if round(out["seconds"] * motion.fps) < 1:
            raise ParamError("seconds", f"{out['seconds']:g} s adds no frame at {motion.fps:g} fps; ask for at "
                                        f"least {1 / motion.fps:.3f} s")
        room = MAX_SECONDS - motion.duration
        if out["seconds"] > room + 1e-9:        # the result is the motion and what follows it
            raise ParamError("seconds", f"the motion is {motion.duration:.1f} s long and the longest result is "
                                        f"{MAX_SECONDS:g} s; ask for at most {max(room, 0):.2f} s more")
        raw_path = params.get("path")
        if raw_path is not None:
            from .path_follow import GroundPath, parse_path
            out["path"] = raw_path if isinstance(raw_path, GroundPath) else parse_path(raw_path)
            if out["path"].seconds is not None and abs(out["path"].seconds - out["seconds"]) > 1e-6:
                raise ParamError("path.seconds", f"Continue adds {out['seconds']:g} s, so the path takes that long; "
                                                 "leave path.seconds out or make it equal")
            out["path"].seconds = out["seconds"]
    out["text"] = _text(params.get("text"), "text", required=False)
    out["seed"] = _seed(params.get("seed"))
    out["options"] = _options(params.get("options"))
    return _readable(out)


def run_job(model, task: str, params: dict[str, Any], progress: Callable[[float, str], None] | None = None,
            cancelled: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Run a task (params raw or from :func:`validate_job`) and return its
    JSON-ready result (module docstring). Raises ParamError for bad params,
    JobCancelled when ``cancelled()`` turns True, MotionGPTError for other
    problems the user can fix."""
    p = validate_job(task, params)
    if task == "caption":
        return {"caption": tasks.caption(model, p["motion"], progress=progress, cancelled=cancelled)}
    seed = p["seed"] if p["seed"] is not None else pick_seed()
    if task == "compose":
        from .compose import compose
        motion, items = compose(model, p["items"], seed=seed, fps=p["fps"], options=p["options"], progress=progress,
                                cancelled=cancelled)
        return {"motion": motion.to_dict(), "seed": seed, "items": items}
    if task == "generate":
        from .compose import chained_pieces, generate_chain
        if chained_pieces(p["text"]):              # "walks in, then waves": a timeline, composed
            if p.get("path") is not None:
                raise ParamError("path", "a path is followed by one action; the prompt chains several (\"..., "
                                         "then ...\"): generate the walk along the path, then Continue")
            motions, understood = generate_chain(model, p["text"], p["seconds"], seed, p["variants"], p["fps"],
                                                 p["options"], progress=progress, cancelled=cancelled)
            return {"motions": [m.to_dict() for m in motions],
                    "seeds": [seed + 100 * i for i in range(len(motions))], "understood_as": understood}
    path = p.get("path") if task in ("generate", "continue") else None
    # with a path a run may be read as a running turn: Continue's reading says so, generate's plan does
    reading = tasks.read_prompt(model, p["text"], path=path if task == "continue" else None)
    plan = None
    if task == "generate" and path is not None and reading is not None:
        plan = tasks.plan_path(model, reading, path, seed)
        reading = plan.reading
    understood = reading.to_dict() if reading is not None else None
    if task == "generate":
        motions = tasks.generate(model, reading, seconds=p["seconds"], seed=seed, variants=p["variants"],
                                 fps=p["fps"], options=p["options"], progress=progress, cancelled=cancelled,
                                 path=plan)
        _note_path(understood, motions[0].duration, reading, path, paced_here=plan is not None and plan.paced)
        return {"motions": [m.to_dict() for m in motions], "seeds": [seed + i for i in range(len(motions))],
                "understood_as": understood}
    if task == "inbetween":
        motion = tasks.inbetween(model, p["motion"], p["from_frame"], p["to_frame"], text=reading, seed=seed,
                                 options=p["options"], progress=progress, cancelled=cancelled)
    else:
        motion = tasks.continue_motion(model, p["motion"], p["seconds"], text=reading, seed=seed,
                                       options=p["options"], progress=progress, cancelled=cancelled,
                                       path=path)
        _note_path(understood, motion.duration - p["motion"].duration, reading, path)
    return {"motion": motion.to_dict(), "seed": seed, "understood_as": understood}


def _note_path(understood: dict[str, Any] | None, seconds: float, reading, path, paced_here: bool = False) -> None:
    """Where a path covered in ``seconds`` turned the body into a spin, or its
    turns slowed the action, say so in ``understood_as`` (``path_note`` and
    the message the add-on shows)."""
    if path is not None:
        from .path_follow import add_path_note
        add_path_note(understood, path, seconds, reading.action if reading is not None else None, paced_here)


def estimate_result_bytes(task: str, params: dict[str, Any]) -> int:
    """About how many bytes the JSON result of a validated job will take,
    known before it runs (frames returned x RESULT_BYTES_PER_FRAME), so the
    server can refuse a result too large to hold and send."""
    if task == "caption":
        return 1024
    if task == "compose":
        return (int(round(params["items"].duration * params["fps"])) + 1) * RESULT_BYTES_PER_FRAME
    if task == "generate":
        fps = params["fps"]
        seconds = params["seconds"] if params["seconds"] is not None else (
            MAX_SECONDS if params.get("path") is not None else tasks.LONGEST_DEFAULT_SECONDS)
        frames = (round(seconds * fps) + 1) * params["variants"]
    elif task == "inbetween":
        frames = params["motion"].num_frames
    else:
        motion = params["motion"]
        frames = motion.num_frames + round(params["seconds"] * motion.fps)
    return int(frames) * RESULT_BYTES_PER_FRAME


def result_size_field(task: str, params: dict[str, Any]) -> str | None:
    """The request field to make smaller when :func:`estimate_result_bytes`
    is too large (what drives the size of each task's result)."""
    if task == "generate":
        return "variants" if params.get("variants", 1) > 1 else "seconds"
    return {"inbetween": "motion", "continue": "seconds", "compose": "items"}.get(task)


def pick_seed() -> int:
    """A fresh seed such that seed + variants - 1 stays within MAX_SEED."""
    return secrets.randbelow(MAX_SEED - MAX_VARIANTS)


def load_model(folder: str | Path | None = None, device: str = "auto"):
    """MotionGPT.load; without ``folder`` the default model
    ($MOTIONGPT_MODEL, models/default of the checkout, or the per-user folder
    of an installed engine), with a message that says where to put one when
    there is none."""
    from ..models.motiongpt import MotionGPT
    if folder is None:
        folder, origin = default_model_dir()
        if not (folder / MANIFEST).is_file():
            raise MotionGPTError(no_model_message(folder, origin))
    return MotionGPT.load(folder, device)


# ------------------------------------------------------------------------------
# field checks

def _text(value: Any, field: str, required: bool) -> str | None:
    if value is None:
        if required:
            raise ParamError(field, "missing; describe the motion, e.g. \"a person walks forward\"")
        return None
    if not isinstance(value, str):
        raise ParamError(field, f"must be a string, got {kind(value)}")
    text = " ".join(check_unicode(value, field).split())
    if not text:
        if required:
            raise ParamError(field, "is empty; describe the motion, e.g. \"a person walks forward\"")
        return None
    if len(text) > MAX_PROMPT_CHARS:
        raise ParamError(field, f"is {len(text)} characters long; keep it to {MAX_PROMPT_CHARS}")
    if TOKEN_RE.search(text):
        raise ParamError(field, "holds motion token strings (<motion_id_...>); describe the motion in words")
    return text


def _readable(out: dict[str, Any]) -> dict[str, Any]:
    """Refuse a text with nothing to read (checked after every other field,
    so a request with several faults names the plain ones first)."""
    why = refusal(out["text"]) if out.get("text") is not None else None
    if why:
        raise ParamError("text", why, code=PROMPT_REFUSED)
    return out


def _seconds(value: Any, field: str, required: bool) -> float | None:
    if value is None:
        if required:
            raise ParamError(field, f"missing; give a length in seconds (up to {MAX_SECONDS:g})")
        return None
    seconds = as_float(value, field, f"a number of seconds up to {MAX_SECONDS:g}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ParamError(field, f"must be a positive number of seconds, got {shown(value)}")
    if seconds > MAX_SECONDS:
        raise ParamError(field, f"must be at most {MAX_SECONDS:g} seconds, got {shown(value)}")
    return seconds


def _int(value: Any, field: str, lo: int, hi: int | None, required: bool = False) -> int:
    if value is None:
        if required:
            raise ParamError(field, "missing; give a whole number")
        raise ParamError(field, "must be a whole number, got null")
    span = f"{lo}..{hi}" if hi is not None else f"at least {lo}"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        number = int(value)          # exact, however many digits: no float() on it
    else:
        number_f = as_float(value, field, f"a whole number ({span})")
        if not math.isfinite(number_f) or not number_f.is_integer():
            raise ParamError(field, f"must be a whole number, got {shown(value)}")
        number = int(number_f)
    if number < lo or (hi is not None and number > hi):
        raise ParamError(field, f"must be {span}, got {shown(number)}")
    return number


def _seed(value: Any) -> int | None:
    if value is None:
        return None
    if not is_number(value):
        raise ParamError("seed", f"must be a whole number (or left out to pick one), got {kind(value)}")
    return _int(value, "seed", 0, MAX_SEED - MAX_VARIANTS)


def _options(value: Any) -> PostOptions:
    if value is None:
        return PostOptions()
    if isinstance(value, PostOptions):
        return value
    if not isinstance(value, dict):
        raise ParamError("options", "must be an object like {\"foot_cleanup\": true, \"in_place\": false}")
    names = PostOptions.names()
    for key, flag in value.items():
        if key not in names:
            raise ParamError(f"options.{key}", f"unknown option; known options: {', '.join(names)}")
        if not isinstance(flag, bool):
            raise ParamError(f"options.{key}", f"must be true or false, got {shown(flag)}")
    return PostOptions(**value)


def _motion(value: Any) -> Motion:
    if value is None:
        raise ParamError("motion", "missing; send the motion as {\"fps\": ..., \"joint_positions\": [...]} or "
                                   "{\"fps\": ..., \"local_quats\": [...], \"root_translation\": [...]}")
    motion = value if isinstance(value, Motion) else Motion.from_dict(value, "motion")
    if motion.duration < tasks.MIN_MODEL_SECONDS:
        raise ParamError("motion", tasks._too_short(motion))
    if motion.duration > MAX_SECONDS + 1e-9:
        raise ParamError("motion", f"is {motion.duration:.1f} s long; the limit is {MAX_SECONDS:g} s")
    return motion
