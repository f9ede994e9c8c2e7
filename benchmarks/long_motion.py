"""Do long motions keep moving? Frozen-frame shares for 30 s / 60 s walk, run and wave (issue 12).

A frame is frozen when the fastest joint, relative to the hips and the
body's facing, moves under 0.15 m/s over half a second
(:func:`engine.eval.motion_metrics.frozen_frames`): a held pose, or a pose
gliding over the floor. For each prompt (read by the model's vocabulary
like any typed prompt), each length and each seed, four decodings are
compared in one run:

- ``single``: the whole length in one go (what the engine did before);
- ``single+run``: the same with the repeat-run limit (no motion token more
  than the vocabulary's ``max_run`` times in a row);
- ``chain``: 10 s windows, each later one given the last 4 s as context;
- ``chain+run``: both (what the engine does now).

Real clips of the same actions (train split, whole clips; they are 2-10 s
long) are measured the same way beside them.

    python benchmarks/long_motion.py [--model models/default] [--data .cache/data] [--seeds 3]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPTS = {"walk": "a person walks forward", "run": "a person runs", "wave": "a person waves the right hand"}
REAL_ACTIONS = {"walk": ["walk"], "run": ["run"], "wave": ["wave-right-hand", "wave-left-hand", "wave-both-hands"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "models" / "default"))
    ap.add_argument("--data", default=str(ROOT / ".cache" / "data"), help="built dataset (motiongpt build-data)")
    ap.add_argument("--seconds", default="30,60")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write the numbers here")
    args = ap.parse_args()

    import engine  # noqa: F401  (before torch: the engine's OpenMP settings must precede it)
    import torch
    torch.set_num_threads(args.threads)
    from engine.data import humanml3d
    from engine.data.labels import action_of, labelled_originals
    from engine.eval.motion_metrics import frozen_share
    from engine.models.motiongpt import MotionGPT
    from engine.motion.features import features_to_joints

    model = MotionGPT.load(args.model, "cpu")
    lengths = [float(s) for s in args.seconds.split(",")]
    out: dict = {"real": {}, "generated": {}}

    originals = labelled_originals(args.data, "train")
    print("Real clips (train, whole clips), frozen share:")
    for name, actions in REAL_ACTIONS.items():
        ids = [i for i, row in originals if action_of(row) in actions]
        feats = [humanml3d.read_features(Path(args.data) / "new_joint_vecs" / f"{i}.npy") for i in ids]
        shares = [frozen_share(features_to_joints(f)) for f in feats]
        secs = [len(f) / 20 for f in feats[:50]]
        print(f"  {name:5s} ({'/'.join(actions)}): {len(ids)} clips of median {np.median(secs):.1f} s: "
              f"median {np.median(shares):.3f}, mean {np.mean(shares):.3f}")
        out["real"][name] = {"clips": len(ids), "median": float(np.median(shares)), "mean": float(np.mean(shares))}

    print(f"\nGenerated, frozen share (median over seeds 0..{args.seeds - 1}; per seed in brackets):")
    header = f"{'decoding':11s}" + "".join(f"{f'{n} {s:g}s':>26s}" for n in PROMPTS for s in lengths)
    print(header)
    readings = {name: model.read_prompt(prompt) for name, prompt in PROMPTS.items()}
    t_all = time.perf_counter()
    for decoding in ("single", "single+run", "chain", "chain+run"):
        cells = []
        for name, reading in readings.items():
            for seconds in lengths:
                sampling = model.sampling_for(reading, seconds)
                if "+run" not in decoding:
                    sampling = dataclasses.replace(sampling, max_run=None)
                shares = []
                for seed in range(args.seeds):
                    feats = model.text_to_motion(reading.model_text, seconds=seconds, seed=seed, sampling=sampling,
                                                 chain=decoding.startswith("chain"))[0]
                    shares.append(frozen_share(features_to_joints(feats)))
                out["generated"].setdefault(decoding, {})[f"{name}_{seconds:g}s"] = shares
                cells.append(f"{np.median(shares):.3f} [{' '.join(f'{x:.2f}' for x in shares)}]")
        print(f"{decoding:11s}" + "".join(f"{c:>26s}" for c in cells), flush=True)
    print(f"\nmax_run from the model's vocabulary: {model.prompt_vocabulary.max_run}; "
          f"generation time {time.perf_counter() - t_all:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
