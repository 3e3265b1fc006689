"""`report.html` of `videotext demo`: one self-contained page next to the model folders.

Per method: its metrics against the trivial baseline of its task, the training-loss curve of every stage (PNG from the
run's `log.jsonl`), links to the Hub-ready model folder and its model card (`README.md`) when the folder has one; a
captioner's captions of test clips under a strip of their frames, next to the references and the synthetic facts the
caption gets right; a retriever's top hits for a few text queries, with their frames. Images are PNG files under
`report_files/`; every link is relative and there is no external CSS, script or font, so the folder can be zipped or
served as it is.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import numpy as np

__all__ = ["loss_curve_png", "thumbnail_strip", "write_report"]

FILES = "report_files"
STRIP_FRAMES = 4
LOWER_IS_BETTER = ("MdR", "MnR")  # metric name parts where a smaller number is better (ranks)
FACT_NAMES = {"shape": "shape", "colour": "colour", "size": "size", "first_event": "first event",
              "second_event": "second event", "events_in_order": "both events in order"}  # fmt: skip

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; margin: 0;
       color: #1f2328; background: #f6f8fa; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 21px; margin: 36px 0 8px; padding-top: 12px; border-top: 2px solid #d0d7de; }
h3 { font-size: 16px; margin: 22px 0 8px; }
p, li { line-height: 1.45; }
.muted { color: #57606a; font-size: 13px; }
.note { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px; padding: 8px 12px; }
.card { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 14px 18px; margin: 12px 0; }
table { border-collapse: collapse; font-size: 14px; background: #fff; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: right; }
th { background: #eaeef2; }
td.l, th.l { text-align: left; }
td.better { color: #1a7f37; font-weight: 600; }
td.worse { color: #cf222e; }
.flex { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
.example { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 10px; width: 530px; }
.example img { width: 520px; image-rendering: pixelated; display: block; border-radius: 4px; }
.caption { font-size: 15px; font-weight: 600; margin: 8px 0 4px; overflow-wrap: anywhere; }
.refs { font-size: 13px; color: #57606a; margin: 0; padding-left: 18px; }
.facts span { display: inline-block; font-size: 12px; border-radius: 10px; padding: 1px 8px; margin: 2px 2px 0 0; }
.yes { background: #dafbe1; color: #116329; }
.no { background: #ffebe9; color: #a40e26; }
.query { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 10px 12px; margin: 10px 0; }
.hits { display: flex; gap: 10px; margin-top: 6px; }
.hit { border: 2px solid #d0d7de; border-radius: 6px; padding: 4px; font-size: 12px; background: #fff; }
.hit.match { border-color: #1a7f37; background: #dafbe1; }
.hit img { width: 260px; image-rendering: pixelated; display: block; }
.hit.target { border-style: dashed; background: #f6f8fa; }
img.curve { max-width: 100%; border: 1px solid #d0d7de; border-radius: 6px; background: #fff; }
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _rel(path: Path | str, base: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix()


def thumbnail_strip(video_path: str, target: Path, num_frames: int = STRIP_FRAMES, scale: int = 2,
                    gap: int = 4) -> Path:  # fmt: skip
    """`num_frames` frames of a video spread over its length, side by side (white gaps), enlarged `scale` times."""
    from PIL import Image

    from .processing import load_video

    frames = load_video(video_path, num_frames=num_frames).frames
    h, w = frames.shape[1:3]
    strip = np.full((h, len(frames) * (w + gap) - gap, 3), 255, np.uint8)
    for i, frame in enumerate(frames):
        strip[:, i * (w + gap) : i * (w + gap) + w] = frame
    image = Image.fromarray(strip)
    if scale != 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target)
    return target


def read_train_log(log_path: Path) -> list[dict]:
    """The `{"event": "train", "step", "loss", "stage"}` records of a training run's `log.jsonl`."""
    records = []
    for line in Path(log_path).read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("event") == "train" and isinstance(record.get("loss"), (int, float)):
            records.append(record)
    return records


