"""Check an engine's answer against what was asked, before any key is written.

The engine may be remote, intercepted or simply broken. Whatever it sends,
the add-on writes keys only for a reply that has exactly the frames the
request asked for, the 22 joints, finite numbers within a body's range and
strings of sane length; anything else fails the job with a message that
says what was wrong, and nothing in the scene changes. (The transport caps
the reply's size before and after decompression: client.py.)

No bpy: the job thread calls :func:`check_reply` before it reports success.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

JOINTS = 22
MAX_SECONDS = 60.0
"""The longest motion any task reads or writes (the engine's limit)."""
MAX_ROOT_M = 10_000.0
"""Farther than any shot travels: a root position beyond it is not a motion."""
MAX_JOINT_M = 10_000.0
MAX_OFFSET_M = 2.0
MAX_CAPTION_CHARS = 1_000
MAX_READING_CHARS = 4_000
MAX_LIST_ITEMS = 64


REPLY_BYTES_PER_FRAME = 4_000
"""Most bytes one frame of a motion takes in a reply (the engine's JSON
writes about 1,500: rotations, root and positions rounded to 6 decimals)."""
REPLY_OVERHEAD_BYTES = 256 * 1024


def expected_reply_bytes(task: str, params: dict[str, Any]) -> int:
    """The largest reply that can answer this request: what the transport
    reads at most before the checks below, so a reply of 50,000 frames to a
    2 s request is refused before it is parsed into Python objects."""
    try:
        if task == "caption":
            return REPLY_OVERHEAD_BYTES
        if task == "generate":
            seconds = params.get("seconds")
            seconds = MAX_SECONDS if seconds is None else float(seconds)    # a path at the action's own pace
            frames = (int(round(seconds * float(params["fps"]))) + 1) * int(params.get("variants", 1))
        elif task == "compose":
            frames = int(round(max(float(i["end"]) for i in params["items"]) * float(params["fps"]))) + 1
        else:
            source = params.get("motion") or {}
            frames = _frames_of(source) + int(round(float(params.get("seconds") or 0) * float(source.get("fps", 0))))
    except (KeyError, TypeError, ValueError):
        return REPLY_OVERHEAD_BYTES
    return frames * REPLY_BYTES_PER_FRAME + REPLY_OVERHEAD_BYTES


class ReplyError(ValueError):
    """The reply does not answer the request; ``str()`` says how."""


def _fail(why: str) -> None:
    raise ReplyError(f"the engine's reply was refused: {why}; nothing was changed. If this engine is remote, "
                     "check that its URL is the MotionGPT engine you trust")


def _frames_of(motion: dict[str, Any]) -> int:
    for key in ("local_quats", "joint_positions"):
        value = motion.get(key)
        if isinstance(value, list):
            return len(value)
    return 0


def _array(value: Any, shape: tuple[int, ...], what: str, bound: float) -> np.ndarray:
    """A nested list as a float array of exactly ``shape``, finite and within ±bound."""
    if not isinstance(value, list) or len(value) != shape[0]:
        _fail(f"{what} has {len(value) if isinstance(value, list) else type(value).__name__} frames, "
              f"expected {shape[0]}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(f"{what} is not a table of numbers")
    if arr.shape != shape:
        _fail(f"{what} has shape {arr.shape}, expected {shape}")
    if not np.isfinite(arr).all():
        _fail(f"{what} holds NaN or infinite numbers")
    if arr.size and float(np.abs(arr).max()) > bound:
        _fail(f"{what} holds {float(np.abs(arr).max()):.3g}, beyond any body's range ({bound:g})")
    return arr


def check_motion(motion: Any, frames: int, fps: float, what: str = "the motion") -> None:
    """``motion`` (an engine motion dict) has ``frames`` frames at ``fps`` of
    the 22 joints, finite and in range."""
    if not isinstance(motion, dict):
        _fail(f"{what} is not an object")
    got_fps = motion.get("fps")
    if not isinstance(got_fps, (int, float)) or not math.isfinite(got_fps) or abs(got_fps - fps) > 1e-6 * fps:
        _fail(f"{what} is at {got_fps!r} fps, the request was {fps:g} fps")
    if "num_frames" in motion and motion["num_frames"] != frames:
        _fail(f"{what} says it has {str(motion['num_frames'])[:20]} frames, the request was {frames}")
    if motion.get("local_quats") is None and motion.get("joint_positions") is None:
        _fail(f"{what} has neither rotations nor positions")
    if motion.get("local_quats") is not None:
        quats = _array(motion["local_quats"], (frames, JOINTS, 4), f"{what}'s rotations", 1.0 + 1e-3)
        norms = np.linalg.norm(quats, axis=-1)
        if frames and float(np.abs(norms - 1.0).max()) > 1e-2:
            _fail(f"{what}'s rotations are not unit quaternions")
        _array(motion.get("root_translation"), (frames, 3), f"{what}'s root path", MAX_ROOT_M)
    if motion.get("joint_positions") is not None:
        _array(motion["joint_positions"], (frames, JOINTS, 3), f"{what}'s joint positions", MAX_JOINT_M)
    if motion.get("rest_offsets") is not None:
        offsets = motion["rest_offsets"]
        if not isinstance(offsets, list) or len(offsets) != JOINTS:
            _fail(f"{what}'s rest offsets are not {JOINTS} joints")
        _array(offsets, (JOINTS, 3), f"{what}'s rest offsets", MAX_OFFSET_M)


def _check_text(value: Any, what: str, limit: int) -> None:
    if value is not None and (not isinstance(value, str) or len(value) > limit):
        _fail(f"{what} is {'longer than ' + str(limit) + ' characters' if isinstance(value, str) else 'not text'}")


def _check_reading(reading: Any) -> None:
    """``understood_as``: an object of short strings and short lists."""
    if reading is None:
        return
    if not isinstance(reading, dict) or len(reading) > MAX_LIST_ITEMS:
        _fail("'understood as' is not an object")
    for key, value in reading.items():
        if isinstance(value, str):
            _check_text(value, f"'understood as' ({str(key)[:20]})", MAX_READING_CHARS)
        elif isinstance(value, list):
            if len(value) > MAX_LIST_ITEMS or not all(isinstance(v, str) and len(v) <= MAX_READING_CHARS
                                                       for v in value):
                _fail(f"'understood as' ({str(key)[:20]}) is not a short list of words")
        elif not (value is None or isinstance(value, (bool, int, float))):
            _fail(f"'understood as' ({str(key)[:20]}) is not a plain value")


def check_reply(task: str, params: dict[str, Any], result: Any) -> None:
    """Raise :class:`ReplyError` unless ``result`` answers ``task`` with ``params``."""
    if not isinstance(result, dict):
        _fail("it is not an object")
    if task == "caption":
        caption = result.get("caption")
        if not isinstance(caption, str):
            _fail("it has no caption text")
        _check_text(caption, "the caption", MAX_CAPTION_CHARS)
        return
    _check_reading(result.get("understood_as"))
    if task == "generate":
        fps = float(params["fps"])
        variants = int(params.get("variants", 1))
        motions = result.get("motions")
        if not isinstance(motions, list) or len(motions) != variants:
            _fail(f"it holds {len(motions) if isinstance(motions, list) else 'no'} motions, the request was "
                  f"{variants}")
        if params.get("seconds") is not None:
            frames = int(round(float(params["seconds"]) * fps))
        else:                           # a path at the action's own pace: the engine says how long, within limits
            frames = _frames_of(motions[0]) if isinstance(motions[0], dict) else 0
            if not 2 <= frames <= int(math.floor(MAX_SECONDS * fps + 1e-6)) + 1:
                _fail(f"motion 1 has {frames} frames, outside 2 to {MAX_SECONDS:g} s at {fps:g} fps")
        seeds = result.get("seeds")
        if seeds is not None and (not isinstance(seeds, list) or len(seeds) != variants
                                  or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
            _fail("its seeds are not one whole number per motion")
        for k, motion in enumerate(motions):
            check_motion(motion, frames, fps, f"motion {k + 1}")
        return
    if task == "compose":
        fps = float(params["fps"])
        duration = max(float(item["end"]) for item in params["items"])
        check_motion(result.get("motion"), int(round(duration * fps)) + 1, fps, "the shot")
        items = result.get("items")
        if not isinstance(items, list) or len(items) != len(params["items"]):
            _fail(f"it reports {len(items) if isinstance(items, list) else 'no'} items, the timeline has "
                  f"{len(params['items'])}")
        for item in items:
            _check_reading((item or {}).get("understood_as") if isinstance(item, dict) else None)
        return
    source = params.get("motion") or {}
    fps = float(source.get("fps"))
    given = _frames_of(source)
    if task == "inbetween":
        frames = given
    elif task == "continue":
        frames = given + int(round(float(params["seconds"]) * fps))
    else:
        _fail(f"it answers an unknown task {task!r}")
    if frames > int(math.floor(MAX_SECONDS * fps + 1e-6)) + 1:
        _fail(f"the request itself asks for more than {MAX_SECONDS:g} s")
    seed = result.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        _fail("its seed is not a whole number")
    check_motion(result.get("motion"), frames, fps)
