"""Dataset cards for `videotext prepare ... --push-to-hub REPO`, rendered with huggingface_hub's `DatasetCard`.

The card holds the schema of the `DatasetDict` (one row per column: feature type and content), the source dataset and
its licence, clip / caption counts per split and the clips the builder skipped (its build report). `push_dataset_card`
publishes the card first and then the rows with `DatasetDict.push_to_hub` (via
`videotext.datasets_scripts.push_dataset_to_hub`), which adds its `dataset_info` / `configs` metadata to the card.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .facts import dataset_source

__all__ = ["COLUMN_DESCRIPTIONS", "build_dataset_card", "feature_type", "push_dataset_card"]

TEMPLATE = Path(__file__).parent / "templates" / "dataset_card.md"

COLUMN_DESCRIPTIONS: dict[str, str] = {
    "video_id": "clip id (unique per split)",
    "video_path": "the clip's video file, relative to the repository (`videos/...`)",
    "start": "clip start in the video, seconds (null: from the beginning)",
    "end": "clip end in the video, seconds (null: to the end)",
    "captions": "reference captions of the clip",
    "nouns": "per caption: its nouns (fine-grained alignment)",
    "verbs": "per caption: its verbs (fine-grained alignment)",
    "keywords": "keywords of the clip's description",
    "description": "fine-grained description of the clip",
    "intention": "commonsense: the agent's intentions (V2C)",
    "effect": "commonsense: effects of the action (V2C)",
    "attribute": "commonsense: attributes of the agent (V2C)",
    "data_source": "`primary` or `auxiliary` (mixed training)",
    "expert_features_path": "file of precomputed expert features",
}

_SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                    (10_000_000, "1M<n<10M"))  # fmt: skip


def feature_type(feature: Any) -> str:
    """A short type name of a `datasets` feature: `string`, `float64`, `list<string>`, `list<list<string>>`."""
    inner = getattr(feature, "feature", None)
    if inner is not None:  # List / Sequence / LargeList
        return f"list<{feature_type(inner)}>"
    if isinstance(feature, list) and feature:
        return f"list<{feature_type(feature[0])}>"
    if isinstance(feature, dict):
        return "struct<" + ", ".join(f"{k}: {feature_type(v)}" for k, v in feature.items()) + ">"
    return str(getattr(feature, "dtype", None) or type(feature).__name__)


def _size_category(n: int) -> str:
    return next((name for limit, name in _SIZE_CATEGORIES if n < limit), "n>10M" if n >= 10_000_000 else "other")


def build_dataset_card(
    dd,
    repo_id: str,
    *,
    builder: str | None = None,
    license: str | None = None,
    pretty_name: str | None = None,
    with_videos: bool = True,
):
    """The `huggingface_hub.DatasetCard` of a built `DatasetDict` published as `repo_id`.

    `builder` (default: the one in the build report) picks the source facts (name, licence, terms of use) of
    `videotext.hub_cards.facts.DATASET_SOURCES`; `license` overrides the licence."""
    from huggingface_hub import DatasetCard, DatasetCardData

    from videotext.datasets_scripts import get_build_report

    report = get_build_report(dd) or {}
    builder = builder or report.get("builder") or "unknown"
    source = dataset_source(builder)
    license = license or source.license
    protocol = report.get("protocol")
    splits = [
        {"name": name, "clips": len(ds), "captions": sum(len(c) for c in ds["captions"]) if len(ds) else 0}
        for name, ds in dd.items()
    ]
    first = next(iter(dd.values()), None)
    features = first.features if first is not None else {}
    columns = [
        {"name": name, "type": feature_type(feature), "description": COLUMN_DESCRIPTIONS.get(name, "")}
        for name, feature in features.items()
    ]
    skipped = [
        {
            "reason": reason,
            "split": split,
            "count": count,
            "first_ids": ", ".join(report.get("skipped_first_ids", {}).get(reason, [])[:5]),
        }
        for reason, per_split in (report.get("skipped_counts") or {}).items()
        for split, count in per_split.items()
        if count
    ]
    total = sum(s["clips"] for s in splits)
    pretty_name = pretty_name or (f"{source.name} ({protocol})" if protocol else source.name)
    card_data = DatasetCardData(
        license=license,
        language=["en"],
        pretty_name=pretty_name,
        size_categories=[_size_category(total)],
        task_categories=["video-text-to-text"],
        tags=["videotext", "video-captioning", "video-text-retrieval", builder],
    )
    return DatasetCard.from_template(
        card_data,
        template_path=str(TEMPLATE),
        pretty_name=pretty_name,
        source=source,
        builder=builder,
        protocol=protocol,
        license=license,
        splits=splits,
        first_split=splits[0]["name"] if splits else "train",
        skipped=skipped,
        num_skipped=report.get("num_skipped", sum(r["count"] for r in skipped)),
        notes=list(report.get("notes") or []),
        columns=columns,
        repo_id=repo_id,
        with_videos=with_videos,
    )


def push_dataset_card(
    dd,
    repo_id: str,
    *,
    builder: str | None = None,
    license: str | None = None,
    private: bool | None = None,
    upload_videos: bool = True,
    token: str | None = None,
):
    """Publish `dd` to the Hub dataset repo `repo_id` with its card: create the repo, commit README.md (the card),
    then `push_dataset_to_hub` (parquet rows via `DatasetDict.push_to_hub`, which merges its `dataset_info` /
    `configs` metadata into the card, and the video files). Returns the card. Hub client errors propagate (see
    `videotext.hub_cards.export.hub_error_message`)."""
    from huggingface_hub import CommitOperationAdd, HfApi

    from videotext.datasets_scripts import push_dataset_to_hub

    card = build_dataset_card(dd, repo_id, builder=builder, license=license, with_videos=upload_videos)
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.create_commit(
        repo_id=repo_id,
        repo_type="dataset",
        operations=[CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=str(card).encode())],
        commit_message="Dataset card (videotext)",
    )
    push_dataset_to_hub(dd, repo_id, upload_videos=upload_videos, private=private)
    return card
