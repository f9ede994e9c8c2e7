"""Bone maps: which bone of a rig plays which of the engine's 22 joints.

Pure Python (no bpy, no numpy), so it is unit-testable outside Blender.

A bone map is a plain ``dict`` engine joint name -> bone name. Joints a rig
lacks (a second spine bone, toes, collars) are simply left out: the
retargeting skips them and folds their rotation into the next mapped bone.

- :data:`PRESETS`: known naming schemes (SMPL, SMPL-X / MotionGPT BVH,
  Mixamo, Rigify metarig = Blender's Human metarig, generated Rigify rigs,
  CMU BVH, the shared Bandai Namco data's skeleton).
- :func:`apply_preset`: a preset resolved against a rig's bone names.
- :func:`detect_by_patterns`: a map from name patterns (side markers,
  synonyms, spine numbering) plus the hierarchy where known.
- :func:`auto_detect`: the best of all presets and the pattern detector.
- :func:`validate_bone_map`: raises :class:`BoneMapError` with a message a
  user can act on when a rig is not a humanoid the engine can drive.
- :func:`bone_map_to_json` / :func:`bone_map_from_json` / :func:`save_bone_map`
  / :func:`load_bone_map`: the user-editable JSON form.

Generated Rigify rigs (preset ``rigify``) are driven through their FK
controls: ``torso`` (hips: root motion and rotation), ``chest`` (spine3),
``neck``, ``head``, ``shoulder.L/R``, ``upper_arm_fk``, ``forearm_fk``,
``hand_fk``, ``thigh_fk``, ``shin_fk``, ``foot_fk``, ``toe_fk``. The middle of
the spine follows Rigify's own hips/chest interpolation, and the limbs must
be switched to FK (the add-on sets each limb's ``IK_FK`` to 1.0). Preset
``rigify_deform`` drives the DEF- (or ORG-) bones of a rig without Rigify's
constraints, e.g. a game export.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee",
    "spine2", "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot",
    "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
"""The engine's joints, in its order (same as engine.motion.skeleton)."""

JOINT_LABELS: dict[str, str] = {
    "pelvis": "hips", "spine1": "lower spine", "spine2": "middle spine", "spine3": "chest",
    "neck": "neck", "head": "head",
    "left_hip": "left thigh", "right_hip": "right thigh",
    "left_knee": "left shin", "right_knee": "right shin",
    "left_ankle": "left foot", "right_ankle": "right foot",
    "left_foot": "left toes", "right_foot": "right toes",
    "left_collar": "left collarbone", "right_collar": "right collarbone",
    "left_shoulder": "left upper arm", "right_shoulder": "right upper arm",
    "left_elbow": "left forearm", "right_elbow": "right forearm",
    "left_wrist": "left hand", "right_wrist": "right hand",
}
"""What each engine joint is called in messages: the bone that starts there."""

REQUIRED: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hips", ("pelvis",)),
    ("spine or chest", ("spine1", "spine2", "spine3")),
    ("head or neck", ("head", "neck")),
    ("left upper arm", ("left_shoulder",)), ("right upper arm", ("right_shoulder",)),
    ("left forearm", ("left_elbow",)), ("right forearm", ("right_elbow",)),
    ("left thigh", ("left_hip",)), ("right thigh", ("right_hip",)),
    ("left shin", ("left_knee",)), ("right shin", ("right_knee",)),
)
"""What a rig needs to be retargeted: (label, any one of these joints)."""

BONE_MAP_FORMAT = "motiongpt-bone-map"
BONE_MAP_VERSION = 1


class BoneMapError(ValueError):
    """A bone map the rig cannot use; ``missing`` lists the labels of the
    required body parts without a bone."""

    def __init__(self, message: str, missing: Sequence[str] = ()):
        super().__init__(message)
        self.missing = list(missing)


@dataclass(frozen=True)
class RigBone:
    """What the detector may know of a bone: its name, its parent's name,
    whether it deforms the mesh and whether constraints drive it (keys on a
    constrained bone, e.g. a generated Rigify rig's DEF- bones, do nothing)."""
    name: str
    parent: str | None = None
    deform: bool = True
    constrained: bool = False


# ---------------------------------------------------------------------------
# presets

