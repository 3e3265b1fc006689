"""Synthetic benchmark: layout, official schemas, annotations true by construction, determinism, event order."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from videotext.datasets_scripts import synthetic
from videotext.datasets_scripts.synthetic import COLOURS, build_specs, content_space, generate_synthetic
from videotext.processing import load_video

N, SIZE, FRAMES, FPS = 48, 64, 32, 8
JSON_FILES = (
    "train_val_videodatainfo.json",
    "test_videodatainfo.json",
    "synthetic_annotations.json",
    "V2C_MSR-VTT_caption.json",
    "svad_annotations.jsonl",
    "category.txt",
)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+(?:-[a-z]+)?", text.lower())


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    stats = generate_synthetic(
        out, num_videos=N, seed=0, size=SIZE, num_frames=FRAMES, fps=FPS, workers=2, progress=False
    )
    return out, stats


@pytest.fixture(scope="module")
def ann(synth):
    out, _ = synth
    tv = json.loads((out / "train_val_videodatainfo.json").read_text())
    te = json.loads((out / "test_videodatainfo.json").read_text())
    side = json.loads((out / "synthetic_annotations.json").read_text())
    videos = tv["videos"] + te["videos"]
    sentences = tv["sentences"] + te["sentences"]
    caps: dict[str, list[dict]] = {}
    for s in sentences:
        caps.setdefault(s["video_id"], []).append(s)
    return {"tv": tv, "te": te, "side": side, "videos": videos, "sentences": sentences, "caps": caps}


def test_layout_and_official_schema(synth, ann):
    out, stats = synth
    for name in (*JSON_FILES, "stats.json"):
        assert (out / name).is_file(), name
    for part in (ann["tv"], ann["te"]):
        assert set(part) == {"info", "videos", "sentences"}
    assert len(ann["videos"]) == N
    splits = {}
    for i, v in enumerate(sorted(ann["videos"], key=lambda r: r["id"])):
        assert set(v) == {"category", "url", "video_id", "start time", "end time", "split", "id"}
        assert v["video_id"] == f"video{i}" and v["id"] == i
        assert v["end time"] == pytest.approx(FRAMES / FPS) and v["start time"] == 0.0
        splits[v["video_id"]] = v["split"]
        folder = "TestVideo" if v["split"] == "test" else "TrainValVideo"
        assert (out / folder / f"{v['video_id']}.mp4").is_file()
    assert {v["split"] for v in ann["tv"]["videos"]} == {"train", "validate"}
    assert {v["split"] for v in ann["te"]["videos"]} == {"test"}
    # split by index order, ~65/5/30 like MSR-VTT
    order = [splits[f"video{i}"] for i in range(N)]
    assert order == sorted(order, key=["train", "validate", "test"].index)
    counts = stats["clips_per_split"]
    assert counts["train"] == round(0.65 * N) and counts["test"] >= round(0.3 * N) - 1
    for s in ann["sentences"]:
        assert set(s) == {"caption", "video_id", "sen_id"}
    sen_ids = [s["sen_id"] for s in ann["sentences"]]
    assert len(set(sen_ids)) == len(sen_ids)
    cats = [line.split("\t") for line in (out / "category.txt").read_text().splitlines()]
    assert all(int(v["category"]) < len(cats) for v in ann["videos"])


def test_stats(synth, ann):
    out, stats = synth
    on_disk = json.loads((out / "stats.json").read_text())
    assert on_disk["num_videos"] == N and on_disk["num_captions"] == len(ann["sentences"])
    for key in (
        "vocabulary_size",
        "test_unique_canonical_caption_rate",
        "test_unique_caption_rate",
        "generation_time_s",
    ):
        assert key in on_disk
    assert stats["test_unique_canonical_caption_rate"] >= 0.95


def test_videos_decode(synth, ann):
    out, _ = synth
    for v in ann["videos"][:: max(1, N // 12)]:
        folder = "TestVideo" if v["split"] == "test" else "TrainValVideo"
        d = load_video(out / folder / f"{v['video_id']}.mp4", num_frames=FRAMES)
        assert d.total_frames == FRAMES
        assert d.frames.shape == (FRAMES, SIZE, SIZE, 3)
        assert d.fps == pytest.approx(FPS)


def test_captions_nouns_verbs(ann):
    side = ann["side"]
    for caps in ann["caps"].values():
        assert len(caps) >= 5
        assert len({c["caption"] for c in caps}) == len(caps)
        for c in caps:
            nv = side["sentences"][str(c["sen_id"])]
            w = set(words(c["caption"]))
            assert nv["nouns"] and nv["verbs"], c["caption"]
            assert set(nv["nouns"]) <= w and set(nv["verbs"]) <= w, (c["caption"], nv)


def test_description_keywords_commonsense(synth, ann):
    out, _ = synth
    side = ann["side"]["videos"]
    v2c = json.loads((out / "V2C_MSR-VTT_caption.json").read_text())
    svad = [json.loads(line) for line in (out / "svad_annotations.jsonl").read_text().splitlines()]
    assert len(side) == len(v2c) == len(svad) == N
    for vid, rec in side.items():
        desc_words = set(words(rec["description"]))
        assert 2 <= rec["description"].count(". ") + 1 <= 4
        assert rec["keywords"] and set(rec["keywords"]) <= desc_words
        for k in ("intention", "effect", "attribute"):
            assert rec[k] and all(isinstance(x, str) and x for x in rec[k])
        canon = ann["caps"][vid][0]["caption"]
        colour = words(canon)[2]
        assert colour in rec["attribute"] and colour in desc_words
        entries = v2c[vid]
        assert len(entries) == len(ann["caps"][vid])
        for entry, cap in zip(entries, ann["caps"][vid]):
            toks = entry["final_caption"]
            assert toks[0] == "<sos>" and toks[-1] == "<eos>"
            assert [t for t in toks[1:-1] if t.isalpha() or "-" in t] == words(cap["caption"])
            for k in ("intention", "effect", "attribute"):
                assert all(isinstance(raw, str) and isinstance(tk, list) for raw, tk in entry[k])
    for rec in svad:
        assert set(rec) >= {"clip_id", "video_path", "start", "end", "description", "keywords", "data_source", "split"}
        assert (out / rec["video_path"]).is_file()
        assert rec["data_source"] in ("primary", "auxiliary")
        assert rec["data_source"] == ("primary" if side[rec["clip_id"]]["num_objects"] == 1 else "auxiliary")
    assert {r["data_source"] for r in svad} == {"primary", "auxiliary"}


def test_test_split_uniqueness(ann):
    canon = [ann["caps"][v["video_id"]][0]["caption"] for v in ann["te"]["videos"]]
    assert len(set(canon)) / len(canon) >= 0.95
    specs = build_specs(600, 3, 32, 8)
    test = [s["captions"][0]["caption"] for s in specs if s["split"] == "test"]
    assert len(set(test)) / len(test) >= 0.95


def test_content_rules():
    space = content_space()
    assert len(space) > 5000 and len(set(space)) == len(space)
    assert len(synthetic.SHAPES) >= 5 and len(COLOURS) >= 6 and len(synthetic.SIZES) == 2
    assert len(synthetic.EVENT_KINDS) >= 6
    for shape, _colour, _size, e1, e2 in space:
        assert e1 != e2 and e1 != "fade"
        assert not (shape == "circle" and "spin" in (e1, e2))
    specs = build_specs(60, 0, 32, 8)
    assert {len(words(s["captions"][0]["caption"])) for s in specs}  # non-empty
    assert {s["second"] is None for s in specs} == {True, False}  # 1 and 2 objects


def test_determinism(synth, tmp_path):
    out, _ = synth
    again = tmp_path / "again"
    generate_synthetic(again, num_videos=N, seed=0, size=SIZE, num_frames=FRAMES, fps=FPS, workers=1, progress=False)
    for name in JSON_FILES:
        assert (out / name).read_bytes() == (again / name).read_bytes(), name
    for folder in ("TrainValVideo", "TestVideo"):
        for f in sorted((out / folder).glob("*.mp4"))[:10]:
            assert f.read_bytes() == (again / folder / f.name).read_bytes(), f.name
    a = [s["captions"][0]["caption"] for s in build_specs(N, 0, SIZE, FRAMES)]
    b = [s["captions"][0]["caption"] for s in build_specs(N, 1, SIZE, FRAMES)]
    assert a != b


MOVES = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
FIRST_EVENT = re.compile(
    r"^a (?:small|large) (\w+) (\w+) (moves left|moves right|moves up|moves down|grows|shrinks), then (.+)$"
)


def _mask(frames: np.ndarray, colour: str) -> np.ndarray:
    ref = np.array(COLOURS[colour], float)
    return np.abs(frames.astype(float) - ref).sum(-1) < 90


def test_first_event_happens_in_first_half(synth, ann):
    """Canonical caption 'X <event1>, then <event2>': event 1 is visible over the first half of the frames."""
    out, _ = synth
    checked = {"move": 0, "size": 0}
    for v in ann["videos"]:
        vid = v["video_id"]
        if ann["side"]["videos"][vid]["num_objects"] != 1:
            continue
        m = FIRST_EVENT.match(ann["caps"][vid][0]["caption"])
        if not m:
            continue
        colour, _shape, event, _rest = m.groups()
        folder = "TestVideo" if v["split"] == "test" else "TrainValVideo"
        frames = load_video(out / folder / f"{vid}.mp4", num_frames=FRAMES).frames
        half = FRAMES // 2
        masks = _mask(frames[:half], colour)
        assert masks[0].sum() > 20 and masks[-1].sum() > 10, vid
        if event.startswith("moves"):
            dx, dy = MOVES[event.split()[1]]
            ys0, xs0 = np.nonzero(masks[0])
            ys1, xs1 = np.nonzero(masks[-1])
            shift = np.array([xs1.mean() - xs0.mean(), ys1.mean() - ys0.mean()])
            assert shift @ np.array([dx, dy]) > 0.2 * SIZE, (vid, event, shift)
            checked["move"] += 1
        else:
            ratio = masks[-1].sum() / masks[0].sum()
            assert ratio > 1.5 if event == "grows" else ratio < 0.6, (vid, event, ratio)
            checked["size"] += 1
    assert checked["move"] >= 3 and checked["size"] >= 1, checked


def test_cli(tmp_path):
    from videotext.cli import build_parser

    out = tmp_path / "cli"
    args = build_parser().parse_args(
        [
            "synth",
            "--out",
            str(out),
            "--num-videos",
            "6",
            "--seed",
            "2",
            "--size",
            "32",
            "--num-frames",
            "8",
            "--fps",
            "4",
            "--workers",
            "1",
        ]
    )
    assert args.func(args) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["num_videos"] == 6 and sum(stats["clips_per_split"].values()) == 6
    d = load_video(next((out / "TestVideo").glob("*.mp4")), num_frames=8)
    assert d.frames.shape == (8, 32, 32, 3)


def test_invalid_arguments(tmp_path):
    with pytest.raises(ValueError):
        generate_synthetic(tmp_path, num_videos=0)
    with pytest.raises(ValueError):
        generate_synthetic(tmp_path, num_videos=2, size=15)
    assert not any(Path(tmp_path).iterdir())
