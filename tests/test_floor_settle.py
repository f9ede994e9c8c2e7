"""A generated clip stands on its floor (issue 18: bows and get-ups ended with
both feet 13-19 cm in the air): a body off the floor for a whole second is
lowered onto it, a jump's short flight is kept, nothing goes through."""
from __future__ import annotations

import numpy as np

from engine.motion import skeleton as sk
from engine.pipeline.motion_io import Motion
from engine.pipeline.post import PostOptions, settle_on_floor, settle_start
from engine.pipeline.tasks import post_process

FPS = 20.0


def _standing(extra_height: np.ndarray) -> Motion:
    """A T-pose body whose lowest joint is ``extra_height`` (T,) above y = 0."""
    n = len(extra_height)
    quats = np.zeros((n, sk.NUM_JOINTS, 4))
    quats[..., 0] = 1.0
    still = Motion.from_rotations(quats, np.zeros((n, 3)), FPS)
    root = np.zeros((n, 3))
    root[:, 1] = -still.positions()[0, :, 1].min() + extra_height
    return still.replace(root_pos=root)


def _clearance(motion: Motion) -> np.ndarray:
    return motion.positions()[..., 1].min(axis=1)


def test_a_body_floating_for_seconds_is_lowered_onto_the_floor():
    t = np.arange(120) / FPS
    extra = 0.15 * np.clip(t - 1.5, 0.0, 1.0)              # from 2.5 s on, 15 cm up (a decoded bow)
    settled = settle_on_floor(_standing(extra))
    c = _clearance(settled)
    assert c.min() > -1e-6                                # nothing goes through the floor
    per_second = c[:120].reshape(6, 20).min(axis=1)
    assert (per_second < 0.03).all(), per_second           # every second touches the floor
    steps = np.abs(np.diff(settled.root_pos[:, 1]))
    assert steps.max() <= np.abs(np.diff(extra)).max() + 0.01          # lowered smoothly, no pop


def test_a_jump_keeps_its_flight():
    extra = np.zeros(80)
    t = np.arange(8) / FPS
    extra[36:44] = 0.35 * np.sin(np.pi * (t + 0.5 / FPS) / 0.4)   # a 0.4 s flight up to 35 cm
    settled = settle_on_floor(_standing(extra))
    np.testing.assert_allclose(_clearance(settled), _clearance(_standing(extra)), atol=1e-9)


def test_post_processing_settles_whole_generated_clips_only():
    extra = np.full(60, 0.12)
    floating = _standing(extra)
    cleaned = post_process(floating, PostOptions(), (0, 60))
    assert _clearance(cleaned)[20:40].min() < 0.03
    kept = post_process(floating, PostOptions(), (10, 50))         # a user's frames around: their floor rules
    np.testing.assert_allclose(kept.root_pos[:10], floating.root_pos[:10], atol=1e-9)


def test_a_clip_that_starts_in_the_air_and_lands_starts_on_the_floor():
    """Decoded clips may start with both feet 3-6 cm up and land a few frames
    later: the first frames come down, eased to nothing at the landing."""
    extra = np.zeros(60)
    extra[:6] = np.linspace(0.05, 0.0, 6)                  # 5 cm up, landing at frame 4-5
    settled = settle_start(_standing(extra))
    c = _clearance(settled)
    assert c.min() > -1e-6 and c[:6].max() <= 0.0101                 # as low as where it lands
    np.testing.assert_allclose(settled.root_pos[6:], _standing(extra).root_pos[6:], atol=1e-12)
    later = np.zeros(60)
    later[:15] = 0.05                                       # up for 0.75 s: longer than a landing, kept
    np.testing.assert_allclose(settle_start(_standing(later)).root_pos, _standing(later).root_pos, atol=1e-12)
