"""`bench/run.py generation`: greedy generation tokens/s (a fixed number of new tokens, batches of 8 and 1) of every
registered captioner at its tiny recipe's size, random weights, against the baseline a transformers user would build:
`VisionEncoderDecoderModel` from config with a TimeSformer encoder and a GPT-2 decoder of similar parameter count
(the encoder's width, frames and patches and the decoder's width and vocabulary taken from the captioner; the layer
counts chosen to match its parameter count), measured in the same run."""

from __future__ import annotations

import statistics
import time

import numpy as np


def _captioner(model_type: str):
    import torch

    from videotext.training import load_recipe
    from videotext.training.methods import training_method
    from videotext.training.model_factory import build_model_and_processor

    torch.manual_seed(0)
    recipe = load_recipe(training_method(model_type).tiny_recipe)
    captions = [f"a {c} {s} moves {d}" for c in ("red", "blue", "green") for s in ("box", "ball") for d in ("up", "left")]
    model, processor = build_model_and_processor(recipe, train_captions=captions * 8)
    return model.eval(), processor, recipe


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _baseline_config(model, num_frames: int, image_size: int, layers: tuple[int, int], vocab: int):
    from transformers import GPT2Config, TimesformerConfig, VisionEncoderDecoderConfig

    vision = getattr(model.config, "vision_config", None)
    text = getattr(model.config, "text_config", None)
    hidden = int(getattr(vision, "hidden_size", 64))
    heads = int(getattr(vision, "num_attention_heads", 4))
    encoder = TimesformerConfig(image_size=image_size, patch_size=int(getattr(vision, "patch_size", 8)),
                                num_frames=num_frames, hidden_size=hidden, num_hidden_layers=layers[0],
                                num_attention_heads=heads, intermediate_size=int(getattr(vision, "intermediate_size",
                                                                                         2 * hidden)))  # fmt: skip
    width = int(getattr(text, "n_embd", getattr(text, "hidden_size", 64)))
    decoder = GPT2Config(vocab_size=vocab, n_embd=width, n_layer=layers[1], n_head=int(getattr(text, "n_head", 4)),
                         n_positions=128, bos_token_id=1, eos_token_id=2, pad_token_id=0)  # fmt: skip
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id, config.pad_token_id, config.eos_token_id = 1, 0, 2
    return config


def baseline_like(model, num_frames: int, image_size: int, vocab: int):
    """`VisionEncoderDecoderModel(TimeSformer, GPT-2)` built from config, with the layer counts (1-8 each) whose
    parameter count is closest to `model`'s (a count is affine in each layer count: three counted builds suffice)."""
    import torch
    from transformers import VisionEncoderDecoderModel

    def count(enc: int, dec: int) -> int:
        with torch.device("meta"):  # counting only: no memory, no initialisation
            return _count(VisionEncoderDecoderModel(config=_baseline_config(model, num_frames, image_size, (enc, dec), vocab)))

    one = count(1, 1)
    per_enc, per_dec = count(2, 1) - one, count(1, 2) - one
    target = _count(model)
    enc, dec = min(((e, d) for e in range(1, 9) for d in range(1, 9)),
                   key=lambda ed: abs(one + (ed[0] - 1) * per_enc + (ed[1] - 1) * per_dec - target))  # fmt: skip
    return VisionEncoderDecoderModel(config=_baseline_config(model, num_frames, image_size, (enc, dec), vocab)).eval()


def _tokens_per_s(generate, batch: int, new_tokens: int, repeats: int) -> tuple[float, int]:
    generate(batch)  # warm-up
    times, length = [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        length = generate(batch)
        times.append(time.perf_counter() - t0)
    return batch * new_tokens / statistics.median(times), length


def bench_generation(smoke: bool, new_tokens: int | None = None, batches: tuple[int, ...] = (8, 1)) -> list[dict]:
    import torch

    from videotext.inference import _model_inputs, model_num_frames
    from videotext.modeling import METHODS

    new_tokens = new_tokens or (3 if smoke else 20)
    batches = (2, 1) if smoke else batches
    repeats = 1 if smoke else 5
    gen = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, num_beams=1, do_sample=False)
    rng = np.random.default_rng(0)
    results = []
    for model_type, method in METHODS.items():
        if method.task != "captioning":
            continue
        model, processor, recipe = _captioner(model_type)
        frames, size = model_num_frames(model), int(recipe["data"]["size"] or 32)
        image = int(getattr(getattr(model.config, "vision_config", None), "image_size", size))
        baseline = baseline_like(model, frames, image, len(processor.tokenizer))
        row = {"method": model_type, "new_tokens": new_tokens, "parameters": _count(model),
               "baseline_parameters": _count(baseline), "batches": {}}  # fmt: skip
        for batch in batches:
            videos = [rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8) for _ in range(batch)]
            inputs = _model_inputs(model, processor(videos=videos, return_tensors="pt"))
            pixels = torch.rand(batch, frames, 3, image, image)

            def ours(n, model=model, inputs=inputs):
                return _sequences(model.generate(**inputs, **gen)).shape[-1]

            def theirs(n, baseline=baseline, pixels=pixels):
                return baseline.generate(pixel_values=pixels, **gen).shape[-1]

            with torch.no_grad():
                rate, length = _tokens_per_s(ours, batch, new_tokens, repeats)
                base_rate, base_length = _tokens_per_s(theirs, batch, new_tokens, repeats)
            row["batches"][str(batch)] = {"tokens_per_s": rate, "baseline_tokens_per_s": base_rate,
                                          "ratio_to_baseline": rate / base_rate, "output_length": length,
                                          "baseline_output_length": base_length}  # fmt: skip
        results.append(row)
        print(generation_line(row), flush=True)
    return results


def _sequences(out):
    return out.sequences if hasattr(out, "sequences") else out


def generation_line(row: dict) -> str:
    parts = [f"{row['method']:<14}{row['parameters'] / 1e6:6.2f}M params vs VED(TimeSformer, GPT-2) "
             f"{row['baseline_parameters'] / 1e6:6.2f}M, {row['new_tokens']} new tokens"]  # fmt: skip
    for batch, r in row["batches"].items():
        parts.append(f"batch {batch}: {r['tokens_per_s']:8.1f} vs {r['baseline_tokens_per_s']:8.1f} tok/s "
                     f"({r['ratio_to_baseline']:.2f}x)")  # fmt: skip
    return " | ".join(parts)
