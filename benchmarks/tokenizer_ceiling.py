"""How high can text-to-motion retrieval go on this motion tokenizer? (issue 18)

    python benchmarks/tokenizer_ceiling.py --vq models/default/vq [--vq runs/new/vq] [--data .cache/data18]

A language model writes tokens; the best it can do is a real clip's own
tokens. So the val clips of ``motiongpt evaluate`` (same clips, captions,
seed and R-precision) are sent through each tokenizer's round trip (encode,
decode) and scored like generated motion: as delivered (joints, rotations
solved, the default foot cleanup, re-encoded), re-encoded without the
cleanup, and as raw decoded features, beside the real clips. The delivered
row is the ceiling of the generated "as delivered" row of ``evaluate``: a
target above it asks for a better tokenizer, not more language-model
training. v1.3's tokenizer: R@3 0.895 delivered against 0.986 real (0.907 of
real); its generated motion reaches 0.858.

``--without-codebook`` adds the rows of the autoencoder alone (no nearest
code taken, "no-code"): for v1.4's tokenizer they score as the coded round
trip does (delivered top-3 0.909 vs 0.907 without the end easing), so more
codes would not lift the ceiling; the autoencoder (four frames a latent,
width 256) and the delivery's rotation solve are what cap it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import engine  # noqa: E402,F401  (first: the engine's process policy must precede torch)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vq", action="append", required=True, help="tokenizer folder (repeatable)")
    parser.add_argument("--data", default=str(ROOT / ".cache" / "data18"))
    parser.add_argument("--evaluator", default=str(ROOT / "models" / "evaluator"))
    parser.add_argument("--split", default="val")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--without-codebook", action="store_true",
                        help="also score the encoder's continuous latents decoded with no code chosen: the "
                             "bound of any codebook size on this autoencoder")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(1)
    from engine.eval import evaluate as ev
    from engine.models.motion_tokenizer import MotionTokenizer
    from engine.motion.features import features_to_joints, joints_to_features

    scored = ev.retrieval_set(args.data, args.split, args.seed, args.evaluator)
    pairs, real = scored.pairs, scored.real    # the tokenizer drops a partial last token
    top = scored.r_precision

    reference = top(real)
    print(f"{len(pairs)} {args.split} clips (motiongpt evaluate's pairs, seed {args.seed})")
    print(f"{'tokenizer':40s} {'row':12s} {'top1':>6s} {'top3':>6s} {'top3 / real':>11s}")
    print(f"{'(real clips)':40s} {'':12s} {reference['top1']:6.3f} {reference['top3']:6.3f} {1:11.3f}")
    for path in args.vq:
        vq = MotionTokenizer.load(path, device="cpu")
        decoded = vq.decode_batch(vq.encode_batch(real))
        rows = {"delivered": [joints_to_features(ev.as_delivered(f)) for f in decoded],
                "re-encoded": [joints_to_features(features_to_joints(f)) for f in decoded],
                "raw": decoded}
        if args.without_codebook:
            continuous = [vq.reconstruct_without_codebook(f) for f in real]
            rows["no-code del"] = [joints_to_features(ev.as_delivered(f)) for f in continuous]
            rows["no-code raw"] = continuous
        for name, features in rows.items():
            r = top(features)
            print(f"{path[-40:]:40s} {name:12s} {r['top1']:6.3f} {r['top3']:6.3f} "
                  f"{r['top3'] / reference['top3']:11.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
