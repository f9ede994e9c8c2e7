"""``motiongpt export-smpl``: a motion as SMPL / SMPL+H / SMPL-X parameters (AMASS layout)."""
from __future__ import annotations

import argparse

from ..smpl.params import BODY_MODELS, GENDERS, UP_AXES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-smpl", help="write a motion as SMPL-X / SMPL+H / SMPL parameters (AMASS .npz layout)",
        description="Write a 22-joint motion (.bvh, .npz or .json as the engine writes them) as SMPL-family "
                    "parameters in the AMASS layout: poses (axis-angle per frame, body joints in SMPL order, "
                    "hands and face zero), trans, betas (zeros), gender, mocap_framerate. AMASS tools and "
                    "Blender's SMPL-X add-on (Add Animation, format AMASS) read it. With --smpl-model (your own "
                    "SMPL-X/SMPL+H/SMPL .npz files and the smplx package), the rotations are fitted to that "
                    "body's rest pose and pelvis height, and the posed mesh is written too.")
    p.add_argument("motion", help="input motion: .bvh (22-joint, as motiongpt writes it), .npz or .json")
    p.add_argument("out", help="output parameters, .npz")
    p.add_argument("--model-type", choices=tuple(BODY_MODELS), default="smplx",
                   help="body model layout of poses: smplx (55 joints, default), smplh (52, AMASS's) or smpl (24)")
    p.add_argument("--gender", choices=GENDERS, default="neutral", help="gender written to the file and of the "
                                                                       "model file read with --smpl-model")
    p.add_argument("--fps", type=float, help="resample to this frame rate (default: keep the input's)")
    p.add_argument("--up", choices=UP_AXES, default="z",
                   help="z: AMASS's Z-up world (default); y: SMPL's own Y-up frame (the engine's, HumanML3D's)")
    p.add_argument("--smpl-model", metavar="DIR",
                   help="folder with your body model files (DIR/smplx/SMPLX_NEUTRAL.npz or DIR/SMPLX_NEUTRAL.npz); "
                        "fits the rest pose and writes the posed mesh (needs pip install smplx)")
    p.add_argument("--mesh-out", help="where the posed mesh goes (default: OUT_mesh.npz beside OUT)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_export_smpl)


def run_export_smpl(args: argparse.Namespace) -> int:
    from ..smpl.export import export_smpl
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if args.quiet:
            return
        if bar is None:
            from tqdm import tqdm
            bar = tqdm(total=total, desc="posed mesh", unit="frame", leave=False)
        bar.update(done - bar.n)

    try:
        result = export_smpl(args.motion, args.out, model_type=args.model_type, gender=args.gender, fps=args.fps,
                             up=args.up, smpl_model=args.smpl_model, mesh_out=args.mesh_out, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    kind = BODY_MODELS[args.model_type]
    print(f"wrote {result.params_path}: {result.frames} frames at {result.fps:g} fps as {kind.label} parameters "
          f"({kind.num_joints} joints, AMASS layout, {args.up.upper()} up, {args.gender})")
    if result.mesh_path is None:
        print("  rest pose: the engine's T-pose skeleton, pelvis at the origin; pass --smpl-model DIR to fit your "
              "body model's rest pose and pelvis height and to write the posed mesh")
    else:
        print(f"  rest pose and pelvis height from {result.rest_from}")
        print(f"wrote {result.mesh_path}: the posed mesh (vertices, faces, joints) for {result.frames} frames")
    return 0
