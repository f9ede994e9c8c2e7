"""Write a generated stretch back onto the take's own BVH skeleton.

``continue`` and ``inbetween`` of a BVH read the take through its bone
mapping (:mod:`engine.pipeline.any_bvh`) and the model answers on the
engine's 22 joints. Here the answer goes back into the take: same
hierarchy, offsets, channel order and frame time; every frame outside the
written range is the input's own line of text; bones the 22 joints do not
drive (fingers, twist bones, extra spine bones) keep the input's rotation
(held from the last kept frame, or turned smoothly from one key to the other
across an in-between gap).

For a mapped bone b playing engine joint e, with a mapped child bone c
playing e's child:

1. ``A`` turns b's rest direction (toward c) onto the engine's rest
   direction of e's bone (constant: T- vs A-pose, CMU's femur angles);
2. per frame the bone's world rotation is ``S(t) Q_e(t) A``, ``Q_e`` the
   engine joint's world rotation (its twist) and ``S`` the shortest arc
   that points the bone exactly at where the engine puts c;
3. the local rotation that gives, relative to the parent's world rotation,
   is calibrated at the kept frame(s) next to the written range: a constant
   offset ``C`` (an in-between gap turns from its left to its right value)
   makes the first and last written frames continue the input's own
   rotations, so the seam has no pop in twist or rest alignment.

Bones without a mapped child (hands, head, toes) keep their input local
rotation like unmapped bones. The root's position channels follow the
engine's pelvis; a root above the hips (a "Reference" bone) is held.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import bvh_library
from ..errors import MotionGPTError
from ..motion import bvh
from ..motion import skeleton as sk
from ..motion.quaternion import matrix_to_quat, qbetween, qidentity, qinv, qmul, qnormalize, qrot, slerp
from .motion_io import Motion


def _local_quats(parsed: bvh.BvhMotion) -> np.ndarray:
    return bvh.bvh_to_local_quats(parsed)[0]            # (F, J, 4) in the file's axes


def _aims(parsed: bvh.BvhMotion, mapping: dict[str, str]) -> dict[int, tuple[int, int, int]]:
    """Mapped take bone -> (engine joint, its engine child joint, the take bone playing that child)."""
    bone_of = {j: parsed.names.index(b) for j, b in mapping.items() if b in parsed.names}
    out = {}
    for joint, bone in bone_of.items():
        e = sk.JOINT_INDEX[joint]
        children = [c for c in range(sk.NUM_JOINTS) if sk.PARENTS[c] == e and sk.JOINT_NAMES[c] in bone_of]
        # the pelvis and chest aim up the spine (their other children fix their twist through Q_e)
        up = {"pelvis": "spine1", "spine1": "spine2", "spine2": "spine3", "spine3": "neck"}
        preferred = [c for c in children if sk.JOINT_NAMES[c] == up.get(joint)]
        child = (preferred or children or [None])[0]
        if child is not None:
            out[bone] = (e, child, bone_of[sk.JOINT_NAMES[child]])
    return out


def solve_take_rotations(parsed: bvh.BvhMotion, mapping: dict[str, str], motion: Motion, scale: float,
                         up: str, frames: np.ndarray, calibrate: tuple[int, int | None]) -> tuple[np.ndarray, np.ndarray]:
    """Local rotations (len(frames), J, 4) of every take joint in the file's
    axes, and where the hips go (len(frames), 3) in file units, for the
    given frames of ``motion`` (the engine's answer at the file's frame
    rate). ``calibrate`` names the kept frame before the range and the one
    after it (None for a continuation)."""
    U = bvh_library.UP_AXES[up]                      # file -> Y up: y = U x
    Uq = matrix_to_quat(U)
    Uq_inv = qinv(Uq)
    file_quats = _local_quats(parsed)
    rest_y = (bvh.rest_points(parsed)[:parsed.num_joints] @ U.T) * scale   # joints first, then End Sites
    engine_world = motion.world_quats()
    engine_pos = motion.positions()
    engine_rest = sk.rest_joint_positions(motion.offsets)             # only differences are used
    aims = _aims(parsed, mapping)
    before, after = calibrate
    n = len(frames)

    def to_y(q: np.ndarray) -> np.ndarray:           # a rotation in the file's axes, seen in Y-up axes
        return qmul(qmul(Uq, q), Uq_inv)

    def formula(idx: np.ndarray, b: int) -> np.ndarray:
        """The bone's world rotation (Y up) from the engine: S Q_e A."""
        e, ce, c = aims[b]
        take_dir = rest_y[c] - rest_y[b]
        A = qbetween(take_dir, engine_rest[ce] - engine_rest[e])
        w0 = qmul(engine_world[idx, e], np.broadcast_to(A, (len(idx), 4)))
        return qnormalize(qmul(qbetween(qrot(w0, np.broadcast_to(take_dir, (len(idx), 3))),
                                        engine_pos[idx, ce] - engine_pos[idx, e]), w0))

    def file_world(frame: int) -> np.ndarray:
        """(J, 4) world rotations of the take at a kept frame, Y up."""
        world = np.zeros((parsed.num_joints, 4))
        for b in range(parsed.num_joints):
            p = parsed.parents[b]
            world[b] = qmul(world[p], file_quats[frame, b]) if p >= 0 else file_quats[frame, b]
        return to_y(world)

    refs = [before] + ([after] if after is not None else [])
    t = ((frames - before) / max((after or before) - before, 1))[:, None]
    # per mapped bone, the constant turn (world, right side) that makes the formula give the take's own
    # rotation at the kept frame(s): its rest alignment and twist, kept through the new frames
    offsets = {}
    for b in aims:
        at_refs = [qmul(qinv(formula(np.array([r]), b)[0]), file_world(r)[b]) for r in refs]
        if after is None:
            offsets[b] = np.broadcast_to(at_refs[0], (n, 4))
        else:
            offsets[b] = slerp(np.broadcast_to(at_refs[0], (n, 4)), np.broadcast_to(at_refs[1], (n, 4)), t[:, 0])
    held = file_quats[before][None].repeat(n, axis=0)             # unmapped bones: held ...
    if after is not None:                                          # ... or turned from key to key
        held = slerp(held, np.broadcast_to(file_quats[after], held.shape), np.broadcast_to(t, held.shape[:2]))
    world = np.zeros((n, parsed.num_joints, 4))
    local = np.zeros((n, parsed.num_joints, 4))
    for b in range(parsed.num_joints):
        p = parsed.parents[b]
        parent = world[:, p] if p >= 0 else qidentity((n,))
        if b in aims:
            e, ce, c = aims[b]
            w = qmul(formula(frames, b), offsets[b])
            aim = qrot(w, np.broadcast_to(rest_y[c] - rest_y[b], (n, 3)))    # then point exactly at the engine's
            world[:, b] = qnormalize(qmul(qbetween(aim, engine_pos[frames, ce] - engine_pos[frames, e]), w))
            local[:, b] = qmul(qmul(Uq_inv[None], qmul(qinv(parent), world[:, b])), Uq[None])
        else:
            local[:, b] = held[:, b]
            world[:, b] = qmul(parent, to_y(held[:, b]))
    pelvis = sk.JOINT_INDEX["pelvis"]
    pelvis_pos = (engine_pos[frames, pelvis] / scale) @ U          # back to file axes and units
    return qnormalize(local), pelvis_pos


