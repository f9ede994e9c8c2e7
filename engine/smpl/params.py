"""A motion as SMPL / SMPL+H / SMPL-X parameters in the AMASS convention.

SMPL-family tools (AMASS loaders, ``smplx``, Blender's SMPL-X add-on) take a
motion as per-frame axis-angle rotations of the body model's joints
(``poses``), a root translation (``trans``), shape coefficients (``betas``),
the frame rate and the gender. This module writes that, numpy only: no torch,
no ``smplx``, no body-model files.

Why it is more than a change of units:

* **Rest pose.** The engine's rotations are relative to its T-pose (every
  bone along :data:`skeleton.T_POSE_DIRECTIONS`); an SMPL body's zero pose is
  its own template, whose bones point a few degrees elsewhere. Given the
  body's rest joints (``rest_joints``, read from the user's model file), the
  rotations are re-expressed on that rest pose so every bone points where the
  engine's does (:func:`rest_alignment`). Without them the engine's own rest
  skeleton is assumed.
* **Translation.** SMPL places the pelvis at ``J0 + trans``, where ``J0`` is
  the body's rest pelvis position, so ``trans = pelvis - J0``.
* **Up axis.** AMASS is Z up; the engine is Y up. ``up="z"`` (the default)
  turns the whole motion +90 degrees about X (the body then faces -Y), which
  is what AMASS files and the SMPL-X add-on's "AMASS" format expect;
  ``up="y"`` keeps the engine's frame (SMPL's own, HumanML3D's).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import MotionGPTError
from ..motion import skeleton as sk
from ..motion.quaternion import (matrix_to_quat, qbetween, qidentity, qinv, qmul, qrot, quat_to_axis_angle)
from ..motion.rotations import MAIN_CHILD

UP_AXES: tuple[str, ...] = ("z", "y")
GENDERS: tuple[str, ...] = ("neutral", "male", "female")

Y_UP_TO_Z_UP = np.array([np.cos(np.pi / 4), np.sin(np.pi / 4), 0.0, 0.0])
"""+90 degrees about X: (x, y, z) -> (x, -z, y), the engine's Y-up world to AMASS's Z-up."""


@dataclass(frozen=True)
class BodyModelType:
    """Layout of one SMPL-family body model's pose vector and its files."""
    name: str               # smplx / smplh / smpl, as smplx.create calls it
    label: str              # for messages
    num_joints: int         # joints in ``poses`` (root included)
    num_betas: int          # shape coefficients written (zeros)
    file_prefix: str        # SMPLX_NEUTRAL.npz, ...


BODY_MODELS: dict[str, BodyModelType] = {
    "smplx": BodyModelType("smplx", "SMPL-X", 55, 10, "SMPLX"),
    "smplh": BodyModelType("smplh", "SMPL+H", 52, 16, "SMPLH"),
    "smpl": BodyModelType("smpl", "SMPL", 24, 10, "SMPL"),
}
"""The first 22 joints of every SMPL-family model are the engine's 22, in the
same order (:data:`skeleton.JOINT_NAMES`); the rest (hands, jaw, eyes,
fingers) are written as zero rotations: a flat, relaxed hand."""

ACROSS_JOINTS: dict[int, tuple[int, int]] = {
    sk.JOINT_INDEX["pelvis"]: (sk.JOINT_INDEX["left_hip"], sk.JOINT_INDEX["right_hip"]),
    sk.JOINT_INDEX["spine3"]: (sk.JOINT_INDEX["left_collar"], sk.JOINT_INDEX["right_collar"]),
}
"""Joints with side branches: their rest alignment also matches the line
between the two side children (hips, collars), not only the spine above."""


def body_model_type(name: str) -> BodyModelType:
    try:
        return BODY_MODELS[name.lower()]
    except KeyError:
        raise MotionGPTError(f"unknown body model {name!r}; use one of {', '.join(BODY_MODELS)}") from None


def check_rest_joints(rest_joints: np.ndarray) -> np.ndarray:
    """(22+, 3) finite rest joint positions -> (22, 3) float64."""
    arr = np.asarray(rest_joints, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] < sk.NUM_JOINTS:
        raise MotionGPTError(f"the body model's rest joints must be (at least {sk.NUM_JOINTS}, 3), got {arr.shape}")
    arr = arr[:sk.NUM_JOINTS]
    if not np.all(np.isfinite(arr)):
        raise MotionGPTError("the body model's rest joints contain NaN or infinite values")
    bones = np.linalg.norm(arr[1:] - arr[sk.PARENTS[1:]], axis=-1)
    if np.any(bones < 1e-6):
        bad = sk.JOINT_NAMES[1 + int(np.argmin(bones))]
        raise MotionGPTError(f"the body model's rest joint {bad!r} sits on its parent; is this an SMPL-family model?")
    return arr


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _frame(primary: np.ndarray, across: np.ndarray) -> np.ndarray:
    """Orthonormal basis (columns: primary, across made perpendicular, their cross)."""
    d = _unit(primary)
    s = _unit(across - np.dot(across, d) * d)
    return np.stack([d, s, np.cross(d, s)], axis=-1)


