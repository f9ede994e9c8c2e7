"""``motiongpt train-vq``: train the motion tokenizer (VQ-VAE)."""
from __future__ import annotations

import argparse

from ..device import DEVICE_CHOICES, DEVICE_HELP
from ..train.precision import PRECISION_HELP, PRECISIONS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-vq", help="train the motion tokenizer (VQ-VAE) on a built dataset",
        description="Train MotionGPT's motion tokenizer on a HumanML3D-layout folder (from 'motiongpt build-data' "
                    "or HumanML3D itself). --out becomes a tokenizer folder (model.safetensors, config.json, "
                    "mean.npy, std.npy) with a checkpoint for --resume; best/ holds the best validation model. "
                    "Ctrl-C saves a checkpoint and stops. "
                    "On several GPUs or machines: torchrun --nproc_per_node N --rdzv_backend c10d --rdzv_endpoint "
                    "127.0.0.1:0 --rdzv_id RANDOM -m engine train-vq ..., on a trusted network only: torch's "
                    "rendezvous listens on every interface without a password (docs/training.md, 'Training at scale').")
    p.add_argument("--data", required=True, help="dataset folder (new_joint_vecs/, train.txt, Mean.npy, Std.npy)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--preset", choices=("tiny", "small", "official"),
                   help="model size: small (5.1 M parameters, the default for a new run), official (MotionGPT's "
                        "19.4 M, 512 codes of 512 dims) or tiny (tests); a resumed run keeps its saved one")
    p.add_argument("--steps", type=int, default=10000, help="total optimizer steps (default 10000)")
    p.add_argument("--batch-size", type=int, default=64, help="windows per step (default 64)")
    p.add_argument("--window", type=int, default=64, help="frames per training window (default 64)")
    p.add_argument("--lr", type=float, default=2e-4, help="peak learning rate (default 2e-4)")
    p.add_argument("--warmup", type=int, default=500, help="linear warm-up steps (default 500)")
    p.add_argument("--schedule", choices=("constant", "cosine"), default="constant",
                   help="rate after warm-up (default constant; cosine decays to 1%% at --steps)")
    p.add_argument("--min-frames", type=int,
                   help="skip training clips shorter than this (default window/4); shorter than the window are padded")
    p.add_argument("--val-every", type=int, default=1000, help="validate and checkpoint every N steps (default 1000)")
    p.add_argument("--val-split", default="val", help="split to validate on (default val; falls back to train)")
    p.add_argument("--val-max-clips", type=int, default=512, help="validate on at most this many clips (default 512)")
    p.add_argument("--grad-accum", type=int, default=1,
                   help="micro-batches per optimizer step in each process (default 1); --batch-size is the global "
                        "batch: processes x grad-accum x micro-batch")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help=PRECISION_HELP)
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    p.add_argument("--init-from", metavar="DIR",
                   help="start from this trained tokenizer folder (e.g. models/default/vq): its config, weights and "
                        "codebook, fine-tuned on --data (far cheaper than from random weights)")
    p.add_argument("--balance-power", type=float, default=1.0,
                   help="draw each action's clips in proportion to (its clips) ** this: 1 = every clip equally "
                        "(default), 0.3 = oversample rare actions so their poses (lying, crawling, a cartwheel) get "
                        "codes of their own (needs labels.jsonl from build-data)")
    p.add_argument("--decoder-only", action="store_true",
                   help="with --init-from: train only the decoder; the encoder, codebook and statistics stay, so "
                        "every clip keeps its tokens and a language model trained on them needs no retraining")
    p.add_argument("--root-weight", type=float, default=1.0,
                   help="weight of the root's features (yaw and ground velocity, height) in the reconstruction loss "
                        "(default 1): a small bias there bends the whole trajectory")
    p.add_argument("--path-weight", type=float, default=0.0,
                   help="weight of the distance (m) between the decoded and the real root path on the floor, "
                        "averaged over frames (default 0: off): keeps long takes from drifting off their path")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help=DEVICE_HELP)
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--workers", type=int, default=0, help="data loader processes (default 0: in the main process)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_train_vq)


def run_train_vq(args: argparse.Namespace) -> int:
    from ..models.vqvae import VQConfig
    from ..train.vq_trainer import train_vq

    config = VQConfig.preset(args.preset) if args.preset else None
    result = train_vq(args.data, args.out, config=config, steps=args.steps, batch_size=args.batch_size,
                      window=args.window, lr=args.lr, warmup=args.warmup, schedule=args.schedule,
                      val_every=args.val_every, val_split=args.val_split, resume=args.resume,
                      device=args.device, seed=args.seed, workers=args.workers, progress=not args.quiet,
                      val_max_clips=args.val_max_clips, min_frames=args.min_frames, grad_accum=args.grad_accum,
                      precision=args.precision, init_from=args.init_from, balance_power=args.balance_power,
                      decoder_only=args.decoder_only, root_weight=args.root_weight,
                      path_weight=args.path_weight)
    if result["rank"] != 0:
        return 130 if result["interrupted"] else 0      # rank 0 speaks for a run of several processes
    best = result["best_val_mpjpe_mm"]
    done = result["step"] - result["start_step"]
    print(f"{'stopped' if result['interrupted'] else 'finished'} at step {result['step']} "
          f"({done} steps this run, {result['sec_per_step']:.3f} s/step on {result['device']}); "
          f"best {result['val_split']} MPJPE: {f'{best:.1f} mm' if best is not None else 'n/a'}")
    print(f"tokenizer folder: {args.out} (MotionTokenizer.load); best model: {args.out}/best")
    return 130 if result["interrupted"] else 0
