"""What the four operators send and how their answers become keys (bpy glue).

Each task is split in two, both on Blender's main thread:

- ``plan_*``: check the selection and settings (raising :class:`UserError`
  with a message for the status bar), read what the engine needs from the
  scene (:func:`rig_reader.read_motion`) and return a :class:`Plan`: the
  engine task and params plus what applying needs. Nothing is changed.
- ``applier(plan, result)``: an :class:`Applier` that writes the engine's
  answer into Blender data in short steps (:meth:`Applier.steps`), so a modal
  operator can spread a long result over timer ticks with a progress bar;
  :meth:`Applier.rollback` puts everything back when the job is cancelled or
  fails half-way. This is the only place data changes, so an operator is one
  undo step and a failed or cancelled job writes nothing. ``apply_*`` run
  all steps at once (scripts, tests).

What is never lost
------------------
- No bone's ``rotation_mode`` changes: keys are written in each bone's own
  mode (quaternion, any Euler order, axis-angle).
- Fill Gap and Continue leave every key at or outside the range they write
  bit-identical, and the pose at every frame outside it unchanged; the new
  motion eases into the poses at the gap ends (and out of the last key for
  Continue), so hand-keyed poses do not pop.
- Generate never drops the action it replaces: like Blender's Action Editor,
  it stashes it in the NLA (a muted "[Action Stash]" track) so it survives a
  save, and says so. With "Add as NLA Strip" the active action stays and the
  new motion becomes a strip at the current frame.

Frames: the engine is asked for motion at the scene's frame rate, so one
engine frame is one scene frame. Generate keys ``frame_current ..
frame_current + round(seconds * fps)``; Fill Gap keys strictly between the
two keys (a curve that has no key at a gap end gets one there holding its
current value, so the rest of that curve does not move); Continue keys
``last key + 1 .. last key + round(seconds * fps)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import bpy
import numpy as np

from . import bone_maps, curve_path, prompt_help, retarget_math as rm
from .bone_map_editor import custom_bone_map
from .fcurves import ChangeLog, action_prop, object_fcurves
from .key_reduction import KeyReduction
from .retarget import RetargetJob, resolve_bone_map
from .rig_reader import read_motion, scene_fps

MAX_SECONDS = 60.0              # the engine's limit on a motion
MIN_SECONDS = 0.25              # shortest motion the model can read (one token)
GAP_CONTEXT_S = 3.0             # Fill Gap: animation sent on each side of the gap
CONTINUE_CONTEXT_S = 8.0        # Continue: animation sent before the last key (what the engine reads)
CONTINUE_EASE_S = 1.0           # Continue: the last key's pose eases out over this long
CAPTION_WINDOW_S = 10.0         # Caption: the engine describes the first 10 s
CAPTION_PROP = "motiongpt_caption"
ACTION_NAME_CHARS = 48
STASH_TRACK = "[Action Stash]"  # Blender's own name for stashed actions
NLA_TRACK = "MotionGPT"


class UserError(Exception):
    """Something the animator can fix; the message goes to the status bar."""


@dataclass
class Plan:
    task: str
    params: dict[str, Any]
    obj_name: str
    label: str
    data: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------
# selection and keys

def check_armature(obj) -> bpy.types.Object:
    if obj is None:
        raise UserError("Select an armature first: nothing is active.")
    if obj.type != 'ARMATURE':
        raise UserError(f"Select an armature: the active object {obj.name!r} is a {obj.type.lower()}, not an "
                        "armature.")
    if obj.mode == 'EDIT':
        raise UserError(f"The armature {obj.name!r} is in Edit Mode; switch to Object or Pose Mode first.")
    if len(obj.data.bones) == 0:
        raise UserError(f"The armature {obj.name!r} has no bones.")
    ad = obj.animation_data
    if ad is not None and ad.use_tweak_mode:
        raise UserError(f"{obj.name} is in NLA tweak mode; leave it (Tab in the NLA editor) so MotionGPT writes "
                        "into the action you see.")
    return obj


def _animated(obj, missing: str):
    """(armature, action, (first key, last key)) of an animated armature;
    else a UserError "<name> <missing>"."""
    obj = check_armature(obj)
    action = object_action(obj)
    rng = key_range(obj)
    if action is None or rng is None:
        raise UserError(f"{obj.name} {missing}")
    return obj, action, rng


def bone_map_for(obj) -> dict[str, str]:
    """The map the operators drive the rig through: the one set in the
    panel's Bone Map if the animator turned it on, else auto-detected."""
    try:
        return resolve_bone_map(obj, custom_bone_map(obj))
    except bone_maps.BoneMapError as exc:
        raise UserError(f"{obj.name}: {exc}") from None


