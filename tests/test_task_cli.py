"""``motiongpt generate | inbetween | continue | caption`` with the real tiny model."""
from __future__ import annotations

import json

import numpy as np
import pytest

from engine.cli import main
from engine.pipeline import Motion

WALK = "dataset-1_walk_active_001"


@pytest.fixture(scope="module")
def walk_bvh(sample_joints, tmp_path_factory):
    """The walk clip as a 30 fps BVH, as Blender would hand it over."""
    path = tmp_path_factory.mktemp("task_cli") / "walk30.bvh"
    Motion.from_positions(sample_joints[WALK], 20.0).resample(30.0).to_bvh(path)
    return path


def test_generate_writes_numbered_variants(tiny_bundle, tmp_path, capsys):
    out = tmp_path / "walk.bvh"
    assert main(["generate", "a person walks forward", "--seconds", "2", "--fps", "24", "--seed", "3",
                 "--variants", "2", "--out", str(out), "--model", str(tiny_bundle), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "walk_1.bvh" in printed and "walk_2.bvh" in printed and "seeds 3, 4" in printed
    assert printed.startswith("understood as: walk")                     # how the prompt was read, first
    assert not out.exists()
    for i in (1, 2):
        m = Motion.from_bvh(tmp_path / f"walk_{i}.bvh")
        assert m.num_frames == 48 and m.fps == pytest.approx(24.0)


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_generate_writes_npz_and_json(tiny_bundle, tmp_path, suffix, capsys):
    out = tmp_path / f"wave{suffix}"
    assert main(["generate", "a person waves", "--seconds", "1", "--fps", "30", "--foot-cleanup", "--in-place",
                 "--out", str(out), "--model", str(tiny_bundle), "--quiet"]) == 0
    assert "seed" in capsys.readouterr().out
    if suffix == ".json":
        d = json.loads(out.read_text())
        assert d["num_frames"] == 30 and len(d["joint_positions"][0]) == 22
    else:
        with np.load(out) as d:
            assert d["local_quats"].shape == (30, 22, 4) and d["joint_positions"].shape == (30, 22, 3)
            assert float(d["fps"]) == 30.0
    assert Motion.load(out).num_frames == 30


def test_inbetween_continue_and_caption_on_a_bvh(tiny_bundle, walk_bvh, tmp_path, capsys):
    model = ["--model", str(tiny_bundle), "--quiet"]
    src = Motion.from_bvh(walk_bvh)
    out = tmp_path / "filled.bvh"
    assert main(["inbetween", str(walk_bvh), "--from", "30", "--to", "90", "--text", "a person jumps",
                 "--out", str(out), "--seed", "1", *model]) == 0
    filled = Motion.from_bvh(out)
    assert filled.num_frames == src.num_frames
    p, p_src = filled.positions(), src.positions()
    assert np.abs(p[:31] - p_src[:31]).max() < 1e-4 and np.abs(p[90:] - p_src[90:]).max() < 1e-4
    assert np.abs(p[31:90] - p_src[31:90]).max() > 1e-3

    out = tmp_path / "more.bvh"
    assert main(["continue", str(walk_bvh), "--seconds", "1", "--out", str(out), *model]) == 0
    more = Motion.from_bvh(out)
    assert more.num_frames == src.num_frames + 30
    assert np.abs(more.positions()[:src.num_frames] - p_src).max() < 1e-4
    capsys.readouterr()

    assert main(["caption", str(walk_bvh), *model]) == 0
    assert capsys.readouterr().out.strip()


def _foreign_bvh(path):
    path.write_text("HIERARCHY\nROOT Hips\n{\n\tOFFSET 0 0 0\n\tCHANNELS 6 Xposition Yposition Zposition "
                    "Zrotation Xrotation Yrotation\n\tEnd Site\n\t{\n\t\tOFFSET 0 5 0\n\t}\n}\n"
                    "MOTION\nFrames: 2\nFrame Time: 0.033333\n0 0 0 0 0 0\n0 0 0 0 0 0\n")
    return path


@pytest.mark.parametrize("argv, message", [
    (["inbetween", "{walk}", "--from", "10", "--to", "500", "--out", "{tmp}/o.bvh"], "--to: frame 500 is outside"),
    (["inbetween", "{walk}", "--from", "50", "--to", "20", "--out", "{tmp}/o.bvh"], "--to: must be after"),
    (["continue", "{walk}", "--seconds", "0", "--out", "{tmp}/o.bvh"], "--seconds: must be a positive"),
    (["continue", "{walk}", "--seconds", "1", "--out", "{tmp}/o.fbx"], "o.fbx: unknown file type"),
    (["generate", "walk", "--variants", "9", "--out", "{tmp}/o.bvh"], "--variants: must be 1..8"),
    (["generate", " ", "--out", "{tmp}/o.bvh"], "TEXT: is empty"),
    (["generate", "🏃", "--out", "{tmp}/o.bvh"], "TEXT: has no words to read"),
    (["generate", "the person", "--out", "{tmp}/o.bvh"], "TEXT: \"the person\" names no motion"),
    (["generate", "qwerty uiop", "--out", "{tmp}/o.bvh"], "TEXT: \"qwerty uiop\" does not read as a motion"),
    (["inbetween", "{walk}", "--from", "10", "--to", "50", "--text", "?", "--out", "{tmp}/o.bvh"],
     "--text: has no words to read"),
    (["caption", "{tmp}/missing.bvh"], "missing.bvh: file not found"),
    (["caption", "{foreign}"], "robot.bvh: no bone for"),
])
def test_bad_input_exits_2_naming_the_file_or_flag(tiny_bundle, walk_bvh, tmp_path, capsys, argv, message):
    foreign = _foreign_bvh(tmp_path / "robot.bvh")
    argv = [a.format(walk=walk_bvh, tmp=tmp_path, foreign=foreign) for a in argv]
    assert main([*argv, "--model", str(tiny_bundle), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err


def test_missing_default_model_gives_a_clear_error(monkeypatch, tmp_path, capsys):
    from engine.pipeline import jobs
    from engine.models import bundle
    monkeypatch.delenv("MOTIONGPT_MODEL", raising=False)
    monkeypatch.setattr(bundle, "DEFAULT_MODEL_DIR", tmp_path / "models" / "default")
    assert main(["generate", "a person walks", "--out", str(tmp_path / "o.bvh"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no model installed" in err and "--model DIR" in err and "train-lm" in err
