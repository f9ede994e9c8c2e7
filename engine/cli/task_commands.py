"""``motiongpt generate | inbetween | continue | caption``: the model's tasks on files.

Motions are read from and written to .bvh (22-joint SMPL skeleton,
centimetres), .npz (arrays: local_quats, root_translation, rest_offsets,
joint_positions, fps) or .json (the server's motion object), chosen by the
extension. The same validation and pipeline as the server's jobs run here.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..device import DEVICE_CHOICES, DEVICE_HELP, device_note
from ..errors import MotionGPTError

FLAGS = {
    "seconds": "--seconds", "seed": "--seed", "variants": "--variants", "fps": "--fps", "from_frame": "--from",
    "to_frame": "--to", "options.foot_cleanup": "--foot-cleanup", "options.in_place": "--in-place",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="text -> motion (.bvh, .npz or .json)",
                       description="Generate motion from a text prompt. With --variants K and --out walk.bvh the "
                                   "files are walk_1.bvh ... walk_K.bvh; variant i uses seed SEED + i - 1.")
    p.add_argument("text", metavar="TEXT", help="what the motion shows, e.g. \"a person walks forward\"")
    p.add_argument("--seconds", type=float, help="length in seconds (default: the typical length of the action "
                                                 "the prompt is read as, at most 10 s)")
    p.add_argument("--variants", type=int, default=1, help="how many different motions (1..8, default 1)")
    p.add_argument("--fps", type=float, default=20.0, help="frame rate of the output (default 20, the model's)")
    p.add_argument("--path", metavar="FILE", help="walk (or run) along this ground path: JSON {\"points\": [[x, z], "
                                                  "...], \"seconds\": optional} in metres (Y up; the motion starts "
                                                  "at the first point) or a CSV of x,z rows")
    _common(p, seed=True, post=True, out=True)
    p.set_defaults(handler=run_generate)

    p = sub.add_parser("inbetween", help="regenerate the frames between two keys of a motion",
                       description="Fill the frames strictly between --from and --to (frame numbers at the "
                                   "file's frame rate, first frame 0). Every other frame, the two keys included, "
                                   "is kept exactly.")
    _motion_input(p)
    p.add_argument("--from", dest="from_frame", type=int, required=True, help="first key frame (kept)")
    p.add_argument("--to", dest="to_frame", type=int, required=True, help="second key frame (kept)")
    p.add_argument("--text", help="what should happen in between (optional)")
    _common(p, seed=True, post=True, out=True)
    _skeleton_choice(p)
    p.set_defaults(handler=run_inbetween)

    p = sub.add_parser("continue", help="append new motion after the end of a motion",
                       description="Continue a motion for --seconds more; the input frames are kept exactly.")
    _motion_input(p)
    p.add_argument("--seconds", type=float, required=True, help="how many seconds to add")
    p.add_argument("--text", help="what should happen next (optional)")
    p.add_argument("--path", metavar="FILE", help="the new frames walk (or run) along this ground path (as generate "
                                                  "--path takes it, in the input's world), moved to start where the "
                                                  "input ends")
    _common(p, seed=True, post=True, out=True)
    _skeleton_choice(p)
    p.set_defaults(handler=run_continue)

    p = sub.add_parser("caption", help="describe a motion (or every BVH of a folder) in words",
                       description="Print a text description of a motion file's first 10 seconds. Given a folder "
                                   "and --out captions.jsonl: caption every BVH below it (any biped skeleton; "
                                   "takes longer than 10 s in 10 s windows), one JSON line per file in the format "
                                   "'build-data --bvh-library' reads, resumable (files already in --out are "
                                   "skipped); a file that cannot be read gets a line with the reason.")
    _motion_input(p)
    _common(p, seed=False, post=False, out=False)
    p.add_argument("--out", help="with a folder: the captions JSON-lines file to write (and resume)")
    p.set_defaults(handler=run_caption)


def _motion_input(p: argparse.ArgumentParser) -> None:
    """The motion a task reads: a file on any skeleton, and how to map its bones."""
    p.add_argument("input", metavar="IN", help="motion file (.bvh on any biped skeleton, .npz or .json)")
    p.add_argument("--bone-map", metavar="FILE", help="bone map JSON (as the add-on's Bone Map panel saves it) for "
                                                      "a BVH whose bones are not found by name (default: a "
                                                      "bone_map.json beside the file or a folder above it)")


def _skeleton_choice(p: argparse.ArgumentParser) -> None:
    p.add_argument("--skeleton", choices=("own", "smpl"), default="own",
                   help="own (default): a BVH is written on the input take's own skeleton (its bones, offsets, "
                        "channels and frame time; the frames outside the new ones are the input's lines); smpl: "
                        "the engine's 22-joint BVH")


def _common(p: argparse.ArgumentParser, seed: bool, post: bool, out: bool) -> None:
    if seed:
        p.add_argument("--seed", type=int, help="random seed (default: pick one and print it)")
    if post:
        p.add_argument("--foot-cleanup", action=argparse.BooleanOptionalAction, default=True,
                       help="lock planted feet (two-bone leg IK) and keep them above the floor (default: on; "
                            "--no-foot-cleanup for the raw decoded motion)")
        p.add_argument("--in-place", action="store_true", help="remove the root's horizontal travel")
    if out:
        p.add_argument("--out", required=True, help="output file: .bvh, .npz or .json")
    p.add_argument("--model", help="model folder (default: $MOTIONGPT_MODEL when set, else models/default)")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help=DEVICE_HELP)
    p.add_argument("--threads", type=int, help="torch CPU threads (default 1: fastest for this small model)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


# ------------------------------------------------------------------------------

def run_generate(args: argparse.Namespace) -> int:
    from ..pipeline.motion_io import check_suffix
    out = Path(args.out)
    check_suffix(out)
    params = {"text": args.text, "seconds": args.seconds, "seed": args.seed, "variants": args.variants,
              "fps": args.fps, "options": _options(args)}
    if args.path:
        from ..pipeline.path_follow import read_path_file
        params["path"] = read_path_file(args.path)
    result, _ = _run("generate", params, args, what=None)
    seeds = result["seeds"]
    paths = [out] if len(seeds) == 1 else [out.with_name(f"{out.stem}_{i + 1}{out.suffix}") for i in range(len(seeds))]
    for motion, path in zip(result["motions"], paths):
        motion.save(path)
    if len(paths) == 1:
        m = result["motions"][0]
        print(f"wrote {paths[0]} ({m.num_frames} frames at {m.fps:g} fps, seed {seeds[0]})")
    else:
        print(f"wrote {len(paths)} variants (--variants {len(paths)} numbers the files): "
              + ", ".join(str(p) for p in paths))
        print("seeds " + ", ".join(str(s) for s in seeds) + f"; --seed {seeds[0]} makes the same set again")
    return 0


def run_inbetween(args: argparse.Namespace) -> int:
    out = _check_out(args.out)
    params = {"motion": _load(args.input, args.bone_map), "from_frame": args.from_frame, "to_frame": args.to_frame,
              "text": args.text, "seed": args.seed, "options": _options(args)}
    result, motion = _run("inbetween", params, args, what=args.input)
    _save(result["motion"], out, args, (args.from_frame + 1, args.to_frame))
    print(f"wrote {out}: frames {args.from_frame + 1}..{args.to_frame - 1} regenerated, "
          f"{motion.num_frames} frames at {motion.fps:g} fps (seed {result['seed']})")
    return 0


def run_continue(args: argparse.Namespace) -> int:
    out = _check_out(args.out)
    params = {"motion": _load(args.input, args.bone_map), "seconds": args.seconds, "text": args.text, "seed": args.seed,
              "options": _options(args)}
    if args.path:
        from ..pipeline.path_follow import read_path_file
        params["path"] = read_path_file(args.path)
    result, motion = _run("continue", params, args, what=args.input)
    m = result["motion"]
    _save(m, out, args, (motion.num_frames, m.num_frames))
    print(f"wrote {out}: {motion.num_frames} input frames + {m.num_frames - motion.num_frames} new at "
          f"{m.fps:g} fps (seed {result['seed']})")
    return 0


def _on_own_skeleton(args: argparse.Namespace, out: Path) -> bool:
    """Whether the result goes back onto the input take's own skeleton: a
    BVH in and out, not the engine's skeleton already, unless --skeleton smpl."""
    if args.skeleton != "own" or Path(args.input).suffix.lower() != ".bvh" or out.suffix.lower() != ".bvh":
        return False
    from ..motion.bvh import read_bvh
    from ..pipeline.any_bvh import is_engine_skeleton
    return not is_engine_skeleton(read_bvh(args.input))


