"""Evaluation harness: retrieval evaluator, distribution / retrieval metrics,
caption metrics, motion-prediction and physical-plausibility metrics, and
report formatting.

Modules (import them directly; this package imports nothing heavy):

- :mod:`engine.eval.metrics`          R-precision, FID, MM-Dist, Diversity, MultiModality (numpy)
- :mod:`engine.eval.caption_metrics`  BLEU-1/4, ROUGE-L, CIDEr-D, constant-caption baseline (pure Python)
- :mod:`engine.eval.motion_metrics`   ADE/FDE/L2P, prediction and in-betweening baselines,
                                      foot skating, ground penetration, jerk (numpy)
- :mod:`engine.eval.retrieval_model`  the text-motion retrieval evaluator (torch)
- :mod:`engine.eval.train_evaluator`  contrastive training of that evaluator (torch)
- :mod:`engine.eval.report`           text tables and JSON
"""
