"""Small tokenizers trained on a dataset's captions, for recipes that cannot download a Hub tokenizer.

The vocabulary is built here, deterministically: the special tokens, every character (alone and as a "##"
continuation, so any word can be spelled) and then whole words by frequency, ties in alphabetical order, up to
`vocab_size`. (The `tokenizers` WordPiece trainer breaks ties in a process-dependent hash order, so two runs of one
recipe got different vocabularies and different losses.) Both returned tokenizers share this WordPiece vocabulary: the decoder tokenizer adds no special tokens
(GPT-2 style; the processor appends EOS to training targets), the encoder tokenizer wraps text in
[CLS] ... [SEP] (BERT style), so one trained vocabulary serves an LLM decoder and a BERT-family encoder.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
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
    texts: Iterable[str], vocab_size: int = 2000, required_texts: Iterable[str] = ()
) -> tuple[PreTrainedTokenizerFast, PreTrainedTokenizerFast]:
    """Build a lower-cased WordPiece vocabulary of `vocab_size` tokens (more when the characters alone exceed it)
    from `texts`; return (decoder tokenizer, encoder tokenizer). The same texts always give the same vocabulary.

    Every word of `required_texts` (e.g. a processor's prompts, which are in every sample but in no caption) is a
    whole token, ahead of the caption words: spelled letter by letter, a prompt costs every sample several tokens."""
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise ValueError("train_caption_tokenizers: no non-empty caption to train a vocabulary on")
    normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase(), normalizers.StripAccents()])
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()

    def words(text: str) -> list[str]:
        return [word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))]

    counts = Counter(word for text in texts for word in words(text))
    required = list(dict.fromkeys(word for text in required_texts for word in words(text)))
    chars = sorted({c for word in [*counts, *required] for c in word})
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *chars, *(f"##{c}" for c in chars)])}
    for word in required:
        vocab.setdefault(word, len(vocab))
    for word, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        if len(vocab) >= vocab_size:
            break
        vocab.setdefault(word, len(vocab))
    base = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", continuing_subword_prefix="##"))
    base.normalizer = normalizer
    base.pre_tokenizer = pre_tokenizer
    base.decoder = decoders.WordPiece(prefix="##")

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
