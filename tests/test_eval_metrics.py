"""Evaluation metrics on hand-made inputs whose answers are known."""
import json
import math

import numpy as np
import pytest

from engine.eval import caption_metrics as C
from engine.eval import metrics as M
from engine.eval import motion_metrics as MM
from engine.eval.report import format_table, write_json
from engine.motion import skeleton as sk
from engine.motion.kinematics import forward_kinematics
from engine.motion.quaternion import axis_angle_to_quat, qmul, qnormalize, qrot


# --------------------------------------------------------------------------
# caption metrics

def test_tokenize_lowercases_and_strips_punctuation():
    assert C.tokenize("A person waves bye-bye, Happily!") == ["a", "person", "waves", "bye", "bye", "happily"]


def test_bleu_identical_is_one_and_known_partial_matches():
    refs = [["a person walks forward slowly."]]
    assert C.bleu(["A person walks forward slowly"], refs, 4) == pytest.approx(1.0)
    assert C.bleu(["A person walks forward slowly"], refs, 1) == pytest.approx(1.0)
    # p1 = 3/4, p2 = 2/3, p3 = 1/2, p4 = 0/1, same length
    assert C.bleu(["a b c d"], [["a b c e"]], 1) == pytest.approx(0.75)
    assert C.bleu(["a b c d"], [["a b c e"]], 3) == pytest.approx((0.75 * 2 / 3 * 0.5) ** (1 / 3))
    assert C.bleu(["a b c d"], [["a b c e"]], 4) == 0.0
    # brevity penalty: hypothesis 5 words, reference 6, every n-gram matches
    assert C.bleu(["a b c d e"], [["a b c d e f"]], 4) == pytest.approx(math.exp(1 - 6 / 5))


def test_bleu_multiple_references_and_corpus_level():
    # clipped against the best reference per n-gram: p1 4/4, p2 3/3, p3 1/2
    assert C.bleu(["a b c d"], [["a b x y", "x b c d"]], 3) == pytest.approx(0.5 ** (1 / 3))
    # corpus level sums counts: (4 + 0) / (4 + 2) unigram matches, not the mean of 1 and 0
    assert C.bleu(["a b c d", "a b"], [["a b c d"], ["c d"]], 1) == pytest.approx(4 / 6)
    # closest reference length decides the brevity penalty
    assert C.bleu(["a b c"], [["a b c", "a b c d e f g"]], 1) == pytest.approx(1.0)


def test_rouge_l_lcs_f_measure():
    assert C.lcs_length("a b c d".split(), "a c b d".split()) == 3
    assert C.lcs_length("x a y b z".split(), "a b".split()) == 2
    assert C.rouge_l(["a b c d"], [["a c b d"]]) == pytest.approx(0.75)
    assert C.rouge_l(["a b c d"], [["a b c d"]]) == pytest.approx(1.0)
    beta = 1.2   # P = 1, R = 0.5
    assert C.rouge_l(["a b"], [["a b c d"]]) == pytest.approx((1 + beta ** 2) * 0.5 / (0.5 + beta ** 2))
    assert C.rouge_l(["a b"], [["a b c d"]], beta=1.0) == pytest.approx(2 / 3)
    assert C.rouge_l(["q r"], [["a b"]]) == 0.0


def test_cider_d_identical_disjoint_is_ten_and_unrelated_is_zero():
    refs = [["a person walks forward"], ["someone jumps up high"]]
    assert C.cider_d(["a person walks forward", "someone jumps up high"], refs) == pytest.approx(10.0)
    assert C.cider_d(["zebra", "yak"], refs) == 0.0
    # half the corpus right -> half the score
    assert C.cider_d(["a person walks forward", "yak"], refs) == pytest.approx(5.0)
    # an n-gram in every document has idf 0: a caption made only of it scores 0
    shared = [["a person walks"], ["a person runs"]]
    assert C.cider_d(["a person", "a person"], shared) == pytest.approx(0.0)


