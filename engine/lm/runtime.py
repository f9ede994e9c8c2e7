"""The T5 language model for inference, in plain torch (no transformers).

Why a second implementation of the forward pass: importing transformers'
T5 costs more than importing torch itself (about 1 s on an idle 2-core
machine, 4-5 s on a loaded one: it pulls in torch._dynamo and
torch.distributed), and that was most of the engine's cold start; and a
decoding loop of our own batches variants with one random stream per row
(:mod:`engine.lm.generate`). Training keeps transformers'
``T5ForConditionalGeneration`` (:mod:`engine.lm.model`); this module
computes the same function from the same weights: its parameter names are
the checkpoint's, so a saved model loads strictly into either, and
``tests/test_lm_runtime.py`` checks the logits against transformers' to
float rounding, for every feed-forward kind and tied or untied heads.

Only what decoding needs: :meth:`T5Runtime.encode` once per request, then
:meth:`T5Runtime.decoder_step` one token at a time against a key/value cache
(:class:`DecoderState`).

Number types: :meth:`T5Runtime.cast` puts the attention and the first
feed-forward projections (the bulk of the weights and the work) in the
chosen dtype (float16 on CUDA, :mod:`engine.device`). The residual stream,
the RMS norms, softmax, the gated product, the feed-forward output
projection and the logits stay float32 -- the places where float16
overflows or loses the small differences between token scores
(transformers keeps ``wo`` in float32 for the same reason).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import checkpoint as ckpt
from ..errors import MotionFileError
from .config import EMBEDDING_COPIES, LMConfig, read_config
from .model import load_tokenizer

_ACTIVATIONS = {
    "gated-gelu": (True, lambda x: F.gelu(x, approximate="tanh")),   # transformers' "gelu_new"
    "gated-relu": (True, F.relu),
    "gelu": (False, F.gelu),
    "relu": (False, F.relu),
}


class Linear(nn.Module):
    """``nn.Linear`` without bias and without initialising its weight:
    every weight is loaded from a checkpoint, and a random initialisation
    (or building on the meta device, whose initialisers import
    torch._dynamo) would cost more than the load itself."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)


class Embedding(nn.Module):
    """``nn.Embedding`` without initialisation (see :class:`Linear`)."""

    def __init__(self, count: int, size: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(count, size), requires_grad=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.weight)


class RMSNorm(nn.Module):
    """T5's layer norm: scale only, no mean, statistics in float32."""

    def __init__(self, size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        return self.weight.float() * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


class Attention(nn.Module):
    """Multi-head attention without the 1/sqrt(d) scale (T5 folds it into
    the weights); the first layer of each stack owns the relative position
    bias that all its layers share."""

    def __init__(self, t5: dict, relative_bias: bool = False):
        super().__init__()
        inner = t5["num_heads"] * t5["d_kv"]
        self.heads, self.d_kv = t5["num_heads"], t5["d_kv"]
        self.q = Linear(t5["d_model"], inner)
        self.k = Linear(t5["d_model"], inner)
        self.v = Linear(t5["d_model"], inner)
        self.o = Linear(inner, t5["d_model"])
        if relative_bias:
            self.relative_attention_bias = Embedding(t5["relative_attention_num_buckets"], t5["num_heads"])

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, H * d) -> (B, H, T, d)."""
        return x.view(x.shape[0], x.shape[1], self.heads, self.d_kv).transpose(1, 2)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """q (B, H, Tq, d) over k, v (B, H, Tk, d) with an additive float32
        bias broadcastable to (B, H, Tq, Tk); the output projection's input."""
        scores = torch.matmul(q, k.transpose(-1, -2)).float() + bias
        weights = torch.softmax(scores, dim=-1).to(v.dtype)
        out = torch.matmul(weights, v)
        return out.transpose(1, 2).reshape(q.shape[0], q.shape[2], self.heads * self.d_kv)