def object_action(obj):
    ad = obj.animation_data
    return ad.action if ad is not None else None


def _keys(obj) -> tuple[np.ndarray, np.ndarray]:
    """(frames, selected) of every key of the object's F-curves."""
    frames, selected = [], []
    for fc in object_fcurves(obj):
        n = len(fc.keyframe_points)
        if not n:
            continue
        co = np.empty(2 * n, dtype=np.float32)
        sel = np.empty(n, dtype=bool)
        fc.keyframe_points.foreach_get("co", co)
        fc.keyframe_points.foreach_get("select_control_point", sel)
        frames.append(co[0::2])
        selected.append(sel)
    if not frames:
        return np.zeros(0, np.float32), np.zeros(0, bool)
    return np.concatenate(frames), np.concatenate(selected)


def has_keys(obj) -> bool:
    """Whether any F-curve of the object's animation has a key (cheap: for ``poll``)."""
    return any(len(fc.keyframe_points) for fc in object_fcurves(obj))


def key_range(obj) -> tuple[int, int] | None:
    """(first, last) key frame of the object's animation, None without keys."""
    frames, _ = _keys(obj)
    if not len(frames):
        return None
    return int(math.floor(float(frames.min()) + 1e-4)), int(math.ceil(float(frames.max()) - 1e-4))


def selected_key_frames(obj) -> list[float]:
    """Distinct frames of the selected keys (any editor: the F-curves'
    ``select_control_point``)."""
    frames, selected = _keys(obj)
    return sorted({round(float(f), 3) for f in frames[selected]})


def _frames_text(frames) -> str:
    return ", ".join(f"{f:g}" for f in frames)


def _options(settings) -> dict[str, bool]:
    return {"foot_cleanup": bool(settings.foot_cleanup), "in_place": settings.root_motion == 'IN_PLACE'}


def _reduction(settings) -> KeyReduction | None:
    """The "Reduce Keys" tolerances, or None when the option is off."""
    if not getattr(settings, "reduce_keys", False):
        return None
    return KeyReduction(rotation_deg=float(settings.reduce_rotation_deg),
                        location_m=float(settings.reduce_location_cm) / 100.0)


def _motion_window(obj, w0: int, w1: int, mapping) -> dict[str, Any]:
    m = read_motion(obj, w0, w1, bone_map=mapping, as_lists=False)
    pos = m["joint_positions"]
    if not np.all(np.isfinite(pos)):
        raise UserError("The animation has broken values (NaN) in frames "
                        f"{w0}-{w1}; fix or delete those keys first.")
    return {"fps": m["fps"], "joint_positions": np.round(pos, 6).tolist()}


def slice_motion(motion: dict[str, Any], first: int, last: int) -> dict[str, Any]:
    """Frames first..last (inclusive) of an engine motion dict."""
    out = dict(motion)
    for key in ("local_quats", "root_translation", "joint_positions"):
        if key in out and out[key] is not None:
            out[key] = out[key][first:last + 1]
    out["num_frames"] = last - first + 1
    return out


def _object(plan: Plan) -> bpy.types.Object:
    obj = bpy.data.objects.get(plan.obj_name)
    if obj is None or obj.type != 'ARMATURE':
        raise UserError(f"The armature {plan.obj_name!r} is gone; nothing was changed.")
    if obj.mode == 'EDIT':
        raise UserError(f"The armature {obj.name!r} is in Edit Mode; nothing was changed. Switch to Object or Pose "
                        "Mode and run it again.")
    return obj


def _plan_action(obj, plan: Plan):
    action = object_action(obj)
    if action is None or action.name != plan.data["action"]:
        raise UserError(f"{obj.name}'s action changed while the engine worked; nothing was changed.")
    return action


