"""How people say motions: a model-independent phrasebook for grounding prompts.

A model's training captions say each action one or two ways ("a person
walks forward."); people type "hobbles along", "goes for a jog", "se
despide con la mano". The text encoder (:mod:`engine.prompts.encoder`)
knows that these are near each other, but a small sentence encoder measured
on its own put a third of the prompts of benchmarks/prompt_paraphrases.tsv
on the wrong action (style words such as "proud" or "old" weigh as much as
the verb). So the grounding compares a prompt with the model's captions
*and* with the phrases below, each a plain way of saying one motion concept.

Nothing here is about one model. :func:`engine.prompts.vocabulary.build_vocabulary`
ties each concept to the model's action whose captions say it (the
concept's ``canonical`` sentence is nearest to that action's captions and
one of its ``keywords`` is in them); a concept no action says (sitting,
jumping, climbing for today's model) stays *outside*, and a prompt that lands
on it is reported as outside what the model knows instead of being passed
off as the nearest action. A retrained model with jump or sit clips picks
those concepts up by itself.

The phrases are our own words: verbs and short verb phrases in English and
a few in Spanish, French, German, Italian and Portuguese. Directions (left,
right, both) are read by :mod:`engine.prompts.meaning`, not here, so one
concept per side is only needed where the side is the action.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Concept:
    name: str
    canonical: str                  # a caption-like sentence, to find the model's action for it
    keywords: tuple[str, ...]       # words at least one of which that action's captions must hold
    phrases: tuple[str, ...]        # how people say it
    holds_pose: bool = False        # asks for a still pose: decoding may repeat a token


CONCEPTS: tuple[Concept, ...] = (
    Concept("walk", "a person walks forward.", ("walk", "walks", "walking"), (
        "walks", "walking", "takes a walk", "goes for a walk", "strolls", "takes a stroll", "ambles", "wanders",
        "strides", "paces", "marches", "saunters", "trudges", "plods", "shuffles", "hobbles", "limps", "staggers",
        "stomps", "struts", "treks", "hikes", "tiptoes", "steps forward", "walks ahead", "walks down the street",
        "walks along", "takes a few steps", "moves forward on foot", "heads forward", "camina", "anda", "pasea",
        "camina hacia adelante", "avanza caminando", "marche", "se promène", "marche en avant", "avance à pied",
        "geht", "spaziert", "geht vorwärts", "geht geradeaus", "cammina", "passeggia", "cammina in avanti",
        "caminha", "anda a pé", "caminha para a frente")),
    Concept("run", "a person runs forward.", ("run", "runs", "jogs", "running"), (
        "runs", "running", "jogs", "goes for a jog", "jogging", "trots", "scampers", "runs along", "runs ahead",
        "lopes", "corre", "trota", "court", "fait un jogging", "rennt", "läuft schnell", "joggt", "corre veloce")),
    Concept("dash", "a person dashes forward.", ("dash", "dashes", "sprints"), (
        "sprints", "dashes", "races", "bolts", "runs as fast as possible", "runs at full speed", "rushes",
        "charges forward", "speeds off", "esprinta", "sprinte", "sprintet", "scatta")),
    Concept("walk backward", "a person walks backward.", ("backward", "backwards", "back"), (
        "walks backward", "backs up", "backs away", "steps back", "retreats", "moves backward", "reverses",
        "walks in reverse", "camina hacia atrás", "recule", "geht rückwärts", "cammina all'indietro")),
    Concept("turn left", "a person walks and turns left.", ("turns", "turning", "turn"), (
        "turns left", "makes a left turn", "turns to the left while walking", "rounds a corner to the left",
        "goes around the corner to the left", "takes a left", "veers left", "curves to the left",
        "gira a la izquierda", "tourne à gauche", "biegt links ab", "gira a sinistra")),
    Concept("turn right", "a person walks and turns right.", ("turns", "turning", "turn"), (
        "turns right", "makes a right turn", "turns to the right while walking", "rounds a corner to the right",
        "goes around the corner to the right", "takes a right", "veers right", "curves to the right",
        "gira a la derecha", "tourne à droite", "biegt rechts ab", "gira a destra")),
    Concept("walk diagonally left", "a person walks diagonally forward to the left.", ("diagonally", "angling",
                                                                                       "front left"), (
        "walks diagonally to the left", "heads forward and to the left at an angle", "walks toward the front left",
        "angles off to the left")),
    Concept("walk diagonally right", "a person walks diagonally forward to the right.", ("diagonally", "angling",
                                                                                         "front right"), (
        "walks diagonally to the right", "heads forward and to the right at an angle",
        "walks toward the front right", "angles off to the right")),
    Concept("bow", "a person bows.", ("bow", "bows"), (
        "bows", "takes a bow", "bows down", "bows politely", "bends forward at the waist", "makes a bow",
        "curtsies", "bows to the audience", "hace una reverencia", "se inclina", "s'incline", "fait une révérence",
        "verbeugt sich", "si inchina", "faz uma vénia")),
    Concept("wave goodbye", "a person waves goodbye.", ("goodbye", "bye", "bye-bye"), (
        "waves goodbye", "waves bye", "says goodbye", "bids farewell", "waves farewell", "waves someone off",
        "says bye with a wave", "se despide", "dice adiós con la mano", "dit au revoir", "fait signe d'adieu",
        "winkt zum Abschied", "verabschiedet sich", "saluta con la mano", "dá tchau")),
    Concept("wave", "a person waves a hand.", ("waves", "wave"), (
        "waves", "waves hello", "waves a hand", "greets with a wave", "waves at a friend", "waves in greeting",
        "saluda con la mano", "fait coucou", "salue de la main", "winkt", "fa ciao con la mano", "acena")),
    Concept("wave both hands", "a person waves both hands.", ("both",), (
        "waves both hands", "waves both arms", "waves with two hands", "waves both arms above the head",
        "flags someone down with both arms", "waves frantically with both arms", "agita ambos brazos",
        "agite les deux bras", "winkt mit beiden Armen")),
    Concept("raise hand", "a person raises a hand.", ("raises", "lifts", "raise"), (
        "raises a hand", "puts a hand up", "lifts an arm", "holds a hand up", "reaches up", "raises an arm",
        "puts a hand up to ask a question", "stretches an arm up", "levanta la mano", "lève la main",
        "hebt die Hand", "alza la mano", "levanta o braço")),
    Concept("raise both hands", "a person raises both hands.", ("both",), (
        "raises both hands", "raises both arms", "puts both hands up", "throws the arms up", "hands up",
        "puts the hands up in surrender", "reaches up with both arms", "cheers with arms up",
        "levanta los brazos", "lève les bras", "hebt beide Arme", "alza le braccia")),
    Concept("guide", "a person gestures to guide someone.", ("guide", "guides", "way"), (
        "shows the way", "points the way", "guides someone", "directs someone with a hand", "ushers someone in",
        "gestures toward a direction", "leads someone with a gesture", "indica el camino", "montre le chemin",
        "zeigt den Weg")),
    Concept("call over", "a person calls someone over.", ("calls", "beckons", "call"), (
        "beckons", "calls someone over", "waves someone closer", "gestures come here", "signals to come",
        "motions someone over", "llama a alguien", "fait signe de venir", "winkt heran", "chiama qualcuno")),
    Concept("punch", "a person throws a punch.", ("punch", "punches"), (
        "punches", "throws punches", "boxes", "jabs", "hits with a fist", "strikes with a fist", "throws a hook",
        "shadowboxes", "da un puñetazo", "donne un coup de poing", "boxt", "tira un pugno")),
    Concept("slash", "a person slashes as if with a sword.", ("slash", "slashes", "slashing", "sword"), (
        "slashes", "swings a sword", "slashes with a sword", "cuts with a blade", "fences", "swordfights",
        "strikes with a sword", "attacks with a katana", "blandit une épée", "schwingt ein Schwert",
        "ataca con una espada")),
    Concept("dance", "a person dances.", ("dance", "dances"), (
        "dances", "does a dance", "dancing", "grooves", "boogies", "dances to music", "busts a move", "baila",
        "danse", "tanzt", "balla", "dança")),
    Concept("kick", "a person kicks.", ("kick", "kicks"), (
        "kicks", "kicks a ball", "does a kick", "kicks forward", "da una patada", "donne un coup de pied",
        "tritt")),
    # concepts that today's model does not know: a prompt that lands here is reported as outside
    Concept("sit", "a person sits down on a chair.", ("sit", "sits", "sitting"), (
        "sits down", "sits on a chair", "takes a seat", "sits on the floor", "se sienta", "s'assoit", "setzt sich",
        "si siede")),
    Concept("stand up", "a person stands up from a chair.", ("stands up", "gets up"), (
        "stands up", "gets up", "rises from a chair", "se levanta", "se lève", "steht auf")),
    Concept("jump", "a person jumps.", ("jump", "jumps", "jumping"), (
        "jumps", "hops", "leaps", "jumps up and down", "skips", "jumps over something", "salta", "saute",
        "springt")),
    Concept("climb", "a person climbs.", ("climb", "climbs", "climbing"), (
        "climbs", "climbs a ladder", "climbs up a wall", "scrambles up", "trepa", "grimpe", "klettert")),
    Concept("crawl", "a person crawls on the floor.", ("crawl", "crawls"), (
        "crawls", "crawls on hands and knees", "gatea", "rampe", "krabbelt")),
    Concept("lie down", "a person lies down on the floor.", ("lie", "lies", "lying"), (
        "lies down", "lies on the ground", "falls asleep", "se acuesta", "s'allonge", "legt sich hin")),
    Concept("fall", "a person falls down.", ("falls", "fall"), (
        "falls down", "trips and falls", "collapses", "se cae", "tombe", "fällt hin")),
    Concept("throw", "a person throws a ball.", ("throws a ball", "throw"), (
        "throws a ball", "tosses something", "pitches a ball", "lanza una pelota", "lance une balle",
        "wirft einen Ball")),
    Concept("pick up", "a person picks something up from the floor.", ("picks", "scoops", "pick"), (
        "picks something up", "bends down to pick up", "lifts a box", "carries a box", "scoops something up",
        "recoge algo", "ramasse quelque chose", "hebt etwas auf")),
    Concept("squat", "a person squats.", ("squat", "squats"), (
        "squats", "crouches", "kneels down", "does squats", "se agacha", "s'accroupit", "hockt sich hin")),
    Concept("spin", "a person spins around.", ("spins", "pirouette", "spin"), (
        "spins around", "twirls", "does a pirouette", "turns around in place", "gira sobre sí mismo",
        "tourne sur lui-même", "dreht sich im Kreis")),
    Concept("clap", "a person claps the hands.", ("claps", "clap"), (
        "claps", "applauds", "claps the hands", "aplaude", "applaudit", "klatscht")),
    Concept("swim", "a person swims.", ("swim", "swims"), ("swims", "does the breaststroke", "nada", "nage",
                                                               "schwimmt")),
    Concept("exercise", "a person does exercises.", ("exercise", "stretches", "push-ups"), (
        "does push-ups", "does jumping jacks", "stretches", "warms up", "does yoga", "lifts weights",
        "hace ejercicio", "fait du sport", "macht Sport")),
    Concept("ball sport", "a person plays basketball.", ("basketball", "dribbles", "shoots"), (
        "plays basketball", "dribbles a ball", "shoots a basket", "plays soccer", "plays tennis", "juega al fútbol",
        "joue au basket", "spielt Fußball")),
    Concept("stand still", "a person stands still.", ("stands still", "idle", "still"), (
        "stands still", "holds a pose", "freezes in place", "stands there", "stands idle", "waits", "poses",
        "stops", "comes to a stop", "stops walking", "halts", "pauses", "stays in place",
        "se queda quieto", "se detiene", "reste immobile", "s'arrête", "steht still", "bleibt stehen"),
        holds_pose=True),
    Concept("talk", "a person talks on the phone.", ("talks", "phone"), (
        "talks on the phone", "makes a phone call", "nods", "shakes the head", "looks around", "drinks water",
        "eats", "habla por teléfono", "téléphone", "telefoniert")),
)
"""Every concept, in one place (a retrained model that knows more picks the
matching ones up from its captions)."""
