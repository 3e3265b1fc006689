"""Synthetic video-text benchmark: simple shapes doing two ordered events, in the MSR-VTT layout.

Every clip shows one moving/changing object (and, in a quarter of the clips, a second object that stays
still) on a plain background. The moving object performs TWO events: the first during the first half of
the clip, the second during the second half, so "moves left, then grows" and "grows, then moves left"
are different clips with different captions. All annotations are true by construction:

- ``>= 5`` paraphrased captions per clip (the first one is the canonical caption), with per-caption
  ``nouns`` / ``verbs`` (exact words of that caption),
- a fine-grained ``description`` (3 sentences) and its ``keywords`` (its content words: shape, colour, size,
  position, background, motion),
- V2C-style commonsense ``intention`` / ``effect`` / ``attribute`` derived from the events,
- SVAD-style clip records (one-object clips ``primary``, two-object clips ``auxiliary``).

Content tuples (shape, colour, size, event 1, event 2) are drawn WITHOUT replacement from the whole
content space (~11.7k tuples), so canonical captions are unique up to that many clips. Everything is
deterministic per seed (annotations byte-identical; videos encoded bit-exactly with one x264 thread).

Layout (see docs/DESIGN.md "Synthetic benchmark layout")::

    D/TrainValVideo/videoN.mp4  D/TestVideo/videoN.mp4
    D/train_val_videodatainfo.json  D/test_videodatainfo.json  D/category.txt
    D/synthetic_annotations.json  D/V2C_MSR-VTT_caption.json  D/svad_annotations.jsonl  D/stats.json
"""

from __future__ import annotations

import itertools
import json
import math
import multiprocessing as mp
import os
import re
import time
from pathlib import Path

import numpy as np

# ----------------------------------------------------------------------------------------------- content

SHAPES = ("circle", "square", "triangle", "star", "diamond", "cross")
COLOURS = {
    "red": (225, 35, 35),
    "green": (40, 190, 50),
    "blue": (45, 85, 235),
    "yellow": (245, 215, 30),
    "purple": (155, 50, 205),
    "orange": (250, 135, 20),
    "cyan": (30, 205, 215),
}
BACKGROUNDS = {"black": (15, 15, 15), "gray": (110, 110, 110), "white": (240, 240, 240)}
SIZES = {"small": 0.11, "large": 0.21}  # half-size as a fraction of the frame side; far apart, so size reads at 32 px
SIZE_SYNONYMS = {"small": ("small", "little"), "large": ("large", "big")}
SHAPE_ADJECTIVE = {
    "circle": "round",
    "square": "square",
    "triangle": "triangular",
    "star": "pointy",
    "diamond": "angular",
    "cross": "cross-shaped",
}
MOVE_DISTANCE = 0.32  # fraction of the frame side covered by one move
GROW, SHRINK = 1.5, 0.6
SECOND_OBJECT_PROB = 0.25
SPLIT_FRACTIONS = (0.65, 0.05, 0.30)  # train / validate / test by video index, like MSR-VTT 6513/497/2990

# event kinds; "colour" events carry a target colour, e.g. ("colour", "blue")
MOVES = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}
EVENT_KINDS = ("left", "right", "up", "down", "grow", "shrink", "spin", "colour", "fade")
CATEGORIES = (
    "moving left",
    "moving right",
    "moving up",
    "moving down",
    "growing",
    "shrinking",
    "spinning",
    "changing colour",
)  # category of a clip = kind of its first event (fade is never first)

