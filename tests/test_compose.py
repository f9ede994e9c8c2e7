"""The compose task (issue 19): a timeline of prompts one after another and
at once on body parts, made with the model's own tasks (tiny model here)."""
from __future__ import annotations

import numpy as np
import pytest

from engine.motion import skeleton as sk
from engine.pipeline import jobs
from engine.pipeline.compose import BODY_PARTS, parse_timeline
from engine.pipeline.errors import ParamError

J = sk.JOINT_INDEX
WALK_WAVE = {"items": [{"text": "a person walks forward", "start": 0, "end": 3},
                       {"text": "a person waves the right hand", "start": 3, "end": 5},
                       {"text": "a person waves the right hand", "start": 0.5, "end": 2.5, "parts": ["right_arm"]}]}


@pytest.fixture(scope="module")
def model(tiny_bundle):
    return jobs.load_model(str(tiny_bundle), "cpu")


@pytest.mark.parametrize("items, field, message", [
    ([], "items", "give a list"),
    ([{"text": "walk", "start": 2, "end": 1}], "items[0].end", "after its start"),
    ([{"text": "walk", "start": 0, "end": 61}], "items[0].end", "at most 60 s"),
    ([{"text": "walk", "start": 0, "end": 4}, {"text": "wave", "start": 2, "end": 3}], "items[1]",
     "same body part"),
    ([{"text": "walk", "start": 0, "end": 4, "parts": ["lower_body"]},
      {"text": "wave", "start": 1, "end": 3, "parts": ["upper_body"]},
      {"text": "wave", "start": 2, "end": 3, "parts": ["left_arm"]}], "items[2]", r"overlaps items\[1\].*upper_body and left_arm share"),
    ([{"text": "wave", "start": 0, "end": 4, "parts": ["right_arm"]}], "items", "legs do"),
    ([{"text": "walk", "start": 0, "end": 4, "parts": ["tail"]}], "items[0].parts", "unknown body part"),
    ([{"text": "", "start": 0, "end": 4}], "items[0].text", "empty"),
    ([{"text": "walk", "start": "soon", "end": 4}], "items[0].start", "number of seconds"),
])
def test_bad_timelines_name_the_item(items, field, message):
    with pytest.raises(ParamError, match=message) as info:
        jobs.validate_job("compose", {"items": items})
    assert info.value.field == field


def test_compose_joins_items_without_pops_and_merges_parts(model):
    result = jobs.run_job(model, "compose", {**WALK_WAVE, "seed": 3})
    motion = result["motion"]
    assert motion["num_frames"] == 5 * 20 + 1
    pos = np.asarray(motion["joint_positions"])
    speed = np.linalg.norm(np.diff(pos, axis=0), axis=-1) * 20                     # m/s per joint
    # no pop at the join (frame 60): the peak joint speed there is within 1.5x of the shot's 95th percentile
    assert speed[55:66].max() <= 1.5 * np.percentile(speed.max(axis=1), 95) + 0.5
    assert [i["item"] for i in result["items"]] == [0, 1, 2]
    assert all(i["understood_as"]["message"] for i in result["items"])
    again = jobs.run_job(model, "compose", {**WALK_WAVE, "seed": 3})
    assert np.array_equal(np.asarray(again["motion"]["local_quats"]), np.asarray(motion["local_quats"]))


def test_a_gap_between_items_is_a_transition(model):
    """Items that do not touch (a bow from 4 s after a walk that ends at 3 s):
    the gap is bridged, the shot is as long as the timeline."""
    items = [{"text": "a person walks forward", "start": 0, "end": 3}, {"text": "a person bows", "start": 4, "end": 6}]
    result = jobs.run_job(model, "compose", {"items": items, "seed": 1})
    assert result["motion"]["num_frames"] == 6 * 20 + 1
    assert np.isfinite(np.asarray(result["motion"]["joint_positions"])).all()


