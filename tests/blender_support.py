"""Helpers for tests that need Blender's Python module (bpy).

bpy must never be imported into the pytest process (it is heavy, global and
some add-ons keep threads alive), so :func:`run_blender` runs a snippet in a
fresh interpreter (``sys.executable``, which has bpy in the dev venv) and
returns the JSON it produced. The snippet sees:

- ``DATA``: the ``data`` dict passed to :func:`run_blender`;
- ``RESULT``: a dict to fill; it is returned to the caller;
- ``bs``: this module, whose rig builders (:func:`smpl_rig`, :func:`mixamo_rig`,
  :func:`human_metarig`, ...) import bpy lazily inside the subprocess.

The metric helpers at the bottom are plain numpy, for the pytest side.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def bpy_available() -> bool:
    """Whether this interpreter can import bpy (checked without importing it)."""
    return importlib.util.find_spec("bpy") is not None


_PRELUDE = """\
import json, os, sys, traceback
sys.path[:0] = [{repo!r}, {tests!r}]
_out = {out!r}
try:
    import bpy
    import blender_support as bs
    bs.new_scene()
    with open({inp!r}) as _f:
        DATA = json.load(_f)
    RESULT = {{}}
"""

_EPILOGUE = """
    with open(_out, "w") as _f:
        json.dump(RESULT, _f)
except BaseException:
    traceback.print_exc()
    sys.stderr.flush()
    os._exit(1)
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)   # skip interpreter teardown: an enabled Rigify can keep the process alive
"""


def built_extension(tmp: Path) -> tuple[Path, dict]:
    """The extension zip that ``build.py`` makes (into ``tmp/dist``) and the
    environment that gives a Blender subprocess its own temporary user
    folders, so installing the zip there never touches the user's Blender."""
    spec = importlib.util.spec_from_file_location("mgpt_build", REPO / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    zip_path = build.build(out_dir=Path(tmp) / "dist", quiet=True)
    env = {f"BLENDER_USER_{kind.upper()}": str(Path(tmp) / "user" / kind) for kind in ("extensions", "config", "scripts")}
    return zip_path, env


ADDON_SCRIPT_PRELUDE = r"""
PKG = "bl_ext.user_default.motiongpt"

def action_curves(act):
    # an action's F-curves on every Blender: legacy .fcurves, else every channelbag of its layers (5.0)
    if hasattr(act, "fcurves"):
        return list(act.fcurves)
    return [fc for layer in act.layers for strip in layer.strips for bag in strip.channelbags for fc in bag.fcurves]

bpy.ops.extensions.package_install_files(filepath=DATA["zip"], repo="user_default", enable_on_install=True)
prefs = bpy.context.preferences.addons[PKG].preferences
prefs.engine_root, prefs.engine_python = DATA["repo"], DATA["engine_python"]
prefs.model_choice, prefs.model_path, prefs.device = 'CUSTOM', DATA["model"], 'CPU'
"""
"""What an add-on test script starts with (:func:`run_addon_script` puts it first):
the built extension installed and enabled, its engine and model set in the
Preferences, and ``action_curves``."""


def run_addon_script(code: str, tmp: Path, model: Path, timeout: float = 600.0) -> dict:
    """``code`` after :data:`ADDON_SCRIPT_PRELUDE` in a fresh Blender with the
    extension built into ``tmp`` and the engine of $MOTIONGPT_TEST_ENGINE_PYTHON
    (default: this interpreter) on ``model``; ``DATA["tmp"]`` is ``tmp``."""
    zip_path, env = built_extension(tmp)
    data = {"engine_python": os.environ.get("MOTIONGPT_TEST_ENGINE_PYTHON", sys.executable), "zip": str(zip_path),
            "repo": str(REPO), "model": str(model), "tmp": str(tmp)}
    return run_blender(ADDON_SCRIPT_PRELUDE + textwrap.dedent(code), data, timeout=timeout, env=env)


def run_blender(code: str, data: dict | None = None, timeout: float = 120.0, env: dict | None = None) -> dict:
    """Run ``code`` with bpy in a subprocess and return its ``RESULT`` dict
    (``env``: extra environment variables, e.g. ``BLENDER_USER_EXTENSIONS``)."""
    with tempfile.TemporaryDirectory(prefix="mgpt_bpy_") as tmp:
        tmp = Path(tmp)
        inp, out, script = tmp / "in.json", tmp / "out.json", tmp / "script.py"
        inp.write_text(json.dumps(data or {}))
        body = textwrap.indent(textwrap.dedent(code), "    ")
        script.write_text(_PRELUDE.format(repo=str(REPO), tests=str(TESTS), out=str(out), inp=str(inp))
                          + body + _EPILOGUE)
        env = {**os.environ, **(env or {})}
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(TESTS), env.get("PYTHONPATH", "")])
        proc = subprocess.run([sys.executable, str(script)], cwd=str(REPO), env=env, capture_output=True,
                              text=True, timeout=timeout)
        if proc.returncode != 0 or not out.exists():
            raise AssertionError(f"the Blender subprocess failed (exit {proc.returncode}):\n"
                                 f"{proc.stderr[-6000:]}\n{proc.stdout[-2000:]}")
        return json.loads(out.read_text())


