"""Training captions written from a mocap library's terse descriptions.

Libraries describe takes the way CMU does ("walk", "punch/strike", "dance -
small jetes, pirouette", "bend over, scoop up, rise, lift arm"). The model is
prompted with sentences ("a person walks"), so each description becomes a
few sentences: the topic before " - " becomes what the person does, each
comma-separated item becomes a verb phrase where its words allow it (a known
motion verb is put in the third person, "slow walk" becomes "walks slowly"),
and anything else is kept as written. The description itself is kept as one
caption too, so its exact words stay promptable.
"""
from __future__ import annotations

import re

MOTION_VERBS = frozenset("""
    walk run jog jump hop skip climb sit stand rise lie fall drop dangle rock lower lift raise punch strike kick
    slash stab block bend scoop pick reach grab carry push pull throw catch wash wipe sweep turn spin twirl dribble
    shoot pass step stride fold stretch swing hang crawl roll dance bow wave clap point salute march sneak creep
    limp stumble trip duck dodge kneel squat crouch lean look nod shake tiptoe shuffle skate slide balance fight
    box wrestle swim jab hook uppercut cartwheel flip somersault hold open close drink eat brush comb sweep mop
    stomp gallop leap bounce chase run get direct wave""".split())
"""Verbs that get a third-person -s when a description starts an item with one."""

MANNER_WORDS: dict[str, str] = {
    "slow": "slowly", "brisk": "briskly", "fast": "fast", "quick": "quickly", "careful": "carefully",
    "forward": "forward", "backward": "backward", "backwards": "backward", "sideways": "sideways",
    "left": "to the left", "right": "to the right", "casual": "casually", "heavy": "heavily",
    "light": "lightly", "small": "in small steps", "big": "in big steps",
}
"""Modifiers written before a verb ("slow walk") and the adverb they become."""

TOPIC_PHRASES: dict[str, str] = {
    "playground": "plays on a playground", "basketball": "plays basketball", "soccer": "plays soccer",
    "football": "plays football", "golf": "plays golf", "tennis": "plays tennis", "baseball": "plays baseball",
    "swordplay": "fights with a sword", "boxing": "boxes", "martial arts": "does martial arts",
    "dance": "dances", "ballet": "dances ballet", "yoga": "does yoga", "exercise": "exercises",
    "stretching": "stretches", "acrobatics": "does acrobatics",
}
"""Nouns that name an activity and the verb phrase that says it."""

ACTION_PHRASES: dict[str, str] = {
    "backflip": "does a backflip", "back flip": "does a backflip", "side flip": "does a side flip",
    "front flip": "does a front flip", "spin kick": "does a spin kick", "salsa dance": "dances salsa",
    "soccer kick": "kicks a soccer ball", "basketball signal": "makes basketball referee signals",
    "wash window": "washes a window", "jumping jack": "does jumping jacks", "jumping jacks": "does jumping jacks",
}
"""Whole descriptions that name an action by a noun, and how a person does it."""

EXTRA_SUBJECTS = ("the person", "a human")
"""More ways a caption names who moves, so the model hears a description in
several phrasings (beyond "a person" and "someone")."""

_WORD_FIXES = {"self": "themselves"}
_SPLIT_TOPIC = re.compile(r"\s+-\s+")


def third_person(verb: str) -> str:
    """walk -> walks, punch -> punches, carry -> carries."""
    if re.search(r"(s|sh|ch|x|z|o)$", verb):
        return verb + "es"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ies"
    return verb + "s"


def _verb_of(word: str) -> str | None:
    """The base verb if ``word`` is a known motion verb (or its plural noun: "jumps")."""
    if word in MOTION_VERBS:
        return word
    if word.endswith("s") and word[:-1] in MOTION_VERBS:
        return word[:-1]
    return None


def _alternatives(first: str) -> str | None:
    """"punch/strike" -> "punches or strikes" when every part is a verb."""
    parts = first.split("/")
    verbs = [_verb_of(p) for p in parts]
    if all(verbs):
        return " or ".join(third_person(v) for v in verbs)
    return None


def item_phrase(item: str) -> tuple[str, bool]:
    """One comma-separated item as a verb phrase where it reads as one;
    the flag says whether it does."""
    words = [_WORD_FIXES.get(w, w) for w in item.split()]
    if not words:
        return "", False
    lead = _alternatives(words[0])
    if lead is not None:
        rest = [third_person(_verb_of(w)) if prev == "and" and _verb_of(w) else w
                for prev, w in zip(words[:-1], words[1:])]
        return " ".join([lead] + rest), True
    *mods, last = words
    verb = _verb_of(last)
    if verb and mods and all(m in MANNER_WORDS for m in mods):
        return " ".join([third_person(verb)] + [MANNER_WORDS[m] for m in mods]), True
    return " ".join(words), False


def _join(phrases: list[str]) -> str:
    if len(phrases) <= 1:
        return "".join(phrases)
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def description_action(description: str) -> str:
    """The action a description is about, used to balance sampling: the
    topic before " - " ("dance"), else the whole description."""
    text = " ".join(description.lower().split()).strip(" .")
    return _SPLIT_TOPIC.split(text, maxsplit=1)[0]


def describe(description: str) -> list[str]:
    """Captions for a description: sentences in several phrasings and the
    description itself (third)."""
    text = " ".join(description.lower().split()).strip(" .")
    if not text:
        return []
    parts = _SPLIT_TOPIC.split(text, maxsplit=1)
    items = [item_phrase(i.strip()) for i in parts[-1].split(",") if i.strip()]
    if len(parts) == 2:
        topic = parts[0]
        phrase = TOPIC_PHRASES.get(topic) or _alternatives(topic) or f"does {topic}"
        body = f"{phrase}: {', '.join(p for p, _ in items)}" if items else phrase
    elif text in ACTION_PHRASES:
        body = ACTION_PHRASES[text]
    elif text in TOPIC_PHRASES:
        body = TOPIC_PHRASES[text]
    elif items and items[0][1]:
        body = _join([p for p, _ in items])
    else:
        body = f"does {text}"
    return ([f"a person {body}.", f"someone {body}.", f"{text.replace(' - ', ': ')}."]
            + [f"{subject} {body}." for subject in EXTRA_SUBJECTS])
