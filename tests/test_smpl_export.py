"""``motiongpt export-smpl``: AMASS-layout SMPL-family parameters, checked with
``smplx`` forward kinematics on synthetic body models made here in plain numpy
(the real model files are licensed to each user and are not in CI)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main
from engine.errors import MotionGPTError
from engine.motion import skeleton as sk
from engine.motion.quaternion import qbetween, qrot
from engine.motion.rotations import MAIN_CHILD
from engine.pipeline import Motion
from engine.smpl import params as P

WALK = "dataset-1_walk_active_001"
NUM_VERTS = {"smplx": 10475, "smplh": 6890, "smpl": 6890}   # smplx selects extra joints by vertex id
PELVIS_REST = np.array([0.003, -0.35, 0.012])             # where an SMPL template keeps its pelvis


def _extra_parents(kind: str) -> list[int]:
    """Parents of the joints after the 22 body joints, as in each model."""
    wrist_l, wrist_r, head = sk.JOINT_INDEX["left_wrist"], sk.JOINT_INDEX["right_wrist"], sk.JOINT_INDEX["head"]
    if kind == "smpl":
        return [wrist_l, wrist_r]

    def hand(wrist: int, first: int) -> list[int]:        # five fingers of three joints
        return [wrist if k % 3 == 0 else first + k - 1 for k in range(15)]

    if kind == "smplh":
        return hand(wrist_l, 22) + hand(wrist_r, 37)
    return [head, head, head] + hand(wrist_l, 25) + hand(wrist_r, 40)


def synthetic_body_model(folder: Path, kind: str, rest22: np.ndarray, pelvis=PELVIS_REST, seed: int = 0) -> Path:
    """An SMPL-family .npz with the given 22 rest joints (pelvis moved to
    ``pelvis``): every vertex is skinned rigidly to one joint, the first
    vertex of each joint sits on it and J_regressor picks it, so the rest
    joints are exactly ``rest22``; no pose correctives."""
    rng = np.random.default_rng(seed)
    info = P.BODY_MODELS[kind]
    parents = np.array(list(sk.PARENTS) + _extra_parents(kind))
    n, verts = info.num_joints, NUM_VERTS[kind]
    joints = np.zeros((n, 3))
    joints[:22] = np.asarray(rest22) - rest22[0] + pelvis
    for j in range(22, n):
        joints[j] = joints[parents[j]] + [0.02 * np.sign(joints[parents[j], 0] + 1e-9), -0.015, 0.004 * (j % 3)]
    group = np.arange(verts) % n
    offsets = rng.normal(scale=0.03, size=(verts, 3))
    offsets[:n] = 0.0
    arrays = {
        "v_template": joints[group] + offsets,
        "J_regressor": np.eye(n, verts),
        "weights": np.eye(n)[group],
        "kintree_table": np.stack([parents, np.arange(n)]),
        "shapedirs": rng.normal(scale=1e-3, size=(verts, 3, 20)),
        "posedirs": np.zeros((verts, 3, (n - 1) * 9), dtype=np.float32),
        "f": np.arange(verts - verts % 3).reshape(-1, 3),
    }
    if kind != "smpl":
        arrays.update(hands_componentsl=np.eye(45), hands_componentsr=np.eye(45), hands_meanl=np.zeros(45),
                      hands_meanr=np.zeros(45))
    if kind == "smplx":
        arrays.update(lmk_faces_idx=np.zeros(51, dtype=np.int64), lmk_bary_coords=np.full((51, 3), 1.0 / 3.0))
    path = folder / kind / f"{info.file_prefix}_NEUTRAL.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def walk(sample_joints) -> Motion:
    return Motion.from_positions(sample_joints[WALK][:60], 20.0)


@pytest.fixture(scope="module")
def walk_bvh(walk, tmp_path_factory) -> Path:
    return walk.to_bvh(tmp_path_factory.mktemp("smpl") / "walk.bvh")


def _rest(motion: Motion) -> np.ndarray:
    return sk.rest_joint_positions(motion.offsets)


def _zup(points: np.ndarray) -> np.ndarray:
    return qrot(P.Y_UP_TO_Z_UP, points)


def _smplx_joints(model_dir: Path, kind: str, params: dict) -> tuple[np.ndarray, np.ndarray]:
    """Joints and vertices from smplx.create's forward pass (the reference)."""
    smplx = pytest.importorskip("smplx")
    import torch
    poses = torch.tensor(np.asarray(params["poses"]), dtype=torch.float32)
    n = len(poses)
    options = dict(model_type=kind, gender="neutral", ext="npz", batch_size=n, num_betas=P.BODY_MODELS[kind].num_betas)
    if kind != "smpl":
        options.update(use_pca=False, flat_hand_mean=True)
    if kind == "smpl":              # SMPL's own loader only unpickles .pkl: hand it the arrays
        from smplx.utils import Struct
        path = model_dir / "smpl" / "SMPL_NEUTRAL.npz"
        with np.load(path) as data:
            options["data_struct"] = Struct(**{k: data[k] for k in data.files})
    body = smplx.create(str(model_dir), **options)
    args = dict(global_orient=poses[:, :3], transl=torch.tensor(np.asarray(params["trans"]), dtype=torch.float32),
                betas=torch.zeros(n, body.num_betas))
    if kind == "smpl":
        args["body_pose"] = poses[:, 3:72]
    elif kind == "smplh":
        args.update(body_pose=poses[:, 3:66], left_hand_pose=poses[:, 66:111], right_hand_pose=poses[:, 111:156])
    else:
        args.update(body_pose=poses[:, 3:66], jaw_pose=poses[:, 66:69], leye_pose=poses[:, 69:72],
                    reye_pose=poses[:, 72:75], left_hand_pose=poses[:, 75:120], right_hand_pose=poses[:, 120:165],
                    expression=torch.zeros(n, body.num_expression_coeffs))
    with torch.no_grad():
        out = body(**args)
    return out.joints[:, :22].numpy().astype(np.float64), out.vertices.numpy().astype(np.float64)