def _save(motion, out: Path, args: argparse.Namespace, written: tuple[int, int]) -> None:
    if _on_own_skeleton(args, out):
        from ..pipeline.own_skeleton import write_on_take
        bone_map = None
        if args.bone_map:
            from ..data.rig_map import load_bone_map_file
            bone_map = load_bone_map_file(args.bone_map)
        write_on_take(args.input, out, motion, written, bone_map)
    else:
        motion.save(out)


def run_caption(args: argparse.Namespace) -> int:
    if Path(args.input).is_dir():
        return _caption_library(args)
    result, _ = _run("caption", {"motion": _load(args.input, args.bone_map)}, args, what=args.input)
    print(result["caption"])
    return 0


def _caption_library(args: argparse.Namespace) -> int:
    from ..pipeline import jobs
    from ..pipeline.library_captions import caption_library
    from ..runtime import inference_threads, set_torch_threads
    if not args.out:
        raise MotionGPTError(f"{args.input} is a folder: give --out captions.jsonl to caption every BVH in it")
    bone_map = None
    if args.bone_map:
        from ..data.rig_map import load_bone_map_file
        bone_map = load_bone_map_file(args.bone_map)
    set_torch_threads(inference_threads(args.threads))
    model = jobs.load_model(args.model, args.device)
    summary = caption_library(model, args.input, args.out, bone_map, progress=not args.quiet)
    print(f"wrote {args.out}: {summary.captioned} captioned, {summary.failed} could not be read"
          + (f", {summary.skipped} already there (skipped)" if summary.skipped else ""))
    for rel, why in sorted(summary.problems.items()):
        print(f"  {rel}: {why}")
    return 0


