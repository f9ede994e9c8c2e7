"""Are captions made of real words? (issue 18, item 6)

    python benchmarks/caption_words.py --model DIR [--data .cache/data18] [--bvh-folder ../shared/data/cmu --files 20]

Captions every original clip of the split (its features, first 10 s) and
``--files`` BVH files of a folder read as a user's own takes (the any-BVH
reader, as ``motiongpt caption FILE``), then counts the captions holding a
word outside the caption vocabulary (the words of the model's training
captions, ``caption_words.json``; target 0) and a word written three times
in a row. Prints every caption of the outside files, and the distinct
captions of the split with their counts.
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import engine  # noqa: E402,F401  (first: the engine's process policy must precede torch)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", default=str(ROOT / ".cache" / "data18"))
    parser.add_argument("--split", default="val")
    parser.add_argument("--bvh-folder", default=str(ROOT.parent / "shared" / "data" / "cmu"))
    parser.add_argument("--files", type=int, default=20)
    args = parser.parse_args()
    import torch
    torch.set_num_threads(1)
    from engine.data import humanml3d
    from engine.data.labels import labelled_originals
    from engine.lm.caption_words import load_words, outside_words
    from engine.pipeline import tasks
    from engine.pipeline.jobs import load_model
    from engine.pipeline.motion_io import Motion
    model = load_model(args.model, "cpu")
    known = set(load_words(Path(args.model) / "lm") or [])

    def problems(caption: str) -> list[str]:
        w = words(caption)
        out = [f"non-word {x!r}" for x in outside_words(caption, model.tokenizer, known)]
        out += [f"repeats {w[i]!r}" for i in range(len(w) - 2) if w[i] == w[i + 1] == w[i + 2]]
        return out

    rows = labelled_originals(args.data, args.split)
    val = Counter()
    bad_val = 0
    for clip_id, _ in rows:
        caption = " ".join(model.caption(humanml3d.load_clip(args.data, clip_id).features[:200]).split())
        val[caption] += 1
        bad_val += bool(problems(caption))
    files = sorted(Path(args.bvh_folder).rglob("*.bvh"))[:args.files]
    bad_files = 0
    print(f"{len(files)} BVH files of {args.bvh_folder}, read as a user's takes:")
    for path in files:
        caption = tasks.caption(model, Motion.load(path))
        p = problems(caption)
        bad_files += bool(p)
        print(f"  {path.name}: {caption!r}" + (f"  <-- {', '.join(p)}" if p else ""))
    print(f"\n{len(val)} distinct captions over {len(rows)} {args.split} clips:")
    for caption, n in val.most_common():
        print(f"  {n:4d}  {caption!r}" + (f"  <-- {', '.join(problems(caption))}" if problems(caption) else ""))
    print(f"\ncaptions with a word outside the caption vocabulary ({len(known)} words) or a word three times "
          f"in a row: {bad_val}/{len(rows)} {args.split} clips, {bad_files}/{len(files)} outside files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