def _sided(pattern: str) -> dict[str, str]:
    """{'left': ..., 'right': ...} from a pattern with {S}/{Side}/{s}/{side}."""
    return {"left": pattern.format(S="L", Side="Left", s="l", side="left"),
            "right": pattern.format(S="R", Side="Right", s="r", side="right")}


def _preset_table(center: Mapping[str, Sequence[str]],
                  limbs: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {j: tuple(c) for j, c in center.items()}
    for joint, patterns in limbs.items():
        for side in ("left", "right"):
            out[f"{side}_{joint}"] = tuple(_sided(p)[side] for p in patterns)
    return out


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    description: str
    joints: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Engine joint -> candidate bone names (first present wins)."""


_LIMB_JOINTS = ("hip", "knee", "ankle", "foot", "collar", "shoulder", "elbow", "wrist")

PRESETS: dict[str, Preset] = {}


def _add(key: str, label: str, description: str, center: Mapping[str, Sequence[str]],
         limbs: Mapping[str, Sequence[str]]) -> None:
    PRESETS[key] = Preset(key, label, description, _preset_table(center, limbs))


_add("smpl", "SMPL", "SMPL body model joint names (Pelvis, L_Hip, ..., R_Wrist), also with m_avg_/f_avg_ prefixes",
     {"pelvis": ["Pelvis"], "spine1": ["Spine1"], "spine2": ["Spine2"], "spine3": ["Spine3"],
      "neck": ["Neck"], "head": ["Head"]},
     {"hip": ["{S}_Hip"], "knee": ["{S}_Knee"], "ankle": ["{S}_Ankle"], "foot": ["{S}_Foot"],
      "collar": ["{S}_Collar"], "shoulder": ["{S}_Shoulder"], "elbow": ["{S}_Elbow"], "wrist": ["{S}_Wrist"]})
_add("smplx", "SMPL-X / MotionGPT BVH", "SMPL-X joint names, which are also the MotionGPT engine's own "
     "22-joint names (pelvis, left_hip, ..., right_wrist) used in its BVH files",
     {"pelvis": ["pelvis"], "spine1": ["spine1"], "spine2": ["spine2"], "spine3": ["spine3"],
      "neck": ["neck"], "head": ["head"]},
     {j: ["{side}_" + j] for j in _LIMB_JOINTS})
_add("mixamo", "Mixamo", "Mixamo characters (mixamorig:Hips ..., any mixamorigN: prefix or none)",
     {"pelvis": ["Hips"], "spine1": ["Spine"], "spine2": ["Spine1"], "spine3": ["Spine2"],
      "neck": ["Neck"], "head": ["Head"]},
     {"hip": ["{Side}UpLeg"], "knee": ["{Side}Leg"], "ankle": ["{Side}Foot"], "foot": ["{Side}ToeBase"],
      "collar": ["{Side}Shoulder"], "shoulder": ["{Side}Arm"], "elbow": ["{Side}ForeArm"], "wrist": ["{Side}Hand"]})
_add("rigify_metarig", "Rigify metarig / Human metarig",
     "Blender's Human metarig and Rigify metarigs (spine = hips, spine.001-.003, spine.004 neck, spine.006 head)",
     {"pelvis": ["spine"], "spine1": ["spine.001"], "spine2": ["spine.002"], "spine3": ["spine.003"],
      "neck": ["spine.004"], "head": ["spine.006", "spine.005"]},
     {"hip": ["thigh.{S}"], "knee": ["shin.{S}"], "ankle": ["foot.{S}"], "foot": ["toe.{S}"],
      "collar": ["shoulder.{S}"], "shoulder": ["upper_arm.{S}"], "elbow": ["forearm.{S}"], "wrist": ["hand.{S}"]})
_add("rigify", "Rigify (generated rig, FK controls)",
     "A generated Rigify rig driven through its controls: torso (hips), chest, neck, head, shoulders and the "
     "FK limb controls (switch limbs to FK)",
     {"pelvis": ["torso"], "spine3": ["chest"], "neck": ["neck"], "head": ["head"]},
     {"hip": ["thigh_fk.{S}"], "knee": ["shin_fk.{S}"], "ankle": ["foot_fk.{S}"], "foot": ["toe_fk.{S}", "toe.{S}"],
      "collar": ["shoulder.{S}"], "shoulder": ["upper_arm_fk.{S}"], "elbow": ["forearm_fk.{S}"],
      "wrist": ["hand_fk.{S}"]})
_add("rigify_deform", "Rigify deform bones (DEF-/ORG-)",
     "The DEF- (else ORG-) bones of a Rigify rig exported without its control constraints",
     {"pelvis": ["DEF-spine", "ORG-spine"], "spine1": ["DEF-spine.001", "ORG-spine.001"],
      "spine2": ["DEF-spine.002", "ORG-spine.002"], "spine3": ["DEF-spine.003", "ORG-spine.003"],
      "neck": ["DEF-spine.004", "ORG-spine.004"], "head": ["DEF-spine.006", "ORG-spine.006"]},
     {"hip": ["DEF-thigh.{S}", "ORG-thigh.{S}"], "knee": ["DEF-shin.{S}", "ORG-shin.{S}"],
      "ankle": ["DEF-foot.{S}", "ORG-foot.{S}"], "foot": ["DEF-toe.{S}", "ORG-toe.{S}"],
      "collar": ["DEF-shoulder.{S}", "ORG-shoulder.{S}"], "shoulder": ["DEF-upper_arm.{S}", "ORG-upper_arm.{S}"],
      "elbow": ["DEF-forearm.{S}", "ORG-forearm.{S}"], "wrist": ["DEF-hand.{S}", "ORG-hand.{S}"]})
_add("cmu", "CMU BVH", "CMU motion-capture BVH skeletons (Hips, LowerBack, Spine, Spine1, Neck, Neck1, Head, ...)",
     {"pelvis": ["Hips"], "spine1": ["LowerBack"], "spine2": ["Spine"], "spine3": ["Spine1"],
      "neck": ["Neck"], "head": ["Head"]},
     {"hip": ["{Side}UpLeg"], "knee": ["{Side}Leg"], "ankle": ["{Side}Foot"], "foot": ["{Side}ToeBase"],
      "collar": ["{Side}Shoulder"], "shoulder": ["{Side}Arm"], "elbow": ["{Side}ForeArm"], "wrist": ["{Side}Hand"]})
_add("bandai", "Bandai Namco / shared data", "The skeleton of the shared Bandai Namco motion data "
     "(Hips, Spine, Chest, Neck, Head, Shoulder_L, UpperArm_L, LowerArm_L, Hand_L, UpperLeg_L, ...)",
     {"pelvis": ["Hips"], "spine1": ["Spine"], "spine3": ["Chest"], "neck": ["Neck"], "head": ["Head"]},
     {"hip": ["UpperLeg_{S}"], "knee": ["LowerLeg_{S}"], "ankle": ["Foot_{S}"], "foot": ["Toes_{S}"],
      "collar": ["Shoulder_{S}"], "shoulder": ["UpperArm_{S}"], "elbow": ["LowerArm_{S}"], "wrist": ["Hand_{S}"]})

_NAMESPACE_PREFIXES = re.compile(r"^(?:m_avg_|f_avg_|smplx?_)", re.IGNORECASE)


def strip_namespace(name: str) -> str:
    """A bone name without an FBX/Maya namespace ("mixamorig:", "Character1:",
    "Armature|") or an SMPL model prefix ("m_avg_", "f_avg_")."""
    base = re.split(r"[:|]", name)[-1]
    return _NAMESPACE_PREFIXES.sub("", base)


def _bone_list(bones: Iterable[str | RigBone]) -> list[RigBone]:
    out = []
    for b in bones:
        out.append(b if isinstance(b, RigBone) else RigBone(str(b)))
    return out


def apply_preset(preset: str | Preset, bones: Iterable[str | RigBone]) -> dict[str, str]:
    """The preset's joints whose bone the rig has (exact name first, then
    without namespace / case-insensitively)."""
    p = PRESETS[preset] if isinstance(preset, str) else preset
    rig = _bone_list(bones)
    exact = {b.name for b in rig}
    by_key: dict[str, list[str]] = {}
    for b in rig:
        by_key.setdefault(strip_namespace(b.name).lower(), []).append(b.name)
    out: dict[str, str] = {}
    used: set[str] = set()
    for joint in JOINT_NAMES:
        for cand in p.joints.get(joint, ()):
            hit = cand if cand in exact and cand not in used else None
            if hit is None:
                options = [n for n in by_key.get(cand.lower(), []) if n not in used]
                # prefer the one whose stripped name matches the case exactly
                options.sort(key=lambda n: (strip_namespace(n) != cand, len(n), n))
                hit = options[0] if options else None
            if hit is not None:
                out[joint] = hit
                used.add(hit)
                break
    return out


# ---------------------------------------------------------------------------
# pattern detection

_EXCLUDE_TOKENS = {
    "end", "nub", "tip", "site", "twist", "roll", "ik", "pole", "target", "mch", "wgt", "vis", "tweak",
    "parent", "socket", "prop", "helper", "corrective", "jiggle", "index", "middle", "ring", "pinky", "thumb",
    "finger", "palm", "eye", "jaw", "teeth", "tongue", "lid", "brow", "ear", "nose", "lip", "cheek", "breast",
    "heel", "pivot", "master", "control", "ctrl", "spin", "swing", "pinkie", "metacarpal", "bend", "pos",
    "rot", "lower_roll", "upper_roll", "hair", "tail", "weapon", "grip", "attach",
}
_NOISE_TOKENS = {"def", "org", "mixamorig", "bip", "bip01", "b", "j", "jnt", "joint", "bn", "bone", "cc", "base",
                 "c", "sk", "fk", "ctl", "deform", "biped", "char", "character", "rig", "armature", "skel", "sm"}
_PENALTY_TOKENS = {"org": 0.4, "fk": 0.3}

# core word -> (category, rank): lower rank = more specific synonym
_CORE: dict[str, tuple[str, int]] = {}
for _cat, _words in {
    "hips": ["hips", "pelvis", "hip"],
    "spine": ["spine", "lowerback", "back", "upperback", "chest", "upperchest", "abdomen", "abdomenlower",
              "abdomenupper", "waist", "spinelower", "spineupper"],
    "neck": ["neck"],
    "head": ["head"],
    "collar": ["clavicle", "collar", "collarbone", "shoulder"],
    "upperarm": ["upperarm", "uparm", "arm", "humerus", "armupper", "shoulder"],
    "forearm": ["forearm", "lowerarm", "loarm", "lowarm", "elbow", "armlower"],
    "hand": ["hand", "wrist"],
    "thigh": ["thigh", "upleg", "upperleg", "femur", "legupper", "hip", "leg"],
    "shin": ["shin", "calf", "lowerleg", "loleg", "lowleg", "leglower", "knee", "crus", "leg"],
    "foot": ["foot", "ankle"],
    "toe": ["toebase", "toe", "toes", "ball"],
}.items():
    for _rank, _w in enumerate(_words):
        _CORE.setdefault(_w, (_cat, _rank))
_SPINE_HEIGHT = {"lowerback": 0, "abdomenlower": 0, "spinelower": 0, "waist": 0, "abdomen": 0, "spine": 1, "back": 1,
                 "upperback": 2, "abdomenupper": 2, "spineupper": 2, "chest": 3, "upperchest": 4}
"""Where along the back each spine word sits, to order spine bones when the hierarchy is unknown."""
_AMBIGUOUS = {"shoulder": ("collar", "upperarm"), "leg": ("thigh", "shin"), "hip": ("hips", "thigh")}

_SIDED_JOINT = {"collar": "collar", "upperarm": "shoulder", "forearm": "elbow", "hand": "wrist",
                "thigh": "hip", "shin": "knee", "foot": "ankle", "toe": "foot"}


def _tokens(name: str) -> list[str]:
    base = re.split(r"[:|]", name)[-1]
    base = re.sub(r"([a-z])([A-Z])", r"\1 \2", base)
    base = re.sub(r"([A-Za-z])([0-9])", r"\1 \2", base)
    base = re.sub(r"([0-9])([A-Za-z])", r"\1 \2", base)
    return [t for t in re.split(r"[^A-Za-z0-9]+", base.lower()) if t]


@dataclass
class _Parsed:
    bone: RigBone
    side: str | None          # "left" / "right" / None
    core: str
    index: int | None
    penalty: float


def _parse(bone: RigBone) -> _Parsed | None:
    toks = _tokens(bone.name)
    # an SMPL-style prefix "m avg" / "f avg"
    if len(toks) > 2 and toks[1] == "avg":
        toks = toks[2:]
    if any(t in _EXCLUDE_TOKENS for t in toks):
        return None
    side = None
    rest: list[str] = []
    index = None
    penalty = 0.0 if bone.deform else 0.5
    for i, t in enumerate(toks):
        if t in ("l", "left", "lf", "lft"):
            side = side or "left"
        elif t in ("r", "right", "rt", "rgt"):
            side = side or "right"
        elif t.isdigit():
            index = int(t)
        elif t in _NOISE_TOKENS:
            penalty += _PENALTY_TOKENS.get(t, 0.0)
        else:
            rest.append(t)
    core = "".join(rest)
    # "leftupleg" style names without separators
    for prefix, s in (("left", "left"), ("right", "right")):
        if side is None and core.startswith(prefix) and core[len(prefix):] in _CORE:
            side, core = s, core[len(prefix):]
    if core not in _CORE:
        return None
    return _Parsed(bone, side, core, index, penalty)


def _depths(bones: Sequence[RigBone]) -> dict[str, int]:
    parent = {b.name: b.parent for b in bones}
    out: dict[str, int] = {}
    for b in bones:
        d, p, seen = 0, b.parent, 0
        while p is not None and p in parent and seen <= len(bones):
            d, p, seen = d + 1, parent[p], seen + 1
        out[b.name] = d
    return out


def _is_ancestor(bones_by_name: Mapping[str, RigBone], anc: str, name: str) -> bool:
    p = bones_by_name[name].parent if name in bones_by_name else None
    seen = 0
    while p is not None and seen <= len(bones_by_name):
        if p == anc:
            return True
        p = bones_by_name[p].parent if p in bones_by_name else None
        seen += 1
    return False


def detect_by_patterns(bones: Iterable[str | RigBone]) -> dict[str, str]:
    """A bone map from name patterns: side markers (L/R/Left/Right/.L/_l/
    left_ ...), synonyms (thigh/upleg/upperleg/hip, shin/leg/calf/knee/
    lowerleg, forearm/lowerarm/elbow, upperarm/arm/shoulder, clavicle/collar/
    shoulder, toe/ball, ...) and spine numbering; the hierarchy, where
    parents are given, decides which spine bone carries the arms (spine3) and
    which spine-named bones above it are the neck and head (Rigify style).
    Twist, roll, IK, finger, face and end bones are ignored; deform bones win
    over controls."""
    rig = _bone_list(bones)
    by_name = {b.name: b for b in rig}
    depth = _depths(rig)
    has_parents = any(b.parent for b in rig)
    parsed = [p for p in (_parse(b) for b in rig) if p is not None]

    # resolve ambiguous words per side
    def cats_for(side: str | None) -> set[str]:
        return {_CORE[p.core][0] for p in parsed if p.side == side and p.core not in _AMBIGUOUS}

    cands: dict[tuple[str, str | None], list[tuple[float, _Parsed]]] = {}
    for p in parsed:
        cat, rank = _CORE[p.core]
        if p.core in _AMBIGUOUS:
            a, b = _AMBIGUOUS[p.core]
            if p.core == "hip":
                cat = "hips" if p.side is None else "thigh"
            elif p.core == "shoulder":
                present = cats_for(p.side)
                cat = "upperarm" if "collar" in present or "upperarm" not in present else "collar"
            elif p.core == "leg":
                cat = "shin" if "thigh" in cats_for(p.side) else "thigh"
            rank = 5
        elif p.core == "foot" and p.side is not None and any(
                q.core == "ankle" and q.side == p.side for q in parsed) and "toe" not in cats_for(p.side):
            cat = "toe"                          # SMPL naming: ankle + foot (= the toes joint)
        if cat in _SIDED_JOINT and p.side is None:
            continue
        if cat not in _SIDED_JOINT and p.side is not None:
            continue
        numbered_limb = p.index not in (None, 0) and cat in _SIDED_JOINT      # DEF-thigh.L.001 and the like
        score = rank + p.penalty + 0.005 * len(p.bone.name) + (0.2 if numbered_limb else 0.0)
        cands.setdefault((cat, p.side), []).append((score, p))

    def best(cat: str, side: str | None = None) -> _Parsed | None:
        lst = cands.get((cat, side))
        if not lst:
            return None
        return min(lst, key=lambda sp: (sp[0], depth[sp[1].bone.name], sp[1].bone.name))[1]

    out: dict[str, str] = {}
    for side in ("left", "right"):
        for cat, joint in _SIDED_JOINT.items():
            p = best(cat, side)
            if p is not None:
                out[f"{side}_{joint}"] = p.bone.name

    # the torso
    def order_key(p: _Parsed) -> tuple:
        return (depth[p.bone.name] if has_parents else 0, _SPINE_HEIGHT.get(p.core, 1),
                -1 if p.index is None else p.index, p.bone.name)

    spines = sorted((sp[1] for sp in cands.get(("spine", None), [])), key=order_key)
    # prefer deform bones / plain names: drop duplicates that are penalised variants at the same depth
    spines = _prefer_plain(spines)
    hips = best("hips")
    if hips is None and spines:
        hips = spines[0]                     # Rigify naming: the root-most "spine" is the hips
    if hips is not None:
        out["pelvis"] = hips.bone.name
        spines = [s for s in spines if s.bone.name != hips.bone.name]
        if has_parents:
            spines = [s for s in spines if _is_ancestor(by_name, hips.bone.name, s.bone.name)] or spines

    arm_roots = [out[j] for j in ("left_collar", "right_collar", "left_shoulder", "right_shoulder") if j in out]
    chest_idx = len(spines) - 1
    if has_parents and arm_roots:
        spine_pos = {s.bone.name: i for i, s in enumerate(spines)}
        carriers = []
        for a in arm_roots:                      # nearest spine bone above each arm
            p, seen = by_name[a].parent, 0
            while p is not None and p not in spine_pos and p in by_name and seen <= len(rig):
                p, seen = by_name[p].parent, seen + 1
            if p in spine_pos:
                carriers.append(spine_pos[p])
        if carriers:
            chest_idx = max(carriers)
    torso, above = spines[:chest_idx + 1], spines[chest_idx + 1:]
    if len(torso) == 1:
        out["spine1"] = torso[0].bone.name
    elif len(torso) >= 2:
        out["spine1"] = torso[0].bone.name
        out["spine3"] = torso[-1].bone.name
        if len(torso) >= 3:
            out["spine2"] = torso[len(torso) // 2].bone.name

    necks = sorted((sp[1] for sp in cands.get(("neck", None), [])), key=order_key)
    necks = _prefer_plain(necks)
    heads = sorted((sp[1] for sp in cands.get(("head", None), [])), key=order_key)
    heads = _prefer_plain(heads)
    if necks:
        out["neck"] = necks[0].bone.name
    elif above:
        out["neck"] = above[0].bone.name
    if heads:
        out["head"] = heads[0].bone.name
    elif len(above) >= 2:
        out["head"] = above[-1].bone.name
    return out


def _prefer_plain(parsed: list[_Parsed]) -> list[_Parsed]:
    """Among bones that share core and index (DEF-spine / ORG-spine / spine),
    keep the least penalised one, in the original order."""
    keep: dict[tuple, _Parsed] = {}
    for p in parsed:
        key = (p.core, p.index)
        if key not in keep or p.penalty < keep[key].penalty:
            keep[key] = p
    chosen = {id(p) for p in keep.values()}
    return [p for p in parsed if id(p) in chosen]


# ---------------------------------------------------------------------------
# validation and auto-detection

def missing_required(mapping: Mapping[str, str]) -> list[tuple[str, tuple[str, ...]]]:
    """Required (label, joints) groups the map has no bone for."""
    return [(label, joints) for label, joints in REQUIRED if not any(mapping.get(j) for j in joints)]


def validate_bone_map(mapping: Mapping[str, str], bone_names: Iterable[str] | None = None) -> dict[str, str]:
    """Check a map against the engine's joints and (optionally) the rig's
    bones; returns the cleaned map (empty entries dropped) or raises
    :class:`BoneMapError` with a message a user can act on."""
    clean = {str(j): str(b) for j, b in mapping.items() if b}
    unknown = sorted(j for j in clean if j not in JOINT_NAMES)
    if unknown:
        raise BoneMapError(f"The bone map names unknown joints: {', '.join(unknown)}. "
                           f"Joints are: {', '.join(JOINT_NAMES)}.")
    if bone_names is not None:
        names = set(bone_names)
        absent = [f"{JOINT_LABELS[j]} -> {b!r}" for j, b in clean.items() if b not in names]
        if absent:
            raise BoneMapError(f"The bone map names bones this rig does not have: {', '.join(absent)}. "
                               f"Fix them in the MotionGPT panel's Bone Map or pick a preset.")
    seen: dict[str, str] = {}
    for j, b in clean.items():
        if b in seen:
            raise BoneMapError(f"Bone {b!r} is mapped twice ({JOINT_LABELS[seen[b]]} and {JOINT_LABELS[j]}); "
                               f"map each bone to one joint in the MotionGPT panel's Bone Map.")
        seen[b] = j
    missing = missing_required(clean)
    if missing:
        labels = ", ".join(label for label, _ in missing)
        joints = ", ".join("/".join(js) for _, js in missing)
        raise BoneMapError(f"This rig has no bones for: {labels} ({joints}). Map them in the MotionGPT "
                           f"panel's Bone Map or pick a preset.", [label for label, _ in missing])
    return clean


PRESET_BONUS = 3
"""How many joints more the pattern detector must find to beat a preset."""


@dataclass
class Detection:
    """Result of :func:`auto_detect`."""
    mapping: dict[str, str]
    source: str                     # a preset key or "patterns"
    scores: dict[str, int]          # joints matched by each preset and by the patterns

    @property
    def missing(self) -> list[str]:
        return [label for label, _ in missing_required(self.mapping)]

    @property
    def is_complete(self) -> bool:
        return not self.missing


def auto_detect(bones: Iterable[str | RigBone]) -> Detection:
    """The best bone map for a rig: every preset and the pattern detector
    are tried; a map that covers all required body parts beats one that
    does not, then fewer constrained bones (they cannot be keyed usefully),
    then more joints (a preset counts :data:`PRESET_BONUS` joints extra: exact
    names are more trustworthy than patterns, e.g. a generated Rigify rig's
    controls), then presets (in :data:`PRESETS` order) beat patterns.
    Check the result with :func:`validate_bone_map`."""
    rig = _bone_list(bones)
    constrained = {b.name for b in rig if b.constrained}
    options: list[tuple[str, dict[str, str]]] = [(k, apply_preset(k, rig)) for k in PRESETS]
    options.append(("patterns", detect_by_patterns([b for b in rig if not b.constrained] or rig)))
    scores = {k: len(m) for k, m in options}

    def rank(item: tuple[int, tuple[str, dict[str, str]]]) -> tuple:
        order, (key, m) = item
        bonus = PRESET_BONUS if key in PRESETS else 0
        return (not missing_required(m), -sum(b in constrained for b in m.values()), len(m) + bonus, -order)

    _, (key, mapping) = max(enumerate(options), key=rank)
    return Detection(mapping=dict(mapping), source=key, scores=scores)


# ---------------------------------------------------------------------------
# JSON

def bone_map_to_json(mapping: Mapping[str, str], preset: str | None = None, rig: str | None = None) -> str:
    doc = {"format": BONE_MAP_FORMAT, "version": BONE_MAP_VERSION, "preset": preset, "rig": rig,
           "joints": {j: mapping[j] for j in JOINT_NAMES if mapping.get(j)}}
    return json.dumps(doc, indent=2)


def bone_map_from_json(text: str) -> dict[str, str]:
    """Read a bone map written by :func:`bone_map_to_json` (a bare
    {joint: bone} object is accepted too)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BoneMapError(f"The bone map file is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BoneMapError("A bone map must be a JSON object")
    if "joints" in doc:
        if doc.get("format", BONE_MAP_FORMAT) != BONE_MAP_FORMAT:
            raise BoneMapError(f"Not a MotionGPT bone map (format {doc.get('format')!r})")
        if int(doc.get("version", 1)) > BONE_MAP_VERSION:
            raise BoneMapError(f"The bone map was written by a newer add-on (version {doc.get('version')})")
        joints = doc["joints"]
    else:
        joints = doc
    if not isinstance(joints, dict) or not all(isinstance(v, str) or v is None for v in joints.values()):
        raise BoneMapError("The bone map's joints must map joint names to bone names")
    unknown = sorted(j for j in joints if j not in JOINT_NAMES)
    if unknown:
        raise BoneMapError(f"The bone map names unknown joints: {', '.join(unknown)}")
    return {j: v for j, v in joints.items() if v}


def save_bone_map(path: str | Path, mapping: Mapping[str, str], preset: str | None = None,
                  rig: str | None = None) -> None:
    Path(path).write_text(bone_map_to_json(mapping, preset, rig) + "\n", encoding="utf-8")


def load_bone_map(path: str | Path) -> dict[str, str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BoneMapError(f"Cannot read the bone map {path}: {exc.strerror or exc}") from None
    return bone_map_from_json(text)
