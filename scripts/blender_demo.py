"""The main job (``./setup.sh demo "a person waves"``): the extension end to end
in a headless Blender (the bpy module), as an animator would use it.

1. ``python build.py`` -> ``dist/motiongpt-<version>.zip``;
2. a fresh Blender (factory settings; its user folders in ``out/blender_user``
   so your own Blender setup is untouched) installs the zip through
   ``bpy.ops.extensions.package_install_files`` and enables it; the script
   checks the add-on is registered and its Preferences point at the model;
3. Blender's Human metarig (Rigify) -- not an SMPL skeleton -- is added;
4. MotionGPT > Generate with the prompt (two variants, from frame 1), then
   Fill Gap between two keys of the result, then Caption -- the real
   operators through their blocking (EXEC) path, with the engine started by
   the add-on itself;
5. ``out/demo.blend`` (armature, actions, caption, a simple bone mesh that
   follows the rig, camera) and ``out/demo.png``: a contact sheet of eight
   Workbench renders across the action.

Exit status 0 on success, 2 when the model is missing or a step fails.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PKG = "bl_ext.user_default.motiongpt"


_SAY = sys.stdout
"""Where the demo's own lines go: the terminal, also while Blender's output
goes to a log (:func:`blender_output_to`)."""


def say(*parts, **kw) -> None:
    print(*parts, file=_SAY, flush=True, **kw)


def fail(msg: str) -> "NoReturn":  # noqa: F821
    print(f"error: {msg}", file=_SAY if _SAY is not sys.stdout else sys.stderr)
    for stream in (_SAY, sys.stdout, sys.stderr):
        stream.flush()
    os._exit(2)


@contextlib.contextmanager
def blender_output_to(log_path: Path):
    """Send what Blender and its add-ons print (native and Python: render
    timings, "Reloading external rigs...", the headless renderer's EGL
    notes) to ``log_path``; the demo's own lines still reach the terminal."""
    global _SAY
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "w", encoding="utf-8", errors="replace")
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved[0]), "w", buffering=1, encoding="utf-8")
    old = _SAY, sys.stdout, sys.stderr
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    _SAY, sys.stdout, sys.stderr = terminal, log, log
    try:
        yield
    finally:
        for stream in (log, terminal):
            stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        _SAY, sys.stdout, sys.stderr = old
        terminal.close()
        log.close()
        for fd in saved:
            os.close(fd)


def egl_notes(log_path: Path) -> int:
    """How many lines of the log are the headless renderer's EGL notes."""
    try:
        return sum("EGL" in line for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines())
    except OSError:
        return 0


