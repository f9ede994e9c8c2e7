"""Tasks and their prompt templates: the one place that words them.

Every training example and every inference prompt is made here, so the
model sees at inference exactly the phrasing it was trained on.

Tasks (input -> target):

    TEXT_TO_MOTION  caption (+ optional length in seconds) -> motion
    MOTION_TO_TEXT  motion -> caption
    PREDICT         first ~20 % of a motion -> the rest of it
    INBETWEEN       first and last ~25 %, middle masked -> the middle
    INBETWEEN_SPAN  any one span masked -> that span
    INBETWEEN_TEXT  caption + one span masked -> that span (beyond MotionGPT:
                    "complete the masked motion so that <caption>")

Masked spans hold one mask token per missing motion token, so the prompt
fixes the length of the answer. Unlike MotionGPT, whose in-between target
repeats the whole motion, the target here is only the masked tokens, which
keeps the given context exact; :func:`assemble_motion` splices them back.

Templates use the slots {caption}, {motion} and {seconds}.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import MotionGPTError
from .vocab import TOKEN_RE, MotionVocab, seconds_to_tokens, tokens_to_seconds

PREDICT_FRACTION = 0.2
"""Share of a motion given as the prefix for PREDICT (MotionGPT's ratio)."""
INBETWEEN_FRACTION = 0.25
"""Share given at each end for INBETWEEN (MotionGPT's ratio)."""
SPAN_FRACTIONS = (0.1, 0.5)
"""A random INBETWEEN_SPAN / INBETWEEN_TEXT span covers this share of the motion."""


class Task(str, enum.Enum):
    TEXT_TO_MOTION = "t2m"
    MOTION_TO_TEXT = "m2t"
    PREDICT = "predict"
    INBETWEEN = "inbetween"
    INBETWEEN_SPAN = "inbetween_span"
    INBETWEEN_TEXT = "inbetween_text"

    @property
    def outputs_motion(self) -> bool:
        return self is not Task.MOTION_TO_TEXT

    @property
    def masked(self) -> bool:
        return self in (Task.INBETWEEN, Task.INBETWEEN_SPAN, Task.INBETWEEN_TEXT)


# In our own words; phrasing an animator might type. Each list is ordered so
# that template 0 is the plain one used by instruction().
TEMPLATES: dict[Task, tuple[str, ...]] = {
    Task.TEXT_TO_MOTION: (
        "Generate a motion: {caption}",
        "Animate this: {caption}",
        "Show me a character doing the following. {caption}",
        "Create an animation from this description: {caption}",
        "Make the character move like this: {caption}",
        "Turn this text into motion: {caption}",
        "Generate a {seconds} second motion: {caption}",
        "Animate the following for {seconds} seconds: {caption}",
        "Create a clip of about {seconds} seconds in which {caption}",
        "Motion, {seconds} seconds long: {caption}",
    ),
    Task.MOTION_TO_TEXT: (
        "Describe this motion: {motion}",
        "What is the character doing here? {motion}",
        "Write a caption for the animation {motion}",
        "Explain the movement in {motion}",
        "Give a one-sentence description of {motion}",
        "{motion} Describe the movement above.",
        "Caption this clip: {motion}",
    ),
    Task.PREDICT: (
        "Continue this motion: {motion}",
        "Predict what happens next after {motion}",
        "Here is the start of a motion, finish it: {motion}",
        "Extend the motion {motion}",
        "How does this movement go on? {motion}",
        "{motion} Continue the animation from here.",
        "Given the beginning {motion} generate the rest of the motion",
    ),
    Task.INBETWEEN: (
        "Fill in the middle of this motion: {motion}",
        "Generate the in-between frames: {motion}",
        "Connect the start and the end of this motion: {motion}",
        "Create a transition between the beginning and the ending of {motion}",
        "In-between this animation: {motion}",
        "{motion} Fill the gap between the first and last poses.",
        "Complete the missing middle part of {motion}",
    ),
    Task.INBETWEEN_SPAN: (
        "Fill in the masked part of this motion: {motion}",
        "Replace the masked tokens with motion: {motion}",
        "Repair the gap in this motion: {motion}",
        "Some frames are missing, complete them: {motion}",
        "{motion} Generate the missing section.",
        "Inpaint the masked segment of {motion}",
        "Reconstruct the hidden span of the motion {motion}",
    ),
    Task.INBETWEEN_TEXT: (
        "Complete the masked motion so that {caption} Motion: {motion}",
        "Fill in the gap of {motion} so that {caption}",
        "Edit the masked part of {motion} to match this description: {caption}",
        "Description: {caption} Fill the masked span of {motion}",
        "{motion} Complete the missing frames so the result shows: {caption}",
        "Make the masked section of {motion} follow the text: {caption}",
        "Inpaint {motion} according to: {caption}",
    ),
}

# Stage-1 pretraining: minimal prompts, the bare content.
PRETRAIN_TEMPLATES: dict[Task, str] = {
    Task.TEXT_TO_MOTION: "{caption}",
    Task.MOTION_TO_TEXT: "{motion}",
    Task.INBETWEEN_SPAN: "{motion}",
}

_SLOT_RE = re.compile(r"\{(caption|motion|seconds)\}")


def slots(template: str) -> tuple[str, ...]:
    return tuple(_SLOT_RE.findall(template))


def template_texts() -> list[str]:
    """The literal wording of every template (for training a tokenizer)."""
    return [_SLOT_RE.sub(" ", t).strip() for ts in TEMPLATES.values() for t in ts]


@dataclass
class Example:
    """One input/target pair. ``target_text`` is None for inference prompts.

    meta: ``template`` (index), ``fields`` (what parse_input gives back for
    input_text), ``target_ids`` (motion target as codes, or None), ``span``
    ((start, end) of the masked or predicted part in the full motion, or
    None), ``stage`` ("instruct" or "pretrain").
    """
    task: Task
    input_text: str
    target_text: str | None
    meta: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- rendering

def _fmt_seconds(seconds: float) -> str:
    value = round(float(seconds), 1)
    if not np.isfinite(value) or value <= 0:
        raise MotionGPTError(f"a motion length must be a positive number of seconds, got {seconds!r}")
    return f"{value:g}"


def _fill(template: str, values: dict[str, str]) -> str:
    # One pass, so a caption that contains "{motion}" is not substituted again.
    return _SLOT_RE.sub(lambda m: values[m.group(1)], template)


def _clean_caption(caption: str | None) -> str:
    if caption is None or not str(caption).strip():
        raise MotionGPTError("this task needs a caption (a text description of the motion)")
    caption = " ".join(str(caption).split())
    if TOKEN_RE.search(caption):
        raise MotionGPTError(f"a caption must not contain motion token strings: {caption[:60]!r}")
    return caption


def _vocab_for(vocab: MotionVocab | int | None) -> MotionVocab:
    if isinstance(vocab, MotionVocab):
        return vocab
    if vocab is None:
        raise MotionGPTError("rendering a motion needs the motion vocabulary (codebook size)")
    return MotionVocab(int(vocab))


def predict_split(n: int) -> int:
    """Tokens given as the prefix for PREDICT out of ``n``."""
    if n < 2:
        raise MotionGPTError(f"prediction needs a motion of at least 2 tokens, got {n}")
    return min(n - 1, max(1, int(round(PREDICT_FRACTION * n))))


def inbetween_span(n: int) -> tuple[int, int]:
    """The masked middle (start, end) for INBETWEEN out of ``n`` tokens."""
    if n < 3:
        raise MotionGPTError(f"in-betweening needs a motion of at least 3 tokens, got {n}")
    edge = max(1, int(round(INBETWEEN_FRACTION * n)))
    edge = min(edge, (n - 1) // 2)
    return edge, n - edge


def random_span(n: int, rng: np.random.Generator) -> tuple[int, int]:
    """A random span covering SPAN_FRACTIONS of ``n`` tokens (may touch either end)."""
    if n < 1:
        raise MotionGPTError("a span needs a motion of at least 1 token")
    lo = max(1, int(round(SPAN_FRACTIONS[0] * n)))
    hi = max(lo, int(round(SPAN_FRACTIONS[1] * n)))
    length = int(rng.integers(lo, hi + 1))
    start = int(rng.integers(0, n - length + 1))
    return start, start + length


def _check_span(span, n: int) -> tuple[int, int]:
    start, end = (int(v) for v in span)
    if not 0 <= start < end <= n:
        raise MotionGPTError(f"span {span} must satisfy 0 <= start < end <= {n}")
    return start, end


def _masked_input(vocab: MotionVocab, motion_ids, span, task: Task, rng) -> tuple[np.ndarray, np.ndarray | None, tuple[int, int]]:
    """(masked motion, target codes or None, span). ``motion_ids`` may already
    hold mask tokens (a prompt for inference), then the masked run is the span."""
    arr = vocab.check_ids(motion_ids, allow_mask=True)
    n = len(arr)
    masked_at = np.flatnonzero(arr == vocab.mask)
    if masked_at.size:
        if span is not None:
            raise MotionGPTError("give either a span or a motion with mask tokens, not both")
        start, end = int(masked_at[0]), int(masked_at[-1]) + 1
        if end - start != masked_at.size:
            raise MotionGPTError("the mask tokens of a motion must form one contiguous span")
        return arr, None, (start, end)
    if span is None:
        if task is Task.INBETWEEN:
            span = inbetween_span(n)
        else:
            if rng is None:
                raise MotionGPTError("a random span needs an rng (or pass span=(start, end))")
            span = random_span(n, rng)
    start, end = _check_span(span, n)
    masked = arr.copy()
    masked[start:end] = vocab.mask
    return masked, arr[start:end].copy(), (start, end)


def _pick(rng: np.random.Generator | None, options: Sequence[int]) -> int:
    if rng is None:
        return options[0]
    return int(options[int(rng.integers(len(options)))])


def render(task: Task | str, rng: np.random.Generator | None, caption: str | None = None,
           motion_ids=None, seconds: float | None = None, span: tuple[int, int] | None = None,
           vocab: MotionVocab | int | None = None, template: int | None = None) -> Example:
    """One example of ``task`` with a random template (template 0 when rng is None).

    motion_ids: the full motion as codes (for TEXT_TO_MOTION it is the
    target and may be None at inference). For the in-between tasks it may
    also be a prompt that already holds mask tokens. ``span`` picks the
    masked (in-between tasks) or predicted (PREDICT: span=(k, n)) part.
    ``vocab`` (a MotionVocab or the codebook size) is needed whenever a
    motion is written.
    """
    task = Task(task)
    options = list(range(len(TEMPLATES[task])))
    has_secs = [i for i in options if "seconds" in slots(TEMPLATES[task][i])]
    no_secs = [i for i in options if i not in has_secs]
    meta: dict[str, Any] = {"stage": "instruct", "target_ids": None, "span": None}
    values: dict[str, str] = {}
    fields: dict[str, Any] = {}
    target: str | None = None

    if task is Task.TEXT_TO_MOTION:
        caption = _clean_caption(caption)
        codes = None
        if motion_ids is not None:
            v = _vocab_for(vocab)
            codes = v.check_ids(motion_ids)
            if len(codes) == 0:
                raise MotionGPTError("the target motion is empty")
            target = v.to_string(codes)
            meta["target_ids"] = codes
        if template is None:
            if seconds is not None:
                pool = has_secs
            elif codes is not None:
                pool = options
            else:
                pool = no_secs
            template = _pick(rng, pool)
        if template in has_secs:
            if seconds is None:
                if codes is None:
                    raise MotionGPTError(f"template {template} needs a length in seconds")
                seconds = tokens_to_seconds(len(codes))
            values["seconds"] = _fmt_seconds(seconds)
            fields["seconds"] = float(values["seconds"])
        else:
            fields["seconds"] = None
        values["caption"] = fields["caption"] = caption

    elif task is Task.MOTION_TO_TEXT:
        v = _vocab_for(vocab)
        if motion_ids is None:
            raise MotionGPTError("describing a motion needs its token ids")
        codes = v.check_ids(motion_ids)
        if len(codes) == 0:
            raise MotionGPTError("the motion to describe is empty")
        values["motion"] = v.to_string(codes)
        fields["motion"] = codes
        if caption is not None:
            target = _clean_caption(caption)

    elif task is Task.PREDICT:
        v = _vocab_for(vocab)
        if motion_ids is None:
            raise MotionGPTError("prediction needs the motion (or its beginning)")
        codes = v.check_ids(motion_ids)
        n = len(codes)
        if span is None:
            k = predict_split(n)
        else:
            k, end = _check_span(span, n)
            if end != n or k < 1:
                raise MotionGPTError(f"a prediction span must run from k >= 1 to the end ({n}); got {span}")
        prefix = codes[:k]
        if k < n:
            meta["target_ids"] = codes[k:].copy()
            meta["span"] = (k, n)
            target = v.to_string(codes[k:])
        values["motion"] = v.to_string(prefix)
        fields["motion"] = prefix.copy()

    else:  # the three in-between tasks
        v = _vocab_for(vocab)
        if motion_ids is None:
            raise MotionGPTError(f"{task.value} needs a motion")
        masked, middle, (start, end) = _masked_input(v, motion_ids, span, task, rng)
        meta["span"] = (start, end)
        if middle is not None:
            meta["target_ids"] = middle
            target = v.to_string(middle)
        values["motion"] = v.to_string(masked, allow_mask=True)
        fields["motion"] = masked
        if task is Task.INBETWEEN_TEXT:
            values["caption"] = fields["caption"] = _clean_caption(caption)

    if template is None:
        template = _pick(rng, options)
    if not 0 <= int(template) < len(options):
        raise MotionGPTError(f"{task.value} has templates 0..{len(options) - 1}, not {template}")
    template = int(template)
    text = _fill(TEMPLATES[task][template], values)
    meta["template"] = template
    meta["fields"] = fields
    return Example(task, text, target, meta)


def instruction(task: Task | str, caption: str | None = None, motion_ids=None, seconds: float | None = None,
                span: tuple[int, int] | None = None, vocab: MotionVocab | int | None = None) -> str:
    """The inference prompt for ``task``: always the first template (the first
    one with a length slot when ``seconds`` is given). For TEXT_TO_MOTION,
    ``motion_ids`` is ignored; for PREDICT, ``motion_ids`` is the given beginning."""
    task = Task(task)
    if task is Task.TEXT_TO_MOTION:
        return render(task, None, caption=caption, seconds=seconds).input_text
    if task is Task.PREDICT:
        v = _vocab_for(vocab)
        codes = v.check_ids(motion_ids if motion_ids is not None else [])
        if span is not None:
            codes = codes[:_check_span(span, len(codes))[0]]
        if len(codes) == 0:
            raise MotionGPTError("prediction needs the beginning of a motion")
        return _fill(TEMPLATES[task][0], {"motion": v.to_string(codes)})
    return render(task, None, caption=caption, motion_ids=motion_ids, span=span, vocab=vocab, template=0).input_text


def drop_caption(input_text: str, caption: str) -> str:
    """``input_text`` with its caption taken out (the template and any length
    kept): the unconditional prompt of classifier-free guidance. Training
    drops captions with this same function, so the unconditional prompts
    the model saw and those it is given at inference are alike."""
    cleaned = " ".join(str(caption).split())
    at = input_text.rfind(cleaned) if cleaned else -1
    if at < 0:
        raise MotionGPTError("the caption is not part of this prompt")
    return " ".join((input_text[:at] + input_text[at + len(cleaned):]).split())


def make_training_examples(caption: str, motion_ids, rng: np.random.Generator,
                           tasks: Sequence[Task | str] = tuple(Task), *, vocab: MotionVocab | int) -> list[Example]:
    """One example per task (random template) from a (caption, codes) pair.
    Tasks a short motion cannot support (PREDICT below 2 tokens, INBETWEEN
    below 3) are left out rather than raising."""
    vocab = _vocab_for(vocab)
    codes = vocab.check_ids(motion_ids)
    n = len(codes)
    out = []
    for task in tasks:
        task = Task(task)
        if (task is Task.PREDICT and n < 2) or (task is Task.INBETWEEN and n < 3) or n < 1:
            continue
        out.append(render(task, rng, caption=caption, motion_ids=codes, vocab=vocab))
    return out


def pretrain_examples(caption: str, motion_ids, rng: np.random.Generator, *, vocab: MotionVocab | int,
                      corrupt_fraction: float = 0.15, mean_span: float = 3.0) -> list[Example]:
    """Stage-1 pairs with minimal prompts: caption -> motion, motion ->
    caption, and T5-style span corruption of the motion (about
    ``corrupt_fraction`` of the tokens masked in spans of mean length
    ``mean_span``; the target is the masked tokens in order)."""
    vocab = _vocab_for(vocab)
    codes = vocab.check_ids(motion_ids)
    caption = _clean_caption(caption)
    motion = vocab.to_string(codes)
    out = [
        Example(Task.TEXT_TO_MOTION, caption, motion,
                {"stage": "pretrain", "target_ids": codes, "span": None, "template": None, "fields": {}}),
        Example(Task.MOTION_TO_TEXT, motion, caption,
                {"stage": "pretrain", "target_ids": None, "span": None, "template": None, "fields": {}}),
    ]
    if len(codes) >= 2:
        keep = corruption_mask(len(codes), rng, corrupt_fraction, mean_span)
        masked = np.where(keep, codes, vocab.mask)
        out.append(Example(Task.INBETWEEN_SPAN, vocab.to_string(masked, allow_mask=True),
                           vocab.to_string(codes[~keep]),
                           {"stage": "pretrain", "target_ids": codes[~keep].copy(), "span": None,
                            "template": None, "fields": {"motion": masked}}))
    return out


def corruption_mask(n: int, rng: np.random.Generator, fraction: float = 0.15, mean_span: float = 3.0) -> np.ndarray:
    """Boolean keep-mask over ``n`` tokens with at least one and at most
    n - 1 tokens dropped, in random spans."""
    n_drop = int(np.clip(round(fraction * n), 1, n - 1))
    n_spans = int(np.clip(round(n_drop / mean_span), 1, n_drop))
    # split n_drop into n_spans positive parts and the kept tokens into n_spans + 1 parts
    cuts = np.sort(rng.choice(np.arange(1, n_drop), size=n_spans - 1, replace=False)) if n_spans > 1 else np.array([], int)
    drop_parts = np.diff(np.concatenate([[0], cuts, [n_drop]]))
    n_keep = n - n_drop
    keep_cuts = np.sort(rng.integers(0, n_keep + 1, size=n_spans))
    keep_parts = np.diff(np.concatenate([[0], keep_cuts, [n_keep]]))
    keep = np.ones(n, dtype=bool)
    pos = 0
    for i in range(n_spans):
        pos += int(keep_parts[i])
        keep[pos:pos + int(drop_parts[i])] = False
        pos += int(drop_parts[i])
    return keep


# ----------------------------------------------------------------- parsing

_CAPTION = r"(?P<caption>(?:(?!<motion_id_).)+?)"
_MOTION = r"(?P<motion>(?:\s*<motion_id_\d+>)+)"
_SECONDS = r"(?P<seconds>\d+(?:\.\d+)?)"


def _template_regex(template: str) -> re.Pattern:
    parts = []
    pos = 0
    for m in _SLOT_RE.finditer(template):
        parts.append(_literal(template[pos:m.start()]))
        parts.append({"caption": _CAPTION, "motion": _MOTION, "seconds": _SECONDS}[m.group(1)])
        pos = m.end()
    parts.append(_literal(template[pos:]))
    return re.compile(r"\s*" + "".join(parts) + r"\s*", re.IGNORECASE | re.DOTALL)


def _literal(text: str) -> str:
    # any run of whitespace in the template matches any run (or none next to a motion)
    return r"\s*".join(re.escape(w) for w in text.split(" ")) if text else ""


_PARSERS: list[tuple[Task, int, re.Pattern]] = sorted(
    ((task, i, _template_regex(t)) for task, ts in TEMPLATES.items() for i, t in enumerate(ts)),
    key=lambda item: (-len(slots(TEMPLATES[item[0]][item[1]])),
                      -len(_SLOT_RE.sub("", TEMPLATES[item[0]][item[1]]))),
)


def parse_input(text: str, vocab: MotionVocab | int | None = None) -> tuple[Task, dict[str, Any]]:
    """The task and fields of a prompt written by :func:`render`.

    Fields: caption (str), seconds (float or None, TEXT_TO_MOTION only) and
    motion (int64 codes; mask tokens included for the in-between tasks).
    Motion tokens are read as codes without a range check unless ``vocab``
    is given."""
    task, fields, _ = parse_input_template(text, vocab)
    return task, fields


def parse_input_template(text: str, vocab: MotionVocab | int | None = None) -> tuple[Task, dict[str, Any], int]:
    """As :func:`parse_input`, also giving the template index."""
    for task, index, pattern in _PARSERS:
        m = pattern.fullmatch(text)
        if m is None:
            continue
        fields: dict[str, Any] = {}
        groups = m.groupdict()
        if "caption" in groups:
            fields["caption"] = " ".join(groups["caption"].split())
        if task is Task.TEXT_TO_MOTION:
            fields["seconds"] = float(groups["seconds"]) if groups.get("seconds") else None
        if "motion" in groups:
            fields["motion"] = _parse_motion(groups["motion"], vocab, allow_mask=task.masked)
        return task, fields, index
    raise MotionGPTError(f"not a prompt this model knows: {text[:80]!r}")


def _parse_motion(text: str, vocab: MotionVocab | int | None, allow_mask: bool) -> np.ndarray:
    ids = [int(v) for v in TOKEN_RE.findall(text)]
    if vocab is None:
        if len(ids) < 2:
            raise MotionGPTError(f"a motion in a prompt needs BOM and EOM tokens: {text[:60]!r}")
        return np.asarray(ids[1:-1], dtype=np.int64)
    v = vocab if isinstance(vocab, MotionVocab) else MotionVocab(int(vocab))
    return v.parse(text, strict=True, allow_mask=allow_mask)


# ------------------------------------------------------------ using answers

def expected_tokens(task: Task | str, fields: dict[str, Any], vocab: MotionVocab | int) -> int | None:
    """Motion tokens the answer must have when the prompt fixes it (masked
    tasks: the mask count; TEXT_TO_MOTION with seconds), else None."""
    task = Task(task)
    v = vocab if isinstance(vocab, MotionVocab) else MotionVocab(int(vocab))
    if task.masked:
        return int(np.count_nonzero(np.asarray(fields["motion"]) == v.mask))
    if task is Task.TEXT_TO_MOTION and fields.get("seconds"):
        return seconds_to_tokens(fields["seconds"])
    return None


def assemble_motion(task: Task | str, fields: dict[str, Any], generated, vocab: MotionVocab | int) -> np.ndarray:
    """The whole motion from a prompt's fields and the generated codes:
    PREDICT prepends the given beginning, the in-between tasks put the
    generated codes in place of the masks, TEXT_TO_MOTION returns them."""
    task = Task(task)
    v = vocab if isinstance(vocab, MotionVocab) else MotionVocab(int(vocab))
    gen = v.check_ids(generated, what="generated")
    if task is Task.PREDICT:
        return np.concatenate([v.check_ids(fields["motion"]), gen])
    if task.masked:
        motion = v.check_ids(fields["motion"], allow_mask=True).copy()
        where = np.flatnonzero(motion == v.mask)
        if len(where) != len(gen):
            raise MotionGPTError(f"{len(gen)} generated tokens for {len(where)} masked ones")
        motion[where] = gen
        return motion
    if task is Task.TEXT_TO_MOTION:
        return gen
    raise MotionGPTError("motion-to-text answers are captions, not motions")
