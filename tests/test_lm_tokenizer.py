"""Text + motion tokenizer: fast to build, exact save/load, one id per motion
token, robust to case and punctuation noise."""
from __future__ import annotations

import itertools
import json
import time

import numpy as np
import pytest

from engine.errors import MotionFileError, MotionGPTError
from engine.lm.tokenizer import EOS_ID, PAD_ID, UNK_ID, MotionTextTokenizer, build_tokenizer
from engine.lm.vocab import MotionParseError, MotionVocab
from support import tiny_t5_tokenizer_folder as _tiny_t5_folder

K = 512


def _captions(sample_dir) -> list[str]:
    out = []
    with open(sample_dir / "captions_sample.jsonl", encoding="utf-8") as fh:
        for line in fh:
            out += json.loads(line)["captions"]
    return out


@pytest.fixture(scope="module")
def corpus(sample_dir) -> list[str]:
    """The real sample captions plus made-up ones, about 500 in all."""
    real = _captions(sample_dir)
    who = ["a person", "someone", "a man", "a woman", "the character"]
    does = ["walks forward", "runs in a circle", "jumps up", "waves the right hand", "kicks with the left leg",
            "turns around", "sits down", "bows", "dances"]
    how = ["slowly.", "quickly.", "happily.", "then stops.", "twice.", "while looking down.", "energetically.",
           "carefully.", "and steps back."]
    made = [f"{a} {b} {c}" for a, b, c in itertools.product(who, does, how)]
    return real + made[:500 - len(real)]


@pytest.fixture(scope="module")
def tok(corpus) -> MotionTextTokenizer:
    return build_tokenizer(corpus, K, vocab_size=3000)


def test_builds_fast_with_t5_special_ids(corpus, tok):
    build_tokenizer(corpus[:10], K)  # first-call imports out of the timing
    start = time.perf_counter()
    again = build_tokenizer(corpus, K, vocab_size=3000)
    assert time.perf_counter() - start < 0.5
    assert len(corpus) >= 450
    assert (tok.pad_id, tok.eos_id, tok.unk_id) == (PAD_ID, EOS_ID, UNK_ID) == (0, 1, 2)
    assert tok.hf.convert_ids_to_tokens([0, 1, 2]) == ["<pad>", "</s>", "<unk>"]
    assert 200 < tok.motion_offset <= 3000
    assert len(tok) == len(tok.hf) == tok.motion_offset + K + 3
    assert again.encode_prompt(corpus[0]) == tok.encode_prompt(corpus[0])  # training is deterministic
    assert tok.bom_id == tok.motion_offset + K and tok.eom_id == tok.bom_id + 1 and tok.mask_id == tok.bom_id + 2


def test_motion_strings_are_one_id_each(tok):
    v = tok.vocab
    for i in range(v.num_tokens):
        assert tok.encode_prompt(v.token_string(i)) == [tok.motion_offset + i, EOS_ID]
    rng = np.random.default_rng(0)
    ids = rng.integers(0, K, 40)
    text = "Describe this motion: " + v.to_string(ids) + " please"
    enc = tok.encode_prompt(text)
    lm = [i for i in enc if i >= tok.motion_offset]
    assert lm == tok.motion_ids_to_lm(np.concatenate([[v.bom], ids, [v.eom]])).tolist()
    np.testing.assert_array_equal(tok.lm_to_motion_ids(lm)[1:-1], ids)
    # no space needed around motion tokens, and "<motion_id_1>" is not a prefix match of "<motion_id_10>"
    assert tok.encode_prompt("walk<motion_id_1><motion_id_10>walk") == \
        tok.encode_prompt("walk <motion_id_1><motion_id_10> walk")
    with pytest.raises(MotionGPTError):
        tok.encode_prompt("<motion_id_515>")
    with pytest.raises(MotionGPTError):
        tok.encode_text("a caption <motion_id_3>")
    with pytest.raises(MotionGPTError):
        tok.lm_to_motion_ids([5])


def test_case_and_punctuation_noise(tok):
    clean = tok.encode_text("a person walks!")
    for noisy in ("A Person WALKS!", "a person walks !", "  a   person\twalks!!! ", "A PERSON WALKS!!",
                  "ａ person walks！"):
        assert tok.encode_text(noisy) == clean, noisy
    assert tok.encode_text("Someone\u2019s bye\u2013bye, caf\u00e9.") == tok.encode_text("someone's bye-bye, cafe.")
    assert tok.encode_text("a person walks forward slowly.")[-1] == EOS_ID


def test_decode_text(tok, corpus):
    for caption in corpus[:60:7] + ["a person waves goodbye energetically.", "someone's bye-bye, then 2.5 turns (fast)."]:
        ids = tok.encode_text(caption)
        assert tok.decode_text(ids) == caption.lower()
    mixed = tok.encode_prompt("a man <motion_id_512><motion_id_4><motion_id_513> jumps.")
    assert tok.decode_text(mixed) == "a man jumps."
    assert tok.decode_text([PAD_ID] + tok.encode_text("a person bows.") + [PAD_ID, PAD_ID]) == "a person bows."
    # a character never seen still becomes a token, not an error
    assert tok.encode_text("\u263a")[:-1] == [UNK_ID]


