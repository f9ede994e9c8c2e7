"""Composed shots (issue 19): are the items what they say, are the joins
smooth, do the feet hold, and does a wave ride on a walk?

    python benchmarks/compose.py [--model models/default] [--data .cache/data18] [--seeds 0 1 2]

For a fixed set of 2-4-item timelines (below), per seed:

* each whole-body item's span, without the transitions, is judged by the
  evaluator (:class:`engine.eval.action_judge.ActionJudge`) as one of the
  actions its prompt was read as (hit rate over items; target >= 80 %);
  an item asking for a still pose ("stands still") as still when no joint
  moves faster than :data:`STILL_SPEED`; labels of one action in two sources
  count alike (:data:`SAME_ACTION`);
* at every join, the peak joint speed in the transition against 1.5x the
  larger of the two neighbouring spans' 95th-percentile joint speed;
* a chained prompt with "while" ("waves while walking") is a body-part merge:
  its locomotion is judged as the merge below (root speed within 20 % of the
  same item made alone), the gesture on top by the evaluator over the span;
* foot skating of the whole shot against real val clips (target <= 1.5x):
  the first 100 val clips (most of them hand gestures, whose feet hardly
  move), and real val clips of the same actions as the shot's items;
* the body-part merge: "a person walks forward" on the lower body + "a
  person waves the right hand" on the upper body, against each made alone
  with the same seeds: root speed within 20 % of the walk's, share of
  frames with the right wrist above the right shoulder within 20 % of the
  wave's.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import engine  # noqa: E402,F401  (first: the engine's process policy must precede torch)

TIMELINES = [
    [("a person walks forward", 0, 4), ("a person stands still", 4, 5), ("a person waves the right hand", 5, 8),
     ("a person bows", 8, 10)],
    [("a person runs forward", 0, 4), ("a person walks forward", 4, 8)],
    [("a person walks and turns left", 0, 4), ("a person raises both hands", 4, 7)],
    [("a person bows", 0, 3), ("a person waves goodbye", 3.5, 6), ("a person walks backward", 6, 9)],
]
STILL_SPEED = 0.5
"""m/s: an item asking for a still pose is judged still when no joint moves faster in its span."""
CHAINED = [
    "a person walks forward, then waves the right hand",
    "a person runs forward and then walks forward",
    "a person bows, then waves goodbye",
    "a person walks and turns left, then raises both hands",
    "someone walks backward, after that they bow",
    "a person walks forward, stops, then raises the left hand",
    "a person waves both hands while walking forward",
    "una persona camina hacia adelante y luego saluda con la mano",
]
"""Prompts that chain actions, written here (the issue's own held-out list is
kept by others): each is made by ``generate`` as a timeline, each whole-body
item judged like a timeline item, and every piece must come back as an item
with a reading (no part of a prompt lost without a word)."""
SAME_ACTION = ({"bye", "byebye"}, {"run", "run forward"})
"""Data labels that name one action in two sources or takes (Bandai's two
goodbye waves; Bandai's "run" and Sony's "run forward"): a judge's pick of
either counts for both, as in the paraphrase list's accepted labels."""
MERGE = [("a person walks forward", 0, 6, ["lower_body"]), ("a person waves the right hand", 1, 5, ["upper_body"])]


def _inside(start: float, end: float, k: int, count: int) -> tuple[int, int]:
    """Frames (20 fps) of item k of ``count`` outside the transitions on either side of it."""
    return int(round(start * 20)) + (8 if k > 0 else 0), int(round(end * 20)) - (8 if k < count - 1 else 0)


def _speeds(joints: np.ndarray, fps: float) -> np.ndarray:
    return np.linalg.norm(np.diff(joints, axis=0), axis=-1) * fps          # (T-1, 22)


