"""Real-data reference numbers for the evaluation harness.

Prints (and optionally writes as JSON) what a perfect generator would score:
real motions of the validation split against their own captions with the
trained retrieval evaluator (R-precision, MM-Dist, Diversity, FID train vs
val), the physical-plausibility metrics of real motions, and the classical
baselines for motion prediction (constant pose / velocity) and in-betweening
(linear positions / SLERP rotations) at the 20 fps gaps 3, 10 and 20 frames.

    python benchmarks/eval_real_data.py --data /tmp/ds_full --evaluator /tmp/evaluator \
        --json /tmp/eval_real.json
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.data.humanml3d import load_split  # noqa: E402
from engine.eval import metrics, motion_metrics as mm  # noqa: E402
from engine.eval.report import format_table, write_json  # noqa: E402
from engine.motion.features import features_to_joints  # noqa: E402

PRED_CONTEXT, PRED_HORIZON = 20, 20      # 1 s observed, 1 s predicted
INB_CONTEXT = 10


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--evaluator", default=None, help="evaluator folder (skip retrieval metrics if absent)")
    p.add_argument("--split", default="val")
    p.add_argument("--json", default=None)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    t0 = time.time()
    train = load_split(a.data, "train")
    clips = load_split(a.data, a.split)
    results: dict = {}

    if a.evaluator:
        from engine.eval.retrieval_model import EvaluatorModel
        from engine.eval.train_evaluator import eval_pairs, evaluate_retrieval
        ev = EvaluatorModel.load(a.evaluator)
        real = evaluate_retrieval(ev, clips, seed=a.seed, repeats=20)
        tr_feats, _ = eval_pairs(train, a.seed)
        va_feats, _ = eval_pairs(clips, a.seed)
        real["fid_train_vs_" + a.split] = metrics.fid(ev.embed_motions(tr_feats), ev.embed_motions(va_feats))
        results["retrieval (real motions vs their captions)"] = {
            k: {"real": v} for k, v in real.items() if k != "num_pairs"}

    joints = [features_to_joints(c.features) for c in clips]
    plaus = [mm.plausibility(j) for j in joints]
    results["plausibility (real, mean over clips)"] = {
        k: {"real": float(np.mean([x[k] for x in plaus]))} for k in plaus[0]}

    pred = [j for j in joints if len(j) >= PRED_CONTEXT + PRED_HORIZON]
    ctx = np.stack([j[:PRED_CONTEXT] for j in pred])
    fut = np.stack([j[PRED_CONTEXT:PRED_CONTEXT + PRED_HORIZON] for j in pred])
    sec = {}
    for name, fn in (("constant_pose", mm.constant_pose), ("constant_velocity", mm.constant_velocity)):
        out = fn(ctx, PRED_HORIZON)
        sec[f"{name} ADE m"] = {"baseline": mm.ade(out, fut)}
        sec[f"{name} FDE m"] = {"baseline": mm.fde(out, fut)}
    results[f"prediction {PRED_CONTEXT}->{PRED_HORIZON} frames ({len(pred)} clips)"] = sec

    std = mm.pose_std([features_to_joints(c.features) for c in train[::10]])
    for lafan, gap in mm.INBETWEEN_GAPS.items():
        usable = [j for j in joints if len(j) >= INB_CONTEXT + gap + 1]
        sec = {}
        for name in ("linear", "slerp"):
            errs_l2p, errs_ade = [], []
            for j in usable:
                c, g, t = mm.inbetween_gap_slices(len(j), gap, INB_CONTEXT)
                before, after = j[c][-1], j[t][0]
                truth = j[g]
                if name == "linear":
                    out = mm.inbetween_linear(before, after, gap)
                else:
                    out = mm.inbetween_slerp_joints(before, after, gap)
                origin = before[:1] * np.array([1.0, 0.0, 1.0])          # centre on the last context frame
                errs_l2p.append(mm.l2p(out - origin, truth - origin, std))
                errs_ade.append(mm.ade(out, truth))
            sec[f"{name} L2P"] = {"baseline": float(np.mean(errs_l2p))}
            sec[f"{name} ADE m"] = {"baseline": float(np.mean(errs_ade))}
        results[f"in-betweening gap {gap} frames @20fps (= {lafan} @30fps, {len(usable)} clips)"] = sec

    print(format_table(results, title=f"real-data reference on '{a.split}' ({len(clips)} clips), "
                                      f"{time.time() - t0:.0f}s"))
    if a.json:
        write_json(results, a.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
