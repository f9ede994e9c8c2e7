"""What a prompt says before any model reads it: is there anything to read,
which side (left / right / both) and which heading (forward / backward)
does it name, and which performance styles may it be asking for?

Both are plain text rules, so they need no model and run where a request is
validated (the server refuses an empty-meaning prompt with 400 before the
job is queued). The side is read by rules, not by the text encoder, because
sentence encoders put "left" and "right" almost on top of each other (and a
wrong side is the most visible mistake: the other hand goes up). The same
holds for the heading: the small encoder puts "walk forward" nearer "walk
backward" than "a person walks forward." (0.958 against 0.943).
"""
from __future__ import annotations

import re
import unicodedata

STOPWORDS: frozenset[str] = frozenset("""
a an the one some this that it its he she they him her them his their i me my you your we us our someone somebody
person people man woman guy girl boy character figure actor human body thing something and or but then so to of in
on at for with by from as is are be do does did please just un una uno el la los las le les des du de der die das
ein eine einer il lo gli una um uma o os
""".split())
"""Words that say nothing about a motion on their own: articles, pronouns,
'a person' and the like, in the languages the phrasebook speaks."""

_SIDE_WORDS: dict[str, tuple[str, ...]] = {
    "left": ("left", "izquierda", "izquierdo", "izquierdas", "gauche", "links", "linke", "linken", "linker",
             "linkes", "sinistra", "sinistro", "esquerda", "esquerdo"),
    "right": ("right", "derecha", "derecho", "droite", "droit", "rechts", "rechte", "rechten", "rechter",
              "rechtes", "destra", "destro", "direita", "direito"),
    "both": ("both", "two", "ambas", "ambos", "deux", "beide", "beiden", "entrambe", "entrambi", "duas", "dois"),
}
_PLURAL_LIMBS: tuple[str, ...] = ("hands", "arms", "manos", "brazos", "mains", "bras", "hände", "arme", "mani",
                                  "braccia", "mãos", "braços")
"""'hands up' with no side named means both hands."""
SIDES: tuple[str, ...] = ("left", "right", "both")

_HEADING_WORDS: dict[str, tuple[str, ...]] = {
    "forward": ("forward", "forwards", "ahead", "adelante", "avant", "vorwärts", "vorwaerts", "geradeaus",
                "avanti", "frente"),
    "backward": ("backward", "backwards", "rearward", "rearwards", "reverse", "atrás", "arrière", "rückwärts",
                 "indietro", "trás"),
}
"""Words that name a heading. A bare "back" is not one ("a back flip",
"lying on the back")."""
HEADINGS: tuple[str, ...] = ("forward", "backward")

PERSON_WORDS: frozenset[str] = frozenset("""
man men woman women guy guys gal girl girls boy boys lady ladies gentleman gentlemen actor actress
hombre hombres mujer mujeres chico chica señor señora homme hommes femme femmes garçon fille dame monsieur
mann männer frau frauen junge mädchen herr dame uomo uomini donna donne ragazzo ragazza signore signora
homem homens mulher mulheres menino menina rapaz moça senhor senhora
""".split())
"""Who is moving, not how: "a woman jogs" asks for a jog, not for the data's
*feminine* performance style, and "the actor bows" not for a theatrical one.
Style is read with these words said as "person" (:func:`neutral_subject`);
age words (old, child, toddler) stay, since they do ask for a way of moving."""

_WORD_RE = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)


def words(text: str) -> list[str]:
    """Lower-case words (letters of any script; digits, punctuation and emoji dropped)."""
    return [w.lower() for w in _WORD_RE.findall(unicodedata.normalize("NFKC", str(text)))]


def content_words(text: str) -> list[str]:
    """The words of ``text`` that could name a motion (no stopwords, no
    single letters)."""
    return [w for w in words(text) if w not in STOPWORDS and len(w) > 1]


def refusal(text: str) -> str | None:
    """Why ``text`` cannot be read as a motion (None when it can): no words
    at all (".", "?", emoji, digits) or only words that name nothing ("a",
    "the person"). The message tells the animator what to type instead."""
    if not words(text):
        return ("has no words to read (punctuation, digits and emoji say nothing the model can animate); "
                "describe the motion in words, e.g. \"a person walks forward\"")
    if not content_words(text):
        return (f"\"{' '.join(str(text).split())}\" names no motion; say what the character does, e.g. "
                "\"a person waves with the right hand\"")
    return None


def side_of(text: str) -> str | None:
    """'left', 'right' or 'both' when the text names exactly one side (or
    plural hands/arms without a side), else None."""
    found = set(words(text))
    named = [s for s in SIDES if found.intersection(_SIDE_WORDS[s])]
    if len(named) == 1:
        return named[0]
    if not named and found.intersection(_PLURAL_LIMBS):
        return "both"
    return None


def heading_of(text: str) -> str | None:
    """'forward' or 'backward' when the text names exactly one of them, else None."""
    found = set(words(text))
    named = [h for h in HEADINGS if found.intersection(_HEADING_WORDS[h])]
    return named[0] if len(named) == 1 else None