# -- the file itself (numpy only) ---------------------------------------------------

def test_the_cli_writes_the_amass_layout(walk_bvh, tmp_path, capsys):
    out = tmp_path / "walk_smplx.npz"
    assert main(["export-smpl", str(walk_bvh), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "60 frames at 20 fps as SMPL-X parameters (55 joints, AMASS layout, Z up, neutral)" in printed
    assert "pass --smpl-model DIR" in printed
    with np.load(out, allow_pickle=False) as d:            # plain arrays: readable without unpickling
        assert d["poses"].shape == (60, 165) and d["trans"].shape == (60, 3)
        assert d["betas"].shape == (10,) and not d["betas"].any()
        assert str(d["gender"]) == "neutral" and float(d["mocap_framerate"]) == 20.0
        assert float(d["mocap_frame_rate"]) == 20.0 and str(d["surface_model_type"]) == "smplx"
        assert np.array_equal(d["root_orient"], d["poses"][:, :3]) and d["pose_body"].shape == (60, 63)
        assert not d["poses"][:, 66:].any()                   # jaw, eyes and fingers: zero (a flat hand)
        assert np.all(np.linalg.norm(d["poses"].reshape(60, 55, 3), axis=-1) <= np.pi + 1e-9)
    for kind, width, extra in (("smplh", 156, "dmpls"), ("smpl", 72, None)):
        out = tmp_path / f"walk_{kind}.npz"
        assert main(["export-smpl", str(walk_bvh), str(out), "--model-type", kind, "--gender", "female",
                     "--fps", "30"]) == 0
        with np.load(out) as d:
            assert d["poses"].shape == (89, width) and str(d["gender"]) == "female"
            assert float(d["mocap_framerate"]) == 30.0 and (extra is None or d[extra].shape == (89, 8))


@pytest.mark.parametrize("up", ["z", "y"])
def test_smpl_kinematics_of_the_file_give_the_engines_joints(walk, up):
    """On the engine's own rest skeleton (pelvis wherever the body model keeps
    it), SMPL forward kinematics of poses + trans is the engine's motion."""
    rest = _rest(walk) + PELVIS_REST
    params = P.smpl_parameters(walk.local_quats, walk.root_pos, walk.offsets, walk.fps, rest_joints=rest, up=up)
    expected = walk.positions() if up == "y" else _zup(walk.positions())
    err_mm = 1000 * np.abs(P.world_positions(params, rest) - expected).max()
    assert err_mm < 1e-6
    up_axis = 1 if up == "y" else 2                           # pelvis height = trans + the rest pelvis
    assert np.allclose(params["trans"][:, up_axis] + PELVIS_REST[up_axis], walk.root_pos[:, 1], atol=1e-9)


def test_another_rest_pose_keeps_every_bone_direction(walk):
    """A body whose rest bones point elsewhere (an A-pose, longer limbs): the
    rotations are re-expressed on its rest pose, so every bone points where
    the engine's does."""
    rest = _rest(walk)
    rng = np.random.default_rng(3)
    offsets = (rest - rest[np.maximum(sk.PARENTS, 0)]) * rng.uniform(0.9, 1.2, size=(22, 1))
    tilt = qbetween(np.array([1.0, 0.0, 0.0]), np.array([1.0, -0.6, 0.1]))    # arms down 30 degrees
    for j in ("left_shoulder", "left_elbow", "left_wrist"):
        offsets[sk.JOINT_INDEX[j]] = qrot(tilt, offsets[sk.JOINT_INDEX[j]])
    offsets += rng.normal(scale=0.01, size=offsets.shape)                      # every bone a little off
    other = sk.rest_joint_positions(offsets)
    params = P.smpl_parameters(walk.local_quats, walk.root_pos, walk.offsets, walk.fps, rest_joints=other, up="y")
    got, want = P.world_positions(params, other), walk.positions()
    assert np.allclose(got[:, 0], want[:, 0], atol=1e-9)                      # same pelvis path
    angles = []
    for j in range(22):
        c = MAIN_CHILD[j]
        if c >= 0:
            a, b = got[:, c] - got[:, j], want[:, c] - want[:, j]
            cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
            angles.append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
    print(f"bone direction error on another rest pose: max {np.max(angles):.2e} deg")
    assert np.max(angles) < 1e-4                                              # arccos resolution


def test_bad_input_gets_a_clear_error(walk_bvh, tmp_path, capsys):
    assert main(["export-smpl", str(walk_bvh), str(tmp_path / "x.bvh")]) == 2
    assert "name the output *.npz" in capsys.readouterr().err
    assert main(["export-smpl", str(tmp_path / "missing.bvh"), str(tmp_path / "x.npz")]) == 2
    assert "file not found" in capsys.readouterr().err
    assert main(["export-smpl", str(walk_bvh), str(tmp_path / "x.npz"), "--fps", "0"]) == 2
    assert "--fps: must be between 1 and 240 frames per second" in capsys.readouterr().err
    with pytest.raises(MotionGPTError, match="rest joint 'left_knee' sits on its parent"):
        rest = _rest(Motion.from_bvh(walk_bvh))
        rest[4] = rest[1]
        P.check_rest_joints(rest)


def test_model_files_are_found_and_pickles_refused(tmp_path, capsys):
    from engine.smpl.body_model import find_model_file
    (tmp_path / "smplx").mkdir()
    (tmp_path / "smplx" / "SMPLX_NEUTRAL.pkl").write_bytes(b"not read")
    with pytest.raises(MotionGPTError, match="Python pickles"):
        find_model_file(tmp_path, "smplx")
    with pytest.raises(MotionGPTError, match="no such file or folder"):
        find_model_file(tmp_path / "nowhere", "smplx")
    (tmp_path / "smplx" / "SMPLX_NEUTRAL.npz").write_bytes(b"")
    assert find_model_file(tmp_path, "smplx") == tmp_path / "smplx" / "SMPLX_NEUTRAL.npz"


# -- against smplx -----------------------------------------------------------------

@pytest.mark.parametrize("kind", ["smplx", "smplh", "smpl"])
def test_smplx_forward_kinematics_equal_the_engines_joints(walk, walk_bvh, tmp_path, kind):
    """The acceptance check: the file through smplx.create's forward pass, on
    a body with the engine's rest skeleton, lands on the engine's joints."""
    pytest.importorskip("smplx")
    synthetic_body_model(tmp_path, kind, _rest(walk))
    out = tmp_path / "walk.npz"
    assert main(["export-smpl", str(walk_bvh), str(out), "--model-type", kind, "--smpl-model", str(tmp_path),
                 "--quiet"]) == 0
    with np.load(out) as d:
        params = {k: d[k] for k in d.files}
    joints, _ = _smplx_joints(tmp_path, kind, params)
    err_mm = 1000 * np.linalg.norm(joints - _zup(Motion.from_bvh(walk_bvh).positions()), axis=-1)
    print(f"{kind}: smplx joints vs engine joints: max {err_mm.max():.4f} mm, mean {err_mm.mean():.4f} mm")
    assert err_mm.max() < 1.0


def test_the_posed_mesh_moves_with_the_joints(walk, walk_bvh, tmp_path, capsys):
    """--smpl-model writes the mesh sequence: every vertex of the (rigidly
    skinned) synthetic body follows its joint's world transform; the
    vertices equal smplx.create's own."""
    pytest.importorskip("smplx")
    model = synthetic_body_model(tmp_path / "models", "smplx", _rest(walk))
    out = tmp_path / "walk.npz"
    assert main(["export-smpl", str(walk_bvh), str(out), "--smpl-model", str(tmp_path / "models"),
                 "--up", "y"]) == 0
    printed = capsys.readouterr().out
    assert f"rest pose and pelvis height from {model}" in printed and "walk_mesh.npz" in printed
    with np.load(tmp_path / "walk_mesh.npz") as mesh, np.load(out) as d:
        vertices, faces = mesh["vertices"], mesh["faces"]
        params = {k: d[k] for k in d.files}
    assert vertices.shape == (60, NUM_VERTS["smplx"], 3) and vertices.dtype == np.float32
    assert faces.shape == (NUM_VERTS["smplx"] // 3, 3)
    motion = Motion.from_bvh(walk_bvh)
    world_q, positions = motion.world_quats(), motion.positions()
    with np.load(model) as m:
        v_rest, j_rest = m["v_template"], m["J_regressor"] @ m["v_template"]
    body = np.arange(NUM_VERTS["smplx"]) % 55 < 22                 # vertices skinned to the 22 body joints
    group = (np.arange(NUM_VERTS["smplx"]) % 55)[body]
    expected = qrot(world_q[:, group], v_rest[body] - j_rest[group]) + positions[:, group]
    err_mm = 1000 * np.linalg.norm(vertices[:, body] - expected, axis=-1)
    print(f"posed mesh vs the engine's joint transforms: max {err_mm.max():.4f} mm")
    assert err_mm.max() < 1.0
    _, reference = _smplx_joints(tmp_path / "models", "smplx", params)
    assert np.abs(vertices - reference).max() < 1e-5


def test_without_smplx_the_mesh_asks_for_it(walk_bvh, tmp_path, monkeypatch, capsys):
    import builtins
    real_import = builtins.__import__

    def no_smplx(name, *args, **kwargs):
        if name == "smplx" or name.startswith("smplx."):
            raise ImportError("No module named 'smplx'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_smplx)
    assert main(["export-smpl", str(walk_bvh), str(tmp_path / "w.npz"), "--smpl-model", str(tmp_path)]) == 2
    assert "needs the smplx package: pip install smplx" in capsys.readouterr().err
    assert not (tmp_path / "w.npz").exists()


REAL_MODELS = "MOTIONGPT_SMPL_MODELS"


@pytest.mark.skipif(not os.environ.get(REAL_MODELS),
                    reason=f"no real body model files (set ${REAL_MODELS} to the folder holding smplx/SMPLX_NEUTRAL.npz)")
def test_real_smplx_model_files(walk_bvh, tmp_path):
    """With the user's real SMPL-X files: every bone of the posed body points
    where the engine's does, and the mesh has SMPL-X's 10,475 vertices."""
    pytest.importorskip("smplx")
    folder = Path(os.environ[REAL_MODELS])
    out = tmp_path / "walk.npz"
    assert main(["export-smpl", str(walk_bvh), str(out), "--smpl-model", str(folder), "--quiet"]) == 0
    with np.load(tmp_path / "walk_mesh.npz") as mesh:
        joints, vertices = mesh["joints"][:, :22].astype(np.float64), mesh["vertices"]
    assert vertices.shape[1:] == (10475, 3)
    want = _zup(Motion.from_bvh(walk_bvh).positions())
    for j in range(22):
        c = MAIN_CHILD[j]
        if c >= 0:
            a, b = joints[:, c] - joints[:, j], want[:, c] - want[:, j]
            cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
            assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 0.1, sk.JOINT_NAMES[j]