# ---------------------------------------------------------------------------
# inside the subprocess: scenes and rigs

class FakeLayout:
    """Enough of Blender's UILayout to run a panel's ``draw()`` headless (no
    window there) while checking every property and operator it names
    exists; ``log`` collects (kind, name) of what was drawn."""

    def __init__(self, log: list):
        self.log = log
        self.enabled = self.active = True

    def _sub(self, *a, **k):
        return FakeLayout(self.log)

    row = column = box = split = _sub

    def prop(self, data, name, **kw):
        assert name in data.bl_rna.properties, name
        self.log.append(("prop", name))

    def prop_search(self, data, name, search_data, search_name, **kw):
        assert name in data.bl_rna.properties, name
        assert search_name in search_data.bl_rna.properties, search_name
        self.log.append(("prop_search", kw.get("text", name), getattr(data, name)))

    def label(self, text="", **kw):
        self.log.append(("label", text))

    def _check_op(self, idname):
        import bpy
        cat, op = idname.split(".")
        assert hasattr(getattr(bpy.ops, cat), op), idname
        return getattr(getattr(bpy.ops, cat), op)

    def operator(self, idname, **kw):
        op = self._check_op(idname)
        self.log.append(("operator", idname))
        return _OperatorProps(op.get_rna_type(), self.log, idname)

    def menu(self, name, **kw):
        import bpy
        assert hasattr(bpy.types, name), name
        self.log.append(("menu", name))

    def separator(self, **kw):
        pass

    def template_list(self, list_type, list_id, data, prop, active_data, active_prop, **kw):
        import bpy
        assert hasattr(bpy.types, list_type), list_type
        assert prop in data.bl_rna.properties and active_prop in active_data.bl_rna.properties, (prop, active_prop)
        self.log.append(("template_list", list_type, len(getattr(data, prop))))

    def operator_menu_enum(self, idname, prop, **kw):
        self._check_op(idname)
        self.log.append(("operator_menu_enum", idname, prop))

    def menu(self, menu, **kw):
        import bpy
        assert hasattr(bpy.types, menu), menu
        self.log.append(("menu", menu))

    def progress(self, **kw):
        self.log.append(("progress", kw.get("text")))


class _OperatorProps:
    """What ``layout.operator()`` returns: setting a property checks the
    operator has it."""

    def __init__(self, rna, log, idname):
        object.__setattr__(self, "_rna", rna)
        object.__setattr__(self, "_log", log)
        object.__setattr__(self, "_idname", idname)

    def __setattr__(self, name, value):
        assert name in self._rna.properties, f"{self._idname} has no property {name}"
        self._log.append(("operator_prop", self._idname, name, value))