_TIRED = ("tired", "tiredly", "weary", "wearily", "sleepy", "fatigued", "exhausted", "worn", "drained", "cansad*",
          "agotad*", "fatigué*", "épuisé*", "müde", "erschöpft*", "stanc*", "esaust*")
_OLD = ("old", "elderly", "aged", "senior", "grandma", "grandpa", "grandmother", "grandfather", "granny", "ancian*",
        "viejo", "vieja", "viejos", "vieux", "vieil", "vieille", "âgé", "âgée", "alt", "alte", "alter", "alten",
        "greis*", "anzian*", "vecchi*", "idoso", "idosa")
_MASCULINE = ("masculine", "manly", "macho", "masculin*", "männlich*", "maschil*")
_YOUNG = ("child", "childish", "childlike", "children", "kid", "kids", "toddler", "young", "younger", "youngster",
          "youth", "youthful", "playful", "playfully", "niño", "niña", "enfant", "kind", "kinder", "bambin*",
          "jovem", "joven", "jeune", "jung", "junge", "junger")
STYLE_CUES: dict[str, tuple[str, ...]] = {
    "sad": ("sad", "sadly", "unhappy", "gloomy", "gloomily", "depressed", "sorrowful", "mournful", "dejected",
            "downcast", "miserable", "melanchol*", "trist*", "traurig*"),
    "tired": _TIRED, "exhausted": _TIRED,
    "old": _OLD, "elderly": _OLD,
    "happy": ("happy", "happily", "cheerful", "cheerfully", "joyful", "joyfully", "joyous", "glad", "merry",
              "delighted", "gleeful", "feliz", "alegre", "heureu*", "joyeu*", "froh", "fröhlich*", "glücklich*",
              "allegr*", "felice"),
    "angry": ("angry", "angrily", "furious", "furiously", "mad", "enraged", "annoyed", "irritated", "enojad*",
              "enfadad*", "furios*", "furieu*", "colère", "wütend*", "zornig*", "arrabbiat*"),
    "proud": ("proud", "proudly", "pride", "haughty", "haughtily", "orgullos*", "fier", "fière", "stolz*",
              "orgoglios*"),
    "not-confident": ("unconfident", "insecure", "shy", "shyly", "timid", "timidly", "hesitant", "hesitantly",
                      "nervous", "nervously", "unsure", "anxious", "meek", "meekly", "tímid*", "timide",
                      "schüchtern*", "unsicher*"),
    "youthful": _YOUNG, "childish": _YOUNG,
    "active": ("energetic", "energetically", "active", "actively", "lively", "vigorous", "vigorously", "sporty",
               "dynamic", "enérgic*", "énergique*", "energisch*", "energic*"),
    "feminine": ("feminine", "womanly", "ladylike", "femenin*", "féminin*", "weiblich*", "femminil*"),
    "masculine": _MASCULINE, "masculinity": _MASCULINE,
    "musical": ("musical", "theatrical", "theatrically", "dramatic", "dramatically", "broadway", "teatral*",
                "théâtral*", "theatralisch*"),
    "giant": ("giant", "huge", "enormous", "lumbering", "gigante", "géant", "riese", "riesig*"),
    "chimpira": ("thug", "gangster", "punk", "delinquent", "hoodlum", "swagger", "swaggers", "swaggering", "matón",
                 "voyou", "schläger"),
}
"""Words that ask for one of the data's performance styles (Bandai Namco's).
A word counts when it is one of these, or starts with one that ends in "*"
(the stems of other languages' inflections: "trist*" for "triste",
"tristemente"); whole words otherwise, so "alternates" is not "alte" nor
"fierce" "fier". Who moves is not a style (:data:`PERSON_WORDS`: "a man
sprints" is no masculine sprint). Every style is also asked for by its own
name ("chimpira")."""


def styles_named(text: str, styles: "set[str] | frozenset[str] | list[str]") -> set[str]:
    """Which of ``styles`` the words of ``text`` ask for (:data:`STYLE_CUES`).
    The style is read by rule because the small encoder hears one in words
    that name none: "someone bolts forward at top speed" was nearest a sad
    dash, "eine Frau geht spazieren" an exhausted walk, raising an arm
    toward the ceiling an exhausted one."""
    found = [w for w in words(text) if w not in PERSON_WORDS]
    named = set()
    for style in styles:
        cues = (*STYLE_CUES.get(style, ()), style.lower())
        if any(w.startswith(c[:-1]) if c.endswith("*") else w == c for w in found for c in cues):
            named.add(style)
    return named


def neutral_subject(text: str) -> str:
    """``text`` with the words of :data:`PERSON_WORDS` replaced by "person",
    the text a style is chosen from (the action is read from the prompt as
    typed)."""
    def swap(match: re.Match) -> str:
        return "person" if match.group(0).lower() in PERSON_WORDS else match.group(0)
    return _WORD_RE.sub(swap, unicodedata.normalize("NFKC", str(text)))
