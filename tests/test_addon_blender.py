"""The extension end to end in a real (headless) Blender, against live engines.

ONE Blender subprocess (bpy module, factory settings, temporary user
extension/config/scripts folders) installs the zip that ``build.py`` makes
through Blender's own extension installer, enables it, points its Preferences
at the tiny test model and then runs every operator through its blocking
``EXEC_DEFAULT`` path (the modal ``INVOKE_DEFAULT`` path needs Blender's event
loop, which the bpy module does not run): Generate, Fill Gap, Continue and
Caption on an SMPL-named, a Mixamo-named and Blender's Human metarig, undo,
save/load, and the faults (no armature, a mesh, no prompt, one key selected,
a rig without legs, a broken engine, a missing model, the engine killed
mid-job, a remote engine with a wrong token). The add-on starts its own
engine; the remote one is started here with a known token. The script
records everything; the tests below check it.
"""
from __future__ import annotations

import textwrap

import pytest

import blender_support as bs
from conftest import ENGINE_TOKEN

pytestmark = pytest.mark.skipif(not bs.bpy_available(), reason="bpy (Blender as a Python module) is not installed")

TOKEN_MESSAGE = "The engine refused the token; check Preferences > MotionGPT > Token"
GEN_SECONDS = 2.0
FPS = 24