# ------------------------------------------------------------------------------

def _options(args: argparse.Namespace) -> dict:
    return {"foot_cleanup": bool(args.foot_cleanup), "in_place": bool(args.in_place)}


def _check_out(path: str) -> Path:
    from ..pipeline.motion_io import check_suffix
    out = Path(path)
    check_suffix(out)
    return out


def _load(path: str, bone_map_file: str | None = None):
    from ..pipeline.motion_io import Motion
    bone_map = None
    if bone_map_file:
        from ..data.rig_map import load_bone_map_file
        bone_map = load_bone_map_file(bone_map_file)
    return Motion.load(path, bone_map)


def _run(task: str, params: dict, args: argparse.Namespace, what: str | None):
    """Validate (ParamErrors worded with the CLI's flags / the input file),
    load the model, run the task with a progress bar. Returns the result
    with Motions (not dicts) and the input motion, if any."""
    from ..pipeline import jobs, tasks
    from ..pipeline.errors import ParamError
    try:
        p = jobs.validate_job(task, params)
    except ParamError as exc:
        raise MotionGPTError(f"{_where(exc.field, what, task)}: {exc.message}") from exc
    from ..runtime import inference_threads, set_torch_threads
    if args.threads is not None and args.threads < 1:
        raise MotionGPTError(f"--threads must be at least 1, got {args.threads}")
    set_torch_threads(inference_threads(args.threads))
    model = jobs.load_model(args.model, args.device)
    note = device_note(model)
    if note and not args.quiet:
        print(f"note: {note}", file=sys.stderr)
    seed = p.get("seed")
    if task != "caption" and seed is None:
        seed = jobs.pick_seed()
    if task == "generate":
        from ..pipeline.compose import chained_pieces, generate_chain
        if chained_pieces(p["text"]):
            with _Progress(args.quiet, task) as bar:
                motions, understood = generate_chain(model, p["text"], p["seconds"], seed, p["variants"], p["fps"],
                                                     p["options"], progress=bar.update)
            print(understood["message"], flush=True)
            return {"motions": motions, "seeds": [seed + 100 * i for i in range(len(motions))]}, None
    try:
        reading = tasks.read_prompt(model, p.get("text"))
        if reading is not None:
            print(reading.message, flush=True)      # before the work: the animator sees how the words were taken
        with _Progress(args.quiet, task) as bar:
            kw = dict(progress=bar.update)
            if task == "generate":
                motions = tasks.generate(model, reading, p["seconds"], seed, p["variants"], p["fps"], p["options"],
                                         path=p.get("path"), **kw)
                return {"motions": motions, "seeds": [seed + i for i in range(len(motions))]}, None
            if task == "inbetween":
                m = tasks.inbetween(model, p["motion"], p["from_frame"], p["to_frame"], reading, seed,
                                    p["options"], **kw)
                return {"motion": m, "seed": seed}, p["motion"]
            if task == "continue":
                m = tasks.continue_motion(model, p["motion"], p["seconds"], reading, seed, p["options"], **kw)
                return {"motion": m, "seed": seed}, p["motion"]
            return {"caption": tasks.caption(model, p["motion"], **kw)}, p["motion"]
    except ParamError as exc:
        raise MotionGPTError(f"{_where(exc.field, what, task)}: {exc.message}") from exc


def _where(field: str, what: str | None, task: str) -> str:
    if field == "motion" or field.startswith("motion."):
        return str(what)
    if field == "text":
        return "TEXT" if task == "generate" else "--text"
    return FLAGS.get(field, field)


class _Progress:
    """A tqdm bar fed by the pipeline's progress(fraction, message)."""

    def __init__(self, quiet: bool, task: str):
        self.quiet = quiet
        self.task = task
        self.bar = None

    def __enter__(self) -> "_Progress":
        if not self.quiet:
            from tqdm import tqdm
            self.bar = tqdm(total=100, desc=self.task, unit="%", leave=False,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}")
        return self

    def update(self, fraction: float, message: str = "") -> None:
        if self.bar is None:
            return
        self.bar.set_description_str(f"{self.task}: {message}" if message else self.task, refresh=False)
        self.bar.update(max(0, int(round(fraction * 100)) - self.bar.n))

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()
