"""`videotext-retrieval`: a transformers custom pipeline that ranks videos for a text, or texts for a video, with an
exported videotext retriever.

    from transformers import pipeline

    pipe = pipeline(model="path/or/repo", trust_remote_code=True)
    pipe(text="a red circle moves left", videos=["a.mp4", "b.mp4"])   # [{"video": "b.mp4", "score": 0.41}, ...]
    pipe(video="a.mp4", texts=["a red circle", "a blue square"])     # [{"text": "a red circle", "score": 0.37}, ...]
    pipe(text="...", videos=[...], top_k=5)                          # the 5 best only

Scores are cosine similarities of the L2-normalised `model.get_text_features(input_ids=, attention_mask=)` and
`model.get_video_features(**video inputs)` embeddings (the processor's video outputs: `pixel_values_videos`, or a
method's own such as TransDCS's expert features), or the model's `score_embeddings(text, video)` when it defines
one; results are sorted best first (ties keep the input
order). A video is a path or a uint8 `(T, H, W, 3)` array / tensor; a video result names it by its path, or by its
position in `videos` when it is an array. Several queries: pass a list of `{"text": ..., "videos": [...]}` /
`{"video": ..., "texts": [...]}` dicts (one result list each). `video_kwargs={...}` goes to the video processor and
`video_batch_size` (default 8) bounds how many videos go through the model at once.

`encode_videos(videos)` / `encode_texts(texts)` return the normalised embeddings, `(N, D)` float32 on the CPU, for
callers that index a gallery once and search it many times (the Space app does).

Hub code: imports only the standard library, torch and transformers (the folder's `config.json` names this file in
`custom_pipelines`).
"""

from __future__ import annotations

import os

import torch
from transformers import Pipeline

__all__ = ["VideoTextRetrievalPipeline"]


def _as_embeddings(output) -> torch.Tensor:
    """`get_*_features` output (a tensor, or a ModelOutput with `pooler_output` / a first field) -> `(N, D)`."""
    if isinstance(output, torch.Tensor):
        return output
    pooled = getattr(output, "pooler_output", None)
    return pooled if isinstance(pooled, torch.Tensor) else output[0]


