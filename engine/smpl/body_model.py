"""The user's own SMPL-family body model files, through the ``smplx`` package.

The model files are licensed to each user and never ship with MotionGPT, so
this is all optional: ``pip install smplx`` (the ``smpl`` extra) and point
``--smpl-model`` at the folder that holds them. Only ``.npz`` files are read,
and without unpickling: the arrays ``smplx`` needs are read with
``allow_pickle=False`` (official SMPL-X .npz files also hold a few pickled
Python objects nobody needs), so a model file cannot run code. SMPL's
``.pkl`` files are pickles (and need ``chumpy``); they are refused with a
message.
"""
from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import MotionFileError, MotionGPTError
from .params import BODY_MODELS, BodyModelType, body_model_type

REQUIRED_ARRAYS: dict[str, tuple[str, ...]] = {
    "smpl": ("v_template", "shapedirs", "posedirs", "J_regressor", "kintree_table", "weights", "f"),
}
REQUIRED_ARRAYS["smplh"] = REQUIRED_ARRAYS["smpl"] + ("hands_componentsl", "hands_componentsr", "hands_meanl",
                                                      "hands_meanr")
REQUIRED_ARRAYS["smplx"] = REQUIRED_ARRAYS["smplh"] + ("lmk_faces_idx", "lmk_bary_coords")
OPTIONAL_ARRAYS: tuple[str, ...] = ("dynamic_lmk_faces_idx", "dynamic_lmk_bary_coords")

FRAMES_PER_BATCH = 64
EXPRESSION_COEFFS = 10


def find_model_file(path: str | Path, model_type: str = "smplx", gender: str = "neutral") -> Path:
    """The .npz model file for ``model_type`` and ``gender`` under ``path``:
    the file itself, ``path/SMPLX_NEUTRAL.npz`` or ``path/smplx/SMPLX_NEUTRAL.npz``
    (the layout ``smplx.create`` uses)."""
    kind = body_model_type(model_type)
    path = Path(path)
    name = f"{kind.file_prefix}_{gender.upper()}.npz"
    if path.is_file():
        candidates = [path]
    elif path.is_dir():
        candidates = [path / name, path / kind.name / name]
    else:
        raise MotionFileError(path, "no such file or folder; --smpl-model takes the folder that holds your "
                                    f"{kind.label} model files (e.g. models/ with smplx/{name} in it)")
    for cand in candidates:
        if cand.is_file():
            if cand.suffix.lower() != ".npz":
                raise MotionFileError(cand, "is not an .npz model file; MotionGPT reads only .npz body models "
                                            "(.pkl files are Python pickles that can run code when loaded): use "
                                            f"the .npz files from the {kind.label} download")
            return cand
    pickles = [c.with_suffix(".pkl") for c in candidates if c.with_suffix(".pkl").is_file()]
    hint = (f"; found {pickles[0].name}, but .pkl model files are Python pickles that can run code when loaded, "
            f"so only the .npz files of the {kind.label} download are read") if pickles else ""
    raise MotionFileError(path, f"has no {name} (looked for {', '.join(str(c) for c in candidates)}){hint}. "
                                "Download the model files from the body model's website (they are licensed "
                                "to you and do not ship with MotionGPT)")


def load_model_arrays(path: Path, kind: BodyModelType) -> dict[str, np.ndarray]:
    """The numeric arrays ``smplx`` needs from a model .npz, read without
    unpickling anything; a clear error for a file that lacks one."""
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                if key not in REQUIRED_ARRAYS[kind.name] and key not in OPTIONAL_ARRAYS:
                    continue
                try:
                    arrays[key] = data[key]
                except ValueError:          # a pickled object array: not read
                    continue
    except (OSError, ValueError) as exc:
        raise MotionFileError(path, f"cannot be read as an .npz body model ({exc})") from exc
    missing = [k for k in REQUIRED_ARRAYS[kind.name] if k not in arrays]
    if missing:
        raise MotionFileError(path, f"is not an {kind.label} model file: it lacks {', '.join(missing)} "
                                    f"(use --model-type to say which body model it is: {', '.join(BODY_MODELS)})")
    joints = arrays["J_regressor"].shape[0]
    if joints != kind.num_joints:
        guess = next((k.name for k in BODY_MODELS.values() if k.num_joints == joints), None)
        raise MotionFileError(path, f"has {joints} joints, but {kind.label} has {kind.num_joints}"
                                    + (f"; it looks like --model-type {guess}" if guess else ""))
    return arrays