# ---------------------------------------------------------------------------
# applying an answer, in steps

class Applier:
    """Writes one engine answer (see the module docstring). Iterate
    :meth:`steps` (fractions done); afterwards :attr:`message` says what
    happened. On an exception or a cancel, call :meth:`rollback`."""

    def __init__(self, context, plan: Plan, result: dict[str, Any]):
        self.context = context
        self.plan = plan
        self.result = result
        self.changes = ChangeLog()
        self.undo: list[Callable[[], None]] = []      # extra undo actions, run last-first
        self.message = ""

    def steps(self) -> Iterator[float]:
        raise NotImplementedError

    def run(self) -> str:
        try:
            for _ in self.steps():
                pass
        except BaseException:
            self.rollback()
            raise
        return self.message

    def rollback(self) -> None:
        self.changes.rollback()
        while self.undo:
            self.undo.pop()()

    def _retarget_steps(self, job: RetargetJob) -> Iterator[float]:
        try:
            yield from job.steps()
        except (rm.RetargetError, bone_maps.BoneMapError) as exc:
            raise UserError(f"{self.plan.obj_name}: {exc}") from None


def action_name(prompt: str) -> str:
    name = prompt if len(prompt) <= ACTION_NAME_CHARS else prompt[:ACTION_NAME_CHARS - 1].rstrip() + "…"
    return name


def _assignment(obj) -> tuple[Any, Any]:
    ad = obj.animation_data
    if ad is None:
        return None, None
    return ad.action, getattr(ad, "action_slot", None)


def _assign(obj, action, slot) -> None:
    ad = obj.animation_data or obj.animation_data_create()
    ad.action = action
    if action is not None and slot is not None and hasattr(ad, "action_slot"):
        try:
            ad.action_slot = slot
        except (TypeError, RuntimeError, ReferenceError):
            pass


def _strip_for(track, name: str, frame: int, action, slot):
    strip = track.strips.new(name, int(frame), action)
    if slot is not None and hasattr(strip, "action_slot"):
        try:
            strip.action_slot = slot
        except (TypeError, RuntimeError, ReferenceError):
            pass
    return strip


def _is_stashed(obj, action) -> bool:
    ad = obj.animation_data
    return ad is not None and any(strip.action == action for track in ad.nla_tracks for strip in track.strips)


class GenerateApplier(Applier):
    def steps(self) -> Iterator[float]:
        plan, result = self.plan, self.result
        obj = _object(plan)
        motions = result.get("motions") or []
        if not motions:
            raise UserError("The engine returned no motion; nothing was changed.")
        seeds = result.get("seeds") or [None] * len(motions)
        start = plan.data["frame_start"]
        frames = plan.data["frames"] or int(motions[0].get("num_frames") or len(motions[0]["local_quats"]))
        end = start + frames - 1
        base = action_name(plan.data["prompt"])
        previous, previous_slot = _assignment(obj)
        self.undo.append(lambda: _assign(obj, previous, previous_slot))
        actions = []
        for k in range(len(motions)):
            name = base if len(motions) == 1 else f"{base} v{k + 1}"
            act = bpy.data.actions.new(name)
            act.use_fake_user = True            # every variant survives save, assigned or not
            act["motiongpt_prompt"] = plan.data["prompt"]
            prompt_help.store(act, result)
            if seeds[k] is not None:
                act["motiongpt_seed"] = int(seeds[k])
            act["motiongpt_variant"] = k + 1
            actions.append(act)
            self.undo.append(lambda act=act: bpy.data.actions.remove(act))
        self.actions = actions
        # last variant first: each is assigned while it is keyed (a rig the
        # constraint model cannot explain is refined by evaluating the
        # assigned action); the first stays
        for n, k in enumerate(reversed(range(len(motions)))):
            job = RetargetJob(obj, motions[k], plan.data["mapping"], action=actions[k], frame_start=start,
                              frame_end=end, root_motion="relative", reduce=plan.data.get("reduce"),
                              changes=self.changes, root_offset=plan.data.get("root_offset"))
            for progress in self._retarget_steps(job):
                yield (n + progress) / len(motions)
        new = actions[0]
        slot = getattr(obj.animation_data, "action_slot", None)
        if plan.data.get("as_nla"):
            _assign(obj, previous, previous_slot)
            track = obj.animation_data.nla_tracks.new()
            track.name = NLA_TRACK
            strip = _strip_for(track, new.name, start, new, slot)
            self.undo.append(lambda: obj.animation_data.nla_tracks.remove(track))
            where = (f"as an NLA strip {strip.name!r} on track {track.name!r} at frame {start}; "
                     + (f"the active action {previous.name!r} is untouched" if previous else "no action is active"))
        elif previous is not None and previous != new and not _is_stashed(obj, previous):
            track = obj.animation_data.nla_tracks.new()
            track.name = STASH_TRACK
            track.mute = True
            _strip_for(track, previous.name, int(previous.frame_range[0]), previous, previous_slot)
            self.undo.append(lambda: obj.animation_data.nla_tracks.remove(track))
            where = (f"the previous action {previous.name!r} is kept in the NLA editor (muted track "
                     f"{STASH_TRACK!r})")
        elif previous is not None and previous != new:
            where = f"the previous action {previous.name!r} stays in the NLA editor"
        else:
            where = ""
        variants = f" ({len(actions)} variants: {', '.join(a.name for a in actions)})" if len(actions) > 1 else ""
        along = f" along {plan.data['curve']!r}" if plan.data.get("curve") else ""
        self.message = (f"Generated {new.name!r} on {obj.name}{along}, frames {start}-{end}{variants}"
                        + (f"; {where}" if where else ""))
        yield 1.0


