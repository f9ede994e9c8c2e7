"""The tokenizer's trajectory term (engine.train.path_loss)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.motion.features import root_rotation_and_position
from engine.train.path_loss import floor_path, path_error_sum


def test_floor_path_is_the_features_own_root_path():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(3, 40, 263)) * 0.1
    _, root = root_rotation_and_position(features)
    assert np.allclose(floor_path(torch.tensor(features)).numpy(), root[..., [0, 2]], atol=1e-12)


def test_a_steady_velocity_bias_costs_more_the_longer_it_lasts():
    """What the per-frame loss cannot see: the same small error every frame
    adds up along the path."""
    mean, std = torch.zeros(263), torch.ones(263)
    target = torch.zeros(1, 80, 263)
    target[..., 2] = 0.05                                    # 1 m/s forward at 20 fps
    biased = target.clone()
    biased[..., 1] = 0.002                                   # 4 cm/s sideways
    short = path_error_sum(biased[:, :20], target[:, :20], mean, std) / 20
    long = path_error_sum(biased, target, mean, std) / 80
    assert float(path_error_sum(target, target, mean, std)) == 0.0
    assert float(long) == pytest.approx(79 / 19 * float(short), rel=1e-4)   # mean of 0..79 steps vs 0..19
    assert float(long) == pytest.approx(0.002 * 79 / 2, rel=1e-4)


def test_frames_past_a_rows_length_cost_nothing():
    mean, std = torch.zeros(263), torch.ones(263)
    target = torch.zeros(2, 30, 263)
    recon = target.clone()
    recon[:, 10:, 1] = 1.0                                   # wrong only after frame 10
    masked = path_error_sum(recon, target, mean, std, torch.tensor([11, 30]))
    assert float(masked) == pytest.approx(float(path_error_sum(recon[1:], target[1:], mean, std)))


def test_the_path_term_is_gradable_and_normalisation_aware():
    mean, std = torch.full((263,), 0.5), torch.full((263,), 2.0)
    target = torch.zeros(1, 16, 263)
    recon = torch.full((1, 16, 263), 0.01, requires_grad=True)
    path_error_sum(recon, target, mean, std).backward()
    assert recon.grad is not None and torch.isfinite(recon.grad).all()
    assert recon.grad[..., :3].abs().sum() > 0 and recon.grad[..., 4:].abs().sum() == 0
