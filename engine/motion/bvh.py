"""Reading and writing BVH motion capture files, and converting them to the
quaternion + root-position form the rest of the engine works in.

BVH is the exchange format between MotionGPT and Blender (and any other
animation tool), so the reader accepts whatever real files contain: any
skeleton, any frame rate, any rotation order per joint, position channels on
any joint, several End Sites, tabs and Windows/old-Mac line endings. Every
problem is reported as a :class:`~engine.errors.MotionFileError` naming the
file, the problem and, where there is one, the line.

Conventions:

* Joints are kept in file order, which BVH's nesting makes a depth-first
  pre-order: every parent comes before its children.
* Channel order is the rotation order: ``Zrotation Xrotation Yrotation``
  means R = Rz @ Rx @ Ry, the same string convention as
  :mod:`engine.motion.quaternion` ("ZXY").
* A position channel *replaces* the joint's OFFSET component on that axis
  for that frame; axes without a position channel keep the OFFSET value.
  So the root's world position is its position channels, and a non-root
  joint with position channels is translated from its parent by them.
* Files written for the 22-joint t2m skeleton use :data:`T2M_BVH_UNITS`
  (centimetres: the de-facto industry unit; import into Blender with
  Scale 0.01 to get metres).
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..errors import MotionFileError, MotionShapeError
from . import skeleton
from .kinematics import forward_kinematics
from .quaternion import qidentity, qmul, qnormalize, qrot, quat_to_euler, unwrap_degrees

POSITION_CHANNELS: tuple[str, str, str] = ("Xposition", "Yposition", "Zposition")
ROTATION_CHANNELS: tuple[str, str, str] = ("Xrotation", "Yrotation", "Zrotation")
CHANNEL_NAMES: tuple[str, ...] = POSITION_CHANNELS + ROTATION_CHANNELS
_CHANNEL_LOOKUP: dict[str, str] = {name.lower(): name for name in CHANNEL_NAMES}
_AXIS_OF_CHANNEL: dict[str, int] = {name: "XYZ".index(name[0]) for name in CHANNEL_NAMES}

UNIT_TO_METRES: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001, "in": 0.0254}
"""Scale factor from a length unit to metres."""

T2M_BVH_UNITS: str = "cm"
"""Unit of lengths in BVH files written for the t2m skeleton. Centimetres are
what most tools (MotionBuilder, Mixamo, Rokoko, CMU conversions) use, so our
files look normal next to theirs; Blender imports them with Scale 0.01. This
constant is the only place the choice lives: the files themselves do not
record a unit, and the reader recovers it from the skeleton's size."""

T2M_ROTATION_ORDER: str = "ZXY"
"""Euler order of the t2m BVH files (the common mocap order: Z, then X, then Y)."""

TYPICAL_HEIGHT_M: float = 1.7
"""Height of the body that :func:`guess_scale_to_metres` expects."""

_FLOAT_FORMAT = "%.6f"
_FRAME_TIME_FORMAT = "%.10g"
_FPS_SNAP_REL_TOL = 1e-4


# ---------------------------------------------------------------------------
# The data structure
# ---------------------------------------------------------------------------

