"""Text + motion tokenizer for the language model.

Two kinds, both ending in ``K + 3`` motion tokens with contiguous ids so that
``lm_id = motion_offset + motion_id``:

* ``bpe`` (built here, offline): a whitespace-and-punctuation BPE of a few
  thousand pieces trained with the ``tokenizers`` library on the captions
  and the task templates. It normalises (compatibility decomposition,
  accents stripped, lower case, curly quotes and dashes made plain, repeated
  ``!?.,`` collapsed) and splits on whitespace and punctuation, so "A Person
  WALKS!!" and "a person walks !" give the same ids. ids 0, 1, 2 are
  ``<pad>``, ``</s>``, ``<unk>`` as in T5.
* ``t5``: a user's local FLAN-T5 tokenizer folder (32100 text tokens) plus the
  motion tokens, the layout of the official MotionGPT checkpoint
  (32100 + 515 for K = 512).

Saved folders are reloaded from tokenizer.json with the ``tokenizers`` library
alone (:class:`TokenizerFile`, the same ids as transformers'
``PreTrainedTokenizerFast(tokenizer_file=...)``), which keeps the pipeline
stored there (a T5 class would rebuild its own normaliser and drop ours) and
keeps transformers out of inference.
"""
from __future__ import annotations

import heapq
import json
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import MotionFileError, MotionGPTError
from .vocab import TOKEN_RE, MotionVocab

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"
PAD_ID, EOS_ID, UNK_ID = 0, 1, 2
META_FILE = "motion_tokenizer.json"
TOKENIZER_FILE = "tokenizer.json"
FORMAT_VERSION = 1
HF_TOKENIZER_CONFIG = {"tokenizer_class": "PreTrainedTokenizerFast", "pad_token": PAD, "eos_token": EOS,
                       "unk_token": UNK}
"""What tokenizer_config.json must say for ``AutoTokenizer`` (transformers 4
and 5) to load tokenizer.json as it is."""

_WORD_END = "</w>"
# Always in the vocabulary, inside words and at word ends, so that no common
# character becomes <unk> just because the captions lacked it.
_ALPHABET = list("abcdefghijklmnopqrstuvwxyz0123456789") + list(".,!?;:'\"-()/%&+")


def _normalizer():
    from tokenizers import Regex, normalizers
    steps = [normalizers.NFKD(), normalizers.StripAccents(), normalizers.Lowercase()]
    for fancy, plain in (("[\u2018\u2019\u201a\u2032`]", "'"), ("[\u201c\u201d\u201e\u2033]", '"'),
                         ("[\u2010-\u2015\u2212]", "-")):
        steps.append(normalizers.Replace(Regex(fancy), plain))
    for mark in "!?.,":
        steps.append(normalizers.Replace(Regex(re.escape(mark) + "{2,}"), mark))
    return normalizers.Sequence(steps)


def _pre_tokenizer():
    from tokenizers import pre_tokenizers
    return pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation("isolated")])


