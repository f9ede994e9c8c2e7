"""The inference runtime of the language model (engine/lm/runtime.py) and
the decoding loop on it (engine/lm/generate.py): the same logits as
transformers' T5 from the same weights, float16 close to float32, variants
batched with one seed per row, cancellation and damaged weights."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import ModelOutputError
from engine.lm import model as M
from engine.lm.generate import GenerationCancelled, cancel_check, generate_motion_ids, generate_text
from engine.lm.runtime import T5Runtime, load_runtime
from engine.lm.tasks import Task, instruction

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LM = REPO / "models" / "default" / "lm"


def _inputs(vocab: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (3, 17), generator=g)
    mask = torch.ones_like(ids)
    ids[1, 12:], mask[1, 12:] = 0, 0            # a padded prompt
    dec = torch.randint(3, vocab, (3, 9), generator=g)
    dec[:, 0] = 0                               # decoder start
    return ids, mask, dec


@pytest.mark.parametrize("proj, tied", [("gated-gelu", True), ("relu", False), ("gelu", True), ("gated-relu", False)])
def test_runtime_logits_equal_transformers(proj, tied):
    torch.manual_seed(0)
    hf = M.build_model(M.tiny(feed_forward_proj=proj, tie_word_embeddings=tied, vocab_size=300)).eval()
    runtime = T5Runtime.from_transformers(hf)
    ids, mask, dec = _inputs(300)
    with torch.no_grad():
        want = hf(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits
    got = runtime.logits(ids, mask, dec)
    assert (got - want).abs().max() < 1e-4 * want.abs().max()
    # float16 / bfloat16 matmuls (the CUDA path, run here on the CPU): close to float32
    for dtype, tolerance in ((torch.float16, 0.02), (torch.bfloat16, 0.1)):
        low = copy.deepcopy(runtime).cast(dtype).logits(ids, mask, dec)
        assert low.dtype == torch.float32 and (low - want).abs().max() < tolerance * want.abs().max(), dtype


def test_shipped_model_runtime_equals_transformers():
    runtime, config, tok = load_runtime(DEFAULT_LM)
    hf, _, _ = M.load_lm(DEFAULT_LM)
    from engine.lm.generate import encode_batch
    ids, mask = encode_batch(tok, ["Generate a motion: a person walks forward.", "a person waves"], "cpu")
    dec = torch.randint(tok.motion_offset, tok.motion_offset + tok.codebook_size, (2, 30),
                        generator=torch.Generator().manual_seed(1))
    dec[:, 0] = 0
    with torch.no_grad():
        want = hf(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits
    assert (runtime.logits(ids, mask, dec) - want).abs().max() < 1e-4
    # the parameter names are the checkpoint's: the file loads strictly into either
    assert set(runtime.state_dict()) == set(M.lm_state_dict(hf))


@pytest.fixture(scope="module")
def tiny_lm():
    """A random tiny T5 and a tokenizer built offline."""
    from engine.lm.tokenizer import build_tokenizer
    tok = build_tokenizer(["a person walks forward.", "someone waves the right hand.", "a man jumps."] * 5, 16,
                          vocab_size=120)
    torch.manual_seed(0)
    return M.build_model(M.tiny().with_tokenizer(tok)).eval(), tok


def test_batched_rows_are_the_single_calls_with_seed_plus_row(tiny_lm):
    model, tok = tiny_lm
    prompt = instruction(Task.TEXT_TO_MOTION, caption="a person walks forward.")
    batch = generate_motion_ids(model, tok, prompt, num_tokens=(3, 12), seed=40, num_return_sequences=6,
                                temperature=1.5, top_k=0)
    singles = [generate_motion_ids(model, tok, prompt, num_tokens=(3, 12), seed=40 + i, temperature=1.5, top_k=0)[0]
               for i in range(6)]
    assert all(np.array_equal(a, b) for a, b in zip(batch, singles))
    assert len({tuple(b) for b in batch}) > 1                          # the rows do differ
    # several prompts: row r = prompt r // n, copy r % n, seed + r
    two = generate_motion_ids(model, tok, [prompt, instruction(Task.TEXT_TO_MOTION, caption="a man jumps.")],
                              num_tokens=(3, 12), seed=40, num_return_sequences=3, temperature=1.5, top_k=0)
    assert all(np.array_equal(a, b) for a, b in zip(two[:3], batch[:3]))


def test_sampling_filters_keep_the_likely_tokens(tiny_lm):
    """top_k 1 and a tiny top_p are greedy decoding."""
    model, tok = tiny_lm
    prompt = instruction(Task.TEXT_TO_MOTION, caption="someone waves the right hand.")
    greedy = generate_motion_ids(model, tok, prompt, num_tokens=(4, 9), do_sample=False)[0]
    for kwargs in (dict(top_k=1), dict(top_k=0, top_p=1e-6)):
        for seed in (0, 1, 2):
            got = generate_motion_ids(model, tok, prompt, num_tokens=(4, 9), seed=seed, **kwargs)[0]
            np.testing.assert_array_equal(got, greedy)


def test_cancel_is_checked_after_every_token(tiny_lm):
    model, tok = tiny_lm
    prompt = instruction(Task.TEXT_TO_MOTION, caption="a person walks forward.")
    calls = []

    def check():
        calls.append(1)
        return len(calls) > 4

    with cancel_check(check), pytest.raises(GenerationCancelled):
        generate_motion_ids(model, tok, prompt, num_tokens=20, seed=0)
    assert len(calls) == 5       # once before, then after tokens 1..4


def test_non_finite_scores_fail_with_a_clear_message(tiny_lm):
    model, tok = tiny_lm
    broken = copy.deepcopy(model)
    with torch.no_grad():
        broken.decoder.block[0].layer[2].DenseReluDense.wo.weight[0, 0] = float("nan")
    for call in (lambda: generate_motion_ids(broken, tok, "walk", num_tokens=3, seed=0),
                 lambda: generate_text(broken, tok, "Describe this motion: " + tok.vocab.to_string([1, 2]))):
        with pytest.raises(ModelOutputError, match="weights are probably damaged"):
            call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_float16_matches_cpu_float32():
    """The shipped model on CUDA (float16 language model, float32 VQ) against
    the CPU in float32: logits close, sampled tokens mostly the same, the
    decoded motion close."""
    from engine.models.motiongpt import MotionGPT
    gpu, cpu = MotionGPT.load(None, "cuda"), MotionGPT.load(None, "cpu")
    assert gpu.dtype == "float16" and cpu.dtype == "float32"
    from engine.lm.generate import encode_batch
    ids, mask = encode_batch(cpu.tokenizer, ["Generate a motion: a person walks forward."], "cpu")
    dec = torch.cat([torch.zeros((1, 1), dtype=torch.long), torch.full((1, 1), cpu.tokenizer.bom_id),
                     torch.randint(cpu.tokenizer.motion_offset, cpu.tokenizer.motion_offset + 512, (1, 25))], 1)
    want = cpu.lm.logits(ids, mask, dec)
    got = gpu.lm.logits(ids.cuda(), mask.cuda(), dec.cuda()).cpu()
    agree = (got.argmax(-1) == want.argmax(-1)).float().mean()
    print(f"\nCUDA float16 vs CPU float32 logits: max |diff| {(got - want).abs().max():.4f} "
          f"(largest logit {want.abs().max():.2f}), argmax agreement {agree:.3f}")
    assert (got - want).abs().max() < 0.02 * want.abs().max()
    assert agree > 0.9
    codes = np.random.default_rng(0).integers(0, 512, 20)
    np.testing.assert_allclose(gpu.vq.decode(codes), cpu.vq.decode(codes), atol=1e-3)
    motions = gpu.text_to_motion("a person walks forward", seconds=4, seed=3, variants=4)
    assert len(motions) == 4 and all(m.shape == (80, 263) and np.isfinite(m).all() for m in motions)