@dataclass
class BvhMotion:
    """One BVH file's content, numbers exactly as stored (file units, degrees).

    ``values[:, joint_slice(j)]`` are joint j's channels in the order
    ``channels[j]`` lists them; ``end_sites[j]`` is the End Site offset of
    joint j, if it has one.
    """

    names: list[str]
    parents: np.ndarray
    offsets: np.ndarray
    channels: list[tuple[str, ...]]
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)
    frame_time: float = 1.0 / skeleton.FPS
    values: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def __post_init__(self) -> None:
        self.names = [str(n) for n in self.names]
        self.parents = np.asarray(self.parents, dtype=np.int64).reshape(-1)
        self.offsets = np.asarray(self.offsets, dtype=np.float64)
        self.channels = [tuple(_canonical_channel(c) for c in chans) for chans in self.channels]
        self.end_sites = {int(j): np.asarray(o, dtype=np.float64).reshape(3) for j, o in self.end_sites.items()}
        self.frame_time = float(self.frame_time)
        n = len(self.names)
        if self.parents.shape != (n,) or self.offsets.shape != (n, 3) or len(self.channels) != n:
            raise MotionShapeError(
                f"BvhMotion: {n} names but parents {self.parents.shape}, offsets "
                f"{self.offsets.shape}, {len(self.channels)} channel lists")
        values = np.asarray(self.values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != self.num_channels:
            if values.size:
                raise MotionShapeError(f"BvhMotion: values must be (frames, {self.num_channels}), got {values.shape}")
            values = np.zeros((0, self.num_channels))
        self.values = values
        if not self.frame_time > 0:
            raise MotionShapeError(f"BvhMotion: frame_time must be positive, got {self.frame_time}")
        if any(not 0 <= j < n for j in self.end_sites):
            raise MotionShapeError("BvhMotion: end_sites refers to a joint that does not exist")

    @property
    def fps(self) -> float:
        """Frames per second. Files store the frame time with few digits
        (0.033333 for 30 fps), so a rate within 1e-4 (relative) of a whole
        number is snapped to it."""
        fps = 1.0 / self.frame_time
        whole = round(fps)
        return float(whole) if whole > 0 and abs(fps - whole) <= _FPS_SNAP_REL_TOL * fps else fps

    @property
    def num_frames(self) -> int:
        return int(self.values.shape[0])

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def num_channels(self) -> int:
        return sum(len(c) for c in self.channels)

    @property
    def channel_starts(self) -> np.ndarray:
        """First column of each joint's channels in ``values``, (J,)."""
        counts = [len(c) for c in self.channels]
        return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if counts else np.zeros(0, np.int64)

    def joint_index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no joint named {name!r}; joints are {self.names}") from None

    def joint_slice(self, joint: int) -> slice:
        """Columns of ``values`` holding this joint's channels."""
        start = int(self.channel_starts[joint])
        return slice(start, start + len(self.channels[joint]))

    def joint_values(self, joint: int) -> np.ndarray:
        """(F, n) values of this joint's channels, in its channel order."""
        return self.values[:, self.joint_slice(joint)]

    def channel_column(self, joint: int, channel: str) -> int | None:
        """Column of one channel of a joint, or None if it has no such channel."""
        channel = _canonical_channel(channel)
        chans = self.channels[joint]
        return int(self.channel_starts[joint]) + chans.index(channel) if channel in chans else None

    def rotation_order(self, joint: int) -> str:
        """Axes of the joint's rotation channels in file order, e.g. "ZXY"."""
        return "".join(c[0] for c in self.channels[joint] if c in ROTATION_CHANNELS)

    def has_position(self, joint: int) -> bool:
        return any(c in POSITION_CHANNELS for c in self.channels[joint])


def _canonical_channel(name: str) -> str:
    canonical = _CHANNEL_LOOKUP.get(str(name).lower())
    if canonical is None:
        raise MotionShapeError(f"unknown BVH channel name {name!r}; expected one of {CHANNEL_NAMES}")
    return canonical


def depth_first_order(parents: Sequence[int] | np.ndarray) -> np.ndarray:
    """Joint indices in depth-first pre-order (children by ascending index):
    the only order a nested BVH hierarchy can list joints in."""
    parents = np.asarray(parents, dtype=np.int64)
    children: list[list[int]] = [[] for _ in parents]
    roots = []
    for j, p in enumerate(parents):
        (roots if p < 0 else children[p]).append(j)
    order: list[int] = []
    stack = roots[::-1]
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(children[j][::-1])
    if len(order) != len(parents):
        raise MotionShapeError("parents do not form a tree (a joint is its own ancestor)")
    return np.asarray(order, dtype=np.int64)


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------

class _Tokens:
    """Whitespace tokens of the hierarchy section with their line numbers,
    so that every parse error can say where it happened."""

    def __init__(self, path: Path, lines: Sequence[str]):
        self.path = path
        self.items = [(tok, n) for n, line in enumerate(lines, 1) for tok in line.split()]
        self.pos = 0
        self.last_line = len(lines)

    def error(self, problem: str) -> MotionFileError:
        return MotionFileError(self.path, problem)

    def at_end(self) -> bool:
        return self.pos >= len(self.items)

    def peek(self) -> tuple[str, int] | None:
        return None if self.at_end() else self.items[self.pos]

    def next(self, what: str) -> tuple[str, int]:
        if self.at_end():
            raise self.error(f"file ends (line {self.last_line}) where {what} was expected")
        item = self.items[self.pos]
        self.pos += 1
        return item

    def rest_of_line(self, line: int) -> list[str]:
        """Remaining tokens on ``line`` up to an opening brace (joint names
        may contain spaces)."""
        words = []
        while not self.at_end() and self.items[self.pos][1] == line and self.items[self.pos][0] != "{":
            words.append(self.items[self.pos][0])
            self.pos += 1
        return words

    def expect(self, word: str, context: str) -> int:
        tok, line = self.next(f"'{word}' {context}")
        if tok.lower() != word.lower():
            if word == "{":
                raise self.error(f"unbalanced braces: expected '{{' {context} on line {line}, found '{tok}'")
            raise self.error(f"expected '{word}' {context} on line {line}, found '{tok}'")
        return line

    def number(self, what: str) -> float:
        tok, line = self.next(what)
        try:
            value = float(tok)
        except ValueError:
            raise self.error(f"non-numeric value '{tok}' for {what} on line {line}") from None
        if not np.isfinite(value):
            raise self.error(f"non-finite value '{tok}' for {what} on line {line}")
        return value


@dataclass
class _Hierarchy:
    names: list[str] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    offsets: list[list[float]] = field(default_factory=list)
    channels: list[tuple[str, ...]] = field(default_factory=list)
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)


