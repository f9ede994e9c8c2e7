"""Files that fail cleanly (issue 22): every reader bounds its work by the
file and the documented limits before allocating, and answers with an error
that names the file and the problem -- never a traceback or memory in
proportion to a header."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from engine.errors import MotionFileError, MotionGPTError
from engine.jsonfile import MAX_DEPTH, read_json_file
from engine.motion.bvh import read_bvh

REPO = Path(__file__).resolve().parents[1]
ONE_JOINT = ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Xposition Yposition Zposition\n"
             " End Site\n {\n  OFFSET 0 1 0\n }\n}\nMOTION\n")


def _bvh(tmp_path, text: str) -> Path:
    path = tmp_path / "take.bvh"
    path.write_text(text)
    return path


def test_a_bvh_without_channels_is_refused_before_allocating_its_frames(tmp_path):
    path = _bvh(tmp_path, "HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 0\n}\nMOTION\n"
                          "Frames: 100000000\nFrame Time: 0.0333\n")
    with pytest.raises(MotionFileError, match="no motion"):
        read_bvh(path)


def test_deeply_nested_joints_are_refused(tmp_path):
    depth = 5000
    text = "HIERARCHY\nROOT J0\n{\nOFFSET 0 0 0\nCHANNELS 3 Xrotation Yrotation Zrotation\n"
    text += "".join(f"JOINT J{i}\n{{\nOFFSET 0 1 0\nCHANNELS 3 Xrotation Yrotation Zrotation\n" for i in range(1, depth))
    text += "}\n" * depth + "MOTION\nFrames: 1\nFrame Time: 0.03\n" + " ".join(["0"] * (3 * depth)) + "\n"
    with pytest.raises(MotionFileError, match="nested more than"):
        read_bvh(_bvh(tmp_path, text))


@pytest.mark.parametrize("header, needle", [
    ("Frames: " + "1" * 5000 + "\nFrame Time: 0.03\n0 0 0\n", "non-numeric frame count"),
    ("Frames: 2\nFrame Time: 5e-324\n0 0 0\n0 0 0\n", "frame time must be between"),
    ("Frames: 2\nFrame Time: 1e9\n0 0 0\n0 0 0\n", "frame time must be between"),
    ("Frames: 1\nFrame Time: 0.03\n" + "1" * 5000 + " 0 0\n", "non-finite"),
])
def test_huge_numbers_in_a_bvh_get_a_short_clear_error(tmp_path, header, needle):
    with pytest.raises(MotionFileError) as info:
        read_bvh(_bvh(tmp_path, ONE_JOINT + header))
    assert needle in str(info.value) and len(str(info.value)) < 400          # the 5000 digits are not echoed


@pytest.mark.parametrize("text, needle", [
    ("[" * 100_000 + "]" * 100_000, "nested"),
    ('{"a": ' * 100 + "1" + "}" * 100, "nested more than"),
    ('{"n": ' + "1" * 5000 + "}", "cannot be read"),
    ("{", "not valid JSON"),
    ("\xff\xfe", "not UTF-8"),
])
def test_json_files_fail_with_the_file_named(tmp_path, text, needle):
    path = tmp_path / "thing.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(MotionFileError) as info:
        read_json_file(path)
    assert needle in str(info.value) and "thing.json" in str(info.value)
    assert MAX_DEPTH < 100


def test_a_json_file_larger_than_its_limit_is_not_read(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"pad": "x" * 3000}))
    with pytest.raises(MotionFileError, match="larger than"):
        read_json_file(path, max_bytes=1000)


def test_a_motion_json_nested_deeply_is_a_clean_error(tmp_path):
    from engine.pipeline.motion_io import Motion
    path = tmp_path / "walk.json"
    path.write_text('{"motion": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(MotionFileError, match="nested"):
        Motion.load(path)


def _model_copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(tiny_bundle, folder)
    return folder


def test_a_non_finite_sampling_setting_is_refused_at_load(tiny_bundle, tmp_path):
    from engine.models.motiongpt import MotionGPT
    folder = _model_copy(tiny_bundle, tmp_path)
    config = folder / "lm" / "generation_config.json"
    data = json.loads(config.read_text())
    config.write_text(json.dumps({**data, "temperature": float("nan")}))      # json writes NaN
    manifest = json.loads((folder / "model.json").read_text())
    manifest.pop("sha256", None)
    (folder / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(MotionGPTError, match="out of range"):
        MotionGPT.load(folder, device="cpu")


def test_serve_prints_its_error_line_for_a_poisoned_model_json(tiny_bundle, tmp_path):
    from engine.server.launch import serve_command
    folder = _model_copy(tiny_bundle, tmp_path)
    (folder / "model.json").write_text("[" * 100_000 + "]" * 100_000)
    proc = subprocess.run(serve_command(["--port", "0", "--model", str(folder), "--device", "cpu"]),
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode != 0
    line = json.loads(proc.stdout.splitlines()[0])
    assert line["event"] == "error" and "model.json" in line["error"]["message"]
    assert "Traceback" not in proc.stderr


def _walk_npz(tmp_path) -> Path:
    from engine.pipeline.motion_io import Motion
    from engine.motion import skeleton as sk
    t = np.linspace(0, 1, 21)[:, None]
    quats = np.zeros((21, sk.NUM_JOINTS, 4))
    quats[..., 0] = 1.0
    root = np.concatenate([t * 0.5, np.full_like(t, 0.9), t], axis=1)
    return Motion.from_rotations(quats, root, 20.0).save(tmp_path / "walk.npz")


def test_export_smpl_keeps_its_input_and_refuses_absurd_bones(tmp_path):
    from engine.smpl.export import export_smpl
    path = _walk_npz(tmp_path)
    before = path.read_bytes()
    with pytest.raises(MotionFileError, match="input motion itself"):
        export_smpl(path, path)
    assert path.read_bytes() == before
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["rest_offsets"] = arrays["rest_offsets"] * 1e300
    np.savez(tmp_path / "huge.npz", **arrays)
    with pytest.raises(MotionFileError, match="metres"):
        export_smpl(tmp_path / "huge.npz", tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()


def test_an_npz_that_inflates_past_the_limit_is_not_read(tmp_path, monkeypatch):
    from engine.pipeline import motion_io
    path = _walk_npz(tmp_path)
    monkeypatch.setattr(motion_io, "MAX_NPZ_BYTES", 1000)
    with pytest.raises(MotionFileError, match="inflates to"):
        motion_io.Motion.load(path)


def test_a_huge_vq_config_is_refused_naming_the_file(tiny_bundle, tmp_path):
    from engine.models.motion_tokenizer import MotionTokenizer
    folder = _model_copy(tiny_bundle, tmp_path)
    config = folder / "vq" / "config.json"
    data = json.loads(config.read_text())
    config.write_text(json.dumps({**data, "padding": "x" * (2 * 1024 * 1024)}))
    with pytest.raises(MotionFileError) as info:
        MotionTokenizer.load(folder / "vq", device="cpu")
    assert "config.json" in str(info.value) and "larger than" in str(info.value)