# Phrase options: (finite verb phrase, gerund phrase, verbs in finite, verbs in gerund, nouns). "{c}" = colour.
PHRASES = {
    "left": [
        ("moves left", "moving left", ["moves"], ["moving"], []),
        ("moves to the left", "moving to the left", ["moves"], ["moving"], []),
        ("slides left", "sliding left", ["slides"], ["sliding"], []),
        ("goes left", "going left", ["goes"], ["going"], []),
    ],
    "right": [
        ("moves right", "moving right", ["moves"], ["moving"], []),
        ("moves to the right", "moving to the right", ["moves"], ["moving"], []),
        ("slides right", "sliding right", ["slides"], ["sliding"], []),
        ("goes right", "going right", ["goes"], ["going"], []),
    ],
    "up": [
        ("moves up", "moving up", ["moves"], ["moving"], []),
        ("moves upward", "moving upward", ["moves"], ["moving"], []),
        ("rises", "rising", ["rises"], ["rising"], []),
        ("goes up", "going up", ["goes"], ["going"], []),
    ],
    "down": [
        ("moves down", "moving down", ["moves"], ["moving"], []),
        ("moves downward", "moving downward", ["moves"], ["moving"], []),
        ("drops down", "dropping down", ["drops"], ["dropping"], []),
        ("goes down", "going down", ["goes"], ["going"], []),
    ],
    "grow": [
        ("grows", "growing", ["grows"], ["growing"], []),
        ("gets bigger", "getting bigger", ["gets"], ["getting"], []),
        ("becomes larger", "becoming larger", ["becomes"], ["becoming"], []),
        ("expands", "expanding", ["expands"], ["expanding"], []),
    ],
    "shrink": [
        ("shrinks", "shrinking", ["shrinks"], ["shrinking"], []),
        ("gets smaller", "getting smaller", ["gets"], ["getting"], []),
        ("becomes smaller", "becoming smaller", ["becomes"], ["becoming"], []),
        ("contracts", "contracting", ["contracts"], ["contracting"], []),
    ],
    "spin": [
        ("spins", "spinning", ["spins"], ["spinning"], []),
        ("rotates", "rotating", ["rotates"], ["rotating"], []),
        ("spins around", "spinning around", ["spins"], ["spinning"], []),
        ("turns around", "turning around", ["turns"], ["turning"], []),
    ],
    "colour": [
        ("turns {c}", "turning {c}", ["turns"], ["turning"], []),
        ("changes colour to {c}", "changing colour to {c}", ["changes"], ["changing"], ["colour"]),
        ("becomes {c}", "becoming {c}", ["becomes"], ["becoming"], []),
        ("changes to {c}", "changing to {c}", ["changes"], ["changing"], []),
    ],
    "fade": [
        ("fades out", "fading out", ["fades"], ["fading"], []),
        ("fades away", "fading away", ["fades"], ["fading"], []),
        ("disappears", "disappearing", ["disappears"], ["disappearing"], []),
        ("vanishes", "vanishing", ["vanishes"], ["vanishing"], []),
    ],
}
# Caption templates keeping the event order. {S} subject, {T} "the <shape>", {E1}/{E2} finite, {G1}/{G2} gerund.
TEMPLATES = (
    "{S} {E1}, then {E2}",  # canonical
    "{S} {E1} and then {E2}",
    "{S} {E1}; after that it {E2}",
    "first {S} {E1}, then it {E2}",
    "{S} {E2} after {G1}",
    "before {G2}, {S} {E1}",
    "{S} {E1} before {G2}",
    "{S} {E1}, and afterwards {T} {E2}",
    "after {G1}, {S} {E2}",
)
SECOND_CLAUSES = (
    ("while {O} stays still", ["stays"]),
    ("next to {O}", []),
    ("while {O} does not move", ["does", "move"]),
    ("beside {O}", []),
)
NUM_CAPTIONS = 7
# Words of an event in the description that name what happens (its keywords); the rest of the phrase is template.
EVENT_KEYWORDS = {
    "left": ("moves", "left"),
    "right": ("moves", "right"),
    "up": ("moves", "up"),
    "down": ("moves", "down"),
    "grow": ("grows",),
    "shrink": ("shrinks",),
    "spin": ("spins",),
    "colour": ("changes",),  # + the target colour
    "fade": ("fades",),
}
POSITION_WORDS = ("upper", "lower", "left", "right", "centre")
# Keywords a viewer must SEE (shape, colour, size, motion): the description's other words never give them away.
# "moves" / "changes" are left out: "it __ to the left" and "it __ colour from red to blue" tell them.
VISUAL_KEYWORDS = frozenset(
    (*SHAPES, *COLOURS, *BACKGROUNDS, *(w for ws in SIZE_SYNONYMS.values() for w in ws),
     "left", "right", "up", "down", "grows", "shrinks", "spins", "fades")
)  # fmt: skip


def _event_name(event) -> str:
    return event[0] if isinstance(event, tuple) else event


