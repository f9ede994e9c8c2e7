"""The motion-core commands as a user runs them."""
import subprocess
import sys

import numpy as np
import pytest

from engine.cli import main
from engine.motion import bvh
from engine.motion import features as F
from engine.motion.kinematics import forward_kinematics
from engine.motion import skeleton as sk


@pytest.fixture
def walk_joints(sample_joints, tmp_path):
    path = tmp_path / "walk.npy"
    np.save(path, sample_joints["dataset-1_walk_active_001"].astype(np.float32))
    return path


def test_features_then_joints(walk_joints, tmp_path, sample_joints, capsys):
    assert main(["features", str(walk_joints), str(tmp_path / "f.npy")]) == 0
    assert main(["joints", str(tmp_path / "f.npy"), str(tmp_path / "j.npy")]) == 0
    feats, joints = np.load(tmp_path / "f.npy"), np.load(tmp_path / "j.npy")
    assert feats.shape[1] == 263 and joints.shape == (len(feats), 22, 3)
    expected = F.canonicalize(sample_joints["dataset-1_walk_active_001"])[:-1]
    assert np.abs(joints - expected).max() < 1e-4
    assert "263 features" in capsys.readouterr().out


def test_features_resamples_30_fps_input(walk_joints, tmp_path):
    joints = np.load(walk_joints)
    t20 = np.arange(len(joints)) / 20.0
    t30 = np.arange(int(t20[-1] * 30) + 1) / 30.0
    at30 = np.stack([np.interp(t30, t20, joints[:, j, k]) for j in range(22) for k in range(3)], -1).reshape(-1, 22, 3)
    np.save(tmp_path / "walk30.npy", at30)
    assert main(["features", str(tmp_path / "walk30.npy"), str(tmp_path / "f30.npy"), "--fps", "30"]) == 0
    assert abs(len(np.load(tmp_path / "f30.npy")) - (len(joints) - 1)) <= 1


def test_bvh_from_joints_and_back(walk_joints, tmp_path, capsys):
    out = tmp_path / "walk.bvh"
    assert main(["bvh", "from-joints", str(walk_joints), str(out)]) == 0
    assert "mm mean" in capsys.readouterr().out
    assert main(["bvh", "to-joints", str(out), str(tmp_path / "back.npy")]) == 0
    back = np.load(tmp_path / "back.npy")
    motion = bvh.read_bvh(out)
    order = [motion.names.index(n) for n in sk.JOINT_NAMES]
    np.testing.assert_allclose(back[:, order], np.load(walk_joints), atol=1e-4)


def test_bvh_from_features_to_features(walk_joints, tmp_path):
    main(["features", str(walk_joints), str(tmp_path / "f.npy")])
    assert main(["bvh", "from-features", str(tmp_path / "f.npy"), str(tmp_path / "w.bvh")]) == 0
    assert main(["bvh", "to-features", str(tmp_path / "w.bvh"), str(tmp_path / "f2.npy")]) == 0
    f1, f2 = np.load(tmp_path / "f.npy"), np.load(tmp_path / "f2.npy")
    assert f2.shape == (len(f1) - 1, 263)
    # positions agree; features of recovered joints re-canonicalise to the same motion
    j1 = F.features_to_joints(f1)[:-1]
    j2 = F.features_to_joints(f2)
    assert np.abs(j1 - j2).max() < 2e-3


def test_bvh_info_lists_joints(walk_joints, tmp_path, capsys):
    main(["bvh", "from-joints", str(walk_joints), str(tmp_path / "w.bvh")])
    capsys.readouterr()
    assert main(["bvh", "info", str(tmp_path / "w.bvh")]) == 0
    out = capsys.readouterr().out
    assert "22 joints" in out and "left_wrist" in out and "20 fps" in out


@pytest.mark.parametrize("argv_tail, message", [
    (["features", "{missing}", "{out}"], "file not found"),
    (["features", "{bad_shape}", "{out}"], "wrong array shape (10, 21, 3)"),
    (["joints", "{bad_shape}", "{out}"], "expected HumanML3D features"),
    (["bvh", "to-joints", "{truncated}", "{out}"], "truncated"),
])
def test_bad_input_exits_2_with_the_file_named(tmp_path, walk_joints, capsys, argv_tail, message):
    np.save(tmp_path / "bad.npy", np.zeros((10, 21, 3)))
    main(["bvh", "from-joints", str(walk_joints), str(tmp_path / "w.bvh")])
    text = (tmp_path / "w.bvh").read_text()
    (tmp_path / "cut.bvh").write_text(text[: len(text) // 2])
    names = {"missing": tmp_path / "nope.npy", "out": tmp_path / "o.npy", "bad_shape": tmp_path / "bad.npy",
             "truncated": tmp_path / "cut.bvh"}
    capsys.readouterr()
    argv = [a.format(**{k: str(v) for k, v in names.items()}) for a in argv_tail]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert str(names[argv_tail[-2].strip("{}")]) in err


def test_console_entry_point_runs(tmp_path):
    result = subprocess.run([sys.executable, "-m", "engine", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "build-data" in result.stdout and "bvh" in result.stdout


def test_build_data_command(sample_dir, tmp_path, capsys):
    assert main(["build-data", "--source", str(sample_dir), "--out", str(tmp_path / "d"), "--quiet",
                 "--workers", "1", "--no-mirror"]) == 0
    assert "train: 20 clips" in capsys.readouterr().out
    assert main(["build-data", "--source", str(tmp_path / "d"), "--quiet"]) == 0
    assert "is valid" in capsys.readouterr().out
