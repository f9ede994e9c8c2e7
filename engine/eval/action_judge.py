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

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..data import humanml3d
from ..data.labels import action_of, labelled_originals, read_labels  # noqa: F401  (re-exported)
from ..errors import MotionFileError

NEIGHBOURS: int = 5
"""Real clips that vote on a motion's action."""


@dataclass
class ActionJudge:
    embeddings: np.ndarray      # (N, D) evaluator embeddings of the reference clips
    actions: list[str]          # their action labels
    evaluator: object           # EvaluatorModel
    k: int = NEIGHBOURS

    @classmethod
    def build(cls, evaluator, data_root: str | Path, split: str = "train", max_frames: int = 200,
              k: int = NEIGHBOURS) -> "ActionJudge":
        feats, actions = [], []
        for clip_id, row in labelled_originals(data_root, split):
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