def rest_alignment(engine_offsets: np.ndarray, target_offsets: np.ndarray) -> np.ndarray:
    """(22, 4) rotation A_j per joint taking the target body's rest bones onto
    the engine's: A_j turns the target's bone to the main child onto the
    engine's (shortest arc), and for the pelvis and spine3 also the line
    between the side children onto the engine's. Leaves get identity.

    With G the engine's world rotations, G_j A_j is a world rotation for the
    target body that points its bones where the engine's point, so its local
    rotations are A_parent^-1 L_j A_j (:func:`retarget_local_quats`)."""
    align = qidentity((sk.NUM_JOINTS,))
    with_child = [j for j in range(sk.NUM_JOINTS) if MAIN_CHILD[j] >= 0]
    children = [MAIN_CHILD[j] for j in with_child]
    align[with_child] = qbetween(target_offsets[children], engine_offsets[children])
    for j, (left, right) in ACROSS_JOINTS.items():
        c = MAIN_CHILD[j]
        engine = _frame(engine_offsets[c], engine_offsets[left] - engine_offsets[right])
        target = _frame(target_offsets[c], target_offsets[left] - target_offsets[right])
        align[j] = matrix_to_quat(engine @ target.T)
    return align


def retarget_local_quats(local_quats: np.ndarray, align: np.ndarray) -> np.ndarray:
    """(T, 22, 4) local rotations on the target rest pose: A_parent^-1 L_j A_j
    (the root has no parent alignment)."""
    parents = np.asarray(sk.PARENTS)
    parent_align = np.where((parents < 0)[:, None], qidentity((sk.NUM_JOINTS,)), align[np.maximum(parents, 0)])
    return qmul(qmul(qinv(parent_align), local_quats), align)


def smpl_parameters(local_quats: np.ndarray, root_pos: np.ndarray, offsets: np.ndarray, fps: float, *,
                    model_type: str = "smplx", gender: str = "neutral", rest_joints: np.ndarray | None = None,
                    up: str = "z") -> dict[str, np.ndarray]:
    """The AMASS-layout arrays of a 22-joint motion (engine conventions: local
    (w, x, y, z) rotations relative to the T-pose rest ``offsets``, root
    positions in metres, Y up).

    ``rest_joints``: the body model's (22+, 3) rest joint positions (betas
    zero) in its own Y-up frame; None assumes the engine's rest skeleton with
    the pelvis at the origin (``trans`` is then the pelvis position).
    Returns ``poses`` (T, 3 * joints), ``trans`` (T, 3), ``betas`` (zeros),
    ``gender``, ``mocap_framerate`` (and AMASS SMPL-X's spelling
    ``mocap_frame_rate``), plus the split ``root_orient`` / ``pose_body`` / ...
    keys of AMASS's SMPL-X files for ``smplx`` and ``dmpls`` for ``smplh``.
    """
    kind = body_model_type(model_type)
    if gender not in GENDERS:
        raise MotionGPTError(f"unknown gender {gender!r}; use one of {', '.join(GENDERS)}")
    if up not in UP_AXES:
        raise MotionGPTError(f"unknown up axis {up!r}; use z (AMASS) or y (SMPL's own frame)")
    local_quats = np.asarray(local_quats, dtype=np.float64)
    root_pos = np.asarray(root_pos, dtype=np.float64)
    offsets = np.asarray(offsets, dtype=np.float64)
    parents = np.asarray(sk.PARENTS)
    if rest_joints is None:
        rest = sk.rest_joint_positions(offsets, parents)
    else:
        rest = check_rest_joints(rest_joints)
    target_offsets = rest - rest[np.maximum(parents, 0)]
    quats = retarget_local_quats(local_quats, rest_alignment(offsets, target_offsets))
    if up == "z":
        quats[:, 0] = qmul(Y_UP_TO_Z_UP, quats[:, 0])
        root_pos = qrot(Y_UP_TO_Z_UP, root_pos)
    frames = len(quats)
    poses = np.zeros((frames, kind.num_joints * 3))
    poses[:, :sk.NUM_JOINTS * 3] = quat_to_axis_angle(quats).reshape(frames, -1)
    out: dict[str, np.ndarray] = {
        "poses": poses,
        "trans": root_pos - rest[0],
        "betas": np.zeros(kind.num_betas),
        "gender": np.array(gender),
        "mocap_framerate": np.array(float(fps)),
        "mocap_frame_rate": np.array(float(fps)),
        "surface_model_type": np.array(kind.name),
        "up_axis": np.array(up),
    }
    if kind.name == "smplx":           # AMASS's SMPL-X files also carry the pose split by part
        out.update(root_orient=poses[:, :3], pose_body=poses[:, 3:66], pose_jaw=poses[:, 66:69],
                   pose_eye=poses[:, 69:75], pose_hand=poses[:, 75:165], num_betas=np.array(kind.num_betas),
                   mocap_time_length=np.array((frames - 1) / float(fps)))
    elif kind.name == "smplh":         # AMASS's SMPL+H files: 8 soft-tissue coefficients, zero here
        out["dmpls"] = np.zeros((frames, 8))
    return out


def world_positions(params: dict[str, np.ndarray], rest_joints: np.ndarray) -> np.ndarray:
    """(T, 22, 3) joint positions that SMPL forward kinematics gives for
    ``params`` on a body with these rest joints (numpy, for checks): what
    the written file means, independent of the ``smplx`` package."""
    from ..motion.kinematics import forward_kinematics
    from ..motion.quaternion import axis_angle_to_quat
    rest = check_rest_joints(rest_joints)
    parents = np.asarray(sk.PARENTS)
    aa = np.asarray(params["poses"], dtype=np.float64)[:, :sk.NUM_JOINTS * 3].reshape(-1, sk.NUM_JOINTS, 3)
    quats = axis_angle_to_quat(aa, np.linalg.norm(aa, axis=-1))
    offsets = rest - rest[np.maximum(parents, 0)]
    positions, _ = forward_kinematics(quats, np.asarray(params["trans"]) + rest[0], offsets, parents)
    return positions