class FillGapApplier(Applier):
    def steps(self) -> Iterator[float]:
        plan = self.plan
        obj = _object(plan)
        action = _plan_action(obj, plan)
        a, b, w0 = plan.data["a"], plan.data["b"], plan.data["w0"]
        motion = slice_motion(self.result["motion"], a - w0, b - w0)
        job = RetargetJob(obj, motion, plan.data["mapping"], action=action, frame_start=a, frame_end=b,
                          replace_range=True, root_motion="absolute", hold=(True, True),
                          reduce=plan.data.get("reduce"), changes=self.changes)
        yield from self._retarget_steps(job)
        self.message = f"Filled frames {a + 1}-{b - 1} of {action.name!r} ({job.keys_written} keys)"


class ContinueApplier(Applier):
    def steps(self) -> Iterator[float]:
        plan = self.plan
        obj = _object(plan)
        action = _plan_action(obj, plan)
        motion = self.result["motion"]
        n_in, last = plan.data["n_in"], plan.data["last"]
        total = int(motion.get("num_frames") or len(motion["local_quats"]))
        count = total - n_in
        if count < 1:
            raise UserError("The engine returned no new frames; nothing was changed.")
        seam = slice_motion(motion, n_in - 1, total - 1)          # the last input frame + the new ones
        fade = max(1, int(round(CONTINUE_EASE_S * scene_fps(self.context.scene))))
        job = RetargetJob(obj, seam, plan.data["mapping"], action=action, frame_start=last,
                          frame_end=last + count, replace_range=True, root_motion="absolute", hold=(True, False),
                          hold_fade=fade, reduce=plan.data.get("reduce"), changes=self.changes)
        yield from self._retarget_steps(job)
        along = f" along {plan.data['curve']!r}" if plan.data.get("curve") else ""
        self.message = (f"Continued {action.name!r}{along}: frames {last + 1}-{last + count} "
                        f"({job.keys_written} keys)")


class CaptionApplier(Applier):
    def steps(self) -> Iterator[float]:
        _object(self.plan)
        action = bpy.data.actions.get(self.plan.data["action"])
        if action is None:
            raise UserError(f"The action {self.plan.data['action']!r} is gone; nothing was changed.")
        caption = " ".join(str(self.result.get("caption") or "").split())
        self.changes.set_property(action, CAPTION_PROP, caption)      # rollback deletes it if it was not there
        self.message = f"{action.name}: {caption}" if caption else f"The engine had no words for {action.name!r}"
        yield 1.0


TIMELINE_PROP = "motiongpt_timeline"
"""The timeline (JSON) that made an action, stored on it."""