def _learn_merges(word_counts: dict[str, int], vocab_size: int, min_frequency: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Byte-pair merges over ``word_counts``, deterministically: the most
    frequent pair wins, ties go to the lexicographically smallest pair.
    (The ``tokenizers`` trainer breaks ties in hash order, so two runs on
    the same captions could give different ids.) Returns (alphabet, merges)."""
    words = sorted(word_counts)
    counts = [word_counts[w] for w in words]
    symbols = [list(w[:-1]) + [w[-1] + _WORD_END] for w in words]
    alphabet = set(_ALPHABET) | {c + _WORD_END for c in _ALPHABET}
    for syms in symbols:
        alphabet.update(syms)
        alphabet.update(c[:-len(_WORD_END)] if c.endswith(_WORD_END) else c for c in syms)
    alphabet = sorted(alphabet)
    pair_count: dict[tuple[str, str], int] = {}
    pair_words: dict[tuple[str, str], set[int]] = {}
    for wi, syms in enumerate(symbols):
        for pair in zip(syms[:-1], syms[1:]):
            pair_count[pair] = pair_count.get(pair, 0) + counts[wi]
            pair_words.setdefault(pair, set()).add(wi)
    heap = [(-c, pair) for pair, c in pair_count.items()]
    heapq.heapify(heap)
    merges: list[tuple[str, str]] = []
    budget = vocab_size - 3 - len(alphabet)
    while heap and len(merges) < budget:
        neg, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -neg:
            continue  # stale entry
        if -neg < min_frequency:
            break
        merges.append(pair)
        new = pair[0] + pair[1]
        touched: dict[tuple[str, str], int] = {}
        for wi in sorted(pair_words.pop(pair, ())):
            syms, c = symbols[wi], counts[wi]
            for old in zip(syms[:-1], syms[1:]):
                touched[old] = touched.get(old, 0) - c
            merged, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == pair[0] and syms[i + 1] == pair[1]:
                    merged.append(new)
                    i += 2
                else:
                    merged.append(syms[i])
                    i += 1
            symbols[wi] = merged
            for nxt in zip(merged[:-1], merged[1:]):
                touched[nxt] = touched.get(nxt, 0) + c
                pair_words.setdefault(nxt, set()).add(wi)
        pair_count.pop(pair, None)
        for other, delta in touched.items():
            if other == pair or delta == 0:
                continue
            value = pair_count.get(other, 0) + delta
            if value > 0:
                pair_count[other] = value
                heapq.heappush(heap, (-value, other))
            else:
                pair_count.pop(other, None)
                pair_words.pop(other, None)
    return alphabet, merges


def train_bpe(texts: Iterable[str], vocab_size: int = 3000, min_frequency: int = 2):
    """A ``tokenizers.Tokenizer`` (BPE, no motion tokens yet) learned from
    ``texts``; the same texts always give the same ids."""
    from tokenizers import Tokenizer, decoders, models, processors
    normalizer, pre = _normalizer(), _pre_tokenizer()
    word_counts: dict[str, int] = {}
    for text in texts:
        for word, _ in pre.pre_tokenize_str(normalizer.normalize_str(str(text))):
            word_counts[word] = word_counts.get(word, 0) + 1
    alphabet, merges = _learn_merges(word_counts, int(vocab_size), int(min_frequency))
    vocab = {PAD: PAD_ID, EOS: EOS_ID, UNK: UNK_ID}
    for piece in alphabet + [a + b for a, b in merges]:
        vocab.setdefault(piece, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=UNK, end_of_word_suffix=_WORD_END))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.decoder = decoders.BPEDecoder(suffix=_WORD_END)
    tok.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", pair=f"$A {EOS} $B {EOS}",
                                                       special_tokens=[(EOS, EOS_ID)])
    return tok


def _detokenize(text: str) -> str:
    """Undo the spaces the BPE decoder puts around punctuation."""
    text = re.sub(r"\s+([.,!?;:%)\]])", r"\1", text)
    text = re.sub(r"([(\[])\s+", r"\1", text)
    text = re.sub(r"\s*([-'/])\s*", r"\1", text)
    text = re.sub(r"(\d)\.\s+(\d)", r"\1.\2", text)
    return " ".join(text.split())


class MotionTextTokenizer:
    """A Hugging Face fast tokenizer whose last ``K + 3`` ids are motion tokens."""

    def __init__(self, hf_tokenizer, vocab: MotionVocab, kind: str = "bpe"):
        self.hf = hf_tokenizer
        self.vocab = vocab
        self.kind = kind
        first = hf_tokenizer.convert_tokens_to_ids(vocab.token_string(0))
        if first is None or first == hf_tokenizer.unk_token_id:
            raise MotionGPTError("the tokenizer has no motion tokens")
        self.motion_offset = int(first)
        self._check_layout()

    # layout ----------------------------------------------------------------
    def _check_layout(self) -> None:
        hf, v = self.hf, self.vocab
        ids = hf.convert_tokens_to_ids(v.token_strings())
        expected = list(range(self.motion_offset, self.motion_offset + v.num_tokens))
        if list(ids) != expected:
            raise MotionGPTError("motion tokens must have contiguous ids after the text tokens; "
                                 "this tokenizer's do not")
        if len(hf) != self.motion_offset + v.num_tokens:
            raise MotionGPTError(f"the tokenizer has {len(hf)} tokens, expected the motion tokens last "
                                 f"({self.motion_offset} + {v.num_tokens})")
        if hf.pad_token_id != PAD_ID or hf.eos_token_id != EOS_ID:
            raise MotionGPTError(f"pad and eos must be ids {PAD_ID} and {EOS_ID} as in T5; got "
                                 f"{hf.pad_token_id} and {hf.eos_token_id}")

    def __len__(self) -> int:
        return self.motion_offset + self.vocab.num_tokens

    @property
    def codebook_size(self) -> int:
        return self.vocab.codebook_size

    @property
    def pad_id(self) -> int:
        return PAD_ID

    @property
    def eos_id(self) -> int:
        return EOS_ID

    @property
    def unk_id(self) -> int:
        return int(self.hf.unk_token_id) if self.hf.unk_token_id is not None else UNK_ID

    @property
    def bom_id(self) -> int:
        return self.motion_offset + self.vocab.bom

    @property
    def eom_id(self) -> int:
        return self.motion_offset + self.vocab.eom

    @property
    def mask_id(self) -> int:
        return self.motion_offset + self.vocab.mask

    def text_token_ids(self) -> list[int]:
        """Ids a caption may be written with: every text piece, not pad,
        eos, unk or T5's sentinel ``<extra_id_*>`` tokens."""
        banned = {PAD_ID, EOS_ID, self.unk_id}
        for token, i in self.hf.get_added_vocab().items():
            if i < self.motion_offset and token.startswith("<extra_id_"):
                banned.add(i)
        return [i for i in range(self.motion_offset) if i not in banned]

    # ids -------------------------------------------------------------------
    def motion_ids_to_lm(self, ids) -> np.ndarray:
        """Motion-token ids (codes, BOM, EOM, mask: 0..K+2) -> LM ids."""
        arr = np.asarray(ids, dtype=np.int64)
        if arr.size and (arr.min() < 0 or arr.max() >= self.vocab.num_tokens):
            raise MotionGPTError(f"motion token ids must be in 0..{self.vocab.num_tokens - 1}")
        return arr + self.motion_offset

    def lm_to_motion_ids(self, lm_ids) -> np.ndarray:
        """LM ids of motion tokens -> motion-token ids; raises on any other id."""
        arr = np.asarray(lm_ids, dtype=np.int64) - self.motion_offset
        if arr.size and (arr.min() < 0 or arr.max() >= self.vocab.num_tokens):
            raise MotionGPTError("these LM ids are not all motion tokens")
        return arr

    def motion_from_lm(self, lm_ids, strict: bool = True) -> np.ndarray:
        """The codes of a generated motion: LM ids ``BOM code... EOM`` possibly
        preceded by the decoder start and followed by eos and padding.
        strict: exactly that shape with at least one code, else MotionParseError."""
        from .vocab import MotionParseError
        seq = [int(i) for i in np.asarray(lm_ids).reshape(-1)]
        lo, hi = self.motion_offset, self.motion_offset + self.codebook_size
        try:
            start = seq.index(self.bom_id) + 1
        except ValueError:
            if strict:
                raise MotionParseError("the generated sequence has no begin-of-motion token") from None
            start = 0
        try:
            end = seq.index(self.eom_id, start)
        except ValueError:
            if strict:
                raise MotionParseError("the generated motion is not closed by an end-of-motion token") from None
            end = len(seq)
        body = seq[start:end]
        if strict:
            head = seq[:start - 1]
            tail = seq[end + 1:]
            if any(i != PAD_ID for i in head):
                raise MotionParseError("tokens before the begin-of-motion token")
            if tail and (tail[0] != EOS_ID or any(i != PAD_ID for i in tail[1:])):
                raise MotionParseError("tokens after the end-of-motion token other than eos and padding")
            if not body or any(not lo <= i < hi for i in body):
                raise MotionParseError("the generated motion is empty or holds non-motion tokens")
        return np.asarray([i - lo for i in body if lo <= i < hi], dtype=np.int64)

    # encoding --------------------------------------------------------------
    def encode_prompt(self, text: str) -> list[int]:
        """Ids of a task input (or target) that may hold motion strings; ends
        with eos. Every ``<motion_id_i>`` becomes exactly one id."""
        if not isinstance(text, str):
            raise MotionGPTError(f"expected text, got {type(text).__name__}")
        ids = list(self.hf(text, add_special_tokens=True)["input_ids"])
        if not ids or ids[-1] != EOS_ID:
            ids.append(EOS_ID)
        wanted = [int(m) for m in TOKEN_RE.findall(text)]
        lo, hi = self.motion_offset, self.motion_offset + self.vocab.num_tokens
        got = [i - lo for i in ids if lo <= i < hi]
        if got != wanted:
            bad = [w for w in wanted if w >= self.vocab.num_tokens]
            if bad:
                raise MotionGPTError(f"motion token <motion_id_{bad[0]}> is outside this model's "
                                     f"{self.vocab.num_tokens} motion tokens (codebook {self.codebook_size})")
            raise MotionGPTError("motion strings in the prompt did not map one-to-one onto motion tokens")
        return ids

    def encode_prompts(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.encode_prompt(t) for t in texts]

    def encode_text(self, text: str) -> list[int]:
        """Ids of plain text (a caption), ending with eos."""
        if TOKEN_RE.search(text):
            raise MotionGPTError(f"text contains motion token strings; use encode_prompt: {text[:60]!r}")
        return self.encode_prompt(text)

    def decode_text(self, ids) -> str:
        """Text of ``ids``, dropping special and motion tokens."""
        seq = [int(i) for i in np.asarray(ids).reshape(-1)]
        seq = [i for i in seq if 0 <= i < self.motion_offset]
        text = self.hf.decode(seq, skip_special_tokens=True)
        if self.kind == "bpe":
            text = _detokenize(text)
        return text.strip()

    def decode_prompt(self, ids) -> str:
        """Text of ``ids`` with motion strings kept (for inspecting examples)."""
        seq = [int(i) for i in np.asarray(ids).reshape(-1) if int(i) not in (PAD_ID, EOS_ID)]
        return self.hf.decode(seq, skip_special_tokens=False)

    def tokens(self, text: str) -> list[str]:
        return self.hf.convert_ids_to_tokens(self.encode_prompt(text))

    # files -----------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """tokenizer.json + tokenizer_config.json (which transformers'
        ``AutoTokenizer`` reads as a plain fast tokenizer: a T5 tokenizer class
        would rebuild its own normaliser and drop ours) + motion_tokenizer.json."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.hf.save_pretrained(str(folder))
        config = {**TokenizerFile.read_config(folder), **HF_TOKENIZER_CONFIG}
        (folder / TokenizerFile.CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        meta = {"format_version": FORMAT_VERSION, "kind": self.kind, "codebook_size": self.codebook_size,
                "motion_offset": self.motion_offset, "vocab_size": len(self)}
        (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "MotionTextTokenizer":
        """A saved tokenizer, read with the ``tokenizers`` library alone
        (:class:`TokenizerFile`): no transformers import at inference."""
        folder = Path(folder)
        meta_path, tok_path = folder / META_FILE, folder / TOKENIZER_FILE
        for path in (meta_path, tok_path):
            if not path.is_file():
                raise MotionFileError(path, "not found; is this a tokenizer folder saved by MotionGPT?")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            codebook = int(meta["codebook_size"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise MotionFileError(meta_path, f"is not a valid tokenizer description ({exc})") from exc
        try:
            hf = TokenizerFile.from_folder(folder)
        except Exception as exc:  # tokenizers raises its own exception types
            raise MotionFileError(tok_path, f"could not be read as a tokenizer ({exc})") from exc
        try:
            tok = cls(hf, MotionVocab(codebook), kind=str(meta.get("kind", "bpe")))
        except MotionGPTError as exc:
            raise MotionFileError(folder, str(exc)) from exc
        if "motion_offset" in meta and int(meta["motion_offset"]) != tok.motion_offset:
            raise MotionFileError(folder, f"motion tokens start at {tok.motion_offset}, "
                                          f"but {META_FILE} says {meta['motion_offset']}")
        return tok

    @classmethod
    def from_t5_folder(cls, folder: str | Path, codebook_size: int) -> "MotionTextTokenizer":
        """A local (FLAN-)T5 tokenizer folder plus the motion tokens, the layout
        of the official MotionGPT model. Never touches the network."""
        from transformers import AutoTokenizer
        folder = Path(folder)
        if not folder.is_dir():
            raise MotionFileError(folder, "is not a folder; give the local folder of a T5 tokenizer")
        try:
            hf = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        except Exception as exc:
            raise MotionFileError(folder, f"could not be loaded as a T5 tokenizer ({exc})") from exc
        if not getattr(hf, "is_fast", False):
            raise MotionFileError(folder, "needs a fast tokenizer (tokenizer.json)")
        vocab = MotionVocab(codebook_size)
        _add_motion_tokens(hf, vocab)
        return cls(hf, vocab, kind="t5")


class TokenizerFile:
    """The part of transformers' ``PreTrainedTokenizerFast`` that
    :class:`MotionTextTokenizer` uses, over a ``tokenizers.Tokenizer`` read
    from a saved folder. Why: importing transformers takes longer than
    importing torch, and inference needs nothing else from it. Gives the
    same ids and text as ``PreTrainedTokenizerFast(tokenizer_file=...)``
    (tests/test_lm_tokenizer.py compares them)."""

    CONFIG_FILE = "tokenizer_config.json"

    def __init__(self, backend, config: dict | None = None):
        self.backend = backend
        self.config = dict(config or {})
        self.pad_token = _token_text(self.config.get("pad_token"), PAD)
        self.eos_token = _token_text(self.config.get("eos_token"), EOS)
        self.unk_token = _token_text(self.config.get("unk_token"), UNK)
        # registered as special tokens, as PreTrainedTokenizerFast does (ids unchanged: they exist)
        from tokenizers import AddedToken
        backend.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                    for t in (self.pad_token, self.eos_token, self.unk_token)])
        self._clean_up = (bool(self.config.get("clean_up_tokenization_spaces", False))
                          and type(backend.model).__name__ != "BPE")   # transformers skips it for BPE too

    @classmethod
    def read_config(cls, folder: str | Path) -> dict:
        """A folder's tokenizer_config.json ({} when it has none)."""
        path = Path(folder) / cls.CONFIG_FILE
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    @classmethod
    def from_folder(cls, folder: str | Path) -> "TokenizerFile":
        from tokenizers import Tokenizer
        return cls(Tokenizer.from_file(str(Path(folder) / TOKENIZER_FILE)), cls.read_config(folder))

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        return {"input_ids": self.backend.encode(text, add_special_tokens=add_special_tokens).ids}

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        text = self.backend.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)
        return _clean_up_spaces(text) if self._clean_up else text

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]):
        if isinstance(tokens, str):
            found = self.backend.token_to_id(tokens)
            return self.unk_token_id if found is None else found
        return [self.convert_tokens_to_ids(t) for t in tokens]

    def convert_ids_to_tokens(self, ids):
        if isinstance(ids, (int, np.integer)):
            return self.backend.id_to_token(int(ids))
        return [self.backend.id_to_token(int(i)) for i in ids]

    def get_added_vocab(self) -> dict[str, int]:
        return {t.content: i for i, t in sorted(self.backend.get_added_tokens_decoder().items())}

    def get_vocab(self) -> dict[str, int]:
        return self.backend.get_vocab(with_added_tokens=True)

    def __len__(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    @property
    def unk_token_id(self) -> int | None:
        return self.backend.token_to_id(self.unk_token)

    @property
    def pad_token_id(self) -> int | None:
        return self.backend.token_to_id(self.pad_token)

    @property
    def eos_token_id(self) -> int | None:
        return self.backend.token_to_id(self.eos_token)

    def save_pretrained(self, folder: str) -> None:
        folder_path = Path(folder)
        folder_path.mkdir(parents=True, exist_ok=True)
        self.backend.save(str(folder_path / TOKENIZER_FILE))
        config = {"backend": "tokenizers", **self.config, "pad_token": self.pad_token, "eos_token": self.eos_token,
                  "unk_token": self.unk_token}
        (folder_path / self.CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _token_text(value, default: str) -> str:
    """A special token as tokenizer_config.json stores it: a string or an
    AddedToken dict."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) and value else default


def _clean_up_spaces(text: str) -> str:
    """transformers' ``clean_up_tokenization`` (for tokenizers saved with
    ``clean_up_tokenization_spaces``)."""
    for spaced, plain in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                          (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(spaced, plain)
    return text


def _add_motion_tokens(hf, vocab: MotionVocab) -> None:
    from tokenizers import AddedToken
    existing = hf.convert_tokens_to_ids(vocab.token_string(0))
    if existing is not None and existing != hf.unk_token_id:
        return
    tokens = [AddedToken(t, normalized=False, special=False, lstrip=False, rstrip=False, single_word=False)
              for t in vocab.token_strings()]
    hf.add_tokens(tokens)


def build_tokenizer(texts: Iterable[str], codebook_size: int, vocab_size: int = 3000,
                    include_templates: bool = True) -> MotionTextTokenizer:
    """Train the BPE on ``texts`` (plus every task template) and add the
    ``codebook_size + 3`` motion tokens. ``vocab_size`` bounds the text part."""
    from transformers import PreTrainedTokenizerFast
    corpus = list(texts)
    if include_templates:
        from .tasks import template_texts
        corpus += template_texts()
    vocab = MotionVocab(codebook_size)
    backend = train_bpe(corpus, vocab_size=vocab_size)
    hf = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token=PAD, eos_token=EOS, unk_token=UNK)
    _add_motion_tokens(hf, vocab)
    return MotionTextTokenizer(hf, vocab, kind="bpe")