def read_bvh(path: str | Path) -> BvhMotion:
    """Parse a BVH file. Raises MotionFileError naming the file and what is
    wrong with it (and the line, where there is one)."""
    path = Path(path)
    lines = _read_text(path).splitlines()
    motion_line = _find_motion_line(path, lines)
    hierarchy = _parse_hierarchy(path, lines[:motion_line])
    num_frames, frame_time, data_start = _parse_motion_header(path, lines, motion_line)
    num_channels = sum(len(c) for c in hierarchy.channels)
    values = _parse_frames(path, lines, data_start, num_frames, num_channels)
    return BvhMotion(hierarchy.names, np.asarray(hierarchy.parents), np.asarray(hierarchy.offsets).reshape(-1, 3),
                     hierarchy.channels, hierarchy.end_sites, frame_time, values)


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise MotionFileError(path, "file not found") from None
    except OSError as exc:
        raise MotionFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    if not raw.strip():
        raise MotionFileError(path, "file is empty, not a BVH file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # old exporters write joint names in Latin-1


def _find_motion_line(path: Path, lines: Sequence[str]) -> int:
    for i, line in enumerate(lines):
        if line.strip().upper() == "MOTION":
            return i
    raise MotionFileError(path, "no MOTION section: the file has a hierarchy but no animation data "
                                "(it may be truncated or not a BVH file)")


def _parse_hierarchy(path: Path, lines: Sequence[str]) -> _Hierarchy:
    tokens = _Tokens(path, lines)
    first = tokens.peek()
    if first is None or first[0].upper() != "HIERARCHY":
        found = f"'{first[0]}' on line {first[1]}" if first else "nothing"
        raise tokens.error(f"not a BVH file: expected 'HIERARCHY' at the start, found {found}")
    tokens.next("HIERARCHY")
    tok, line = tokens.next("'ROOT'")
    if tok.upper() != "ROOT":
        raise tokens.error(f"expected 'ROOT' on line {line}, found '{tok}'")
    hierarchy = _Hierarchy()
    _parse_joint(tokens, hierarchy, parent=-1, line=line)
    if not tokens.at_end():
        tok, line = tokens.next("end of hierarchy")
        if tok == "}":
            raise tokens.error(f"unbalanced braces: extra '}}' on line {line}")
        if tok.upper() == "ROOT":
            raise tokens.error(f"a second ROOT on line {line}; only single-root BVH files are supported")
        raise tokens.error(f"unexpected '{tok}' on line {line} after the hierarchy")
    return hierarchy


MAX_JOINTS = 4096
"""Most joints a BVH may have (rigs with fingers and face have a few hundred)."""
MAX_DEPTH = 256
"""Deepest joint nesting read (a human chain is under 30 deep)."""
MIN_FRAME_TIME, MAX_FRAME_TIME = 1e-4, 10.0
"""Frame times read (10 000 fps down to one frame every 10 s)."""
_ECHO = 40


def _echo(text: str) -> str:
    """A file's word as it may be quoted in a message (long ones cut)."""
    return text if len(text) <= _ECHO else text[:_ECHO] + f"... ({len(text)} characters)"


def _parse_joint(tokens: _Tokens, h: _Hierarchy, parent: int, line: int, depth: int = 0) -> None:
    if depth >= MAX_DEPTH:
        raise tokens.error(f"joints nested more than {MAX_DEPTH} deep (line {line}); not a character skeleton")
    if len(h.names) >= MAX_JOINTS:
        raise tokens.error(f"more than {MAX_JOINTS} joints (line {line}); not a character skeleton")
    words = tokens.rest_of_line(line)
    if not words:
        raise tokens.error(f"joint without a name on line {line}")
    name = " ".join(words)
    index = len(h.names)
    h.names.append(name)
    h.parents.append(parent)
    h.offsets.append([])
    h.channels.append(())
    tokens.expect("{", f"after joint '{name}'")
    while True:
        tok, tok_line = _next_in_joint(tokens, name, line)
        key = tok.upper()
        if key == "OFFSET":
            h.offsets[index] = [tokens.number(f"the OFFSET of joint '{name}'") for _ in range(3)]
        elif key == "CHANNELS":
            h.channels[index] = _parse_channels(tokens, name, tok_line)
        elif key == "JOINT":
            _parse_joint(tokens, h, parent=index, line=tok_line, depth=depth + 1)
        elif key == "END":
            h.end_sites[index] = _parse_end_site(tokens, name, tok_line)
        elif tok == "}":
            break
        elif tok == "{":
            raise tokens.error(f"unbalanced braces: unexpected '{{' on line {tok_line} in joint '{name}'")
        else:
            raise tokens.error(f"unexpected '{tok}' on line {tok_line} in joint '{name}'")
    if not h.offsets[index]:
        raise tokens.error(f"joint '{name}' (line {line}) has no OFFSET")


def _next_in_joint(tokens: _Tokens, name: str, line: int) -> tuple[str, int]:
    if tokens.at_end():
        raise tokens.error(f"unbalanced braces: joint '{name}' opened on line {line} is never closed "
                           f"with '}}' before MOTION")
    return tokens.next("a joint entry")


def _parse_channels(tokens: _Tokens, name: str, line: int) -> tuple[str, ...]:
    count_tok, _ = tokens.next(f"channel count of joint '{name}'")
    try:
        count = int(count_tok)
    except ValueError:
        raise tokens.error(f"non-numeric channel count '{count_tok}' on line {line}") from None
    if not 0 <= count <= 6:
        raise tokens.error(f"joint '{name}' declares {count} channels on line {line}; a joint has 0 to 6")
    channels = []
    for _ in range(count):
        tok, tok_line = tokens.next(f"a channel name of joint '{name}'")
        canonical = _CHANNEL_LOOKUP.get(tok.lower())
        if canonical is None:
            raise tokens.error(f"unknown channel name '{tok}' on line {tok_line} (joint '{name}' declares "
                               f"{count} channels; known names are {', '.join(CHANNEL_NAMES)})")
        if canonical in channels:
            raise tokens.error(f"channel '{canonical}' repeated on line {tok_line} in joint '{name}'")
        channels.append(canonical)
    return tuple(channels)


def _parse_end_site(tokens: _Tokens, name: str, line: int) -> np.ndarray:
    tok, tok_line = tokens.next("'Site'")
    if tok.upper() != "SITE":
        raise tokens.error(f"expected 'End Site' on line {tok_line}, found 'End {tok}'")
    tokens.rest_of_line(tok_line)  # some exporters name their end sites
    tokens.expect("{", f"after 'End Site' of joint '{name}'")
    tokens.expect("OFFSET", f"in the End Site of joint '{name}'")
    offset = np.array([tokens.number(f"the End Site OFFSET of joint '{name}'") for _ in range(3)])
    tok, tok_line = tokens.next(f"'}}' closing the End Site of joint '{name}'")
    if tok != "}":
        raise tokens.error(f"unbalanced braces: expected '}}' closing the End Site of joint '{name}' "
                           f"on line {tok_line}, found '{tok}'")
    return offset


_FRAMES_RE = re.compile(r"^\s*frames\s*:\s*(\S+)\s*$", re.IGNORECASE)
_FRAME_TIME_RE = re.compile(r"^\s*frame\s*time\s*:\s*(\S+)\s*$", re.IGNORECASE)


def _next_nonblank(lines: Sequence[str], start: int) -> int:
    i = start
    while i < len(lines) and not lines[i].strip():
        i += 1
    return i


def _parse_motion_header(path: Path, lines: Sequence[str], motion_line: int) -> tuple[int, float, int]:
    """(frame count, frame time, index of the first frame line)."""
    i = _next_nonblank(lines, motion_line + 1)
    match = _FRAMES_RE.match(lines[i]) if i < len(lines) else None
    if match is None:
        raise MotionFileError(path, f"missing 'Frames:' line after MOTION (line {i + 1})")
    try:
        num_frames = int(match.group(1))
    except ValueError:
        raise MotionFileError(path, f"non-numeric frame count '{_echo(match.group(1))}' on line {i + 1}") from None
    if num_frames < 0:
        raise MotionFileError(path, f"negative frame count {num_frames} on line {i + 1}")
    i = _next_nonblank(lines, i + 1)
    match = _FRAME_TIME_RE.match(lines[i]) if i < len(lines) else None
    if match is None:
        raise MotionFileError(path, f"missing 'Frame Time:' line after 'Frames:' (line {i + 1})")
    try:
        frame_time = float(match.group(1))
    except ValueError:
        raise MotionFileError(path, f"non-numeric frame time '{_echo(match.group(1))}' on line {i + 1}") from None
    if not (np.isfinite(frame_time) and MIN_FRAME_TIME <= frame_time <= MAX_FRAME_TIME):
        raise MotionFileError(path, f"frame time must be between {MIN_FRAME_TIME:g} and {MAX_FRAME_TIME:g} "
                                    f"seconds, got '{_echo(match.group(1))}' on line {i + 1}")
    return num_frames, frame_time, i + 1


def _parse_frames(path: Path, lines: Sequence[str], start: int, num_frames: int, num_channels: int) -> np.ndarray:
    """The motion block as an (F, C) array, parsed by numpy's C reader; only
    when that fails do we walk the lines to say exactly what is wrong."""
    if num_channels == 0:
        raise MotionFileError(path, "no joint has CHANNELS: the file holds a skeleton but no motion")
    line_numbers = [n for n in range(start, len(lines)) if lines[n].strip()]
    data = [lines[n] for n in line_numbers]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            values = np.loadtxt(data, dtype=np.float64, comments=None, ndmin=2)
    except ValueError:
        raise _diagnose_frames(path, data, line_numbers, num_channels) from None
    if len(data) and values.shape[1] != num_channels:
        raise _diagnose_frames(path, data, line_numbers, num_channels)
    if len(data) < num_frames:
        raise MotionFileError(path, f"truncated: 'Frames: {num_frames}' but only {len(data)} frame lines")
    if len(data) > num_frames:
        raise MotionFileError(path, f"{len(data)} frame lines but 'Frames: {num_frames}'; the frame count "
                                    f"is wrong or extra data follows the motion")
    values = values.reshape(num_frames, num_channels)
    finite = np.all(np.isfinite(values), axis=1)
    if not np.all(finite):
        k = int(np.flatnonzero(~finite)[0])
        raise MotionFileError(path, f"non-finite value (nan/inf) in frame {k + 1} (line {line_numbers[k] + 1})")
    return values


def _diagnose_frames(path: Path, data: list[str], line_numbers: list[int], num_channels: int) -> MotionFileError:
    """The first frame line with the wrong number of values, or else the
    first value that is not a number."""
    rows = [line.split() for line in data]
    for k, row in enumerate(rows):
        if len(row) != num_channels:
            kind = "only" if len(row) < num_channels else "too many:"
            return MotionFileError(
                path, f"frame {k + 1} (line {line_numbers[k] + 1}) has {kind} {len(row)} values but the "
                      f"skeleton has {num_channels} channels; the file looks truncated or corrupted")
    for k, row in enumerate(rows):
        for tok in row:
            try:
                float(tok)
            except ValueError:
                return MotionFileError(path, f"non-numeric value '{tok}' in frame {k + 1} "
                                             f"(line {line_numbers[k] + 1})")
    return MotionFileError(path, "unreadable motion data")


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

def write_bvh(path: str | Path, motion: BvhMotion) -> None:
    """Write ``motion`` as a BVH file (lengths as stored, angles in degrees,
    6 decimals, so write -> read is exact to 1e-6).

    Joints are written in depth-first order; a motion whose joints are
    already in that order (everything read_bvh and motion_from_rotations
    return) keeps its order, so read_bvh gives back the same arrays.
    """
    if np.any(motion.parents >= np.arange(motion.num_joints)):
        raise MotionShapeError("write_bvh: parents must be listed before their children")
    order = depth_first_order(motion.parents)
    roots = np.flatnonzero(motion.parents < 0)
    if len(roots) != 1:
        raise MotionShapeError(f"write_bvh: a BVH has exactly one root joint, this skeleton has {len(roots)}")
    for name in motion.names:
        if not name.strip() or any(c in name for c in "{}\r\n"):
            raise MotionShapeError(f"write_bvh: joint name {name!r} cannot be written to a BVH file")
    lines = ["HIERARCHY"]
    _write_joint(lines, motion, int(roots[0]), depth=0)
    columns = np.concatenate([np.arange(motion.joint_slice(j).start, motion.joint_slice(j).stop) for j in order])
    lines += ["MOTION", f"Frames: {motion.num_frames}", "Frame Time: " + _FRAME_TIME_FORMAT % motion.frame_time]
    body = _format_rows(motion.values[:, columns.astype(np.int64)])
    text = "\n".join(lines) + "\n" + body
    Path(path).write_text(text, encoding="utf-8", newline="\n")


def _write_joint(lines: list[str], motion: BvhMotion, j: int, depth: int) -> None:
    tab = "\t" * depth
    keyword = "ROOT" if motion.parents[j] < 0 else "JOINT"
    chans = motion.channels[j]
    lines += [f"{tab}{keyword} {motion.names[j]}", f"{tab}{{",
              f"{tab}\tOFFSET {_format_vector(motion.offsets[j])}",
              f"{tab}\tCHANNELS {len(chans)}" + "".join(" " + c for c in chans)]
    for child in np.flatnonzero(motion.parents == j):
        _write_joint(lines, motion, int(child), depth + 1)
    if j in motion.end_sites:
        lines += [f"{tab}\tEnd Site", f"{tab}\t{{", f"{tab}\t\tOFFSET {_format_vector(motion.end_sites[j])}",
                  f"{tab}\t}}"]
    lines.append(f"{tab}}}")


def _format_vector(v: np.ndarray) -> str:
    return " ".join(_FLOAT_FORMAT % x for x in v)


def _format_rows(values: np.ndarray) -> str:
    if values.shape[0] == 0:
        return ""
    if values.shape[1] == 0:
        return "\n" * values.shape[0]
    row_format = " ".join([_FLOAT_FORMAT] * values.shape[1]) + "\n"
    values = values + 0.0  # turn -0.0 into 0.0 so files do not show "-0.000000"
    return "".join(row_format % tuple(row) for row in values.tolist())


# ---------------------------------------------------------------------------
# Conversion to rotations and positions
# ---------------------------------------------------------------------------

def bvh_to_local_quats(motion: BvhMotion) -> tuple[np.ndarray, np.ndarray]:
    """(local_quats (F, J, 4), root_pos (F, 3)) in file units.

    Each joint's rotation channels are composed in the joint's own channel
    order (missing axes are zero rotations); the root position is the root's
    position channels, falling back to its OFFSET on axes without one.
    """
    F, J = motion.num_frames, motion.num_joints
    quats = qidentity((F, J))
    for j in range(J):
        for channel in motion.channels[j]:
            if channel in ROTATION_CHANNELS:
                column = motion.channel_column(j, channel)
                quats[:, j] = qmul(quats[:, j], _axis_quat(_AXIS_OF_CHANNEL[channel], motion.values[:, column]))
    root = int(np.flatnonzero(motion.parents < 0)[0])
    return qnormalize(quats), _joint_translation(motion, root)


def bvh_local_translations(motion: BvhMotion) -> np.ndarray:
    """(F, J, 3) translation of every joint from its parent (the root's from
    the origin) per frame: the OFFSET, replaced axis by axis by the joint's
    position channels where it has them."""
    return np.stack([_joint_translation(motion, j) for j in range(motion.num_joints)], axis=1) \
        if motion.num_joints else np.zeros((motion.num_frames, 0, 3))


def bvh_joint_positions(motion: BvhMotion, scale: float = 1.0) -> np.ndarray:
    """(F, J, 3) world joint positions by forward kinematics, times ``scale``
    (e.g. :func:`guess_scale_to_metres`). Exact for position channels on any
    joint."""
    return bvh_world_pose(motion, scale)[0]


def bvh_world_pose(motion: BvhMotion, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """World joint positions (F, J, 3) times ``scale`` and world rotations
    (F, J, 4): what End Sites and bone directions are read from."""
    quats, root_pos = bvh_to_local_quats(motion)
    positions, world = forward_kinematics(quats, root_pos, motion.offsets, motion.parents)
    moving = [j for j in range(motion.num_joints) if motion.parents[j] >= 0 and motion.has_position(j)]
    if moving:
        translations = bvh_local_translations(motion)
        for j in range(motion.num_joints):
            p = motion.parents[j]
            if p >= 0:
                positions[:, j] = positions[:, p] + qrot(world[:, p], translations[:, j])
    return positions * scale, world


def bvh_end_site_positions(motion: BvhMotion, joint: int, positions: np.ndarray, world: np.ndarray,
                           scale: float = 1.0) -> np.ndarray | None:
    """(F, 3) world position of ``joint``'s End Site (None without one),
    from :func:`bvh_world_pose`'s output: where a skeleton without toe
    bones keeps its toes."""
    offset = motion.end_sites.get(int(joint))
    if offset is None:
        return None
    return positions[:, joint] + qrot(world[:, joint], np.broadcast_to(offset, world[:, joint, :3].shape)) * scale


def _axis_quat(axis: int, angles_deg: np.ndarray) -> np.ndarray:
    half = np.radians(angles_deg) / 2.0
    q = np.zeros(half.shape + (4,))
    q[..., 0] = np.cos(half)
    q[..., 1 + axis] = np.sin(half)
    return q


def _joint_translation(motion: BvhMotion, joint: int) -> np.ndarray:
    translation = np.repeat(motion.offsets[joint][None], motion.num_frames, axis=0)
    for channel in motion.channels[joint]:
        if channel in POSITION_CHANNELS:
            translation[:, _AXIS_OF_CHANNEL[channel]] = motion.values[:, motion.channel_column(joint, channel)]
    return translation


# ---------------------------------------------------------------------------
# Building a BVH from rotations
# ---------------------------------------------------------------------------

def motion_from_rotations(names: Sequence[str], parents: Sequence[int] | np.ndarray, offsets: np.ndarray,
                          local_quats: np.ndarray, root_pos: np.ndarray, fps: float,
                          rotation_order: str = "ZXY",
                          end_sites: Mapping[int, np.ndarray] | None = None) -> BvhMotion:
    """A BvhMotion for local rotations on a skeleton (lengths in whatever unit
    ``offsets`` and ``root_pos`` share).

    The root gets ``Xposition Yposition Zposition`` and three rotation
    channels, other joints three rotation channels, all in ``rotation_order``.
    Euler angles are made continuous over time (no 360-degree wraps and no
    switching between the two equivalent Euler triples) because Blender
    interpolates F-curves linearly between keys. Joints are reordered
    depth-first, the order the file will list them in; ``end_sites`` (keyed
    by input joint index) override the default End Site of leaf joints, a
    short continuation of the last bone.
    """
    parents = np.asarray(parents, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.float64)
    local_quats = np.asarray(local_quats, dtype=np.float64)
    root_pos = np.asarray(root_pos, dtype=np.float64)
    _check_rotation_inputs(names, parents, offsets, local_quats, root_pos, fps)
    order = depth_first_order(parents)
    new_index = np.empty_like(order)
    new_index[order] = np.arange(len(order))
    new_parents = np.where(parents[order] < 0, -1, new_index[np.maximum(parents[order], 0)])
    eulers = continuous_euler(local_quats[:, order], rotation_order)
    rot_channels = tuple(f"{axis}rotation" for axis in rotation_order.upper())
    columns, channels = [], []
    for j, old in enumerate(order):
        if new_parents[j] < 0:
            channels.append(POSITION_CHANNELS + rot_channels)
            columns += [root_pos, eulers[:, j]]
        else:
            channels.append(rot_channels)
            columns.append(eulers[:, j])
    sites = _default_end_sites(offsets, parents)
    sites.update({int(j): np.asarray(o, dtype=np.float64) for j, o in (end_sites or {}).items()})
    return BvhMotion([names[i] for i in order], new_parents, offsets[order], channels,
                     {int(new_index[j]): o for j, o in sites.items()}, 1.0 / fps,
                     np.concatenate(columns, axis=1))


def _check_rotation_inputs(names: Sequence[str], parents: np.ndarray, offsets: np.ndarray,
                           local_quats: np.ndarray, root_pos: np.ndarray, fps: float) -> None:
    J = len(names)
    if parents.shape != (J,) or offsets.shape != (J, 3):
        raise MotionShapeError(f"{J} joint names but parents {parents.shape} and offsets {offsets.shape}")
    if local_quats.ndim != 3 or local_quats.shape[1:] != (J, 4):
        raise MotionShapeError(f"local_quats must be (frames, {J}, 4), got {local_quats.shape}")
    if root_pos.shape != (local_quats.shape[0], 3):
        raise MotionShapeError(f"root_pos must be ({local_quats.shape[0]}, 3), got {root_pos.shape}")
    if int(np.sum(parents < 0)) != 1:
        raise MotionShapeError("a BVH skeleton has exactly one root (parent -1)")
    for name, array in (("local_quats", local_quats), ("root_pos", root_pos), ("offsets", offsets)):
        if not np.all(np.isfinite(array)):
            raise MotionShapeError(f"{name} holds NaN or infinite values")
    if not (np.isfinite(fps) and fps > 0):
        raise MotionShapeError(f"fps must be positive, got {fps}")


def _default_end_sites(offsets: np.ndarray, parents: np.ndarray) -> dict[int, np.ndarray]:
    """End Site for every leaf: half the leaf's own bone, continuing its
    direction, so Blender draws the last bone (hand, foot, head) sensibly."""
    lengths = np.linalg.norm(offsets, axis=1)
    fallback = 0.1 * (lengths[lengths > 0].mean() if np.any(lengths > 0) else 1.0)
    sites = {}
    for j in range(len(parents)):
        if not np.any(parents == j):
            bone = offsets[j] if parents[j] >= 0 and lengths[j] > 0 else np.array([0.0, fallback * 2, 0.0])
            sites[j] = 0.5 * bone
    return sites


def continuous_euler(quats: np.ndarray, order: str) -> np.ndarray:
    """Euler angles (degrees) of quaternions (F, ...) along time axis 0,
    continuous from frame to frame.

    Every rotation has two Euler triples, (a, b, c) and (a+180, 180-b,
    c+180). Per frame we keep the triple nearer the previous frame's choice
    (greedy, as Blender's ``to_euler(compat)``): since the flip maps one
    triple onto the other and preserves distance, "switch branch at frame t"
    only depends on the canonical triples, so the choice is a cumulative
    parity, vectorised over frames. Then 360-degree wraps are unwrapped.
    """
    canonical = quat_to_euler(quats, order)
    if canonical.shape[0] < 2:
        return canonical
    flipped = _flip_euler(canonical)
    stay = _angle_distance(canonical[:-1], canonical[1:])
    switch = _angle_distance(canonical[:-1], flipped[1:])
    flips = np.concatenate([np.zeros_like(stay[:1], dtype=bool), switch < stay - 1e-9], axis=0)
    parity = (np.cumsum(flips, axis=0) % 2).astype(bool)
    chosen = np.where(parity[..., None], flipped, canonical)
    return unwrap_degrees(chosen, axis=0)


def _flip_euler(e: np.ndarray) -> np.ndarray:
    middle = np.where(e[..., 1] >= 0, 180.0 - e[..., 1], -180.0 - e[..., 1])
    return np.stack([e[..., 0] + 180.0, middle, e[..., 2] + 180.0], axis=-1)


def _angle_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs((a - b + 180.0) % 360.0 - 180.0).sum(-1)


# ---------------------------------------------------------------------------
# Units and the t2m skeleton
# ---------------------------------------------------------------------------

def rest_points(motion: BvhMotion) -> np.ndarray:
    """Rest-pose joint positions followed by End Site positions, (J+E, 3)."""
    positions = np.zeros((motion.num_joints, 3))
    for j in range(motion.num_joints):
        p = motion.parents[j]
        positions[j] = motion.offsets[j] + (positions[p] if p >= 0 else 0.0)
    ends = [positions[j] + o for j, o in motion.end_sites.items()]
    return np.concatenate([positions, np.reshape(ends, (-1, 3))], axis=0)


def guess_scale_to_metres(motion: BvhMotion, units: Iterable[str] = ("m", "in", "cm", "mm")) -> float:
    """Factor that turns this file's lengths into metres, guessed from the
    size of the rest skeleton, since BVH files do not record their unit.

    The size is the largest side of the rest pose's bounding box (joints and
    End Sites; about the body height, or arm span in a T-pose). Of the
    candidate ``units`` the one that makes that size closest to a
    :data:`TYPICAL_HEIGHT_M` person (in ratio) wins. With the default
    candidates a human skeleton reads as metres up to about 10.7 units,
    inches up to 107, centimetres up to 537, millimetres above. Callers that
    know the choice is between fewer units (e.g. our own files: "m" or "cm")
    should pass them: a 1 m child in centimetres would otherwise read as
    inches. An empty or single-point skeleton returns 1.0.
    """
    points = rest_points(motion)
    size = float(np.ptp(points, axis=0).max()) if len(points) else 0.0
    if size <= 0:
        return 1.0
    scales = [UNIT_TO_METRES[u] for u in units]
    errors = [abs(np.log(size * s / TYPICAL_HEIGHT_M)) for s in scales]
    return scales[int(np.argmin(errors))]


def write_t2m_bvh(path: str | Path, local_quats: np.ndarray, root_pos: np.ndarray, offsets: np.ndarray,
                  fps: float = skeleton.FPS, units: str = T2M_BVH_UNITS) -> BvhMotion:
    """Write a t2m-skeleton motion (quaternions in JOINT_NAMES order, root
    position and offsets in metres) as a BVH in ``units`` ("cm" or "m").
    Returns the written BvhMotion (joints in depth-first file order)."""
    if units not in ("cm", "m"):
        raise ValueError(f"units must be 'cm' or 'm', got {units!r}")
    local_quats = np.asarray(local_quats, dtype=np.float64)
    offsets = np.asarray(offsets, dtype=np.float64)
    if offsets.shape != (skeleton.NUM_JOINTS, 3):
        raise MotionShapeError(f"offsets must be ({skeleton.NUM_JOINTS}, 3), got {offsets.shape}")
    scale = 1.0 / UNIT_TO_METRES[units]
    motion = motion_from_rotations(skeleton.JOINT_NAMES, skeleton.PARENTS, offsets * scale, local_quats,
                                   np.asarray(root_pos, dtype=np.float64) * scale, fps, T2M_ROTATION_ORDER)
    write_bvh(path, motion)
    return motion


def read_t2m_bvh(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Read a BVH of the t2m skeleton (any joint order, rotation orders or
    unit "m"/"cm"). Returns (local_quats (F, 22, 4) in JOINT_NAMES order,
    root_pos (F, 3) in metres, offsets (22, 3) in metres, fps)."""
    return t2m_arrays(read_bvh(path), path)


def t2m_arrays(motion: BvhMotion, path: str | Path = "<bvh>") -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """:func:`read_t2m_bvh` for a BVH already read (``path`` names it in errors)."""
    perm = _t2m_permutation(path, motion)
    quats, root_pos = bvh_to_local_quats(motion)
    scale = guess_scale_to_metres(motion, units=("m", "cm"))
    return quats[:, perm], root_pos * scale, motion.offsets[perm] * scale, motion.fps


def _t2m_permutation(path: str | Path, motion: BvhMotion) -> np.ndarray:
    """Index into the file's joints for each of skeleton.JOINT_NAMES; checks
    names, hierarchy and that only the root moves."""
    expected = set(skeleton.JOINT_NAMES)
    found = set(motion.names)
    if found != expected or len(motion.names) != len(expected):
        missing = sorted(expected - found)
        extra = sorted(found - expected)
        raise MotionFileError(path, f"not a t2m-skeleton BVH: joint names do not match "
                                    f"engine.motion.skeleton.JOINT_NAMES (missing {missing}, unexpected {extra})")
    perm = np.array([motion.names.index(n) for n in skeleton.JOINT_NAMES])
    file_parents = motion.parents[perm]
    mapped = np.array([-1 if p < 0 else skeleton.JOINT_INDEX[motion.names[p]] for p in file_parents])
    if not np.array_equal(mapped, skeleton.PARENTS):
        wrong = [skeleton.JOINT_NAMES[j] for j in np.flatnonzero(mapped != skeleton.PARENTS)]
        raise MotionFileError(path, f"not a t2m-skeleton BVH: joints {wrong} have different parents than "
                                    f"the t2m skeleton")
    movers = [motion.names[j] for j in range(motion.num_joints) if motion.parents[j] >= 0 and motion.has_position(j)]
    if movers:
        raise MotionFileError(path, f"not a t2m-skeleton BVH: non-root joints {movers} have position channels")
    return perm
