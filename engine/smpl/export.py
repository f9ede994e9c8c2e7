"""Write a motion file as SMPL-family parameters (and the posed mesh)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import MotionFileError
from ..pipeline.motion_io import Motion, check_fps
from .params import body_model_type, smpl_parameters


@dataclass
class SmplExport:
    """What :func:`export_smpl` wrote."""
    params_path: Path
    mesh_path: Path | None
    frames: int
    fps: float
    rest_from: str          # "engine skeleton" or the model file used
    params: dict[str, np.ndarray]


def mesh_path_for(out: str | Path) -> Path:
    """Where the posed mesh goes by default: OUT_mesh.npz beside OUT.npz."""
    out = Path(out)
    return out.with_name(out.stem + "_mesh.npz")


def _check_not_input(source: Path, target: Path, flag: str) -> None:
    """Refuse to write over the motion being read."""
    try:
        same = target.exists() and source.exists() and target.resolve() == source.resolve()
    except OSError:
        same = False
    if same:
        raise MotionFileError(target, f"is the input motion itself; give {flag} another file name so the input "
                                      "is kept")


def export_smpl(source: str | Path, out: str | Path, *, model_type: str = "smplx", gender: str = "neutral",
                fps: float | None = None, up: str = "z", smpl_model: str | Path | None = None,
                mesh_out: str | Path | None = None, progress: Callable[[int, int], None] | None = None,
                cancelled: Callable[[], bool] | None = None) -> SmplExport:
    """Read a motion (.bvh / .npz / .json, see :meth:`Motion.load`), write its
    AMASS-layout parameters to ``out`` (.npz) and, when ``smpl_model`` names
    the user's body model files, the posed mesh to ``mesh_out`` (default
    :func:`mesh_path_for`): ``vertices`` (T, V, 3) float32, ``faces``,
    ``joints``, ``fps``. ``progress(done, total)`` counts mesh frames."""
    out = Path(out)
    if out.suffix.lower() != ".npz":
        raise MotionFileError(out, "the parameters are written as .npz (the AMASS layout); name the output *.npz")
    kind = body_model_type(model_type)
    _check_not_input(Path(source), out, "--out")
    if mesh_out is not None:
        _check_not_input(Path(source), Path(mesh_out), "--mesh-out")
    motion = Motion.load(source)
    if fps is not None:
        motion = motion.resample(check_fps(fps, "--fps"))
    body = None
    rest_joints = None
    if smpl_model is not None:
        from .body_model import BodyModel
        body = BodyModel(smpl_model, kind.name, gender)
        rest_joints = body.rest_joints
    params = smpl_parameters(motion.local_quats, motion.root_pos, motion.offsets, motion.fps,
                             model_type=kind.name, gender=gender, rest_joints=rest_joints, up=up)
    bad = [k for k, v in params.items() if np.asarray(v).dtype.kind == "f" and not np.isfinite(v).all()]
    if bad:
        raise MotionFileError(Path(source), f"gives NaN or infinite SMPL parameters ({', '.join(sorted(bad))}); "
                                            "its rest offsets or root path are out of any body's range. Nothing "
                                            "was written")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as fh:
        np.savez(fh, **params)
    mesh = None
    if body is not None:
        total = motion.num_frames
        vertices, joints = body.forward(params, None if progress is None else (lambda done: progress(done, total)),
                                        cancelled)
        mesh = Path(mesh_out) if mesh_out is not None else mesh_path_for(out)
        mesh.parent.mkdir(parents=True, exist_ok=True)
        with open(mesh, "wb") as fh:
            np.savez(fh, vertices=vertices, faces=body.faces.astype(np.int32), joints=joints,
                     fps=np.array(motion.fps), up_axis=np.array(up))
    return SmplExport(out, mesh, motion.num_frames, motion.fps,
                      "engine skeleton" if body is None else str(body.path), params)