class FeedForward(nn.Module):
    def __init__(self, t5: dict):
        super().__init__()
        self.gated, self.act = _ACTIVATIONS[t5["feed_forward_proj"]]
        if self.gated:
            self.wi_0 = Linear(t5["d_model"], t5["d_ff"])
            self.wi_1 = Linear(t5["d_model"], t5["d_ff"])
        else:
            self.wi = Linear(t5["d_model"], t5["d_ff"])
        self.wo = Linear(t5["d_ff"], t5["d_model"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gated:
            h = self.act(self.wi_0(x).float()) * self.wi_1(x).float()
        else:
            h = self.act(self.wi(x).float())
        return self.wo(h.to(self.wo.weight.dtype)).float()


class _SelfAttentionLayer(nn.Module):
    def __init__(self, t5: dict, relative_bias: bool):
        super().__init__()
        self.SelfAttention = Attention(t5, relative_bias)
        self.layer_norm = RMSNorm(t5["d_model"], t5["layer_norm_epsilon"])


class _CrossAttentionLayer(nn.Module):
    def __init__(self, t5: dict):
        super().__init__()
        self.EncDecAttention = Attention(t5)
        self.layer_norm = RMSNorm(t5["d_model"], t5["layer_norm_epsilon"])


class _FeedForwardLayer(nn.Module):
    def __init__(self, t5: dict):
        super().__init__()
        self.DenseReluDense = FeedForward(t5)
        self.layer_norm = RMSNorm(t5["d_model"], t5["layer_norm_epsilon"])

    def forward(self, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return x + self.DenseReluDense(self.layer_norm(x).to(dtype))


class _Block(nn.Module):
    def __init__(self, t5: dict, decoder: bool, first: bool):
        super().__init__()
        parts: list[nn.Module] = [_SelfAttentionLayer(t5, relative_bias=first)]
        if decoder:
            parts.append(_CrossAttentionLayer(t5))
        parts.append(_FeedForwardLayer(t5))
        self.layer = nn.ModuleList(parts)


class _Stack(nn.Module):
    def __init__(self, t5: dict, decoder: bool):
        super().__init__()
        count = t5["num_decoder_layers"] if decoder else t5["num_layers"]
        self.block = nn.ModuleList([_Block(t5, decoder, first=i == 0) for i in range(count)])
        self.final_layer_norm = RMSNorm(t5["d_model"], t5["layer_norm_epsilon"])

    def relative_bias(self, query: torch.Tensor, key: torch.Tensor, bidirectional: bool,
                      t5: dict) -> torch.Tensor:
        """(1, H, Tq, Tk) float32 bias for query positions ``query`` and key
        positions ``key`` (1-D long tensors)."""
        table = self.block[0].layer[0].SelfAttention.relative_attention_bias
        buckets = relative_position_bucket(key[None, :] - query[:, None], bidirectional,
                                           t5["relative_attention_num_buckets"],
                                           t5["relative_attention_max_distance"])
        return table(buckets).float().permute(2, 0, 1).unsqueeze(0)


def relative_position_bucket(relative: torch.Tensor, bidirectional: bool, num_buckets: int,
                             max_distance: int) -> torch.Tensor:
    """T5's bucketing of (key - query) distances: exact up to half the
    buckets, logarithmic after, the last bucket from ``max_distance`` on."""
    buckets = torch.zeros_like(relative)
    if bidirectional:
        num_buckets //= 2
        buckets = buckets + (relative > 0).long() * num_buckets
        relative = relative.abs()
    else:
        relative = -torch.clamp(relative, max=0)
    exact = num_buckets // 2
    large = exact + (torch.log(relative.float() / exact) / math.log(max_distance / exact)
                     * (num_buckets - exact)).long()
    large = torch.clamp(large, max=num_buckets - 1)
    return buckets + torch.where(relative < exact, relative, large)


@dataclass
class DecoderState:
    """Everything one generation keeps between decoder steps."""
    cross_keys: list[torch.Tensor]       # per layer (B, H, L, d)
    cross_values: list[torch.Tensor]
    cross_bias: torch.Tensor             # (B, 1, 1, L): 0 or -inf where the prompt is padding
    self_keys: list[torch.Tensor]        # per layer (B, H, max_steps, d), filled up to ``step``
    self_values: list[torch.Tensor]
    self_bias: torch.Tensor              # (1, H, max_steps, max_steps) causal relative bias
    step: int = 0


class T5Runtime(nn.Module):
    """Encoder-decoder T5 for decoding; parameter names as in the checkpoint."""

    def __init__(self, config: LMConfig):
        super().__init__()
        self.config = config
        t5 = config.t5
        self.shared = Embedding(config.vocab_size, t5["d_model"])
        self.encoder = _Stack(t5, decoder=False)
        self.decoder = _Stack(t5, decoder=True)
        self.tied = config.tie_word_embeddings
        if not self.tied:
            self.lm_head = Linear(t5["d_model"], config.vocab_size)
        self.compute_dtype = torch.float32

    # -- weights ---------------------------------------------------------------
    @classmethod
    def from_state_dict(cls, config: LMConfig, state: dict[str, torch.Tensor], source: str | Path = "weights",
                        device: str | torch.device = "cpu") -> "T5Runtime":
        """Built without initialising and given ``state``'s tensors (no
        copy); copies of the shared embedding that a transformers state dict
        carries are ignored. Moved to ``device`` before it is made float32,
        so float16 weights cross to a GPU at half the size."""
        model = cls(config)
        own = set(model.state_dict())
        state = {k: v for k, v in state.items() if k in own or k not in _TIED_COPIES}
        ckpt.check_keys(model, state, source)
        model.load_state_dict(state, strict=True, assign=True)
        return model.to(device).float().eval()

    @classmethod
    def from_transformers(cls, hf_model) -> "T5Runtime":
        """The runtime of a transformers T5 (sharing its weights' storage)."""
        config = LMConfig(t5=hf_model.config.to_dict())
        state = {k: v.detach() for k, v in hf_model.state_dict().items()}
        if config.tie_word_embeddings:
            state.pop("lm_head.weight", None)
        return cls.from_state_dict(config, state, "the transformers model", next(hf_model.parameters()).device)

    def cast(self, dtype: torch.dtype) -> "T5Runtime":
        """Attention and first feed-forward projections in ``dtype``; the
        rest float32 (module docstring)."""
        for module in self.modules():
            if isinstance(module, Attention):
                module.to(dtype)
                if hasattr(module, "relative_attention_bias"):
                    module.relative_attention_bias.float()
            elif isinstance(module, FeedForward):
                for name in ("wi_0", "wi_1", "wi"):
                    if hasattr(module, name):
                        getattr(module, name).to(dtype)
        self.compute_dtype = dtype
        return self

    @property
    def device(self) -> torch.device:
        return self.shared.weight.device

    # -- forward ---------------------------------------------------------------
    @torch.no_grad()
    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, L) ids and 0/1 mask -> (B, L, d_model) float32 encoder states."""
        t5, dtype = self.config.t5, self.compute_dtype
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        bias = self.encoder.relative_bias(positions, positions, True, t5) + _padding_bias(attention_mask)
        x = self.shared(input_ids).float()
        for block in self.encoder.block:
            attn_layer, ff_layer = block.layer
            attn = attn_layer.SelfAttention
            h = attn_layer.layer_norm(x).to(dtype)
            x = x + attn.o(attn.attend(attn.split(attn.q(h)), attn.split(attn.k(h)), attn.split(attn.v(h)),
                                       bias)).float()
            x = ff_layer(x, dtype)
        return self.encoder.final_layer_norm(x)

    @torch.no_grad()
    def start(self, encoded: torch.Tensor, attention_mask: torch.Tensor, max_steps: int,
              copies: int = 1) -> DecoderState:
        """The cross-attention keys and values of ``encoded`` and an empty
        self-attention cache for up to ``max_steps`` decoder tokens, for
        ``copies`` decoder rows per prompt (consecutive): the keys and values
        are computed once per prompt and repeated, not once per row."""
        t5, dtype = self.config.t5, self.compute_dtype
        rows = encoded.shape[0] * copies
        memory = encoded.to(dtype)
        cross_k, cross_v, self_k, self_v = [], [], [], []
        for block in self.decoder.block:
            cross = block.layer[1].EncDecAttention
            cross_k.append(cross.split(cross.k(memory)).repeat_interleave(copies, 0))
            cross_v.append(cross.split(cross.v(memory)).repeat_interleave(copies, 0))
            shape = (rows, t5["num_heads"], max_steps, t5["d_kv"])
            self_k.append(torch.zeros(shape, dtype=dtype, device=encoded.device))
            self_v.append(torch.zeros(shape, dtype=dtype, device=encoded.device))
        positions = torch.arange(max_steps, device=encoded.device)
        causal = self.decoder.relative_bias(positions, positions, False, t5)
        return DecoderState(cross_k, cross_v, _padding_bias(attention_mask).repeat_interleave(copies, 0), self_k,
                            self_v, causal)

    @torch.no_grad()
    def decoder_step(self, tokens: torch.Tensor, state: DecoderState) -> torch.Tensor:
        """Logits (B, vocab, float32) for the next token after ``tokens``
        (B,), the last token of each row; advances ``state``."""
        dtype, t = self.compute_dtype, state.step
        if t >= state.self_bias.shape[-1]:
            raise RuntimeError("the decoder cache is full")
        x = self.shared(tokens).float()[:, None, :]
        self_bias = state.self_bias[:, :, t:t + 1, :t + 1]
        for i, block in enumerate(self.decoder.block):
            self_layer, cross_layer, ff_layer = block.layer
            attn = self_layer.SelfAttention
            h = self_layer.layer_norm(x).to(dtype)
            state.self_keys[i][:, :, t] = attn.k(h)[:, 0].view(-1, attn.heads, attn.d_kv)
            state.self_values[i][:, :, t] = attn.v(h)[:, 0].view(-1, attn.heads, attn.d_kv)
            x = x + attn.o(attn.attend(attn.split(attn.q(h)), state.self_keys[i][:, :, :t + 1],
                                       state.self_values[i][:, :, :t + 1], self_bias)).float()
            cross = cross_layer.EncDecAttention
            h = cross_layer.layer_norm(x).to(dtype)
            x = x + cross.o(cross.attend(cross.split(cross.q(h)), state.cross_keys[i], state.cross_values[i],
                                         state.cross_bias)).float()
            x = ff_layer(x, dtype)
        state.step += 1
        x = self.decoder.final_layer_norm(x)[:, 0]
        if self.tied:
            return F.linear(x * self.config.t5["d_model"] ** -0.5, self.shared.weight.float())
        return self.lm_head(x.to(self.lm_head.weight.dtype)).float()

    @torch.no_grad()
    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
               decoder_input_ids: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, T, vocab) of ``decoder_input_ids`` (which
        start with the decoder start token), one step at a time: what tests
        compare with transformers' forward."""
        state = self.start(self.encode(input_ids, attention_mask), attention_mask, decoder_input_ids.shape[1])
        return torch.stack([self.decoder_step(decoder_input_ids[:, t], state)
                            for t in range(decoder_input_ids.shape[1])], dim=1)


_TIED_COPIES = EMBEDDING_COPIES + ("lm_head.weight",)


def _padding_bias(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, 1, 1, L) float32: 0 where the mask is 1, -inf where it is 0."""
    keep = attention_mask.to(torch.bool)[:, None, None, :]
    return torch.zeros(keep.shape, device=keep.device).masked_fill(~keep, float("-inf"))


def load_runtime(folder: str | Path, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32) -> tuple[T5Runtime, LMConfig, Any]:
    """(runtime, config, tokenizer or None) of an lm/ folder (either layout of
    engine/lm/config.py), on ``device`` computing in ``dtype``."""
    folder = Path(folder)
    config = read_config(folder)
    state = ckpt.load_weights(folder / ckpt.MODEL_FILE)
    if config.vocab_size < 1:
        raise MotionFileError(folder / ckpt.CONFIG_FILE, "has no vocab_size; it was not written by save_lm")
    model = T5Runtime.from_state_dict(config, state, folder / ckpt.MODEL_FILE, device)
    if dtype != torch.float32:
        model.cast(dtype)
    return model, config, load_tokenizer(folder, config)
