"""A built dataset's ``labels.jsonl``: one row per clip (``id``, ``labels``,
``captions``, ``mirror_of``), written by :func:`engine.data.build.build_dataset`.

Readers of the action labels (the training sampler's balance, the prompt
vocabulary, the action judge, the benchmarks) all go through here.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from ..errors import MotionFileError
from ..motion.mirror import mirror_text
from . import humanml3d

LABELS_FILE = "labels.jsonl"


def _rows(path: Path) -> Iterator[dict]:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            yield json.loads(line)


def read_labels(root: str | Path) -> dict[str, dict]:
    """clip id -> its labels.jsonl row (``labels``, ``captions``, ``mirror_of``)."""
    path = Path(root) / LABELS_FILE
    if not path.is_file():
        raise MotionFileError(path, "not found; build the data with 'motiongpt build-data' (it writes labels.jsonl)")
    return {row["id"]: row for row in _rows(path)}


def action_of(row: dict) -> str | None:
    """The action label of a labels.jsonl / captions jsonl row (``labels.content``
    for the Bandai Namco data, ``labels.action`` for other sources)."""
    labels = row.get("labels") or {}
    value = labels.get("action", labels.get("content"))
    return None if value is None else str(value)


def labelled_originals(root: str | Path, split: str,
                       labels: dict[str, dict] | None = None) -> list[tuple[str, dict]]:
    """(clip id, labels.jsonl row) of the clips of ``split`` (in the split
    file's order) that are originals (not mirrored copies, which keep their
    source's left/right label) and carry an action (:func:`action_of`).
    ``labels``: :func:`read_labels` of ``root`` when already read."""
    labels = read_labels(root) if labels is None else labels
    out = []
    for clip_id in humanml3d.read_split_ids(root, split):
        row = labels.get(clip_id)
        if row is None or row.get("mirror_of") or action_of(row) is None:
            continue
        out.append((clip_id, row))
    return out


def read_actions(root: str | Path) -> dict[str, str]:
    """Clip id -> action label from a built folder's ``labels.jsonl`` (the
    Bandai ``content`` or a library's ``action``; a mirrored copy gets the
    side words swapped, so a mirrored left-hand wave counts as right-hand).
    Empty for folders without labels (e.g. HumanML3D). Unlike
    :func:`action_of`, an empty ``action`` falls back to ``content``."""
    path = Path(root) / LABELS_FILE
    if not path.is_file():
        return {}
    actions = {}
    for record in _rows(path):
        labels = record.get("labels") or {}
        action = str(labels.get("action") or labels.get("content") or "")
        if action:
            actions[record["id"]] = mirror_text(action) if record.get("mirror_of") else action
    return actions
