"""Synthetic fact accuracy: every generator paraphrase parses; each broken fact is caught alone; truths from disk."""

from __future__ import annotations

import itertools
import json

import pytest

from videotext.datasets_scripts import synthetic
from videotext.datasets_scripts.synthetic import (
    EVENT_KINDS,
    PHRASES,
    SECOND_CLAUSES,
    SIZE_SYNONYMS,
    TEMPLATES,
    build_specs,
    generate_synthetic,
)
from videotext.evaluation.synthetic_facts import FACT_KEYS, synthetic_caption_facts, synthetic_truths_for

ALL_ONE = {k: 1.0 for k in FACT_KEYS}
SPEC = {  # moving red star, colour change second, still green circle
    "shape": "star",
    "colour": "red",
    "size": "small",
    "events": ["left", ("colour", "blue")],
    "second": {"shape": "circle", "colour": "green"},
}


def facts(caption: str, truth: dict = SPEC) -> dict:
    out = synthetic_caption_facts([caption], [truth])
    assert out.pop("num_clips") == 1
    return out


def zeros(caption: str, truth: dict = SPEC) -> set[str]:
    return {k for k, v in facts(caption, truth).items() if v == 0.0}


def caption(spec: dict, template: int = 0, opts=(0, 0), size_word=None, clause: int = 0) -> str:
    return synthetic._build_caption(spec, template, opts, size_word or spec["size"], clause)["caption"]


def test_generator_captions_score_one():
    specs = build_specs(400, 5, 32, 8)
    preds = [c["caption"] for s in specs for c in s["captions"]]
    truths = [s for s in specs for _ in s["captions"]]
    assert synthetic_caption_facts(preds, truths) == {**ALL_ONE, "num_clips": len(preds)}
    assert {synthetic._event_name(s["events"][0]) for s in specs} == set(EVENT_KINDS) - {"fade"}


def test_every_paraphrase_combination_scores_one():
    """All templates x phrase options x size synonyms x second clauses, every event kind in both slots."""
    specs = [s for s in build_specs(300, 1, 32, 8) if s["second"] is not None]
    firsts = {synthetic._event_name(s["events"][0]): s for s in specs}
    seconds = {synthetic._event_name(s["events"][1]): s for s in specs}
    chosen = list({id(s): s for s in [*firsts.values(), *seconds.values()]}.values())
    assert set(firsts) | set(seconds) == set(EVENT_KINDS) and "fade" in seconds
    n_opts = len(PHRASES["left"])
    assert {len(v) for v in PHRASES.values()} == {n_opts}
    preds, truths = [], []
    for spec in chosen:
        for tpl, o1, o2, clause in itertools.product(
            range(len(TEMPLATES)), range(n_opts), range(n_opts), range(len(SECOND_CLAUSES))
        ):
            for size_word in SIZE_SYNONYMS[spec["size"]]:
                preds.append(caption(spec, tpl, (o1, o2), size_word, clause))
                truths.append(spec)
    assert synthetic_caption_facts(preds, truths) == {**ALL_ONE, "num_clips": len(preds)}


@pytest.mark.parametrize("template", range(len(TEMPLATES)))
def test_each_broken_fact_is_caught_alone(template):
    def broken(**change):
        return zeros(caption({**SPEC, **change}, template, (1, 2), None, template % 4))

    assert broken() == set()
    assert broken(shape="diamond") == {"shape"}
    assert broken(colour="yellow") == {"colour"}
    assert broken(size="large") == {"size"}
    assert broken(events=["left", ("colour", "cyan")]) == {"second_event", "events_in_order"}
    assert broken(events=["up", ("colour", "blue")]) == {"first_event", "events_in_order"}
    # both events named, in the wrong order: only the order is wrong
    assert broken(events=[("colour", "blue"), "left"]) == {"events_in_order"}


def test_ambiguity_rules():
    assert zeros("a little red pointy object goes left and then changes to blue") == set()  # adjective, synonym
    assert zeros("a small red star moves left, then turns blue next to a green circle") == set()
    assert zeros("a small red circle moves left, then turns blue next to a star") == {"shape"}  # first shape judged
    assert zeros("a small blue red star moves left, then turns blue") == {"colour"}
    assert zeros("a big small red star moves left, then turns blue") == {"size"}
    # the colour-change target is never the object's colour, even when it comes first
    assert zeros("after turning blue, a small red star moves left") == {"events_in_order"}
    assert zeros("a small red star moves left") == {"second_event", "events_in_order"}
    assert zeros("a small red star turns blue before moving left") == {"events_in_order"}
    assert zeros("") == set(FACT_KEYS)
    assert zeros("a small red star moves left, then turns blue, then spins") == set()  # first two events judged
    spin = {**SPEC, "events": ["spin", "fade"]}
    assert zeros("a small red star turns around, then vanishes", spin) == set()
    assert zeros("a small red star turns red, then vanishes", spin) == {"first_event", "events_in_order"}


def test_scores_are_shares_and_inputs_checked():
    preds = [caption(SPEC), caption({**SPEC, "shape": "cross"}), caption({**SPEC, "events": SPEC["events"][::-1]})]
    out = synthetic_caption_facts(preds, [SPEC] * 3)
    assert out["shape"] == pytest.approx(2 / 3) and out["events_in_order"] == pytest.approx(2 / 3)
    assert out["colour"] == out["first_event"] == 1.0 and out["num_clips"] == 3
    with pytest.raises(ValueError):
        synthetic_caption_facts(preds, [SPEC])
    with pytest.raises(ValueError):
        synthetic_caption_facts([], [])


def test_truths_for_prepared_split(tmp_path):
    from videotext.datasets_scripts import build_dataset

    raw = tmp_path / "raw"
    generate_synthetic(raw, num_videos=8, seed=4, size=32, num_frames=8, fps=4, workers=1, progress=False)
    specs = {s["video_id"]: s for s in build_specs(8, 4, 32, 8)}
    dd = build_dataset("synthetic", raw)
    seen = 0
    for split in dd.values():
        rows = list(split)
        truths = synthetic_truths_for(rows)
        assert truths is not None and len(truths) == len(rows)
        for row, truth in zip(rows, truths):
            spec = specs[row["video_id"]]
            assert truth == {k: spec[k] for k in ("shape", "colour", "size", "events")}
        preds = [c for row in rows for c in row["captions"]]
        per_caption = [t for row, t in zip(rows, truths) for _ in row["captions"]]
        assert synthetic_caption_facts(preds, per_caption) == {**ALL_ONE, "num_clips": len(preds)}
        # swapped events in every caption: order is always wrong, the events still named
        swapped = synthetic_caption_facts(
            [caption({**specs[r["video_id"]], "events": t["events"][::-1]}) for r, t in zip(rows, truths)], truths
        )
        assert swapped["events_in_order"] == 0.0 and swapped["first_event"] == swapped["shape"] == 1.0
        seen += len(rows)
    assert seen == 8
    ids = [row["video_id"] for row in dd["test"]]
    ann = json.loads((raw / "synthetic_annotations.json").read_text())
    assert synthetic_truths_for(ids, raw) == synthetic_truths_for(ids, ann) == synthetic_truths_for(dd["test"])
    # not synthetic: no annotations next to the videos, or clips it does not know
    assert synthetic_truths_for([{"video_id": "v", "video_path": str(tmp_path / "x" / "Videos" / "v.mp4")}]) is None
    assert synthetic_truths_for(["video999"], raw) is None
    assert synthetic_truths_for(ids) is None  # bare ids and no folder