def test_constant_caption_baseline_picks_most_common_reference():
    refs = [["a person walks.", "someone walks"], ["A person walks", "a person jogs"], ["a person sits"]]
    base = C.constant_caption_baseline(refs)
    assert C.tokenize(base["caption"]) == ["a", "person", "walks"]
    expected = C.caption_scores([base["caption"]] * 3, refs)
    for key, value in expected.items():
        assert base[key] == pytest.approx(value)
    assert base["bleu1"] < 1.0


# --------------------------------------------------------------------------
# embedding metrics

def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_r_precision_aligned_is_one_random_is_chance():
    rng = np.random.default_rng(0)
    emb = _unit(rng.normal(size=(320, 64)))
    assert M.r_precision(emb, emb) == {"top1": 1.0, "top2": 1.0, "top3": 1.0}
    motion = _unit(rng.normal(size=(32 * 300, 16)))
    text = _unit(rng.normal(size=(32 * 300, 16)))
    res = M.r_precision(motion, text)
    for k in (1, 2, 3):
        assert res[f"top{k}"] == pytest.approx(k / 32, abs=0.01)


def test_r_precision_text_groups_remove_duplicate_captions():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(16), 2)            # every caption appears twice
    text = _unit(rng.normal(size=(16, 8)))[labels]
    motion = text + 0.01 * rng.normal(size=text.shape)
    plain = M.r_precision(motion, text)
    grouped = M.r_precision(motion, text, text_groups=labels)
    assert plain["top1"] < 0.75 and plain["top2"] == 1.0   # a tie with the twin caption
    assert grouped["top1"] == 1.0


