"""Small tokenizers trained on a dataset's captions, for recipes that cannot download a Hub tokenizer.

Both returned tokenizers share one WordPiece vocabulary: the decoder tokenizer adds no special tokens
(GPT-2 style; the processor appends EOS to training targets), the encoder tokenizer wraps text in
[CLS] ... [SEP] (BERT style), so one trained vocabulary serves an LLM decoder and a BERT-family encoder.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[BOS]", "[EOS]"]


def _wrap(tokenizer: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        bos_token="[BOS]",
        eos_token="[EOS]",
        model_max_length=512,
    )


def train_caption_tokenizers(
    texts: Iterable[str], vocab_size: int = 2000
) -> tuple[PreTrainedTokenizerFast, PreTrainedTokenizerFast]:
    """Train a lower-cased WordPiece vocabulary on `texts`; return (decoder tokenizer, encoder tokenizer)."""
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise ValueError("train_caption_tokenizers: no non-empty caption to train a vocabulary on")
    base = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    base.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase(), normalizers.StripAccents()])
    base.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    base.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, min_frequency=1)
    base.train_from_iterator(texts, trainer=trainer)

    decoder_tok = _wrap(Tokenizer.from_str(base.to_str()))
    encoder_base = Tokenizer.from_str(base.to_str())
    cls_id, sep_id = encoder_base.token_to_id("[CLS]"), encoder_base.token_to_id("[SEP]")
    encoder_base.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    encoder_tok = _wrap(encoder_base)
    return decoder_tok, encoder_tok
