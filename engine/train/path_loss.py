"""The trajectory term of the tokenizer's loss: where the root goes, not
only how fast it moves each frame.

The reconstruction loss weighs each frame's root velocity on its own, so a
decoder can be off by a little in the same direction every frame and still
score well; integrated over a long take that little bends the whole path
(v1.5's decoder carried real salsa clips 2.2-2.4 m from where they started
in 6 s, the clips themselves stay within 2 m). This term integrates the
root's yaw and floor velocity as :func:`engine.motion.features.root_rotation_and_position`
does and compares the two floor paths in metres, so a steady bias costs
more the longer it lasts.
"""
from __future__ import annotations

import torch


def floor_path(features: torch.Tensor) -> torch.Tensor:
    """(B, T, 263) raw (not normalised) features -> (B, T, 2) root x, z on
    the floor, from 0 at the first frame (HumanML3D's recover_root_rot_pos,
    in torch so that it can be trained through)."""
    zero = features.new_zeros(features.shape[0], 1)
    angle = torch.cat([zero, features[:, :-1, 0]], dim=1).cumsum(1)
    # the inverse of the yaw quaternion (cos a, 0, sin a, 0) turns a vector about the up axis by -2a
    cos, sin = torch.cos(2 * angle), torch.sin(2 * angle)
    vx = torch.cat([zero, features[:, :-1, 1]], dim=1)
    vz = torch.cat([zero, features[:, :-1, 2]], dim=1)
    return torch.stack([(vx * cos - vz * sin).cumsum(1), (vx * sin + vz * cos).cumsum(1)], dim=-1)


def path_error_sum(recon: torch.Tensor, target: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                   lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Sum over the valid frames of the distance (m) between the floor paths
    of normalised ``recon`` and ``target`` (B, T, 263); divide by the
    number of valid frames for the mean."""
    error = torch.linalg.vector_norm(floor_path(recon * std + mean) - floor_path(target * std + mean), dim=-1)
    if lengths is not None:
        error = error * (torch.arange(target.shape[1], device=target.device)[None, :] < lengths[:, None])
    return error.sum()
