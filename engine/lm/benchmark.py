"""Speed of a language-model preset on this machine.

    python -m engine.lm.benchmark --preset small --threads 2

Reports the parameter count, the time of one training step (forward,
backward, AdamW) at a given batch size with realistic lengths (prompts of
~20 text tokens or ~50 motion tokens, targets of ~50 motion tokens) and the
time to sample a 5-second motion (25 tokens + BOM/EOM/eos). The tokenizer
is a synthetic one of the real size (3000 text pieces + K + 3 motion tokens),
so no data is needed.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import torch  # the engine package has applied its process policy (engine/runtime.py) before this

from . import model as M
from .generate import generate_motion_ids
from .runtime import T5Runtime
from .tasks import Task, instruction
from .tokenizer import build_tokenizer


def synthetic_tokenizer(codebook_size: int = 512, text_vocab: int = 3000, seed: int = 0):
    rng = np.random.default_rng(seed)
    letters = list("abcdefghijklmnopqrstuvwxyz")
    words = ["".join(rng.choice(letters, int(rng.integers(2, 10)))) for _ in range(6000)]
    texts = [" ".join(rng.choice(words, 12)) + "." for _ in range(20000)]
    return build_tokenizer(texts, codebook_size, vocab_size=text_vocab)


def _timed(fn, repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def run(preset: str = "small", batch: int = 32, threads: int = 2, repeats: int = 5, seed: int = 0,
        device: str = "cpu") -> dict:
    torch.set_num_threads(threads)
    tok = synthetic_tokenizer()
    cfg = M.PRESETS[preset]().with_tokenizer(tok)
    torch.manual_seed(seed)
    model = M.build_model(cfg).to(device)
    rng = np.random.default_rng(seed)
    result = {"preset": preset, "threads": threads, "parameters": M.count_parameters(model),
              "vocab_size": cfg.vocab_size, "batch": batch}

    def batch_of(kind: str):
        if kind == "text_in":  # ~20 text tokens in
            x = torch.from_numpy(rng.integers(3, tok.motion_offset, (batch, 20)))
        else:  # a 50-token motion in (BOM + 50 + EOM + eos)
            x = torch.from_numpy(rng.integers(0, tok.codebook_size, (batch, 53)) + tok.motion_offset)
        y = torch.from_numpy(rng.integers(0, tok.codebook_size, (batch, 53)) + tok.motion_offset)
        y[:, -1] = 1
        return x.to(device), y.to(device)

    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    for kind in ("text_in", "motion_in"):
        x, y = batch_of(kind)

        def step():
            loss = model(input_ids=x, labels=y).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if device != "cpu":
                torch.cuda.synchronize()

        times = _timed(step, repeats, warmup=2)
        result[f"train_step_s_{kind}"] = statistics.median(times)

    model.eval()
    runtime = T5Runtime.from_transformers(model)      # once, as a loaded model folder is (not per call)
    prompt = instruction(Task.TEXT_TO_MOTION, caption="a person walks forward and waves.", seconds=5)
    for n_seq in (1, 8):
        times = _timed(lambda: generate_motion_ids(runtime, tok, prompt, num_tokens=25, seed=1,
                                                   num_return_sequences=n_seq), repeats, warmup=1)
        result[f"sample_5s_motion_s_x{n_seq}"] = statistics.median(times)
    return result


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small", choices=sorted(M.PRESETS))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    for key, value in run(args.preset, args.batch, args.threads, args.repeats, device=args.device).items():
        print(f"{key:28s} {value:.4f}" if isinstance(value, float) else f"{key:28s} {value}")


if __name__ == "__main__":
    main()