def new_scene() -> None:
    import bpy
    bpy.ops.wm.read_factory_settings(use_empty=True)


def activate(obj) -> None:
    """Make ``obj`` the only selected object and the active one (None: nothing
    selected, nothing active), as a user's click does before a tool runs."""
    import bpy
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    bpy.context.view_layer.objects.active = obj
    if obj is not None:
        obj.select_set(True)


def build_armature(name: str, bones: list[dict], object_matrix=None):
    """An armature object from bones given in WORLD coordinates:
    ``{"name", "parent", "head", "tail", "roll" (radians, armature space),
    "deform", "connect"}``; ``object_matrix`` (4x4) is the object's
    transform (bone coordinates are mapped into its armature space)."""
    import bpy
    from mathutils import Matrix
    m = np.eye(4) if object_matrix is None else np.asarray(object_matrix, dtype=np.float64)
    inv = np.linalg.inv(m)

    def to_arm(p):
        return inv[:3, :3] @ np.asarray(p, dtype=np.float64) + inv[:3, 3]

    arm = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, arm)
    bpy.context.scene.collection.objects.link(obj)
    obj.matrix_world = Matrix(m.tolist())
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode='EDIT')
    edit = {}
    for spec in bones:
        eb = arm.edit_bones.new(spec["name"])
        eb.head = to_arm(spec["head"]).tolist()
        eb.tail = to_arm(spec["tail"]).tolist()
        eb.roll = float(spec.get("roll", 0.0))
        eb.use_deform = bool(spec.get("deform", True))
        edit[spec["name"]] = eb
    for spec in bones:
        if spec.get("parent"):
            edit[spec["name"]].parent = edit[spec["parent"]]
            edit[spec["name"]].use_connect = bool(spec.get("connect", False))
    bpy.ops.object.mode_set(mode='OBJECT')
    return obj


def _smpl_names() -> dict[str, str]:
    from motiongpt_blender import bone_maps
    return {j: c[0] for j, c in bone_maps.PRESETS["smpl"].joints.items()}


def smpl_rig(rest_offsets, name: str = "SMPL", pelvis_height: float = 0.95, arm_angle_deg: float = 0.0):
    """SMPL-named T-pose rig with the motion's own proportions (bones from
    each joint to its main child, Z up, facing -Y, rolls 0); with
    ``arm_angle_deg`` the arms hang that far below horizontal (an A-pose)."""
    from motiongpt_blender import retarget_math as rm
    offsets = np.asarray(rest_offsets, dtype=np.float64)
    parents = rm.PARENTS
    joints = rm.yup_to_zup(rm.rest_positions(offsets, parents)) + [0.0, 0.0, pelvis_height]
    if arm_angle_deg:
        for side, sign in (("left", 1.0), ("right", -1.0)):
            pivot = joints[rm.JOINT_INDEX[side + "_shoulder"]].copy()
            a = np.radians(arm_angle_deg) * sign
            turn = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
            for j in (side + "_elbow", side + "_wrist"):
                k = rm.JOINT_INDEX[j]
                joints[k] = pivot + turn @ (joints[k] - pivot)
    main = rm.main_children(parents, offsets)
    names = _smpl_names()
    bones = []
    for j, joint in enumerate(rm.JOINT_NAMES):
        head = joints[j]
        if main[j] >= 0:
            tail = joints[main[j]]
        else:
            d = rm.normalize(joints[j] - joints[parents[j]])
            tail = head + d * (0.12 if joint == "head" else 0.07)
        bones.append({"name": names[joint], "parent": names[rm.JOINT_NAMES[parents[j]]] if parents[j] >= 0 else None,
                      "head": head, "tail": tail, "roll": 0.0})
    return build_armature(name, bones)


