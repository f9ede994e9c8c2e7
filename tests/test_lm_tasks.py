"""Motion vocabulary and task templates: every template renders and parses
back, masks and splits follow the rules."""
from __future__ import annotations

import json

import numpy as np
import pytest

from engine.errors import MotionGPTError
from engine.lm import tasks as T
from engine.lm.tasks import Task
from engine.lm.vocab import (FRAMES_PER_TOKEN, MotionParseError, MotionVocab, seconds_to_tokens,
                             tokens_to_seconds)

K = 512
V = MotionVocab(K)


@pytest.fixture(scope="module")
def captions(sample_dir) -> list[str]:
    out = []
    with open(sample_dir / "captions_sample.jsonl", encoding="utf-8") as fh:
        for line in fh:
            out += json.loads(line)["captions"]
    return out


# ------------------------------------------------------------------- vocab

def test_vocab_ids_and_strings():
    assert (V.bom, V.eom, V.mask, V.num_tokens) == (512, 513, 514, 515)
    assert V.token_string(7) == "<motion_id_7>"
    assert V.to_string([3, 0, 511]) == "<motion_id_512><motion_id_3><motion_id_0><motion_id_511><motion_id_513>"
    with pytest.raises(MotionGPTError):
        V.to_string([512])
    with pytest.raises(MotionGPTError):
        V.token_string(515)
    assert V.to_string([V.mask], allow_mask=True).count("<motion_id_514>") == 1


def test_vocab_parse_roundtrip_and_strict_errors():
    rng = np.random.default_rng(0)
    for n in (1, 2, 17, 50):
        ids = rng.integers(0, K, n)
        text = "Some words " + V.to_string(ids) + " trailing text"
        np.testing.assert_array_equal(V.parse(text), ids)
    bom, eom = "<motion_id_512>", "<motion_id_513>"
    bad = {
        "no BOM": "<motion_id_3>" + eom,
        "no EOM": bom + "<motion_id_3>",
        "text inside": bom + "<motion_id_3> walks <motion_id_4>" + eom,
        "mask inside": bom + "<motion_id_514>" + eom,
        "second BOM": bom + bom + "<motion_id_1>" + eom,
        "out of range": bom + "<motion_id_900>" + eom,
        "empty": bom + eom,
    }
    for why, text in bad.items():
        with pytest.raises(MotionParseError):
            V.parse(text)
    # whitespace between tokens is fine
    np.testing.assert_array_equal(V.parse(bom + " <motion_id_3>\n<motion_id_4> " + eom), [3, 4])
    np.testing.assert_array_equal(V.parse(bom + "<motion_id_514><motion_id_4>" + eom, allow_mask=True), [514, 4])


def test_vocab_lenient_parse_skips_junk():
    assert V.parse("<motion_id_3> junk <motion_id_900><motion_id_4>", strict=False).tolist() == [3, 4]
    assert V.parse("<motion_id_512><motion_id_5> x <motion_id_514><motion_id_513><motion_id_9>",
                   strict=False).tolist() == [5]
    assert V.parse("nothing here", strict=False).tolist() == []


def test_seconds_tokens():
    assert FRAMES_PER_TOKEN == 4
    assert seconds_to_tokens(5.0) == 25
    assert seconds_to_tokens(0.05) == 1
    assert tokens_to_seconds(25) == pytest.approx(5.0)
    for n in range(1, 60):
        assert seconds_to_tokens(tokens_to_seconds(n)) == n
    with pytest.raises(MotionGPTError):
        seconds_to_tokens(0)


# ---------------------------------------------------------------- templates

def _same_fields(a: dict, b: dict) -> bool:
    if set(a) != set(b):
        return False
    for key in a:
        if isinstance(a[key], np.ndarray) or isinstance(b[key], np.ndarray):
            if not np.array_equal(np.asarray(a[key]), np.asarray(b[key])):
                return False
        elif a[key] != b[key]:
            return False
    return True


def test_template_counts_and_slots():
    required = {
        Task.TEXT_TO_MOTION: {"caption"}, Task.MOTION_TO_TEXT: {"motion"}, Task.PREDICT: {"motion"},
        Task.INBETWEEN: {"motion"}, Task.INBETWEEN_SPAN: {"motion"}, Task.INBETWEEN_TEXT: {"caption", "motion"},
    }
    for task in Task:
        ts = T.TEMPLATES[task]
        assert len(ts) >= 6, task
        assert len(set(ts)) == len(ts)
        for t in ts:
            s = set(T.slots(t))
            assert required[task] <= s <= required[task] | ({"seconds"} if task is Task.TEXT_TO_MOTION else set())
    t2m = T.TEMPLATES[Task.TEXT_TO_MOTION]
    assert sum("{seconds}" in t for t in t2m) >= 3
    assert "{seconds}" not in t2m[0]


