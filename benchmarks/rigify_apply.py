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


def measure(rigs, settings, args, modules) -> dict:
    import bpy
    animation, jobs, operators = modules
    out = {}
    opts = SimpleNamespace(root_motion='ROOT', foot_cleanup=True, add_as_nla=False, reduce_keys=False)
    for name, obj in rigs.items():
        bpy.context.view_layer.objects.active = obj
        totals, applies, blocks, steps = [], [], [], []
        for run in range(args.runs):
            bpy.context.scene.frame_set(1)
            t0 = time.perf_counter()
            plan = animation.plan_generate(bpy.context, obj, args.prompt, args.seconds, run, 1, opts)
            t_plan = time.perf_counter() - t0
            runner = jobs.JobRunner(settings, plan.task, plan.params).start()
            runner.wait(600)
            if runner.error:
                raise SystemExit(f"engine error: {runner.error.message}")
            t1 = time.perf_counter()
            applier = animation.applier(bpy.context, plan, runner.result)
            longest_step, tick, longest_tick = 0.0, 0.0, t_plan
            last = time.perf_counter()
            for _ in applier.steps():
                now = time.perf_counter()
                longest_step = max(longest_step, now - last)
                tick += now - last
                if tick > operators.APPLY_BUDGET_S:            # the modal operator returns to Blender here
                    longest_tick, tick = max(longest_tick, tick), 0.0
                last = now
            longest_tick = max(longest_tick, tick)
            t2 = time.perf_counter()
            totals.append(t2 - t0)
            applies.append(t2 - t1)
            blocks.append(longest_tick)
            steps.append(longest_step)
        out[name] = {"total": _median(totals), "apply": _median(applies), "longest_block": max(blocks),
                     "longest_step": max(steps), "runs": len(totals)}
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
    import addon_utils
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