def apose_rig(name: str = "APose"):
    """An SMPL-named rig in an A-pose (arms 40 degrees below horizontal) with
    the engine's canonical proportions."""
    from motiongpt_blender import retarget_math as rm
    return smpl_rig(rm.T_POSE_OFFSETS_M, name=name, arm_angle_deg=40.0)


_MIXAMO_WORLD = {
    # bone: (parent, head, tail) in metres, Z up, facing -Y: an A-pose with its own proportions
    "Hips": (None, (0, 0.01, 1.00), (0, 0.005, 1.10)),
    "Spine": ("Hips", (0, 0.005, 1.10), (0, 0.0, 1.22)),
    "Spine1": ("Spine", (0, 0.0, 1.22), (0, 0.0, 1.36)),
    "Spine2": ("Spine1", (0, 0.0, 1.36), (0, 0.01, 1.52)),
    "Neck": ("Spine2", (0, 0.01, 1.52), (0, -0.01, 1.62)),
    "Head": ("Neck", (0, -0.01, 1.62), (0, -0.01, 1.80)),
    "HeadTop_End": ("Head", (0, -0.01, 1.80), (0, -0.01, 1.86)),
    "LeftShoulder": ("Spine2", (0.06, 0.0, 1.46), (0.17, 0.01, 1.45)),
    "LeftArm": ("LeftShoulder", (0.17, 0.01, 1.45), (0.36, 0.03, 1.26)),
    "LeftForeArm": ("LeftArm", (0.36, 0.03, 1.26), (0.54, 0.01, 1.075)),
    "LeftHand": ("LeftForeArm", (0.54, 0.01, 1.075), (0.60, 0.0, 1.02)),
    "LeftHandIndex1": ("LeftHand", (0.60, -0.02, 1.02), (0.62, -0.025, 0.99)),
    "LeftHandIndex2": ("LeftHandIndex1", (0.62, -0.025, 0.99), (0.635, -0.03, 0.97)),
    "LeftUpLeg": ("Hips", (0.09, 0.0, 0.95), (0.10, 0.005, 0.52)),
    "LeftLeg": ("LeftUpLeg", (0.10, 0.005, 0.52), (0.10, 0.03, 0.09)),
    "LeftFoot": ("LeftLeg", (0.10, 0.03, 0.09), (0.10, -0.10, 0.02)),
    "LeftToeBase": ("LeftFoot", (0.10, -0.10, 0.02), (0.10, -0.18, 0.02)),
    "LeftToe_End": ("LeftToeBase", (0.10, -0.18, 0.02), (0.10, -0.22, 0.02)),
}
_MIXAMO_ROLLS = [0.0, 0.4, -0.7, 1.3, 2.0, -2.5, 0.9, -1.1, 0.3, 2.8, -0.2, 1.7, -1.9, 0.6]


def mixamo_rig(name: str = "MixamoLike", prefix: str = "mixamorig:"):
    """A Mixamo-named A-pose rig as Mixamo FBX files import: bones in
    centimetres in a Y-up armature space, the object rotated +90 degrees
    about X and scaled 0.01, placed off the origin; arbitrary bone rolls."""
    from motiongpt_blender import retarget_math as rm
    spec = dict(_MIXAMO_WORLD)
    for bone, (parent, head, tail) in list(_MIXAMO_WORLD.items()):
        if bone.startswith("Left"):
            mirror = lambda p: (-p[0], p[1], p[2])  # noqa: E731
            spec["Right" + bone[4:]] = (parent.replace("Left", "Right"), mirror(head), mirror(tail))
    rx = rm.quat_to_matrix(np.array([np.cos(np.pi / 4), np.sin(np.pi / 4), 0.0, 0.0]))
    obj_m = rm.compose(rx, [0.5, 0.3, 0.0], [0.01, 0.01, 0.01])
    at = np.array([0.5, 0.3, 0.0])                      # the character stands at its object's origin
    bones = [{"name": prefix + b, "parent": prefix + p if p else None, "head": at + h, "tail": at + t,
              "roll": _MIXAMO_ROLLS[i % len(_MIXAMO_ROLLS)], "connect": False}
             for i, (b, (p, h, t)) in enumerate(spec.items())]
    return build_armature(name, bones, obj_m)


