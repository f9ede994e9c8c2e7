"""The T5 language model: config and checkpoints, constrained decoding that
can only produce valid motions, and small overfits that prove training and
generation fit together."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.errors import MotionFileError, MotionGPTError
from engine.lm import model as M
from engine.lm.batch import IGNORE_INDEX, collate, pad_batch
from engine.lm.constraints import MotionLogitsProcessor, TextLogitsProcessor, motion_allowed
from engine.lm.generate import generate_motion_ids, generate_task_motion, generate_text
from engine.lm.tasks import Task, instruction, make_training_examples, render
from engine.lm.tokenizer import EOS_ID, PAD_ID, build_tokenizer

K = 64  # a small codebook keeps the tiny models quick; the layout is the same for 512


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def captions(sample_dir) -> list[str]:
    with open(sample_dir / "captions_sample.jsonl", encoding="utf-8") as fh:
        return [json.loads(line)["captions"][0] for line in fh]


@pytest.fixture(scope="module")
def tok(sample_dir):
    texts = []
    with open(sample_dir / "captions_sample.jsonl", encoding="utf-8") as fh:
        for line in fh:
            texts += json.loads(line)["captions"]
    return build_tokenizer(texts, K)


@pytest.fixture(scope="module")
def random_model(tok):
    torch.manual_seed(0)
    return M.build_model(M.tiny().with_tokenizer(tok))


# ------------------------------------------------------------------- config

def test_config_roundtrip_and_presets(tok):
    cfg = M.small().with_tokenizer(tok)
    assert cfg.vocab_size == len(tok) and cfg.codebook_size == K and cfg.motion_offset == tok.motion_offset
    assert M.LMConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(MotionGPTError):
        M.LMConfig.from_dict({**cfg.to_dict(), "d_modle": 3})
    with pytest.raises(MotionGPTError):
        M.tiny(feed_forward_proj="swish")
    with pytest.raises(MotionGPTError):
        M.build_model(M.tiny())  # vocab size not set
    base = M.flan_t5_base(vocab_size=32100 + 515)
    t5 = base.t5_config()
    assert (t5.d_model, t5.d_ff, t5.num_heads, t5.num_layers, t5.num_decoder_layers, t5.d_kv) == (768, 2048, 12, 12, 12, 64)
    assert t5.is_gated_act and not base.tie_word_embeddings
    assert (t5.pad_token_id, t5.eos_token_id, t5.decoder_start_token_id) == (0, 1, 0)
    # the T5 fields are transformers' own, held once: LMConfig adds only the engine's settings
    import dataclasses
    assert {f.name for f in dataclasses.fields(M.LMConfig)} == {"t5", "codebook_size", "motion_offset", "extra"}
    assert cfg.t5_config().to_dict()["d_model"] == 256 and cfg.hf_config()["model_type"] == "t5"


def test_small_preset_size():
    cfg = M.small(vocab_size=3000 + 515)
    n = M.count_parameters(M.build_model(cfg))
    assert 8e6 < n < 12e6


def test_tied_and_untied_checkpoints(tok, tmp_path):
    for tie in (True, False):
        torch.manual_seed(1)
        cfg = M.tiny(tie_word_embeddings=tie).with_tokenizer(tok)
        model = M.build_model(cfg)
        assert (model.lm_head.weight is model.shared.weight) == tie
        folder = M.save_lm(tmp_path / f"tie{tie}", model, cfg, tok, trainer_state={"step": 3})
        from safetensors.torch import load_file
        stored = load_file(str(folder / "model.safetensors"))
        assert "encoder.embed_tokens.weight" not in stored and ("lm_head.weight" in stored) == (not tie)
        again, cfg2, tok2 = M.load_lm(folder)
        assert cfg2 == cfg and len(tok2) == len(tok)
        assert (again.lm_head.weight is again.shared.weight) == tie
        x = torch.tensor([tok.encode_prompt("Generate a motion: a person bows.")])
        model.eval()
        with torch.no_grad():
            torch.testing.assert_close(model(input_ids=x, decoder_input_ids=x).logits,
                                       again(input_ids=x, decoder_input_ids=x).logits)
    (tmp_path / "bad").mkdir()
    with pytest.raises(MotionFileError):
        M.load_lm(tmp_path / "bad")


# -------------------------------------------------------- constrained decoding

def _run_processor(proc, vocab_size, rng, steps_limit, adversarial_ids, sample=False):
    """Decode one row step by step from random scores; the processor is the
    only thing standing between the scores and the output."""
    seq = [PAD_ID]  # decoder start
    for _ in range(steps_limit):
        scores = torch.from_numpy(rng.normal(0, 3, size=(1, vocab_size)).astype(np.float32))
        scores[0, adversarial_ids] += torch.from_numpy(rng.uniform(0, 1e4, size=len(adversarial_ids)).astype(np.float32))
        if rng.random() < 0.05:
            scores[0, int(rng.integers(vocab_size))] = float("nan")
        if rng.random() < 0.05:
            scores[0, int(rng.integers(vocab_size))] = float("inf")
        out = proc(torch.tensor([seq]), scores)
        if sample:
            probs = torch.softmax(out[0].double(), -1)
            nxt = int(torch.multinomial(probs, 1, generator=torch.Generator().manual_seed(int(rng.integers(1 << 30)))))
        else:
            nxt = int(out[0].argmax())
        assert torch.isfinite(out[0, nxt])
        seq.append(nxt)
        if nxt == EOS_ID:
            break
    return seq


def test_motion_processor_property(tok):
    rng = np.random.default_rng(0)
    vocab_size = len(tok) + 5  # models may score a few ids past the tokenizer
    off = tok.motion_offset
    text_ids = list(range(3, off))
    adversarial = [PAD_ID, EOS_ID, 2, tok.bom_id, tok.eom_id, tok.mask_id, len(tok), len(tok) + 4] + \
        list(rng.choice(text_ids, 20))
    for trial in range(200):
        lo = int(rng.integers(1, 30))
        hi = lo if trial % 4 == 0 else lo + int(rng.integers(0, 20))
        proc = MotionLogitsProcessor.for_tokenizer(tok, lo, hi)
        adv = adversarial if trial % 2 == 0 else []
        seq = _run_processor(proc, vocab_size, rng, hi + 10, adv, sample=trial % 3 == 0)
        assert seq[-1] == EOS_ID, seq
        codes = tok.motion_from_lm(seq, strict=True)
        assert lo <= len(codes) <= hi
        text = tok.decode_prompt(seq)
        np.testing.assert_array_equal(tok.vocab.parse(text, strict=True), codes)
        # after eos only padding
        after = proc(torch.tensor([seq]), torch.zeros(1, vocab_size))
        assert torch.isfinite(after[0]).nonzero().flatten().tolist() == [PAD_ID]


def test_motion_allowed_states(tok):
    off, bom, eom = tok.motion_offset, tok.bom_id, tok.eom_id
    V = len(tok)
    rows = torch.tensor([
        [PAD_ID, PAD_ID, PAD_ID, PAD_ID],        # nothing yet (padded history)
        [bom, off, off + 1, PAD_ID],
        [bom, off, off + 1, off + 2],
        [bom, off, eom, PAD_ID],
        [bom, off, eom, EOS_ID],
    ])[:, :]
    allowed = motion_allowed(rows[:, :0], V, off, K, EOS_ID, PAD_ID, 2, 3)
    assert allowed.sum(1).tolist() == [1] * 5 and allowed[:, bom].all()
    gen = [rows[1, :3], rows[2], rows[3, :3], rows[4]]
    expect = [set(range(off, off + K)) | {eom}, {eom}, {EOS_ID}, {PAD_ID}]
    for g, e in zip(gen, expect):
        a = motion_allowed(g[None], V, off, K, EOS_ID, PAD_ID, 2, 3)[0]
        assert set(a.nonzero().flatten().tolist()) == e
    a = motion_allowed(torch.tensor([[bom, off]]), V, off, K, EOS_ID, PAD_ID, 2, 3)[0]
    assert set(a.nonzero().flatten().tolist()) == set(range(off, off + K))
    with pytest.raises(MotionGPTError):
        MotionLogitsProcessor.for_tokenizer(tok, 5, 4)
    with pytest.raises(MotionGPTError):
        MotionLogitsProcessor.for_tokenizer(tok, 0, 4)


def test_text_processor_bans_motion(tok):
    rng = np.random.default_rng(1)
    proc = TextLogitsProcessor.for_tokenizer(tok)
    V = len(tok)
    for _ in range(50):
        seq = [PAD_ID]
        for _ in range(30):
            scores = torch.from_numpy(rng.normal(size=(1, V)).astype(np.float32))
            scores[0, tok.motion_offset:] += 1e4
            scores[0, PAD_ID] += 1e4
            nxt = int(proc(torch.tensor([seq]), scores)[0].argmax())
            seq.append(nxt)
            if nxt == EOS_ID:
                break
        assert all(i < tok.motion_offset for i in seq) and PAD_ID not in seq[1:] and seq[1] != EOS_ID


def test_generate_from_random_model_is_always_valid(tok, random_model):
    prompts = [instruction(Task.TEXT_TO_MOTION, caption="a person walks forward."),
               instruction(Task.PREDICT, motion_ids=[1, 2, 3], vocab=tok.vocab),
               instruction(Task.INBETWEEN, motion_ids=[4, 5, 66, 66, 66, 6], vocab=tok.vocab)]
    runs = [dict(num_tokens=None, seed=0), dict(num_tokens=7, seed=1), dict(num_tokens=(2, 5), seed=2),
            dict(num_tokens=[3, (1, 4), 9], seed=3, num_return_sequences=2, temperature=2.0, top_k=0),
            dict(num_tokens=(4, 6), do_sample=False), dict(num_tokens=(3, 5), do_sample=False),
            dict(num_tokens=4, seed=5, top_p=0.9)]
    for kwargs in runs:
        spec = kwargs["num_tokens"]
        out = generate_motion_ids(random_model, tok, prompts, **kwargs)
        assert len(out) == len(prompts) * kwargs.get("num_return_sequences", 1)
        specs = spec if isinstance(spec, list) else [spec] * len(prompts)
        specs = [s for s in specs for _ in range(kwargs.get("num_return_sequences", 1))]
        for codes, s in zip(out, specs):
            lo, hi = (1, 50) if s is None else (s, s) if isinstance(s, int) else s
            assert codes.dtype == np.int64 and lo <= len(codes) <= hi
            assert codes.min() >= 0 and codes.max() < K
    # seeded sampling is reproducible and leaves the global RNG alone
    state = torch.random.get_rng_state()
    a = generate_motion_ids(random_model, tok, prompts[0], num_tokens=(5, 10), seed=123, num_return_sequences=3)
    assert torch.equal(state, torch.random.get_rng_state())
    b = generate_motion_ids(random_model, tok, prompts[0], num_tokens=(5, 10), seed=123, num_return_sequences=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    c = generate_motion_ids(random_model, tok, prompts[0], num_tokens=(5, 10), seed=124, num_return_sequences=3)
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    caption = generate_text(random_model, tok, "Describe this motion: " + tok.vocab.to_string([1, 2, 3]),
                            max_new_tokens=8)
    assert isinstance(caption, str) and "<motion_id" not in caption
    with pytest.raises(MotionGPTError):
        generate_motion_ids(random_model, tok, prompts, num_tokens=[3, 4])


def test_generate_task_motion_keeps_context(tok, random_model):
    v = tok.vocab
    joined = [4, 5] + [v.mask] * 6 + [6, 7, 8]
    for motion in generate_task_motion(random_model, tok, instruction(Task.INBETWEEN, motion_ids=joined, vocab=v),
                                       seed=0, num_return_sequences=2):
        assert len(motion) == 11 and motion[:2].tolist() == [4, 5] and motion[-3:].tolist() == [6, 7, 8]
        assert motion.max() < K
    out = generate_task_motion(random_model, tok, instruction(Task.PREDICT, motion_ids=[9, 10], vocab=v),
                               num_tokens=(3, 3), seed=0)[0]
    assert out[:2].tolist() == [9, 10] and len(out) == 5
    timed = generate_task_motion(random_model, tok, instruction(Task.TEXT_TO_MOTION, caption="a man runs.", seconds=2),
                                 seed=0)[0]
    assert len(timed) == 10
    with pytest.raises(MotionGPTError):
        generate_task_motion(random_model, tok, instruction(Task.MOTION_TO_TEXT, motion_ids=[1, 2], vocab=v))


# ----------------------------------------------------------------- overfits

def _examples(tok, task, captions, motions):
    return [render(task, None, caption=c, motion_ids=m, vocab=tok.vocab) for c, m in zip(captions, motions)]


def _train(tok, examples, steps, seed=0, lr=1e-2):
    torch.manual_seed(seed)
    model = M.build_model(M.tiny().with_tokenizer(tok))
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    batch = collate(tok, examples)
    losses = []
    for _ in range(steps):
        loss = model(**batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, losses


def test_overfit_text_to_motion(tok, captions):
    rng = np.random.default_rng(0)
    motions = [rng.integers(0, K, int(rng.integers(8, 16))) for _ in range(5)]
    examples = _examples(tok, Task.TEXT_TO_MOTION, captions[:5], motions)
    prompts = [instruction(Task.TEXT_TO_MOTION, caption=c) for c in captions[:5]]
    assert prompts == [ex.input_text for ex in examples]
    model, losses = _train(tok, examples, steps=200, lr=3e-3)
    assert losses[-1] < losses[0] / 100, (losses[0], losses[-1])
    out = generate_motion_ids(model, tok, prompts, do_sample=False)
    for got, want in zip(out, motions):
        np.testing.assert_array_equal(got, want)
    # the exact length is honoured even where it disagrees with training
    short = generate_motion_ids(model, tok, prompts[0], num_tokens=4, do_sample=False)[0]
    np.testing.assert_array_equal(short, motions[0][:4])
    # same seed, same losses
    _, again = _train(tok, examples, steps=20, lr=3e-3)
    assert again == losses[:20]


def test_overfit_motion_to_text(tok, captions):
    rng = np.random.default_rng(1)
    motions = [rng.integers(0, K, 12) for _ in range(3)]
    examples = _examples(tok, Task.MOTION_TO_TEXT, captions[5:8], motions)
    prompts = [instruction(Task.MOTION_TO_TEXT, motion_ids=m, vocab=tok.vocab) for m in motions]
    assert prompts == [ex.input_text for ex in examples]
    model, losses = _train(tok, examples, steps=120)
    assert losses[-1] < losses[0] / 50
    assert generate_text(model, tok, prompts) == [tok.decode_text(tok.encode_text(c)) for c in captions[5:8]]
    assert generate_text(model, tok, prompts[1]) == captions[6].lower()


def test_collate(tok):
    rng = np.random.default_rng(2)
    exs = make_training_examples("A person bows.", rng.integers(0, K, 20), rng, vocab=tok.vocab)
    batch = collate(tok, exs)
    assert batch["input_ids"].shape[0] == len(exs) == batch["labels"].shape[0]
    for row, ex in enumerate(exs):
        n = int(batch["attention_mask"][row].sum())
        assert batch["input_ids"][row, :n].tolist() == tok.encode_prompt(ex.input_text)
        assert (batch["input_ids"][row, n:] == PAD_ID).all()
        labels = batch["labels"][row]
        target = labels[labels != IGNORE_INDEX].tolist()
        assert target == tok.encode_prompt(ex.target_text) and target[-1] == EOS_ID
    cut = pad_batch([[5, 6, 7, 8, EOS_ID]], max_input_tokens=3)
    assert cut["input_ids"].tolist() == [[5, 6, EOS_ID]]
    with pytest.raises(MotionGPTError):
        collate(tok, [render(Task.TEXT_TO_MOTION, None, caption="a man jumps.")])
