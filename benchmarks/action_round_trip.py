"""Can the motion tokenizer say the rare actions at all? Round trip of their clips.

    python benchmarks/action_round_trip.py --vq runs/v10/vq --vq runs/v11/vq --data DATA_DIR

The language model can only make what its tokenizer can write: v1.0's turned
DeepMimic's crawl into one repeated standing code (450 mm off), so no amount
of language-model training could make a crawl. For every original clip (train
and val: the language model learns from the train ones) of the actions that
``action_kinematics.py`` judges, per tokenizer: how many distinct codes it
writes, the root-relative round-trip error (first 10 s), and whether the
decoded motion still passes that action's kinematic judge (the real clip's
verdict beside it).
"""
from __future__ import annotations

import argparse

import numpy as np

import engine  # noqa: F401  (first: the engine's process policy must precede torch)
from action_kinematics import judge  # noqa: E402
from engine.data import humanml3d  # noqa: E402
from engine.data.labels import labelled_originals  # noqa: E402
from engine.models.motion_tokenizer import MotionTokenizer  # noqa: E402
from engine.motion.features import features_to_joints  # noqa: E402
from vq_round_trip import MAX_FRAMES  # noqa: E402

JUDGED = {"jump": "jump", "kick": "kick", "cartwheel": "cartwheel", "crawl": "crawl",
          "get up": "get up from lying face down", "salsa": "salsa dance", "backflip": "backflip",
          "side flip": "side flip", "spin kick": "spin kick", "roll forward": "roll forward"}
"""Judge name -> the data's action label (flips are judged as cartwheels: the head goes below the hips;
a spin kick as a kick; a forward roll as a cartwheel)."""
JUDGE_OF = {"backflip": "cartwheel", "side flip": "cartwheel", "spin kick": "kick", "roll forward": "cartwheel"}


def clips_of_actions(data: str) -> list[tuple[str, str, np.ndarray]]:
    """(judge name, clip id, features) of every original clip of a judged action."""
    labels = {label: name for name, label in JUDGED.items()}
    out = []
    for split in ("train", "val"):
        for clip_id, record in labelled_originals(data, split):
            name = labels.get((record["labels"].get("action") or "").lower())
            if name:
                out.append((name, clip_id, humanml3d.load_clip(data, clip_id).features))
    return out


def round_trip(vq: MotionTokenizer, features: np.ndarray) -> tuple[int, float, np.ndarray, np.ndarray]:
    """(distinct codes, root-relative MPJPE in mm, real joints, decoded joints)."""
    feats = features[: min(len(features), MAX_FRAMES) // 4 * 4]
    codes = vq.encode(feats)
    a, b = features_to_joints(feats), features_to_joints(vq.decode(codes))
    n = min(len(a), len(b))
    rel = np.linalg.norm((a[:n] - a[:n, :1]) - (b[:n] - b[:n, :1]), axis=-1).mean() * 1000
    return len(set(codes.tolist())), float(rel), a, b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vq", action="append", required=True, help="tokenizer folder (repeatable)")
    parser.add_argument("--data", required=True)
    args = parser.parse_args()
    clips = clips_of_actions(args.data)
    tokenizers = [(path, MotionTokenizer.load(path, device="cpu")) for path in args.vq]
    passed = {path: 0 for path in args.vq}
    errors: dict[str, list[float]] = {path: [] for path in args.vq}
    print(f"{'action':12s} {'clip':34s} real  " + "  ".join(f"{p[-24:]:>30s}" for p in args.vq))
    for name, clip_id, features in clips:
        cells, real_verdict = [], None
        for path, vq in tokenizers:
            codes, rel, real, decoded = round_trip(vq, features)
            real_verdict = judge(JUDGE_OF.get(name, name), real)
            verdict = judge(JUDGE_OF.get(name, name), decoded)
            passed[path] += bool(verdict)
            errors[path].append(rel)
            cells.append(f"{codes:3d} codes {rel:6.0f} mm {'HIT ' if verdict else 'miss'}")
        print(f"{name:12s} {clip_id:34s} {'HIT ' if real_verdict else 'miss'}  " + "  ".join(f"{c:>30s}" for c in cells))
    for path in args.vq:
        print(f"{path}: {passed[path]}/{len(clips)} decoded clips pass their judge; root-relative round trip "
              f"median {np.median(errors[path]):.0f} mm over these {len(clips)} clips")


if __name__ == "__main__":
    main()
