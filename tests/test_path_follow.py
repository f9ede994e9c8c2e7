"""Follow a path on the ground (issue 20, engine part): the root stays on the
path, the body faces along it, bad paths are answered naming the problem."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from engine.motion import skeleton as sk
from engine.pipeline import jobs
from engine.pipeline.errors import ParamError
from engine.pipeline.motion_io import Motion
from engine.pipeline.path_follow import (SPIN_TURN_DEG_S, TURN_PLAN_DEG_S, distance_to_path, follow, for_body,
                                         heading_errors_deg, model_leg_length, one_way_turn, parse_path,
                                         path_turn_deg_s, peak_turn_deg_s, read_path_file, seconds_for_turns,
                                         spin_note, starting_at)

ARC = np.linspace(0, np.pi, 30)
PATHS = {"line": [[0, 0], [0, 5]], "corner": [[0, 0], [0, 3], [3, 3]],
         "s_curve": [[np.sin(a), a / np.pi * 6] for a in np.linspace(0, 2 * np.pi, 40)],
         "circle": [[1 - np.cos(a), np.sin(a)] for a in np.linspace(0, 2 * np.pi, 60)]}


def _straight_walk(seconds=4.0, speed=1.3, fps=20.0) -> Motion:
    """A body that travels forward (+Z) with a little sway, from the sample walk's pose."""
    t = np.arange(int(seconds * fps) + 1) / fps
    quats = np.zeros((len(t), sk.NUM_JOINTS, 4))
    quats[..., 0] = 1.0
    root = np.stack([0.03 * np.sin(2 * np.pi * t), np.full_like(t, 0.9), speed * t], axis=1)
    return Motion.from_rotations(quats, root, fps)


@pytest.mark.parametrize("name", list(PATHS))
def test_the_root_follows_each_path_and_faces_along_it(name):
    path = parse_path({"points": PATHS[name]})
    carried = follow(_straight_walk(), path)
    d = distance_to_path(carried, path)
    assert np.median(d) < 0.05 and d.max() < 0.15
    assert np.median(heading_errors_deg(carried, path)) < 15
    end = np.asarray(PATHS[name][-1], dtype=float)
    assert np.linalg.norm(carried.root_pos[-1, [0, 2]] - end) < 0.1            # it covers the whole path


def test_a_path_without_seconds_is_walked_at_the_steps_own_length():
    """A walk made longer than the path needs is cut where it has covered the
    path, so its steps land on the path unstretched (1.3 m/s, 5 m: ~3.8 s)."""
    from engine.pipeline.path_follow import frames_to_cover
    path = parse_path({"points": PATHS["line"]})
    walk = _straight_walk(seconds=6.0, speed=1.3)
    cut = frames_to_cover(walk, path)
    assert abs(cut / walk.fps - 5.0 / 1.3) < 0.3
    carried = follow(walk.slice(0, cut), path)
    steps = np.linalg.norm(np.diff(carried.root_pos[:, [0, 2]], axis=0), axis=-1) * walk.fps
    assert abs(np.median(steps) - 1.3) < 0.1                                   # its own pace, not stretched
    assert frames_to_cover(_straight_walk(seconds=2.0), path) == 41            # too short: all of it


def test_a_path_that_turns_the_body_into_a_spin_is_said():
    """A 1 m radius circle covered at a run's pace (3.3 m/s, 1.9 s a lap)
    turns the body about 180 degrees per second, four times what turning runs
    in the data show: the animator is told, in words. A walk round a corner
    at its own pace is not flagged."""
    circle = parse_path({"points": PATHS["circle"]})
    lap = circle.length / 3.3
    run = follow(_straight_walk(seconds=lap, speed=3.3), circle)
    assert 150 < peak_turn_deg_s(run) < 220
    assert 170 < path_turn_deg_s(circle, lap) < 200                 # the even-pace rate: 360 degrees in 1.9 s
    note = spin_note(circle, lap, "run")
    assert note and "spin" in note and "run" in note and "widen the curve" in note
    corner = parse_path({"points": PATHS["corner"]})
    assert path_turn_deg_s(corner, 6 / 1.3) < SPIN_TURN_DEG_S / 1.5 and spin_note(corner, 6 / 1.3, "walk") is None
    assert path_turn_deg_s(parse_path({"points": PATHS["line"]}), 4.0) < 1e-6
    understood = {"message": "understood as: run"}          # what the add-on shows gets the note
    jobs._note_path(understood, lap, SimpleNamespace(action="run"), circle)
    assert understood["path_note"] == note and understood["message"].endswith("Path: " + note)
    quiet = {"message": "understood as: walk"}
    jobs._note_path(quiet, 6 / 1.3, SimpleNamespace(action="walk"), corner)
    assert quiet == {"message": "understood as: walk"}


