"""Paraphrases of the dataset's template captions, so free text lands on the
closest action and style.

The shared data's captions are templates over (action, style) labels. People
type "an old man walking", "walk forward wearily!" or "Zombie-tired walk".
During training each caption is randomly rewritten with the synonym table
below (our own wording), tense changes and punctuation/case noise; the text
tokenizer lower-cases and normalises punctuation anyway.
"""
from __future__ import annotations

import re

import numpy as np

_PHRASES: list[tuple[str, tuple[str, ...]]] = [
    # subjects
    (r"\b(a person|someone|the person)\b", ("a person", "someone", "a man", "a woman", "a character", "a guy",
                                             "somebody", "the figure", "the actor", "a human")),
    # styles as adverbial phrases
    (r"\benergetically\b", ("energetically", "with energy", "vigorously", "briskly", "actively", "with pep")),
    (r"\btiredly\b", ("tiredly", "wearily", "in a tired way", "sluggishly", "exhaustedly", "like they are worn out")),
    (r"\bangrily\b", ("angrily", "furiously", "in an angry way", "in anger", "aggressively")),
    (r"\bsadly\b", ("sadly", "gloomily", "in a sad way", "sorrowfully", "dejectedly")),
    (r"\bhappily\b", ("happily", "cheerfully", "joyfully", "in a happy way", "gleefully")),
    (r"\bproudly\b", ("proudly", "with pride", "confidently", "boastfully")),
    (r"\bwithout confidence\b", ("without confidence", "shyly", "timidly", "nervously", "hesitantly")),
    (r"\blike an old person\b", ("like an old person", "like an elderly person", "like a senior", "like an old man",
                                 "like a grandpa")),
    (r"\bheavily, like a giant\b", ("heavily, like a giant", "like a giant", "with heavy steps like a giant",
                                    "like a huge heavy monster", "ponderously")),
    (r"\btheatrically, like in a musical\b", ("theatrically, like in a musical", "theatrically", "dramatically",
                                              "like a stage performer", "in a showy way")),
    (r"\bin a childish way\b", ("in a childish way", "like a child", "like a kid", "childishly", "playfully")),
    (r"\bin a feminine way\b", ("in a feminine way", "femininely", "gracefully", "in a girly way")),
    (r"\bin a masculine way\b", ("in a masculine way", "in a manly way", "in a macho way", "masculinely")),
    (r"\bwith a swaggering thug-like attitude\b", ("with a swaggering thug-like attitude", "like a thug",
                                                   "like a gangster", "with swagger", "like a delinquent")),
    (r"\bin an elderly way\b", ("in an elderly way", "like an old person", "like an elderly person")),
    (r"\bin an exhausted way\b", ("in an exhausted way", "exhaustedly", "wearily", "like they are exhausted")),
    (r"\bin a youthful way\b", ("in a youthful way", "youthfully", "like a young person", "like a teenager")),
    # styles as adjectives
    (r"\ban energetic person\b", ("an energetic person", "a lively person", "an active person", "a peppy person")),
    (r"\ba tired person\b", ("a tired person", "an exhausted person", "a weary person", "a worn-out person")),
    (r"\ban angry person\b", ("an angry person", "a furious person", "a mad person", "an annoyed person")),
    (r"\ba sad person\b", ("a sad person", "a gloomy person", "an unhappy person", "a depressed person")),
    (r"\ba happy person\b", ("a happy person", "a cheerful person", "a joyful person", "a glad person")),
    (r"\ban old person\b", ("an old person", "an elderly person", "an old man", "an old woman", "a senior")),
    (r"\ban elderly person\b", ("an elderly person", "an old person", "an old man", "an old woman")),
    (r"\ba proud person\b", ("a proud person", "a confident person", "a boastful person")),
    (r"\ban unconfident person\b", ("an unconfident person", "a shy person", "a timid person", "a nervous person")),
    (r"\ba childlike person\b", ("a childlike person", "a child", "a kid", "a playful person")),
    (r"\ba youthful person\b", ("a youthful person", "a young person", "a teenager", "a youngster")),
    (r"\ban exhausted person\b", ("an exhausted person", "a tired person", "a worn-out person")),
    (r"\ba swaggering thug\b", ("a swaggering thug", "a thug", "a gangster", "a delinquent")),
    (r"\ba giant\b", ("a giant", "a huge giant", "a heavy giant", "an ogre")),
    (r"\ba theatrical person\b", ("a theatrical person", "a dramatic person", "a stage performer")),
    # actions
    (r"\bwalks forward\b", ("walks forward", "walks ahead", "walks straight", "walks", "strolls forward",
                            "is walking forward", "walking forward")),
    (r"\bwalks\b", ("walks", "strolls", "is walking", "walking", "paces")),
    (r"\bruns\b", ("runs", "jogs", "is running", "running")),
    (r"\bdashes\b", ("dashes", "sprints", "runs fast", "races")),
    (r"\bwalks backward\b", ("walks backward", "walks backwards", "backs up", "steps back", "moves backward")),
    (r"\bturns left\b", ("turns left", "makes a left turn", "turns to the left", "goes left")),
    (r"\bturns right\b", ("turns right", "makes a right turn", "turns to the right", "goes right")),
    (r"\braises\b", ("raises", "lifts", "puts up", "holds up")),
    (r"\bwaves goodbye\b", ("waves goodbye", "waves bye", "says goodbye with a wave", "waves farewell")),
    (r"\bwaves\b", ("waves", "is waving", "waving")),
    (r"\bbows\b", ("bows", "takes a bow", "bows down", "does a bow")),
    (r"\bthrows punches\b", ("throws punches", "punches", "boxes", "hits the air")),
    (r"\bkicks\b", ("kicks", "does a kick", "kicking")),
]
_COMPILED = [(re.compile(p, re.IGNORECASE), alts) for p, alts in _PHRASES]


def paraphrase_caption(caption: str, rng: np.random.Generator, p_replace: float = 0.6, p_noise: float = 0.3) -> str:
    """A random rewording of ``caption`` that keeps its action and style.
    Each matching phrase is swapped with probability ``p_replace``; with
    probability ``p_noise`` case and punctuation are disturbed."""
    text = caption
    if rng.random() < 0.15:
        return _noise(text, rng) if rng.random() < p_noise else text
    used: list[tuple[int, int]] = []
    for pattern, alternatives in _COMPILED:
        def swap(match: re.Match) -> str:
            span = match.span()
            if any(a < span[1] and span[0] < b for a, b in used) or rng.random() >= p_replace:
                return match.group(0)
            used.append(span)
            return alternatives[int(rng.integers(len(alternatives)))]
        text = pattern.sub(swap, text, count=1)
    if rng.random() < 0.15:  # subject dropped: "walks forward tiredly"
        text = re.sub(r"^(a person|someone|the person|a man|a woman|somebody)\s+", "", text)
    return _noise(text, rng) if rng.random() < p_noise else text


def _noise(text: str, rng: np.random.Generator) -> str:
    choice = int(rng.integers(5))
    if choice == 0:
        return text.rstrip(".")
    if choice == 1:
        return text.rstrip(".") + "!"
    if choice == 2:
        return text.capitalize()
    if choice == 3:
        return text.upper()
    return text.replace(",", "")
