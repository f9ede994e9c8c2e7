"""Caption metrics for motion-to-text: BLEU-1/4, ROUGE-L and CIDEr-D.

Written from the definitions (Papineni et al. 2002; Lin 2004; Vedantam et
al. 2015) in the variants of the COCO caption toolkit that MotionGPT and
TM2T report, with these choices:

- tokenisation (:func:`tokenize`): lowercase, every run of characters that
  is not a letter or digit is a separator, so punctuation disappears and
  "bye-bye" becomes "bye bye" (COCO uses the PTB tokenizer; on plain
  English captions the two differ only around hyphens and apostrophes).
- BLEU is corpus-level: clipped n-gram matches and hypothesis n-gram counts
  are summed over the corpus before dividing; the brevity penalty compares
  the total hypothesis length with the total of the reference lengths
  closest to each hypothesis (ties: the shorter reference); the geometric
  mean uses uniform weights; no smoothing, so BLEU-4 is 0 when a corpus has
  no matching 4-gram.
- ROUGE-L is sentence-level, averaged over the corpus: precision and recall
  of the longest common subsequence, each the maximum over the references,
  combined as F = (1 + b^2) P R / (R + b^2 P) with b = 1.2 (COCO's value;
  pass ``beta=1`` for the balanced F1).
- CIDEr is CIDEr-D (COCO's default "CIDEr" score): n = 1..4, TF-IDF vectors
  with document frequencies counted over the reference sets of the corpus
  being scored (one document per motion), hypothesis counts clipped by the
  reference counts, a Gaussian length penalty exp(-(len_h - len_r)^2 / 72)
  (length in words), cosine similarity averaged over n and over references,
  times 10. Because the IDF comes from the evaluated corpus, CIDEr is only
  meaningful on many motions (with a single motion every IDF is 0), and
  the score is not bounded by 10 but is 10 for hypotheses identical to
  their single reference when no n-gram is shared across motions.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Sequence

_WORD = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lowercase words; punctuation and other symbols are separators."""
    return _WORD.findall(text.lower())


