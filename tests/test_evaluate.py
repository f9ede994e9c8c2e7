"""``motiongpt evaluate``: the whole harness on the sample with the tiny model.

The shipped evaluator (models/evaluator) is used as it is: it stores its own
feature Mean/Std in its weights, so it reads raw features of any dataset
build, and its vocabulary comes from the same caption templates as the
sample's."""
from __future__ import annotations

import json
import math

import pytest

from engine.cli import main
from engine.errors import MotionGPTError
from engine.eval import evaluate as E
from engine.eval.motion_metrics import INBETWEEN_GAPS

ARGS = dict(split="train", max_clips=8, mm_texts=2, mm_repeats=2, seed=0, progress=False)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def results(tiny_bundle, built_sample):
    return E.run_evaluation(tiny_bundle, built_sample, device="cpu", **ARGS)


def _numbers(d):
    if isinstance(d, dict):
        for v in d.values():
            yield from _numbers(v)
    elif isinstance(d, (int, float)) and not isinstance(d, bool):
        yield d


def _finite(d: dict) -> bool:
    values = list(_numbers(d))
    return bool(values) and all(math.isfinite(v) for v in values)


def test_every_section_has_finite_model_and_reference_numbers(results):
    t2m = results["text_to_motion"]
    assert t2m["pairs"] == 8 and t2m["mm_texts"] == 2 and t2m["mm_repeats"] == 2
    for row in ("generated", "real"):
        for k in ("r_precision_top1", "r_precision_top2", "r_precision_top3", "fid", "mm_dist", "diversity"):
            assert math.isfinite(t2m[row][k]), (row, k)
        assert 0.0 <= t2m[row]["r_precision_top1"] <= t2m[row]["r_precision_top3"] <= 1.0
    assert t2m["generated"]["multimodality"] >= 0.0 and t2m["real"]["multimodality"] is None

    cap = results["captioning"]
    assert set(cap["model"]) == {"bleu1", "bleu4", "rouge_l", "cider_d"} and _finite(cap["model"])
    assert cap["constant_baseline"]["caption"] and _finite(cap["constant_baseline"])
    assert cap["examples"] and all(len(e["references"]) == 3 for e in cap["examples"])

    pred = results["prediction"]
    assert pred["clips"] >= 4
    for name in ("model", "constant_pose", "constant_velocity"):
        assert set(pred[name]) == {"ade_m", "fde_m", "l2p"} and _finite(pred[name])

    assert set(results["inbetween"]) == {str(g) for g in INBETWEEN_GAPS.values()}
    for gap, sec in results["inbetween"].items():
        assert sec["gap_frames_20fps"] == int(gap) and sec["clips"] >= 1
        for name in ("model", "linear", "slerp", "vq_oracle"):
            assert set(sec[name]) == {"ade_m", "l2p"} and _finite(sec[name])
        if sec["clips"] >= 2:
            paired = sec["paired"]["slerp"]["l2p"]
            assert paired["clips"] == sec["clips"]
            assert paired["diff"] == pytest.approx(sec["model"]["l2p"] - sec["slerp"]["l2p"])
            assert paired["diff_ci"][0] <= paired["diff"] <= paired["diff_ci"][1]

    for name in ("text_to_motion", "prediction", "inbetween"):
        sec = results["plausibility"][name]
        for row in ("generated", "real"):
            assert set(sec[row]) == {"foot_skate_ms", "foot_contact_fraction", "penetration_depth_m",
                                     "penetration_fraction", "jerk_ms3"} and _finite(sec[row])

    meta = results["meta"]
    assert meta["split"] == "train" and meta["clips"] == 8 and "20 fps" in meta["gap_note"]
    assert meta["reference_clips"] == 12          # the sample's other 12 clips (train split evaluated)


def test_real_rows_are_real(results):
    real = results["text_to_motion"]["real"]
    # the trained evaluator matches real motions to their own captions far above chance (1/8)
    assert real["r_precision_top3"] > 0.6
    # the in-betweening baselines reproduce the keys' neighbourhood: errors of centimetres, not metres
    assert results["inbetween"]["3"]["linear"]["ade_m"] < 0.2