def build_zip() -> Path:
    spec = importlib.util.spec_from_file_location("mgpt_build", REPO / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    try:
        return mod.build()
    except mod.BuildError as exc:
        fail("the extension does not build:\n  " + "\n  ".join(exc.problems))


def model_missing_message(model: Path) -> str:
    return (f"no model at {model} (model.json is missing).\n"
            "The main job needs a trained model. Either\n"
            "  - train one:   .venv/bin/motiongpt build-data --source ../shared/data --out data/bandai\n"
            "                 .venv/bin/motiongpt train-vq --data data/bandai --out models/vq\n"
            "                 .venv/bin/motiongpt train-lm --data data/bandai --vq models/vq --out models/default\n"
            "  - or convert the official checkpoint:\n"
            "                 .venv/bin/motiongpt convert-official motiongpt_s3_h3d.tar --t5 FLAN_T5_DIR "
            "--stats HUMANML3D_DIR --out models/default\n"
            "  - or point the demo at a model folder: ./setup.sh demo \"a prompt\" --model DIR")


# ---------------------------------------------------------------------------
# inside Blender

def call(bpy, op, **kw) -> str:
    t = time.perf_counter()
    try:
        op('EXEC_DEFAULT', **kw)
    except RuntimeError as exc:
        fail(f"{op.idname_py()} failed: {str(exc).strip()}")
    msg = bpy.context.window_manager.motiongpt_status.last
    say(f"      {msg} ({time.perf_counter() - t:.1f} s)")
    return msg


def bone_mesh(bpy, rig, bones):
    """A mesh of tapered octahedra, one per bone, skinned 100% to its bone:
    what the renders show (armatures themselves do not render)."""
    verts, faces, groups = [], [], {}
    for name in bones:
        b = rig.data.bones[name]
        head, tail = b.head_local, b.tail_local
        axis = (tail - head)
        length = axis.length
        if length < 1e-6:
            continue
        y = axis.normalized()
        x = b.matrix_local.to_3x3().col[0].normalized()
        z = y.cross(x).normalized()
        r = max(0.018, min(0.07, 0.12 * length)) * (2.2 if "spine.006" in name or name.lower().endswith("head") else 1)
        mid = head + axis * 0.2
        base = len(verts)
        verts += [head, mid + x * r, mid + z * r, mid - x * r, mid - z * r, tail]
        faces += [(base, base + 1 + i, base + 1 + (i + 1) % 4) for i in range(4)]
        faces += [(base + 5, base + 1 + (i + 1) % 4, base + 1 + i) for i in range(4)]
        groups[name] = list(range(base, base + 6))
    mesh = bpy.data.meshes.new("MotionGPT_bones")
    mesh.from_pydata([tuple(v) for v in verts], [], faces)
    obj = bpy.data.objects.new("MotionGPT_bones", mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.parent = rig
    for name, idx in groups.items():
        vg = obj.vertex_groups.new(name=name)
        vg.add(idx, 1.0, 'REPLACE')
    mod = obj.modifiers.new("Armature", 'ARMATURE')
    mod.object = rig
    obj.color = (0.85, 0.45, 0.2, 1.0)
    return obj


def contact_sheet(bpy, rig, hips: str, frames, out_png: Path, tile=(320, 420), cols=4):
    import numpy as np
    from mathutils import Vector
    scene = bpy.context.scene
    scene.render.engine = 'BLENDER_WORKBENCH'
    scene.display.shading.light = 'STUDIO'
    scene.display.shading.color_type = 'OBJECT'
    scene.display.shading.show_shadows = True
    scene.render.resolution_x, scene.render.resolution_y = tile
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = 'PNG'
    if scene.world is None:
        scene.world = bpy.data.worlds.new("MotionGPT_world")
    scene.world.color = (0.05, 0.06, 0.08)
    bpy.ops.mesh.primitive_plane_add(size=60.0, location=(0, 0, 0))
    floor = bpy.context.active_object
    floor.name = "floor"
    floor.color = (0.62, 0.64, 0.66, 1.0)
    cam_data = bpy.data.cameras.new("MotionGPT_cam")
    cam_data.type = 'ORTHO'
    cam_data.ortho_scale = 2.8
    cam = bpy.data.objects.new("MotionGPT_cam", cam_data)
    scene.collection.objects.link(cam)
    scene.camera = cam
    tmp = out_png.parent / ".frames"
    tmp.mkdir(parents=True, exist_ok=True)
    tiles = []
    direction = Vector((math.sin(math.radians(35)), -math.cos(math.radians(35)), 0.45)).normalized()
    for f in frames:
        scene.frame_set(int(f))
        target = rig.matrix_world @ rig.pose.bones[hips].head
        target.z = 0.9
        cam.location = target + direction * 8.0
        cam.rotation_euler = (-direction).to_track_quat('-Z', 'Y').to_euler()
        path = tmp / f"frame_{int(f):04d}.png"
        scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True)
        img = bpy.data.images.load(str(path))
        px = np.empty(tile[0] * tile[1] * 4, dtype=np.float32)
        img.pixels.foreach_get(px)
        tiles.append(px.reshape(tile[1], tile[0], 4))
        bpy.data.images.remove(img)
    rows = math.ceil(len(tiles) / cols)
    sheet = np.ones((rows * tile[1], cols * tile[0], 4), dtype=np.float32)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        y0 = (rows - 1 - r) * tile[1]                 # Blender images are stored bottom-up
        sheet[y0:y0 + tile[1], c * tile[0]:(c + 1) * tile[0]] = t
        sheet[y0:y0 + tile[1], c * tile[0]:c * tile[0] + 2, :3] = 1.0       # white gutters
        sheet[y0:y0 + 2, c * tile[0]:(c + 1) * tile[0], :3] = 1.0
    img = bpy.data.images.new("MotionGPT_contact_sheet", cols * tile[0], rows * tile[1], alpha=True)
    img.pixels.foreach_set(sheet.ravel())
    img.filepath_raw = str(out_png)
    img.file_format = 'PNG'
    img.save()
    bpy.data.images.remove(img)
    shutil.rmtree(tmp, ignore_errors=True)
    return out_png


def path_curve(bpy, points, name: str = "MotionGPT_path"):
    """A poly curve through ground points (x, z) of a path file, as Blender's
    (x, -z): the metarig faces -Y, so the file's +Z is the way it faces."""
    cu = bpy.data.curves.new(name, 'CURVE')
    sp = cu.splines.new('POLY')
    sp.points.add(len(points) - 1)
    for pt, (x, z) in zip(sp.points, points):
        pt.co = (float(x), -float(z), 0.0, 1.0)
    obj = bpy.data.objects.new(name, cu)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def path_top_view(bpy, rig, curve, feet: dict[str, str], frames, out_png: Path, size: int = 900) -> Path:
    """A top view of the curve (white), the footprints (each foot's planted
    frames: left blue, right orange) and the body at the last frame."""
    import numpy as np
    scene = bpy.context.scene
    prints = {}
    for side, bone in feet.items():
        pts = []
        for f in frames:
            scene.frame_set(int(f))
            pts.append(list(rig.matrix_world @ rig.pose.bones[bone].head))
        pts = np.array(pts)
        speed = np.linalg.norm(np.diff(pts[:, :2], axis=0), axis=-1) * scene.render.fps
        low = pts[1:, 2] < pts[:, 2].min() + 0.05
        prints[side] = pts[1:][(speed < 0.5) & low]
    for side, colour in (("left", (0.2, 0.45, 1.0, 1.0)), ("right", (1.0, 0.55, 0.1, 1.0))):
        verts, faces = [], []
        for x, y, _ in prints[side]:
            b = len(verts)
            verts += [(x - 0.03, y - 0.03, 0.01), (x + 0.03, y - 0.03, 0.01), (x + 0.03, y + 0.03, 0.01),
                      (x - 0.03, y + 0.03, 0.01)]
            faces.append((b, b + 1, b + 2, b + 3))
        mesh = bpy.data.meshes.new(f"footprints_{side}")
        mesh.from_pydata(verts, [], faces)
        obj = bpy.data.objects.new(f"footprints_{side}", mesh)
        scene.collection.objects.link(obj)
        obj.color = colour
    shown = curve.copy()
    shown.data = curve.data.copy()
    shown.data.bevel_depth = 0.012
    shown.name = "path_shown"
    scene.collection.objects.link(shown)
    shown.color = (1.0, 1.0, 1.0, 1.0)
    scene.frame_set(int(frames[-1]))
    pts = np.array([tuple(p.co)[:2] for p in curve.data.splines[0].points])
    lo, hi = pts.min(axis=0) - 0.6, pts.max(axis=0) + 0.6
    cam_data = bpy.data.cameras.new("MotionGPT_top")
    cam_data.type = 'ORTHO'
    cam_data.ortho_scale = float((hi - lo).max())
    cam = bpy.data.objects.new("MotionGPT_top", cam_data)
    scene.collection.objects.link(cam)
    cam.location = (float((lo[0] + hi[0]) / 2), float((lo[1] + hi[1]) / 2), 20.0)
    cam.rotation_euler = (0.0, 0.0, 0.0)
    previous = scene.camera
    scene.camera = cam
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.filepath = str(out_png)
    bpy.ops.render.render(write_still=True)
    scene.camera = previous
    return out_png


def run(args) -> dict:
    out = args.out.resolve()
    user = out / "blender_user"
    shutil.rmtree(user, ignore_errors=True)
    # a fresh Blender user setup, so the demo never touches yours
    os.environ["BLENDER_USER_EXTENSIONS"] = str(user / "extensions")
    os.environ["BLENDER_USER_CONFIG"] = str(user / "config")
    os.environ["BLENDER_USER_SCRIPTS"] = str(user / "scripts")
    t0 = time.perf_counter()
    say("[1/6] Building the extension ...")
    zip_path = build_zip()
    log_path = out / "blender.log"
    with blender_output_to(log_path):
        summary = _in_blender(args, out, zip_path, t0)
    notes = egl_notes(log_path)
    if notes:
        say(f"      (Blender's headless renderer wrote {notes} EGL notes, which are harmless without a display; "
            f"Blender's own output is in {log_path})")
    reading = summary.get("understood_as") or ""
    if reading.lower().startswith("outside"):
        say(f"Note: {reading}")
    elif reading:
        say(f"The prompt was {reading[0].lower()}{reading[1:]}")
    return summary


def _in_blender(args, out: Path, zip_path: Path, t0: float) -> dict:
    """Install the extension in a fresh Blender, generate, fill a gap,
    caption, save and render (Blender's own output goes to a log)."""
    import bpy
    import addon_utils
    say(f"[2/6] Installing {zip_path.name} into a fresh Blender {bpy.app.version_string} (bpy module) ...")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    res = bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default",
                                                   enable_on_install=True)
    if res != {'FINISHED'} or PKG not in bpy.context.preferences.addons or not hasattr(bpy.ops.motiongpt, "generate"):
        fail(f"the extension did not install and enable ({res})")
    enabled, loaded = addon_utils.check(PKG)
    say(f"      installed at {Path(sys.modules[PKG].__file__).parent}; enabled={enabled}, loaded={loaded}")
    prefs = bpy.context.preferences.addons[PKG].preferences
    prefs.engine_root = str(REPO)
    prefs.engine_python = sys.executable
    prefs.model_choice = 'CUSTOM'
    prefs.model_path = str(args.model)
    prefs.device = args.device.upper()
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = args.fps, 1.0

    say("[3/6] Adding Blender's Human metarig (Rigify) ...")
    addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_human_metarig_add()
    rig = bpy.context.active_object
    rig.name = "metarig"
    anim = sys.modules[PKG + ".animation"]
    mapping = anim.bone_map_for(rig)
    say(f"      {len(rig.data.bones)} bones; {len(mapping)} of the engine's 22 joints mapped "
          f"(hips -> {mapping['pelvis']})")

    say(f"[4/6] Generate {args.prompt!r} ({args.seconds:g} s, {args.variants} variants) -- the add-on starts "
          "the engine ...")
    scene.frame_set(1)
    gen_kw = {"prompt": args.prompt, "seconds": args.seconds, "variants": args.variants}
    if args.seed is not None:
        gen_kw["seed"] = args.seed
    if args.timeline:                         # a shot from several prompts: the Timeline section
        s = scene.motiongpt
        for text in args.timeline:
            item = s.timeline.add()
            body, _, parts = text.partition(":")
            item.prompt, _, span = body.rpartition("@")
            start, _, end = span.partition("-")
            item.frame_start = 1 + int(round(float(start) * args.fps))
            item.frame_end = 1 + int(round(float(end) * args.fps))
            if parts:
                item.part = parts.strip().upper()
        gen_msg = call(bpy, bpy.ops.motiongpt.generate_timeline, **({"seed": args.seed} if args.seed is not None
                                                                     else {}))
    elif args.path:                            # walk along a curve: Follow Path, at the action's own pace
        sys.path.insert(0, str(REPO))
        from engine.pipeline.path_follow import read_path_file
        curve = path_curve(bpy, read_path_file(args.path).points)
        gen_kw.pop("seconds")
        gen_msg = call(bpy, bpy.ops.motiongpt.generate, follow_path=True, path_curve=curve.name, path_start='CURVE',
                       path_timing='CURVE_LENGTH', **gen_kw)
    else:
        gen_msg = call(bpy, bpy.ops.motiongpt.generate, **gen_kw)
    first, last = anim.key_range(rig)
    a = first + int(round(0.25 * (last - first)))
    b = first + int(round(0.6 * (last - first)))
    say(f"[5/6] Fill Gap between the keys at frames {a} and {b} (selected in the action), then Caption ...")
    for fc in sys.modules[PKG + ".fcurves"].object_fcurves(rig):
        for kp in fc.keyframe_points:
            kp.select_control_point = kp.co[0] in (a, b)
    fill_msg = call(bpy, bpy.ops.motiongpt.fill_gap, prompt=args.gap_prompt)
    cap_msg = call(bpy, bpy.ops.motiongpt.caption)
    caption = rig.animation_data.action.get(anim.CAPTION_PROP, "")

    say("[6/6] Saving out/demo.blend and rendering out/demo.png ...")
    out.mkdir(parents=True, exist_ok=True)
    bone_mesh(bpy, rig, list(mapping.values()))
    scene.frame_start, scene.frame_end = first, last
    frames = [round(first + i * (last - first) / 7) for i in range(8)]
    png = contact_sheet(bpy, rig, mapping["pelvis"], frames, out / "demo.png")
    if args.path:
        top = path_top_view(bpy, rig, bpy.data.objects["MotionGPT_path"],
                            {"left": mapping["left_foot"], "right": mapping["right_foot"]},
                            range(first, last + 1), out / "path_top.png")
        say(f"      top view of the path and the footprints: {top}")
    scene.frame_set(first)
    blend = out / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    info = sys.modules[PKG + ".engine_manager"].MANAGER.info()
    sys.modules[PKG + ".engine_manager"].MANAGER.stop()
    summary = {"prompt": args.prompt, "model": str(args.model), "generate": gen_msg, "fill_gap": fill_msg,
               "caption": caption, "actions": [a.name for a in bpy.data.actions], "frames": [first, last],
               "contact_sheet_frames": frames, "blend": str(blend), "png": str(png),
               "engine": {k: info.get(k) for k in ("model", "device", "log")},
               "understood_as": str(rig.animation_data.action.get("motiongpt_understood_as", "")),
               "seconds": round(time.perf_counter() - t0, 1)}
    (out / "demo.json").write_text(json.dumps(summary, indent=2) + "\n")
    say(f"      caption: {caption!r}")
    say(f"Done in {summary['seconds']} s: {blend}, {png} (contact sheet of frames {frames}), {out / 'demo.json'}")
    return summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="setup.sh demo", description=__doc__.split("\n\n")[0])
    p.add_argument("prompt", nargs="?", default="a person walks forward")
    p.add_argument("--model", type=Path, default=REPO / "models" / "default")
    p.add_argument("--out", type=Path, default=REPO / "out")
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--variants", type=int, default=2)
    p.add_argument("--seed", type=int)
    p.add_argument("--fps", type=int, default=24)
    p.add_argument("--gap-prompt", default="", help="what happens in the filled gap (default: the model decides)")
    p.add_argument("--timeline", action="append", default=[], metavar="TEXT@START-END[:PART]",
                   help="make a shot with Generate Timeline instead (repeatable; seconds; PART e.g. right_arm)")
    p.add_argument("--path", metavar="FILE", help="walk along this ground path (JSON or CSV as `motiongpt generate "
                                                  "--path` takes; x, z in metres become Blender's x, -y) with "
                                                  "Follow Path; also renders out/path_top.png")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--data", help=argparse.SUPPRESS)          # accepted for setup.sh compatibility
    args = p.parse_args(argv)
    args.model = args.model.resolve()
    if not (args.model / "model.json").is_file():
        print("error: " + model_missing_message(args.model), file=sys.stderr)
        return 2
    try:
        run(args)
    except Exception as exc:                       # noqa: BLE001 - report, then leave without Blender's teardown
        import traceback
        traceback.print_exc()
        fail(f"the demo failed: {exc}")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)                                    # an enabled Rigify keeps the process alive at exit


if __name__ == "__main__":
    sys.exit(main())