SCRIPT = r"""
import signal, threading, time
import numpy as np
import addon_utils
from types import SimpleNamespace

PKG = "bl_ext.user_default.motiongpt"
scene = bpy.context.scene

def mod(name):
    return sys.modules[f"{PKG}.{name}"]

def status():
    return bpy.context.window_manager.motiongpt_status

def call(op, *args, **kw):
    t = time.perf_counter()
    err = None
    try:
        res = sorted(op('EXEC_DEFAULT', *args, **kw))
    except RuntimeError as exc:                # an operator's ERROR report raises in scripts
        res, err = ["CANCELLED"], str(exc)
    return {"result": res, "error": err, "last": status().last, "seconds": time.perf_counter() - t}

activate = bs.activate

def keyset(obj):
    # {(curve, frame): every key property} of the object's action
    out = {}
    for path, e in bs.fcurve_snapshot(obj).items():
        for i, co in enumerate(e["co"]):
            out[(path, co[0])] = tuple(tuple(map(tuple, [e[p][i]])) for p in sorted(e))
    return out

def diff(before, after):
    changed = sorted({k[1] for k in before if k in after and after[k] != before[k]})
    added = sorted({k[1] for k in after if k not in before})
    removed = sorted({k[1] for k in before if k not in after})
    return {"changed": changed, "added": added, "removed": removed, "kept": sum(1 for k in before if after.get(k) == before[k])}

def curve_ranges(obj, action=None):
    rr = mod("rig_reader")
    if action is None:
        curves = mod("fcurves").object_fcurves(obj)
    else:
        from bpy_extras import anim_utils
        curves = list(anim_utils.action_get_channelbag_for_slot(action, action.slots[0]).fcurves)
    firsts, lasts = [], []
    for fc in curves:
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        firsts.append(float(co[0::2].min()))
        lasts.append(float(co[0::2].max()))
    return {"curves": len(curves), "first": sorted(set(firsts)), "last": sorted(set(lasts))}

def select_keys(obj, frames):
    for fc in mod("fcurves").object_fcurves(obj):
        n = len(fc.keyframe_points)
        co = np.empty(2 * n, dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        fc.keyframe_points.foreach_set("select_control_point", np.isin(co[0::2], frames))
        fc.keyframe_points.foreach_set("select_left_handle", np.zeros(n, bool))
        fc.keyframe_points.foreach_set("select_right_handle", np.zeros(n, bool))

FakeLayout = bs.FakeLayout

def draw_all():
    log = []
    ui = mod("ui")
    for cls in ui.classes:
        cls.draw(SimpleNamespace(layout=FakeLayout(log)), bpy.context)
    prefs = bpy.context.preferences.addons[PKG].preferences
    class Proxy:
        layout = FakeLayout(log)
        def __getattr__(self, name):
            return getattr(prefs, name)
    type(prefs).draw(Proxy(), bpy.context)
    return [list(x) for x in log]

# ---------------------------------------------------------------------------
# install the built zip like Preferences > Get Extensions > Install from Disk
t = time.perf_counter()
res = bpy.ops.extensions.package_install_files(filepath=DATA["zip"], repo="user_default", enable_on_install=True)
RESULT["install"] = {"result": sorted(res), "seconds": time.perf_counter() - t,
                     "enabled": PKG in bpy.context.preferences.addons,
                     "path": os.path.dirname(sys.modules[PKG].__file__),
                     "ops": all(hasattr(bpy.ops.motiongpt, o) for o in ("generate", "fill_gap", "continue_action", "caption", "cancel_job")),
                     "panel": hasattr(bpy.types, "MOTIONGPT_PT_main"),
                     "torch_loaded": "torch" in sys.modules}
prefs = bpy.context.preferences.addons[PKG].preferences
prefs.engine_root = DATA["repo"]
prefs.engine_python = sys.executable
prefs.model_choice = 'CUSTOM'
prefs.model_path = DATA["model"]
prefs.device = 'CPU'
RESULT["draw_idle"] = draw_all()

# ---------------------------------------------------------------------------
# rigs
from motiongpt_blender import retarget_math as rm
smpl = bs.smpl_rig(rm.T_POSE_OFFSETS_M)
mixamo = bs.mixamo_rig()
meta, RESULT["real_metarig"] = bs.human_metarig()
nolegs = bs.no_legs_rig()
bpy.ops.object.mode_set(mode='OBJECT')
bpy.ops.mesh.primitive_cube_add()
cube = bpy.context.active_object
scene.render.fps, scene.render.fps_base = DATA["fps"], 1.0

# ---------------------------------------------------------------------------
# faults found before any engine is needed
faults = {}
activate(None)
faults["nothing_active"] = call(bpy.ops.motiongpt.generate, prompt="a person waves")
activate(cube)
faults["mesh_active"] = call(bpy.ops.motiongpt.generate, prompt="a person waves")
activate(smpl)
faults["no_prompt"] = call(bpy.ops.motiongpt.generate, prompt="   ")
faults["no_action_fill"] = call(bpy.ops.motiongpt.fill_gap)
activate(nolegs)
faults["no_legs"] = call(bpy.ops.motiongpt.generate, prompt="a person waves")
# an engine that cannot start: its log's last line and path are in the message
activate(smpl)
prefs.engine_root = DATA["broken_root"]
faults["broken_engine"] = call(bpy.ops.motiongpt.generate, prompt="a person waves")
prefs.engine_root = DATA["repo"]
prefs.model_path = DATA["empty_model"]
faults["no_model"] = call(bpy.ops.motiongpt.generate, prompt="a person waves")
prefs.model_path = DATA["model"]
faults["actions_after_faults"] = len(bpy.data.actions)
RESULT["faults"] = faults

# ---------------------------------------------------------------------------
# the four operators on three rigs
mgr = mod("engine_manager").MANAGER
runs = {}
for key, obj, start, variants in (("smpl", smpl, 5, 2), ("mixamo", mixamo, 1, 1), ("metarig", meta, 12, 1)):
    r = runs[key] = {}
    activate(obj)
    scene.frame_set(start)
    r["generate"] = call(bpy.ops.motiongpt.generate, prompt=f"a person walks forward ({key})", seconds=DATA["seconds"],
                         variants=variants, seed=7)
    act = obj.animation_data.action
    r["action"] = act.name
    # keys are written in each bone's own rotation mode (the metarig's shoulders are Euler)
    r["modes"] = {b: obj.pose.bones[b].rotation_mode for b in mod("animation").bone_map_for(obj).values()}
    r["understood"] = act.get("motiongpt_understood_as")
    r["actions"] = [(a.name, a.use_fake_user, a.get("motiongpt_variant")) for a in bpy.data.actions if key in a.name]
    r["range"] = curve_ranges(obj)
    r["variant_ranges"] = [curve_ranges(obj, a) for a in bpy.data.actions if key in a.name and a != act]
    r["engine_pid"] = mgr.engine.pid if mgr.engine else None
    # Fill Gap between two selected keys
    a, b = start + 8, start + 30
    select_keys(obj, [a, b])
    before = keyset(obj)
    r["gap"] = [a, b]
    r["fill"] = call(bpy.ops.motiongpt.fill_gap, prompt="jumps")
    r["fill_diff"] = diff(before, keyset(obj))
    # Continue past the last key
    before = keyset(obj)
    last = max(k[1] for k in before)
    r["last"] = last
    r["continue"] = call(bpy.ops.motiongpt.continue_action, seconds=1.0, prompt="then stops")
    r["continue_diff"] = diff(before, keyset(obj))
    # Caption
    r["caption"] = call(bpy.ops.motiongpt.caption)
    r["caption_prop"] = obj.animation_data.action.get("motiongpt_caption")
    r["starts"] = mgr.starts
RESULT["runs"] = runs
activate(smpl)
RESULT["draw_smpl"] = draw_all()

# how the prompt was read, refusals and the model's example prompts
prompt_help = mod("prompt_help")
examples = prompt_help.example_prompts(DATA["model"])
if examples:
    bpy.ops.motiongpt.use_example(prompt=examples[0])
RESULT["examples"] = {"list": examples, "prompt_after": scene.motiongpt.prompt,
                      "panel_reading": prompt_help.understood_of(smpl)}
n_actions = len(bpy.data.actions)
RESULT["refused"] = call(bpy.ops.motiongpt.generate, prompt="🏃 ?!", seconds=1.0)
RESULT["refused"]["actions_added"] = len(bpy.data.actions) - n_actions

# Fill Gap from two frame numbers typed in the panel
scene.motiongpt.gap_source = 'FRAMES'
scene.motiongpt.gap_from, scene.motiongpt.gap_to = 20, 26
before = keyset(smpl)
RESULT["fill_frames"] = {"call": call(bpy.ops.motiongpt.fill_gap), "diff": diff(before, keyset(smpl))}
scene.motiongpt.gap_source = 'SELECTED'

# one key selected / keys at three frames
select_keys(smpl, [10])
faults["one_key"] = call(bpy.ops.motiongpt.fill_gap)
select_keys(smpl, [10, 20, 30])
faults["three_keys"] = call(bpy.ops.motiongpt.fill_gap)
select_keys(smpl, [10, 11])
faults["adjacent_keys"] = call(bpy.ops.motiongpt.fill_gap)

# ---------------------------------------------------------------------------
# undo: the operator is one undo step (the third positional argument asks
# bpy.ops for the undo push an interactive call gets)
undo = {}
bpy.ops.ed.undo_push(message="before continue")
before = keyset(smpl)
try:
    res = bpy.ops.motiongpt.continue_action('EXEC_DEFAULT', True, seconds=0.5, armature="SMPL")
    undo["continue"] = sorted(res)
except RuntimeError as exc:
    undo["continue"] = str(exc)
undo["changed"] = diff(before, keyset(bpy.data.objects["SMPL"]))["added"]
bpy.ops.ed.undo()
undo["restored"] = keyset(bpy.data.objects["SMPL"]) == before
n_actions = len(bpy.data.actions)
bpy.ops.ed.undo_push(message="before generate")
res = bpy.ops.motiongpt.generate('EXEC_DEFAULT', True, prompt="a person bows", seconds=1.0, armature="SMPL")
undo["generate_actions"] = [n_actions, len(bpy.data.actions)]
bpy.ops.ed.undo()
undo["generate_undone"] = len(bpy.data.actions)
undo["action_after_undo"] = bpy.data.objects["SMPL"].animation_data.action.name
RESULT["undo"] = undo
smpl, scene = bpy.data.objects["SMPL"], bpy.context.scene      # undo reloads data: fresh references

# ---------------------------------------------------------------------------
# the modal (UI) path. In background mode Blender runs execute() even for
# INVOKE_DEFAULT and has no event loop, so the operator's own invoke/modal
# code is driven by hand here: a stand-in window manager records the timer and
# progress calls, TIMER events are fed every 0.1 s like Blender's timer would.
ops = mod("operators")

class FakeWM:
    def __init__(self):
        self.motiongpt_status = SimpleNamespace(running=False, task="", progress=0.0, message="", last="")
        self.windows, self.log = [], []
    def event_timer_add(self, step, window=None):
        self.log.append(("timer", step)); return "timer"
    def event_timer_remove(self, timer):
        self.log.append(("timer_removed",))
    def progress_begin(self, a, b):
        self.log.append(("begin", a, b))
    def progress_update(self, v):
        self.log.append(("update", v))
    def progress_end(self):
        self.log.append(("end",))
    def modal_handler_add(self, op):
        self.log.append(("handler",))

class Ctx:
    def __init__(self):
        self.window_manager, self.window = FakeWM(), None
    def __getattr__(self, name):
        return getattr(bpy.context, name)

def probe(op_cls, **kw):
    class Props:
        def is_property_set(self, name):
            return name in kw
    methods = {k: v for k, v in vars(op_cls).items() if k in ("make_plan", "apply")}
    P = type("Probe", (ops._EngineOperator,), methods)
    p = P()
    p.properties, p.reports = Props(), []
    p.report = lambda kind, msg: p.reports.append([sorted(kind)[0], msg])
    defaults = {"armature": "", "timeout": 600.0, "seed": -1}
    for k, v in {**defaults, **kw}.items():
        setattr(p, k, v)
    return p

def drive(p, ctx, events=(), max_ticks=3000):
    first = sorted(p.invoke(ctx, None))
    states, ticks = [], 0
    events = list(events)
    res = ["RUNNING_MODAL"]
    while res == ["RUNNING_MODAL"] and ticks < max_ticks:
        ev = events.pop(0)(p) if events else None
        res = sorted(p.modal(ctx, ev or SimpleNamespace(type='TIMER', value='NOTHING')))
        st = ctx.window_manager.motiongpt_status
        states.append([p._runner.state, round(st.progress, 3), st.message])
        ticks += 1
        time.sleep(0.1)
    return {"invoke": first, "result": res, "ticks": ticks, "states": states, "reports": p.reports,
            "wm": [list(x) for x in ctx.window_manager.log], "last": ctx.window_manager.motiongpt_status.last,
            "running": ctx.window_manager.motiongpt_status.running}

modal = {}
activate(smpl)
scene.frame_set(100)
before = keyset(smpl)
ctx = Ctx()
modal["generate"] = drive(probe(ops.MOTIONGPT_OT_generate, prompt="a person jumps", seconds=1.0, variants=1), ctx)
modal["generate"]["action"] = smpl.animation_data.action.name
modal["generate"]["range"] = curve_ranges(smpl)
# Esc while a long job runs: cancelled, nothing written, the engine drops the job
def esc_when_running(p):
    while p._runner.state != "running":
        time.sleep(0.02)
    return SimpleNamespace(type='ESC', value='PRESS')
before, n_actions = keyset(smpl), len(bpy.data.actions)
ctx = Ctx()
p = probe(ops.MOTIONGPT_OT_generate, prompt="a person walks", seconds=60.0, variants=8)
modal["esc"] = drive(p, ctx, events=[lambda p: None, esc_when_running])
modal["esc"]["unchanged"] = keyset(smpl) == before and len(bpy.data.actions) == n_actions
job_id = p._runner.job_id
client = mgr.engine.client()
deadline = time.time() + 30
while client.status(job_id)["status"] != "cancelled" and time.time() < deadline:
    time.sleep(0.05)
modal["esc"]["engine_job"] = client.status(job_id)["status"]
# the panel's Cancel button
ctx = Ctx()
def press_cancel(p):
    while p._runner.state != "running":
        time.sleep(0.02)
    modal["cancel_button"] = sorted(bpy.ops.motiongpt.cancel_job())
    return None
modal["button"] = drive(probe(ops.MOTIONGPT_OT_generate, prompt="a person walks", seconds=60.0, variants=8), ctx,
                        events=[press_cancel])
modal["button"]["unchanged"] = keyset(smpl) == before and len(bpy.data.actions) == n_actions
# a second job while one runs is refused
ctx = Ctx()
p1 = probe(ops.MOTIONGPT_OT_generate, prompt="a person walks", seconds=60.0, variants=8)
p1.invoke(ctx, None)
modal["busy"] = call(bpy.ops.motiongpt.caption, armature="SMPL")
p1._runner.cancel()
modal["busy_end"] = sorted(p1.modal(ctx, SimpleNamespace(type='TIMER', value='NOTHING')))
# Esc while the keys are being written: what was already written is rolled back
ops.APPLY_BUDGET_S = 0.0                  # one step per tick, so the Esc lands half-way through
writing = {"ticks": 0}
def esc_while_writing(p):
    if getattr(p, "_applier", None) is None:
        return None
    writing["ticks"] += 1
    return SimpleNamespace(type='ESC', value='PRESS') if writing["ticks"] > 3 else None
before, n_actions = keyset(smpl), len(bpy.data.actions)
ctx = Ctx()
p = probe(ops.MOTIONGPT_OT_fill_gap, frame_from=40, frame_to=90, selected_keys=False, prompt="")
modal["esc_writing"] = drive(p, ctx, events=[esc_while_writing] * 3000)
modal["esc_writing"]["unchanged"] = keyset(smpl) == before and len(bpy.data.actions) == n_actions
modal["esc_writing"]["writing_ticks"] = writing["ticks"]
ops.APPLY_BUDGET_S = 0.1
RESULT["modal"] = modal

# ---------------------------------------------------------------------------
# the engine killed while it works: a clear message, nothing written, next call restarts it
kill = {"killed": False}
def killer():
    deadline = time.time() + 120
    while time.time() < deadline:
        r = ops._ACTIVE["runner"]
        if r is not None and r.job_id is not None and r.state == "running" and mgr.engine is not None:
            kill["pid"] = mgr.engine.pid
            os.kill(mgr.engine.pid, signal.SIGKILL)
            kill["killed"] = True
            return
        time.sleep(0.02)
before, n_actions = keyset(smpl), len(bpy.data.actions)
thread = threading.Thread(target=killer, daemon=True)
thread.start()
kill["call"] = call(bpy.ops.motiongpt.generate, prompt="a person walks in a circle", seconds=60.0, variants=8,
                    armature="SMPL")
thread.join(5)
kill["unchanged"] = keyset(smpl) == before and len(bpy.data.actions) == n_actions
kill["starts_before"] = mgr.starts
kill["next"] = call(bpy.ops.motiongpt.caption, armature="SMPL")
kill["starts_after"] = mgr.starts
kill["new_pid"] = mgr.engine.pid if mgr.engine else None
RESULT["kill"] = kill

# ---------------------------------------------------------------------------
# a remote engine with a wrong token, then the right one
remote = {}
prefs.engine_mode = 'REMOTE'
prefs.remote_url = DATA["remote_url"]
prefs.token = "not-the-token"
remote["wrong"] = call(bpy.ops.motiongpt.caption, armature="SMPL")
prefs.token = DATA["remote_token"]
remote["right"] = call(bpy.ops.motiongpt.caption, armature="SMPL")
prefs.remote_url = "http://127.0.0.1:9"
remote["unreachable"] = call(bpy.ops.motiongpt.caption, armature="SMPL")
prefs.engine_mode = 'LOCAL'
RESULT["remote"] = remote

# ---------------------------------------------------------------------------
# save and load: the caption and the variants survive
path = os.path.join(DATA["tmp"], "saved.blend")
caption = smpl.animation_data.action.get("motiongpt_caption")
bpy.ops.wm.save_as_mainfile(filepath=path)
bpy.ops.wm.open_mainfile(filepath=path)
smpl = bpy.data.objects["SMPL"]
RESULT["reload"] = {"caption_before": caption,
                    "caption_after": smpl.animation_data.action.get("motiongpt_caption"),
                    "actions": sorted(a.name for a in bpy.data.actions),
                    "enabled": PKG in bpy.context.preferences.addons}

# ---------------------------------------------------------------------------
# disabling the add-on stops its engine
pid = mgr.engine.pid if mgr.engine else None
proc = mgr.engine.proc if mgr.engine else None
bpy.ops.preferences.addon_disable(module=PKG)
RESULT["disable"] = {"pid": pid, "exit": proc.poll() if proc else None, "engine": mgr.engine is None}
"""


