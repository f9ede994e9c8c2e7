"""Which action does a motion show? The evaluator's answer, by nearest real clips.

The retrieval evaluator (:mod:`engine.eval.retrieval_model`, trained on the
train split only) embeds motions; a motion is judged to show the action that
most of its ``k`` nearest real training clips carry (their ``labels`` action
in the dataset's labels.jsonl; mirrored copies are left out because they
keep their source's left/right label). Ties go to the nearest clip's action.

This is the judge of ``benchmarks/prompt_grounding.py`` (does a typed
prompt come out as the action it names?). It is an outside check on the
language model, never part of generation.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..data import humanml3d
from ..errors import MotionFileError

NEIGHBOURS: int = 5
"""Real clips that vote on a motion's action."""


def read_labels(root: str | Path) -> dict[str, dict]:
    """clip id -> its labels.jsonl row (``labels``, ``captions``, ``mirror_of``)."""
    path = Path(root) / "labels.jsonl"
    if not path.is_file():
        raise MotionFileError(path, "not found; build the data with 'motiongpt build-data' (it writes labels.jsonl)")
    rows = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows[row["id"]] = row
    return rows


def action_of(row: dict) -> str | None:
    """The action label of a labels.jsonl / captions jsonl row (``labels.content``
    for the Bandai Namco data, ``labels.action`` for other sources)."""
    labels = row.get("labels") or {}
    value = labels.get("action", labels.get("content"))
    return None if value is None else str(value)


@dataclass
class ActionJudge:
    embeddings: np.ndarray      # (N, D) evaluator embeddings of the reference clips
    actions: list[str]          # their action labels
    evaluator: object           # EvaluatorModel
    k: int = NEIGHBOURS

    @classmethod
    def build(cls, evaluator, data_root: str | Path, split: str = "train", max_frames: int = 200,
              k: int = NEIGHBOURS) -> "ActionJudge":
        rows = read_labels(data_root)
        feats, actions = [], []
        for clip_id in humanml3d.read_split_ids(data_root, split):
            row = rows.get(clip_id)
            if row is None or row.get("mirror_of") or action_of(row) is None:
                continue
            feats.append(humanml3d.read_features(Path(data_root) / "new_joint_vecs" / f"{clip_id}.npy")[:max_frames])
            actions.append(action_of(row))
        if not feats:
            raise MotionFileError(Path(data_root), f"has no labelled original clips in split {split!r}")
        return cls(evaluator.embed_motions(feats), actions, evaluator, k)

    def judge(self, features: Sequence[np.ndarray]) -> list[str]:
        """The action each raw (T, 263) feature array shows."""
        emb = self.evaluator.embed_motions(list(features))
        sims = emb @ self.embeddings.T
        out = []
        for row in sims:
            nearest = np.argsort(-row)[: self.k]
            votes: dict[str, int] = {}
            for i in nearest:
                votes[self.actions[i]] = votes.get(self.actions[i], 0) + 1
            top = max(votes.values())
            out.append(next(self.actions[i] for i in nearest if votes[self.actions[i]] == top))
        return out
