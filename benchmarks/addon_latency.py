"""Add-on latency: prompt -> keys on a rig, through the installed extension.

    python benchmarks/addon_latency.py                    # models/default
    python benchmarks/addon_latency.py --model DIR --runs 5 --json out/addon_latency.json

Runs in a headless Blender (the bpy module; a temporary user folder): builds
and installs the extension zip, adds Blender's Human metarig (159 bones, 22
mapped) and calls the real operators through their blocking EXEC path:

- cold: the first Generate, including the add-on starting the engine (model
  load);
- warm: Generate (``--seconds`` at 24 fps, 1 variant), Fill Gap (a 1 s gap),
  Continue (1 s) and Caption, median of ``--runs`` each;
- engine: the same generate request sent straight to the engine the add-on
  started (HTTP, same client), so "add-on overhead" = operator - engine =
  checks, reading the rig, polling, retargeting and writing the keys.

The numbers depend on the model: with the tiny test model (tests' fixture)
the engine part is a fraction of a second; with models/default it is the
model's own generation time. Say which model was used when quoting them.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PKG = "bl_ext.user_default.motiongpt"


def _stats(values):
    return {"median": round(statistics.median(values), 4), "min": round(min(values), 4),
            "max": round(max(values), 4), "n": len(values)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=REPO / "models" / "default")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if not (args.model / "model.json").is_file():
        p.error(f"{args.model} is not a model folder (no model.json); pass --model DIR")
    tmp = Path(tempfile.mkdtemp(prefix="mgpt_latency_"))
    os.environ["BLENDER_USER_EXTENSIONS"] = str(tmp / "extensions")
    os.environ["BLENDER_USER_CONFIG"] = str(tmp / "config")
    os.environ["BLENDER_USER_SCRIPTS"] = str(tmp / "scripts")
    spec = importlib.util.spec_from_file_location("mgpt_build", REPO / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    zip_path = build.build(out_dir=tmp / "dist", quiet=True)

    import bpy
    import addon_utils
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default", enable_on_install=True)
    prefs = bpy.context.preferences.addons[PKG].preferences
    prefs.engine_root, prefs.engine_python = str(REPO), sys.executable
    prefs.model_choice, prefs.model_path, prefs.device = 'CUSTOM', str(args.model.resolve()), args.device.upper()
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_human_metarig_add()
    rig = bpy.context.active_object
    mgr = sys.modules[PKG + ".engine_manager"].MANAGER

    def op(fn, **kw):
        t = time.perf_counter()
        res = fn('EXEC_DEFAULT', **kw)
        if res != {'FINISHED'}:
            raise SystemExit(f"{fn.idname_py()} did not finish: {bpy.context.window_manager.motiongpt_status.last}")
        return time.perf_counter() - t

    prompt = "a person walks forward and waves with the right hand"
    scene.frame_set(1)
    cold = op(bpy.ops.motiongpt.generate, prompt=prompt, seconds=args.seconds, seed=0)
    warm = {"generate": [], "fill_gap": [], "continue": [], "caption": []}
    engine_only = []
    client = mgr.engine.client()
    fps = 24.0
    frames = int(round(args.seconds * fps)) + 1
    for i in range(args.runs):
        scene.frame_set(1)
        warm["generate"].append(op(bpy.ops.motiongpt.generate, prompt=prompt, seconds=args.seconds, seed=i + 1))
        warm["fill_gap"].append(op(bpy.ops.motiongpt.fill_gap, frame_from=20, frame_to=44))
        warm["continue"].append(op(bpy.ops.motiongpt.continue_action, seconds=1.0))
        warm["caption"].append(op(bpy.ops.motiongpt.caption))
        t = time.perf_counter()
        job = client.submit("generate", {"text": prompt, "seconds": frames / fps, "fps": fps, "seed": i + 1,
                                         "options": {"foot_cleanup": True, "in_place": False}})
        while (st := client.status(job["id"]))["status"] not in ("done", "failed", "cancelled"):
            time.sleep(0.01)
        engine_only.append(time.perf_counter() - t)
    model_name = mgr.engine.ready.get("model")
    mgr.stop()
    report = {"model": str(args.model), "model_name": model_name, "device": args.device, "rig": "Human metarig",
              "seconds": args.seconds, "fps": fps, "cold_generate_s": round(cold, 3),
              "warm_s": {k: _stats(v) for k, v in warm.items()}, "engine_generate_s": _stats(engine_only),
              "addon_overhead_generate_s": round(statistics.median(warm["generate"]) - statistics.median(engine_only), 4)}
    print(f"model {model_name} ({args.model}), device {args.device}, Human metarig, {args.seconds:g} s at 24 fps")
    print(f"cold Generate (engine start + model load + job + keys): {cold:.2f} s")
    for k, v in report["warm_s"].items():
        print(f"warm {k:9s} median {v['median'] * 1000:7.0f} ms  (min {v['min'] * 1000:.0f}, max {v['max'] * 1000:.0f}, "
              f"n={v['n']})")
    print(f"engine alone (same generate over HTTP): median {report['engine_generate_s']['median'] * 1000:.0f} ms; "
          f"add-on overhead {report['addon_overhead_generate_s'] * 1000:.0f} ms")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    sys.stdout.flush()
    os._exit(0)                                       # Rigify keeps the process alive at exit


if __name__ == "__main__":
    sys.exit(main())