def content_space() -> list[tuple]:
    """Every valid (shape, colour, size, event1, event2) tuple, in a fixed order.

    Rules: the two events differ; "fade" is only the second event; a circle never spins (invisible);
    a colour change goes to a different colour; at most one colour change per clip.
    """
    out = []
    for shape, colour, size in itertools.product(SHAPES, COLOURS, SIZES):
        events = []
        for kind in EVENT_KINDS:
            if kind == "spin" and shape == "circle":
                continue
            if kind == "colour":
                events += [("colour", c) for c in COLOURS if c != colour]
            else:
                events.append(kind)
        for e1, e2 in itertools.product(events, events):
            if e1 == e2 or e1 == "fade":
                continue
            if isinstance(e1, tuple) and isinstance(e2, tuple):
                continue
            out.append((shape, colour, size, e1, e2))
    return out


# ----------------------------------------------------------------------------------------------- captions


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+(?:-[a-z]+)?", text.lower())


def _phrase(event, option: int):
    kind = _event_name(event)
    fin, ger, vf, vg, nouns = PHRASES[kind][option]
    colour = event[1] if isinstance(event, tuple) else ""
    return fin.format(c=colour), ger.format(c=colour), vf, vg, nouns


def _build_caption(spec: dict, template: int, opts: tuple[int, int], size_word: str, second_clause: int):
    """One caption with its nouns/verbs, by construction."""
    shape = spec["shape"]
    subject = f"a {size_word} {spec['colour']} {shape}"
    e1f, e1g, v1f, v1g, n1 = _phrase(spec["events"][0], opts[0])
    e2f, e2g, v2f, v2g, n2 = _phrase(spec["events"][1], opts[1])
    tpl = TEMPLATES[template]
    text = tpl.format(S=subject, T=f"the {shape}", E1=e1f, E2=e2f, G1=e1g, G2=e2g)
    # nouns / verbs in order of appearance, from the slots the template uses
    pieces = {
        "{S}": ([shape], []),
        "{T}": ([shape], []),
        "{E1}": (n1, v1f),
        "{E2}": (n2, v2f),
        "{G1}": (n1, v1g),
        "{G2}": (n2, v2g),
    }
    nouns, verbs = [], []
    for slot in re.findall(r"\{[A-Z0-9]+\}", tpl):
        nouns += pieces[slot][0]
        verbs += pieces[slot][1]
    second = spec.get("second")
    if second is not None:
        clause, cverbs = SECOND_CLAUSES[second_clause]
        text += " " + clause.format(O=f"a {second['colour']} {second['shape']}")
        nouns.append(second["shape"])
        verbs += cverbs
    words = set(_words(text))
    nouns = list(dict.fromkeys(n for n in nouns if n in words))
    verbs = list(dict.fromkeys(v for v in verbs if v in words))
    return {"caption": text, "nouns": nouns, "verbs": verbs}


def make_captions(spec: dict, rng: np.random.Generator, num: int = NUM_CAPTIONS) -> list[dict]:
    """Canonical caption first, then ``num - 1`` distinct paraphrases (random templates and synonyms)."""
    size = spec["size"]
    caps = [_build_caption(spec, 0, (0, 0), size, 0)]
    seen = {caps[0]["caption"]}
    others = rng.permutation(np.arange(1, len(TEMPLATES)))
    tries = 0
    while len(caps) < num and tries < 200:
        tpl = int(others[(len(caps) - 1) % len(others)]) if tries < len(others) else int(rng.integers(len(TEMPLATES)))
        tries += 1
        opts = (int(rng.integers(4)), int(rng.integers(4)))
        size_word = SIZE_SYNONYMS[size][int(rng.integers(2))]
        cap = _build_caption(spec, tpl, opts, size_word, int(rng.integers(len(SECOND_CLAUSES))))
        if cap["caption"] not in seen:
            seen.add(cap["caption"])
            caps.append(cap)
    return caps


# ----------------------------------------------------------------------------------------------- descriptions


def _position_phrase(x: float, y: float) -> str:
    h = "left" if x < 0.42 else "right" if x > 0.58 else ""
    v = "upper" if y < 0.42 else "lower" if y > 0.58 else ""
    if not h and not v:
        return "near the centre of the frame"
    return f"in the {' '.join(w for w in (v, h) if w)} part of the frame"


def _event_detail(event, colour_before: str) -> str:
    kind = _event_name(event)
    return {
        "left": "moves to the left",
        "right": "moves to the right",
        "up": "moves up",
        "down": "moves down",
        "grow": "grows in size",
        "shrink": "shrinks in size",
        "spin": "spins in place",
        "colour": f"changes colour from {colour_before} to {event[1] if isinstance(event, tuple) else ''}",
        "fade": "fades out of view",
    }[kind]