class ComposeApplier(GenerateApplier):
    """Generate Timeline: one action, written like Generate's (same stash
    rules), with the timeline stored on it."""

    def steps(self) -> Iterator[float]:
        result = self.result
        reading = {"message": "; ".join(f"item {i['item'] + 1}: {(i.get('understood_as') or {}).get('message', '')}"
                                        for i in result.get("items") or [])}
        self.result = {"motions": [result.get("motion")], "seeds": [result.get("seed")], "understood_as": reading}
        yield from super().steps()
        self.actions[0][TIMELINE_PROP] = self.plan.data["timeline"]      # the action is new: undo removes it
        self.message = self.message.replace("Generated", "Generated the timeline", 1)


APPLIERS: dict[str, type[Applier]] = {"generate": GenerateApplier, "inbetween": FillGapApplier,
                                      "continue": ContinueApplier, "caption": CaptionApplier,
                                      "compose": ComposeApplier}


def applier(context, plan: Plan, result: dict[str, Any]) -> Applier:
    return APPLIERS[plan.task](context, plan, result)


def apply_generate(context, plan: Plan, result: dict[str, Any]) -> str:
    return GenerateApplier(context, plan, result).run()


def apply_fill_gap(context, plan: Plan, result: dict[str, Any]) -> str:
    return FillGapApplier(context, plan, result).run()


def apply_continue(context, plan: Plan, result: dict[str, Any]) -> str:
    return ContinueApplier(context, plan, result).run()


def apply_caption(context, plan: Plan, result: dict[str, Any]) -> str:
    return CaptionApplier(context, plan, result).run()


# ---------------------------------------------------------------------------
# plans

@dataclass
class FollowPath:
    """Generate's and Continue's Follow Path settings (the panel's, or an operator call's)."""
    curve: Any                               # a curve object, or None (then the request is refused)
    start: str = curve_path.START_CHARACTER  # CHARACTER | CURVE
    timing: str = 'SECONDS'                  # SECONDS | SCENE_RANGE | CURVE_LENGTH


def _follow(context, obj, mapping, follow: FollowPath, seconds: float | None,
            for_continue: bool = False) -> curve_path.FollowRequest:
    try:
        return curve_path.follow_request(context, obj, mapping, follow.curve, start=follow.start, seconds=seconds,
                                         for_continue=for_continue)
    except curve_path.CurveError as exc:
        raise UserError(str(exc)) from None
    except rm.RetargetError as exc:
        raise UserError(f"{obj.name}: {exc}") from None


def plan_generate(context, obj, prompt: str, seconds: float, seed: int | None, variants: int,
                  settings, follow: FollowPath | None = None) -> Plan:
    """With ``follow`` the motion walks along a curve; its length comes from
    ``seconds`` (timing SECONDS), the scene's frame range (SCENE_RANGE: keyed
    from the range's first frame) or the action's own pace over the curve
    (CURVE_LENGTH: the engine decides, the reply's frames are keyed)."""
    prompt = " ".join((prompt or "").split())
    if not prompt:
        raise UserError("Type a prompt first: describe the motion, e.g. \"a person waves\".")
    obj = check_armature(obj)
    mapping = bone_map_for(obj)
    scene = context.scene
    fps = scene_fps(scene)
    first = int(scene.frame_current)
    timing = follow.timing if follow is not None else 'SECONDS'
    if timing == 'SCENE_RANGE':
        first, frames, _ = curve_path.scene_range_seconds(scene)
        if frames < 2:
            raise UserError(f"The scene's frame range {scene.frame_start}-{scene.frame_end} has under two frames; "
                            "widen it or time the path by Seconds.")
        if frames > int(math.floor(MAX_SECONDS * fps + 1e-6)):
            raise UserError(f"The scene's frame range is {frames / fps:.1f} s long; a path takes at most "
                            f"{MAX_SECONDS:g} s. Shorten the range or time the path by Seconds.")
    else:
        frames = int(round(float(seconds) * fps)) + 1            # keys at current .. current + seconds * fps
        if frames < 2:
            raise UserError(f"{seconds:g} s is less than one frame at {fps:g} fps; ask for more.")
        frames = min(frames, int(math.floor(MAX_SECONDS * fps + 1e-6)))
    params: dict[str, Any] = {"text": prompt, "seconds": frames / fps, "variants": int(variants), "fps": fps,
                              "options": _options(settings)}
    data: dict[str, Any] = {"frame_start": first, "frames": frames, "mapping": mapping, "prompt": prompt,
                            "as_nla": bool(getattr(settings, "add_as_nla", False)), "reduce": _reduction(settings)}
    if follow is not None:
        if timing == 'CURVE_LENGTH':            # the action's pace over the curve decides; the reply says how long
            del params["seconds"]
            data["frames"] = None
        request = _follow(context, obj, mapping, follow, None)
        params["path"] = request.path
        data["root_offset"] = request.root_offset
        data["curve"] = follow.curve.name
    if seed is not None:
        params["seed"] = int(seed)
    return Plan("generate", params, obj.name, "Generate", data)


