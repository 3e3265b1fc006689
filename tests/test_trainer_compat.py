"""The training dataset's batched fetch (what `transformers.Trainer`'s DataLoader calls) equals per-clip items.

`transformers.Trainer` with the package's dataset and collator is checked for every method in `test_methods.py`.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def train_split(synthetic_dir):
    from videotext.datasets_scripts import load_prepared

    return load_prepared(synthetic_dir)["train"]


def test_batched_fetch_matches_per_clip_items(train_split):
    import numpy as np

    from videotext.training.data import FrameCache, VideoTextDataset

    dataset = VideoTextDataset(train_split, num_frames=4, train=True, seed=3, cache=FrameCache(8))
    indices = [5, 0, 2, 2]
    batched, single = dataset.__getitems__(indices), [dataset[i] for i in indices]
    assert [b["index"] for b in batched] == indices
    for b, s in zip(batched, single):
        assert b.keys() == s.keys() and b["text"] == s["text"] and b["video_id"] == s["video_id"]
        assert b["nouns"] == s["nouns"] and b["verbs"] == s["verbs"]
        np.testing.assert_array_equal(b["inputs"]["videos"], s["inputs"]["videos"])
