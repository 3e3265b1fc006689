"""Text-side data steps for fine-grained descriptions: keyword extraction (`videotext keywords`) and the SVAD paper's
dataset statistics (`videotext stats`: Table 1 / Table 3 measures, Figure 2 / Figure 4 style plots).

Keywords (SVAD-VLM Section 4.2 extracts them "using LLM"):

- `heuristic` (default): the description's content words (no closed-class word, no number) that are NOT template
  words of the corpus: a word in more than `max_document_share` of the annotations ("starts", "background", ...)
  names nothing particular to the clip. Order of first mention, no repeats.
- `llm`: any local causal LM (`--model PATH`, loaded with `AutoModelForCausalLM`) answers `KEYWORD_PROMPT`; its
  comma-separated answer is kept word by word where the word occurs in the description (an LLM may paraphrase);
  an answer with no such word falls back to the heuristic and is counted.

POS shares use spaCy when it is installed (`pip install videotext[pos]`), else `heuristic_pos`: a closed-class
lexicon plus suffix rules (-ly adverbs, -ing/-ed/-s verb forms after a pronoun or "then", colour / size / shape
adjectives and -al/-ous/-ful/-ive/-able/-ic/-ish adjectives, nouns otherwise); its shares are approximate and the
report says which tagger made them.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = [
    "KEYWORD_PROMPT",
    "dataset_stats",
    "extract_keywords",
    "heuristic_pos",
    "llm_keyword_extractor",
    "plot_stats",
]

KEYWORD_PROMPT = (
    "Extract the keywords of this short-video description: the words that name the subjects, their visual details "
    "(colour, shape, size, material, clothing) and their movements. Answer with the keywords only, separated by "
    "commas.\nDescription: {description}\nKeywords:"
)

FUNCTION_WORDS = frozenset(
    """a an the this that these those it its it's he she they them his her their we our you your i my me him us
    of on in at to from into onto toward towards over under above below by with without about around across through
    during before after until while since near next beside between behind along against up down out off
    and or but nor so then than also too very just only again
    is are was were be been being am has have had do does did will would can could shall should may might must
    not no there here when where which who whom whose what how why as if because though although
    one two three four five six seven eight nine ten first second half""".split()
)
ADJECTIVES = frozenset(
    """red green blue yellow purple orange cyan black white gray grey brown pink small large big little tiny huge
    round square triangular pointy angular plain bright dark light long short tall wide narrow left right upper
    lower full empty new old young""".split()
)
_ADJ_SUFFIX = ("al", "ous", "ful", "ive", "able", "ible", "ic", "ish", "less")
_VERB_AFTER = frozenset({"it", "he", "she", "they", "then", "and", "who", "which", "that", "to"})


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+(?:[-'][a-z]+)*", text.lower())


def heuristic_pos(text: str) -> list[tuple[str, str]]:
    """(word, tag) with tags ADV / VERB / ADJ / NOUN / OTHER (module docstring: an approximation)."""
    words = _words(text)
    out = []
    for i, word in enumerate(words):
        prev = words[i - 1] if i else ""
        if word in FUNCTION_WORDS:
            tag = "OTHER"
        elif word in ADJECTIVES or word.endswith(_ADJ_SUFFIX) or word.endswith("-shaped"):
            tag = "ADJ"
        elif word.endswith("ly"):
            tag = "ADV"
        elif word.endswith(("ing", "ed")) or (prev in _VERB_AFTER and word.endswith("s")):
            tag = "VERB"
        else:
            tag = "NOUN"
        out.append((word, tag))
    return out


def _pos_tagger() -> tuple[str, Callable[[str], list[tuple[str, str]]]]:
    try:
        import spacy

        nlp = spacy.load("en_core_web_sm", disable=["ner", "parser", "lemmatizer"])
    except (ImportError, OSError):
        return "heuristic", heuristic_pos
    tags = {"ADV": "ADV", "VERB": "VERB", "NOUN": "NOUN", "PROPN": "NOUN", "ADJ": "ADJ"}
    return "spacy:en_core_web_sm", lambda text: [(t.text.lower(), tags.get(t.pos_, "OTHER")) for t in nlp(text)
                                                 if t.is_alpha]  # fmt: skip


# ------------------------------------------------------------------------------------------------ keywords
def template_words(texts: Sequence[str], max_document_share: float = 0.5) -> set[str]:
    """Words found in more than `max_document_share` of `texts` (a corpus's template words)."""
    if not texts:
        return set()
    df = Counter(w for t in texts for w in set(_words(t)))
    return {w for w, n in df.items() if n / len(texts) > max_document_share}


def extract_keywords(text: str, template: set[str] | frozenset = frozenset()) -> list[str]:
    """The heuristic keywords of one description (module docstring)."""
    return list(dict.fromkeys(w for w in _words(text) if w not in FUNCTION_WORDS and w not in template))


def llm_keyword_extractor(model_path: str, max_new_tokens: int = 32, device: str | None = None):
    """`description -> keywords or None` with a local causal LM answering `KEYWORD_PROMPT` greedily."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path).eval()
    model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))

    @torch.no_grad()
    def extract(description: str) -> list[str] | None:
        prompt = KEYWORD_PROMPT.format(description=description)
        ids = tokenizer(prompt, return_tensors="pt").to(model.device)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)
        answer = tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
        present = set(_words(description))
        words = [w for part in re.split(r"[,\n;]", answer) for w in _words(part) if w in present]
        words = [w for w in dict.fromkeys(words) if w not in FUNCTION_WORDS]
        return words or None

    return extract


def cli_keywords(args) -> int:
    """`videotext keywords DATASET --out DIR [--model LM] [--max-document-share 0.5]`: fill the `keywords` column
    from each clip's description (its first caption when it has none) and save the DatasetDict."""
    from .datasets_scripts import load_prepared

    dataset = load_prepared(args.dataset)
    texts = {s: [_annotation(r) for r in ds] for s, ds in dataset.items()}
    template = template_words([t for ts in texts.values() for t in ts], args.max_document_share)
    llm = llm_keyword_extractor(args.model) if args.model else None
    fallbacks = 0
    out = {}
    for split, ds in dataset.items():
        keywords = []
        for text in texts[split]:
            found = llm(text) if llm is not None and text else None
            if llm is not None and found is None:
                fallbacks += 1
            keywords.append(found or extract_keywords(text, template))
        if "keywords" in ds.column_names:
            ds = ds.remove_columns("keywords")
        out[split] = ds.add_column("keywords", keywords)
    import datasets

    datasets.DatasetDict(out).save_to_disk(args.out)
    method = f"llm:{args.model}" if llm is not None else "heuristic"
    print(f"keywords ({method}) for {sum(len(d) for d in out.values())} clips -> {args.out}"
          + (f"; {fallbacks} LLM answers named no word of their description (heuristic used)" if llm else "")
          + (f"; template words left out: {', '.join(sorted(template))}" if template else ""))  # fmt: skip
    return 0


def _annotation(row: dict) -> str:
    return (row.get("description") or "").strip() or next((c for c in row.get("captions") or [] if c), "")


# ------------------------------------------------------------------------------------------------ statistics
def _duration(row: dict) -> float | None:
    if row.get("start") is not None and row.get("end") is not None:
        return float(row["end"]) - float(row["start"])
    try:
        import decord

        reader = decord.VideoReader(row["video_path"], num_threads=1)
        fps = reader.get_avg_fps()
        return len(reader) / fps if fps else None
    except Exception:  # an unreadable file has no duration; it is counted, not fatal
        return None


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def dataset_stats(rows: Sequence[dict], text: str = "auto", seed: int = 0) -> dict:
    """Table 1 (clips, mean duration, words per annotation, words per second) and Table 3 (POS shares, average
    per-annotation n-grams found in no other annotation, n = 1..4) measures, plus the per-annotation series of the
    Figure 2 histograms and the Figure 4 type-annotation curve (unique 4-grams vs annotations, shuffled order)."""
    annotations = []
    for row in rows:
        if text == "captions" or (text == "auto" and not (row.get("description") or "").strip()):
            annotations += [(row, c) for c in row.get("captions") or [] if c and c.strip()]
        else:
            annotations.append((row, row.get("description") or ""))
    annotations = [(r, t) for r, t in annotations if t.strip()]
    if not annotations:
        raise ValueError("no annotation text in the split")
    tagger_name, tagger = _pos_tagger()
    durations = {}
    for row in rows:
        key = (row.get("video_path"), row.get("start"), row.get("end"))
        durations[key] = _duration(row)
    lengths, wps, nouns, verbs = [], [], [], []
    pos = Counter()
    tokenised = []
    for row, t in annotations:
        words = _words(t)
        tokenised.append(words)
        lengths.append(len(words))
        d = durations.get((row.get("video_path"), row.get("start"), row.get("end")))
        if d:
            wps.append(len(words) / d)
        tags = tagger(t)
        pos.update(tag for _, tag in tags)
        nouns.append(len({w for w, tag in tags if tag == "NOUN"}))
        verbs.append(len({w for w, tag in tags if tag == "VERB"}))
    total_tags = sum(pos.values()) or 1
    unique = {}
    for n in range(1, 5):
        counts = Counter(g for words in tokenised for g in _ngrams(words, n))
        unique[f"{n}-gram"] = sum(sum(counts[g] == 1 for g in _ngrams(w, n)) for w in tokenised) / len(tokenised)
    order = list(range(len(tokenised)))
    random.Random(seed).shuffle(order)
    seen, curve = set(), []
    for k, i in enumerate(order, 1):
        seen |= _ngrams(tokenised[i], 4)
        curve.append((k, len(seen)))
    known = [d for d in durations.values() if d]
    return {
        "table1": {
            "clips": len(rows),
            "annotations": len(annotations),
            "mean_duration_s": sum(known) / len(known) if known else None,
            "clips_without_duration": sum(1 for d in durations.values() if not d),
            "words_per_second": sum(wps) / len(wps) if wps else None,
            "words_per_annotation": sum(lengths) / len(lengths),
        },
        "table3": {
            "pos_tagger": tagger_name,
            **{f"%{tag.capitalize()}": 100.0 * pos[tag] / total_tags for tag in ("ADV", "VERB", "NOUN", "ADJ")},
            "average_unique_ngrams": unique,
        },
        "series": {
            "lengths": lengths,
            "words_per_second": wps,
            "unique_verbs": verbs,
            "unique_nouns": nouns,
            "type_annotation_curve": curve,
        },  # fmt: skip
    }


def plot_stats(stats: dict, out_dir: str | Path, name: str = "dataset") -> list[Path]:
    """Figure 2 (4 histograms) and Figure 4 (type-annotation curve) style PNGs in `out_dir`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    series = stats["series"]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.2))
    for ax, key, title in zip(axes, ("lengths", "words_per_second", "unique_verbs", "unique_nouns"),
                              ("(a) annotation length", "(b) words per second", "(c) unique verbs / annotation",
                               "(d) unique nouns / annotation")):  # fmt: skip
        values = series[key]
        if values:
            ax.hist(values, bins=min(30, max(5, int(math.sqrt(len(values))))), color="tab:blue", alpha=0.8)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("annotations")
    fig.suptitle(f"{name}: annotation statistics")
    fig.tight_layout()
    fig2_path = out_dir / "fig2_histograms.png"
    fig.savefig(fig2_path, dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    xs, ys = zip(*series["type_annotation_curve"])
    ax.plot(xs, ys, label=name)
    ax.set_xlabel("annotations")
    ax.set_ylabel("unique 4-grams")
    ax.set_title("type-annotation curve")
    ax.legend()
    fig.tight_layout()
    fig4_path = out_dir / "fig4_type_annotation.png"
    fig.savefig(fig4_path, dpi=100)
    plt.close(fig)
    return [fig2_path, fig4_path]


def cli_stats(args) -> int:
    """`videotext stats DATASET [--split S] [--text auto|description|captions] --out DIR`."""
    from .datasets_scripts import load_prepared

    dataset = load_prepared(args.dataset)
    splits = [args.split] if args.split else list(dataset)
    missing = [s for s in splits if s not in dataset]
    if missing:
        raise SystemExit(f"videotext stats: split {missing[0]!r} not in {args.dataset} (has {list(dataset)})")
    rows = [row for s in splits for row in dataset[s]]
    stats = dataset_stats(rows, text=args.text)
    out = Path(args.out)
    paths = plot_stats(stats, out, name=Path(args.dataset).name)
    summary = {k: stats[k] for k in ("table1", "table3")}
    (out / "stats.json").write_text(json.dumps({**summary, "splits": splits, "text": args.text}, indent=2))
    for table, values in summary.items():
        for key, value in values.items():
            print(
                f"{table:>6} {key:>24}: {value:.3f}" if isinstance(value, float) else f"{table:>6} {key:>24}: {value}"
            )
    print("wrote " + ", ".join(str(p) for p in [out / "stats.json", *paths]))
    return 0
