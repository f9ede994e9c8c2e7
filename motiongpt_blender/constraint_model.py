"""A measured model of how a constrained rig poses its mapped bones (pure numpy).

Control rigs such as a generated Rigify rig put constraints between the
bones the add-on keys: ``upper_arm_fk`` hangs under ``MCH-upper_arm_parent``,
which copies the transforms of ``ORG-shoulder``, which copies the
``shoulder`` control; the ``neck`` control's parent copies half of the
``torso``'s rotation. The plain-hierarchy formula of :mod:`retarget_math` is
wrong for such bones, and evaluating the rig frame by frame in Blender to
correct it costs milliseconds per frame (seconds for a long motion, with
Blender frozen).

Instead, the rig is evaluated a few times in *probe* poses (every mapped
bone turned at random) and, for each mapped bone ``b``, the rotation of the
frame its basis acts in -- ``F_b = R_b @ B_b^T`` (armature-space rotation
times the inverse basis rotation) -- is explained by one of:

- ``static``: ``F_b`` is constant (its parents do not move with the mapped bones);
- ``rigid``: ``F_b = R_P @ C`` for one mapped bone ``P`` (a parent, or a
  bone copied through Copy Transforms);
- ``blend``: ``F_b = slerp(R_P1 @ C1, R_P2 @ C2, w)`` (a Copy Rotation with
  influence ``w``, as Rigify's neck follow). ``C1`` and ``C2`` come from the
  probe with all mapped bones at rest, where Rigify-style rigs are neutral,
  and ``w`` is fitted.

A bone none of these explain (within ``tol_deg`` over every probe) makes the
model fail, and the caller falls back to evaluating the rig. With a model,
every basis for every frame is one vectorised solve, because the desired
armature-space rotation of every mapped bone is known beforehand:
``B_b = F_b^T @ R_b``. The root bone also needs its location: its whole
matrix must follow ``pose = K @ basis`` with a constant ``K``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import retarget_math as rm

ARMATURE = -1                 # "parent" index meaning the armature itself (identity rotation)
STATIC, RIGID, BLEND = "static", "rigid", "blend"


@dataclass
class BoneLink:
    """How one mapped bone's parent frame follows the others (see module doc)."""
    kind: str
    parents: tuple[int, ...]                 # indices into the model's bone list (or ARMATURE)
    offsets: tuple[np.ndarray, ...]          # C (3, 3) per parent
    weight: float = 0.0                      # blend only: influence of the second parent
    residual_deg: float = 0.0


