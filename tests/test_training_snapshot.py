"""Training snapshots (engine.train.snapshot): what a session commits so the
next one resumes, small enough that the repository travels to a lent GPU."""
from __future__ import annotations

import json

import pytest
import torch

from engine import checkpoint as ckpt
from engine.errors import MotionGPTError
from engine.models.bundle import export_bundle
from engine.train.snapshot import BASE_FILE, restore, snapshot


def _weights(path):
    return ckpt.load_weights(path)


def test_a_snapshot_points_at_the_shipped_weights_and_restores_them(tiny_bundle, tmp_path):
    """Exported as the shipped model, the run's weights are not copied into
    the snapshot; restoring takes them from the shipped folder, equal in
    float16, and the token cache and trainer state travel."""
    shipped = tmp_path / "default"
    export_bundle(tiny_bundle, shipped)
    snap = tmp_path / "training" / "run"
    files = snapshot(tiny_bundle, snap, shipped)
    names = {f.relative_to(snap).as_posix() for f in files}
    assert "lm/model.safetensors" not in names and "vq/model.safetensors" not in names
    assert {"lm/trainer_state.json", "cache/tokens_train.npz", BASE_FILE} <= names
    assert not any("optimizer" in n for n in names)
    run = restore(snap, tmp_path / "runs" / "run")
    for part in ("lm", "vq"):
        a, b = _weights(tiny_bundle / part / "model.safetensors"), _weights(run / part / "model.safetensors")
        assert set(a) == set(b)
        assert all(torch.equal(a[k].half(), b[k].half()) for k in a)
    state = json.loads((run / "lm" / "trainer_state.json").read_text())
    assert state["step"] == json.loads((tiny_bundle / "lm" / "trainer_state.json").read_text())["step"]


def test_weights_that_differ_from_the_shipped_model_are_kept(tiny_bundle, tmp_path):
    other = tmp_path / "other"
    export_bundle(tiny_bundle, other)
    state = _weights(other / "lm" / "model.safetensors")
    key = next(iter(state))
    state[key] = state[key] + 1
    ckpt.save_weights(other / "lm" / "model.safetensors", state)
    snap = tmp_path / "snap"
    names = {f.relative_to(snap).as_posix() for f in snapshot(tiny_bundle, snap, other)}
    assert "lm/model.safetensors" in names and "vq/model.safetensors" not in names
    assert _weights(snap / "lm" / "model.safetensors")[key].dtype == torch.float16


def test_restore_refuses_when_the_shipped_model_changed(tiny_bundle, tmp_path):
    shipped = tmp_path / "default"
    export_bundle(tiny_bundle, shipped)
    snap = tmp_path / "snap"
    snapshot(tiny_bundle, snap, shipped)
    (shipped / "vq" / "model.safetensors").write_bytes(b"changed")
    with pytest.raises(MotionGPTError, match="has changed"):
        restore(snap, tmp_path / "run")
    assert not (tmp_path / "run").exists()