def _root_speed(joints: np.ndarray) -> float:
    """Mean horizontal root speed, m/s (20 fps)."""
    return float(np.linalg.norm(np.diff(joints[:, 0, [0, 2]], axis=0), axis=-1).mean() * 20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--data", default=str(ROOT / ".cache" / "data18"))
    parser.add_argument("--evaluator", default=str(ROOT / "models" / "evaluator"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    from engine.data import humanml3d
    from engine.data.labels import action_of, labelled_originals
    from engine.eval.action_judge import ActionJudge
    from engine.eval.motion_metrics import foot_skating
    from engine.eval.retrieval_model import EvaluatorModel
    from engine.motion import features as F
    from engine.motion import skeleton as sk
    from engine.pipeline import tasks
    from engine.pipeline.compose import chained_pieces, compose, generate_chain, parse_timeline
    from engine.pipeline.jobs import load_model
    J = sk.JOINT_INDEX
    model = load_model(args.model, "cpu")
    judge = ActionJudge.build(EvaluatorModel.load(args.evaluator), args.data)
    real = [F.features_to_joints(c.features[:200]) for c in humanml3d.load_split(args.data, "val")[:100]]
    real_skate = float(np.mean([foot_skating(j)["skate_speed"] for j in real]))
    real_by_action: dict[str, list[float]] = {}
    for clip_id, row in labelled_originals(args.data, "val"):
        joints = F.features_to_joints(humanml3d.load_clip(args.data, clip_id).features[:200])
        real_by_action.setdefault(action_of(row), []).append(foot_skating(joints)["skate_speed"])

    def same_actions_reference(understood: list[dict]) -> float:
        """Real skating of the shot's content: the mean over real val clips of each
        item's action, weighted by the item's length (a held pose: 0, as standing)."""
        total, weight = 0.0, 0.0
        for entry in understood:
            if entry["parts"]:
                continue
            reading = entry["understood_as"] or {}
            held = reading.get("holds_pose") and reading.get("known") is False
            ref = 0.0 if held else float(np.mean(real_by_action.get(reading.get("action"), [real_skate])))
            total += ref * (entry["end"] - entry["start"])
            weight += entry["end"] - entry["start"]
        return total / weight

    hits, joins_ok, joins, skates, references = [], 0, 0, [], []

    def judge_item(entry: dict, joints: np.ndarray, speed: np.ndarray, a: int, b: int) -> tuple[str, str]:
        """(judged, wanted) for one item's frames a..b."""
        reading = entry["understood_as"] or {}
        if reading.get("holds_pose") and reading.get("known") is False:
            # a still pose the model has no motion for (compose holds it): judged by stillness,
            # which the evaluator, trained on actions only, cannot tell
            return ("still" if speed[a:b].max() < STILL_SPEED else "moving"), "still"
        got, wanted = judge.judge([F.joints_to_features(joints[a:b + 1])])[0], reading.get("action")
        return (wanted if any({got, wanted} <= group for group in SAME_ACTION) else got), wanted

    def judge_base_of_merge(entry: dict, joints: np.ndarray, a: int, b: int, seed: int) -> tuple[str, str]:
        """The locomotion under a gesture: its action when its root speed is within
        20 % of the same item made alone (same seed), as for the merge below."""
        reading = entry["understood_as"] or {}
        alone = tasks.generate(model, tasks.read_prompt(model, entry["text"]), seconds=entry["end"] - entry["start"],
                               seed=seed + entry["item"])[0].positions()
        ratio = _root_speed(joints[a:b + 1]) / max(_root_speed(alone), 1e-6)
        return (reading.get("action") if abs(ratio - 1.0) <= 0.2 else f"root speed {ratio:.2f}x alone"), \
            reading.get("action")

    for t, timeline in enumerate(TIMELINES):
        items = [{"text": text, "start": s, "end": e} for text, s, e in timeline]
        parsed = parse_timeline({"items": items})
        for seed in args.seeds:
            shot, understood = compose(model, parsed, seed=seed)
            joints = shot.positions()
            speed = _speeds(joints, shot.fps)
            skates.append(foot_skating(joints)["skate_speed"])
            references.append(same_actions_reference(understood))
            for k, (entry, (text, s, e)) in enumerate(zip(understood, timeline)):
                a, b = _inside(s, e, k, len(timeline))
                got, wanted = judge_item(entry, joints, speed, a, b)
                hits.append(got == wanted)
                print(f"  timeline {t} seed {seed} item {k}: {text!r} read as {wanted}, judged {got}")
            for k in range(len(timeline) - 1):
                boundary = int(round(timeline[k + 1][1] * 20))
                left = speed[int(round(timeline[k][1] * 20)):max(boundary - 8, int(round(timeline[k][1] * 20)) + 2)]
                right = speed[boundary + 8:int(round(timeline[k + 1][2] * 20))]
                limit = 1.5 * max(np.percentile(left.max(axis=1), 95), np.percentile(right.max(axis=1), 95))
                peak = speed[max(boundary - 12, 0):boundary + 12].max()
                joins += 1
                joins_ok += peak <= limit
                print(f"    join {k}: peak {peak:.2f} m/s, limit {limit:.2f} m/s")
    print(f"items judged as read: {np.mean(hits):.1%} ({sum(hits)}/{len(hits)}; target >= 80 %)")
    chained_hits, lost = [], 0
    for text in CHAINED:
        pieces = chained_pieces(text) or []
        for seed in args.seeds:
            motions, reading = generate_chain(model, text, None, seed)
            items = reading["items"]
            lost += len(items) != len(pieces) or not all((i["understood_as"] or {}).get("message") for i in items)
            joints = motions[0].positions()
            speed = _speeds(joints, motions[0].fps)
            base = [i for i in items if not i["parts"]]
            for k, entry in enumerate(base):
                a, b = _inside(entry["start"], entry["end"], k, len(base))
                riders = [i for i in items if i["parts"] and i["start"] < entry["end"] and i["end"] > entry["start"]]
                if riders:       # a body-part merge: judged as the merge below (root speed vs made alone)
                    got, wanted = judge_base_of_merge(entry, joints, a, b, seed)
                else:
                    got, wanted = judge_item(entry, joints, speed, a, b)
                chained_hits.append(got == wanted)
                print(f"  chained {text!r} seed {seed} item {k}: {entry['text']!r} read as {wanted}, judged {got}")
                for rider in riders:         # the gesture on top: the evaluator sees the whole merged body
                    got, wanted = judge_item(rider, joints, speed, a, b)
                    chained_hits.append(got == wanted)
                    print(f"  chained {text!r} seed {seed} item {k} + {', '.join(rider['parts'])}: "
                          f"{rider['text']!r} read as {wanted}, judged {got}")
    print(f"chained prompts: whole-body items judged as read {np.mean(chained_hits):.1%} "
          f"({sum(chained_hits)}/{len(chained_hits)}); prompts that lost a piece without a word: {lost}")
    print(f"joins within 1.5x the neighbours' 95th-percentile speed: {joins_ok}/{joins}")
    print(f"foot skating {np.mean(skates):.3f} m/s vs real {real_skate:.3f} m/s = {np.mean(skates) / real_skate:.2f}x "
          "(target <= 1.5x); against real val clips of the same actions (each item's, weighted by its length) "
          f"{np.mean(references):.3f} m/s = {np.mean(skates) / np.mean(references):.2f}x")
    merge = parse_timeline({"items": [{"text": t, "start": s, "end": e, "parts": p} for t, s, e, p in MERGE]})
    for seed in args.seeds:
        shot, _ = compose(model, merge, seed=seed)
        walk = tasks.generate(model, tasks.read_prompt(model, MERGE[0][0]), seconds=6, seed=seed + 0)[0]
        wave = tasks.generate(model, tasks.read_prompt(model, MERGE[1][0]), seconds=4, seed=seed + 1)[0]
        js, jw, jv = shot.positions(), walk.positions(), wave.positions()
        up = lambda j: float((j[:, J["right_wrist"], 1] > j[:, J["right_shoulder"], 1]).mean())  # noqa: E731
        print(f"  merge seed {seed}: root speed {_root_speed(js):.2f} vs walk alone {_root_speed(jw):.2f} m/s "
              f"({_root_speed(js) / max(_root_speed(jw), 1e-6):.2f}x); "
              f"right wrist above shoulder {up(js[20:100]):.0%} "
              f"vs wave alone {up(jv):.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
