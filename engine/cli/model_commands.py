"""``motiongpt convert-official`` and ``export-model``."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert-official", help="convert the official MotionGPT checkpoint into a model folder",
        description="Load motiongpt_s3_h3d.tar (read with weights_only: plain tensors, nothing executed) strictly "
                    "and write a model folder the engine loads with --model. Needs the local FLAN-T5-base folder "
                    "it was trained from (config.json + tokenizer files) and, to generate, HumanML3D's Mean.npy "
                    "and Std.npy.")
    p.add_argument("checkpoint", help="the official .tar checkpoint")
    p.add_argument("--t5", required=True, help="local folder of google/flan-t5-base (config.json, tokenizer.json)")
    p.add_argument("--out", required=True, help="output model folder, e.g. models/official")
    p.add_argument("--stats", help="HumanML3D folder holding Mean.npy and Std.npy")
    p.set_defaults(handler=run_convert_official)
    register_export(sub)


def run_convert_official(args: argparse.Namespace) -> int:
    from ..models.official import convert_official
    out = convert_official(args.checkpoint, args.t5, args.out, stats_dir=args.stats)
    print(f"converted {args.checkpoint} -> {out}")
    if not args.stats:
        print(f"note: no --stats given; copy HumanML3D's Mean.npy and Std.npy into {out}/vq/ as mean.npy and "
              "std.npy (or rerun with --stats HUMANML3D_DIR) before generating with this model")
    return 0


def register_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export-model", help="copy a trained model folder into its shipped form (float16, no "
                                            "optimizer state); also converts an older model folder",
                       description="Write SOURCE in the current model-folder layout (lm/ a Hugging Face T5 folder, "
                                   "see docs/models.md): weights in float16, no optimizer state, SHA-256 "
                                   "sums in model.json. An older (format 1) folder is converted with the same "
                                   "weights; --out may be SOURCE itself.")
    p.add_argument("source", help="model folder written by train-lm, or an older model folder to convert")
    p.add_argument("--out", required=True, help="destination, e.g. models/default (may be the source)")
    p.add_argument("--name", help="model name written to model.json")
    p.add_argument("--vq", metavar="DIR",
                   help="take the motion tokenizer from DIR, a decoder fine-tuned from SOURCE's (train-vq "
                        "--init-from SOURCE/vq --decoder-only): checked to give every motion the same tokens")
    p.add_argument("--fp32", action="store_true", help="keep float32 weights")
    p.add_argument("--top-k", type=int,
                   help="default top-k for sampling motion tokens (written to lm/generation_config.json)")
    p.add_argument("--top-p", type=float, help="default nucleus (top-p) for sampling motion tokens")
    p.add_argument("--temperature", type=float, help="default sampling temperature")
    p.add_argument("--guidance-scale", type=float,
                   help="classifier-free guidance of text-to-motion (1 = off; needs a model trained with "
                        "--caption-dropout), written to lm/generation_config.json")
    p.set_defaults(handler=run_export_model)


def run_export_model(args: argparse.Namespace) -> int:
    from ..models.bundle import export_bundle
    extra = {"name": args.name} if args.name else {}
    sampling = {k: v for k, v in (("top_k", args.top_k), ("top_p", args.top_p), ("temperature", args.temperature),
                                  ("guidance_scale", args.guidance_scale))
                if v is not None}
    if sampling:
        from ..models.motiongpt import SamplingOptions
        SamplingOptions.from_dict(sampling, "--top-k/--top-p/--temperature")
    out = export_bundle(args.source, args.out, half=not args.fp32, sampling=sampling or None, vq=args.vq,
                        **extra)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 1e6
    print(f"exported {args.source} -> {out} ({size:.1f} MB)")
    return 0