def test_tight_turns_set_the_pace_and_say_so():
    """Real runners slow down on a tight curve: a path given without seconds
    takes at least the seconds that keep its turning at TURN_PLAN_DEG_S (a
    2 m circle: 360 / 70 = 5.1 s), and the animator is told when the engine
    chose a slower pace (never when the seconds were theirs)."""
    circle = parse_path({"points": PATHS["circle"]})
    slow = seconds_for_turns(circle)
    assert path_turn_deg_s(circle, slow) == pytest.approx(TURN_PLAN_DEG_S, rel=0.02)
    assert slow == pytest.approx(360 / TURN_PLAN_DEG_S, rel=0.05)
    assert seconds_for_turns(parse_path({"points": PATHS["line"]})) < 0.1       # a line allows any pace
    said = {"message": "understood as: run and turn left"}
    jobs._note_path(said, slow, SimpleNamespace(action="run and turn left"), circle, paced_here=True)
    assert "tight" in said["path_note"] and f"{slow:.1f} s" in said["path_note"] and "spin" not in said["path_note"]
    theirs = {"message": "understood as: run and turn left"}
    jobs._note_path(theirs, slow, SimpleNamespace(action="run and turn left"), circle)
    assert theirs == {"message": "understood as: run and turn left"}


@pytest.mark.parametrize("points, side", [(PATHS["circle"], "left"), (PATHS["corner"], "left"),
                                          ([[0, 0], [0, 3], [-3, 3]], "right"), (PATHS["s_curve"], None),
                                          (PATHS["line"], None)])
def test_which_way_a_path_turns(points, side):
    """+X is the body's left when it faces +Z (the engine's HumanML3D frame),
    so a corner from +Z towards +X turns left; an S curve turns both ways."""
    assert one_way_turn(parse_path({"points": points}))[0] == side


def test_a_run_round_a_tight_circle_is_a_slower_running_turn():
    """Shipped model: a run asked round a 2 m circle without seconds is made
    as the data's running turn, slowed so the body turns no faster than
    TURN_PLAN_DEG_S allows (at most SPEED_LIMIT times its own pace), and the
    reply says both; the same run along an S curve (both ways) stays a run
    at its own pace, and a walk round the circle stays a walk."""
    from engine.pipeline import tasks
    from engine.pipeline.path_follow import PACE_MARGIN, SPEED_LIMIT
    from tests.blender_support import REPO
    if not (REPO / "models" / "default" / "model.json").exists():
        pytest.skip("no shipped model in models/default")
    model = jobs.load_model(str(REPO / "models" / "default"), "cpu")
    circle = {"points": PATHS["circle"]}
    result = jobs.run_job(model, "generate", {"text": "a person runs forward", "seed": 0, "path": circle})
    said = result["understood_as"]
    assert said["action"] == "run and turn left" and "turns left" in said["message"]
    assert "tight" in said["path_note"] and "spin" not in said["path_note"]
    run = Motion.from_dict(result["motions"][0])
    line = tasks.plan_path(model, model.read_prompt("a person runs forward"), parse_path({"points": PATHS["line"]}), 0)
    assert not line.paced and line.reading.action == "run"
    assert parse_path(circle).length / run.duration < 5.0 / (line.seconds / PACE_MARGIN)   # slower than its run
    assert run.duration <= seconds_for_turns(parse_path(circle)) + 0.1
    assert np.median(distance_to_path(run, parse_path(circle))) < 0.05
    s_plan = tasks.plan_path(model, model.read_prompt("a person runs forward"),
                             parse_path({"points": PATHS["s_curve"]}), 0)
    assert s_plan.reading.action == "run" and not s_plan.paced
    walk_plan = tasks.plan_path(model, model.read_prompt("a person walks forward"), parse_path(circle), 0)
    assert walk_plan.reading.action == "walk" and walk_plan.seconds < SPEED_LIMIT * 6