def _angles_like(quats: np.ndarray, order: str, reference: np.ndarray, reference_quat: np.ndarray) -> np.ndarray:
    """Continuous Euler angles (degrees) of ``quats`` (F, 4) starting from the
    file's own angles ``reference`` at the kept frame (its branch and turns)."""
    seq = bvh.continuous_euler(np.concatenate([reference_quat[None], quats], axis=0), order)
    candidates = [seq, bvh._flip_euler(seq)]
    best = min(candidates, key=lambda s: np.abs(((reference - s[0]) + 180.0) % 360.0 - 180.0).sum())
    shift = np.round((reference - best[0]) / 360.0) * 360.0
    return (best + shift)[1:]


def write_on_take(source: str | Path, out: str | Path, motion: Motion, written: tuple[int, int],
                  bone_map: dict[str, str] | None = None) -> Path:
    """Write ``motion`` (the engine's answer for the whole take at its frame
    rate; frames ``written[0]..written[1]-1`` are new) into a copy of the
    BVH ``source`` on its own skeleton (module docstring)."""
    from .any_bvh import bone_mapping
    source, out = Path(source), Path(out)
    parsed = bvh.read_bvh(source)
    mapping, _ = bone_mapping(parsed, source, bone_map)
    scale = bvh.guess_scale_to_metres(parsed)
    positions = bvh_library.mapped_positions(parsed, mapping, source, scale)
    up = bvh_library.detect_up_axis(positions, source)
    start, stop = written
    total = motion.num_frames
    if not 0 < start <= stop <= total:
        raise MotionGPTError(f"frames {start}..{stop - 1} are not a range to write in a {total}-frame motion")
    root = int(np.flatnonzero(parsed.parents < 0)[0])
    if not parsed.has_position(root):
        raise MotionGPTError(f"{source}: its root bone '{parsed.names[root]}' has no position channels, so the "
                             "new frames could not move; pass --skeleton smpl for the engine's 22-joint BVH")
    frames = np.arange(start, stop)
    after = stop if stop < parsed.num_frames and stop < total else None
    local, pelvis_pos = solve_take_rotations(parsed, mapping, motion, scale, up, frames, (start - 1, after))
    values = np.zeros((len(frames), parsed.num_channels))
    file_quats = _local_quats(parsed)
    reference_row = parsed.values[start - 1]
    for j in range(parsed.num_joints):
        channels = parsed.channels[j]
        rotation = [c for c in channels if c.endswith("rotation")]
        if rotation:
            order = parsed.rotation_order(j)
            cols = [parsed.channel_column(j, c) for c in rotation]
            ref_angles = reference_row[cols]
            if len(order) == 3 and len(set(order)) == 3:
                # angles in the channel order, continuing the kept frame's own angles
                values[:, cols] = _angles_like(local[:, j], order, ref_angles, file_quats[start - 1, j])
            else:                   # a joint that turns about fewer than three axes keeps the kept frame's angles
                values[:, cols] = ref_angles
        for axis, name in enumerate(("Xposition", "Yposition", "Zposition")):
            col = parsed.channel_column(j, name)
            if col is None:
                continue
            values[:, col] = 0.0 if j == root else reference_row[col]
    # the root moves so that the hips land where the engine put them: forward kinematics of the new
    # rotations with the root at the origin, then the difference (a translation moves every bone alike)
    pelvis_bone = parsed.names.index(mapping["pelvis"])
    trial = bvh.BvhMotion(parsed.names, parsed.parents, parsed.offsets, parsed.channels, parsed.end_sites,
                          parsed.frame_time, values)
    at_origin = bvh.bvh_joint_positions(trial)[:, pelvis_bone]
    for axis, name in enumerate(("Xposition", "Yposition", "Zposition")):
        col = parsed.channel_column(root, name)
        if col is not None:
            values[:, col] = pelvis_pos[:, axis] - at_origin[:, axis]
    lines = _text_lines(source)
    motion_at = next(i for i, line in enumerate(lines) if line.strip().upper() == "MOTION")
    frames_at = next(i for i in range(motion_at + 1, len(lines)) if lines[i].strip())
    time_at = next(i for i in range(frames_at + 1, len(lines)) if lines[i].strip())
    kept = [line for line in lines[time_at + 1:] if line.strip()]
    new = [" ".join(f"{v:.6f}" for v in row) for row in values]
    body = kept[:start] + new + (kept[stop:] if stop < len(kept) else [])
    header = lines[:frames_at] + [f"Frames: {len(body)}", lines[time_at]]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(header + body) + "\n", encoding="utf-8")
    return out


def _text_lines(path: Path) -> list[str]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.splitlines()