_METARIG_FALLBACK = {
    # Blender's Human metarig (Rigify 4.5), main bones only
    "spine": (None, (0.0, 0.055, 1.01), (0.0, 0.017, 1.157)),
    "spine.001": ("spine", (0.0, 0.017, 1.157), (0.0, 0.0, 1.293)),
    "spine.002": ("spine.001", (0.0, 0.0, 1.293), (0.0, 0.006, 1.466)),
    "spine.003": ("spine.002", (0.0, 0.006, 1.466), (0.0, 0.011, 1.658)),
    "spine.004": ("spine.003", (0.0, 0.011, 1.658), (0.0, -0.013, 1.72)),
    "spine.005": ("spine.004", (0.0, -0.013, 1.72), (0.0, -0.025, 1.781)),
    "spine.006": ("spine.005", (0.0, -0.025, 1.781), (0.0, -0.025, 1.98)),
    "shoulder.L": ("spine.003", (0.018, -0.068, 1.605), (0.169, 0.021, 1.605)),
    "upper_arm.L": ("shoulder.L", (0.195, 0.027, 1.585), (0.442, 0.089, 1.449)),
    "forearm.L": ("upper_arm.L", (0.442, 0.089, 1.449), (0.659, 0.049, 1.306)),
    "hand.L": ("forearm.L", (0.659, 0.049, 1.306), (0.723, 0.041, 1.258)),
    "pelvis.L": ("spine", (0.0, 0.055, 1.01), (0.111, -0.045, 1.153)),
    "thigh.L": ("spine", (0.098, 0.012, 1.072), (0.098, -0.029, 0.537)),
    "shin.L": ("thigh.L", (0.098, -0.029, 0.537), (0.098, 0.016, 0.085)),
    "foot.L": ("shin.L", (0.098, 0.016, 0.085), (0.098, -0.093, 0.017)),
    "toe.L": ("foot.L", (0.098, -0.093, 0.017), (0.098, -0.161, 0.017)),
    "heel.02.L": ("foot.L", (0.06, 0.046, 0.0), (0.14, 0.046, 0.0)),
}


def human_metarig(name: str = "metarig"):
    """Blender's Human metarig when Rigify ships with this bpy (it does in
    4.5), else a rig with the same names and A-pose. Returns (object, real)."""
    import addon_utils
    import bpy
    try:
        addon_utils.enable("rigify", default_set=True)
        bpy.ops.object.armature_human_metarig_add()
        obj = bpy.context.active_object
        obj.name = name
        return obj, True
    except Exception:                                    # pragma: no cover - no Rigify
        spec = dict(_METARIG_FALLBACK)
        for bone, (parent, head, tail) in _METARIG_FALLBACK.items():
            if bone.endswith(".L"):
                mirror = lambda p: (-p[0], p[1], p[2])  # noqa: E731
                spec[bone[:-2] + ".R"] = (parent[:-2] + ".R" if parent.endswith(".L") else parent,
                                          mirror(head), mirror(tail))
        bones = [{"name": b, "parent": p, "head": h, "tail": t} for b, (p, h, t) in spec.items()]
        return build_armature(name, bones), False


def no_legs_rig(name: str = "NoLegs"):
    bones = {"Hips": (None, (0, 0, 1.0), (0, 0, 1.1)), "Spine": ("Hips", (0, 0, 1.1), (0, 0, 1.4)),
             "Neck": ("Spine", (0, 0, 1.4), (0, 0, 1.5)), "Head": ("Neck", (0, 0, 1.5), (0, 0, 1.7)),
             "LeftArm": ("Spine", (0.15, 0, 1.4), (0.4, 0, 1.4)),
             "LeftForeArm": ("LeftArm", (0.4, 0, 1.4), (0.65, 0, 1.4)),
             "RightArm": ("Spine", (-0.15, 0, 1.4), (-0.4, 0, 1.4)),
             "RightForeArm": ("RightArm", (-0.4, 0, 1.4), (-0.65, 0, 1.4))}
    return build_armature(name, [{"name": b, "parent": p, "head": h, "tail": t} for b, (p, h, t) in bones.items()])


