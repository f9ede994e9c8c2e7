"""The language-model side of MotionGPT: motion tokens as words for a T5.

    vocab        MotionVocab: motion-token ids and strings, seconds <-> tokens
    tasks        Task, templates, render / parse_input / instruction, training examples
    tokenizer    MotionTextTokenizer: BPE (or a local FLAN-T5) + K + 3 motion tokens
    batch        examples -> padded tensors
    constraints  logits processors that only allow valid motions / plain text
    config       LMConfig (a T5Config's dict + the engine's settings), presets, the lm/ folder's files
    model        build_model, save_lm / load_lm (transformers' T5: training)
    runtime      T5Runtime, load_runtime: the same model for inference, plain torch
    generate     generate_motion_ids, generate_text: the decoding loop (one seed per row)
    benchmark    python -m engine.lm.benchmark

Importing this package stays light: the modules that need transformers load
it when they are imported themselves.
"""
from .tasks import Example, Task, instruction, make_training_examples, parse_input, pretrain_examples, render
from .vocab import FRAMES_PER_TOKEN, MotionVocab, seconds_to_tokens, tokens_to_seconds

__all__ = ["Example", "FRAMES_PER_TOKEN", "MotionVocab", "Task", "instruction", "make_training_examples",
           "parse_input", "pretrain_examples", "render", "seconds_to_tokens", "tokens_to_seconds"]
