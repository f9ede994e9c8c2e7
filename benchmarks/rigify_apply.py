"""Generate on a generated Rigify rig vs Blender's Human metarig, and how long
Blender's main thread is ever blocked.

    python benchmarks/rigify_apply.py                      # models/default, quiet then loaded
    python benchmarks/rigify_apply.py --runs 5 --seconds 10 --json out/rigify_apply.json

One headless Blender (the bpy module) with the add-on registered from this
checkout; one warm engine (``motiongpt serve`` on the model, started here).
For each rig, ``--runs`` times: Generate ``--seconds`` at 24 fps the way the
operator does it -- plan (main thread), the job on a worker thread
(:class:`jobs.JobRunner`), then the result written by the operator's
:class:`animation.Applier` in its steps -- and reports:

- ``total``: prompt to keys, median (and the Rigify / metarig ratio);
- ``apply``: writing the result (retarget, constraint model, keys);
- ``longest_block``: the longest stretch the main thread works without
  returning to Blender's event loop: the plan, or one timer tick of the
  modal operator (steps run until ``operators.APPLY_BUDGET_S`` has passed,
  so a tick is that budget plus the longest single step).

Then the same again while a competing process keeps both cores busy (an
animator's machine is rendering). Times are seconds.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]


def _burn() -> None:
    while True:
        pass


def _median(values):
    return round(statistics.median(values), 4)


def one_generate(obj, settings, args, seed, modules) -> dict:
    """One Generate the way the operator runs it; seconds of each part."""
    import bpy
    animation, jobs, operators = modules
    opts = SimpleNamespace(root_motion='ROOT', foot_cleanup=True, add_as_nla=False, reduce_keys=False)
    bpy.context.view_layer.objects.active = obj
    bpy.context.scene.frame_set(1)
    t0 = time.perf_counter()
    plan = animation.plan_generate(bpy.context, obj, args.prompt, args.seconds, seed, 1, opts)
    t_plan = time.perf_counter() - t0
    runner = jobs.JobRunner(settings, plan.task, plan.params).start()
    runner.wait(600)
    if runner.error:
        raise SystemExit(f"engine error: {runner.error.message}")
    t1 = time.perf_counter()
    applier = animation.applier(bpy.context, plan, runner.result)
    longest_step, step_at, tick, longest_tick = 0.0, 0.0, 0.0, t_plan
    last = time.perf_counter()
    for progress in applier.steps():
        now = time.perf_counter()
        if now - last > longest_step:
            longest_step, step_at = now - last, progress
        tick += now - last
        if tick > operators.APPLY_BUDGET_S:            # the modal operator returns to Blender here
            longest_tick, tick = max(longest_tick, tick), 0.0
        last = now
    t2 = time.perf_counter()
    return {"total": t2 - t0, "plan": t_plan, "engine": t1 - t0 - t_plan, "apply": t2 - t1,
            "longest_block": max(longest_tick, tick), "longest_step": longest_step, "longest_step_at": step_at}


def measure(rigs, settings, args, modules) -> dict:
    """Runs interleaved (metarig, Rigify, metarig, ...) so that a change in
    the machine's load hits both alike; medians, and the worst block."""
    runs = {name: [] for name in rigs}
    for run in range(args.runs):
        for name, obj in rigs.items():
            runs[name].append(one_generate(obj, settings, args, run, modules))
    out = {}
    for name, rs in runs.items():
        out[name] = {k: _median([r[k] for r in rs]) for k in ("total", "plan", "engine", "apply")}
        worst = max(rs, key=lambda r: r["longest_block"])
        out[name].update({"longest_block": round(worst["longest_block"], 4),
                          "longest_step": round(max(r["longest_step"] for r in rs), 4),
                          "longest_step_at_progress": round(worst["longest_step_at"], 2), "runs": len(rs)})
    out["ratio_total"] = round(out["rigify"]["total"] / out["metarig"]["total"], 2)
    out["ratio_apply"] = round(out["rigify"]["apply"] / out["metarig"]["apply"], 2)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=REPO / "models" / "default")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--prompt", default="a person walks forward")
    p.add_argument("--no-load", action="store_true", help="skip the run under load")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)

    from engine.server.launch import start_engine
    token = "benchmark-token-0123456789abcdef"
    eng = start_engine(["--port", "0", "--model", str(args.model), "--device", "cpu", "--token", token,
                        "--parent-pid", str(os.getpid())], stderr=open(os.devnull, "w"))
    import bpy
    import blender_support as bs
    import motiongpt_blender
    bs.new_scene()
    motiongpt_blender.register()
    from motiongpt_blender import animation, jobs, operators
    from motiongpt_blender.engine_manager import EngineSettings
    settings = EngineSettings(mode="remote", url=eng.url, token=token, request_timeout=120.0)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    meta, _ = bs.human_metarig("metarig")
    meta2, _ = bs.human_metarig("metarig_for_rigify")
    bpy.context.view_layer.objects.active = meta2
    t = time.perf_counter()
    bpy.ops.pose.rigify_generate()
    rigify = bpy.context.active_object
    print(f"rigify_generate: {time.perf_counter() - t:.1f} s ({len(rigify.data.bones)} bones)", flush=True)
    rigs = {"metarig": meta, "rigify": rigify}
    modules = (animation, jobs, operators)
    # warm up the engine and the code paths once
    measure(rigs, settings, SimpleNamespace(**{**vars(args), "runs": 1}), modules)
    report = {"seconds": args.seconds, "fps": 24, "model": str(args.model), "cpus": os.cpu_count()}
    report["quiet"] = measure(rigs, settings, args, modules)
    print(json.dumps({"quiet": report["quiet"]}, indent=1), flush=True)
    if not args.no_load:
        burners = [mp.Process(target=_burn, daemon=True) for _ in range(os.cpu_count() or 2)]
        for b in burners:
            b.start()
        try:
            report["loaded"] = measure(rigs, settings, args, modules)
        finally:
            for b in burners:
                b.terminate()
        print(json.dumps({"loaded": report["loaded"]}, indent=1), flush=True)
    eng.proc.terminate()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