def test_save_load_is_exact(tok, tmp_path):
    tok.save(tmp_path / "tok")
    again = MotionTextTokenizer.load(tmp_path / "tok")
    assert (len(again), again.motion_offset, again.codebook_size, again.kind) == \
        (len(tok), tok.motion_offset, tok.codebook_size, tok.kind)
    assert again.hf.get_vocab() == tok.hf.get_vocab()
    v = tok.vocab
    rng = np.random.default_rng(1)
    probes = ["A Person WALKS!!", "someone jumps over a box, then rolls.", "\u263a odd \u00e9 chars 123",
              "Describe this motion: " + v.to_string(rng.integers(0, K, 30)),
              "Fill in the middle: " + v.to_string([1, 2, v.mask, v.mask, 3], allow_mask=True)]
    for text in probes:
        assert again.encode_prompt(text) == tok.encode_prompt(text), text
        assert again.decode_text(tok.encode_prompt(text)) == tok.decode_text(tok.encode_prompt(text))


def test_load_errors(tmp_path, tok):
    with pytest.raises(MotionFileError):
        MotionTextTokenizer.load(tmp_path / "missing")
    tok.save(tmp_path / "tok")
    (tmp_path / "tok" / "tokenizer.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(MotionFileError):
        MotionTextTokenizer.load(tmp_path / "tok")
    # a tokenizer saved for another codebook size is caught
    tok.save(tmp_path / "tok2")
    meta = json.loads((tmp_path / "tok2" / "motion_tokenizer.json").read_text())
    meta["codebook_size"] = 256
    (tmp_path / "tok2" / "motion_tokenizer.json").write_text(json.dumps(meta))
    with pytest.raises(MotionFileError):
        MotionTextTokenizer.load(tmp_path / "tok2")


def test_motion_from_lm(tok):
    off = tok.motion_offset
    seq = [PAD_ID, tok.bom_id, off + 3, off + 4, tok.eom_id, EOS_ID, PAD_ID]
    assert tok.motion_from_lm(seq).tolist() == [3, 4]
    for bad in ([PAD_ID, off + 3, tok.eom_id], [tok.bom_id, off + 3], [tok.bom_id, tok.eom_id],
                [tok.bom_id, 5, off + 3, tok.eom_id], [tok.bom_id, off + 3, tok.eom_id, 7],
                [tok.bom_id, tok.mask_id, tok.eom_id]):
        with pytest.raises(MotionParseError):
            tok.motion_from_lm(bad)
    assert tok.motion_from_lm([tok.bom_id, 5, off + 3, tok.mask_id, tok.eom_id], strict=False).tolist() == [3]


def test_from_t5_folder_layout(tmp_path, corpus):
    base = _tiny_t5_folder(tmp_path / "t5", corpus)
    tok = MotionTextTokenizer.from_t5_folder(tmp_path / "t5", K)
    assert tok.kind == "t5" and tok.motion_offset == base and len(tok) == base + K + 3
    text = "Describe this motion: " + tok.vocab.to_string([7, 8, 9])
    ids = tok.encode_prompt(text)
    assert [i - base for i in ids if i >= base] == [K, 7, 8, 9, K + 1] and ids[-1] == EOS_ID
    # sentinels are text-side ids but never caption tokens
    allowed = set(tok.text_token_ids())
    assert tok.hf.convert_tokens_to_ids("<extra_id_0>") not in allowed and PAD_ID not in allowed
    assert tok.decode_text(tok.encode_text("a person walks forward.")) == "a person walks forward."
    tok.save(tmp_path / "saved")
    again = MotionTextTokenizer.load(tmp_path / "saved")
    assert again.kind == "t5" and again.encode_prompt(text) == ids
    with pytest.raises(MotionFileError):
        MotionTextTokenizer.from_t5_folder(tmp_path / "nowhere", K)
    # another codebook on the same base
    small = MotionTextTokenizer.from_t5_folder(tmp_path / "t5", 16)
    assert len(small) == base + 19 and MotionVocab(16) == small.vocab


@pytest.mark.parametrize("kind", ["bpe", "t5"])
def test_loaded_tokenizer_needs_no_transformers_and_agrees_with_it(kind, tok, corpus, tmp_path):
    """A saved tokenizer is read with the tokenizers library alone
    (TokenizerFile); it gives what transformers' PreTrainedTokenizerFast
    gives for ids, text, special tokens and vocabulary, and saves the same
    files again."""
    from engine.lm.tokenizer import TokenizerFile
    if kind == "t5":
        _tiny_t5_folder(tmp_path / "t5", corpus)
        tok = MotionTextTokenizer.from_t5_folder(tmp_path / "t5", K)
    tok.save(tmp_path / "a")
    light = MotionTextTokenizer.load(tmp_path / "a")
    assert isinstance(light.hf, TokenizerFile) and type(tok.hf).__name__ != "TokenizerFile"
    assert light.hf.get_vocab() == tok.hf.get_vocab() and light.hf.get_added_vocab() == tok.hf.get_added_vocab()
    assert light.text_token_ids() == tok.text_token_ids() and light.unk_id == tok.unk_id
    rng = np.random.default_rng(3)
    for text in corpus[:20] + ["<pad> </s> <unk> odd \u00e9", "Describe this motion: " + tok.vocab.to_string([1, 5])]:
        assert light.encode_prompt(text) == tok.encode_prompt(text), text
        assert light.tokens(text) == tok.tokens(text)
    for _ in range(100):
        ids = rng.integers(0, len(tok), int(rng.integers(1, 25)))
        assert light.decode_text(ids) == tok.decode_text(ids)
        assert light.decode_prompt(ids) == tok.decode_prompt(ids)
    light.save(tmp_path / "b")
    again = MotionTextTokenizer.load(tmp_path / "b")
    assert again.hf.get_vocab() == tok.hf.get_vocab() and again.encode_prompt(corpus[0]) == tok.encode_prompt(corpus[0])
