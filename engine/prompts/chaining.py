"""Prompts that chain actions: "a person walks forward, then waves",
"waves while walking", "camina y luego saluda".

A typed sequence is read as a timeline (:mod:`engine.pipeline.compose`):
the prompt is cut at words that order actions in time ("then", "after
that", "and then", a comma between two actions, and their forms in the
languages the prompt reader knows), each piece is read as its own prompt,
and "while" / "as" / "during" put the second action at the same time as the
first, on the upper body. Nothing is dropped without a word: every piece is
an item, and an item whose words do not read as a motion refuses the prompt
by name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

THEN_WORDS = (
    r"and then", r"then", r"after that", r"afterwards", r"finally", r"and finally",
    r"y luego", r"luego", r"después", r"y después", r"entonces",                          # es
    r"et puis", r"puis", r"ensuite", r"après",                                           # fr
    r"und dann", r"dann", r"danach", r"anschließend",                                    # de
    r"e poi", r"poi", r"dopo",                                                           # it
    r"e depois", r"depois",                                                              # pt
)
"""Words that put what follows after what came before."""
WHILE_WORDS = (r"while", r"as(?=\s+(?:he|she|they|it|the person|someone|a person)\b)", r"whilst",
               r"during", r"at the same time as", r"mientras", r"mientras que",
               r"pendant que", r"tout en", r"während", r"mentre", r"enquanto")
"""Words that put what follows at the same time as what came before ("as"
only before its subject: "walks as he waves", not "walks as if drunk")."""

_THEN = re.compile(r"\s*(?:,\s*)?\b(?:" + "|".join(THEN_WORDS) + r")\b\s*,?\s*", re.IGNORECASE)
_WHILE = re.compile(r"\s*(?:,\s*)?\b(?:" + "|".join(WHILE_WORDS) + r")\b\s*", re.IGNORECASE)
_COMMA = re.compile(r"\s*[,;]\s*")


@dataclass(frozen=True)
class Piece:
    text: str
    at_once: bool = False            # at the same time as the piece before it (on the upper body)


def split_chain(text: str) -> list[Piece]:
    """The pieces of a prompt in order; one piece when nothing chains.
    Commas separate actions only where every side names an action of its
    own ("walks in, stops, waves"; not "a tired, old person walks")."""
    text = " ".join(str(text).split()).strip(" .!")
    pieces: list[Piece] = []
    for part in _THEN.split(text):
        part = part.strip(" ,.;")
        if not part:
            continue
        for n, seg in enumerate(s.strip(" ,.;") for s in _WHILE.split(part)):
            if not seg:
                continue
            subs = [s.strip() for s in _COMMA.split(seg) if s.strip()]
            if len(subs) > 1 and not all(has_action(s) for s in subs):
                subs = [seg]
            for k, sub in enumerate(subs):
                pieces.append(Piece(sub, at_once=n > 0 and k == 0))
    for i in range(1, len(pieces)):             # "waves while walking": the legs' action is the base
        if pieces[i].at_once and _is_locomotion(pieces[i].text) and not _is_locomotion(pieces[i - 1].text):
            pieces[i - 1], pieces[i] = Piece(pieces[i].text), Piece(pieces[i - 1].text, at_once=True)
    return pieces or [Piece(text)]


LOCOMOTION = re.compile(r"\b(walk|run|jog|dash|sprint|stroll|march|crawl|hop|skip|camin|corr|march|geh|lauf|"
                        r"renn|cammin|anda)", re.IGNORECASE)


def _is_locomotion(piece: str) -> bool:
    """Whether a piece moves the body from place to place (so it owns the legs)."""
    return bool(LOCOMOTION.search(piece))


_EXTRA_VERBS = frozenset({"stop", "stops", "greet", "salute", "wave", "enter", "exit", "leave", "come", "go",
                          "camina", "corre", "salta", "saluda", "marche", "court", "saute", "geht", "läuft",
                          "springt", "winkt"})


def motion_verbs(text: str) -> set[str]:
    """The motion verbs ``text`` names, in their base form ("waving" -> "wave",
    "runs" -> "run"; the other languages' verbs as written)."""
    from ..data.captions import MOTION_VERBS
    found = set()
    for word in re.findall(r"[a-zäöüéèàçñ]+", text.lower()):
        if word in _EXTRA_VERBS:
            found.add(word)
            continue
        for stem in (word, word[:-1], word[:-2], word[:-3], word[:-3] + "e", word[:-4]):
            if stem in MOTION_VERBS:
                found.add(stem)
                break
    return found


def has_action(piece: str) -> bool:
    """Whether a piece names something done (a motion verb in any form)."""
    return bool(motion_verbs(piece))


def timeline_items(pieces: list[Piece], seconds_of: list[float], total: float | None,
                   fixed: list[bool] | None = None) -> list[dict]:
    """Items for :func:`engine.pipeline.compose.parse_timeline`: pieces in
    order share the length (``total``, else their typical lengths
    ``seconds_of``) in proportion to their typical lengths; a piece marked
    ``fixed`` (a held beat) keeps its length while the others leave it room;
    a piece "at once" spans the piece before it, on the upper body."""
    order = [i for i, p in enumerate(pieces) if not p.at_once]
    typical = [max(1.0, seconds_of[i]) for i in order]
    kept = [bool(fixed and fixed[i]) for i in order]
    held = sum(length for length, k in zip(typical, kept) if k)
    free = sum(typical) - held
    if total and free > 0 and total > held:
        scales = [1.0 if k else (total - held) / free for k in kept]
    else:
        scales = [(total / sum(typical)) if total else 1.0] * len(order)
    items, t = [], 0.0
    span_of: dict[int, tuple[float, float]] = {}
    for i, length, scale in zip(order, typical, scales):
        span_of[i] = (round(t, 2), round(t + length * scale, 2))
        items.append({"text": pieces[i].text, "start": span_of[i][0], "end": span_of[i][1]})
        t += length * scale
    for i, piece in enumerate(pieces):
        if piece.at_once:
            base = max(j for j in span_of if j < i) if any(j < i for j in span_of) else order[0]
            start, end = span_of[base]
            items.append({"text": piece.text, "start": start, "end": end, "parts": ["upper_body"]})
    return items