def gap_frames(obj, use_selected: bool, frame_from: int, frame_to: int) -> tuple[int, int]:
    if use_selected:
        frames = selected_key_frames(obj)
        if len(frames) < 2:
            found = "no key is selected" if not frames else f"only keys at frame {_frames_text(frames)} are selected"
            raise UserError(f"Select the keys at two frames of {obj.name}'s action ({found}); or switch Fill Gap to "
                            "Frames and type the two frame numbers.")
        if len(frames) > 2:
            raise UserError(f"Select keys at exactly two frames (keys are selected at frames {_frames_text(frames)}).")
        a, b = frames
        if a != int(a) or b != int(b):
            raise UserError(f"The selected keys sit between frames ({_frames_text(frames)}); use keys on whole frames.")
        a, b = int(a), int(b)
    else:
        a, b = sorted((int(frame_from), int(frame_to)))
    if b - a < 2:
        raise UserError(f"There is no frame between frames {a} and {b}; leave at least one frame between the keys.")
    return a, b


def plan_fill_gap(context, obj, use_selected: bool, frame_from: int, frame_to: int, prompt: str, seed,
                  settings) -> Plan:
    obj, action, (k0, k1) = _animated(obj, "has no animation: key the two poses first (or use Generate).")
    a, b = gap_frames(obj, use_selected, frame_from, frame_to)
    mapping = bone_map_for(obj)
    fps = scene_fps(context.scene)
    if (b - a) / fps > MAX_SECONDS - 2 * 0.25:
        raise UserError(f"The gap {a}-{b} is {(b - a) / fps:.1f} s long; the engine fills at most "
                        f"{MAX_SECONDS - 0.5:g} s.")
    ctx = int(round(GAP_CONTEXT_S * fps))
    w0 = min(a, max(k0, a - ctx))
    w1 = max(b, min(k1, b + ctx))
    limit = int(math.floor(MAX_SECONDS * fps)) - 1
    while w1 - w0 > limit:                              # long gap: trim the context, never the gap
        if w0 < a:
            w0 += 1
        if w1 - w0 > limit and w1 > b:
            w1 -= 1
    motion = _motion_window(obj, w0, w1, mapping)
    params: dict[str, Any] = {"motion": motion, "from_frame": a - w0, "to_frame": b - w0,
                              "options": _options(settings)}
    text = " ".join((prompt or "").split())
    if text:
        params["text"] = text
    if seed is not None:
        params["seed"] = int(seed)
    return Plan("inbetween", params, obj.name, "Fill Gap",
                {"a": a, "b": b, "w0": w0, "mapping": mapping, "action": action.name,
                 "reduce": _reduction(settings)})


def plan_continue(context, obj, seconds: float, prompt: str, seed, settings,
                  follow: FollowPath | None = None) -> Plan:
    obj, action, (k0, last) = _animated(obj, "has no animation to continue; key some poses first (or use "
                                             "Generate).")
    mapping = bone_map_for(obj)
    fps = scene_fps(context.scene)
    count = int(round(float(seconds) * fps))
    if count < 1:
        raise UserError(f"{seconds:g} s adds no frame at {fps:g} fps; ask for more.")
    w0 = max(k0, last - int(round(CONTINUE_CONTEXT_S * fps)))
    if (last - w0) / fps < MIN_SECONDS:
        raise UserError(f"Continue needs at least {MIN_SECONDS:g} s of animation before the last key (frame {last}); "
                        f"{obj.name} has {(last - w0) / fps:.2f} s.")
    motion = _motion_window(obj, w0, last, mapping)
    params: dict[str, Any] = {"motion": motion, "seconds": count / fps, "options": _options(settings)}
    if follow is not None:                # from where the action ends, for Continue's seconds
        params["path"] = _follow(context, obj, mapping, follow, None, for_continue=True).path
    text = " ".join((prompt or "").split())
    if text:
        params["text"] = text
    if seed is not None:
        params["seed"] = int(seed)
    return Plan("continue", params, obj.name, "Continue",
                {"last": last, "n_in": last - w0 + 1, "count": count, "mapping": mapping, "action": action.name,
                 "reduce": _reduction(settings), "curve": follow.curve.name if follow is not None else None})


