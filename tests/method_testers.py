"""One tester per registered method for the shared suite (`tests/test_methods.py`), timm style: what makes the
method's tiny recipe tinier. Everything else the suite reads from the method tables (`videotext.modeling.METHODS`,
`videotext.training.methods.TRAINING_METHODS`). A new method adds one entry here."""

from __future__ import annotations

from dataclasses import dataclass

# how long / how big a run is, for every method: 2 steps of 4 clips in this process, 4 evaluation clips, a small vocab
RUN_SIZE = """train.max_steps=2 train.batch_size=4 train.cpu_processes=1 train.log_every=1 eval.limit=4
    eval.batch_size=4 eval.generate.max_new_tokens=4 data.cache_frames_per_clip=8 tokenizer.vocab_size=200"""


@dataclass(frozen=True)
class MethodTester:
    model_type: str
    overrides: str = ""  # whitespace-separated `--set` overrides of the method's tiny recipe (hidden 32, few frames)

    def recipe(self, *extra: str) -> dict:
        """The method's tiny recipe (the training table names it), shrunk, with `extra` overrides last."""
        from videotext.training import load_recipe
        from videotext.training.methods import training_method

        return load_recipe(training_method(self.model_type).tiny_recipe, self.cli_overrides(*extra))

    def cli_overrides(self, *extra: str) -> list[str]:
        return [*RUN_SIZE.split(), *self.overrides.split(), *extra]

    def save_untrained(self, folder, seed: int = 0, captions=("a red box moves",) * 4) -> str:
        """The tiny model (random weights, `seed`) and its processor saved to `folder`, a loadable model folder."""
        import torch

        from videotext.training.model_factory import build_model_and_processor

        torch.manual_seed(seed)
        model, processor = build_model_and_processor(self.recipe(), train_captions=list(captions))
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
        return str(folder)


TESTERS: dict[str, MethodTester] = {
    "mffcl": MethodTester(
        "mffcl",
        """data.num_frames=4 model.vision_config.hidden_size=32
        model.vision_config.num_attention_heads=2 model.vision_config.intermediate_size=64 model.text_config.n_embd=32
        model.text_config.n_head=2 model.text_encoder_config.hidden_size=32 model.text_encoder_config.num_attention_heads=2
        model.text_encoder_config.intermediate_size=64 model.config.mapper_num_heads=2 model.config.num_query_tokens=4""",
    ),
    "dual_align": MethodTester(
        "dual_align",
        """data.num_frames=2 model.vision_config.hidden_size=32
        model.vision_config.num_attention_heads=2 model.vision_config.intermediate_size=64 model.text_config.dim=32
        model.text_config.n_heads=2 model.text_config.hidden_dim=64 model.config.projection_dim=16
        model.config.fusion_hidden_size=32 model.config.fusion_num_heads=2 model.config.fusion_intermediate_size=64""",
    ),
    "clip4videocap": MethodTester(
        "clip4videocap",
        # the teacher starts frozen (the paper's setting): the default objective then trains every other tower
        """data.num_frames=4 model.vision_config.hidden_size=32 model.vision_config.num_attention_heads=2
        model.vision_config.intermediate_size=64 model.clip_text_config.hidden_size=32
        model.clip_text_config.num_attention_heads=2 model.clip_text_config.intermediate_size=64
        model.text_config.n_embd=32 model.text_config.n_head=2 model.commonsense_config.n_embd=32
        model.commonsense_config.n_head=2 model.config.projection_dim=32 model.config.fusion_num_heads=2
        model.config.freeze_clip_text_model=true""",
    ),
    "svad_vlm": MethodTester(
        "svad_vlm",
        """data.num_frames=2 model.vision_config.hidden_size=32 model.vision_config.num_attention_heads=2
        model.vision_config.intermediate_size=64 model.qformer_config.hidden_size=32
        model.qformer_config.num_attention_heads=2 model.qformer_config.intermediate_size=64 model.text_config.n_embd=32
        model.text_config.n_head=2 model.config.num_query_tokens=4""",
    ),
    "transdcs": MethodTester(
        "transdcs",
        """data.num_frames=4 model.text_config.hidden_size=32 model.text_config.num_attention_heads=2
        model.text_config.intermediate_size=64 model.config.hidden_size=32 model.config.intermediate_size=64
        model.config.projection_dim=16 model.config.conv_kernel_size=3""",
    ),
}
