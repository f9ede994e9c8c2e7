"""The motion tokenizer network: a 1-D convolutional VQ-VAE (MotionGPT / T2M-GPT).

A (B, T, 263) normalised HumanML3D motion is encoded by strided 1-D
convolutions to one latent vector per ``stride_t ** down_t`` frames (4 with the
official settings), each latent is replaced by its nearest codebook entry, and
a mirrored decoder turns the code vectors back into features.

Parameter names follow the official MotionGPT checkpoint exactly, so its
``vae.*`` weights (with the ``vae.`` prefix removed) load with ``strict=True``:

    encoder.model.0            Conv1d(nfeats, width, 3, 1, 1)
    encoder.model.1            ReLU
    encoder.model.2 .. 1+down_t   Sequential[Conv1d(width, width, 2s, s, s//2), Resnet1D]
    encoder.model.2+down_t     Conv1d(width, output_emb_width, 3, 1, 1)
    decoder.model.0            Conv1d(output_emb_width, width, 3, 1, 1)
    decoder.model.1            ReLU
    decoder.model.2 .. 1+down_t   Sequential[Resnet1D, Upsample(s), Conv1d(width, width, 3, 1, 1)]
    decoder.model.2+down_t     Conv1d(width, width, 3, 1, 1)
    decoder.model.3+down_t     ReLU
    decoder.model.4+down_t     Conv1d(width, nfeats, 3, 1, 1)
    quantizer.codebook         (code_num, code_dim), the only quantizer state saved

Batching: the official ``decode`` reshapes its codes to a batch of one, so it
handles a single sequence per call. Ours encodes and decodes padded batches in
one pass and gives every sequence exactly what it would get alone: positions
past a sequence's end are zeroed before every convolution that looks at
neighbours, which is what the convolution's own zero padding does for an
unpadded sequence.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import MotionFileError, MotionGPTError, MotionShapeError


MODEL_TYPE = "motion_vqvae"
ARCHITECTURE = "MotionVQVAE"


@dataclass
class VQConfig:
    nfeats: int = 263
    code_num: int = 512
    code_dim: int = 512
    output_emb_width: int = 512
    down_t: int = 2
    stride_t: int = 2
    width: int = 512
    depth: int = 3
    dilation_growth_rate: int = 3
    mu: float = 0.99

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "mu":
                if not 0.0 < float(value) < 1.0:
                    raise MotionGPTError(f"VQ config: mu (EMA decay) must lie in (0, 1), got {value!r}")
            elif not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise MotionGPTError(f"VQ config: {f.name} must be a positive integer, got {value!r}")
        if self.code_dim != self.output_emb_width:
            raise MotionGPTError(f"VQ config: code_dim ({self.code_dim}) must equal output_emb_width "
                                 f"({self.output_emb_width}); the codebook quantizes the encoder output")
        if self.stride_t % 2:
            raise MotionGPTError(f"VQ config: stride_t must be even (the official value is 2), got {self.stride_t}")

    @property
    def downsample(self) -> int:
        """Frames per token (4 for the official model)."""
        return self.stride_t ** self.down_t

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json_dict(self) -> dict[str, Any]:
        """config.json's content: the fields beside a Hugging Face style
        ``model_type`` and ``architectures``."""
        return {"model_type": MODEL_TYPE, "architectures": [ARCHITECTURE], **self.to_dict()}

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> "VQConfig":
        """The config of a config.json: flat (:meth:`to_json_dict`) or the
        earlier ``{"model_type": ..., "vqvae": {fields}}``."""
        if not isinstance(data, dict):
            raise MotionGPTError("config.json must hold a JSON object")
        model_type = data.get("model_type", MODEL_TYPE)
        if model_type != MODEL_TYPE:
            raise MotionGPTError(f"describes a {model_type!r} model, not a motion tokenizer ({MODEL_TYPE})")
        if "vqvae" in data:
            return cls.from_dict(data["vqvae"])
        return cls.from_dict({k: v for k, v in data.items() if k not in ("model_type", "architectures")})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VQConfig":
        if not isinstance(data, dict):
            raise MotionGPTError(f"VQ config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise MotionGPTError(f"VQ config has unknown keys {', '.join(unknown)}; "
                                 f"expected only {', '.join(sorted(known))}")
        return cls(**data)

    @classmethod
    def official(cls) -> "VQConfig":
        """MotionGPT's released tokenizer (about 19.4 M parameters)."""
        return cls()

    @classmethod
    def small(cls) -> "VQConfig":
        """Recommended for training on a CPU or a small GPU (about 5.1 M parameters)."""
        return cls(code_num=512, code_dim=256, output_emb_width=256, width=256)

    @classmethod
    def tiny(cls) -> "VQConfig":
        """For tests and smoke runs only."""
        return cls(code_num=64, code_dim=32, output_emb_width=32, width=32)

    @classmethod
    def preset(cls, name: str) -> "VQConfig":
        makers = {"tiny": cls.tiny, "small": cls.small, "official": cls.official}
        if name not in makers:
            raise MotionGPTError(f"unknown VQ preset {name!r}; choose one of {', '.join(makers)}")
        return makers[name]()


