"""Classifier-free guidance: captions dropped for a share of text-to-motion
training samples (the same prompt without its caption), and at inference one
unconditional twin row per sampled row in the same batch."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.errors import MotionGPTError
from engine.lm import model as M
from engine.lm import tasks
from engine.lm.config import GENERATION_FILE, read_sampling, write_generation_config
from engine.lm.generate import Guidance, decode, generate_motion_ids
from engine.lm.constraints import MotionLogitsProcessor
from engine.lm.tasks import Task, drop_caption, instruction
from engine.models.motiongpt import SamplingOptions
from engine.train.lm_data import ExampleSampler, TokenizedClip

CAPTION = "a person walks forward."


@pytest.fixture(scope="module")
def tiny_lm():
    from engine.lm.tokenizer import build_tokenizer
    tok = build_tokenizer([CAPTION, "someone waves the right hand.", "a man jumps."] * 5, 16, vocab_size=120)
    torch.manual_seed(0)
    return M.build_model(M.tiny().with_tokenizer(tok)).eval(), tok


def test_drop_caption_keeps_the_template_and_the_length():
    for i, template in enumerate(tasks.TEMPLATES[Task.TEXT_TO_MOTION]):
        seconds = 4.0 if "{seconds}" in template else None
        prompt = tasks.render(Task.TEXT_TO_MOTION, None, caption=f"  {CAPTION} ", seconds=seconds,
                              template=i).input_text
        dropped = drop_caption(prompt, CAPTION)
        assert "walks" not in dropped and dropped == dropped.strip()
        if seconds:
            assert "4" in dropped
    assert drop_caption(CAPTION, CAPTION) == ""                       # stage 1's bare caption
    with pytest.raises(MotionGPTError):
        drop_caption("Generate a motion: a man jumps.", CAPTION)


def _clips():
    rng = np.random.default_rng(0)
    return [TokenizedClip(f"c{i}", [CAPTION, "a man jumps."], [rng.integers(0, 16, 12)]) for i in range(4)]


def test_caption_dropout_drops_only_text_to_motion_captions(tiny_lm):
    _, tok = tiny_lm
    sampler = ExampleSampler(_clips(), tok.vocab, caption_dropout=0.3)
    rng = np.random.default_rng(1)
    examples = [sampler.example(rng, stage) for stage in (1, 2) for _ in range(400)]
    t2m = [e for e in examples if e.task is Task.TEXT_TO_MOTION]
    dropped = [e for e in t2m if e.meta.get("unconditional")]
    assert 0.2 < len(dropped) / len(t2m) < 0.4
    assert all("walks" not in e.input_text and "jumps" not in e.input_text for e in dropped)
    assert all(e.target_text for e in dropped)                             # the motion is still the target
    assert not any(e.meta.get("unconditional") for e in examples if e.task is not Task.TEXT_TO_MOTION)


def test_no_dropout_keeps_the_random_stream(tiny_lm):
    _, tok = tiny_lm
    a, b = ExampleSampler(_clips(), tok.vocab), ExampleSampler(_clips(), tok.vocab, caption_dropout=0.0)
    ra, rb = np.random.default_rng(5), np.random.default_rng(5)
    for stage in (1, 2):
        for _ in range(50):
            x, y = a.example(ra, stage), b.example(rb, stage)
            assert (x.input_text, x.target_text) == (y.input_text, y.target_text)


def _decode(model, tok, prompt, guidance, seed=3):
    processor = MotionLogitsProcessor.for_tokenizer(tok, [4], [9])
    from engine.lm.generate import _Sampler
    sampler = _Sampler([seed, seed + 1], 1.3, 0, 1.0, processor.longest)
    return decode(model, tok, [prompt], [processor], processor.longest, sampler, 2, guidance)


def test_guidance_against_the_same_prompt_changes_nothing(tiny_lm):
    """uncond + w (cond - uncond) with uncond = cond is cond, bit for bit."""
    model, tok = tiny_lm
    prompt = instruction(Task.TEXT_TO_MOTION, caption=CAPTION)
    plain = _decode(model, tok, prompt, None)
    same = _decode(model, tok, prompt, Guidance([prompt], 3.0))
    assert torch.equal(plain, same)


def test_guidance_moves_the_samples_and_stays_valid(tiny_lm):
    model, tok = tiny_lm
    prompt = instruction(Task.TEXT_TO_MOTION, caption=CAPTION)
    plain = generate_motion_ids(model, tok, prompt, num_tokens=(4, 9), seed=0, num_return_sequences=4,
                                temperature=1.3, top_k=0)
    guided = generate_motion_ids(model, tok, prompt, num_tokens=(4, 9), seed=0, num_return_sequences=4,
                                 temperature=1.3, top_k=0, guidance_scale=4.0,
                                 unconditional_text=drop_caption(prompt, CAPTION))
    assert any(not np.array_equal(a, b) for a, b in zip(plain, guided))
    assert all(4 <= len(g) <= 9 and g.min() >= 0 and g.max() < 16 for g in guided)
    # variant i of a guided batch is the guided single call with seed + i
    single = generate_motion_ids(model, tok, prompt, num_tokens=(4, 9), seed=2, temperature=1.3, top_k=0,
                                 guidance_scale=4.0, unconditional_text=drop_caption(prompt, CAPTION))
    np.testing.assert_array_equal(single[0], guided[2])


def test_guidance_scale_travels_in_generation_config(tmp_path):
    write_generation_config(tmp_path, {"guidance_scale": 2.5, "top_p": 0.9})
    raw = json.loads((tmp_path / GENERATION_FILE).read_text())
    assert "guidance_scale" not in raw                 # transformers' own key would double its batch
    s = SamplingOptions.from_dict(read_sampling(tmp_path))
    assert s.guidance_scale == 2.5 and s.top_p == 0.9
    assert SamplingOptions.from_dict(read_sampling(tmp_path.parent / "none") or {}).guidance_scale == 1.0
    for bad in (float("nan"), float("inf"), -1.0, 100.0):
        with pytest.raises(MotionGPTError):
            SamplingOptions.from_dict({"guidance_scale": bad})
    with pytest.raises(MotionGPTError):
        SamplingOptions.from_dict({"temperature": float("nan")})
