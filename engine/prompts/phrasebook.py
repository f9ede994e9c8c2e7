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
concept's ``canonical`` sentence is nearest to that action's captions, and
one of its ``keywords`` is in them and in the action's plain description);
a concept no action says (sitting, lying down, clapping for today's model)
stays *outside*, and a prompt that lands on it is reported as outside what
the model knows instead of being passed off as the nearest action. A
retrained model with sit clips picks that concept up by itself, as jumping
and crawling were when the extra/ libraries came in.

The phrases are our own words: verbs and short verb phrases in English and
a few in Spanish, French, German, Italian and Portuguese; an English one of
two words or more is also read as an order ("leaps forward", "leap forward":
:func:`engine.prompts.vocabulary._forms`). Directions (left,
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
        "stomps", "struts", "treks", "hikes", "steps forward", "walks ahead", "walks down the street",
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
    Concept("sneak", "a person walks stealthily.", ("stealthily", "sneaks", "tiptoes"), (
        "sneaks", "sneaks forward", "sneaks up on someone", "tiptoes", "walks on tiptoe", "creeps quietly",
        "walks quietly", "prowls", "slinks along", "moves stealthily", "walks without making a sound",
        "camina sigilosamente", "anda de puntillas", "marche à pas de loup", "avance furtivement", "schleicht",
        "schleicht sich an", "cammina furtivamente", "anda na ponta dos pés")),
    Concept("zombie walk", "a person walks like a zombie.", ("zombie",), (
        "walks like a zombie", "shambles along", "lurches forward with the arms out", "staggers like the undead",
        "walks stiffly with the arms stretched out", "camina como un zombi", "marche comme un zombie",
        "geht wie ein Zombie", "cammina come uno zombie")),
    Concept("rough ground", "a person walks on uneven terrain.", ("uneven", "terrain"), (
        "walks on uneven ground", "walks over rough ground", "hikes over rocks", "steps over rocks",
        "walks on a rocky trail", "picks a way over rough terrain", "camina por terreno irregular",
        "marche sur un terrain accidenté", "geht über unebenen Boden")),
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
        "motions someone over", "waves someone over", "waves a friend over", "llama a alguien",
        "fait signe de venir", "winkt heran", "chiama qualcuno")),
    Concept("punch", "a person throws a punch.", ("punch", "punches"), (
        "punches", "throws punches", "jabs", "hits with a fist", "strikes with a fist", "throws a hook",
        "da un puñetazo", "donne un coup de poing", "tira un pugno")),
    Concept("box", "a person boxes.", ("boxes", "box"), (
        "boxes", "shadowboxes", "does shadow boxing", "throws jabs and hooks", "boxea", "fait de la boxe",
        "boxt", "fa pugilato")),
    Concept("slash", "a person slashes as if with a sword.", ("slash", "slashes", "slashing", "sword"), (
        "slashes", "swings a sword", "slashes with a sword", "cuts with a blade", "cuts down with a sword",
        "strikes with a sword", "attacks with a katana", "blandit une épée", "schwingt ein Schwert",
        "ataca con una espada")),
    Concept("dance", "a person dances.", ("dance", "dances"), (
        "dances", "does a dance", "dancing", "grooves", "boogies", "dances to music", "busts a move", "baila",
        "danse", "tanzt", "balla", "dança")),
    Concept("kick", "a person kicks.", ("kick", "kicks"), (
        "kicks", "does a kick", "kicks forward", "kicks high", "does a front kick", "does a roundhouse kick",
        "kicks with one leg", "da una patada", "donne un coup de pied", "tritt", "tira un calcio")),
    Concept("soccer kick", "a person kicks a soccer ball.", ("soccer",), (
        "kicks a ball", "kicks a soccer ball", "kicks a football", "shoots a soccer ball", "boots the ball",
        "strikes the ball with the foot", "takes a penalty kick", "chuta el balón", "tire dans le ballon",
        "schießt den Ball", "calcia il pallone")),
    Concept("spin kick", "a person does a spin kick.", ("spin kick",), (
        "does a spin kick", "does a spinning kick", "spins and kicks", "does a tornado kick",
        "does a spinning back kick", "patada giratoria", "coup de pied retourné", "Drehkick")),
    Concept("salsa", "a person dances salsa.", ("salsa",), (
        "dances salsa", "does salsa steps", "dances the salsa", "dances latin", "does latin dance steps",
        "baila salsa", "danse la salsa", "tanzt Salsa", "balla la salsa", "dança salsa")),
    Concept("sword fight", "a person fights with a sword.", ("sword",), (
        "fights with a sword", "fences", "swordfights", "duels with a sword", "spars with a sword",
        "lunges with a rapier", "crosses swords", "pelea con una espada", "se bat à l'épée", "ficht",
        "combatte con la spada")),
    Concept("cartwheel", "a person cartwheels.", ("cartwheel", "cartwheels"), (
        "does a cartwheel", "turns a cartwheel", "cartwheels", "wheels sideways over the hands",
        "does a cartwheel on the grass", "hace la rueda", "fait la roue", "schlägt ein Rad", "fa la ruota",
        "faz a estrela")),
    Concept("backflip", "a person does a backflip.", ("backflip",), (
        "does a backflip", "does a back flip", "flips backward", "somersaults backward",
        "does a back somersault", "backflips", "hace un mortal hacia atrás", "fait un salto arrière",
        "macht einen Rückwärtssalto", "fa un salto all'indietro")),
    Concept("side flip", "a person does a side flip.", ("side flip",), (
        "does a side flip", "flips sideways", "flips to the side", "does an aerial", "somersaults sideways",
        "hace un mortal lateral", "fait un salto latéral", "macht einen Seitsalto")),
    Concept("forward roll", "a person rolls forward.", ("rolls", "roll"), (
        "rolls forward", "does a forward roll", "tucks and rolls", "somersaults forward on the floor",
        "rolls over on the ground", "hace una voltereta", "fait une roulade", "macht eine Rolle vorwärts",
        "fa una capriola")),
    Concept("traffic", "a person directs traffic.", ("traffic",), (
        "directs traffic", "waves cars through", "controls traffic with hand signals", "signals cars to stop",
        "dirige el tráfico", "règle la circulation", "regelt den Verkehr", "dirige il traffico")),
    Concept("referee", "a person makes basketball referee signals.", ("referee", "signals"), (
        "makes referee signals", "signals a foul", "signals a timeout", "signals like a referee",
        "hace señales de árbitro", "fait des signes d'arbitre", "zeigt Schiedsrichterzeichen")),
    Concept("wash window", "a person washes a window.", ("window",), (
        "washes a window", "cleans a window", "wipes the glass", "cleans the windows", "limpia la ventana",
        "nettoie la vitre", "putzt das Fenster", "pulisce la finestra")),
    Concept("wipe", "a person wipes.", ("wipes", "wipe"), (
        "wipes", "wipes a table", "wipes a surface", "dusts", "polishes a surface", "limpia la mesa",
        "essuie la table", "wischt ab")),
    Concept("wash", "a person washes themselves.", ("washes",), (
        "washes", "washes themselves", "scrubs the body", "showers", "takes a shower", "soaps up", "se lava",
        "se lave", "wäscht sich", "si lava")),
    Concept("playground", "a person plays on a playground.", ("playground",), (
        "plays on a playground", "plays on the monkey bars", "climbs on a jungle gym", "hangs from the bars",
        "plays at the park", "juega en el parque", "joue sur l'aire de jeux", "spielt auf dem Spielplatz")),
    # concepts that today's model does not know: a prompt that lands here is reported as outside
    Concept("sit", "a person sits down on a chair.", ("sit", "sits", "sitting"), (
        "sits down", "sits on a chair", "takes a seat", "sits on the floor", "se sienta", "s'assoit", "setzt sich",
        "si siede")),
    Concept("stand up", "a person stands up from a chair.", ("stands up", "gets up"), (
        "stands up", "gets up", "rises from a chair", "gets up off the floor", "pushes up off the ground",
        "stands up from the ground", "picks himself up off the floor", "gets up after falling", "se levanta", "se levanta del suelo", "se lève", "se relève", "steht auf",
        "steht vom Boden auf", "si rialza")),
    Concept("jump", "a person jumps.", ("jump", "jumps", "jumping"), (
        "jumps", "hops", "leaps", "jumps up and down", "skips", "jumps over something", "jumps forward",
        "leaps forward", "springs into the air", "bounds", "jumps in place", "jumps up", "hops on both feet",
        "leaps over a puddle", "salta", "salta en el sitio", "saute", "saute en l'air", "springt", "springt hoch",
        "pula")),
    Concept("climb", "a person climbs.", ("climb", "climbs", "climbing"), (
        "climbs", "climbs a ladder", "climbs up a wall", "scrambles up", "trepa", "grimpe", "klettert")),
    Concept("crawl", "a person crawls on the floor.", ("crawl", "crawls"), (
        "crawls", "crawls on hands and knees", "crawls on all fours", "moves on hands and knees",
        "creeps on hands and knees", "crawls on the belly", "crawls forward on the floor", "gatea", "rampe",
        "marche à quatre pattes", "krabbelt", "kriecht", "gattona")),
    Concept("lie down", "a person lies down on the floor.", ("lie", "lies"), (
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
    Concept("swim", "a person swims.", ("swim", "swims"), (
        "swims", "does the breaststroke", "does the front crawl", "swims freestyle", "does the backstroke", "nada",
        "nage", "schwimmt", "nuota")),
    Concept("exercise", "a person does exercises.", ("exercise", "stretches", "push-ups"), (
        "does push-ups", "does jumping jacks", "stretches", "warms up", "does yoga", "lifts weights",
        "hace ejercicio", "fait du sport", "macht Sport")),
    Concept("ball sport", "a person plays basketball.", ("basketball", "dribbles", "shoots"), (
        "plays basketball", "dribbles a ball", "dribbles a basketball", "shoots a basket", "shoots a hoop",
        "plays soccer", "plays tennis", "juega al fútbol", "joue au basket", "spielt Fußball")),
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