def broken_engine_root(folder):
    """A folder with an engine/ package that fails the way a broken install does."""
    (folder / "engine").mkdir(parents=True)
    (folder / "engine" / "__init__.py").write_text("")
    (folder / "engine" / "__main__.py").write_text(textwrap.dedent("""
        import sys
        print("loading the model ...", file=sys.stderr)
        print("RuntimeError: CUDA error: no CUDA-capable device is detected", file=sys.stderr)
        sys.exit(3)
    """))
    return folder


@pytest.fixture(scope="module")
def run(tiny_bundle, token_engine, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("addon")
    zip_path, env = bs.built_extension(tmp)
    (tmp / "empty_model").mkdir()
    data = {"zip": str(zip_path), "repo": str(bs.REPO), "model": str(tiny_bundle), "fps": FPS,
            "seconds": GEN_SECONDS, "broken_root": str(broken_engine_root(tmp / "broken")),
            "empty_model": str(tmp / "empty_model"), "remote_url": token_engine.url,
            "remote_token": ENGINE_TOKEN, "tmp": str(tmp)}
    result = bs.run_blender(SCRIPT, data, timeout=420, env=env)
    result["tmp"] = str(tmp)
    return result


def test_the_zip_installs_and_enables(run):
    inst = run["install"]
    assert inst["result"] == ["FINISHED"] and inst["enabled"] and inst["ops"] and inst["panel"]
    assert inst["path"].startswith(run["tmp"])                 # installed into the temporary user folder
    assert not inst["torch_loaded"]                            # the add-on never imports torch


def test_panels_and_preferences_draw(run):
    labels = [x[1] for x in run["draw_idle"] if x[0] == "label"]
    assert any(lbl.startswith("Using: ") and "Preferences" in lbl for lbl in labels)
    ops = {x[1] for x in run["draw_smpl"] if x[0] == "operator"}
    assert {"motiongpt.generate", "motiongpt.fill_gap", "motiongpt.continue_action", "motiongpt.caption",
            "motiongpt.install_engine"} <= ops
    labels = [x[1] for x in run["draw_smpl"] if x[0] == "label"]
    assert "Ready: 22 of 22 joints mapped." in labels and "Auto-detected: SMPL" in labels   # the Bone Map panel


@pytest.mark.parametrize("key,start,variants", [("smpl", 5, 2), ("mixamo", 1, 1), ("metarig", 12, 1)])
def test_generate_keys_from_the_current_frame(run, key, start, variants):
    r = run["runs"][key]
    assert r["generate"]["result"] == ["FINISHED"], r["generate"]
    end = start + round(GEN_SECONDS * FPS)
    channels = sum(3 if m not in ("QUATERNION", "AXIS_ANGLE") else 4 for m in r["modes"].values()) + 3
    assert r["range"]["curves"] == channels
    assert (channels < 22 * 4 + 3) == (key == "metarig")          # Euler shoulders stay Euler
    assert r["range"]["first"] == [start]
    # the first variant, before Fill Gap and Continue touched it
    assert r["generate"]["last"].endswith(f"frames {start}-{end}") or f"frames {start}-{end}" in r["generate"]["last"]
    assert r["action"].startswith(f"a person walks forward ({key})")
    assert len(r["actions"]) == variants and all(fake for _, fake, _ in r["actions"])
    assert sorted(v for _, _, v in r["actions"]) == list(range(1, variants + 1))
    for vr in r["variant_ranges"]:                             # the other variants are kept, same frames
        assert vr == {"curves": channels, "first": [start], "last": [end]}


@pytest.mark.parametrize("key", ["smpl", "mixamo", "metarig"])
def test_fill_gap_writes_only_strictly_between_the_keys(run, key):
    r = run["runs"][key]
    assert r["fill"]["result"] == ["FINISHED"], r["fill"]
    a, b = r["gap"]
    d = r["fill_diff"]
    assert d["removed"] == [] and d["added"] == []             # same key frames: every frame was keyed
    assert d["changed"] and all(a < f < b for f in d["changed"])
    assert len(d["changed"]) > 0.8 * (b - a - 1)
    assert f"Filled frames {a + 1}-{b - 1}" in r["fill"]["last"]


def test_fill_gap_from_typed_frames(run):
    res = run["fill_frames"]
    assert res["call"]["result"] == ["FINISHED"], res["call"]
    d = res["diff"]
    assert d["added"] == [] and d["removed"] == [] and d["changed"] and all(20 < f < 26 for f in d["changed"])


@pytest.mark.parametrize("key", ["smpl", "mixamo", "metarig"])
def test_continue_keys_only_after_the_last_key(run, key):
    r = run["runs"][key]
    assert r["continue"]["result"] == ["FINISHED"], r["continue"]
    d = r["continue_diff"]
    last = r["last"]
    assert d["changed"] == [] and d["removed"] == []
    assert d["added"] == [last + i for i in range(1, FPS + 1)]


@pytest.mark.parametrize("key", ["smpl", "mixamo", "metarig"])
def test_caption_is_stored_on_the_action(run, key):
    r = run["runs"][key]
    assert r["caption"]["result"] == ["FINISHED"], r["caption"]
    assert isinstance(r["caption_prop"], str) and r["caption_prop"]
    assert r["caption"]["last"].endswith(r["caption_prop"])


def test_one_engine_serves_every_call(run):
    runs = run["runs"]
    assert runs["smpl"]["starts"] == runs["metarig"]["starts"] == 1
    assert runs["smpl"]["engine_pid"] == runs["metarig"]["engine_pid"]


def test_caption_and_variants_survive_save_and_load(run):
    rl = run["reload"]
    assert rl["caption_after"] == rl["caption_before"] and rl["caption_before"]
    assert {"a person walks forward (smpl) v1", "a person walks forward (smpl) v2"} <= set(rl["actions"])
    assert rl["enabled"]


def test_an_operator_is_one_undo_step(run):
    u = run["undo"]
    assert u["continue"] == ["FINISHED"] and u["changed"]
    assert u["restored"]                                        # one undo brings every key back
    n_before, n_after = u["generate_actions"]
    assert n_after == n_before + 1 and u["generate_undone"] == n_before
    assert not u["action_after_undo"].startswith("a person bows")


def test_errors_before_the_engine_are_worded_for_animators(run):
    f = run["faults"]
    for case in ("nothing_active", "mesh_active", "no_prompt", "no_legs", "one_key", "three_keys", "adjacent_keys",
                 "no_action_fill", "broken_engine", "no_model"):
        assert f[case]["result"] == ["CANCELLED"], case
        assert f[case]["error"] and f[case]["last"] and f[case]["last"] in f[case]["error"], case
    assert f["nothing_active"]["last"] == "Select an armature first: nothing is active."
    assert "'Cube' is a mesh, not an armature" in f["mesh_active"]["last"]
    assert f["no_prompt"]["last"].startswith("Type a prompt first")
    assert f["no_legs"]["last"].startswith("NoLegs: This rig has no bones for: left thigh, right thigh")
    assert "only keys at frame 10 are selected" in f["one_key"]["last"]
    assert "exactly two frames" in f["three_keys"]["last"] and "10, 20, 30" in f["three_keys"]["last"]
    assert "no frame between frames 10 and 11" in f["adjacent_keys"]["last"]
    assert "has no animation" in f["no_action_fill"]["last"]
    assert f["actions_after_faults"] == 0                       # nothing was written


def test_an_engine_that_cannot_start_names_its_log(run):
    msg = run["faults"]["broken_engine"]["last"]
    assert msg.startswith("The engine failed to start: it exited with code 3 before it was ready.")
    assert "Last log line: RuntimeError: CUDA error: no CUDA-capable device is detected" in msg
    assert "(log: " in msg and "engine.log)" in msg
    no_model = run["faults"]["no_model"]["last"]
    assert no_model.startswith("No model at ") and "model.json is missing" in no_model


def test_engine_killed_mid_job(run):
    k = run["kill"]
    assert k["killed"]
    assert k["call"]["result"] == ["CANCELLED"]
    msg = k["call"]["last"]
    assert msg.startswith("The engine stopped while working on the job: it was killed by signal 9")
    assert "((" not in msg and "))" not in msg
    assert "Nothing was changed; the next request restarts it." in msg
    assert k["unchanged"]
    assert k["next"]["result"] == ["FINISHED"], k["next"]
    assert k["starts_after"] == k["starts_before"] + 1 and k["new_pid"] != k["pid"]


def test_remote_engine_with_a_wrong_token(run):
    r = run["remote"]
    assert r["wrong"]["result"] == ["CANCELLED"] and r["wrong"]["last"] == TOKEN_MESSAGE
    assert r["right"]["result"] == ["FINISHED"], r["right"]
    assert r["unreachable"]["last"].startswith("Cannot reach the engine at http://127.0.0.1:9")


def test_disabling_the_addon_stops_its_engine(run):
    d = run["disable"]
    assert d["pid"] is not None and d["exit"] is not None and d["engine"]


def test_timings(run, record_property):
    for key, r in run["runs"].items():
        times = {op: round(r[op]["seconds"], 2) for op in ("generate", "fill", "continue", "caption")}
        record_property(f"{key}_seconds", times)
        print(f"{key}: {times}")
    print("install:", round(run["install"]["seconds"], 2), "s")


def test_modal_path_polls_shows_progress_and_applies_once(run):
    g = run["modal"]["generate"]
    assert g["invoke"] == ["RUNNING_MODAL"] and g["result"] == ["FINISHED"], g["reports"]
    assert g["running"] is False and g["last"].startswith("Generated 'a person jumps' on SMPL, frames 100-124")
    wm = g["wm"]
    assert wm[0] == ["timer", 0.1] and ["begin", 0, 100] in wm and ["handler"] in wm
    assert wm[-2:] == [["timer_removed"], ["end"]] and any(x[0] == "update" for x in wm)
    assert g["ticks"] >= 2                                       # the UI kept running while the job ran
    assert g["action"] == "a person jumps" and g["range"]["first"] == [100] and g["range"]["last"] == [124]


def test_modal_escape_and_cancel_button_write_nothing(run):
    m = run["modal"]
    for key in ("esc", "button"):
        r = m[key]
        assert r["result"] == ["CANCELLED"] and r["unchanged"], key
        assert r["last"] == "MotionGPT Generate cancelled; nothing was changed"
        assert ["WARNING", r["last"]] in r["reports"]
        assert r["wm"][-2:] == [["timer_removed"], ["end"]]
        assert any(s[0] == "running" for s in r["states"]) or r["ticks"] >= 1
    assert m["esc"]["engine_job"] == "cancelled"                  # DELETE reached the engine
    assert m["cancel_button"] == ["FINISHED"]


def test_escape_while_keys_are_written_rolls_back(run):
    r = run["modal"]["esc_writing"]
    assert r["result"] == ["CANCELLED"], r["reports"]
    assert r["writing_ticks"] > 3                                  # keys were being written when Esc came
    assert r["unchanged"]                                          # and all of them were taken back
    assert r["last"] == "MotionGPT Fill Gap cancelled while writing keys; nothing was changed"


def test_one_job_at_a_time(run):
    busy = run["modal"]["busy"]
    assert busy["result"] == ["CANCELLED"] and "MotionGPT is busy (Generate)" in busy["error"]
    assert run["modal"]["busy_end"] == ["CANCELLED"]


def test_prompt_reading_reaches_the_panel(run):
    for key in ("smpl", "mixamo", "metarig"):
        r = run["runs"][key]
        assert r["understood"] and r["understood"].startswith(("understood as:", "outside what this model knows"))
        assert r["understood"][1:] in r["generate"]["last"]                    # the status line says it too
    drawn = run["draw_smpl"]
    assert ["menu", "MOTIONGPT_MT_examples"] in drawn                            # Generate panel: example menu
    assert any(x[0] == "label" and x[1].startswith(("understood as:", "outside what")) for x in drawn)
    ex = run["examples"]
    assert ex["list"] and ex["prompt_after"] == ex["list"][0]                  # the menu fills the prompt
    assert ex["panel_reading"] == run["runs"]["smpl"]["understood"]            # drawn under the prompt
    refused = run["refused"]
    assert refused["result"] == ["CANCELLED"] and refused["actions_added"] == 0
    assert "no words to read" in refused["last"]