def test_fid_self_zero_and_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 8))
    assert M.fid(a, a) == pytest.approx(0.0, abs=1e-8)
    shift = np.array([0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    assert M.fid(a, a + shift) == pytest.approx(1.25, rel=1e-6)
    assert M.fid(a, a + 2 * shift) > M.fid(a, a + shift)
    # closed form for commuting covariances: 1 + 4 + 4 + 1 - 2 (2 + 2) = 2
    assert M.frechet_distance(np.zeros(2), np.diag([1.0, 4.0]), np.zeros(2), np.diag([4.0, 1.0])) == pytest.approx(2.0)
    # small sets (fewer samples than dimensions) still give a finite value
    assert np.isfinite(M.fid(a[:5], a[5:9]))


def test_mm_dist_diversity_multimodality():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(400, 4))
    assert M.matching_score(m, m + np.array([3.0, 4.0, 0.0, 0.0])) == pytest.approx(5.0)
    assert M.diversity(np.ones((50, 4))) == 0.0
    assert M.diversity(3 * m, seed=2) == pytest.approx(3 * M.diversity(m, seed=2))
    gens = np.zeros((2, 3, 4))
    gens[:, :, 0] = [0.0, 1.0, 2.0]                 # pair distances 1, 2, 1
    assert M.multimodality(gens) == pytest.approx(4 / 3)
    assert 0.0 <= M.multimodality(gens, pairs=3) <= 2.0


# --------------------------------------------------------------------------
# motion errors and baselines

def _standing(frames=30):
    pose = sk.rest_joint_positions()
    pose = pose - np.array([0.0, pose[list(sk.FOOT_JOINTS), 1].min(), 0.0])
    return np.repeat(pose[None], frames, axis=0)


def test_ade_fde_l2p_on_known_offset():
    gt = _standing(10)
    pred = gt + np.array([0.03, 0.04, 0.0])
    assert MM.ade(pred, gt) == pytest.approx(0.05)
    assert MM.fde(pred, gt) == pytest.approx(0.05)
    assert MM.l2p(pred, gt) == pytest.approx(0.05 * math.sqrt(22))
    assert MM.l2p(pred, gt, std=np.full((22, 3), 0.5)) == pytest.approx(0.1 * math.sqrt(22))
    last_only = gt.copy()
    last_only[-1] += np.array([0.0, 0.1, 0.0])
    assert MM.fde(last_only, gt) == pytest.approx(0.1)
    assert MM.ade(last_only, gt) == pytest.approx(0.01)


def test_constant_velocity_exact_on_constant_velocity_motion():
    rng = np.random.default_rng(0)
    t = np.arange(20, dtype=float)[:, None, None]
    motion = _standing(1) + t * rng.normal(scale=0.02, size=(1, 22, 3))
    pred = MM.constant_velocity(motion[:12], 8)
    assert np.allclose(pred, motion[12:])
    assert MM.ade(MM.constant_pose(motion[:12], 8), motion[12:]) > 0.01


def _fk(quats, root, offsets=sk.CANONICAL_OFFSETS_M):
    return forward_kinematics(quats, root, offsets, sk.PARENTS)[0]


def test_slerp_inbetween_exact_on_constant_rotation_rate():
    rng = np.random.default_rng(0)
    gap = 10
    t = np.arange(gap + 2, dtype=float)
    q0 = qnormalize(rng.normal(size=(22, 4)))
    axes = _unit(rng.normal(size=(22, 3)))
    rate = rng.uniform(-0.1, 0.1, size=22)               # rad per frame, < pi over the window
    spin = axis_angle_to_quat(np.broadcast_to(axes, (len(t), 22, 3)), rate[None] * t[:, None])
    quats = qmul(q0[None], spin)
    root = np.array([0.0, 0.9, 0.0]) + t[:, None] * np.array([0.05, 0.0, 0.02])
    joints = _fk(quats, root)
    pred = MM.inbetween_slerp(quats[0], quats[-1], root[0], root[-1], gap, sk.CANONICAL_OFFSETS_M)
    assert pred.shape == (gap, 22, 3)
    assert np.allclose(pred, joints[1:-1], atol=1e-9)
    # linear positions are only approximate on a rotating body
    assert MM.ade(MM.inbetween_linear(joints[0], joints[-1], gap), joints[1:-1]) > 1e-3


def test_inbetween_baselines_on_translating_pose():
    rng = np.random.default_rng(3)
    pose = _fk(qnormalize(np.array([1.0, 0, 0, 0]) + 0.2 * rng.normal(size=(22, 4))), np.array([0.0, 0.9, 0.0]))
    before, after = pose, pose + np.array([1.1, 0.0, -0.4])
    truth = pose[None] + (np.arange(1, 11) / 11)[:, None, None] * np.array([1.1, 0.0, -0.4])
    assert np.allclose(MM.inbetween_linear(before, after, 10), truth)
    assert np.allclose(MM.inbetween_slerp_joints(before, after, 10), truth, atol=1e-6)
    assert MM.INBETWEEN_GAPS == {5: 3, 15: 10, 30: 20}


# --------------------------------------------------------------------------
# physical plausibility

def test_foot_skating_standing_vs_sliding():
    still = _standing(40)
    res = MM.foot_skating(still)
    assert res["skate_speed"] == 0.0 and res["contact_fraction"] == 1.0
    slide = still + (np.arange(40) / sk.FPS)[:, None, None] * np.array([0.3, 0.0, 0.0])   # 0.3 m/s
    res = MM.foot_skating(slide)
    assert res["skate_speed"] == pytest.approx(0.3) and res["contact_fraction"] == 1.0
    lifted = still + np.array([0.0, 0.5, 0.0])                                              # no contact
    assert MM.foot_skating(lifted)["contact_fraction"] == 0.0


def test_ground_penetration_and_jerk():
    still = _standing(20)
    assert MM.ground_penetration(still) == {"depth": 0.0, "fraction": 0.0}
    sunk = still - np.array([0.0, 0.02, 0.0])
    pen = MM.ground_penetration(sunk)
    assert pen["depth"] == pytest.approx(0.02) and pen["fraction"] == 1.0
    t = (np.arange(20) / sk.FPS)[:, None, None]
    assert MM.jerk(still + t * np.array([1.0, 0.0, 0.5])) == pytest.approx(0.0, abs=1e-6)
    assert MM.jerk(still + t ** 2 * np.array([1.0, 0.0, 0.0])) == pytest.approx(0.0, abs=1e-6)
    assert MM.jerk(still + t ** 3 * np.array([1.0, 0.0, 0.0])) == pytest.approx(6.0, rel=1e-6)
    flat = MM.plausibility(still)
    assert set(flat) >= {"foot_skate_ms", "penetration_depth_m", "jerk_ms3"}


# --------------------------------------------------------------------------
# report

def test_report_table_and_json(tmp_path):
    results = {"fid": {"generated": 0.5, "real": 0.25}, "t2m": {"top1": {"generated": 0.4, "real": 0.5}},
               "bleu4": {"generated": np.float32(0.1), "baseline": 0.05}, "steps": 7}
    table = format_table(results, title="demo")
    lines = table.splitlines()
    assert lines[0] == "demo" and "ratio" in lines[1] and "baseline" in lines[1]
    assert any(line.startswith("fid") and "2.0000" in line for line in lines)
    assert any("top1" in line and "0.8000" in line for line in lines)
    path = write_json({**results, "arr": np.arange(3), "nan": float("nan")}, tmp_path / "r.json")
    data = json.loads(path.read_text())
    assert data["arr"] == [0, 1, 2] and data["nan"] is None
    assert data["bleu4"]["generated"] == pytest.approx(0.1)


def test_gait_tells_walking_from_standing_on_real_clips(sample_joints):
    walks = {k: MM.gait(v) for k, v in sample_joints.items() if "walk" in k or "run" in k or "dash" in k}
    still = {k: MM.gait(v) for k, v in sample_joints.items()
             if any(w in k for w in ("bow", "_bye_", "call", "raise-up", "wave"))}
    assert len(walks) >= 6 and len(still) >= 5
    for name, g in walks.items():                       # forward, backward, sideways, turning, running
        assert g["travel_m"] > 3.0 and g["steps"] >= 4 and 1.0 < g["step_rate_hz"] < 3.0, (name, g)
    for name, g in still.items():
        assert g["travel_m"] < 0.3 and g["steps"] == 0, (name, g)


def test_gait_does_not_depend_on_heading(sample_joints):
    joints = sample_joints["dataset-1_walk_active_001"]
    q = axis_angle_to_quat(np.array([0.0, 1.0, 0.0]), 2.1)
    turned = qrot(np.broadcast_to(q, joints.shape[:-1] + (4,)), joints) + np.array([3.0, 0.0, -2.0])
    a, b = MM.gait(joints), MM.gait(turned)
    assert a["steps"] == b["steps"] and a["travel_m"] == pytest.approx(b["travel_m"], abs=1e-9)


def test_paired_bootstrap_sees_a_consistent_gain_that_clip_spread_would_hide():
    rng = np.random.default_rng(0)
    hardness = rng.uniform(1.0, 5.0, 60)                   # clips differ far more than the two methods do
    baseline = hardness + rng.normal(0, 0.02, 60)
    better = 0.9 * baseline                               # 10 % lower on every clip
    res = M.paired_bootstrap(better, baseline, seed=1)
    assert res["clips"] == 60
    assert res["diff"] == pytest.approx(better.mean() - baseline.mean())
    assert res["diff_ci"][0] < res["diff"] < res["diff_ci"][1] < 0            # excludes zero
    assert res["relative"] == pytest.approx(-0.1) and res["relative_ci"][1] < 0
    same = baseline + rng.normal(0, 0.3, 60)              # no real difference: the CI spans zero
    res = M.paired_bootstrap(same, baseline, seed=1)
    assert res["diff_ci"][0] < 0 < res["diff_ci"][1]
    assert M.paired_bootstrap(same, baseline, seed=1) == res           # seeded: repeatable
    with pytest.raises(ValueError, match="same number"):
        M.paired_bootstrap([1.0, 2.0], [1.0])
