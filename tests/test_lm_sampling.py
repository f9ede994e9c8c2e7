"""Rebalanced sampling of training clips: how often each action is drawn."""
from collections import Counter

import numpy as np
import pytest

from engine.data import build
from engine.train.lm_data import ExampleSampler, TokenizedClip, balanced_clip_p
from engine.train.lm_trainer import _step_rng

CLIPS_PER_ACTION = {"walk": 90, "bow": 9, "punch": 1}
STEPS, BATCH = 200, 32


def _clips():
    clips, actions = [], {}
    for action, n in CLIPS_PER_ACTION.items():
        for i in range(n):
            clip_id = f"{action}_{i}"
            clips.append(TokenizedClip(clip_id, [f"a person does {action}."], [np.arange(12)]))
            actions[clip_id] = action
    return clips, actions


def _draws_per_action(power):
    """Actions drawn over STEPS training steps of BATCH examples, with the
    per-step generators the trainer uses."""
    clips, actions = _clips()
    sampler = ExampleSampler(clips, vocab=None, clip_p=balanced_clip_p([c.clip_id for c in clips], actions, power))
    counts = Counter()
    for step in range(STEPS):
        rng = _step_rng(0, step)
        counts.update(actions[sampler.draw_clip(rng).clip_id] for _ in range(BATCH))
    return counts


@pytest.mark.parametrize("power", [0.0, 0.25, 0.5, 1.0])
def test_actions_are_drawn_in_proportion_to_clips_to_the_power(power):
    counts = _draws_per_action(power)
    weights = {a: n ** power for a, n in CLIPS_PER_ACTION.items()}
    total = STEPS * BATCH
    for action, w in weights.items():
        expected = total * w / sum(weights.values())
        assert abs(counts[action] - expected) < 4 * np.sqrt(expected) + 5, (power, action, counts)


def test_power_zero_draws_every_action_equally_and_one_keeps_the_data_mix():
    equal = _draws_per_action(0.0)
    assert max(equal.values()) / min(equal.values()) < 1.15          # a 1-clip action as often as a 90-clip one
    natural = _draws_per_action(1.0)
    assert natural["walk"] / natural["punch"] > 50                     # 90 : 1 in the data


def test_within_an_action_clips_are_drawn_evenly():
    clips, actions = _clips()
    sampler = ExampleSampler(clips, vocab=None, clip_p=balanced_clip_p([c.clip_id for c in clips], actions, 0.0))
    rng = np.random.default_rng(0)
    bows = Counter(c.clip_id for c in (sampler.draw_clip(rng) for _ in range(20000)) if c.clip_id.startswith("bow"))
    assert len(bows) == 9 and max(bows.values()) / min(bows.values()) < 1.4


def test_unlabelled_clips_form_one_group():
    p = balanced_clip_p(["a", "b", "c", "d"], {"a": "walk"}, 0.0)
    np.testing.assert_allclose(p, [0.5, 1 / 6, 1 / 6, 1 / 6])


def test_mirrored_clips_count_for_the_other_side(built_sample):
    actions = build.read_actions(built_sample)
    sided = [cid for cid, a in actions.items() if "left" in a and not cid.startswith("M")]
    assert sided
    for clip_id in sided:
        assert actions["M" + clip_id] == actions[clip_id].replace("left", "right")
