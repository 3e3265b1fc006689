"""Load an exported method folder the way a Hub user does, in a process where `videotext` cannot be imported.

    python utils/load_exported.py MODEL_DIR VIDEO.mp4 --text "a caption" --out result.pt

The folder's `auto_map` names its Auto model class; the model and processor load with `trust_remote_code=True`.
A captioner (`model.can_generate()`) runs greedy `generate` and a forward with the cache on; a retriever runs `get_video_features` /
`get_text_features`. The tensors go to `--out` (torch.save) and a one-line JSON summary to stdout, with the
versions of the packages that ran it. This file imports nothing from videotext, by design.
"""

from __future__ import annotations

import argparse
import importlib.abc
import json
import sys


class _RefuseVideotext(importlib.abc.MetaPathFinder):
    """Make `import videotext` fail even where the package is installed (editable or not)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "videotext" or fullname.startswith("videotext."):
            raise ImportError(f"{fullname} is blocked: exported folders must load without videotext")
        return None


def compute_outputs(model, processor, video, text: str, max_new_tokens: int) -> dict:
    """What is compared between the exporting process and the child: greedy ids and the logits of a forward with the
    decoder cache on (captioners, `model.can_generate()`), or the video and text features (retrievers)."""
    import torch

    inputs = processor(videos=[video], text=[text], return_tensors="pt")
    with torch.no_grad():
        if model.can_generate():
            ids = model.generate(inputs["pixel_values_videos"], max_new_tokens=max_new_tokens, do_sample=False)
            # teacher-forced forward with the decoder cache on: the text is the prompt after the visual prefix
            keys = ("pixel_values_videos", "input_ids", "attention_mask")
            logits = model(**{k: inputs[k] for k in keys}, use_cache=True).logits
            return {"ids": ids, "logits": logits}
        import inspect

        # the processor outputs the video side takes by name (`pixel_values_videos`, or a method's own inputs)
        params = inspect.signature(model.get_video_features).parameters
        return {
            "video_embeds": model.get_video_features(**{k: v for k, v in inputs.items() if k in params}),
            "text_embeds": model.get_text_features(inputs["input_ids"], inputs["attention_mask"]),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("video")
    parser.add_argument("--text", default="a red circle moves left")
    parser.add_argument("--out", required=True, help="torch.save file for the outputs")
    parser.add_argument("--max-new-tokens", type=int, default=6)
    args = parser.parse_args(argv)

    sys.meta_path.insert(0, _RefuseVideotext())
    import huggingface_hub
    import torch
    import transformers

    torch.set_num_threads(1)  # the exporting process uses one thread too: same reduction order, same numbers
    with open(f"{args.model_dir}/config.json") as f:
        auto_map = json.load(f)["auto_map"]
    auto_name = next(name for name in auto_map if name.startswith("AutoModel"))
    model = getattr(transformers, auto_name).from_pretrained(args.model_dir, trust_remote_code=True).eval()
    processor = transformers.AutoProcessor.from_pretrained(args.model_dir, trust_remote_code=True)
    result = compute_outputs(model, processor, args.video, args.text, args.max_new_tokens)
    if "ids" in result:
        result["caption"] = processor.batch_decode(result["ids"], skip_special_tokens=True)[0]
    torch.save(result, args.out)
    summary = {
        "model_class": f"{type(model).__module__}.{type(model).__name__}",
        "auto_class": auto_name,
        "processor_class": type(processor).__name__,
        "videotext_in_modules": any(m == "videotext" or m.startswith("videotext.") for m in sys.modules),
        "outputs": {k: list(v.shape) if hasattr(v, "shape") else v for k, v in result.items()},
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "huggingface_hub": huggingface_hub.__version__,
        },
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
