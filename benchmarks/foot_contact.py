"""Foot skating, ground penetration and jerk of generated motion, with and
without the foot cleanup, beside the real val clips.

    python benchmarks/foot_contact.py [--model models/default] [--clips 148] [--cache gen.npz]

Generates one motion per val clip from one of its captions (the same
captions, seeds and lengths as ``motiongpt evaluate``), then measures
(engine.eval.motion_metrics.plausibility) the raw decoded motion, the motion
after the pipeline's rotation solve, and after ``foot_cleanup``. ``--cache``
keeps the generated features so cleanup changes can be compared quickly.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from engine.eval import evaluate as ev
from engine.eval import motion_metrics as mm
from engine.motion import skeleton as sk
from engine.motion.features import features_to_joints
from engine.pipeline.motion_io import Motion
from engine.pipeline.post import foot_cleanup


def _generated(model_dir: str | None, pairs, cache: Path | None, seed: int) -> list[np.ndarray]:
    if cache is not None and cache.is_file():
        data = np.load(cache, allow_pickle=False)
        return [data[f"g{i}"] for i in range(len(data.files))]
    from engine.pipeline.jobs import load_model
    model = load_model(model_dir, "cpu")
    out = []
    for i, p in enumerate(pairs):
        tokens = max(1, int(round(p.frames / ev.FRAMES_PER_TOKEN)))
        out.append(model.text_to_motion(p.caption, seconds=tokens * ev.FRAMES_PER_TOKEN / sk.FPS, seed=seed + i)[0])
    if cache is not None:
        np.savez_compressed(cache, **{f"g{i}": f for i, f in enumerate(out)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default models/default)")
    parser.add_argument("--data", help="dataset folder (default: built from the shared data)")
    parser.add_argument("--clips", type=int, default=None, help="only N val clips (default: all)")
    parser.add_argument("--cache", help="npz to keep / reuse the generated features")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    root = ev.resolve_data_dir(args.data, "val")
    clips = ev.load_eval_clips(root, "val", max_clips=args.clips, seed=args.seed)
    pairs = ev.choose_pairs(clips, args.seed)
    start = time.perf_counter()
    gen = _generated(args.model, pairs, Path(args.cache) if args.cache else None, args.seed)
    t_gen = time.perf_counter() - start
    real = [features_to_joints(clips[p.index].features[p.start:p.stop]) for p in pairs]
    raw = [features_to_joints(f) for f in gen]
    start = time.perf_counter()
    solved = [Motion.from_positions(j, sk.FPS) for j in raw]
    t_solve = time.perf_counter() - start
    start = time.perf_counter()
    cleaned = [foot_cleanup(m) for m in solved]
    t_clean = time.perf_counter() - start
    sets = {"real": real, "raw decoded": raw, "rotations solved": [m.positions() for m in solved],
            "foot cleanup": [m.positions() for m in cleaned]}
    rows = {name: ev.plausibility_of(js) for name, js in sets.items()}
    ref = rows["real"]
    print(f"{len(pairs)} val clips; generation {t_gen:.1f} s, rotation solve {t_solve:.1f} s, "
          f"cleanup {t_clean:.1f} s ({1000 * t_clean / len(pairs):.0f} ms a clip)")
    print(f"{'':18s} {'skate m/s':>10s} {'x real':>7s} {'contact':>8s} {'pen frac':>9s} {'pen mm':>7s} "
          f"{'jerk':>8s} {'x real':>7s}")
    for name, r in rows.items():
        print(f"{name:18s} {r['foot_skate_ms']:10.4f} {r['foot_skate_ms'] / ref['foot_skate_ms']:7.2f} "
              f"{r['foot_contact_fraction']:8.3f} {r['penetration_fraction']:9.3f} "
              f"{1000 * r['penetration_depth_m']:7.2f} {r['jerk_ms3']:8.1f} {r['jerk_ms3'] / ref['jerk_ms3']:7.2f}")


if __name__ == "__main__":
    main()