def test_a_transition_is_never_a_pop_when_a_slower_one_was_at_hand(model):
    """A join's transition keeps under 1.5x its neighbours' pace, or else is
    no faster than a plain eased blend of the same two poses (the model's
    in-between is redrawn, then eased, before a pop is kept)."""
    from engine.pipeline.compose import compose, eased, join_speed_limit, peak_joint_speed
    from engine.pipeline.post import PostOptions
    items = [{"text": "a person walks forward", "start": 0, "end": 3},
             {"text": "a person bows", "start": 3.5, "end": 6}]
    shot, _ = compose(model, parse_timeline({"items": items}), seed=4, options=PostOptions(foot_cleanup=False))
    f0, f1 = 60, 70                                          # the gap: after frame 60 (3 s), to frame 70 (3.5 s)
    around = slice(f0 - 3, f1 + 3)
    kept = peak_joint_speed(shot)[around].max()
    limit = join_speed_limit(shot, slice(0, f0), slice(f1, shot.num_frames))
    blend = eased(shot, f0, f1)
    assert np.array_equal(blend.local_quats[:f0 + 1], shot.local_quats[:f0 + 1])
    assert np.array_equal(blend.root_pos[f1:], shot.root_pos[f1:])
    assert kept <= max(limit, peak_joint_speed(blend)[around].max()) + 1e-9


def test_a_join_too_short_for_its_poses_widens_its_blend_into_the_neighbours(model):
    """A raised arm must come down within a 0.4 s join between two swaying
    torsos: no draw and no blend of that length keeps the neighbours' pace,
    so the eased blend reaches into them (never past the reach given) until
    it does."""
    from engine.motion.quaternion import axis_angle_to_quat, qidentity
    from engine.pipeline.compose import _join, eased, join_speed_limit, peak_joint_speed
    from engine.pipeline.motion_io import Motion
    from engine.pipeline.post import PostOptions
    n, f0, f1 = 81, 36, 44
    t = np.arange(n) / 20.0
    quats = qidentity((n, sk.NUM_JOINTS))
    quats[:, J["spine3"]] = axis_angle_to_quat(np.array([0.0, 0.0, 1.0]), np.radians(15.0) * np.sin(2 * np.pi * t))
    quats[f1:, J["right_shoulder"]] = axis_angle_to_quat(np.array([0.0, 0.0, 1.0]), np.radians(-120.0))
    shot = Motion(quats, np.tile([0.0, 0.95, 0.0], (n, 1)), np.asarray(sk.CANONICAL_OFFSETS_M), 20.0)
    limit = join_speed_limit(shot, slice(0, f0), slice(f1, n))
    assert peak_joint_speed(eased(shot, f0, f1).slice(f0 - 3, f1 + 4)).max() > limit
    reach = (f0 - 10, f1 + 10)
    joined = _join(model, shot, f0, f1, limit, seed=0, options=PostOptions(foot_cleanup=False), reach=reach)
    changed = np.flatnonzero(np.abs(joined.local_quats - shot.local_quats).max(axis=(1, 2)) > 1e-9)
    assert reach[0] < changed.min() and changed.max() < reach[1]
    assert peak_joint_speed(joined.slice(changed.min() - 3, changed.max() + 4)).max() <= limit


def test_standing_still_holds_the_pose_the_shot_reached(model):
    """The model has no idle motion: "stands still" between a walk and a wave
    holds the walk's last pose (not the nearest action it knows), and the
    item's reading says so."""
    items = [{"text": "a person walks forward", "start": 0, "end": 2},
             {"text": "a person stands still", "start": 2, "end": 4},
             {"text": "a person waves the right hand", "start": 4, "end": 6}]
    result = jobs.run_job(model, "compose", {"items": items, "seed": 2, "options": {"foot_cleanup": False}})
    still = result["items"][1]["understood_as"]
    assert still["known"] is False and still["holds_pose"]
    assert "holds the pose" in still["message"]
    pos = np.asarray(result["motion"]["joint_positions"])
    speed = np.linalg.norm(np.diff(pos, axis=0), axis=-1) * 20
    held = speed[2 * 20 + 10:4 * 20 - 10]                 # the item's span without its two transitions
    assert held.max() < 1e-4, held.max()
    assert speed[10:30].max() > 0.05                       # the walk around it moves


