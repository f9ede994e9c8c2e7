import numpy as np

from engine.data.paraphrase import paraphrase_caption


def test_paraphrases_vary_but_keep_action_and_side():
    rng = np.random.default_rng(0)
    caption = "a tired person raises the left hand."
    outs = {paraphrase_caption(caption, rng) for _ in range(60)}
    assert len(outs) > 10
    assert all("left" in o.lower() and "hand" in o.lower() for o in outs)
    assert any("exhausted" in o or "weary" in o or "worn-out" in o for o in outs)


def test_paraphrase_is_reproducible_with_a_seed():
    a = [paraphrase_caption("someone walks forward sadly.", np.random.default_rng(5)) for _ in range(3)]
    b = [paraphrase_caption("someone walks forward sadly.", np.random.default_rng(5)) for _ in range(3)]
    assert a == b
