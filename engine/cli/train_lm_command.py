"""``motiongpt train-lm``: train the motion-language model on top of a VQ."""
from __future__ import annotations

import argparse

from ..device import DEVICE_CHOICES, DEVICE_HELP
from ..train.precision import PRECISION_HELP, PRECISIONS

PRESETS = ("tiny", "small", "flan_t5_base")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-lm", help="train the T5 motion-language model (stage 1 pre-training, stage 2 instruction tuning)",
        description="Tokenise the dataset with a trained motion tokenizer (--vq), then train a T5 from scratch: "
                    "stage 1 mixes caption->motion, motion->caption and motion span corruption; stage 2 renders "
                    "every task (text-to-motion, captioning, prediction, in-between) with paraphrased prompts. "
                    "--out becomes a complete model folder (vq/, lm/, model.json). Ctrl-C saves a checkpoint. "
                    "On several GPUs or machines: torchrun --nproc_per_node N --rdzv_backend c10d --rdzv_endpoint "
                    "127.0.0.1:0 --rdzv_id RANDOM -m engine train-lm ..., on a trusted network only: torch's "
                    "rendezvous listens on every interface without a password (docs/training.md, 'Training at scale').")
    p.add_argument("--data", required=True, help="dataset folder (from build-data, or HumanML3D)")
    p.add_argument("--vq", required=True, help="motion tokenizer folder (from train-vq)")
    p.add_argument("--out", required=True, help="output model folder")
    p.add_argument("--preset", choices=PRESETS, default="small",
                   help="T5 size: small (d_model 256, 4+4 layers, ~10 M parameters; default), tiny (tests), "
                        "flan_t5_base (MotionGPT's size, GPU only)")
    p.add_argument("--stage1-steps", type=int, default=2000)
    p.add_argument("--stage2-steps", type=int, default=4000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--val-every", type=int, default=500)
    p.add_argument("--max-tokens", type=int, default=50, help="longest motion window in tokens (50 = 10 s)")
    p.add_argument("--no-paraphrase", action="store_true",
                   help="train on the dataset's captions only (default: also on paraphrases for free text)")
    p.add_argument("--balance-power", type=float, default=1.0,
                   help="draw each action in proportion to (its clips) ** this: 1 = the data's own mix (default), "
                        "0 = every action equally often, 0.5 = oversample rare actions (needs labels.jsonl "
                        "from build-data)")
    p.add_argument("--caption-dropout", type=float, default=0.1,
                   help="share of text-to-motion samples trained without their caption (default 0.1), so the "
                        "model can be guided (classifier-free guidance, export-model --guidance-scale); 0 turns "
                        "it off")
    p.add_argument("--init-from", help="fine-tune this trained model folder (its weights and text tokenizer; "
                                       "it must use the same --vq unless --remap-codes) instead of starting "
                                       "from random weights")
    p.add_argument("--remap-codes", action="store_true",
                   help="with --init-from: --vq is another tokenizer than the model's own (e.g. refit from it); "
                        "both encode the training clips and each new code's embedding starts as the mean of "
                        "the old codes written for the same windows, instead of the old code of the same number")
    p.add_argument("--grad-accum", type=int, default=1,
                   help="micro-batches per optimizer step in each process (default 1); --batch-size is the global "
                        "batch: processes x grad-accum x micro-batch")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help=PRECISION_HELP)
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    p.add_argument("--stop-after", type=int, help="end this run after N steps (checkpointed; --resume later)")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help=DEVICE_HELP)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_train_lm)


def run_train_lm(args: argparse.Namespace) -> int:
    from ..lm import model as lm_model
    from ..train.lm_trainer import LMTrainSettings, train_lm

    config = getattr(lm_model, args.preset)()
    settings = LMTrainSettings(stage1_steps=args.stage1_steps, stage2_steps=args.stage2_steps,
                               batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup,
                               val_every=args.val_every, max_tokens=args.max_tokens, seed=args.seed,
                               balance_power=args.balance_power, grad_accum=args.grad_accum,
                               precision=args.precision, caption_dropout=args.caption_dropout)
    caption_fn = None
    if not args.no_paraphrase:
        from ..data.paraphrase import paraphrase_caption
        caption_fn = paraphrase_caption
    try:
        result = train_lm(args.data, args.vq, args.out, config, settings, device=args.device, resume=args.resume,
                          progress=not args.quiet, caption_fn=caption_fn, stop_after=args.stop_after,
                          init_from=args.init_from, remap_codes=args.remap_codes)
    except KeyboardInterrupt:
        print(f"stopped; resume with: motiongpt train-lm ... --out {args.out} --resume")
        return 130
    if result["rank"] != 0:
        return 0      # rank 0 speaks for a run of several processes
    print(f"finished {result['steps']} steps in {result['seconds']:.0f} s: train loss {result['train_loss']:.3f}, "
          f"val loss {result['val_loss']:.3f} ({result['parameters'] / 1e6:.1f} M parameters)")
    print(f"model folder: {args.out} (use it with --model)")
    return 0