def _commonsense(spec: dict) -> dict:
    shape = spec["shape"]
    intention, effect = [], []
    for event in spec["events"]:
        kind = _event_name(event)
        intention.append(
            {
                "left": "to reach the left side",
                "right": "to reach the right side",
                "up": "to reach the top",
                "down": "to reach the bottom",
                "grow": "to look bigger",
                "shrink": "to take less space",
                "spin": "to turn around",
                "colour": f"to look {event[1] if isinstance(event, tuple) else ''}",
                "fade": "to disappear",
            }[kind]
        )
        effect.append(
            {
                "left": f"the {shape} ends up further left",
                "right": f"the {shape} ends up further right",
                "up": f"the {shape} ends up higher",
                "down": f"the {shape} ends up lower",
                "grow": f"the {shape} ends up larger",
                "shrink": f"the {shape} ends up smaller",
                "spin": f"the {shape} ends up rotated",
                "colour": f"the {shape} ends up {event[1] if isinstance(event, tuple) else ''}",
                "fade": f"the {shape} is no longer visible",
            }[kind]
        )
    attribute = [spec["colour"], spec["size"], SHAPE_ADJECTIVE[shape]]
    return {"intention": intention, "effect": effect, "attribute": attribute}


def _description_keywords(spec: dict, text: str) -> list[str]:
    """The content words of a description, in order of first mention: the object's size, colour and shape, its
    position and the background colour, the still object's colour and shape, and each event's words (direction,
    growth, spin, fade, target colour). Template words ("starts", "plain", "that", "half", ...) are never keywords."""
    content = {spec["size"], spec["colour"], spec["shape"], spec["background"], *POSITION_WORDS}
    if spec.get("second") is not None:
        content |= {"small", spec["second"]["colour"], spec["second"]["shape"], "still"}
    for event in spec["events"]:
        content |= set(EVENT_KEYWORDS[_event_name(event)])
        if isinstance(event, tuple):
            content.add(event[1])
    return list(dict.fromkeys(w for w in _words(text) if w in content))


def make_description(spec: dict) -> tuple[str, list[str]]:
    """Fine-grained 3-sentence description and its keywords (the content words a keyword extractor returns)."""
    x0, y0 = spec["start"]
    first = f"A {spec['size']} {spec['colour']} {spec['shape']} starts {_position_phrase(x0, y0)} on a plain {spec['background']} background"
    if spec.get("second") is not None:
        s = spec["second"]
        first += f", next to a small {s['colour']} {s['shape']} that stays still"
    colour_mid = spec["colour"]
    e1 = spec["events"][0]
    if isinstance(e1, tuple):
        colour_mid = e1[1]
    text = (
        f"{first}. During the first half of the clip it {_event_detail(e1, spec['colour'])}. "
        f"During the second half it {_event_detail(spec['events'][1], colour_mid)}."
    )
    return text, _description_keywords(spec, text)


# ----------------------------------------------------------------------------------------------- rendering


def _star(points: int = 5, inner: float = 0.45) -> np.ndarray:
    ang = -np.pi / 2 + np.arange(2 * points) * np.pi / points
    rad = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([rad * np.cos(ang), rad * np.sin(ang)], 1)


_TRIANGLE = np.array([[0.0, -1.0], [0.95, 0.75], [-0.95, 0.75]])
_STAR = _star()


