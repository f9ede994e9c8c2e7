"""``motiongpt compose``: a shot from a timeline of prompts."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..errors import MotionGPTError

ITEM_FORMAT = re.compile(r"^(?P<text>.+?)@(?P<start>[0-9.]+)-(?P<end>[0-9.]+)(?::(?P<parts>[a-z_,]+))?$")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compose", help="a shot from a timeline of prompts (one after another, or at once on body "
                                       "parts)",
                       description="Make one motion from several prompts on a timeline. Items that follow each "
                                   "other are joined by generated transitions; items on body parts (upper_body, "
                                   "left_arm, right_arm, head) ride on the whole-body or lower_body item of the "
                                   "same time. The timeline is a JSON file {\"items\": [{\"text\", \"start\", "
                                   "\"end\", \"parts\", \"path\"}]} (seconds; a whole-body or lower_body item's "
                                   "\"path\": {\"points\": [[x, z], ...]} in metres is walked over the item's span, "
                                   "starting where the body stands) or --item arguments.")
    p.add_argument("timeline", nargs="?", help="timeline JSON file")
    p.add_argument("--item", action="append", default=[], metavar="TEXT@START-END[:PARTS]",
                   help="an item inline, e.g. 'a person walks forward@0-4' or 'waves@1-3:right_arm' "
                        "(repeatable)")
    p.add_argument("--transition", type=float, help="seconds of transition between items that touch (default 0.8)")
    p.add_argument("--fps", type=float, default=20.0, help="frame rate of the output (default 20)")
    p.add_argument("--seed", type=int, help="random seed (default: pick one and print it)")
    p.add_argument("--foot-cleanup", action=argparse.BooleanOptionalAction, default=True,
                   help="lock planted feet and keep them above the floor (default: on)")
    p.add_argument("--in-place", action="store_true", help="remove the root's horizontal travel")
    p.add_argument("--out", required=True, help="output file: .bvh, .npz or .json")
    p.add_argument("--model", help="model folder (default: $MOTIONGPT_MODEL when set, else models/default)")
    from ..device import DEVICE_CHOICES, DEVICE_HELP
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help=DEVICE_HELP)
    p.add_argument("--threads", type=int, help="torch CPU threads (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_compose)


def parse_item(text: str) -> dict:
    m = ITEM_FORMAT.match(text.strip())
    if m is None:
        raise MotionGPTError(f"--item {text!r}: write it as TEXT@START-END or TEXT@START-END:PART,PART "
                             "(seconds), e.g. 'a person waves@1-3:right_arm'")
    item = {"text": m.group("text").strip(), "start": float(m.group("start")), "end": float(m.group("end"))}
    if m.group("parts"):
        item["parts"] = [p for p in m.group("parts").split(",") if p]
    return item


def run_compose(args: argparse.Namespace) -> int:
    from ..pipeline import jobs
    from ..pipeline.errors import ParamError
    from ..pipeline.motion_io import Motion, check_suffix
    from ..runtime import inference_threads, set_torch_threads
    from .task_commands import _Progress
    out = Path(args.out)
    check_suffix(out)
    if args.timeline and args.item:
        raise MotionGPTError("give a timeline file or --item arguments, not both")
    if args.timeline:
        from ..jsonfile import read_json_file
        raw = read_json_file(args.timeline, max_bytes=1024 * 1024)
        items = raw.get("items") if isinstance(raw, dict) else raw
        transition = raw.get("transition") if isinstance(raw, dict) else None
    elif args.item:
        items, transition = [parse_item(i) for i in args.item], None
    else:
        raise MotionGPTError("give a timeline JSON file or --item 'TEXT@START-END' arguments")
    if args.transition is not None:
        transition = args.transition
    params = {"items": items, "transition": transition, "seed": args.seed, "fps": args.fps,
              "options": {"foot_cleanup": bool(args.foot_cleanup), "in_place": bool(args.in_place)}}
    params = {k: v for k, v in params.items() if v is not None}
    try:
        p = jobs.validate_job("compose", params)
    except ParamError as exc:
        where = args.timeline or "--item"
        raise MotionGPTError(f"{where}: {exc.field}: {exc.message}") from exc
    set_torch_threads(inference_threads(args.threads))
    model = jobs.load_model(args.model, args.device)
    if p["seed"] is None:
        p["seed"] = jobs.pick_seed()
    with _Progress(args.quiet, "compose") as bar:
        result = jobs.run_job(model, "compose", p, progress=bar.update)
    for item in result["items"]:
        reading = (item.get("understood_as") or {}).get("message", "")
        parts = f" [{', '.join(item['parts'])}]" if item.get("parts") else ""
        print(f"item {item['item'] + 1} {item['start']:g}-{item['end']:g} s{parts}: {reading}")
    motion = Motion.from_dict(result["motion"])
    motion.save(out)
    print(f"wrote {out}: {motion.num_frames} frames at {motion.fps:g} fps (seed {result['seed']})")
    return 0