ENGINE_PARTS = {"WHOLE": None, "LOWER_BODY": "lower_body", "UPPER_BODY": "upper_body", "LEFT_ARM": "left_arm",
                "RIGHT_ARM": "right_arm", "HEAD": "head"}


def timeline_rows(items) -> list[dict[str, Any]]:
    """The panel's items as plain rows (prompt, frames, part), in order."""
    return [{"prompt": " ".join((it.prompt or "").split()), "frame_start": int(it.frame_start),
             "frame_end": int(it.frame_end), "part": str(it.part)} for it in items]


def plan_compose(context, obj, rows: list[dict[str, Any]], seed: int | None, settings,
                 transition: float = 0.8) -> Plan:
    """A shot from the timeline rows: times in seconds from the first item's
    first frame, which is where the new action starts."""
    if not rows:
        raise UserError("The timeline is empty: add items (Add Item, or From Markers) first.")
    for n, row in enumerate(rows, 1):
        if not row["prompt"]:
            raise UserError(f"Timeline item {n} has no prompt; say what happens, e.g. \"a person bows\".")
        if row["frame_end"] <= row["frame_start"]:
            raise UserError(f"Timeline item {n} ends (frame {row['frame_end']}) before it starts "
                            f"(frame {row['frame_start']}).")
    obj = check_armature(obj)
    mapping = bone_map_for(obj)
    fps = scene_fps(context.scene)
    first = min(r["frame_start"] for r in rows)
    last = max(r["frame_end"] for r in rows)
    if (last - first) / fps > MAX_SECONDS:
        raise UserError(f"The timeline spans {(last - first) / fps:.1f} s; a shot lasts at most {MAX_SECONDS:g} s.")
    items = []
    for row in rows:
        item = {"text": row["prompt"], "start": round((row["frame_start"] - first) / fps, 6),
                "end": round((row["frame_end"] - first) / fps, 6)}
        part = ENGINE_PARTS.get(row["part"])
        if part:
            item["parts"] = [part]
        items.append(item)
    params: dict[str, Any] = {"items": items, "fps": fps, "transition": float(transition),
                              "options": _options(settings)}
    if seed is not None:
        params["seed"] = int(seed)
    import json
    label = " / ".join(r["prompt"] for r in rows)[:60]
    return Plan("compose", params, obj.name, "Generate Timeline",
                {"frame_start": first, "frames": last - first + 1, "mapping": mapping, "prompt": label,
                 "as_nla": bool(getattr(settings, "add_as_nla", False)), "reduce": _reduction(settings),
                 "timeline": json.dumps({"fps": fps, "items": rows})})


def plan_caption(context, obj) -> Plan:
    obj, action, (k0, k1) = _animated(obj, "has no animation to describe.")
    mapping = bone_map_for(obj)
    fps = scene_fps(context.scene)
    if (k1 - k0) / fps < MIN_SECONDS:
        raise UserError(f"The animation is {(k1 - k0) / fps:.2f} s long; Caption needs at least {MIN_SECONDS:g} s.")
    w1 = min(k1, k0 + int(round(CAPTION_WINDOW_S * fps)))
    return Plan("caption", {"motion": _motion_window(obj, k0, w1, mapping)}, obj.name, "Caption",
                {"action": action.name, "frames": (k0, w1)})


def caption_of(obj) -> str | None:
    if obj is None or obj.type != 'ARMATURE':
        return None
    return action_prop(obj, CAPTION_PROP)
