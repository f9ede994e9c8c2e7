"""Does a model do what the rare and new actions ask? Per action, from the
training captions.

    python benchmarks/new_actions.py --data DATA_DIR --model models/default [--model runs/lm ...]

A. Bandai Namco actions (the retrieval evaluator knows their words): for up
   to 3 training clips of every action, a motion is generated from the
   clip's first caption at the clip's length (at most 10 s, seed = clip
   number) and the evaluator ranks the actions' captions (one per action)
   for it. Top-1 / top-3 accuracy per action, beside the real clips
   themselves (the evaluator's own ceiling).
B. Library actions (the CMU clips; the evaluator does not know their words):
   kinematic descriptors of 3 generations per action (6 s, seeds 0-2) beside
   the real clips of that action: how much the hips rise and fall (jumps,
   sitting), how far the body travels, how far it turns (range of its heading), and how often a
   wrist is above the head.
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from engine.data import humanml3d
from engine.data.labels import labelled_originals
from engine.eval.retrieval_model import EvaluatorModel
from engine.eval.evaluate import DEFAULT_EVALUATOR_DIR, MAX_FRAMES
from engine.motion import skeleton as sk
from engine.motion.features import features_to_joints
from engine.pipeline.jobs import load_model

J = sk.JOINT_INDEX
CLIPS_PER_ACTION = 3


def _train_clips_by_action(data: Path) -> dict[str, dict[str, list]]:
    """source -> action -> [(clip id, first caption)] over the train split's labelled original clips."""
    out: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for clip_id, record in labelled_originals(data, "train"):
        labels = record["labels"]
        source = labels.get("source", "bandai")
        action = labels.get("action") or labels.get("content")
        out[source][action].append((clip_id, record["captions"][0]))
    return out


def descriptors(joints: np.ndarray) -> np.ndarray:
    """(hips up-down range m, travel m, turned degrees, share of frames with a wrist above the head)."""
    hips = joints[:, 0]
    across = joints[:, J["right_hip"]] - joints[:, J["left_hip"]]
    heading = np.unwrap(np.arctan2(across[:, 0], across[:, 2]))
    wrists = joints[:, [J["left_wrist"], J["right_wrist"]], 1].max(axis=1)
    return np.array([np.ptp(hips[:, 1]), np.linalg.norm(np.diff(hips[:, [0, 2]], axis=0), axis=-1).sum(),
                     np.degrees(np.ptp(heading)), float((wrists > joints[:, J["head"], 1]).mean())])


def part_a(models: dict, evaluator, data: Path, clips: dict[str, list]) -> None:
    actions = sorted(clips, key=lambda a: len(clips[a]))
    texts = [clips[a][0][1] for a in actions]
    t_emb = evaluator.embed_texts(texts)
    print(f"A. Bandai actions: rank among {len(actions)} action captions (top-1 / top-3 over up to "
          f"{CLIPS_PER_ACTION} clips each)")
    header = f"{'action':22s} {'clips':>5s} {'real':>9s}" + "".join(f" {name[:16]:>16s}" for name in models)
    print(header)
    totals = defaultdict(list)
    for a_i, action in enumerate(actions):
        chosen = clips[action][:CLIPS_PER_ACTION]
        feats = [humanml3d.load_clip(data, cid).features[:MAX_FRAMES] for cid, _ in chosen]
        rows = {"real": feats}
        for name, model in models.items():
            rows[name] = [model.text_to_motion(cap, seconds=len(f) // 4 * 4 / sk.FPS, seed=k)[0]
                          for k, ((_, cap), f) in enumerate(zip(chosen, feats))]
        cells = []
        for name, motions in rows.items():
            m_emb = evaluator.embed_motions(motions)
            dist = np.linalg.norm(m_emb[:, None] - t_emb[None], axis=-1)
            rank = (dist < dist[:, [a_i]]).sum(axis=1)
            top1, top3 = float((rank == 0).mean()), float((rank < 3).mean())
            totals[name].append((top1, top3, len(clips[action])))
            cells.append(f"{top1:.2f}/{top3:.2f}")
        print(f"{action:22s} {len(clips[action]):5d} {cells[0]:>9s}" + "".join(f" {c:>16s}" for c in cells[1:]))
    for label, keep in (("rare (<= 15 clips)", lambda n: n <= 15), ("all actions", lambda n: True)):
        cells = []
        for name in ["real", *models]:
            vals = [(t1, t3) for t1, t3, n in totals[name] if keep(n)]
            cells.append(f"{np.mean([v[0] for v in vals]):.2f}/{np.mean([v[1] for v in vals]):.2f}")
        print(f"{label:22s} {'':5s} {cells[0]:>9s}" + "".join(f" {c:>16s}" for c in cells[1:]))


def part_b(models: dict, data: Path, clips: dict[str, list]) -> None:
    print("\nB. Library actions: hips up-down range m | travel m | turned deg | wrist above head share "
          "(mean over clips / generations)")
    for action in sorted(clips):
        chosen = clips[action]
        real = np.mean([descriptors(features_to_joints(humanml3d.load_clip(data, cid).features[:MAX_FRAMES]))
                        for cid, _ in chosen], axis=0)
        print(f"{action[:30]:30s} ({len(chosen)} clips) {chosen[0][1]!r}")
        print(f"    {'real':16s} " + " | ".join(f"{v:7.2f}" for v in real))
        for name, model in models.items():
            gen = np.mean([descriptors(features_to_joints(model.text_to_motion(chosen[0][1], seconds=6.0, seed=k)[0]))
                           for k in range(3)], axis=0)
            print(f"    {name[:16]:16s} " + " | ".join(f"{v:7.2f}" for v in gen))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="dataset folder from build-data (with labels.jsonl)")
    parser.add_argument("--model", action="append", required=True, help="model folder (repeat to compare)")
    parser.add_argument("--evaluator", default=str(DEFAULT_EVALUATOR_DIR))
    args = parser.parse_args()
    data = Path(args.data)
    models = {m: load_model(m, "cpu") for m in args.model}
    evaluator = EvaluatorModel.load(args.evaluator, "cpu")
    by_source = _train_clips_by_action(data)
    if "bandai" in by_source:
        part_a(models, evaluator, data, by_source.pop("bandai"))
    for source, clips in by_source.items():
        part_b(models, data, clips)


if __name__ == "__main__":
    main()