@dataclass
class ConstraintModel:
    bones: list[str]
    links: dict[str, BoneLink]
    root: str | None = None
    root_parent: np.ndarray | None = None    # K (4, 4): root pose = K @ basis
    residual_deg: float = 0.0
    kinds: dict[str, int] = field(default_factory=dict)

    def parent_frames(self, rotations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """(T, 3, 3) parent frame ``F_b`` of every bone, given every mapped
        bone's armature-space rotation (T, 3, 3)."""
        index_rot = [rotations[b] for b in self.bones]
        shape = next(iter(rotations.values())).shape

        def rot_of(p: int) -> np.ndarray:
            return np.broadcast_to(np.eye(3), shape) if p == ARMATURE else index_rot[p]

        out = {}
        for b, link in self.links.items():
            if link.kind == STATIC:
                out[b] = np.broadcast_to(link.offsets[0], shape)
            elif link.kind == RIGID:
                out[b] = rot_of(link.parents[0]) @ link.offsets[0]
            else:
                a = rot_of(link.parents[0]) @ link.offsets[0]
                c = rot_of(link.parents[1]) @ link.offsets[1]
                out[b] = slerp_matrices(a, c, link.weight)
        return out

    def solve(self, rotations: dict[str, np.ndarray], root_matrix: np.ndarray | None = None
              ) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """Basis rotations (T, 3, 3) that give every bone its armature-space
        ``rotations``, and the root bone's basis matrix (T, 4, 4) for its
        armature-space ``root_matrix`` (T, 4, 4)."""
        frames = self.parent_frames(rotations)
        basis = {b: np.swapaxes(frames[b], -1, -2) @ rotations[b] for b in self.links}
        root_basis = None
        if root_matrix is not None and self.root_parent is not None:
            root_basis = rm.affine_inverse(self.root_parent) @ root_matrix
        return basis, root_basis


def slerp_matrices(a: np.ndarray, b: np.ndarray, w) -> np.ndarray:
    """Rotation matrices interpolated from ``a`` (w = 0) to ``b`` (w = 1) along the shortest arc."""
    qa, qb = rm.matrix_to_quat(a), rm.matrix_to_quat(b)
    rel = rm.quat_mul(rm.quat_conjugate(qa), qb)
    return rm.quat_to_matrix(rm.quat_mul(qa, rm.quat_power(rel, w)))


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle between rotation matrices (..., 3, 3), degrees."""
    cos = (np.trace(np.swapaxes(a, -1, -2) @ b, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _spread(values: np.ndarray) -> float:
    """Largest angle between any probe's matrix and the first probe's."""
    return float(angle_deg(values[:1], values).max())


def fit(bones: list[str], pose_rot: np.ndarray, basis_rot: np.ndarray, *, root: str | None = None,
        root_pose: np.ndarray | None = None, root_basis: np.ndarray | None = None,
        tol_deg: float = 0.01) -> ConstraintModel | None:
    """The model explaining probe evaluations, or None.

    pose_rot, basis_rot: (P, B, 3, 3) armature-space and basis rotations of
    the ``bones`` in P probes; probe 0 must have every basis at rest.
    root_pose, root_basis: (P, 4, 4) the root bone's armature-space and basis
    matrices (its location matters too)."""
    n_probe, n_bone = pose_rot.shape[:2]
    frames = pose_rot @ np.swapaxes(basis_rot, -1, -2)                        # (P, B, 3, 3)
    candidates = [ARMATURE] + list(range(n_bone))

    def rot(p: int) -> np.ndarray:
        return np.broadcast_to(np.eye(3), (n_probe, 3, 3)) if p == ARMATURE else pose_rot[:, p]

    links: dict[str, BoneLink] = {}
    kinds = {STATIC: 0, RIGID: 0, BLEND: 0}
    for i, name in enumerate(bones):
        f = frames[:, i]
        rigid = []
        for p in candidates:
            if p == i:
                continue
            c = np.swapaxes(rot(p), -1, -2) @ f
            rigid.append(BoneLink(STATIC if p == ARMATURE else RIGID, (p,), (c[0],), residual_deg=_spread(c)))
        rigid.sort(key=lambda link: link.residual_deg)
        best = rigid[0]
        if best.residual_deg > tol_deg:
            firsts = [link.parents[0] for link in rigid[:3]]
            blend = _fit_blend(i, f, rot, firsts, candidates)
            if blend is not None and blend.residual_deg < best.residual_deg:
                best = blend
        if best.residual_deg > tol_deg:
            return None
        links[name] = best
        kinds[best.kind] += 1
    root_parent = None
    if root is not None and root_pose is not None and root_basis is not None:
        k = root_pose @ rm.affine_inverse(root_basis)
        scale = max(float(np.abs(k[0, :3, 3]).max()), 1.0)
        if not np.allclose(k, k[:1], atol=1e-5 * scale, rtol=1e-5):
            return None
        root_parent = k[0]
    worst = max((link.residual_deg for link in links.values()), default=0.0)
    return ConstraintModel(bones=list(bones), links=links, root=root, root_parent=root_parent,
                           residual_deg=worst, kinds=kinds)


def _fit_blend(i: int, f: np.ndarray, rot, firsts: list[int], candidates: list[int]) -> BoneLink | None:
    """Best ``slerp(R_P1 C1, R_P2 C2, w)``: P1 among the best rigid fits,
    P2 any other candidate; offsets from probe 0 (rest); ``w`` on a grid
    (all pairs and weights at once), refined for the best pair by golden-section search."""
    grid = np.linspace(0.0, 1.0, 21)
    pairs = [(p1, p2) for p1 in firsts for p2 in candidates if p2 not in (i, p1)]
    if not pairs:
        return None

    def ends(p1: int, p2: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        c1 = np.swapaxes(rot(p1)[0], -1, -2) @ f[0]
        c2 = np.swapaxes(rot(p2)[0], -1, -2) @ f[0]
        return rot(p1) @ c1, rot(p2) @ c2, c1, c2

    a, b = (np.stack(x) for x in zip(*[ends(p1, p2)[:2] for p1, p2 in pairs]))            # (N, P, 3, 3)
    err = angle_deg(slerp_matrices(a[:, None], b[:, None], grid[None, :, None]), f).max(-1)   # (N, W)
    n, k = np.unravel_index(int(np.argmin(err)), err.shape)
    p1, p2 = pairs[n]
    a1, b1, c1, c2 = ends(p1, p2)

    def residual(w: float) -> float:
        return float(angle_deg(slerp_matrices(a1, b1, w), f).max())
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    for _ in range(40):                                                            # golden-section search
        m1, m2 = hi - 0.618 * (hi - lo), lo + 0.618 * (hi - lo)
        if residual(m1) < residual(m2):
            hi = m2
        else:
            lo = m1
    w = 0.5 * (lo + hi)
    return BoneLink(BLEND, (p1, p2), (c1, c2), weight=w, residual_deg=residual(w))
