"""Which performance style do captions name, and does a plain prompt make a plain motion? (issue 18, item 6)

    python benchmarks/caption_styles.py [--model models/default] [--data .cache/data18] [--seeds 0 1 2]

1. Real clips: every original val clip that carries a style label (Bandai
   Namco's 17 styles) is captioned; the style the caption names
   (:func:`engine.prompts.meaning.styles_named`) is compared with the clip's
   own (tired/exhausted, old/elderly, youthful/childish and the two masculine
   styles count as one; a "normal" clip is right when no style is named).
   This is how far the captioner's styles can be trusted, and how often it
   names a style for a clip that has none.
2. Generated motion: a plain prompt for each of ten common actions ("a person
   waves"; read as the model reads any prompt, so no style is given) is made
   at 4 s with each seed and captioned the same way. Where a plain prompt makes
   plain motion, its captions name a style about as often as the real normal
   clips' do.
3. A measure that needs no captioner: the mean speed of the joints relative
   to the hips (first 4 s) of plain-caption motion (seeds 0-5) beside the
   median of the real training clips of each style, for five common actions.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import engine  # noqa: E402,F401  (first: the engine's process policy must precede torch)
import numpy as np  # noqa: E402

from engine.data import humanml3d  # noqa: E402
from engine.data.labels import action_of, labelled_originals  # noqa: E402
from engine.motion.features import features_to_joints  # noqa: E402

PLAIN_PROMPTS = ("a person waves", "a person walks", "a person bows", "someone raises both hands", "a person runs",
                 "a person waves goodbye", "someone walks backward", "a person walks and turns left",
                 "someone guides someone", "a person waves both hands")
SPEED_ACTIONS = ("wave-right-hand", "wave-both-hands", "raise-up-both-hands", "walk", "walk-turn-left")
SAME_STYLE = ({"tired", "exhausted"}, {"old", "elderly"}, {"youthful", "childish"}, {"masculine", "masculinity"})


def style_right(true: str, named: set[str]) -> bool:
    if true == "normal":
        return not named
    return any(true in group and named & group for group in SAME_STYLE) or true in named


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "default"))
    parser.add_argument("--data", default=str(ROOT / ".cache" / "data18"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    from engine.pipeline.jobs import load_model
    from engine.prompts import meaning

    model = load_model(args.model, "cpu")
    vocab = model.prompt_vocabulary
    styles = {c["style"] for a in vocab.actions for c in a.captions if c.get("style")} - {"normal"}

    real = [(clip_id, row["labels"]["style"]) for clip_id, row in labelled_originals(args.data, "val")
            if row.get("labels", {}).get("style")]
    right, normal, normal_named = 0, 0, 0
    for clip_id, true in real:
        named = meaning.styles_named(model.caption(humanml3d.load_clip(args.data, clip_id).features), styles)
        right += style_right(true, named)
        if true == "normal":
            normal += 1
            normal_named += bool(named)
    print(f"real val clips with a style label: {len(real)}; the caption names their style (none for normal) "
          f"{right} ({right / max(len(real), 1):.0%}); normal clips {normal}, captioned with a style {normal_named}")

    generated: Counter = Counter()
    rows = []
    for prompt in PLAIN_PROMPTS:
        reading = model.read_prompt(prompt)
        for seed in args.seeds:
            caption = model.caption(model.text_to_motion(reading.model_text, seconds=4.0, seed=seed)[0])
            named = sorted(meaning.styles_named(caption, styles))
            generated[" / ".join(named) or "(none)"] += 1
            rows.append({"prompt": prompt, "model_text": reading.model_text, "seed": seed, "caption": caption,
                         "styles": named})
            print(f"  {prompt!r} -> {reading.model_text!r} seed {seed}: {caption!r}", flush=True)
    styled = sum(1 for r in rows if r["styles"])
    print(f"generated from plain prompts: {len(rows)}; captioned with a style {styled}; by style: "
          + ", ".join(f"{k} {v}" for k, v in generated.most_common()))
    speeds = style_speeds(model, args.data)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "real": {"clips": len(real), "style_right": right, "normal": normal, "normal_named": normal_named},
            "generated": {"motions": len(rows), "styled": styled, "rows": rows}, "speeds": speeds}, indent=2) + "\n")
    return 0


def joint_speed(features: np.ndarray) -> float:
    """Mean speed (m/s) of the joints relative to the hips over the first 4 s."""
    joints = features_to_joints(features[:80])
    relative = joints - joints[:, :1]
    return float(np.linalg.norm(np.diff(relative, axis=0), axis=-1).mean() * 20)


def style_speeds(model, data: str) -> dict:
    """Plain-caption motion's joint speed beside the real training clips' of each style (section 3)."""
    real: dict = {}
    for clip_id, row in labelled_originals(data, "train"):
        action, style = action_of(row), row.get("labels", {}).get("style")
        if action in SPEED_ACTIONS and style:
            real.setdefault(action, {}).setdefault(style, []).append(
                joint_speed(humanml3d.load_clip(data, clip_id).features))
    out = {}
    print("joint speed (m/s, relative to the hips): plain-caption motion (median of seeds 0-5) and real clips "
          "by style (medians)")
    for action in SPEED_ACTIONS:
        if action not in real or action not in model.prompt_vocabulary.labels:
            continue
        caption = model.prompt_vocabulary.action(action).description
        generated = float(np.median([joint_speed(model.text_to_motion(caption, seconds=4.0, seed=s)[0])
                                     for s in range(6)]))
        by_style = {st: float(np.median(v)) for st, v in real[action].items()}
        out[action] = {"generated": generated, "real": by_style}
        print(f"  {action:22s} plain {generated:.3f}; " + ", ".join(
            f"{st} {v:.3f}" for st, v in sorted(by_style.items(), key=lambda kv: kv[1])))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