def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _check(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> None:
    if isinstance(hypotheses, str):
        raise TypeError("hypotheses must be a list of strings, one per motion, not a single string")
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference sets; need one set per hypothesis")
    if not hypotheses:
        raise ValueError("no hypotheses to score")
    for i, refs in enumerate(references):
        if isinstance(refs, str) or len(refs) == 0:
            raise ValueError(f"references[{i}] must be a non-empty list of strings")


def bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]], max_n: int = 4) -> float:
    """Corpus BLEU-``max_n`` in [0, 1] (see the module notes)."""
    _check(hypotheses, references)
    matches = [0] * max_n
    totals = [0] * max_n
    hyp_len = ref_len = 0
    for hyp, refs in zip(hypotheses, references):
        h = tokenize(hyp)
        rs = [tokenize(r) for r in refs]
        hyp_len += len(h)
        ref_len += min((abs(len(r) - len(h)), len(r)) for r in rs)[1]
        for n in range(1, max_n + 1):
            counts = _ngrams(h, n)
            max_ref: Counter = Counter()
            for r in rs:
                max_ref |= _ngrams(r, n)
            matches[n - 1] += sum(min(c, max_ref[g]) for g, c in counts.items())
            totals[n - 1] += max(len(h) - n + 1, 0)
    if hyp_len == 0 or min(matches) == 0:
        return 0.0
    log_p = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    bp = 1.0 if hyp_len > ref_len else math.exp(1.0 - ref_len / hyp_len)
    return bp * math.exp(log_p)


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence, one vectorised row per
    token of ``a``: row_i[j] = max(row_{i-1}[j-1] + 1 if a_i == b_j else
    row_{i-1}[j]) accumulated with a running maximum over j."""
    import numpy as np
    if not a or not b:
        return 0
    b_arr = np.asarray(b, dtype=object)
    row = np.zeros(len(b) + 1, dtype=np.int64)
    for tok in a:
        match = np.concatenate([[False], b_arr == tok])
        cand = np.where(match, np.concatenate([[0], row[:-1] + 1]), row)
        row = np.maximum.accumulate(cand)
    return int(row[-1])


def rouge_l(hypotheses: Sequence[str], references: Sequence[Sequence[str]], beta: float = 1.2) -> float:
    """Mean sentence ROUGE-L F-measure in [0, 1] (see the module notes)."""
    _check(hypotheses, references)
    scores = []
    for hyp, refs in zip(hypotheses, references):
        h = tokenize(hyp)
        prec = rec = 0.0
        for ref in refs:
            r = tokenize(ref)
            lcs = lcs_length(h, r)
            if h:
                prec = max(prec, lcs / len(h))
            if r:
                rec = max(rec, lcs / len(r))
        if prec > 0 and rec > 0:
            scores.append((1 + beta ** 2) * prec * rec / (rec + beta ** 2 * prec))
        else:
            scores.append(0.0)
    return sum(scores) / len(scores)


def _tfidf(counts: Counter, df: Counter, log_docs: float) -> tuple[list[dict], list[float]]:
    vec: list[dict] = [dict() for _ in range(4)]
    norm = [0.0] * 4
    for gram, tf in counts.items():
        n = len(gram) - 1
        w = tf * (log_docs - math.log(max(1.0, df[gram])))
        vec[n][gram] = w
        norm[n] += w * w
    return vec, [math.sqrt(x) for x in norm]


def cider_d(hypotheses: Sequence[str], references: Sequence[Sequence[str]], sigma: float = 6.0) -> float:
    """Corpus CIDEr-D (mean over motions, x10; see the module notes)."""
    _check(hypotheses, references)
    max_n = 4

    def grams(tokens: list[str]) -> Counter:
        out: Counter = Counter()
        for n in range(1, max_n + 1):
            out.update(_ngrams(tokens, n))
        return out

    ref_tokens = [[tokenize(r) for r in refs] for refs in references]
    ref_grams = [[grams(r) for r in refs] for refs in ref_tokens]
    df: Counter = Counter()
    for gs in ref_grams:
        df.update(set().union(*[g.keys() for g in gs]))
    log_docs = math.log(float(len(references)))

    total = 0.0
    for hyp, rtoks, rgrams in zip(hypotheses, ref_tokens, ref_grams):
        h = tokenize(hyp)
        hv, hn = _tfidf(grams(h), df, log_docs)
        score = 0.0
        for rt, rg in zip(rtoks, rgrams):
            rv, rn = _tfidf(rg, df, log_docs)
            penalty = math.exp(-((len(h) - len(rt)) ** 2) / (2.0 * sigma ** 2))
            sims = []
            for n in range(max_n):
                dot = sum(min(w, rv[n].get(g, 0.0)) * rv[n].get(g, 0.0) for g, w in hv[n].items())
                sims.append(dot / (hn[n] * rn[n]) * penalty if hn[n] > 0 and rn[n] > 0 else 0.0)
            score += sum(sims) / max_n
        total += score / len(rtoks) * 10.0
    return total / len(hypotheses)


def caption_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """BLEU-1, BLEU-4, ROUGE-L and CIDEr-D of a corpus, keys as printed."""
    return {
        "bleu1": bleu(hypotheses, references, 1),
        "bleu4": bleu(hypotheses, references, 4),
        "rouge_l": rouge_l(hypotheses, references),
        "cider_d": cider_d(hypotheses, references),
    }


def most_common_caption(references: Sequence[Sequence[str]]) -> str:
    """The reference caption (compared after tokenisation) that occurs most
    often over all reference sets; ties go to the first seen."""
    counts: Counter = Counter()
    first: dict[tuple, str] = {}
    for refs in references:
        for r in refs:
            key = tuple(tokenize(r))
            counts[key] += 1
            first.setdefault(key, r)
    if not counts:
        raise ValueError("no reference captions")
    best = max(counts.items(), key=lambda kv: kv[1])[0]  # max keeps the first of equal counts
    return first[best]


def constant_caption_baseline(references: Sequence[Sequence[str]]) -> dict:
    """Score the single most common reference caption as the prediction for
    every motion: the floor a captioning model has to beat. Returns the
    caption under "caption" and the scores of :func:`caption_scores`."""
    caption = most_common_caption(references)
    return {"caption": caption, **caption_scores([caption] * len(references), references)}