@pytest.mark.parametrize("raw, field, message", [
    ({"points": [[0, 0]]}, "path.points", "at least two"),
    ({"points": [[0, 0], [0, 0.1]]}, "path.points", "0.10 m long"),
    ({"points": [[0, 0], [0, float("nan")]]}, "path.points", "NaN"),
    ({"points": [[0, 0, 1], [1, 1, 1]]}, "path.points", "pairs"),
    ({"points": [[0, 0], [0, 5]], "seconds": 0}, "path.seconds", "up to 60"),
    ("nonsense", "path.points", "at least two"),
    ({"points": [[0, 0], [0, 5]], "leg_length": -1}, "path.leg_length", "hip-to-ankle"),
    ({"points": [[0, 0], [0, 5]], "speed": 2}, "path.speed", "not a path setting"),
])
def test_bad_paths_are_named(raw, field, message):
    with pytest.raises(ParamError, match=message) as info:
        parse_path(raw)
    assert info.value.field == field


def test_an_action_that_does_not_travel_cannot_follow(tmp_path):
    quats = np.zeros((41, sk.NUM_JOINTS, 4))
    quats[..., 0] = 1.0
    still = Motion.from_rotations(quats, np.tile([0.0, 0.9, 0.0], (41, 1)), 20.0)
    with pytest.raises(ParamError, match="travels only"):
        follow(still, parse_path({"points": PATHS["line"]}))


def test_path_files_json_and_csv(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps({"points": PATHS["corner"], "seconds": 5}))
    (tmp_path / "p.csv").write_text("x,z\n0,0\n0,3\n3,3\n")
    a, b = read_path_file(tmp_path / "p.json"), read_path_file(tmp_path / "p.csv")
    assert a.seconds == 5 and np.array_equal(a.points, b.points)
    (tmp_path / "bad.csv").write_text("0,0\nfoo\n")
    with pytest.raises(Exception, match="line 2"):
        read_path_file(tmp_path / "bad.csv")


def test_generate_with_a_path_through_the_job_api(tiny_bundle):
    model = jobs.load_model(str(tiny_bundle), "cpu")
    with pytest.raises(ParamError) as info:
        jobs.validate_job("generate", {"text": "a person walks", "path": {"points": [[0, 0]]}})
    assert info.value.field == "path.points"
    try:
        result = jobs.run_job(model, "generate", {"text": "a person walks forward", "seed": 1,
                                                  "path": {"points": PATHS["corner"], "seconds": 4}})
    except ParamError as exc:                  # the tiny model may not travel, or not at a walk's pace: said so
        assert exc.field.startswith("path")
        return
    motion = Motion.from_dict(result["motions"][0])
    path = parse_path({"points": PATHS["corner"]})
    assert np.median(distance_to_path(motion, path)) < 0.1


def test_a_path_for_longer_legs_is_scaled_to_the_models_body():
    """The add-on sends the curve in its world with the rig's leg length: the
    engine walks a path shrunk by model/rig legs, which the add-on's root
    scaling (rig/model legs) brings back onto the curve."""
    offsets = _straight_walk().offsets
    leg = model_leg_length(offsets)
    path = parse_path({"points": [[1, 1], [1, 5], [3, 5]], "leg_length": 2 * leg})
    body = for_body(path, offsets)
    np.testing.assert_allclose(body.points, [[1, 1], [1, 3], [2, 3]], atol=1e-9)
    assert for_body(parse_path({"points": [[0, 0], [0, 5]]}), offsets).points[-1, 1] == 5
    moved = starting_at(path, np.array([-2.0, 0.5]))
    np.testing.assert_allclose(moved.points[0], [-2, 0.5])
    assert moved.length == pytest.approx(path.length)


