"""The model folder's lm/ through transformers alone: how often plain
``generate()`` with generation_config.json gives a valid motion, and how long
a call takes, beside the engine's constrained decoding of the same prompts.

    python benchmarks/hf_generate.py [--model models/default] [--seeds 20] [--threads 2]

"Valid": the decoded text parses strictly as ``<motion_id_512> codes
<motion_id_513>`` (the engine's motion language). The engine's decoding is
valid by construction (its constraints), so only its time is shown.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import engine  # noqa: F401  (first: the engine's process policy must precede torch)
import torch  # noqa: E402

PROMPTS = ("a person waves with the right hand.", "a person walks forward.", "a person jumps.",
           "a person bows.", "a person runs in a circle.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path(__file__).resolve().parents[1] / "models" / "default")
    parser.add_argument("--seeds", type=int, default=20, help="samples per prompt")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from engine.lm.tasks import Task, instruction
    from engine.lm.vocab import MotionParseError, MotionVocab
    from engine.models.motiongpt import MotionGPT
    lm_dir = args.model / "lm"
    tokenizer = AutoTokenizer.from_pretrained(lm_dir)
    model = AutoModelForSeq2SeqLM.from_pretrained(lm_dir).eval()
    engine = MotionGPT.load(args.model, device="cpu")
    vocab = MotionVocab(engine.tokenizer.codebook_size)
    print(f"{args.model}: transformers generate() with generation_config.json, {args.seeds} seeds per prompt, "
          f"{args.threads} threads")
    total_valid = total = 0
    for caption in PROMPTS:
        prompt = instruction(Task.TEXT_TO_MOTION, caption=caption)
        inputs = tokenizer(prompt, return_tensors="pt")
        valid, lengths, hf_times, engine_times = 0, [], [], []
        for seed in range(args.seeds):
            torch.manual_seed(seed)
            t0 = time.perf_counter()
            out = model.generate(**inputs)
            hf_times.append(time.perf_counter() - t0)
            try:
                lengths.append(len(vocab.parse(tokenizer.decode(out[0], skip_special_tokens=True), strict=True)))
                valid += 1
            except MotionParseError:
                pass
            t0 = time.perf_counter()
            engine.text_to_motion(caption, seed=seed)
            engine_times.append(time.perf_counter() - t0)
        total_valid += valid
        total += args.seeds
        print(f"  {prompt!r}: valid {valid}/{args.seeds}, codes median "
              f"{statistics.median(lengths) if lengths else 0:.0f}; generate() median "
              f"{statistics.median(hf_times) * 1000:.0f} ms, engine text_to_motion median "
              f"{statistics.median(engine_times) * 1000:.0f} ms")
    print(f"valid overall: {total_valid}/{total} = {100.0 * total_valid / total:.0f} %")


if __name__ == "__main__":
    main()
