"""Tiny random BERT models the tests build (no weights can be downloaded here): a character
WordPiece tokenizer over the given texts and a 2-layer, hidden-32 config, saved as Hugging Face
folders.  Used for the embedding model (test_embeddings.py) and the extractive reader
(test_neural_reader.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def save_char_tokenizer(path: Path, texts: Sequence[str]) -> int:
    """A fast BERT tokenizer whose vocabulary is the characters of ``texts``, saved in ``path``
    (single texts and question/context pairs); returns the vocabulary size."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = sorted({ch for t in texts for ch in t if not ch.isspace()})
    vocab = {t: i for i, t in enumerate(special + chars)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, handle_chinese_chars=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
    ).save_pretrained(path)
    return len(vocab)


def tiny_bert_config(vocab_size: int, seed: int = 0) -> Any:
    """A 2-layer BERT config (hidden 32), with torch's generator seeded so the weights repeat."""
    import torch
    from transformers import BertConfig

    torch.manual_seed(seed)
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