# ----------------------------------------------------------------------------- masking helpers

def _length_mask(lengths: torch.Tensor | None, size: int, like: torch.Tensor) -> torch.Tensor | None:
    """(B, 1, size) 1/0 mask of valid positions, or None when nothing is padded."""
    if lengths is None:
        return None
    return (torch.arange(size, device=like.device)[None, :] < lengths[:, None]).to(like.dtype)[:, None, :]


def _apply(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return x if mask is None else x * mask


# ----------------------------------------------------------------------------- building blocks

class ResConv1DBlock(nn.Module):
    """x + conv2(relu(conv1(relu(x)))), conv1 dilated with kernel 3, conv2 1x1."""

    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.activation1 = nn.ReLU()
        self.conv1 = nn.Conv1d(width, width, 3, 1, padding=dilation, dilation=dilation)
        self.activation2 = nn.ReLU()
        self.conv2 = nn.Conv1d(width, width, 1, 1, 0)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = _apply(self.activation1(x), mask)
        h = self.conv2(self.activation2(self.conv1(h)))
        return x + h


class Resnet1D(nn.Module):
    """``depth`` residual blocks with dilations growth**d, largest first (9, 3, 1)."""

    def __init__(self, width: int, depth: int, growth: int):
        super().__init__()
        dilations = [growth ** d for d in range(depth)][::-1]
        self.model = nn.Sequential(*[ResConv1DBlock(width, d) for d in dilations])

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.model:
            x = block(x, mask)
        return x


class Encoder(nn.Module):
    def __init__(self, cfg: VQConfig):
        super().__init__()
        s = cfg.stride_t
        layers: list[nn.Module] = [nn.Conv1d(cfg.nfeats, cfg.width, 3, 1, 1), nn.ReLU()]
        for _ in range(cfg.down_t):
            layers.append(nn.Sequential(nn.Conv1d(cfg.width, cfg.width, s * 2, s, s // 2),
                                        Resnet1D(cfg.width, cfg.depth, cfg.dilation_growth_rate)))
        layers.append(nn.Conv1d(cfg.width, cfg.output_emb_width, 3, 1, 1))
        self.model = nn.Sequential(*layers)
        self.down_t, self.stride_t = cfg.down_t, s

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, nfeats, T) -> (B, output_emb_width, T / stride**down_t); ``lengths``
        (B,) marks the valid frames of a padded batch."""
        m = self.model
        x = m[1](m[0](_apply(x, _length_mask(lengths, x.shape[-1], x))))
        for i in range(self.down_t):
            down, res = m[2 + i][0], m[2 + i][1]
            x = down(_apply(x, _length_mask(lengths, x.shape[-1], x)))
            if lengths is not None:
                lengths = lengths // self.stride_t
            x = res(x, _length_mask(lengths, x.shape[-1], x))
        return m[2 + self.down_t](_apply(x, _length_mask(lengths, x.shape[-1], x)))


class Decoder(nn.Module):
    def __init__(self, cfg: VQConfig):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(cfg.output_emb_width, cfg.width, 3, 1, 1), nn.ReLU()]
        for _ in range(cfg.down_t):
            layers.append(nn.Sequential(Resnet1D(cfg.width, cfg.depth, cfg.dilation_growth_rate),
                                        nn.Upsample(scale_factor=cfg.stride_t, mode="nearest"),
                                        nn.Conv1d(cfg.width, cfg.width, 3, 1, 1)))
        layers += [nn.Conv1d(cfg.width, cfg.width, 3, 1, 1), nn.ReLU(), nn.Conv1d(cfg.width, cfg.nfeats, 3, 1, 1)]
        self.model = nn.Sequential(*layers)
        self.down_t, self.stride_t = cfg.down_t, cfg.stride_t

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, code_dim, N) -> (B, nfeats, N * stride**down_t); ``lengths`` (B,)
        counts the valid codes of a padded batch."""
        m, d = self.model, self.down_t
        x = m[1](m[0](_apply(x, _length_mask(lengths, x.shape[-1], x))))
        for i in range(d):
            res, up, conv = m[2 + i]
            x = up(res(x, _length_mask(lengths, x.shape[-1], x)))
            if lengths is not None:
                lengths = lengths * self.stride_t
            x = conv(_apply(x, _length_mask(lengths, x.shape[-1], x)))
        x = m[3 + d](m[2 + d](_apply(x, _length_mask(lengths, x.shape[-1], x))))
        return m[4 + d](_apply(x, _length_mask(lengths, x.shape[-1], x)))


class QuantizeEMAReset(nn.Module):
    """Nearest-neighbour codebook with exponential-moving-average updates.

    Only ``codebook`` is saved (a persistent buffer, as in the official
    checkpoint). The EMA statistics ``code_sum``/``code_count`` and the
    ``initialised`` flag are non-persistent buffers; the trainer saves them
    separately for resuming (``ema_state``/``load_ema_state``). Loading a
    codebook from a state dict marks the quantizer initialised with each code
    counted once, so fine-tuning a loaded model does not re-initialise it.

    Training mode, per batch: the first batch initialises the codebook from
    random encoder outputs; afterwards code sums and usage counts are updated
    with decay ``mu``, and codes whose EMA usage falls below 1 are replaced by
    random encoder outputs of the batch (dead-code reset). Eval mode never
    changes the codebook.
    """

    def __init__(self, code_num: int, code_dim: int, mu: float):
        super().__init__()
        self.code_num, self.code_dim, self.mu = code_num, code_dim, mu
        self.gather: Callable[[torch.Tensor], torch.Tensor] | None = None
        """Set by a trainer running in several processes: returns every
        process's rows, so each updates its codebook copy from the whole
        global batch and the copies stay equal (engine/train/distributed.py)."""
        self.register_buffer("codebook", torch.zeros(code_num, code_dim))
        self.register_buffer("code_sum", torch.zeros(code_num, code_dim), persistent=False)
        self.register_buffer("code_count", torch.zeros(code_num), persistent=False)
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool), persistent=False)

    # -- state ---------------------------------------------------------------
    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: ANN001
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if prefix + "codebook" in state_dict:
            with torch.no_grad():
                self.code_sum.copy_(self.codebook)
                self.code_count.fill_(1.0)
                self.initialised.fill_(True)

    def ema_state(self) -> dict[str, torch.Tensor]:
        return {"code_sum": self.code_sum, "code_count": self.code_count,
                "initialised": self.initialised.to(torch.uint8).reshape(1)}

    def load_ema_state(self, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            self.code_sum.copy_(state["code_sum"])
            self.code_count.copy_(state["code_count"])
            self.initialised.fill_(bool(state["initialised"].reshape(-1)[0]))

    # -- maths ---------------------------------------------------------------
    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        """(N, code_dim) -> (N,) index of the nearest code (squared L2)."""
        cb = self.codebook
        dist = (x.pow(2).sum(-1, keepdim=True) - 2.0 * x @ cb.t() + cb.pow(2).sum(-1)[None, :])
        return dist.argmin(dim=-1)

    def dequantize(self, idx: torch.Tensor) -> torch.Tensor:
        return F.embedding(idx, self.codebook)

    def _random_rows(self, x: torch.Tensor) -> torch.Tensor:
        """code_num random rows of x, repeated with a little noise when the batch
        holds fewer vectors than the codebook."""
        n = x.shape[0]
        if n < self.code_num:
            reps = math.ceil(self.code_num / n)
            x = x.repeat(reps, 1)
            x = x + torch.randn_like(x) * (0.01 / math.sqrt(self.code_dim))
        perm = torch.randperm(x.shape[0], device="cpu").to(x.device)
        return x[perm[: self.code_num]]

    @torch.no_grad()
    def _init_codebook(self, x: torch.Tensor) -> None:
        rows = self._random_rows(x)
        self.codebook.copy_(rows)
        self.code_sum.copy_(rows)
        self.code_count.fill_(1.0)
        self.initialised.fill_(True)

    @torch.no_grad()
    def _update(self, x: torch.Tensor, idx: torch.Tensor) -> None:
        onehot = torch.zeros(self.code_num, x.shape[0], device=x.device, dtype=x.dtype)
        onehot.scatter_(0, idx[None, :], 1.0)
        batch_sum = onehot @ x
        batch_count = onehot.sum(-1)
        random_rows = self._random_rows(x)
        self.code_sum.mul_(self.mu).add_(batch_sum, alpha=1.0 - self.mu)
        self.code_count.mul_(self.mu).add_(batch_count, alpha=1.0 - self.mu)
        used = (self.code_count >= 1.0).to(x.dtype)[:, None]
        updated = self.code_sum / self.code_count.clamp_min(1e-12)[:, None]
        self.codebook.copy_(used * updated + (1.0 - used) * random_rows)

    @staticmethod
    def perplexity(idx: torch.Tensor, code_num: int) -> torch.Tensor:
        counts = torch.bincount(idx, minlength=code_num).float()
        prob = counts / counts.sum().clamp_min(1.0)
        return torch.exp(-(prob * torch.log(prob + 1e-7)).sum())

    def forward(self, z: torch.Tensor, valid: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, code_dim, T) encoder output -> (quantized with straight-through
        gradient, commitment loss, perplexity). ``valid`` (B, T) bool marks
        the real positions of a padded batch: only those update the codebook
        and count in the loss and perplexity."""
        b, d, t = z.shape
        flat = z.permute(0, 2, 1).reshape(-1, d)
        keep = None if valid is None else valid.reshape(-1)
        real = flat if keep is None else flat[keep]
        pooled = self.training and self.gather is not None
        pool = self.gather(real.detach()) if pooled else real.detach()
        if self.training and not bool(self.initialised):
            self._init_codebook(pool)
        idx = self.quantize(flat.detach())
        real_idx = idx if keep is None else idx[keep]
        pool_idx = self.quantize(pool) if pooled else real_idx
        if self.training:
            self._update(pool, pool_idx)
        perplexity = self.perplexity(pool_idx, self.code_num)
        q = self.dequantize(idx)
        commit = F.mse_loss(real, (q if keep is None else q[keep]).detach())
        q = flat + (q - flat).detach()
        return q.view(b, t, d).permute(0, 2, 1).contiguous(), commit, perplexity


# ----------------------------------------------------------------------------- the model

def read_vq_config(folder: str | Path) -> VQConfig:
    """VQConfig of a tokenizer folder's config.json, with errors that name the file."""
    from .. import checkpoint as ckpt
    data = ckpt.read_config(folder)                  # names the file itself when it is missing or broken
    try:
        return VQConfig.from_json_dict(data)
    except (MotionGPTError, TypeError) as exc:
        raise MotionFileError(Path(folder) / ckpt.CONFIG_FILE, str(exc)) from exc


class MotionVQVAE(nn.Module):
    """Motion <-> discrete tokens. All inputs are normalised features
    ((x - Mean) / Std); one token per ``config.downsample`` frames."""

    def __init__(self, config: VQConfig | None = None):
        super().__init__()
        self.config = config or VQConfig.official()
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)
        self.quantizer = QuantizeEMAReset(self.config.code_num, self.config.code_dim, self.config.mu)

    @property
    def downsample(self) -> int:
        return self.config.downsample

    # -- files ------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | torch.device = "cpu") -> "MotionVQVAE":
        """The network of a folder holding config.json + model.safetensors
        (a tokenizer folder, vq/ of a model), loaded strictly, in eval mode."""
        from .. import checkpoint as ckpt
        folder = Path(folder)
        model = cls(read_vq_config(folder))
        ckpt.load_into(model, ckpt.load_weights(folder / ckpt.MODEL_FILE), folder / ckpt.MODEL_FILE)
        return model.to(device).eval()

    def save_pretrained(self, folder: str | Path) -> Path:
        """config.json + model.safetensors (what :meth:`from_pretrained` reads)."""
        from .. import checkpoint as ckpt
        return ckpt.save_checkpoint(folder, self, self.config.to_json_dict())

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _whole_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, nfeats) checked and cut to a whole number of tokens' frames."""
        self._check_input(x)
        t = x.shape[1] // self.downsample * self.downsample
        if t == 0:
            raise MotionShapeError(f"motion needs at least {self.downsample} frames, got {x.shape[1]}")
        return x[:, :t]

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 3 or x.shape[-1] != self.config.nfeats:
            raise MotionShapeError(f"motion must have shape (batch, frames, {self.config.nfeats}), got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, nfeats) -> (reconstruction (B, T', nfeats), commitment loss,
        perplexity), T' = T rounded down to a multiple of ``downsample``.

        ``lengths`` (B,) gives the valid frames of a padded batch (rounded down
        to a multiple of ``downsample``): the padding is masked out of every
        convolution and of the codebook statistics, and its reconstruction is
        meaningless (mask it out of the loss)."""
        x = self._whole_tokens(x).permute(0, 2, 1)
        t = x.shape[-1]
        if lengths is None:
            q, commit, perplexity = self._quantize(self.encoder(x))
            return self.decoder(q).permute(0, 2, 1), commit, perplexity
        frames = (torch.as_tensor(lengths, device=x.device).clamp(max=t) // self.downsample) * self.downsample
        if bool((frames < self.downsample).any()):
            raise MotionShapeError(f"every sequence needs at least {self.downsample} frames, got lengths {lengths}")
        n = frames // self.downsample
        z = self.encoder(x, frames)
        valid = torch.arange(z.shape[-1], device=x.device)[None, :] < n[:, None]
        q, commit, perplexity = self._quantize(z, valid)
        return self.decoder(q, n).permute(0, 2, 1), commit, perplexity

    def _quantize(self, z: torch.Tensor, valid: torch.Tensor | None = None):
        """The quantizer in float32 even under mixed-precision autocast: the
        nearest-code search and the codebook's running sums must not depend
        on bfloat16 rounding."""
        with torch.autocast(device_type=z.device.type, enabled=False):
            return self.quantizer(z.float(), valid)

    @torch.no_grad()
    def encode(self, x: torch.Tensor, lengths: torch.Tensor | Sequence[int] | None = None) -> list[torch.Tensor]:
        """(B, T, nfeats) padded batch -> one LongTensor of ``lengths[i] // 4``
        tokens per sequence (on the model's device). ``lengths`` defaults to T
        for every row. Never updates the codebook."""
        self._check_input(x)
        b, t, _ = x.shape
        if lengths is None:
            lengths = torch.full((b,), t, dtype=torch.long)
        lengths = torch.as_tensor(lengths, dtype=torch.long).reshape(-1)
        if lengths.shape[0] != b or bool((lengths < 0).any()) or bool((lengths > t).any()):
            raise MotionShapeError(f"lengths must give 0..{t} frames for each of the {b} sequences, got {lengths.tolist()}")
        n_tokens = lengths // self.downsample
        n_max = int(n_tokens.max()) if b else 0
        if n_max == 0:
            return [torch.zeros(0, dtype=torch.long, device=x.device) for _ in range(b)]
        frames = n_tokens * self.downsample
        x = x[:, : n_max * self.downsample]
        mask_lengths = None if bool((frames == x.shape[1]).all()) else frames.to(x.device)
        z = self.encoder(x.permute(0, 2, 1), mask_lengths)  # (B, D, n_max)
        idx = self.quantizer.quantize(z.permute(0, 2, 1).reshape(-1, z.shape[1])).view(b, -1)
        return [idx[i, : int(n_tokens[i])] for i in range(b)]

    @torch.no_grad()
    def reconstruct_without_codebook(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, nfeats) unpadded batch -> the decoder's output from the
        encoder's continuous latents, no nearest code taken: what the
        autoencoder keeps before quantization costs anything. If this scores
        no better than the coded round trip, a larger codebook cannot raise
        the tokenizer's ceiling (``benchmarks/tokenizer_ceiling.py``)."""
        return self.decoder(self.encoder(self._whole_tokens(x).permute(0, 2, 1))).permute(0, 2, 1)

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor | Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens -> (features (B, 4 * N_max, nfeats), lengths (B,) = 4 * N_i);
        frames past a sequence's length are zero.

        ``tokens`` is a (B, N) LongTensor or a list of 1-D LongTensors of any
        lengths; the list is padded and decoded in one batch, and every
        sequence's frames equal those of decoding it alone. (The official
        MotionGPT ``decode`` takes a single sequence only.)"""
        device = self.quantizer.codebook.device
        if torch.is_tensor(tokens) and tokens.ndim == 2:
            seqs = list(tokens)
        elif torch.is_tensor(tokens) and tokens.ndim == 1:
            seqs = [tokens]
        else:
            seqs = [torch.as_tensor(t) for t in tokens]
        if not seqs:
            raise MotionShapeError("decode got no token sequences")
        for s in seqs:
            if s.ndim != 1 or s.dtype.is_floating_point:
                raise MotionShapeError(f"each token sequence must be a 1-D integer tensor, got {s.dtype} {tuple(s.shape)}")
            if s.numel() and (int(s.min()) < 0 or int(s.max()) >= self.config.code_num):
                raise MotionShapeError(f"token ids must lie in 0..{self.config.code_num - 1}, "
                                       f"got {int(s.min())}..{int(s.max())}")
        n = torch.tensor([s.numel() for s in seqs], dtype=torch.long)
        n_max = int(n.max())
        if n_max == 0:
            raise MotionShapeError("decode needs at least one token")
        idx = torch.zeros(len(seqs), n_max, dtype=torch.long, device=device)
        for i, s in enumerate(seqs):
            idx[i, : s.numel()] = s.to(device=device, dtype=torch.long)
        q = self.quantizer.dequantize(idx).permute(0, 2, 1)  # (B, D, N)
        mask_lengths = None if bool((n == n_max).all()) else n.to(device)
        out = self.decoder(q, mask_lengths).permute(0, 2, 1)
        frames = n * self.downsample
        if mask_lengths is not None:  # zero the padding frames
            out = out * _length_mask(frames.to(device), out.shape[1], out).permute(0, 2, 1)
        return out, frames
