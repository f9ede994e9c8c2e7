"""Do a generated clip's first and last frames pop? The same samples decoded
with and without the edge fix, beside the real clips.

    python benchmarks/edge_pops.py [--model models/default] [--data .cache/data18] [--split val] [--seeds 0 1]
        [--pads 2 0]

For every original clip of the split, the model makes a motion from the
clip's first caption at the clip's length (at most 10 s) for each seed; its
tokens are decoded twice: as the engine does (the first and last frames
eased over to a decode with each end held for
:data:`engine.models.motion_tokenizer.EDGE_PAD_TOKENS` more tokens) and
plain (the decoder sees zeros past the ends; ``--pads`` compares other
holds). Per clip, the first step (the farthest any joint moves from frame 0
to frame 1) over the median of the next five, and the same at the end. A
ratio near 1 is no pop; the real clips give the reference. Prints the
median, the 90th percentile, the largest and the share of clips over 2x.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import engine  # noqa: E402,F401  (first: the engine's process policy must precede torch)


def edge_ratios(joints: np.ndarray) -> tuple[float, float]:
    """(first step / median of the next five, last step / median of the five before) of (T, 22, 3) joints."""
    step = np.linalg.norm(np.diff(joints, axis=0), axis=-1).max(axis=1)
    first = step[0] / max(float(np.median(step[1:6])), 1e-4)
    last = step[-1] / max(float(np.median(step[-6:-1])), 1e-4)
    return float(first), float(last)


def summary(name: str, ratios: np.ndarray) -> str:
    return (f"{name:28s} median {np.median(ratios):5.2f}  p90 {np.percentile(ratios, 90):5.2f}  "
            f"max {ratios.max():5.1f}  over 2x {np.mean(ratios > 2):5.1%}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "default"))
    parser.add_argument("--data", default=str(ROOT / ".cache" / "data18"))
    parser.add_argument("--split", default="val")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--pads", type=int, nargs="+", help="held tokens to compare (default: the engine's and 0)")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(1)
    from engine.data import humanml3d
    from engine.data.labels import labelled_originals
    from engine.models.motion_tokenizer import EDGE_PAD_TOKENS
    from engine.models.motiongpt import MotionGPT
    from engine.motion import skeleton as sk
    from engine.motion.features import features_to_joints

    clips = [humanml3d.load_clip(args.data, clip_id) for clip_id, _ in labelled_originals(args.data, args.split)]
    model = MotionGPT.load(args.model, "cpu")
    print(f"{len(clips)} original {args.split} clips of {args.data}; {args.model}; seeds {args.seeds}", flush=True)
    real = np.array([edge_ratios(features_to_joints(c.features[:200])) for c in clips])
    made: dict[int, list[tuple[float, float]]] = {p: [] for p in (args.pads or [EDGE_PAD_TOKENS, 0])}
    for seed in args.seeds:
        for i, clip in enumerate(clips):
            seconds = max(1, int(round(min(len(clip.features), 200) / 4))) * 4 / sk.FPS
            for pad in made:
                model.vq.edge_pad_tokens = pad        # the same seed draws the same tokens: only decoding differs
                feats = model.text_to_motion(clip.captions[0].text, seconds=seconds, seed=1000 * seed + i)[0]
                made[pad].append(edge_ratios(features_to_joints(feats)))
    print("first frame's step over the next five's median, per clip:")
    print(summary("  real clips", real[:, 0]))
    for pad, rows in made.items():
        print(summary(f"  generated, {pad} held tokens", np.array(rows)[:, 0]))
    print("last frame's step over the five before:")
    print(summary("  real clips", real[:, 1]))
    for pad, rows in made.items():
        print(summary(f"  generated, {pad} held tokens", np.array(rows)[:, 1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
