"""Seconds per clip of TransDCS expert extraction: weight-free experts against transformers-backbone experts.

No pretrained weights exist on these machines, so the backbones are random-initialised at their real sizes
(`--scale base`: CLIP ViT-B/32 vision, VideoMAE-base, the architectures of the paper-scale recipe) or tiny ones
(`--scale tiny`, a smoke run); compute per clip does not depend on the weights' values. The synthetic clips have no
audio track, so the audio expert is not timed.

    python bench/bench_backbone_experts.py --num-videos 20 --scale base --out /tmp/bench_experts
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def save_backbones(root: Path, scale: str) -> dict[str, str]:
    import torch
    import transformers as tf

    torch.manual_seed(0)
    if scale == "base":  # the configs' defaults are the base models: ViT-B/32 224 px, VideoMAE-base 16 x 224 px
        clip, videomae, crop = tf.CLIPVisionConfig(), tf.VideoMAEConfig(), 224
    else:
        small = dict(intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, hidden_size=32)
        clip = tf.CLIPVisionConfig(image_size=64, patch_size=16, **small)
        videomae = tf.VideoMAEConfig(image_size=64, patch_size=16, num_frames=8, **small)
        crop = 64
    sizes = dict(size={"shortest_edge": crop}, crop_size={"height": crop, "width": crop})
    out = {}
    for name, model, proc in (("clip", tf.CLIPVisionModel(clip), tf.CLIPImageProcessor(**sizes)),
                              ("videomae", tf.VideoMAEModel(videomae), tf.VideoMAEImageProcessor(**sizes))):  # fmt: skip
        model.save_pretrained(root / name)
        proc.save_pretrained(root / name)
        out[name] = str(root / name)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-videos", type=int, default=20)
    parser.add_argument("--scale", choices=("base", "tiny"), default="base")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    from videotext.datasets_scripts.synthetic import generate_synthetic
    from videotext.experts import extract_experts
    from videotext.modeling.transdcs import backbone_experts_transdcs as backbones

    out = Path(args.out)
    data = out / "synthetic"
    if not data.exists():
        generate_synthetic(data, num_videos=args.num_videos, seed=0, size=64, num_frames=32, fps=8, workers=1,
                           progress=False)  # fmt: skip
    rows = [{"video_id": p.stem, "video_path": str(p)} for p in sorted(data.rglob("*.mp4"))][: args.num_videos]
    zoo = save_backbones(out / f"backbones-{args.scale}", args.scale)
    runs = {
        "weight_free": None,
        "backbones": [{"name": "rgb", "kind": "appearance", "backbone": zoo["clip"]},
                      {"name": "s3d", "kind": "motion", "backbone": zoo["videomae"], "output": "mean", "num_clips": 2},
                      {"name": "scene", "kind": "scene", "backbone": zoo["clip"]}],  # fmt: skip
    }
    report = {"num_clips": len(rows), "scale": args.scale}
    for name, experts in runs.items():
        target = out / f"features-{name}-{args.scale}"
        start = time.perf_counter()
        if experts:
            backbones.load_backbone(backbones.resolve_backbone_spec(experts[0]))  # load time, reported apart
            backbones.load_backbone(backbones.resolve_backbone_spec(experts[1]))
        loaded = time.perf_counter()
        manifest = extract_experts(rows, target, experts, num_frames=16, progress=False, workers=1)
        done = time.perf_counter()
        report[name] = {"load_s": round(loaded - start, 2), "extract_s": round(done - loaded, 2),
                        "s_per_clip": round((done - loaded) / max(1, manifest["num_computed"]), 3),
                        "computed": manifest["num_computed"], "failed": manifest["num_failed"]}  # fmt: skip
        print(json.dumps({name: report[name]}), flush=True)  # each run as it ends (a long run may be cut short)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
