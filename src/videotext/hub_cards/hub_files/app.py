"""Gradio demo (a Hugging Face Space app) for an exported videotext model folder.

    python app.py                                   # on a Space: the model is this folder, port $GRADIO_SERVER_PORT
    python app.py --model-dir DIR --port 7860       # locally
    python app.py --model-dir DIR --examples CLIPS  # a retriever searching the clips in CLIPS/

The model loads with `transformers.pipeline(model=DIR, trust_remote_code=True)`: the folder's config.json names its
custom pipeline (`custom_pipelines`), the pipeline file and the model code sit in the folder; videotext is not needed.

- A captioner (`videotext-captioning`): upload a video, pick the decoding (beams, sampling, top-p, length), read the
  caption.
- A retriever (`videotext-retrieval`): a gallery of clips (the `examples/` folder next to the model, `--examples`,
  plus any uploaded files), searched with a text box; the results are shown best first with their first frame and
  cosine score. The gallery is embedded once; a query embeds only its text.

Space requirements: gradio, torch, torchvision, transformers, decord, numpy, pillow (requirements.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


# ------------------------------------------------------------------------------------------------- model side
def load_pipeline(model_dir: str | Path, device: str | None = None):
    """The folder's custom pipeline (captioning or retrieval), loaded with remote code."""
    from transformers import pipeline

    kwargs = {"device": device} if device else {}
    return pipeline(model=str(model_dir), trust_remote_code=True, **kwargs)


def pipeline_task(pipe) -> str:
    """ "captioning" or "retrieval" (the pipeline class says; a generating model is a captioner otherwise)."""
    task = getattr(pipe, "videotext_task", None)
    if task is None:
        task = "captioning" if pipe.model.can_generate() else "retrieval"
    return task


def generation_kwargs(num_beams, do_sample, top_p, max_new_tokens) -> dict:
    """The UI's decoding controls -> `generate` kwargs (top-p only when sampling)."""
    kwargs = {"num_beams": int(num_beams), "do_sample": bool(do_sample), "max_new_tokens": int(max_new_tokens)}
    if kwargs["do_sample"]:
        kwargs["top_p"] = float(top_p)
    return kwargs


