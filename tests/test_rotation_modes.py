"""Pure-numpy pieces of the add-on's key writing: rotation modes, key holds,
the constraint model and key reduction (no Blender needed)."""
from __future__ import annotations

import numpy as np
import pytest

from motiongpt_blender import constraint_model as cm
from motiongpt_blender import key_reduction as kr
from motiongpt_blender import retarget_math as rm
from motiongpt_blender import rotation_modes as modes


def _random_quats(rng, n):
    return rm.quat_normalize(rng.normal(size=(n, 4)))


@pytest.mark.parametrize("order", rm.EULER_ORDERS)
def test_euler_round_trip_and_the_other_triple(order):
    rng = np.random.default_rng(0)
    m = rm.quat_to_matrix(_random_quats(rng, 500))
    e = modes.matrix_to_euler(m, order)
    np.testing.assert_allclose(rm.euler_to_matrix(e, order), m, atol=1e-12)
    np.testing.assert_allclose(rm.euler_to_matrix(modes.euler_alternative(e, order), order), m, atol=1e-12)
    i = "XYZ".index(order[1])
    assert np.all(np.abs(e[:, i]) <= np.pi / 2 + 1e-12)            # the canonical branch


@pytest.mark.parametrize("order", rm.EULER_ORDERS)
def test_euler_stays_continuous_through_gimbal_and_whole_turns(order):
    # a smooth path whose middle angle crosses +-90 degrees (the canonical branch flips there)
    # and whose other angles pass +-180 (the canonical values wrap)
    t = np.linspace(0.0, 1.0, 400)[:, None]
    path = np.zeros((400, 3))
    first, middle, last = ("XYZ".index(c) for c in order)
    path[:, first], path[:, middle], path[:, last] = (0.5 + 6 * t[:, 0], -2.5 + 5 * t[:, 0], 1 - 7 * t[:, 0])
    m = rm.euler_to_matrix(path, order)
    e = modes.euler_continuous(m, order)
    np.testing.assert_allclose(rm.euler_to_matrix(e, order), m, atol=1e-10)
    assert np.abs(np.diff(e, axis=0)).max() < 1.5 * np.abs(np.diff(path, axis=0)).max()
    # pinned to the key before: the first frame takes the triple nearest it
    ref = path[0] + np.array([2 * np.pi, -2 * np.pi, 0.0])
    np.testing.assert_allclose(modes.euler_continuous(m, order, reference=ref)[0], ref, atol=1e-9)


def test_axis_angle_is_continuous_and_exact():
    rng = np.random.default_rng(1)
    # a rotation about a slowly turning axis whose angle passes 0 and 2 pi
    t = np.linspace(0, 1, 300)
    axis = rm.normalize(np.stack([np.cos(t), np.sin(t), 0.3 + 0 * t], -1))
    angle = -1.0 + 8.0 * t
    q = np.concatenate([np.cos(angle / 2)[:, None], axis * np.sin(angle / 2)[:, None]], -1)
    q *= rng.choice([-1.0, 1.0], size=(300, 1))                        # random signs, as solvers give
    aa = modes.quat_to_axis_angle(q)
    np.testing.assert_allclose(rm.axis_angle_to_matrix(aa), rm.quat_to_matrix(q), atol=1e-9)
    assert np.abs(np.diff(aa, axis=0)).max() < 0.1


@pytest.mark.parametrize("mode", ["QUATERNION", "AXIS_ANGLE", "XYZ", "ZXY", "YXZ"])
def test_rotation_channels_round_trip_in_every_mode(mode):
    rng = np.random.default_rng(2)
    q = _random_quats(rng, 50)
    values = modes.rotation_channels(q, mode)
    assert values.shape == (50, modes.rotation_property(mode)[1])
    back = modes.channels_to_quats(values, mode)
    np.testing.assert_allclose(np.abs((back * q).sum(-1)), 1.0, atol=1e-9)


def test_holds_meet_the_keys_with_no_added_speed():
    rng = np.random.default_rng(3)
    q = rm.quat_continuity(rm.quat_normalize(np.cumsum(rng.normal(scale=0.02, size=(40, 4)), 0) + [1, 0, 0, 0]))
    start, end = _random_quats(rng, 2)
    w0, w1 = rm.hold_weights(40, True, True)
    out = rm.blend_to_held(q, w0, w1, start, end)
    assert abs(abs((out[0] * start).sum()) - 1) < 1e-12 and abs(abs((out[-1] * end).sum()) - 1) < 1e-12
    # smoothstep weights: the first and last step are the motion's own (to first order)
    assert w0[0] == 1.0 and w1[-1] == 1.0 and abs(w0[1] - 1.0) < 0.01 and abs(w1[-2] - 1.0) < 0.01
    w0, w1 = rm.hold_weights(40, True, False, fade=10)
    assert w0[10:].max() == 0.0 and w1.max() == 0.0
    p = rng.normal(size=(40, 3))
    moved = rm.blend_points_to_held(p, *rm.hold_weights(40, True, True), np.zeros(3), np.ones(3))
    np.testing.assert_allclose(moved[0], 0.0, atol=1e-12)
    np.testing.assert_allclose(moved[-1], 1.0, atol=1e-12)


