import numpy as np
import pytest

from engine.motion import quaternion as Q

ORDERS = ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"]


@pytest.fixture
def quats():
    return Q.qnormalize(np.random.default_rng(0).normal(size=(500, 4)))


def same_rotation(a, b, tol=1e-9):
    return np.abs(np.abs((Q.qnormalize(a) * Q.qnormalize(b)).sum(-1)) - 1).max() < tol


def test_matrix_round_trip(quats):
    assert same_rotation(Q.matrix_to_quat(Q.quat_to_matrix(quats)), quats)


def test_qrot_matches_matrix(quats):
    v = np.random.default_rng(1).normal(size=(500, 3))
    np.testing.assert_allclose(Q.qrot(quats, v), (Q.quat_to_matrix(quats) @ v[..., None])[..., 0], atol=1e-12)


def test_qmul_composes_left_after_right(quats):
    a, b = quats[:250], quats[250:]
    np.testing.assert_allclose(Q.quat_to_matrix(Q.qmul(a, b)), Q.quat_to_matrix(a) @ Q.quat_to_matrix(b), atol=1e-12)


@pytest.mark.parametrize("order", ORDERS)
def test_euler_round_trip(quats, order):
    assert same_rotation(Q.euler_to_quat(Q.quat_to_euler(quats, order), order), quats)


@pytest.mark.parametrize("order", ORDERS)
def test_euler_gimbal_lock(order):
    angles = np.array([[30.0, 90.0, 40.0], [10.0, -90.0, 20.0]])
    q = Q.euler_to_quat(angles, order)
    assert same_rotation(Q.euler_to_quat(Q.quat_to_euler(q, order), order), q)


def test_euler_order_is_bvh_channel_order():
    # "ZXY" means R = Rz @ Rx @ Ry
    z, x, y = 30.0, 45.0, 60.0
    rz = Q.quat_to_matrix(Q.euler_to_quat([z, 0, 0], "ZXY"))
    rx = Q.quat_to_matrix(Q.euler_to_quat([0, x, 0], "ZXY"))
    ry = Q.quat_to_matrix(Q.euler_to_quat([0, 0, y], "ZXY"))
    np.testing.assert_allclose(Q.quat_to_matrix(Q.euler_to_quat([z, x, y], "ZXY")), rz @ rx @ ry, atol=1e-12)


def test_bad_order_is_rejected():
    with pytest.raises(ValueError, match="permutation of XYZ"):
        Q.euler_to_quat([0, 0, 0], "XXY")


def test_cont6d_round_trip(quats):
    np.testing.assert_allclose(Q.cont6d_to_matrix(Q.quat_to_cont6d(quats)), Q.quat_to_matrix(quats), atol=1e-12)


def test_qbetween_maps_directions_including_opposite():
    rng = np.random.default_rng(2)
    v0 = rng.normal(size=(100, 3))
    v1 = rng.normal(size=(100, 3))
    v1[0] = -v0[0]
    q = Q.qbetween(v0, v1)
    got = Q.qrot(q, v0 / np.linalg.norm(v0, axis=-1, keepdims=True))
    np.testing.assert_allclose(got, v1 / np.linalg.norm(v1, axis=-1, keepdims=True), atol=1e-9)


def test_qfix_makes_sequence_continuous(quats):
    signs = np.where(np.random.default_rng(3).random(500) < 0.5, -1.0, 1.0)
    smooth = Q.slerp(quats[:1], quats[1:2], np.linspace(0, 1, 50))
    flipped = smooth * signs[:50, None]
    fixed = Q.qfix(flipped)
    assert ((fixed[1:] * fixed[:-1]).sum(-1) > 0).all()


def test_slerp_endpoints_and_midpoint():
    a = Q.euler_to_quat([0, 0, 0], "XYZ")
    b = Q.euler_to_quat([0, 90, 0], "XYZ")
    assert same_rotation(Q.slerp(a, b, 0.0), a)
    assert same_rotation(Q.slerp(a, b, 1.0), b)
    assert same_rotation(Q.slerp(a, b, 0.5), Q.euler_to_quat([0, 45, 0], "XYZ"))