def loss_curve_png(log_path: Path, target: Path, title: str) -> Path | None:
    """Training loss against the optimizer step, one colour per stage; None when the log has no training record."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    records = read_train_log(log_path)
    if not records:
        return None
    stages: dict[str, list[dict]] = {}
    for record in records:
        stages.setdefault(str(record.get("stage", "")), []).append(record)
    fig, ax = plt.subplots(figsize=(7.2, 3.4), dpi=110)
    for i, (stage, points) in enumerate(stages.items()):
        steps = [p["step"] for p in points]
        ax.plot(steps, [p["loss"] for p in points], marker="." if len(points) < 30 else None, lw=1.6,
                color=f"C{i}", label=f"stage {stage}")  # fmt: skip
        if i:
            ax.axvline(steps[0], color="#8c959f", lw=0.8, ls="--")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss")
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=9)
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target)
    plt.close(fig)
    return target


def _fmt(value, signed: bool = False) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _e(value)
    sign = "+" if signed else ""
    if isinstance(value, int):
        return f"{value:{sign}d}"
    return f"{value:{sign}.4f}" if abs(value) < 10 else f"{value:{sign}.2f}"


def _fmt_metric(key: str, value) -> str:
    """Synthetic facts (shares) in percent, everything else as `_fmt`."""
    if key.startswith("synthetic_facts/") and isinstance(value, float):
        return f"{100 * value:.1f}%"
    return _fmt(value)


def _label(key: str) -> str:
    return key.replace("synthetic_facts/", "facts: ").replace("_", " ") if key.startswith("synthetic_") else key


def _metrics_table(metrics: dict, baseline: dict, baseline_name: str, keys: list[str] | None = None) -> str:
    from .evaluation import flat_metrics

    mine, base = flat_metrics(metrics or {}), flat_metrics(baseline or {})
    keys = keys or [k for k in mine if not k.endswith("num_clips")]
    rows = []
    for key in keys:
        if key not in mine:
            continue
        value, ref = mine[key], base.get(key)
        cls = ""
        if ref is not None and value != ref:
            lower = any(part in key for part in LOWER_IS_BETTER)
            cls = "better" if (value < ref) == lower else "worse"
        delta = "" if ref is None else _fmt(value - ref, signed=True)
        rows.append(f'<tr><td class="l">{_e(key)}</td><td class="{cls}">{_fmt(value)}</td>'
                    f"<td>{'' if ref is None else _fmt(ref)}</td><td>{delta}</td></tr>")  # fmt: skip
    return ('<table><tr><th class="l">metric</th><th>this model</th>'
            f"<th>baseline: {_e(baseline_name)}</th><th>difference</th></tr>{''.join(rows)}</table>")  # fmt: skip


def _facts_table(facts: dict, baseline_facts: dict | None) -> str:
    rows = []
    for key, name in FACT_NAMES.items():
        if key in facts:
            ref = (baseline_facts or {}).get(key)
            cls = "" if ref is None else ("better" if facts[key] > ref else "worse" if facts[key] < ref else "")
            rows.append(f'<tr><td class="l">{_e(name)}</td><td class="{cls}">{100 * facts[key]:.1f}%</td>'
                        f"<td>{'' if ref is None else f'{100 * ref:.1f}%'}</td></tr>")  # fmt: skip
    clips = facts.get("num_clips")
    return ('<table><tr><th class="l">the caption names the right ...</th><th>share of test clips</th>'
            "<th>baseline: most frequent caption</th></tr>" + "".join(rows) + "</table>"
            + (f'<p class="muted">over {clips:.0f} test clips</p>' if clips else ""))  # fmt: skip


def _links(out: Path, model_dir: Path, hub_dir: Path | None = None) -> str:
    parts = [f'<a href="{_e(_rel(model_dir, out))}/">training folder {_e(_rel(model_dir, out))}/</a>']
    if hub_dir is not None:  # `videotext export`: the clean Hub folder (code, card, pipeline, app.py)
        parts.append(f'<a href="{_e(_rel(hub_dir, out))}/">exported Hub folder {_e(_rel(hub_dir, out))}/</a>')
    card = next((d / "README.md" for d in (hub_dir, model_dir) if d is not None and (d / "README.md").is_file()), None)
    if card is not None:
        parts.append(f'<a href="{_e(_rel(card, out))}">model card</a>')
    else:
        parts.append('<span class="muted">no model card (README.md)</span>')
    for name in ("config.json", "metrics.json", "log.jsonl", "recipe.yaml"):
        if (model_dir / name).is_file():
            parts.append(f'<a href="{_e(_rel(model_dir / name, out))}">{name}</a>')
    return " · ".join(parts)


class _Thumbs:
    """One strip PNG per video file, written once."""

    def __init__(self, out: Path, bar):
        self.out, self.bar, self.done = out, bar, {}

    def __call__(self, video_path: str) -> str:
        if video_path not in self.done:
            name = f"{len(self.done):03d}_{Path(video_path).stem}.png"
            thumbnail_strip(video_path, self.out / FILES / "thumbs" / name)
            self.done[video_path] = f"{FILES}/thumbs/{name}"
            self.bar.update(1)
        return self.done[video_path]


def _captioner_section(info: dict, thumbs: _Thumbs, baseline: dict) -> str:
    parts = ["<h3>Captions of test clips</h3>"]
    if baseline.get("caption"):
        parts.append(f'<p class="muted">The baseline captions every clip “{_e(baseline["caption"])}”.</p>')
    parts.append('<div class="flex">')
    for ex in info.get("examples", []):
        facts = ex.get("facts") or {}
        chips = "".join(f'<span class="{"yes" if ok else "no"}">{"✓" if ok else "✗"} {_e(FACT_NAMES.get(k, k))}</span>'
                        for k, ok in facts.items())  # fmt: skip
        refs = "".join(f"<li>{_e(r)}</li>" for r in ex.get("references", []))
        parts.append(
            f'<div class="example"><img src="{_e(thumbs(ex["video_path"]))}" alt="frames of {_e(ex["video_id"])}">'
            f'<div class="muted">{_e(ex["video_id"])}</div><div class="caption">“{_e(ex["caption"])}”</div>'
            + (f'<div class="facts">{chips}</div>' if chips else "")
            + f'<div class="muted">references:</div><ul class="refs">{refs}</ul></div>'
        )
    parts.append("</div>")
    return "".join(parts)


def _retriever_section(info: dict, thumbs: _Thumbs, baseline: dict) -> str:
    parts = ["<h3>Text search over the test clips (top 3)</h3>"]
    for q in info.get("queries", []):
        hits = []
        for rank, hit in enumerate(q["hits"], start=1):
            match = hit["video_id"] == q["video_id"]
            hits.append(f'<div class="hit{" match" if match else ""}"><img src="{_e(thumbs(hit["video_path"]))}" '
                        f'alt="frames of {_e(hit["video_id"])}">#{rank} {_e(hit["video_id"])} · score '
                        f'{hit["score"]:.3f}{" · the queried clip" if match else ""}</div>')  # fmt: skip
        target = (f'<div class="hit target"><img src="{_e(thumbs(q["video_path"]))}" alt="frames of '
                  f'{_e(q["video_id"])}">the described clip: {_e(q["video_id"])}</div>')  # fmt: skip
        parts.append(f'<div class="query"><b>query:</b> “{_e(q["query"])}” <span class="muted">(a caption of '
                     f'{_e(q["video_id"])})</span><div class="hits">{target}{"".join(hits)}</div></div>')  # fmt: skip
    if "search_other_sizes_top1" in info:
        top1, n = info["search_other_sizes_top1"]
        parts.append(f"<p>Search over {n} test clips re-encoded at other frame sizes, aspect ratios and frame rates: "
                     f"the right clip comes first for <b>{top1}/{n}</b> of their captions.</p>")  # fmt: skip
    return "".join(parts)


SECTION_BY_TASK = {"captioning": _captioner_section, "retrieval": _retriever_section}
HEADLINE_KEYS = {"captioning": ["BLEU-4", "CIDEr", "synthetic_facts/shape", "synthetic_facts/events_in_order"],
                 "retrieval": ["t2v_R@1", "t2v_R@10", "v2t_R@1"]}  # fmt: skip


def _budget_text(budget: dict) -> str:
    stages = ", ".join(f"{_e(n)} {s}" + (f"/{f}" if s != f else "")
                       for n, s, f in zip(budget["stage_names"], budget["steps"], budget["full_steps"]))  # fmt: skip
    total, full = sum(budget["steps"]), sum(budget["full_steps"])
    return f"{total} of {full} steps ({stages})" if total != full else f"{total} steps, full recipe ({stages})"


def write_report(out: str | Path, summary: dict) -> Path:
    """Write `out/report.html` (and its PNGs under `out/report_files/`) from the demo's summary; returns the page."""
    from tqdm.auto import tqdm

    from .evaluation import flat_metrics

    out = Path(out).resolve()
    methods: dict = summary.get("methods", {})
    videos = {ex["video_path"] for m in methods.values() for ex in m.get("examples", [])}
    videos |= {h["video_path"] for m in methods.values() for q in m.get("queries", []) for h in q["hits"]}
    videos |= {q["video_path"] for m in methods.values() for q in m.get("queries", [])}
    bar = tqdm(total=len(videos) + len(methods), desc="writing report.html", unit="image")
    thumbs = _Thumbs(out, bar)
    baselines = summary.get("baselines", {})

    overview, sections = [], []
    for name, info in methods.items():
        model_dir = Path(info.get("model_dir") or out / name)
        task, base_name = info["task"], info.get("baseline")
        base = baselines.get(base_name, {})
        mine, ref = flat_metrics(info.get("metrics") or {}), flat_metrics(base)
        heads = [k for k in HEADLINE_KEYS.get(task, []) if k in mine]
        cells = " ".join(f"{_e(_label(k))} <b>{_fmt_metric(k, mine[k])}</b>"
                         + (f" <span class='muted'>(baseline {_fmt_metric(k, ref[k])})</span>" if k in ref else "")
                         + "<br>" for k in heads)  # fmt: skip
        budget = info.get("budget")
        overview.append(f'<tr><td class="l"><a href="#{_e(name)}">{_e(name)}</a></td><td class="l">{_e(task)}</td>'
                        f'<td class="l">{_e(info["recipe"])}</td>'
                        f'<td class="l">{_budget_text(budget) if budget else ""}</td>'
                        f'<td class="l">{cells}</td><td>{info.get("seconds", 0):.0f} s</td></tr>')  # fmt: skip

        log_path, title = model_dir / "log.jsonl", f"{name} ({info['recipe']}): training loss"
        curve = loss_curve_png(log_path, out / FILES / f"loss_{name}.png", title) if log_path.is_file() else None
        bar.update(1)
        part = [f'<h2 id="{_e(name)}">{_e(name)} <span class="muted">— {_e(task)}, recipe {_e(info["recipe"])}</span></h2>',
                f'<p>{_links(out, model_dir, Path(info["hub_dir"]) if info.get("hub_dir") else None)}</p>']  # fmt: skip
        if budget:
            text = f"Trained {_budget_text(budget)} in {info.get('train_seconds', 0):.0f} s (evaluation included)"
            if budget.get("step_seconds"):
                text += (f"; planned from a timed step of {', '.join(f'{t:.3f}' for t in budget['step_seconds'])} s "
                         f"per stage, times {budget.get('slowdown', 1):.2g} for the training loop")  # fmt: skip
            if budget.get("threads"):
                text += f", on {budget['threads']} torch thread (timed faster than the default ones)"
            if info.get("observed_slowdown"):
                text += f" (its steps took {info['observed_slowdown']:.2g} times the timed ones)"
            if budget.get("over_budget"):
                text += "; more than the time left allowed, as the demo trains at least this share of a recipe"
            part.append(f"<p>{text}.</p>")
        part.append('<div class="flex"><div><h3>Metrics on the synthetic test split</h3>')
        part.append(
            _metrics_table(
                {k: v for k, v in (info.get("metrics") or {}).items() if k != "synthetic_facts"},
                {k: v for k, v in base.items() if k != "synthetic_facts"},
                base_name or "-",
            )
        )
        part.append("</div>")
        facts = (info.get("metrics") or {}).get("synthetic_facts")
        if isinstance(facts, dict):
            part.append("<div><h3>Synthetic facts</h3>" + _facts_table(facts, base.get("synthetic_facts")) + "</div>")
        part.append("</div>")
        if curve is not None:
            part.append(
                f'<h3>Training loss</h3><img class="curve" src="{FILES}/{curve.name}" alt="training loss of {_e(name)}">'
            )
        else:
            part.append('<p class="muted">no training records in log.jsonl</p>')
        section = SECTION_BY_TASK.get(task)
        if section is not None:
            part.append(section(info, thumbs, base))
        sections.append("".join(part))
    bar.close()

    budget = summary.get("budget", {})
    short = [f"{_e(n)} {sum(m['budget']['steps'])} steps instead of {sum(m['budget']['full_steps'])}"
             for n, m in methods.items() if m.get("budget") and m["budget"]["steps"] != m["budget"]["full_steps"]]  # fmt: skip
    if short:
        note = (f'<p class="note">Short budgets (about {budget.get("budget_minutes", 0):g} minutes in all): '
                f"{'; '.join(short)}. Run <code>videotext demo --full</code> for the full tiny recipes.</p>")  # fmt: skip
    elif budget.get("full"):
        note = '<p class="note">The full tiny recipes (<code>--full</code>).</p>'
    else:
        note = (f'<p class="note">Every recipe fitted the budget of about {budget.get("budget_minutes", 0):g} minutes '
                "as it is (the full tiny recipes).</p>")  # fmt: skip
    stats = summary.get("synthetic_stats", {})
    data_line = ", ".join(f"{k} {stats[k]}" for k in ("num_videos", "size", "num_frames", "fps") if k in stats)
    extra = budget.get("user_overrides") or []
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>videotext demo report</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body><main>
<h1>videotext demo</h1>
<p class="muted">Synthetic set {_e(summary.get("synthetic", ""))} ({_e(data_line)}) · demo wall time
{summary.get("wall_time_s", 0):.0f} s before this page{" · overrides: " + _e(" ".join(extra)) if extra else ""}</p>
{note}
<div class="card"><table><tr><th class="l">method</th><th class="l">task</th><th class="l">recipe</th>
<th class="l">training</th><th class="l">on the test split</th><th>time</th></tr>{"".join(overview)}</table>
<p class="muted">Baselines: the most frequent training caption for every test clip (captioning); random similarities
(retrieval). Recalls are in percent.</p></div>
{"".join(sections)}
</main></body></html>
"""
    target = out / "report.html"
    target.write_text(page, encoding="utf-8")
    return target
