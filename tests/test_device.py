"""Device and dtype choice (engine/device.py) on every kind of machine, with
only torch's availability queries mocked; and the process policy every
entry point applies before torch loads (engine/runtime.py)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine import device as D
from engine.errors import MotionGPTError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def machine(monkeypatch):
    """Set what torch reports: machine(cuda=..., cuda_built=..., mps=..., mps_built=...)."""
    def set_up(cuda=False, cuda_built=False, mps=False, mps_built=False):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.version, "cuda", "12.4" if cuda_built or cuda else None)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
        monkeypatch.setattr(torch.backends.mps, "is_built", lambda: mps_built or mps)
    return set_up


@pytest.mark.parametrize("setup, choice, device, dtype, note", [
    (dict(), "auto", "cpu", torch.float32, ""),
    (dict(cuda=True), "auto", "cuda", torch.float16, ""),
    (dict(cuda=True, mps=True), "auto", "cuda", torch.float16, ""),
    (dict(mps=True), "auto", "mps", torch.float32, ""),
    (dict(cuda_built=True), "auto", "cpu", torch.float32, "built for CUDA but sees no GPU"),
    (dict(mps_built=True), "auto", "cpu", torch.float32, "macOS 12.3"),
    (dict(cuda=True), "cpu", "cpu", torch.float32, ""),
    (dict(mps=True), "mps", "mps", torch.float32, ""),
    (dict(cuda=True), "cuda", "cuda", torch.float16, ""),
])
def test_device_and_dtype_choice(machine, setup, choice, device, dtype, note):
    machine(**setup)
    got = D.resolve_device(choice)
    assert got.device.type == device and got.dtype == dtype
    assert (note in got.note) if note else got.note == ""
    assert D.pick_device(choice) == got.device and D.pick_dtype(got.device) == dtype


@pytest.mark.parametrize("setup, choice, message", [
    (dict(), "cuda", "this torch is a CPU-only build; use --device auto or cpu"),
    (dict(cuda_built=True), "cuda", "sees no GPU (is the NVIDIA driver installed?)"),
    (dict(), "mps", "this torch was built without MPS"),
    (dict(mps_built=True), "mps", "it needs macOS 12.3 or newer"),
    (dict(), "tpu", "device must be one of auto, cpu, cuda, mps, got 'tpu'"),
])
def test_unavailable_devices_are_refused_saying_why(machine, setup, choice, message):
    machine(**setup)
    with pytest.raises(MotionGPTError) as err:
        D.resolve_device(choice)
    assert message in str(err.value)


def test_model_load_reports_device_and_dtype(machine, tiny_bundle):
    """A real load on the CPU carries the choice; the server's health and
    ready line show it."""
    from engine.models.motiongpt import MotionGPT
    machine(cuda_built=True)
    model = MotionGPT.load(tiny_bundle, "auto")
    assert model.device.type == "cpu" and model.dtype == "float32"
    assert "sees no GPU" in model.device_choice.note
    assert D.device_note(model) == model.device_choice.note


def test_device_note_is_empty_for_a_model_without_a_device_choice():
    class Stub:
        device_choice = None

    assert D.device_note(object()) == D.device_note(Stub()) == ""


def test_process_policy_sets_only_what_the_user_left_unset():
    from engine.runtime import PROCESS_ENV, apply_process_policy
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    changed = apply_process_policy(env)
    assert env["OMP_WAIT_POLICY"] == "ACTIVE" and "OMP_WAIT_POLICY" not in changed
    assert env["PYTORCH_ENABLE_MPS_FALLBACK"] == PROCESS_ENV["PYTORCH_ENABLE_MPS_FALLBACK"]
    assert PROCESS_ENV["OMP_WAIT_POLICY"] == "PASSIVE"


def _run_python(code: str, extra_env: dict | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "PYTORCH_ENABLE_MPS_FALLBACK")}
    env.update(extra_env or {})
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_light_commands_import_neither_torch_nor_transformers(tmp_path):
    """--help and the bvh commands run without loading torch or
    transformers; the process policy is set before any command runs."""
    import numpy as np
    from engine.motion import skeleton
    joints = tmp_path / "joints.npy"
    np.save(joints, skeleton.rest_joint_positions()[None] + np.linspace(0, 1, 5)[:, None, None])
    code = f"""
import contextlib, io, os, sys
from engine.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    for argv in (["--help"], ["bvh", "--help"]):
        try:
            main(argv)
        except SystemExit:
            pass
    codes = [main(["bvh", "from-joints", {str(joints)!r}, {str(tmp_path / 'a.bvh')!r}]),
             main(["bvh", "info", {str(tmp_path / 'a.bvh')!r}])]
print(codes, "torch" in sys.modules, "transformers" in sys.modules, os.environ.get("OMP_WAIT_POLICY"))
"""
    assert _run_python(code).split() == ["[0,", "0]", "False", "False", "PASSIVE"]


def test_inference_never_imports_transformers(tiny_bundle):
    code = f"""
import sys
from engine.models.motiongpt import MotionGPT
m = MotionGPT.load({str(tiny_bundle)!r}, "cpu")
feats = m.text_to_motion("a person walks", seconds=1, seed=0, variants=2)
print(len(feats), m.caption(feats[0]) is not None, "transformers" in sys.modules)
"""
    assert _run_python(code).split() == ["2", "True", "False"]
