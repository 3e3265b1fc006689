"""What a card says that the method table does not: paper facts per `model_type`, Hub facts per task, and source facts
per dataset builder. Cards read these tables (never method names); a method missing here still gets a complete card
(its paper section says that no paper is registered) — add a `MethodFacts` entry with `register_method_facts`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "DATASET_SOURCES",
    "METHOD_FACTS",
    "TASK_FACTS",
    "DatasetSource",
    "MethodFacts",
    "TaskFacts",
    "dataset_source",
    "method_facts",
    "register_method_facts",
]

# a short clip used by transformers' own docs and tests (hf-internal-testing/fixtures_videos)
SAMPLE_VIDEO_URL = "https://huggingface.co/datasets/hf-internal-testing/fixtures_videos/resolve/main/tennis.mp4"


@dataclass(frozen=True)
class MethodFacts:
    """Paper facts of one method, keyed by its `model_type` (the papers are in the project's `shared/papers/`)."""

    model_type: str
    name: str  # display name, e.g. "MFFCL"
    paper_title: str | None = None
    authors: tuple[str, ...] = ()  # as printed in the paper; empty when the paper text names none
    year: int | None = None  # only when the paper text states it
    summary: str = ""  # one paragraph: the architecture and the losses
    backbones: dict[str, str] = field(default_factory=dict)  # recipe `model.backbones` key -> role in the model
    paper_results: tuple[str, ...] = ()  # the paper's headline numbers (what a user compares with)
    limitations: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def bibtex(self) -> str | None:
        """A BibTeX entry built from the paper facts above (only what the paper text states)."""
        if not self.paper_title:
            return None
        key = re.sub(r"[^a-z0-9]", "", self.name.lower()) + (str(self.year) if self.year else "")
        lines = [f"@misc{{{key},", f"  title = {{{self.paper_title}}},"]
        if self.authors:
            lines.append(f"  author = {{{' and '.join(self.authors)}}},")
        if self.year:
            lines.append(f"  year = {{{self.year}}},")
        lines.append(f"  note = {{{self.name}}}")
        return "\n".join(lines) + "\n}"


@dataclass(frozen=True)
class TaskFacts:
    """Hub facts of a task (`videotext.modeling.TASKS`): pipeline tag, tags, metric ids, widget examples."""

    task: str
    pipeline_tag: str  # huggingface.js pipelines: there is no video-to-text nor video-retrieval tag
    task_name: str  # model-index task name
    tags: tuple[str, ...]
    metrics: tuple[str, ...]  # Hub metric ids (card metadata `metrics`)
    widget: tuple[dict, ...]  # card metadata `widget` (hosted widgets do not run remote code)
    pipeline_call: str = 'pipe("clip.mp4")'  # a call of the exported custom pipeline (`hub_files/pipeline_*.py`)
    limitations: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetSource:
    """A dataset builder's source (`videotext.datasets_scripts.BUILDERS` key)."""

    builder: str
    name: str
    license: str = "other"  # Hub licence id of what a published copy holds
    terms: str = ""  # what the licence means for a published copy


METHOD_FACTS: dict[str, MethodFacts] = {}


def register_method_facts(facts: MethodFacts) -> MethodFacts:
    METHOD_FACTS[facts.model_type] = facts
    return facts


def method_facts(model_type: str) -> MethodFacts:
    """The facts of `model_type`; a bare entry (name = model_type, no paper) for a method without one."""
    return METHOD_FACTS.get(model_type) or MethodFacts(model_type=model_type, name=model_type)


for _facts in (
    MethodFacts(
        model_type="mffcl",
        name="MFFCL",
        paper_title="Multimodal Feature Fusion Video Description Model Integrating Attention Mechanism and "
        "Contrastive Learning",
        summary="A TimeSformer video encoder whose CLS token is mapped by an FFN to L tokens (Eq. 1), concatenated "
        "with r learnable query vectors and passed through a Transformer-encoder mapping network; the query outputs "
        "are the prefix of a GPT-2 caption decoder (Eq. 2). A video-text contrastive loss between the TimeSformer CLS "
        "and a BERT CLS (temperature 0.07, Eq. 3) aligns the video features with text. Trained in two stages "
        "(contrastive, then captioning) with an inverse-time learning-rate schedule (Eq. 4).",
        backbones={
            "vision": "TimeSformer video encoder",
            "text": "GPT-2 caption decoder",
            "text_encoder": "BERT text encoder (contrastive loss only)",
        },
        paper_results=("MSR-VTT: BLEU-4 46.6, METEOR 30.3, ROUGE-L 68.6, CIDEr 54.8 (paper, Table II)",),
        limitations=(
            "One global video token (the TimeSformer CLS) feeds the prefix: fine detail and long clips are summarised "
            "coarsely.",
        ),
        tags=("timesformer", "gpt2", "prefix-captioning", "contrastive-learning"),
    ),
    MethodFacts(
        model_type="dual_align",
        name="Dual alignment",
        paper_title="Cross-Modal Video Retrieval Model Based on Video-Text Dual Alignment",
        authors=("Zhanbin Che", "Huaili Guo"),
        summary="A TimeSformer video encoder and a DistilBERT text encoder with linear projections to a shared space. "
        "Global alignment: InfoNCE between mean-pooled video tokens and the text CLS, cosine similarity (Eqs. 1, 4). "
        "Fine-grained alignment: the caption's nouns (L2) or verbs (L3) are removed, the rest attends to the video "
        "tokens through a cross-attention multimodal encoder and is contrasted with the text embedding of the "
        "removed words (Eqs. 2, 5, 6). Retrieval uses the global embeddings.",
        backbones={"vision": "TimeSformer video encoder", "text": "DistilBERT text encoder"},
        paper_results=(
            "MSR-VTT 1k-A text-to-video: R@1 51.5, R@5 78.6, R@10 86.3, MdR 2.0 (paper, Table I)",
            "MSVD text-to-video: R@1 52.4 (paper abstract)",
        ),
        limitations=(
            "The noun / verb losses need part-of-speech annotations of the training captions (from the dataset, or "
            "the pluggable tagger).",
        ),
        tags=("timesformer", "distilbert", "contrastive-learning"),
    ),
    MethodFacts(
        model_type="clip4videocap",
        name="CLIP4VideoCap",
        paper_title="CLIP4VideoCap: Rethinking CLIP for Video Captioning with Multiscale Temporal Fusion and "
        "Commonsense Knowledge",
        authors=("Tanvir Mahmud", "Feng Liang", "Yaling Qing", "Diana Marculescu"),
        summary="A CLIP image encoder per frame, multi-scale temporal fusion, a Vis2Text module distilled to CLIP text "
        "features of the caption, and intention / effect / attribute sub-decoders whose features feed the caption "
        "decoder.",
        backbones={"vision": "CLIP image encoder", "text": "caption decoder (LLM)"},
        paper_results=(
            "MSR-VTT captioning: CIDEr 62.2, METEOR 31.5, ROUGE-L 65.8, BLEU-1 75.3 (paper, Tables 1 and 3)",
        ),
        limitations=(
            "The commonsense sub-decoders need V2C-style intention / effect / attribute annotations to train; their "
            "texts are only as good as those annotations.",
        ),
        tags=("clip", "commonsense"),
    ),
    MethodFacts(
        model_type="transdcs",
        name="TransDCS",
        paper_title="Improving Transformer with Dynamic Convolution and Shortcut for Video-Text Retrieval",
        authors=("Zhi Liu", "Jincen Cai", "Mengmeng Zhang"),
        year=2022,
        summary="An MMT-style multimodal transformer over up to 7 expert feature sequences (one aggregated token per "
        "modality) whose attention is Multi-head Conv-Self-Attention: self-attention heads and span-based dynamic "
        "convolution heads concatenated (Eqs. 2-4; padding and missing modalities masked inside the convolution), "
        "with augmented shortcuts around the attention and the FFN (Eqs. 5-8). A BERT text side with one gated "
        "embedding unit per modality and text-predicted modality weights; the similarity is renormalised over the "
        "modalities a video has; bidirectional max-margin ranking loss. The processor computes its experts from raw "
        "video (weight-free extractors, or transformers backbones named in its config) or reads precomputed ones.",
        backbones={"text": "BERT text encoder"},
        paper_results=(
            "LSMDC text-to-video: R@1 14.2, R@5 32.0, R@10 42.0, MdR 17.0, MnR 68.9 (paper, Table 2)",
            "ActivityNet Captions val1 paragraph-to-video: R@1 23.7, R@5 55.7, R@50 93.8 (paper, Table 3)",
            "MSR-VTT 1k-A text-to-video: R@1 25.2, R@5 56.6, R@10 70.0 (paper, Table 4)",
        ),
        limitations=(
            "The paper's numbers use MMT's released expert features (7 pretrained experts); the built-in weight-free "
            "extractors carry far less semantic information and suit small or synthetic data.",
        ),
        tags=("multimodal-transformer", "expert-features", "dynamic-convolution"),
    ),
    MethodFacts(
        model_type="svad_vlm",
        name="SVAD-VLM",
        paper_title="Spatiotemporal Fine-grained Video Description for Short Videos",
        summary="A ViT frame encoder with Global Multi-Head Relation Aggregators, a Q-Former with learnable queries, "
        "dual visual alignment chosen per sample by its data source, and an LLM decoder trained on fine-grained "
        "descriptions and prompt-guided keyword generation.",
        backbones={"vision": "ViT frame encoder", "text": "LLM decoder"},
        tags=("q-former", "fine-grained-description"),
    ),
):
    register_method_facts(_facts)


TASK_FACTS: dict[str, TaskFacts] = {
    "captioning": TaskFacts(
        task="captioning",
        pipeline_tag="video-text-to-text",
        task_name="Video captioning",
        tags=("video-captioning", "video-text-to-text"),
        metrics=("bleu", "meteor", "rouge", "cider"),
        widget=({"src": SAMPLE_VIDEO_URL, "example_title": "Caption a video (tennis)"},),
        pipeline_call='pipe("clip.mp4", max_new_tokens=30)  # [{"generated_text": ...}]',
        limitations=(
            "Captions follow the vocabulary and style of the training captions (English); objects, actions or "
            "attributes absent from them are not named, and the decoder can state things the video does not show.",
        ),
    ),
    "retrieval": TaskFacts(
        task="retrieval",
        pipeline_tag="feature-extraction",
        task_name="Video-text retrieval",
        tags=("video-text-retrieval", "text-to-video-retrieval", "feature-extraction"),
        metrics=("recall",),
        widget=(
            {"text": "a man is playing tennis", "example_title": "Text query"},
            {"src": SAMPLE_VIDEO_URL, "example_title": "Video (tennis)"},
        ),
        pipeline_call='pipe(text="a man is playing tennis", videos=["clip.mp4", "other.mp4"])  # [{"video", "score"}]',
        limitations=(
            "Embeddings rank videos against texts; their absolute cosine scores are not calibrated probabilities.",
            "Queries are matched in the language and domain of the training captions (English).",
        ),
    ),
}

DATASET_SOURCES: dict[str, DatasetSource] = {
    source.builder: source
    for source in (
        DatasetSource("synthetic", "videotext synthetic benchmark", "apache-2.0",
                      "Generated by videotext (`videotext synth`): rendered shapes, no third-party content."),
        DatasetSource("msrvtt", "MSR-VTT"),
        DatasetSource("msvd", "MSVD (Microsoft Research Video Description Corpus)"),
        DatasetSource("vatex", "VATEX"),
        DatasetSource("webvid", "WebVid"),
        DatasetSource("cc3m", "Conceptual Captions (CC3M)"),
        DatasetSource("folder", "a folder of videos with a captions file"),
        DatasetSource("lsmdc", "LSMDC (Large Scale Movie Description Challenge)"),
        DatasetSource("activitynet", "ActivityNet Captions"),
    )
}  # fmt: skip

_THIRD_PARTY_TERMS = (
    "The videos and captions come from {name}; its original terms of use apply to them. Check them before "
    "publishing or redistributing a copy."
)


def dataset_source(builder: str | None) -> DatasetSource:
    """The source facts of a builder; a generic entry (licence `other`) for one without any."""
    source = DATASET_SOURCES.get(builder or "") or DatasetSource(builder or "unknown", builder or "unknown source")
    if not source.terms:
        source = DatasetSource(source.builder, source.name, source.license, _THIRD_PARTY_TERMS.format(name=source.name))
    return source