def _normalise(embeds: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(embeds.float(), dim=-1)


def _video_name(video, index: int):
    if isinstance(video, (str, os.PathLike)):
        return os.fspath(video)
    return index


class VideoTextRetrievalPipeline(Pipeline):
    """Text -> ranked videos, or video -> ranked texts, as `[{"video"|"text": ..., "score": float}]` best first."""

    _load_processor = True
    _load_tokenizer = False
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False
    _pipeline_calls_generate = False
    videotext_task = "retrieval"

    def __call__(self, inputs=None, *, text=None, videos=None, video=None, texts=None, **kwargs):
        """`pipe(text=..., videos=[...])`, `pipe(video=..., texts=[...])`, or `pipe(query_dict_or_list)`."""
        keywords = {
            k: v for k, v in {"text": text, "videos": videos, "video": video, "texts": texts}.items() if v is not None
        }
        if inputs is None:
            inputs = keywords
        elif keywords:
            raise ValueError("pass the query either as `inputs` or as keywords (text/videos, video/texts), not both")
        if isinstance(inputs, tuple):
            inputs = list(inputs)
        for query in inputs if isinstance(inputs, list) else [inputs]:
            self._check_query(query)
        return super().__call__(inputs, **kwargs)

    @staticmethod
    def _check_query(query) -> None:
        if not isinstance(query, dict):
            raise ValueError(f"a retrieval query is a dict, got {type(query).__name__}")
        keys = set(query)
        if keys == {"text", "videos"}:
            if not isinstance(query["text"], str):
                raise ValueError("`text` must be a string (one query); pass several queries as a list of dicts")
            candidates = query["videos"]
        elif keys == {"video", "texts"}:
            candidates = query["texts"]
            if isinstance(candidates, str) or not all(isinstance(t, str) for t in candidates):
                raise ValueError("`texts` must be a list of strings")
        else:
            raise ValueError(f"a retrieval query needs `text` + `videos` or `video` + `texts`, got {sorted(keys)}")
        if isinstance(candidates, (str, os.PathLike)) or len(candidates) == 0:
            raise ValueError("the candidates to rank must be a non-empty list")

    def _sanitize_parameters(self, video_kwargs=None, video_batch_size=None, top_k=None):
        preprocess_params = {"video_kwargs": dict(video_kwargs)} if video_kwargs else {}
        forward_params = {"video_batch_size": int(video_batch_size)} if video_batch_size else {}
        postprocess_params = {"top_k": int(top_k)} if top_k is not None else {}
        return preprocess_params, forward_params, postprocess_params

    # ------------------------------------------------------------------------------------------ embeddings
    def _video_inputs(self, videos, video_kwargs=None) -> dict:
        videos = [os.fspath(v) if isinstance(v, os.PathLike) else v for v in videos]
        out = self.processor(videos=videos, return_tensors="pt", **(video_kwargs or {}))
        return {k: v for k, v in out.items() if isinstance(v, torch.Tensor) and k not in ("input_ids", "attention_mask")}

    def _text_inputs(self, texts) -> dict:
        encoded = self.processor(text=list(texts), return_tensors="pt")
        return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}

    def _embed_videos(self, video_inputs: dict, batch_size: int = 8) -> torch.Tensor:
        chunks = []
        count = next(iter(video_inputs.values())).shape[0]
        for start in range(0, count, max(1, batch_size)):
            chunk = {
                k: v[start : start + batch_size].to(self.device, self.model.dtype if v.is_floating_point() else v.dtype)
                for k, v in video_inputs.items()
            }
            chunks.append(_normalise(_as_embeddings(self.model.get_video_features(**chunk))))
        return torch.cat(chunks)

    def score(self, text_embeds: torch.Tensor, video_embeds: torch.Tensor) -> torch.Tensor:
        """`(num_texts, num_videos)` scores of normalised embeddings: the model's `score_embeddings` when it has
        one, else the cosine."""
        score = getattr(self.model, "score_embeddings", None)
        if score is not None:
            return score(text_embeds.float(), video_embeds.float())
        return text_embeds @ video_embeds.t()

    def _embed_texts(self, text_inputs: dict) -> torch.Tensor:
        text_inputs = {k: v.to(self.device) for k, v in text_inputs.items()}
        return _normalise(_as_embeddings(self.model.get_text_features(**text_inputs)))

    def encode_videos(self, videos, video_kwargs=None, video_batch_size: int = 8) -> torch.Tensor:
        """Normalised video embeddings `(N, D)` (float32, CPU) of a list of paths / uint8 arrays."""
        with torch.no_grad():
            return self._embed_videos(self._video_inputs(list(videos), video_kwargs), video_batch_size).cpu()

    def encode_texts(self, texts) -> torch.Tensor:
        """Normalised text embeddings `(N, D)` (float32, CPU) of a list of strings."""
        with torch.no_grad():
            return self._embed_texts(self._text_inputs([texts] if isinstance(texts, str) else texts)).cpu()

    # ------------------------------------------------------------------------------------------ pipeline steps
    def preprocess(self, query, video_kwargs=None):
        if "text" in query:
            videos = list(query["videos"])
            return {
                "text_inputs": self._text_inputs([query["text"]]),
                "video_inputs": self._video_inputs(videos, video_kwargs),
                "names": [_video_name(v, i) for i, v in enumerate(videos)],
                "kind": "video",
            }
        texts = list(query["texts"])
        return {
            "text_inputs": self._text_inputs(texts),
            "video_inputs": self._video_inputs([query["video"]], video_kwargs),
            "names": texts,
            "kind": "text",
        }

    def _forward(self, model_inputs, video_batch_size: int = 8):
        video_embeds = self._embed_videos(model_inputs["video_inputs"], video_batch_size)
        text_embeds = self._embed_texts(model_inputs["text_inputs"])
        if model_inputs["kind"] == "video":
            scores = self.score(text_embeds[:1], video_embeds)[0]  # one text against every video
        else:
            scores = self.score(text_embeds, video_embeds[:1])[:, 0]  # one video against every text
        return {"scores": scores, "names": model_inputs["names"], "kind": model_inputs["kind"]}

    def postprocess(self, model_outputs, top_k=None):
        scores = model_outputs["scores"].float().tolist()
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        if top_k is not None:
            order = order[: max(0, top_k)]
        kind, names = model_outputs["kind"], model_outputs["names"]
        return [{kind: names[i], "score": float(scores[i])} for i in order]