def test_a_part_item_takes_only_its_joints(model):
    from engine.pipeline.compose import Timeline, compose, merge_part
    timeline = parse_timeline(WALK_WAVE)
    base_only = parse_timeline({"items": WALK_WAVE["items"][:2]})
    with_part, _ = compose(model, timeline, seed=3)
    without, _ = compose(model, base_only, seed=3)
    q1, q0 = with_part.local_quats, without.local_quats
    moved = np.abs(q1 - q0).max(axis=(0, 2)) > 1e-6
    arm = {J[n] for n in BODY_PARTS["right_arm"]}
    assert moved[J["right_shoulder"]] and moved[J["right_elbow"]]     # (a wrist, a leaf, has no rotation to take)
    # root and legs are the walk's (the foot cleanup runs on both alike)
    assert np.abs(with_part.root_pos - without.root_pos).max() < 1e-6
    assert not moved[J["left_knee"]] and not moved[J["left_shoulder"]]
    assert set(np.flatnonzero(moved)) <= arm


def test_a_merged_arm_keeps_its_angle_to_gravity_on_a_leaning_body():
    """A wave made on an upright body, merged onto a body leaning 35 degrees
    forward and facing another way: the hand is as high above the shoulder
    as in the wave (the arm's local rotations alone would tip it forward with
    the body), and it reaches out to the side the new body faces."""
    from engine.motion.quaternion import axis_angle_to_quat, qidentity, qmul, qrot
    from engine.pipeline.compose import Item, merge_part
    from engine.pipeline.motion_io import Motion
    frames, shoulder = 30, J["right_shoulder"]
    offsets = np.asarray(sk.CANONICAL_OFFSETS_M)
    root = np.tile([0.0, 0.95, 0.0], (frames, 1))
    gesture_q = qidentity((frames, sk.NUM_JOINTS))
    up = np.radians(-160.0)                                     # the arm up, 70 degrees over level
    gesture_q[:, shoulder] = axis_angle_to_quat(np.array([0.0, 0.0, 1.0]), up)
    gesture = Motion(gesture_q, root, offsets, sk.FPS)
    facing = axis_angle_to_quat(np.array([0.0, 1.0, 0.0]), np.radians(60.0))
    lean = axis_angle_to_quat(np.array([1.0, 0.0, 0.0]), np.radians(35.0))
    base_q = qidentity((frames, sk.NUM_JOINTS))
    base_q[:, 0] = qmul(facing, lean)
    base = Motion(base_q, root, offsets, sk.FPS)
    merged = merge_part(base, gesture, Item(index=1, text="waves", start=0.0, end=1.5, parts=("upper_body",)), 0)

    def height(motion: Motion) -> np.ndarray:
        p = motion.positions()
        return p[:, J["right_wrist"], 1] - p[:, shoulder, 1]

    mid = slice(10, 20)                                   # past the ease in and out
    want = height(gesture)[mid]
    assert want.min() > 0.3
    assert np.abs(height(merged)[mid] - want).max() < 0.01, (height(merged)[mid], want)
    local_only = merged.local_quats.copy()
    local_only[:, shoulder] = gesture_q[:, shoulder]      # what taking the local rotation would give
    assert (want - height(base.replace(local_quats=local_only))[mid]).min() > 0.05
    p = merged.positions()[15]
    reach = p[J["right_wrist"]] - p[shoulder]
    right = np.sign(sk.rest_joint_positions()[shoulder, 0]) * np.array([1.0, 0.0, 0.0])   # the body's right at rest
    assert float(np.dot(reach[[0, 2]], qrot(facing, right)[[0, 2]])) > 0.1


