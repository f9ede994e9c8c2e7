"""Motion tokens as text: the one place that says what a motion token is.

The VQ-VAE turns every 4 frames of 20 fps motion into one codebook index
0..K-1. The language model sees each index as the added token
``<motion_id_i>``, and three more tokens frame and edit a motion, exactly as
in MotionGPT (Jiang et al. 2023):

    K     begin of motion (BOM)
    K + 1 end of motion (EOM)
    K + 2 mask: one per motion token left out, so a masked span's length is
          part of the prompt

A motion written as text is ``<motion_id_K><motion_id_a>...<motion_id_K+1>``.
"""
from __future__ import annotations

import re
from typing import Iterable

import numpy as np

from ..errors import MotionGPTError
from ..motion import skeleton

FRAMES_PER_TOKEN: int = 4
"""Frames of 20 fps motion per VQ-VAE token (the encoder downsamples by 4)."""

DEFAULT_MAX_TOKENS: int = 50
"""Longest motion generated unless asked otherwise: 50 tokens = 10 s, just
over HumanML3D's 196-frame cap."""

TOKEN_PREFIX = "<motion_id_"
TOKEN_RE = re.compile(r"<motion_id_(\d+)>")


def seconds_to_tokens(seconds: float) -> int:
    """Nearest whole number of motion tokens for a duration; at least 1."""
    if not np.isfinite(seconds) or seconds <= 0:
        raise MotionGPTError(f"a motion length must be a positive number of seconds, got {seconds!r}")
    return max(1, int(round(float(seconds) * skeleton.FPS / FRAMES_PER_TOKEN)))


def tokens_to_seconds(n: int) -> float:
    """Duration of ``n`` motion tokens (decoded frames = 4 * n at 20 fps)."""
    return int(n) * FRAMES_PER_TOKEN / skeleton.FPS


class MotionParseError(MotionGPTError, ValueError):
    """Text that should hold a motion does not hold a valid one."""


class MotionVocab:
    """Motion-token ids and their text form for a codebook of size K."""

    def __init__(self, codebook_size: int):
        codebook_size = int(codebook_size)
        if codebook_size < 1:
            raise MotionGPTError(f"codebook size must be at least 1, got {codebook_size}")
        self.codebook_size = codebook_size

    # ids ------------------------------------------------------------------
    @property
    def bom(self) -> int:
        return self.codebook_size

    @property
    def eom(self) -> int:
        return self.codebook_size + 1

    @property
    def mask(self) -> int:
        return self.codebook_size + 2

    @property
    def num_tokens(self) -> int:
        """Motion tokens the language model adds: K codes + BOM, EOM, mask."""
        return self.codebook_size + 3

    def is_code(self, i: int) -> bool:
        return 0 <= int(i) < self.codebook_size

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MotionVocab) and other.codebook_size == self.codebook_size

    def __hash__(self) -> int:
        return hash(("MotionVocab", self.codebook_size))

    def __repr__(self) -> str:
        return f"MotionVocab(codebook_size={self.codebook_size})"

    # text -----------------------------------------------------------------
    def token_string(self, i: int) -> str:
        i = int(i)
        if not 0 <= i < self.num_tokens:
            raise MotionGPTError(f"motion token {i} is outside 0..{self.num_tokens - 1} "
                                 f"(codebook of {self.codebook_size} + BOM, EOM, mask)")
        return f"{TOKEN_PREFIX}{i}>"

    def token_strings(self) -> list[str]:
        """Every motion token string, in id order (what the tokenizer adds)."""
        return [f"{TOKEN_PREFIX}{i}>" for i in range(self.num_tokens)]

    def check_ids(self, ids: Iterable[int], allow_mask: bool = False, what: str = "motion") -> np.ndarray:
        """``ids`` as an int64 array of codes (and masks if allowed); raises if
        any is out of range."""
        arr = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids)
        if arr.ndim != 1:
            raise MotionGPTError(f"{what} token ids must be a 1-D sequence, got shape {arr.shape}")
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.mod(arr, 1) == 0):
                raise MotionGPTError(f"{what} token ids must be integers")
        arr = arr.astype(np.int64)
        ok = (arr >= 0) & (arr < self.codebook_size)
        if allow_mask:
            ok |= arr == self.mask
        if not ok.all():
            bad = arr[~ok][:5].tolist()
            allowed = f"0..{self.codebook_size - 1}" + (f" or the mask {self.mask}" if allow_mask else "")
            raise MotionGPTError(f"{what} token ids must be in {allowed}; got {bad}")
        return arr

    def to_string(self, ids: Iterable[int], allow_mask: bool = False) -> str:
        """Codes (and masks if allowed) wrapped in BOM ... EOM."""
        arr = self.check_ids(ids, allow_mask=allow_mask)
        body = "".join(f"{TOKEN_PREFIX}{int(i)}>" for i in arr)
        return f"{TOKEN_PREFIX}{self.bom}>{body}{TOKEN_PREFIX}{self.eom}>"

    def parse(self, text: str, strict: bool = True, allow_mask: bool = False) -> np.ndarray:
        """The codes of the first motion in ``text`` (between BOM and EOM).

        strict: BOM and EOM must be there, nothing but whitespace may stand
        between the motion tokens, every token must be a code (or a mask if
        ``allow_mask``) and the motion must not be empty; anything else raises
        MotionParseError saying what is wrong.
        lenient: a missing BOM starts at the beginning, a missing EOM ends at
        the end, and text, BOM, stray EOM-less junk and out-of-range tokens
        inside are skipped.
        """
        if not isinstance(text, str):
            raise MotionParseError(f"expected motion text, got {type(text).__name__}")
        bom, eom = f"{TOKEN_PREFIX}{self.bom}>", f"{TOKEN_PREFIX}{self.eom}>"
        start = text.find(bom)
        if start < 0:
            if strict:
                raise MotionParseError(f"no begin-of-motion token {bom} in {_preview(text)}")
            start = 0
        else:
            start += len(bom)
        end = text.find(eom, start)
        if end < 0:
            if strict:
                raise MotionParseError(f"the motion is not closed by the end-of-motion token {eom}: {_preview(text)}")
            end = len(text)
        body = text[start:end]
        ids = []
        pos = 0
        for match in TOKEN_RE.finditer(body):
            junk = body[pos:match.start()]
            pos = match.end()
            if strict and junk.strip():
                raise MotionParseError(f"text {junk.strip()[:40]!r} inside a motion: {_preview(text)}")
            value = int(match.group(1))
            if self.is_code(value) or (allow_mask and value == self.mask):
                ids.append(value)
            elif strict:
                what = {self.bom: "a second begin-of-motion token", self.mask: "a mask token"}.get(
                    value, f"token {value}, outside the codebook of {self.codebook_size}")
                raise MotionParseError(f"{what} inside a motion: {_preview(text)}")
        if strict and body[pos:].strip():
            raise MotionParseError(f"text {body[pos:].strip()[:40]!r} inside a motion: {_preview(text)}")
        if strict and not ids:
            raise MotionParseError(f"the motion is empty: {_preview(text)}")
        return np.asarray(ids, dtype=np.int64)


def _preview(text: str, n: int = 80) -> str:
    return repr(text if len(text) <= n else text[:n] + "...")