def test_table_shows_every_section(results):
    text = E.format_results(results)
    for title in ("Text-to-motion", "Captioning", "Prediction", "In-betweening", "Physical plausibility"):
        assert title in text
    assert "gap 3 frames @20fps (= 5 @30fps)" in text and "ADE m vs constant velocity" in text
    assert "L2P vs VQ oracle" in text and "L2P model - SLERP, 95% CI" in text
    assert "ratio" in text and "baseline" in text


def test_cli_prints_tables_and_writes_same_json(results, tiny_bundle, built_sample, tmp_path, capsys):
    out = tmp_path / "eval" / "res.json"
    code = main(["evaluate", "--model", str(tiny_bundle), "--data", str(built_sample), "--split", "train",
                 "--max-clips", "8", "--mm-texts", "2", "--mm-repeats", "2", "--device", "cpu", "--quiet",
                 "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "Text-to-motion" in printed and "In-betweening" in printed and f"wrote {out}" in printed
    saved = json.loads(out.read_text())
    # same seed, same clips: the same numbers as the API run (deterministic)
    for section in ("text_to_motion", "captioning", "prediction", "inbetween", "plausibility"):
        assert saved[section] == json.loads(json.dumps(results[section])), section


def test_bad_split_is_a_clear_error(tiny_bundle, built_sample, capsys):
    assert main(["evaluate", "--model", str(tiny_bundle), "--data", str(built_sample), "--split", "test",
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "no 'test' split" in err and "train" in err


def test_too_few_clips_is_refused(built_sample):
    with pytest.raises(MotionGPTError, match="at least 2"):
        E.run_evaluation(data_dir=built_sample, split="train", max_clips=1, real_only=True, progress=False)


def test_real_only_needs_no_model(built_sample):
    res = E.run_evaluation(data_dir=built_sample, split="train", max_clips=6, real_only=True, progress=False)
    assert res["meta"]["model"] is None and res["text_to_motion"]["generated"] is None
    assert res["captioning"]["model"] is None and _finite(res["captioning"]["constant_baseline"])
    assert res["prediction"]["model"] is None and _finite(res["prediction"]["constant_pose"])
    assert all(sec["model"] is None and sec["vq_oracle"] is None and _finite(sec["slerp"])
               for sec in res["inbetween"].values())
    assert _finite(res["plausibility"]["inbetween"]["real"])
    assert "real data and baselines only" in E.format_results(res)


def test_default_data_is_built_once_from_the_shared_folder(sample_dir, tmp_path):
    notes = []
    cache = tmp_path / "cache" / "data"
    root = E.resolve_data_dir(None, "train", log=notes.append, progress=False, cache_dir=cache, source=sample_dir)
    assert root == cache and (cache / "train.txt").is_file() and (cache / "Mean.npy").is_file()
    assert not any(i.startswith("M") for i in (cache / "train.txt").read_text().split())   # no mirrors built
    assert "building" in notes[0]
    again = E.resolve_data_dir(None, "train", log=notes.append, progress=False, cache_dir=cache, source=sample_dir)
    assert again == cache and "using the dataset cache" in notes[-1]
    with pytest.raises(MotionGPTError, match="no 'val' split"):
        E.resolve_data_dir(None, "val", log=notes.append, cache_dir=cache, source=sample_dir)


def test_mirrors_skipped_and_helpers():
    assert E.original_ids(["a", "Ma", "Mb", "c"]) == ["a", "Mb", "c"]   # Mb has no original: kept
    assert E.prediction_context_frames(100) == 21 and E.prediction_context_frames(8) == 5
    f0, f1 = E.inbetween_window(60, 10)
    assert f1 - f0 - 1 == 10 and f0 == 24 and 60 - 1 - f1 == f0


def test_retrieval_set_scores_as_evaluate_does(results, built_sample):
    # what the benchmarks score other motions with: the same pairs, texts and shuffles as evaluate's real row
    split = results["meta"]["split"]
    scored = E.retrieval_set(built_sample, split, seed=results["meta"]["seed"], max_clips=ARGS["max_clips"])
    assert len(scored.pairs) == len(scored.real) == results["text_to_motion"]["pairs"]
    assert scored.r_precision(scored.real)["top3"] == pytest.approx(results["text_to_motion"]["real"]["r_precision_top3"])
