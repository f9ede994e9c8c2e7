"""Text-to-motion latency of a model folder, the engine's own share (no HTTP).

    python benchmarks/generation_latency.py                   # models/default, CPU (+ CUDA if present)
    python benchmarks/generation_latency.py path/to/model --runs 9 --threads 2

For each device (CPU always; CUDA, and MPS on a Mac, when torch sees them):
- load: ``MotionGPT.load`` of the folder in this process (SHA-256 check of
  the files, weights, tokenizers, moving to the device), median of
  ``--loads``; the first load, which also pays for the lazy imports, is
  printed separately, and so is the SHA-256 check alone.
- for 2, 4 and 8 s motions: prompt -> decoded 263-dim features, median /
  min / max of ``--runs`` after one warm-up; "tokens/s" is motion tokens
  sampled (5 per second of motion) over the whole request time, so it
  includes the VQ decode and the prompt encoding.
- batched variants: a 4 s motion with ``--variants`` (default 8) variants in
  one call (one batched decode + one VQ decode) against one variant, in the
  same rounds (alternating), and their ratio (target, issue 11: <= 2.5x).

Runs are seeded (same prompt, a different seed each run) so every run does
the same amount of work. Torch threads default to the engine's inference
default (one; ``engine.runtime``), as the CLI and ``serve`` use; ``--threads
N`` to try another (``benchmarks/thread_choice.py`` compares them).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import engine  # noqa: E402,F401  (first: the engine's process policy must precede torch)
PROMPT = "a person walks forward and waves with the right hand"
SECONDS = (2.0, 4.0, 8.0)


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def _sync(device: str) -> None:
    import torch
    if device == "cuda":
        torch.cuda.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


def bench_device(model_dir: Path, device: str, runs: int, loads: int, variants: int) -> dict:
    from engine.lm.vocab import seconds_to_tokens
    from engine.models.bundle import read_bundle_manifest, verify_bundle
    from engine.models.motiongpt import MotionGPT

    t = time.perf_counter()
    model = MotionGPT.load(model_dir, device=device)             # pays for lazy imports / CUDA init
    _sync(device)
    first_load = time.perf_counter() - t
    load_times = []
    for _ in range(loads):
        t = time.perf_counter()
        model = MotionGPT.load(model_dir, device=device)
        _sync(device)
        load_times.append(time.perf_counter() - t)
    hash_times = []
    for _ in range(max(loads, 3)):
        t = time.perf_counter()
        verify_bundle(model_dir, read_bundle_manifest(model_dir))
        hash_times.append(time.perf_counter() - t)
    out: dict = {"device": device, "dtype": model.dtype, "first_load_s": first_load, "load_s": _stats(load_times),
                 "verify_sha256_s": _stats(hash_times), "lengths": {}}
    for seconds in SECONDS:
        model.text_to_motion(PROMPT, seconds=seconds, seed=999)           # warm-up
        times = []
        for run in range(runs):
            _sync(device)
            t = time.perf_counter()
            feats = model.text_to_motion(PROMPT, seconds=seconds, seed=run)
            _sync(device)
            times.append(time.perf_counter() - t)
        tokens = seconds_to_tokens(seconds)
        st = _stats(times)
        st["frames"] = int(feats[0].shape[0])
        st["motion_tokens"] = int(tokens)
        st["tokens_per_s"] = tokens / st["median"]
        out["lengths"][f"{seconds:g}"] = st
    one, many = [], []
    model.text_to_motion(PROMPT, seconds=4.0, seed=999, variants=variants)      # warm-up
    for run in range(runs):
        for times, count in ((one, 1), (many, variants)):
            _sync(device)
            t = time.perf_counter()
            model.text_to_motion(PROMPT, seconds=4.0, seed=run, variants=count)
            _sync(device)
            times.append(time.perf_counter() - t)
    out["variants"] = {"count": variants, "one": _stats(one), "batched": _stats(many),
                       "ratio": statistics.median(many) / statistics.median(one)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default=str(REPO / "models" / "default"), help="model folder")
    parser.add_argument("--runs", type=int, default=7, help="timed generations per length (default 7)")
    parser.add_argument("--loads", type=int, default=3, help="timed model loads (default 3)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (default: the engine's inference default, engine.runtime)")
    parser.add_argument("--device", choices=("all", "cpu", "cuda", "mps"), default="all")
    parser.add_argument("--variants", type=int, default=8, help="variants of the batched row (default 8)")
    parser.add_argument("--json", help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    model_dir = Path(args.model)
    if not (model_dir / "model.json").is_file():
        parser.error(f"{model_dir} is not a model folder (no model.json)")

    t = time.perf_counter()
    import torch
    import engine.models.motiongpt  # noqa: F401
    import_s = time.perf_counter() - t
    from engine.runtime import inference_threads
    torch.set_num_threads(inference_threads(args.threads or None))      # what the CLI and serve use
    devices = ["cpu", "cuda", "mps"] if args.device == "all" else [args.device]
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())}
    devices = [d for d in devices if available[d]]

    report = {"model": str(model_dir), "machine": platform.processor() or platform.machine(),
              "torch": torch.__version__, "threads": torch.get_num_threads(), "import_s": import_s,
              "prompt": PROMPT, "results": []}
    print(f"model {model_dir}  torch {torch.__version__}  CPU threads {torch.get_num_threads()}")
    print(f"import torch + engine: {import_s:.2f} s")
    for device in devices:
        if device == "cuda":
            print(f"GPU: {torch.cuda.get_device_name(0)}")
        res = bench_device(model_dir, device, args.runs, args.loads, args.variants)
        report["results"].append(res)
        ld, hs = res["load_s"], res["verify_sha256_s"]
        print(f"[{device}] language model in {res['dtype']}")
        print(f"[{device}] model load: first {res['first_load_s']:.3f} s, then median {ld['median']:.3f} s "
              f"(min {ld['min']:.3f}, max {ld['max']:.3f}, n={ld['n']}); of which the SHA-256 check of the "
              f"files: median {hs['median'] * 1000:.0f} ms")
        print(f"[{device}] {'motion':>7} {'frames':>6} {'median s':>9} {'min s':>7} {'max s':>7} {'tokens/s':>9}")
        for seconds, st in res["lengths"].items():
            print(f"[{device}] {seconds + ' s':>7} {st['frames']:>6} {st['median']:>9.3f} {st['min']:>7.3f} "
                  f"{st['max']:>7.3f} {st['tokens_per_s']:>9.1f}")
        va = res["variants"]
        print(f"[{device}] 4 s x {va['count']} variants in one call: median {va['batched']['median']:.3f} s "
              f"(min {va['batched']['min']:.3f}, max {va['batched']['max']:.3f}) vs one variant "
              f"{va['one']['median']:.3f} s in the same rounds: {va['ratio']:.2f}x (target <= 2.5x)")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