def test_constraint_model_finds_rigid_and_blended_parents():
    """Probes of a made-up rig: bone 1 follows bone 0 rigidly, bone 2 follows
    a 0.3 blend of bones 0 and 1, bone 3 ignores everything."""
    rng = np.random.default_rng(4)
    n_probe = 4
    c1, c2a, c2b, c3 = rm.quat_to_matrix(_random_quats(rng, 4))
    basis = np.stack([np.stack([np.eye(3)] * 4)] + [rm.quat_to_matrix(_random_quats(rng, 4)) for _ in range(n_probe - 1)])
    pose = np.empty_like(basis)
    for p in range(n_probe):
        pose[p, 0] = c3 @ basis[p, 0]
        pose[p, 1] = pose[p, 0] @ c1 @ basis[p, 1]
        # offsets chosen so that the two parents agree at rest (probe 0), as Rigify's do
        f2 = cm.slerp_matrices(pose[p, 0] @ c2a, pose[p, 1] @ (pose[0, 1].T @ pose[0, 0] @ c2a), 0.3)
        pose[p, 2] = f2 @ basis[p, 2]
        pose[p, 3] = c2b @ basis[p, 3]
    model = cm.fit(["a", "b", "c", "d"], pose, basis)
    assert model is not None
    assert model.links["a"].kind == cm.STATIC and model.links["d"].kind == cm.STATIC
    assert model.links["b"].kind == cm.RIGID and model.links["b"].parents == (0,)
    assert model.links["c"].kind == cm.BLEND and set(model.links["c"].parents) == {0, 1}
    w = model.links["c"].weight if model.links["c"].parents == (0, 1) else 1.0 - model.links["c"].weight
    assert abs(w - 0.3) < 1e-3
    # solving for new target rotations reproduces them
    target = {k: rm.quat_to_matrix(_random_quats(rng, 5)) for k in "abcd"}
    bases, _ = model.solve(target)
    frames = model.parent_frames(target)
    for k in "abcd":
        np.testing.assert_allclose(frames[k] @ bases[k], target[k], atol=1e-9)
    # a bone nothing explains makes the model fail (the caller then evaluates the rig)
    pose[1:, 3] = rm.quat_to_matrix(_random_quats(rng, n_probe - 1))
    assert cm.fit(["a", "b", "c", "d"], pose, basis) is None


def test_key_reduction_stays_within_the_tolerance_and_drops_keys():
    t = np.arange(200.0)
    v = np.stack([np.sin(t / 15), 0.3 * np.cos(t / 40), 0.1 * t / 200], -1)
    idx = kr.reduce_keys(t, v, 1e-3)
    left, right = kr.smooth_handles(t[idx], v[idx])
    fit = kr.evaluate_bezier(t[idx], v[idx], left, right, t)
    assert np.abs(fit - v).max() <= 1e-3
    assert len(idx) < 0.3 * len(t) and idx[0] == 0 and idx[-1] == 199
    # handles are collinear (ALIGNED in Blender), a third of the interval long
    slope_l = (v[idx] - left[..., 1]) / (t[idx][:, None] - left[..., 0])
    slope_r = (right[..., 1] - v[idx]) / (right[..., 0] - t[idx][:, None])
    np.testing.assert_allclose(slope_l, slope_r, atol=1e-12)
    np.testing.assert_allclose(right[:-1, 0, 0] - t[idx][:-1], np.diff(t[idx]) / 3)


def test_key_reduction_with_an_angle_error():
    rng = np.random.default_rng(5)
    q = rm.quat_continuity(rm.quat_normalize(np.cumsum(rng.normal(scale=0.003, size=(120, 4)), 0) + [1, 0, 0, 0]))
    tol = np.radians(1.0)

    def angle(fit, ref):
        a, b = rm.quat_normalize(fit), rm.quat_normalize(ref)
        return 2 * np.arccos(np.clip(np.abs((a * b).sum(-1)), 0, 1)) / tol
    t = np.arange(120.0)
    idx = kr.reduce_keys(t, q, error=angle)
    fit = kr.evaluate_bezier(t[idx], q[idx], *kr.smooth_handles(t[idx], q[idx]), t)
    assert angle(fit, q).max() <= 1.0 and len(idx) < len(t)


@pytest.mark.parametrize("handles", ["thirds", "uneven"])
def test_evaluate_bezier_lies_on_the_curve(handles):
    # points of each segment's parametric curve (x(u), y(u)) are found again at time x(u):
    # directly when the handles are a third of the segment long in time, by solving x(u) = t otherwise
    # (handle lengths below half the segment: no correct_bezpart scaling)
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.uniform(1.0, 9.0, size=8))
    y = rng.normal(size=(8, 2))
    left, right = kr.smooth_handles(x, y)
    if handles == "uneven":
        dx = np.diff(x)
        right[:-1, :, 0] = x[:-1, None] + rng.uniform(0.05, 0.45, size=(7, 2)) * dx[:, None]
        left[1:, :, 0] = x[1:, None] - rng.uniform(0.05, 0.45, size=(7, 2)) * dx[:, None]
    u = np.linspace(0.0, 1.0, 11)[1:-1, None]
    for s in range(len(x) - 1):
        for c in range(2):
            px = np.array([x[s], right[s, c, 0], left[s + 1, c, 0], x[s + 1]])
            py = np.array([y[s, c], right[s, c, 1], left[s + 1, c, 1], y[s + 1, c]])
            w = np.concatenate([(1 - u) ** 3, 3 * (1 - u) ** 2 * u, 3 * (1 - u) * u ** 2, u ** 3], -1)
            fit = kr.evaluate_bezier(x, y, left, right, w @ px)[:, c]
            np.testing.assert_allclose(fit, w @ py, atol=1e-9)