def test_continue_and_chained_prompts_with_a_path(tiny_bundle):
    model = jobs.load_model(str(tiny_bundle), "cpu")
    walk = _straight_walk(2.0)
    with pytest.raises(ParamError) as info:
        jobs.validate_job("continue", {"motion": walk.to_dict(), "seconds": 3, "path": {"points": PATHS["corner"],
                                                                                        "seconds": 5}})
    assert info.value.field == "path.seconds"
    with pytest.raises(ParamError) as info:
        jobs.run_job(model, "generate", {"text": "a person walks, then waves", "path": {"points": PATHS["line"]}})
    assert info.value.field == "path" and "one action" in info.value.message
    try:
        result = jobs.run_job(model, "continue", {"motion": walk.to_dict(), "seconds": 3, "seed": 1,
                                                  "text": "a person walks forward",
                                                  "path": {"points": PATHS["corner"]}})
    except ParamError as exc:                  # the tiny model may not travel, or not at a walk's pace: said so
        assert exc.field.startswith("path")
        return
    out = Motion.from_dict(result["motion"])
    np.testing.assert_allclose(out.root_pos[:walk.num_frames], walk.root_pos, atol=1e-6)   # the input, exactly
    start = walk.root_pos[-1, [0, 2]]
    moved = parse_path({"points": (np.asarray(PATHS["corner"]) + start).tolist()})
    new = out.replace(out.local_quats[walk.num_frames + 10:], out.root_pos[walk.num_frames + 10:])
    assert np.median(distance_to_path(new, moved)) < 0.15


@pytest.mark.parametrize("items, field, message", [
    ([{"text": "walk", "start": 0, "end": 4, "path": {"points": [[0, 0]]}}], "items[0].path.points", "at least two"),
    ([{"text": "walk", "start": 0, "end": 4, "path": {"points": PATHS["line"], "seconds": 3}}],
     "items[0].path.seconds", "lasts 4 s"),
    ([{"text": "walk", "start": 0, "end": 4},
      {"text": "wave", "start": 1, "end": 3, "parts": ["upper_body"], "path": {"points": PATHS["line"]}}],
     "items[1].path", "moves the legs"),
])
def test_bad_timeline_paths_name_the_item(items, field, message):
    with pytest.raises(ParamError, match=message) as info:
        jobs.validate_job("compose", {"items": items})
    assert info.value.field == field


def test_a_timeline_item_follows_its_path_from_where_the_body_stands():
    """Shipped model: a bow, then a walk along a 3 + 3 m corner for 5 s. The
    walk's path starts where the bow left the body (the corner keeps its
    shape and direction); outside the transition the hips stay on it."""
    from engine.pipeline.path_follow import starting_at
    from tests.blender_support import REPO
    if not (REPO / "models" / "default" / "model.json").exists():
        pytest.skip("no shipped model in models/default")
    model = jobs.load_model(str(REPO / "models" / "default"), "cpu")
    items = [{"text": "a person bows", "start": 0, "end": 2},
             {"text": "a person walks forward", "start": 2, "end": 7, "path": {"points": PATHS["corner"]}}]
    result = jobs.run_job(model, "compose", {"items": items, "seed": 1})
    shot = Motion.from_dict(result["motion"])
    assert shot.num_frames == 7 * 20 + 1
    walk = shot.slice(2 * 20 + 8, 7 * 20 + 1)                     # after the 0.8 s transition
    path = starting_at(parse_path({"points": PATHS["corner"]}), shot.root_pos[2 * 20 - 8, [0, 2]])
    d = distance_to_path(walk, path)
    assert np.median(d) < 0.15, np.median(d)
    assert np.linalg.norm(shot.root_pos[-1, [0, 2]] - path.points[-1]) < 0.4     # it walked the whole corner
    assert result["items"][1]["understood_as"]["action"] == "walk"
    with pytest.raises(ParamError, match="pace") as info:             # 12 m in 2 s: not a walk
        jobs.run_job(model, "compose", {"items": [{"text": "a person walks forward", "start": 0, "end": 2,
                                                   "path": {"points": [[0, 0], [0, 12]]}}], "seed": 1})
    assert info.value.field == "items[0].path.seconds"
