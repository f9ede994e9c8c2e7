"""engine.pipeline: Motion I/O, post-processing, job validation, and every task
through the real tiny model (the session's ``tiny_bundle``) on real clips."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.errors import MotionFileError, MotionGPTError
from engine.motion import skeleton as sk
from engine.motion.quaternion import axis_angle_to_quat, qrot
from engine.pipeline import JobCancelled, Motion, ParamError, PostOptions
from engine.pipeline import post

WALK = "dataset-1_walk_active_001"     # 97 frames at 20 fps
TURN = "dataset-2_walk-turn-left_active_001"


@pytest.fixture(scope="module")
def walk(sample_joints) -> Motion:
    return Motion.from_positions(sample_joints[WALK], 20.0)


@pytest.fixture(scope="module")
def walk30(walk) -> Motion:
    return walk.resample(30.0)


@pytest.fixture(scope="module")
def model(tiny_bundle):
    from engine.pipeline.jobs import load_model
    return load_model(tiny_bundle, "cpu")


def _steps(p: np.ndarray) -> np.ndarray:
    return np.diff(p, axis=0)


def _accel(p: np.ndarray) -> np.ndarray:
    """(T-2,) largest joint acceleration (m / frame^2) at frames 1..T-2."""
    return np.linalg.norm(np.diff(p, 2, axis=0), axis=-1).max(-1)


# ------------------------------------------------------------------------------
# Motion

def test_motion_dict_round_trip_and_json(walk):
    d = walk.to_dict()
    assert set(d) == {"fps", "num_frames", "joint_names", "parents", "rest_offsets", "local_quats",
                      "root_translation", "joint_positions"}
    assert d["num_frames"] == walk.num_frames and d["joint_names"] == list(sk.JOINT_NAMES)
    back = Motion.from_dict(json.loads(json.dumps(d, allow_nan=False)))
    assert back.fps == walk.fps
    np.testing.assert_allclose(back.local_quats, walk.local_quats, atol=2e-6)
    np.testing.assert_allclose(back.root_pos, walk.root_pos, atol=1e-6)
    np.testing.assert_allclose(back.offsets, walk.offsets, atol=1e-6)
    # positions only: rotations are solved and reproduce them
    pos_only = Motion.from_dict({"fps": 20, "joint_positions": d["joint_positions"]})
    assert np.abs(pos_only.positions() - walk.positions()).max() < 1e-5


def test_from_rotations_defaults_to_the_tpose_body_and_re_solves_other_rest_poses(walk):
    m = Motion.from_rotations(walk.local_quats, walk.root_pos, 20.0)
    np.testing.assert_array_equal(m.offsets, sk.T_POSE_OFFSETS_M)
    # an A-pose rest (arms 45 degrees down): same positions, re-expressed on the T-pose
    offsets = walk.offsets.copy()
    down = axis_angle_to_quat(np.array([0.0, 0.0, 1.0]), np.array(-math.pi / 4))
    for j in (sk.JOINT_INDEX["left_elbow"], sk.JOINT_INDEX["left_wrist"]):
        offsets[j] = qrot(down, offsets[j])
    apose = Motion(walk.local_quats, walk.root_pos, offsets, 20.0)
    solved = Motion.from_rotations(apose.local_quats, apose.root_pos, 20.0, offsets)
    assert not np.allclose(solved.offsets, offsets)
    assert np.abs(solved.positions() - apose.positions()).max() < 1e-6


def test_resampling_by_time(walk):
    m60 = walk.resample(60.0)
    assert m60.num_frames == (walk.num_frames - 1) * 3 + 1
    back = m60.resample(20.0)
    np.testing.assert_allclose(back.positions(), walk.positions(), atol=1e-9)
    m24 = walk.resample(24.0, num_frames=48)
    assert m24.num_frames == 48 and m24.fps == 24.0
    # frame 6 at 24 fps and frame 5 at 20 fps are both t = 0.25 s
    np.testing.assert_allclose(m24.positions()[6], walk.positions()[5], atol=1e-9)


def test_bvh_round_trip_and_foreign_skeleton_refused(walk30, tmp_path):
    path = walk30.to_bvh(tmp_path / "walk.bvh")
    back = Motion.from_bvh(path)
    assert back.fps == pytest.approx(30.0) and back.num_frames == walk30.num_frames
    assert np.abs(back.positions() - walk30.positions()).max() < 1e-4
    for suffix in (".npz", ".json"):
        again = Motion.load(walk30.save(tmp_path / f"walk{suffix}"))
        assert np.abs(again.positions() - walk30.positions()).max() < 1e-5
    foreign = tmp_path / "robot.bvh"
    foreign.write_text("HIERARCHY\nROOT Hips\n{\n\tOFFSET 0 0 0\n\tCHANNELS 6 Xposition Yposition Zposition "
                       "Zrotation Xrotation Yrotation\n\tJOINT Head\n\t{\n\t\tOFFSET 0 10 0\n\t\tCHANNELS 3 "
                       "Zrotation Xrotation Yrotation\n\t\tEnd Site\n\t\t{\n\t\t\tOFFSET 0 5 0\n\t\t}\n\t}\n}\n"
                       "MOTION\nFrames: 2\nFrame Time: 0.033333\n0 0 0 0 0 0 0 0 0\n0 0 0 0 0 0 0 0 0\n")
    with pytest.raises(MotionFileError, match="robot.bvh: no bone for .*--bone-map.*bone_map.json"):
        Motion.from_bvh(foreign)


def _walk_dict(walk, **change):
    d = {"fps": 20.0, "joint_positions": walk.positions().tolist()}
    d.update(change)
    return d


@pytest.mark.parametrize("change, field, message", [
    ({"fps": None}, "motion.fps", "missing"),
    ({"fps": 0}, "motion.fps", "between 1 and 240"),
    ({"fps": 1000}, "motion.fps", "between 1 and 240"),
    ({"fps": "30"}, "motion.fps", "must be a number"),
    ({"joint_positions": np.zeros((10, 21, 3)).tolist()}, "motion.joint_positions", "expected 22 joints, got 21"),
    ({"joint_positions": np.full((10, 22, 3), np.nan).tolist()}, "motion.joint_positions", "NaN"),
    ({"joint_positions": np.zeros((1, 22, 3)).tolist()}, "motion.joint_positions", "at least 2"),
    ({"joint_positions": np.zeros((1202, 22, 3)).tolist()}, "motion.joint_positions", "the limit is 60 s"),
    ({"joint_positions": [[[0, 0, "x"]] * 22] * 3}, "motion.joint_positions", "nested list of numbers"),
    ({"joint_positions": np.zeros((10, 22, 3)).tolist()}, "motion.joint_positions", "collapsed"),
    ({"joint_positions": "WALK_IN_CM"}, "motion.joint_positions", "send lengths in metres"),
    ({"joint_positions": np.full((10, 22, 3), 1e200).tolist()}, "motion.joint_positions", "beyond 10000 m"),
    ({"joint_positions": None}, "motion", "needs joint_positions"),
    ({"extra": 1}, "motion.extra", "unknown key"),
    ({"local_quats": np.tile([1.0, 0, 0, 0], (5, 22, 1)).tolist()}, "motion.root_translation", "missing"),
    ({"local_quats": np.zeros((5, 22, 4)).tolist(), "root_translation": np.zeros((5, 3)).tolist()},
     "motion.local_quats", "zero quaternion"),
    ({"local_quats": np.tile([1.0, 0, 0, 0], (5, 22, 1)).tolist(), "root_translation": np.zeros((4, 3)).tolist()},
     "motion.root_translation", "has 4 frames"),
])
def test_from_dict_errors_name_the_field(walk, change, field, message):
    if change.get("joint_positions") == "WALK_IN_CM":
        change = {"joint_positions": (walk.positions() * 100).tolist()}
    with pytest.raises(ParamError, match=message) as info:
        Motion.from_dict(_walk_dict(walk, **change))
    assert info.value.field == field
    assert isinstance(info.value, MotionGPTError)


# ------------------------------------------------------------------------------
# post-processing

def test_foot_cleanup_reduces_skating_and_keeps_the_rest(walk):
    contacts = post.foot_contacts(walk.positions(), walk.fps)
    assert contacts.sum(0).min() > 20       # a walk plants each foot for a good part of the clip
    t = np.arange(walk.num_frames) / walk.fps
    root = walk.root_pos.copy()
    root[:, 0] += 0.06 * np.sin(2 * np.pi * t)   # the body sways: the planted feet slide up to 0.38 m/s
    sliding = walk.replace(root_pos=root)
    before = post.foot_skate(sliding, contacts)
    fixed = post.foot_cleanup(sliding)
    after = post.foot_skate(fixed, contacts)
    assert before > 0.2 and after < 0.3 * before
    legs = [j for leg in post.LEGS for j in leg[:3]]
    others = [j for j in range(sk.NUM_JOINTS) if j not in legs]
    np.testing.assert_array_equal(fixed.local_quats[:, others], sliding.local_quats[:, others])
    np.testing.assert_array_equal(fixed.root_pos[:, [0, 2]], sliding.root_pos[:, [0, 2]])
    # the height changes only to stand the clip on its floor (settled where it floated, lifted where it sank)
    assert np.abs(fixed.root_pos[:, 1] - sliding.root_pos[:, 1]).max() <= sliding.positions()[..., 1].min(axis=1).max()
    # the knee stays a hinge about the thigh's X axis (as far as it was one)
    knees = [sk.JOINT_INDEX["left_knee"], sk.JOINT_INDEX["right_knee"]]
    off_hinge = np.abs(fixed.local_quats[:, knees, 2:]).max()
    assert off_hinge <= np.abs(sliding.local_quats[:, knees, 2:]).max() + 1e-6


def test_a_foot_planted_at_the_seam_stays_where_the_fixed_frames_put_it(walk):
    """Continue and in-between clean up only their new frames. A stance that
    began in the frames that may not change is locked where the foot stood
    on them, not on the stance's mean: before, the first new frames slid the
    foot towards a mean the generated frames had pulled away (continuations
    of 80 val clips skated 0.102 m/s over their first 0.5 s, real 0.065)."""
    contacts = post.foot_contacts(walk.positions(), walk.fps)
    ankle_j = post.LEGS[0][2]
    a, _ = next((a, b) for a, b in post._runs(contacts[:, 0]) if a > 0 and b - a >= 8)
    lo = a + 3                                         # the seam falls inside the stance
    t = np.arange(walk.num_frames) / walk.fps
    root = walk.root_pos.copy()
    root[lo:, 0] += 0.12 * (t[lo:] - t[lo - 1])        # the new frames drift sideways: the planted foot slides
    drifted = walk.replace(root_pos=root)
    fixed = post.foot_cleanup(drifted, (lo, walk.num_frames))
    end = next(e for s_, e in post._runs(post.foot_contacts(drifted.positions(), walk.fps)[:, 0]) if s_ < lo <= e)
    planted = drifted.positions()[lo - 1, ankle_j]
    ankle = fixed.positions()[lo - 1:end, ankle_j]
    off = np.linalg.norm((ankle - planted)[:, [0, 2]], axis=-1)
    # held over the seam (before: 6, 15, 23 mm in the first new frames); near the stance's end the
    # straightening leg can no longer reach the spot (the IK stops at a straight leg)
    assert end - lo >= 4 and off[:5].max() < 0.002 and off.max() < 0.02
    np.testing.assert_array_equal(fixed.local_quats[:lo], drifted.local_quats[:lo])   # the fixed frames, untouched
    np.testing.assert_array_equal(fixed.root_pos[:lo], drifted.root_pos[:lo])


def test_a_body_gliding_on_both_feet_is_stopped_and_a_walk_is_not(walk):
    """The decoder sometimes lets a standing gesture drift off at walking pace
    with both feet sliding under it (continuations of raised hands glided
    3.5 m in 4 s). Nothing can travel on two sliding feet: the glide's travel
    leaves the root, so the feet come to rest. A walk (one foot always
    stands) and a crawl-low body (its feet drag along) are no glides. (A
    continuation given no text stops its glides; the cleanup alone does not,
    since a prompt that asks for travel may get it as one.)"""
    contacts = post.foot_contacts(walk.positions(), walk.fps)
    both = int(np.flatnonzero(contacts.all(axis=1))[0])          # a frame with both feet down
    n = 60
    quats = np.repeat(walk.local_quats[both:both + 1], n, axis=0)
    root = np.repeat(walk.root_pos[both:both + 1], n, axis=0)
    t = np.arange(n) / walk.fps
    root[:, 2] += 0.8 * np.clip(t - 0.5, 0.0, 2.0)                 # still, glides 2 s at 0.8 m/s, still
    glide = walk.replace(quats, root)
    assert post.glide_frames(glide.positions(), glide.offsets, glide.fps)[20:45].all()
    stopped = post.foot_cleanup(post.stop_glides(glide))
    travel = np.linalg.norm(stopped.root_pos[-1, [0, 2]] - stopped.root_pos[0, [0, 2]])
    assert travel < 0.15                                           # 1.6 m before
    np.testing.assert_allclose(stopped.root_pos[0, [0, 2]], glide.root_pos[0, [0, 2]], atol=1e-9)
    assert not post.glide_frames(walk.positions(), walk.offsets, walk.fps).any()
    low = glide.positions()
    low[..., 1] *= 0.5                                             # the pelvis half as high: a crawl
    assert not post.glide_frames(low, glide.offsets, glide.fps).any()
    # a continuation glides only in its new frames: the given ones stay as they are
    kept = post.stop_glides(glide, lo=40)
    np.testing.assert_array_equal(kept.root_pos[:40], glide.root_pos[:40])


def test_feet_sunk_into_the_floor_are_lifted_smoothly(walk):
    feet = list(sk.FOOT_JOINTS)
    floor_gap = walk.positions()[:, feet, 1].min()
    t = np.arange(walk.num_frames) / walk.fps
    # stood on the floor (y = 0), then up to 4 cm through it around the middle
    sink = floor_gap + 0.04 * np.exp(-0.5 * ((t - t.mean()) / 0.5) ** 2)
    root = walk.root_pos.copy()
    root[:, 1] -= sink
    sunk = walk.replace(root_pos=root)
    assert sunk.positions()[:, feet, 1].min() < -0.035
    fixed = post.foot_cleanup(sunk)
    lowest = fixed.positions()[:, feet, 1].min(axis=1)
    assert lowest.min() >= 0.0                                   # nothing below the floor (y = 0)
    lift = fixed.root_pos[:, 1] - sunk.root_pos[:, 1]
    assert lift.max() < 0.06 and np.abs(lift[:5]).max() < 2e-3  # just what is needed, where it is needed
    assert np.abs(np.diff(lift)).max() < 0.01                    # eased in and out, no pop


def test_planted_toes_stay_put_when_the_foot_turns(walk):
    t = np.arange(walk.num_frames) / walk.fps
    quats = walk.local_quats.copy()
    turn = axis_angle_to_quat(np.array([0.0, 1.0, 0.0]), 0.25 * np.sin(2 * np.pi * 1.5 * t))
    ankles = [post.LEGS[0][2], post.LEGS[1][2]]
    from engine.motion.quaternion import qmul
    for a in ankles:
        quats[:, a] = qmul(quats[:, a], turn)                  # the feet swivel: the toes slide
    swivel = walk.replace(local_quats=quats)
    toes = [post.LEGS[0][3], post.LEGS[1][3]]
    contacts = post.toe_contacts(walk.positions(), walk.fps)

    def toe_skate(m):
        step = np.linalg.norm(np.diff(m.positions()[:, toes][..., [0, 2]], axis=0), axis=-1) * m.fps
        both = contacts[1:] & contacts[:-1]
        return step[both].mean()
    assert toe_skate(swivel) > 0.15
    assert toe_skate(post.foot_cleanup(swivel)) < 0.4 * toe_skate(swivel)


def test_foot_cleanup_is_on_by_default():
    assert PostOptions().foot_cleanup is True


def test_in_place_removes_horizontal_travel_only(walk):
    moved = post.in_place(walk)
    assert np.ptp(walk.root_pos[:, 2]) > 0.5
    assert np.ptp(moved.root_pos[:, [0, 2]], axis=0).max() == 0.0
    np.testing.assert_array_equal(moved.root_pos[:, 1], walk.root_pos[:, 1])
    np.testing.assert_array_equal(moved.local_quats, walk.local_quats)


# ------------------------------------------------------------------------------
# job validation

def _motion_params(walk):
    return {"fps": 20.0, "joint_positions": walk.positions().tolist()}


@pytest.mark.parametrize("task, params, field, message", [
    ("dance", {}, "task", "unknown task"),
    ("generate", {}, "text", "missing"),
    ("generate", {"text": "   "}, "text", "empty"),
    ("generate", {"text": "a" * 1001}, "text", "1001 characters"),
    ("generate", {"text": "a person <motion_id_3> walks"}, "text", "motion token strings"),
    ("generate", {"text": "🏃"}, "text", "no words to read"),
    ("generate", {"text": 5}, "text", "must be a string"),
    ("generate", {"text": "walk", "seconds": -1}, "seconds", "positive"),
    ("generate", {"text": "walk", "seconds": 0}, "seconds", "positive"),
    ("generate", {"text": "walk", "seconds": 61}, "seconds", "at most 60"),
    ("generate", {"text": "walk", "seconds": float("nan")}, "seconds", "positive"),
    ("generate", {"text": "walk", "seed": 1.5}, "seed", "whole number"),
    ("generate", {"text": "walk", "seed": "3"}, "seed", "whole number"),
    ("generate", {"text": "walk", "variants": 0}, "variants", "1..8"),
    ("generate", {"text": "walk", "variants": 9}, "variants", "1..8"),
    ("generate", {"text": "walk", "fps": 0}, "fps", "between 1 and 240"),
    ("generate", {"text": "walk", "fps": 500}, "fps", "between 1 and 240"),
    ("generate", {"text": "walk", "options": {"mirror": True}}, "options.mirror", "unknown option"),
    ("generate", {"text": "walk", "options": {"in_place": "yes"}}, "options.in_place", "true or false"),
    ("generate", {"text": "walk", "sconds": 2}, "sconds", "unknown parameter"),
    ("caption", {}, "motion", "missing"),
    ("inbetween", {"motion": "MOTION", "from_frame": 40, "to_frame": 10}, "to_frame", "after the first key"),
    ("inbetween", {"motion": "MOTION", "from_frame": 10, "to_frame": 500}, "to_frame", "outside the motion"),
    ("inbetween", {"motion": "MOTION", "from_frame": 10, "to_frame": 11}, "to_frame", "no frame in between"),
    ("inbetween", {"motion": "MOTION", "to_frame": 11}, "from_frame", "missing"),
    ("continue", {"motion": "MOTION"}, "seconds", "missing"),
    ("continue", {"motion": "MOTION", "seconds": 90}, "seconds", "at most 60"),
    ("continue", {"motion": "MOTION", "seconds": 59.9}, "seconds", "the longest result is 60 s"),
    ("continue", {"motion": {"fps": 20, "joint_positions": np.zeros((20, 21, 3)).tolist()}, "seconds": 1},
     "motion.joint_positions", "expected 22 joints, got 21"),
    ("caption", {"motion": {"fps": 20, "joint_positions": np.full((20, 22, 3), np.inf).tolist()}},
     "motion.joint_positions", "NaN or infinite"),
    ("caption", {"motion": {"fps": 300, "joint_positions": np.zeros((20, 22, 3)).tolist()}}, "motion.fps",
     "between 1 and 240"),
    ("caption", {"motion": "SHORT"}, "motion", "the model needs at least"),
])
def test_validate_job_names_the_field(walk, task, params, field, message):
    from engine.pipeline.jobs import validate_job
    if params.get("motion") == "MOTION":
        params = dict(params, motion=_motion_params(walk))
    if params.get("motion") == "SHORT":   # 0.1 s: a valid motion, too short for the model
        params = dict(params, motion={"fps": 20, "joint_positions": walk.positions()[:3].tolist()})
    with pytest.raises(ParamError, match=message) as info:
        validate_job(task, params)
    assert info.value.field == field


def test_validate_job_normalises_and_is_idempotent(walk):
    from engine.pipeline.jobs import MAX_PROMPT_CHARS, validate_job
    from engine.models import motiongpt
    assert MAX_PROMPT_CHARS is motiongpt.MAX_PROMPT_CHARS
    p = validate_job("generate", {"text": "  a person\n walks ", "seconds": 2, "seed": 7.0})
    assert p == {"text": "a person walks", "seconds": 2.0, "seed": 7, "variants": 1, "fps": 20.0,
                 "options": PostOptions()}
    q = validate_job("inbetween", {"motion": _motion_params(walk), "from_frame": 10, "to_frame": 30, "text": "",
                                   "options": {"foot_cleanup": True}})
    assert isinstance(q["motion"], Motion) and q["text"] is None and q["options"].foot_cleanup
    assert validate_job("inbetween", q) == q


# ------------------------------------------------------------------------------
# tasks on the real tiny model

def test_generate_lengths_seeds_and_reproducibility(model):
    from engine.pipeline import tasks
    seen = []
    motions = tasks.generate(model, "a person walks forward", seconds=2, seed=11, variants=2, fps=24,
                             progress=lambda f, m: seen.append(f))
    assert [m.num_frames for m in motions] == [48, 48] and all(m.fps == 24.0 for m in motions)
    assert seen == sorted(seen) and seen[-1] == 1.0
    again = tasks.generate(model, "a person walks forward", seconds=2, seed=12, fps=24)[0]
    # variant 2 used seed 12: the same tokens; the batched VQ decode may round the last bit differently
    np.testing.assert_allclose(again.local_quats, motions[1].local_quats, atol=1e-5)
    np.testing.assert_allclose(again.root_pos, motions[1].root_pos, atol=1e-5)
    m = motions[0]
    assert np.allclose(np.linalg.norm(m.local_quats, axis=-1), 1.0)
    assert np.abs(m.root_pos[0, [0, 2]]).max() < 1e-9            # starts at the origin
    free = tasks.generate(model, "a person waves", seed=3, fps=30, options=PostOptions(True, True))[0]
    assert free.num_frames >= 2 and np.ptp(free.root_pos[:, [0, 2]], axis=0).max() == 0.0


def test_inbetween_keeps_keys_exact_and_continuous_at_30_fps(model, walk30):
    from engine.pipeline import tasks
    f0, f1 = 30, 90
    out = tasks.inbetween(model, walk30, f0, f1, seed=5)
    assert out.num_frames == walk30.num_frames and out.fps == 30.0
    assert out.offsets is walk30.offsets or np.array_equal(out.offsets, walk30.offsets)
    for part in (slice(0, f0 + 1), slice(f1, None)):
        assert np.array_equal(out.local_quats[part], walk30.local_quats[part])
        assert np.array_equal(out.root_pos[part], walk30.root_pos[part])
    assert not np.allclose(out.local_quats[f0 + 1:f1], walk30.local_quats[f0 + 1:f1])
    p, p_in = out.positions(), walk30.positions()
    typical_acc = np.percentile(_accel(p_in), 90)
    typical_step = np.percentile(np.linalg.norm(_steps(p_in), axis=-1).max(-1), 90)
    acc = _accel(p)
    for key in (f0, f1):
        assert acc[key - 1] < 1.5 * typical_acc, (key, acc[key - 1], typical_acc)     # velocity continuous
        for k in (key - 1, key):
            assert np.linalg.norm(p[k + 1] - p[k], axis=-1).max() < 1.5 * typical_step  # no jump
    with_text = tasks.inbetween(model, walk30, 40, 44, text="a person jumps", seed=1,
                                options=PostOptions(foot_cleanup=True, in_place=True))
    assert np.array_equal(with_text.local_quats[:41], walk30.local_quats[:41])
    assert np.array_equal(with_text.root_pos[44:], walk30.root_pos[44:])


def test_continue_appends_with_a_continuous_seam(model, walk30):
    from engine.pipeline import tasks
    out = tasks.continue_motion(model, walk30, 1.5, seed=2)
    n = walk30.num_frames
    assert out.num_frames == n + 45 and out.fps == 30.0
    assert np.array_equal(out.local_quats[:n], walk30.local_quats)
    assert np.array_equal(out.root_pos[:n], walk30.root_pos)
    p, p_in = out.positions(), walk30.positions()
    typical_acc = np.percentile(_accel(p_in), 90)
    typical_step = np.percentile(np.linalg.norm(_steps(p_in), axis=-1).max(-1), 90)
    assert np.linalg.norm(p[n] - p[n - 1], axis=-1).max() < 1.5 * typical_step
    assert _accel(p)[n - 2] < 1.5 * typical_acc                                     # frame n-1: the seam
    root_step_in = walk30.root_pos[n - 1] - walk30.root_pos[n - 2]
    np.testing.assert_allclose(out.root_pos[n] - out.root_pos[n - 1], root_step_in, atol=2e-3)
    texted = tasks.continue_motion(model, walk30.resample(24.0), 0.5, text="then stops", seed=1,
                                   options=PostOptions(foot_cleanup=True))
    assert texted.num_frames == walk30.resample(24.0).num_frames + 12


def test_caption_and_run_job_results_are_json(model, walk):
    from engine.pipeline import jobs
    text = jobs.run_job(model, "caption", {"motion": walk.to_dict()})["caption"]
    assert isinstance(text, str) and text
    res = jobs.run_job(model, "generate", {"text": "a person jumps", "seconds": 1, "variants": 2, "fps": 25})
    json.dumps(res, allow_nan=False)
    assert len(res["motions"]) == 2 and res["seeds"][1] == res["seeds"][0] + 1
    assert all(len(m["local_quats"]) == 25 for m in res["motions"])
    res = jobs.run_job(model, "inbetween", {"motion": _motion_params(walk), "from_frame": 10, "to_frame": 40,
                                            "seed": 4})
    assert res["seed"] == 4 and res["motion"]["num_frames"] == walk.num_frames
    res = jobs.run_job(model, "continue", {"motion": _motion_params(walk), "seconds": 0.5})
    assert res["motion"]["num_frames"] == walk.num_frames + 10 and isinstance(res["seed"], int)
    assert jobs.JobCancelled is JobCancelled and jobs.TASKS == ("generate", "inbetween", "continue", "caption", "compose")


def test_cancel_raises_job_cancelled_between_stages_and_during_generation(model, walk):
    from engine.pipeline import tasks
    with pytest.raises(JobCancelled):
        tasks.generate(model, "a person walks", seconds=1, cancelled=lambda: True)
    calls = []

    def cancel_later() -> bool:   # let the first stage pass, then stop inside token generation
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(JobCancelled):
        tasks.continue_motion(model, walk, 2.0, cancelled=cancel_later)
    assert len(calls) == 4


def test_missing_default_model_says_how_to_get_one(monkeypatch, tmp_path):
    from engine.pipeline import jobs
    from engine.models import bundle
    monkeypatch.delenv("MOTIONGPT_MODEL", raising=False)
    monkeypatch.setattr(bundle, "DEFAULT_MODEL_DIR", tmp_path / "models" / "default")
    with pytest.raises(MotionGPTError, match="no model installed.*--model DIR.*train-lm.*convert-official"):
        jobs.load_model(None, "cpu")