def test_compose_cli_from_items_and_from_a_file(tiny_bundle, tmp_path, capsys):
    import json
    from engine.cli import main
    from engine.pipeline.motion_io import Motion
    out = tmp_path / "shot.bvh"
    assert main(["compose", "--item", "a person walks forward@0-2", "--item", "a person waves@2-3.5",
                 "--item", "waves the left hand@0.5-1.5:left_arm", "--seed", "2", "--out", str(out),
                 "--model", str(tiny_bundle), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("item ") == 3 and "[left_arm]" in printed and "seed 2" in printed
    assert Motion.load(out).num_frames == 71
    timeline = tmp_path / "shot.json"
    timeline.write_text(json.dumps({"items": [{"text": "walk", "start": 0, "end": 2},
                                              {"text": "wave", "start": 1, "end": 3}]}))
    assert main(["compose", str(timeline), "--out", str(tmp_path / "o.npz"), "--model", str(tiny_bundle),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "shot.json: items[1]" in err and "overlaps items[0]" in err


def test_a_prompt_that_chains_actions_is_read_as_a_timeline(model):
    from engine.prompts.chaining import split_chain
    assert [p.text for p in split_chain("a person walks forward, then waves")] == ["a person walks forward", "waves"]
    assert [p.text for p in split_chain("walks in, stops, waves, bows")] == ["walks in", "stops", "waves", "bows"]
    assert len(split_chain("a tired, old person walks")) == 1
    pieces = split_chain("a person waves while walking")
    assert [(p.text, p.at_once) for p in pieces] == [("walking", False), ("a person waves", True)]
    assert [p.text for p in split_chain("una persona camina y luego saluda")] == ["una persona camina", "saluda"]
    result = jobs.run_job(model, "generate", {"text": "a person walks forward, then waves", "seconds": 4, "seed": 1})
    reading = result["understood_as"]
    assert reading["message"].startswith("read as a timeline of 2 items")
    assert reading["message"].count('s: "') == 2 and '"waves"' in reading["message"] and "-4 s" in reading["message"]
    assert len(result["motions"][0]["local_quats"]) == 80


def test_a_stop_in_a_typed_chain_is_a_held_beat(model):
    """"walks forward, stops, then waves": the stop holds the pose the walk
    reached for a beat (not the nearest action the model knows, a walk), and
    its reading says so."""
    result = jobs.run_job(model, "generate", {"text": "a person walks forward, stops, then waves", "seconds": 8,
                                              "seed": 1, "options": {"foot_cleanup": False}})
    items = result["understood_as"]["items"]
    assert [i["text"] for i in items] == ["a person walks forward", "stops", "waves"]
    stop = items[1]
    assert stop["understood_as"]["holds_pose"] and "holds the pose" in stop["understood_as"]["message"]
    assert stop["end"] - stop["start"] < items[0]["end"] - items[0]["start"]
    pos = np.asarray(result["motions"][0]["joint_positions"])
    speed = np.linalg.norm(np.diff(pos, axis=0), axis=-1) * 20
    first, last = int(round(stop["start"] * 20)), int(round(stop["end"] * 20))
    assert last - first == 30, items                         # a held beat keeps its 1.5 s of the 8
    assert speed[first + 10:last - 10].max() < 1e-4          # the span without its two transitions


def test_the_server_answers_a_bad_timeline_400_naming_the_item(token_engine):
    import requests
    from conftest import ENGINE_TOKEN
    body = {"task": "compose", "params": {"items": [{"text": "a person walks", "start": 0, "end": 3},
                                                    {"text": "a person bows", "start": 4, "end": 2}]}}
    r = requests.post(token_engine.url + "/v1/jobs", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {ENGINE_TOKEN}"})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["field"] == "items[1].end" and "after its start" in error["message"]