def first_frame(path: str | Path, size: int = 160) -> np.ndarray:
    """The first frame of a video, uint8 (H, W, 3) (a grey tile if it cannot be decoded)."""
    try:
        import decord

        reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
        frame = reader[0].asnumpy()
        height, width = frame.shape[:2]
        # decord 0.6 keeps ffmpeg's padded row stride for some narrow widths: drop the padding bytes of each row
        frame = frame.reshape(height, -1)[:, : width * 3].reshape(height, width, 3)
    except Exception:
        return np.full((size * 3 // 4, size, 3), 128, dtype=np.uint8)
    scale = max(1, size // max(frame.shape[:2]))  # tiny clips: nearest-neighbour upscaling keeps the pixels sharp
    return np.ascontiguousarray(frame.repeat(scale, axis=0).repeat(scale, axis=1))


def list_videos(folder: str | Path | None) -> list[str]:
    if not folder or not Path(folder).is_dir():
        return []
    return [str(p) for p in sorted(Path(folder).iterdir()) if p.suffix.lower() in VIDEO_SUFFIXES]


class Gallery:
    """Video paths -> normalised embeddings and first-frame thumbnails, computed once per file."""

    def __init__(self, pipe, videos: list[str]):
        self.pipe = pipe
        self.videos = list(videos)
        self.embeddings: dict[str, torch.Tensor] = {}
        self.thumbnails: dict[str, np.ndarray] = {}

    def thumbnail(self, path: str) -> np.ndarray:
        if path not in self.thumbnails:
            self.thumbnails[path] = first_frame(path)
        return self.thumbnails[path]

    def paths(self, uploads=None) -> list[str]:
        extra = [u if isinstance(u, str) else getattr(u, "name", str(u)) for u in (uploads or [])]
        return list(dict.fromkeys(self.videos + extra))

    def search(self, query: str, uploads=None) -> list[tuple[str, float]]:
        paths = self.paths(uploads)
        missing = [p for p in paths if p not in self.embeddings]
        if missing:
            for path, embedding in zip(missing, self.pipe.encode_videos(missing)):
                self.embeddings[path] = embedding
        if not paths:
            return []
        video_embeds = torch.stack([self.embeddings[p] for p in paths])
        scores = self.pipe.score(self.pipe.encode_texts([query]), video_embeds)[0].tolist()
        order = sorted(range(len(paths)), key=lambda i: (-scores[i], i))
        return [(paths[i], float(scores[i])) for i in order]


# ------------------------------------------------------------------------------------------------- the UI
def _title(model_dir: Path, task: str) -> str:
    try:
        model_type = json.loads((model_dir / "config.json").read_text()).get("model_type", model_dir.name)
    except (OSError, ValueError):
        model_type = model_dir.name
    return f"{model_type}: {'video captioning' if task == 'captioning' else 'text-to-video search'}"


EMPTY_CAPTION = "(the model generated an empty caption)"


def captioning_demo(pipe, title: str):
    import gradio as gr

    def caption(video, num_beams, do_sample, top_p, max_new_tokens):
        if not video:
            raise gr.Error("Upload a video first.")
        result = pipe(video, **generation_kwargs(num_beams, do_sample, top_p, max_new_tokens))
        # an empty box would look like nothing happened
        return result[0]["generated_text"] or EMPTY_CAPTION

    with gr.Blocks(title=title) as demo:
        gr.Markdown(f"# {title}\nUpload a short video clip and press **Caption**.")
        with gr.Row():
            with gr.Column():
                video = gr.Video(label="Video", sources=["upload"], height=320, elem_id="video")
                num_beams = gr.Slider(1, 8, value=1, step=1, label="Beams (num_beams)", elem_id="num_beams")
                do_sample = gr.Checkbox(value=False, label="Sample (do_sample)", elem_id="do_sample")
                top_p = gr.Slider(0.05, 1.0, value=0.9, step=0.05, label="Top-p (when sampling)", elem_id="top_p")
                max_new_tokens = gr.Slider(1, 64, value=20, step=1, label="Max new tokens", elem_id="max_new_tokens")
                button = gr.Button("Caption", variant="primary", elem_id="caption-button")
            with gr.Column():
                output = gr.Textbox(label="Caption", lines=3, interactive=False, elem_id="caption")
        button.click(caption, [video, num_beams, do_sample, top_p, max_new_tokens], output, api_name="caption")
    return demo


def retrieval_demo(pipe, title: str, examples: list[str]):
    import gradio as gr

    gallery = Gallery(pipe, examples)

    def tiles(ranked: list[tuple[str, float | None]]):
        items = []
        for rank, (path, score) in enumerate(ranked, start=1):
            label = Path(path).name if score is None else f"{rank}. {Path(path).name} ({score:.3f})"
            items.append((gallery.thumbnail(path), label))
        return items

    def table(ranked: list[tuple[str, float]]) -> str:
        rows = [f"| {rank} | {Path(p).name} | {s:.4f} |" for rank, (p, s) in enumerate(ranked, start=1)]
        return "\n".join(["| rank | video | score |", "| ---: | --- | ---: |", *rows])

    def search(query, uploads):
        if not query or not query.strip():
            raise gr.Error("Type what to search for.")
        if not gallery.paths(uploads):
            raise gr.Error("No videos to search: add some with the upload box.")
        ranked = gallery.search(query.strip(), uploads)
        return tiles(ranked), table(ranked)

    def show(uploads=None):
        return tiles([(p, None) for p in gallery.paths(uploads)])

    with gr.Blocks(title=title) as demo:
        gr.Markdown(f"# {title}\nType a description and press **Search** to rank the videos below.")
        with gr.Row():
            query = gr.Textbox(label="Search", placeholder="a red circle moves left", scale=4, elem_id="query")
            button = gr.Button("Search", variant="primary", scale=1, elem_id="search-button")
        results = gr.Gallery(label="Videos", columns=4, height="auto", object_fit="contain", elem_id="results")
        ranking = gr.Markdown(elem_id="ranking")
        uploads = gr.File(
            label="Add videos to the gallery",
            file_count="multiple",
            file_types=["video"],
            height=140,
            elem_id="uploads",
        )
        button.click(search, [query, uploads], [results, ranking], api_name="search")
        query.submit(search, [query, uploads], [results, ranking])
        uploads.change(show, [uploads], results)
        demo.load(show, None, results)
    return demo


def build_demo(model_dir: str | Path = HERE, examples: str | Path | None = None, device: str | None = None):
    model_dir = Path(model_dir)
    pipe = load_pipeline(model_dir, device)
    task = pipeline_task(pipe)
    title = _title(model_dir, task)
    if task == "captioning":
        return captioning_demo(pipe, title)
    return retrieval_demo(pipe, title, list_videos(examples if examples is not None else model_dir / "examples"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=str(HERE), help="the exported model folder (default: this folder)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument(
        "--examples", default=None, help="folder of clips a retriever searches (default: MODEL_DIR/examples)"
    )
    parser.add_argument(
        "--device", default=None, help="torch device, e.g. cpu or cuda:0 (default: the first GPU, else CPU)"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    demo = build_demo(args.model_dir, args.examples, args.device)
    demo.queue().launch(server_name=args.host, server_port=args.port, show_error=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