def test_every_template_renders_and_parses_back(captions):
    rng = np.random.default_rng(1)
    for task in Task:
        for index in range(len(T.TEMPLATES[task])):
            for trial in range(4):
                caption = captions[(index * 4 + trial) % len(captions)]
                n = int(rng.integers(3, 50))
                ids = rng.integers(0, K, n)
                ex = T.render(task, rng, caption=caption, motion_ids=ids, vocab=V, template=index)
                assert ex.task is task and ex.meta["template"] == index
                for vocab in (V, None):
                    got_task, fields, got_index = T.parse_input_template(ex.input_text, vocab)
                    assert got_task is task, (ex.input_text, got_task)
                    assert got_index == index
                    assert _same_fields(fields, ex.meta["fields"]), (ex.input_text, fields, ex.meta["fields"])
                # the public form
                assert T.parse_input(ex.input_text, V)[0] is task
                # targets parse strictly as motions (or are the caption)
                if task.outputs_motion:
                    np.testing.assert_array_equal(V.parse(ex.target_text), ex.meta["target_ids"])
                else:
                    assert ex.target_text == caption


def test_parse_tolerates_case_and_spacing(captions):
    ids = np.arange(5)
    ex = T.render(Task.MOTION_TO_TEXT, None, motion_ids=ids, vocab=V, template=0)
    noisy = "  " + ex.input_text.upper().replace("<MOTION_ID_", "<motion_id_").replace(": ", ":   ") + " "
    task, fields = T.parse_input(noisy, V)
    assert task is Task.MOTION_TO_TEXT and fields["motion"].tolist() == ids.tolist()
    with pytest.raises(MotionGPTError):
        T.parse_input("please dance for me", V)


def test_text_to_motion_seconds():
    rng = np.random.default_rng(2)
    ids = rng.integers(0, K, 17)
    seen_with, seen_without = 0, 0
    for _ in range(200):
        ex = T.render(Task.TEXT_TO_MOTION, rng, caption="a person walks.", motion_ids=ids, vocab=V)
        secs = ex.meta["fields"]["seconds"]
        if secs is None:
            seen_without += 1
        else:
            seen_with += 1
            assert secs == pytest.approx(tokens_to_seconds(17)) and seconds_to_tokens(secs) == 17
    assert seen_with > 30 and seen_without > 30
    ex = T.render(Task.TEXT_TO_MOTION, rng, caption="a person walks.", seconds=3.25)
    assert ex.meta["fields"]["seconds"] == pytest.approx(3.2) and ex.target_text is None
    # inference without a length never picks a template that needs one
    for _ in range(50):
        assert T.render(Task.TEXT_TO_MOTION, rng, caption="x").meta["fields"]["seconds"] is None


def test_masks_and_split_fractions():
    rng = np.random.default_rng(3)
    for n in range(3, 80):
        ids = rng.integers(0, K, n)
        # prediction: first ~20 % given
        ex = T.render(Task.PREDICT, rng, motion_ids=ids, vocab=V)
        k = len(ex.meta["fields"]["motion"])
        assert k == max(1, round(0.2 * n)) or (n < 5 and 1 <= k < n)
        np.testing.assert_array_equal(np.concatenate([ex.meta["fields"]["motion"], ex.meta["target_ids"]]), ids)
        # in-between: first and last ~25 % given, middle masked
        ex = T.render(Task.INBETWEEN, rng, motion_ids=ids, vocab=V)
        masked = ex.meta["fields"]["motion"]
        start, end = ex.meta["span"]
        assert np.all(masked[start:end] == V.mask) and not np.any(np.delete(masked, np.s_[start:end]) == V.mask)
        if n >= 6:
            assert start == round(0.25 * n) and n - end == round(0.25 * n)
        assert start >= 1 and end <= n - 1 and end > start
        assert ex.input_text.count("<motion_id_514>") == end - start == len(ex.meta["target_ids"])
        assert T.expected_tokens(Task.INBETWEEN, ex.meta["fields"], V) == end - start
        np.testing.assert_array_equal(T.assemble_motion(Task.INBETWEEN, ex.meta["fields"], ex.meta["target_ids"], V), ids)
        # random spans (also with a caption)
        for task in (Task.INBETWEEN_SPAN, Task.INBETWEEN_TEXT):
            ex = T.render(task, rng, caption="a person waves.", motion_ids=ids, vocab=V)
            start, end = ex.meta["span"]
            assert 0 <= start < end <= n
            assert max(1, round(0.1 * n)) <= end - start <= max(1, round(0.5 * n))
            assert ex.input_text.count("<motion_id_514>") == end - start
            np.testing.assert_array_equal(T.assemble_motion(task, ex.meta["fields"], V.parse(ex.target_text), V), ids)


