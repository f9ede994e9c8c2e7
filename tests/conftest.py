"""Shared fixtures: where the shared data lives and small real clips from it."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MOTIONGPT_DATA", REPO.parent / "shared" / "data"))
SAMPLE = DATA / "sample"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"shared data not found at {path}; set MOTIONGPT_DATA to the shared data folder")
    return path


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return _require(SAMPLE)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return _require(DATA)


@pytest.fixture(scope="session")
def sample_joints(sample_dir: Path) -> dict[str, np.ndarray]:
    """Every sample clip as (T, 22, 3) SMPL-order positions, keyed by id."""
    from engine.data import bandai
    motions = bandai.load_bandai_npz(sample_dir / "motions_sample.npz")
    joints = bandai.to_t2m_joints(bandai.bandai_joint_positions(motions), motions.joint_names)
    return {cid: joints[motions.clip_slice(i)] for i, cid in enumerate(motions.clip_ids)}


@pytest.fixture(scope="session")
def built_sample(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    from engine.data.build import build_from_bandai
    out = tmp_path_factory.mktemp("built_sample")
    build_from_bandai(sample_dir, out, progress=False)
    return out
