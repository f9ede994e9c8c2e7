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
def extra_dir(data_dir: Path) -> Path:
    """The five extra/ BVH libraries, as they come."""
    return _require(data_dir / "extra")


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


@pytest.fixture(scope="session")
def tiny_vq_dir(tmp_path_factory: pytest.TempPathFactory, built_sample: Path) -> Path:
    """An untrained tiny motion tokenizer with a spread-out codebook: enough
    to give the language model real token sequences to learn."""
    import torch
    from engine.data import humanml3d
    from engine.models.motion_tokenizer import MotionTokenizer
    from engine.models.vqvae import MotionVQVAE, VQConfig
    torch.manual_seed(0)
    vq = MotionVQVAE(VQConfig.tiny())
    with torch.no_grad():
        vq.quantizer.codebook.normal_()
    mean, std = humanml3d.load_stats(built_sample)
    folder = tmp_path_factory.mktemp("vq") / "vq_tiny"
    MotionTokenizer(vq, mean, std, device="cpu").save(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory, built_sample: Path, tiny_vq_dir: Path) -> Path:
    """A complete tiny model folder (vq/, lm/, model.json, prompts/) trained
    for a few steps on the sample: real weights, seconds to build, for engine
    tests. Its prompt vocabulary holds the sample's captions and a few
    phrasebook concepts (support.TEST_CONCEPTS), so prompts are grounded."""
    from engine.lm import model as lm_model
    from engine.prompts.vocabulary import build_vocabulary, read_training_rows
    from engine.train.lm_trainer import LMTrainSettings, train_lm
    from support import TEST_CONCEPTS
    out = tmp_path_factory.mktemp("bundle") / "tiny_model"
    settings = LMTrainSettings(stage1_steps=10, stage2_steps=10, batch_size=8, lr=3e-3, warmup_steps=5,
                               val_every=20, val_batches=1, max_tokens=20)
    train_lm(built_sample, tiny_vq_dir, out, lm_model.tiny(), settings, device="cpu", progress=False)
    build_vocabulary(read_training_rows(built_sample), concepts=TEST_CONCEPTS, max_run=8).save(out)
    return out


ENGINE_TOKEN = "remote-test-token-0123456789"


@pytest.fixture(scope="session")
def token_engine(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory):
    """A real engine (``motiongpt serve``) on the tiny model started with the
    known token :data:`ENGINE_TOKEN`: the add-on's "remote engine"."""
    import signal
    from engine.server.launch import start_engine
    log = open(tmp_path_factory.mktemp("token_engine") / "engine.log", "w", encoding="utf-8")
    eng = start_engine(["--port", "0", "--model", str(tiny_bundle), "--device", "cpu", "--token", ENGINE_TOKEN,
                        "--parent-pid", str(os.getpid())], stderr=log, timeout=180)
    yield eng
    eng.proc.send_signal(signal.SIGTERM)
    eng.proc.wait(30)
    log.close()


@pytest.fixture(scope="session")
def clip(sample_joints: dict[str, np.ndarray]) -> np.ndarray:
    """The first sample clip of at least 2 s (40 frames)."""
    return next(j for j in sample_joints.values() if len(j) >= 40)


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one thread for a module of tiny models: OpenMP hand-offs cost
    more than they save on small matrices, and on a busy 2-core machine they
    make a step 10-100x slower. Use with ``pytestmark =
    pytest.mark.usefixtures("one_torch_thread")``."""
    import torch
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