def test_explicit_spans_and_inference_prompts():
    ids = np.arange(20)
    ex = T.render(Task.INBETWEEN_SPAN, None, motion_ids=ids, span=(0, 5), vocab=V)
    assert ex.meta["fields"]["motion"][:5].tolist() == [V.mask] * 5 and ex.meta["target_ids"].tolist() == list(range(5))
    # a prompt that already holds masks (joining two clips)
    joined = np.concatenate([[1, 2], [V.mask] * 6, [3, 4]])
    ex = T.render(Task.INBETWEEN, None, motion_ids=joined, vocab=V)
    assert ex.target_text is None and ex.meta["span"] == (2, 8)
    assert T.instruction(Task.INBETWEEN, motion_ids=joined, vocab=V) == ex.input_text
    with pytest.raises(MotionGPTError):
        T.render(Task.INBETWEEN, None, motion_ids=[1, V.mask, 2, V.mask], vocab=V)
    with pytest.raises(MotionGPTError):
        T.render(Task.INBETWEEN_SPAN, None, motion_ids=ids, span=(5, 25), vocab=V)
    # instruction() is deterministic: template 0, or the first with a length slot
    assert T.instruction(Task.TEXT_TO_MOTION, caption="a man jumps.") == "Generate a motion: a man jumps."
    with_len = T.instruction(Task.TEXT_TO_MOTION, caption="a man jumps.", seconds=4)
    assert T.parse_input(with_len) == (Task.TEXT_TO_MOTION, {"caption": "a man jumps.", "seconds": 4.0})
    p = T.instruction(Task.PREDICT, motion_ids=ids[:4], vocab=V)
    assert T.parse_input(p, V)[1]["motion"].tolist() == [0, 1, 2, 3]
    assert T.instruction(Task.PREDICT, motion_ids=ids, span=(4, 20), vocab=V) == p
    np.testing.assert_array_equal(T.assemble_motion(Task.PREDICT, {"motion": ids[:4]}, ids[4:], V), ids)
    m2t = T.instruction(Task.MOTION_TO_TEXT, motion_ids=ids, vocab=V)
    assert m2t.startswith("Describe this motion: <motion_id_512>")


def test_make_training_examples_and_bad_input():
    rng = np.random.default_rng(4)
    exs = T.make_training_examples("A person bows.", rng.integers(0, K, 30), rng, vocab=V)
    assert [e.task for e in exs] == list(Task)
    assert all(e.target_text for e in exs)
    short = T.make_training_examples("A person bows.", [5, 6], rng, vocab=V)
    assert Task.INBETWEEN not in [e.task for e in short] and Task.PREDICT in [e.task for e in short]
    only = T.make_training_examples("x", np.arange(10), rng, tasks=[Task.MOTION_TO_TEXT], vocab=K)
    assert [e.task for e in only] == [Task.MOTION_TO_TEXT]
    with pytest.raises(MotionGPTError):
        T.render(Task.TEXT_TO_MOTION, rng, caption="walk <motion_id_3>")
    with pytest.raises(MotionGPTError):
        T.render(Task.TEXT_TO_MOTION, rng, caption="  ")
    with pytest.raises(MotionGPTError):
        T.render(Task.MOTION_TO_TEXT, rng, motion_ids=[K], vocab=V)
    # a caption holding a slot name is not substituted twice
    ex = T.render(Task.INBETWEEN_TEXT, rng, caption="say {motion} now", motion_ids=np.arange(9), vocab=V)
    assert "say {motion} now" in ex.input_text


def test_pretrain_examples():
    rng = np.random.default_rng(5)
    ids = rng.integers(0, K, 40)
    exs = T.pretrain_examples("a person jumps.", ids, rng, vocab=V)
    assert [e.task for e in exs] == [Task.TEXT_TO_MOTION, Task.MOTION_TO_TEXT, Task.INBETWEEN_SPAN]
    assert exs[0].input_text == "a person jumps." and V.parse(exs[0].target_text).tolist() == ids.tolist()
    assert exs[1].target_text == "a person jumps."
    corrupt = exs[2]
    masked = V.parse(corrupt.input_text, allow_mask=True)
    target = V.parse(corrupt.target_text)
    assert np.count_nonzero(masked == V.mask) == len(target) == round(0.15 * 40)
    np.testing.assert_array_equal(ids[masked == V.mask], target)
    np.testing.assert_array_equal(masked[masked != V.mask], ids[masked != V.mask])
    for n in (2, 3, 7, 100):
        for _ in range(20):
            keep = T.corruption_mask(n, rng)
            assert 1 <= np.count_nonzero(~keep) <= n - 1