def _polygon_mask(lx: np.ndarray, ly: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test, vectorised over pixels."""
    inside = np.zeros(lx.shape, bool)
    n = len(verts)
    for i in range(n):
        x1, y1 = verts[i]
        x2, y2 = verts[(i + 1) % n]
        if y1 == y2:
            continue
        cond = (y1 > ly) != (y2 > ly)
        xint = x1 + (ly - y1) * (x2 - x1) / (y2 - y1)
        inside ^= cond & (lx < xint)
    return inside


def _shape_mask(shape: str, u, v, cx, cy, r, angle) -> np.ndarray:
    du, dv = u - cx, v - cy
    ca, sa = math.cos(angle), math.sin(angle)
    lx = (du * ca + dv * sa) / r
    ly = (-du * sa + dv * ca) / r
    if shape == "circle":
        return lx * lx + ly * ly <= 1.0
    if shape == "square":
        return (np.abs(lx) <= 0.85) & (np.abs(ly) <= 0.85)
    if shape == "diamond":
        return np.abs(lx) / 0.68 + np.abs(ly) <= 1.0
    if shape == "cross":
        ax, ay = np.abs(lx), np.abs(ly)
        return ((ax <= 0.34) & (ay <= 0.95)) | ((ay <= 0.34) & (ax <= 0.95))
    if shape == "triangle":
        return _polygon_mask(lx, ly, _TRIANGLE)
    if shape == "star":
        return _polygon_mask(lx, ly, _STAR)
    raise ValueError(f"unknown shape {shape!r}")


def _apply(state: dict, event, p: float) -> dict:
    """State after ``event`` has progressed by fraction ``p`` (0..1) from ``state``."""
    s = dict(state)
    kind = _event_name(event)
    if kind in MOVES:
        dx, dy = MOVES[kind]
        s["x"] = state["x"] + dx * MOVE_DISTANCE * p
        s["y"] = state["y"] + dy * MOVE_DISTANCE * p
    elif kind == "grow":
        s["r"] = state["r"] * (1 + (GROW - 1) * p)
    elif kind == "shrink":
        s["r"] = state["r"] * (1 + (SHRINK - 1) * p)
    elif kind == "spin":
        s["angle"] = state["angle"] + 2 * math.pi * p
    elif kind == "colour":
        target = np.array(COLOURS[event[1]], float)
        s["rgb"] = state["rgb"] * (1 - p) + target * p
    elif kind == "fade":
        s["alpha"] = state["alpha"] * (1 - p)
    return s


def object_states(spec: dict) -> list[dict]:
    """Per-frame state (x, y, r, angle, rgb, alpha) of the moving object; x/y/r in frame fractions."""
    t_total = spec["num_frames"]
    half = t_total // 2
    x0, y0 = spec["start"]
    s0 = {"x": x0, "y": y0, "r": SIZES[spec["size"]], "angle": 0.0, "rgb": np.array(COLOURS[spec["colour"]], float)}
    s0["alpha"] = 1.0
    e1, e2 = spec["events"]
    s1 = _apply(s0, e1, 1.0)
    states = []
    for t in range(t_total):
        if t < half:
            states.append(_apply(s0, e1, min(1.0, t / max(1, half - 1))))
        else:
            states.append(_apply(s1, e2, min(1.0, (t - half) / max(1, t_total - half - 1))))
    return states


def render_clip(spec: dict, supersample: int = 2) -> np.ndarray:
    """Frames ``(T, size, size, 3)`` uint8 of one clip (anti-aliased by supersampling)."""
    size = spec["size_px"]
    n = size * supersample
    coords = (np.arange(n, dtype=np.float32) + 0.5) / n
    u, v = np.meshgrid(coords, coords)
    bg = np.array(BACKGROUNDS[spec["background"]], np.float32)
    base = np.broadcast_to(bg, (n, n, 3)).astype(np.float32)
    second = spec.get("second")
    if second is not None:
        m2 = _shape_mask(second["shape"], u, v, second["x"], second["y"], second["r"], 0.0)[..., None]
        base = np.where(m2, np.array(COLOURS[second["colour"]], np.float32), base)
    frames = np.empty((spec["num_frames"], size, size, 3), np.uint8)
    for t, st in enumerate(object_states(spec)):
        img = base.copy()
        if st["alpha"] > 0:
            # only the object's bounding box (every shape fits in 1.25 r, rotated squares included)
            ext = 1.25 * st["r"]
            x0, x1 = max(0, int((st["x"] - ext) * n)), min(n, int(math.ceil((st["x"] + ext) * n)) + 1)
            y0, y1 = max(0, int((st["y"] - ext) * n)), min(n, int(math.ceil((st["y"] + ext) * n)) + 1)
            if x1 > x0 and y1 > y0:
                uu, vv = u[y0:y1, x0:x1], v[y0:y1, x0:x1]
                m = _shape_mask(spec["shape"], uu, vv, st["x"], st["y"], st["r"], st["angle"]).astype(np.float32)
                m = (m * np.float32(st["alpha"]))[..., None]
                patch = img[y0:y1, x0:x1]
                img[y0:y1, x0:x1] = patch * (1 - m) + st["rgb"].astype(np.float32) * m
        # box-filter downsampling by strided slices (much faster than reshape + mean)
        acc = np.zeros((size, size, 3), np.float32)
        for dy in range(supersample):
            for dx in range(supersample):
                acc += img[dy::supersample, dx::supersample]
        img = acc / np.float32(supersample * supersample)
        frames[t] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return frames


def _trajectory_bounds(events) -> tuple[float, float, float, float, float]:
    """Offsets (min dx, max dx, min dy, max dy) of the path and the largest scale reached."""
    xs, ys, x, y, scale, max_scale = [0.0], [0.0], 0.0, 0.0, 1.0, 1.0
    for e in events:
        kind = _event_name(e)
        if kind in MOVES:
            x += MOVES[kind][0] * MOVE_DISTANCE
            y += MOVES[kind][1] * MOVE_DISTANCE
            xs.append(x)
            ys.append(y)
        elif kind == "grow":
            scale *= GROW
            max_scale = max(max_scale, scale)
    return min(xs), max(xs), min(ys), max(ys), max_scale


def _place(spec: dict, rng: np.random.Generator, with_second: bool) -> None:
    """Start position (path centred, small jitter) and, optionally, a still second object away from the path."""
    min_x, max_x, min_y, max_y, _ = _trajectory_bounds(spec["events"])
    jitter = 0.06
    x0 = 0.5 - (min_x + max_x) / 2 + float(rng.uniform(-jitter, jitter))
    y0 = 0.5 - (min_y + max_y) / 2 + float(rng.uniform(-jitter, jitter))
    spec["start"] = [round(x0, 4), round(y0, 4)]
    if not with_second:
        spec["second"] = None
        return
    # candidate spots: corners and edge midpoints; keep the one farthest from the moving object's path
    path = np.array([[x0 + dx, y0 + dy] for dx, dy in _path_points(spec["events"])])
    cands = [(0.14, 0.14), (0.86, 0.14), (0.14, 0.86), (0.86, 0.86), (0.5, 0.12), (0.5, 0.88), (0.12, 0.5), (0.88, 0.5)]
    dists = [float(np.min(np.hypot(path[:, 0] - cx, path[:, 1] - cy))) for cx, cy in cands]
    best = int(np.argmax(dists))
    used = {spec["colour"]} | {e[1] for e in spec["events"] if isinstance(e, tuple)}
    colours = [c for c in COLOURS if c not in used]
    shapes = [s for s in SHAPES if s != spec["shape"]]
    spec["second"] = {
        "shape": shapes[int(rng.integers(len(shapes)))],
        "colour": colours[int(rng.integers(len(colours)))],
        "x": cands[best][0],
        "y": cands[best][1],
        "r": 0.12,
    }


def _path_points(events, steps: int = 8):
    x = y = 0.0
    pts = [(0.0, 0.0)]
    for e in events:
        kind = _event_name(e)
        if kind in MOVES:
            dx, dy = MOVES[kind]
            for k in range(1, steps + 1):
                pts.append((x + dx * MOVE_DISTANCE * k / steps, y + dy * MOVE_DISTANCE * k / steps))
            x += dx * MOVE_DISTANCE
            y += dy * MOVE_DISTANCE
    return pts


# ----------------------------------------------------------------------------------------------- writing


def _encode_job(job) -> int:
    spec, path, fps = job
    from videotext.processing.video_writer import write_video

    write_video(path, render_clip(spec), fps=fps, codec="libx264")
    return os.path.getsize(path)


def _split_of(index: int, num: int) -> str:
    n_train = int(round(num * SPLIT_FRACTIONS[0]))
    n_val = int(round(num * SPLIT_FRACTIONS[1]))
    if num >= 3:  # every split present for tiny sets
        n_train = min(max(n_train, 1), num - 2)
        n_val = min(max(n_val, 1), num - n_train - 1)
    if index < n_train:
        return "train"
    return "validate" if index < n_train + n_val else "test"


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z]+(?:-[a-z]+)?|[.,;]", text.lower())


def _dump(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def build_specs(num_videos: int, seed: int, size: int, num_frames: int) -> list[dict]:
    """Clip specifications (content, placement, background, captions); deterministic per seed."""
    rng = np.random.default_rng(seed)
    space = content_space()
    order = balanced_order(space, rng)
    if num_videos > len(space):  # beyond the content space, start a new permutation (captions repeat)
        extra = [balanced_order(space, rng) for _ in range(math.ceil(num_videos / len(space)) - 1)]
        order = np.concatenate([order, *extra])
    specs = []
    for i in range(num_videos):
        shape, colour, size_name, e1, e2 = space[int(order[i])]
        spec = {
            "video_id": f"video{i}",
            "shape": shape,
            "colour": colour,
            "size": size_name,
            "events": [e1, e2],
            "background": list(BACKGROUNDS)[int(rng.integers(len(BACKGROUNDS)))],
            "num_frames": num_frames,
            "size_px": size,
        }
        _place(spec, rng, bool(rng.random() < SECOND_OBJECT_PROB))
        spec["captions"] = make_captions(spec, rng)
        spec["description"], spec["keywords"] = make_description(spec)
        spec.update(_commonsense(spec))
        spec["split"] = _split_of(i, num_videos)
        specs.append(spec)
    return specs


def balanced_order(space: list[tuple], rng: np.random.Generator) -> np.ndarray:
    """A random permutation of ``space`` (sampling without replacement) in which every (event-1 kind,
    event-2 kind) pair is equally likely at each draw, so colour changes (6 targets each) do not dominate.

    Weighted sampling without replacement (Efraimidis-Spirakis keys ``u ** (1 / w)``, ``w = 1 / group size``).
    """
    groups: dict[tuple[str, str], int] = {}
    keys = [(_event_name(t[3]), _event_name(t[4])) for t in space]
    for k in keys:
        groups[k] = groups.get(k, 0) + 1
    weights = np.array([1.0 / groups[k] for k in keys])
    u = rng.random(len(space))
    scores = np.log(np.maximum(u, 1e-300)) / weights  # log of u ** (1 / w); larger first
    return np.argsort(-scores, kind="stable")


def _event_json(e):
    return {"type": "colour", "to": e[1]} if isinstance(e, tuple) else {"type": e}


def generate_synthetic(
    out_dir,
    num_videos: int = 3000,
    seed: int = 0,
    size: int = 64,
    num_frames: int = 32,
    fps: int = 8,
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Write the synthetic benchmark to ``out_dir`` and return its statistics (also in ``stats.json``).

    Args:
        out_dir: output folder (created).
        num_videos: number of clips (split 65% train / 5% validate / 30% test by index).
        seed: random seed; the same seed gives identical annotations and videos.
        size: frame height and width in pixels (even, >= 16).
        num_frames: frames per clip (>= 4); event 1 fills the first half, event 2 the second.
        fps: frame rate written into the mp4 files.
        workers: encoding processes (default: all cores; 1 = in-process).
        progress: show a tqdm progress bar.
    """
    if num_videos < 1:
        raise ValueError(f"num_videos must be >= 1, got {num_videos}")
    if size < 16 or size % 2:
        raise ValueError(f"size must be an even number >= 16, got {size}")
    if num_frames < 4:
        raise ValueError(f"num_frames must be >= 4, got {num_frames}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    t0 = time.time()
    out = Path(out_dir)
    (out / "TrainValVideo").mkdir(parents=True, exist_ok=True)
    (out / "TestVideo").mkdir(parents=True, exist_ok=True)
    specs = build_specs(num_videos, seed, size, num_frames)
    duration = num_frames / fps

    # --- videos
    jobs = []
    for spec in specs:
        folder = "TestVideo" if spec["split"] == "test" else "TrainValVideo"
        spec["relpath"] = f"{folder}/{spec['video_id']}.mp4"
        jobs.append((spec, str(out / spec["relpath"]), fps))
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc="synthetic clips", unit="clip")
    if workers == 1:
        for job in jobs:
            _encode_job(job)
            if bar is not None:
                bar.update(1)
    else:
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        with mp.get_context(method).Pool(workers) as pool:
            for _ in pool.imap_unordered(_encode_job, jobs, chunksize=8):
                if bar is not None:
                    bar.update(1)
    if bar is not None:
        bar.close()

    # --- MSR-VTT official files
    info = {
        "contributor": "videotext synthetic generator",
        "data_created": "synthetic",
        "description": f"videotext synthetic shapes benchmark (seed {seed}, {size}px, {num_frames} frames at {fps} fps)",
        "url": "",
        "version": "1.0",
        "year": "2024",
    }
    files = {
        "trainval": {"info": info, "videos": [], "sentences": []},
        "test": {"info": info, "videos": [], "sentences": []},
    }
    side = {"sentences": {}, "videos": {}}
    v2c, svad = {}, []
    sen_id = 0
    for i, spec in enumerate(specs):
        vid = spec["video_id"]
        target = files["test" if spec["split"] == "test" else "trainval"]
        target["videos"].append(
            {
                "category": _category(spec["events"][0]),
                "url": f"synthetic://seed{seed}/{vid}",
                "video_id": vid,
                "start time": 0.0,
                "end time": round(duration, 3),
                "split": spec["split"],
                "id": i,
            }
        )
        for cap in spec["captions"]:
            target["sentences"].append({"caption": cap["caption"], "video_id": vid, "sen_id": sen_id})
            side["sentences"][str(sen_id)] = {"nouns": cap["nouns"], "verbs": cap["verbs"]}
            sen_id += 1
        side["videos"][vid] = {
            "description": spec["description"],
            "keywords": spec["keywords"],
            "intention": spec["intention"],
            "effect": spec["effect"],
            "attribute": spec["attribute"],
            "data_source": "primary" if spec["second"] is None else "auxiliary",
            "num_objects": 1 if spec["second"] is None else 2,
            "events": [_event_json(e) for e in spec["events"]],
            "background": spec["background"],
        }
        cs = {k: [[text, _tokens(text)] for text in spec[k]] for k in ("intention", "effect", "attribute")}
        v2c[vid] = [{"final_caption": ["<sos>", *_tokens(c["caption"]), "<eos>"], **cs} for c in spec["captions"]]
        svad.append(
            {
                "clip_id": vid,
                "video_path": spec["relpath"],
                "start": 0.0,
                "end": round(duration, 3),
                "description": spec["description"],
                "keywords": spec["keywords"],
                "data_source": "primary" if spec["second"] is None else "auxiliary",
                "split": spec["split"],
            }
        )
    _dump(out / "train_val_videodatainfo.json", files["trainval"])
    _dump(out / "test_videodatainfo.json", files["test"])
    (out / "category.txt").write_text("".join(f"{name}\t{k}\n" for k, name in enumerate(CATEGORIES)), encoding="utf-8")
    _dump(out / "synthetic_annotations.json", side)
    _dump(out / "V2C_MSR-VTT_caption.json", v2c)
    with open(out / "svad_annotations.jsonl", "w", encoding="utf-8") as fh:
        for rec in svad:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")

    # --- statistics
    test = [s for s in specs if s["split"] == "test"]
    canon = [s["captions"][0]["caption"] for s in test]
    all_caps = [c["caption"] for s in test for c in s["captions"]]
    vocab = {w for s in specs for c in s["captions"] for w in _words(c["caption"])}
    stats = {
        "num_videos": num_videos,
        "clips_per_split": {k: sum(s["split"] == k for s in specs) for k in ("train", "validate", "test")},
        "num_captions": sen_id,
        "captions_per_clip": NUM_CAPTIONS,
        "vocabulary_size": len(vocab),
        "test_unique_canonical_caption_rate": len(set(canon)) / max(1, len(canon)),
        "test_unique_caption_rate": len(set(all_caps)) / max(1, len(all_caps)),
        "content_space_size": len(content_space()),
        "two_object_clips": sum(s["second"] is not None for s in specs),
        "seed": seed,
        "size": size,
        "num_frames": num_frames,
        "fps": fps,
        "generation_time_s": round(time.time() - t0, 2),
    }
    _dump(out / "stats.json", stats)
    return stats


def _category(event) -> int:
    kind = _event_name(event)
    names = {"left": 0, "right": 1, "up": 2, "down": 3, "grow": 4, "shrink": 5, "spin": 6, "colour": 7}
    return names[kind]


def cli_main(args) -> int:
    """`videotext synth --out D --num-videos N --seed S --size --num-frames --fps --workers`."""
    stats = generate_synthetic(
        args.out,
        num_videos=args.num_videos,
        seed=args.seed,
        size=args.size,
        num_frames=args.num_frames,
        fps=args.fps,
        workers=args.workers,
        progress=True,
    )
    print(json.dumps(stats, indent=1))
    return 0