class BodyModel:
    """One SMPL-family body (betas zero) loaded with ``smplx``: its rest
    joints, faces, and the posed mesh of a parameter sequence."""

    def __init__(self, path: str | Path, model_type: str = "smplx", gender: str = "neutral"):
        try:
            import smplx  # noqa: F401  (optional dependency)
        except ImportError:
            raise MotionGPTError("writing the posed mesh needs the smplx package: pip install smplx (or "
                                 "pip install -e '.[smpl]')") from None
        self.kind = body_model_type(model_type)
        self.gender = gender
        self.path = find_model_file(path, self.kind.name, gender)
        self.arrays = load_model_arrays(self.path, self.kind)
        self.faces = np.asarray(self.arrays["f"], dtype=np.int64)

    @property
    def rest_joints(self) -> np.ndarray:
        """(J, 3) rest joint positions with betas zero: J_regressor @ v_template."""
        return np.asarray(self.arrays["J_regressor"], dtype=np.float64) @ np.asarray(self.arrays["v_template"],
                                                                                      dtype=np.float64)

    def _module(self, batch: int):
        """An ``smplx`` module for ``batch`` frames, built from the arrays
        read above (never from the user's file directly). smplx prints a
        warning on stdout for models with few shape components; betas are
        zero here, so it is dropped rather than mixed into our output."""
        with contextlib.redirect_stdout(io.StringIO()):
            return self._make_module(batch)

    def _make_module(self, batch: int):
        import smplx
        from smplx.utils import Struct
        options = dict(gender=self.gender, ext="npz", batch_size=batch, num_betas=self.kind.num_betas)
        if self.kind.name == "smpl":
            return smplx.SMPL(str(self.path), data_struct=Struct(**self.arrays), **options)
        options.update(use_pca=False, flat_hand_mean=True)
        if self.kind.name == "smplh":
            return smplx.SMPLH(str(self.path), data_struct=Struct(**self.arrays), **options)
        options["num_expression_coeffs"] = EXPRESSION_COEFFS
        # SMPL-X always opens a file: give it a copy that holds only the checked arrays
        with tempfile.TemporaryDirectory(prefix="motiongpt_smplx_") as tmp:
            clean = Path(tmp) / f"{self.kind.file_prefix}_{self.gender.upper()}.npz"
            np.savez(clean, **self.arrays)
            return smplx.SMPLX(str(clean), **options)

    def forward(self, params: dict[str, np.ndarray], progress: Callable[[int], None] | None = None,
                cancelled: Callable[[], bool] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(vertices (T, V, 3), joints (T, J, 3)) float32 for AMASS-layout
        ``params`` (as :func:`params.smpl_parameters` writes), in batches of
        :data:`FRAMES_PER_BATCH` frames (the last one padded: smplx sizes some
        buffers to the module's batch); ``progress(frames_done)`` after each,
        ``cancelled()`` checked before each (raises KeyboardInterrupt)."""
        import torch
        poses = np.asarray(params["poses"], dtype=np.float32)
        trans = np.asarray(params["trans"], dtype=np.float32)
        frames = len(poses)
        batch = min(FRAMES_PER_BATCH, frames)
        module = self._module(batch)
        verts_out, joints_out = [], []
        with torch.no_grad():
            for start in range(0, frames, batch):
                if cancelled is not None and cancelled():
                    raise KeyboardInterrupt
                stop = min(frames, start + batch)
                pad = batch - (stop - start)
                p = torch.from_numpy(np.pad(poses[start:stop], ((0, pad), (0, 0))))
                t = torch.from_numpy(np.pad(trans[start:stop], ((0, pad), (0, 0))))
                out = module(**self._inputs(module, p, t))
                verts_out.append(out.vertices[:stop - start].numpy())
                joints_out.append(out.joints[:stop - start, :self.kind.num_joints].numpy())
                if progress is not None:
                    progress(stop)
        return np.concatenate(verts_out), np.concatenate(joints_out)

    def _inputs(self, module, poses, trans) -> dict:
        """The keyword arguments of the module's forward for a batch, every
        one given (zero shape, expression, flat hands) so none of smplx's
        defaults is used; shape sizes are the module's (smplx caps betas at
        10 for a model with fewer than 300 shape components)."""
        import torch
        n = len(poses)
        args = dict(global_orient=poses[:, :3], transl=trans, betas=torch.zeros(n, module.num_betas))
        if self.kind.name == "smpl":
            args["body_pose"] = poses[:, 3:72]
            return args
        args["body_pose"] = poses[:, 3:66]
        if self.kind.name == "smplh":
            args.update(left_hand_pose=poses[:, 66:111], right_hand_pose=poses[:, 111:156])
        else:
            args.update(jaw_pose=poses[:, 66:69], leye_pose=poses[:, 69:72], reye_pose=poses[:, 72:75],
                        left_hand_pose=poses[:, 75:120], right_hand_pose=poses[:, 120:165],
                        expression=torch.zeros(n, module.num_expression_coeffs))
        return args