def world_heads(objects_bones: dict, frames) -> dict:
    """{key: (T, n, 3) list} world heads of the given bones of each object,
    evaluated by the depsgraph (``scene.frame_set``) at each frame."""
    import bpy
    scene = bpy.context.scene
    out = {k: [] for k in objects_bones}
    for f in frames:
        scene.frame_set(int(f))
        for key, (obj, names) in objects_bones.items():
            mw = np.array(obj.matrix_world)
            heads = np.array([obj.pose.bones[n].head for n in names])
            out[key].append((heads @ mw[:3, :3].T + mw[:3, 3]).tolist())
    return out


def fcurve_snapshot(obj) -> dict:
    """Every field of every key of every F-curve of the object's action:
    {"path[i]": {field: list}} (the fields a write must keep, fcurves.KEY_FIELDS)."""
    from motiongpt_blender import fcurves
    return {f"{fc.data_path}[{fc.array_index}]": {p: a.tolist() for p, a in fcurves.read_keys(fc).items()}
            for fc in fcurves.object_fcurves(obj)}


# ---------------------------------------------------------------------------
# pytest side: motions and metrics (numpy only)

def engine_motion_dict(joints: np.ndarray, fps: float = 20.0) -> dict:
    """The engine's motion dict (what the add-on receives) for (T, 22, 3) positions."""
    from engine.motion import skeleton as sk
    from engine.motion.rotations import solve_rotations
    rot = solve_rotations(joints, fps)
    return {"fps": fps, "num_frames": rot.num_frames, "joint_names": list(sk.JOINT_NAMES),
            "parents": [int(p) for p in sk.PARENTS], "rest_offsets": rot.offsets.tolist(),
            "local_quats": rot.local_quats.tolist(), "root_translation": rot.root_pos.tolist(),
            "joint_positions": rot.positions().tolist()}


def bone_pairs(mapping) -> list[tuple[int, int]]:
    """(joint, joint) pairs whose direction retargeting reproduces exactly:
    each mapped joint to the nearest mapped joint down its main chain (the
    bone it drives: thigh -> shin, spine1 -> spine3 if spine2 is missing).
    Hips and chest keep the engine's frame instead, so for them only their
    direct main child counts. Side branches (hips -> thighs, chest ->
    collars) depend on the rig's own rest geometry and are not compared."""
    from motiongpt_blender import retarget_math as rm
    main = rm.main_children(rm.PARENTS, rm.T_POSE_OFFSETS_M)
    pairs = set()
    for j, name in enumerate(rm.JOINT_NAMES):
        if name not in mapping:
            continue
        c = main[j]
        while c >= 0 and rm.JOINT_NAMES[c] not in mapping:
            c = main[c]
        if c >= 0 and (c == main[j] or name not in rm.TWIST_PAIRS):
            pairs.add((j, c))
    return sorted(pairs)


def direction_errors_deg(heads: dict, eng: np.ndarray, mapping) -> np.ndarray:
    """Angles (degrees, all frames and bone_pairs) between rig and engine bones."""
    from motiongpt_blender import retarget_math as rm
    errs = []
    for p, j in bone_pairs(mapping):
        a = rm.normalize(heads[rm.JOINT_NAMES[j]] - heads[rm.JOINT_NAMES[p]])
        b = rm.normalize(eng[:, j] - eng[:, p])
        errs.append(np.degrees(np.arccos(np.clip((a * b).sum(-1), -1, 1))).ravel())
    return np.concatenate(errs)
