"""An optional extractive reader (a Hugging Face question-answering model) that proposes answer spans.

Off by default.  ``QA_READER_MODEL`` names a model or a folder (for Chinese, a RoBERTa or BERT
fine-tuned on CMRC2018), and ``pip install 'qa-service[reader]'`` installs what it needs.  The
model does not decide the answer: for each evidence sentence the fitted reader reads (reader.py),
it adds its best spans to the candidates, and the same fitted span scorer and abstention model
choose among all of them.  So the answer stays a copy of the passage text, cited by its offsets.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from qa_service.core.errors import ConfigError

log = logging.getLogger(__name__)

MAX_ANSWER_TOKENS = 30
MAX_LENGTH = 384  # question and sentence together, in model tokens


class SpanProposer(Protocol):
    def propose(self, question: str, text: str, k: int = 3) -> list[tuple[int, int, float]]:
        """Up to ``k`` spans of ``text`` (start, end, score), best first."""
        ...


class TransformersReader:
    """A ``transformers`` extractive QA model on the CPU."""

    def __init__(self, name_or_path: str) -> None:
        try:
            import torch
            from transformers import AutoModelForQuestionAnswering, AutoTokenizer
        except ImportError as exc:  # the [reader] extra is not installed
            raise ConfigError(
                f"QA_READER_MODEL is set but transformers/torch are missing ({exc}): pip install 'qa-service[reader]'"
            ) from exc
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(name_or_path)
            self.model = AutoModelForQuestionAnswering.from_pretrained(name_or_path).eval()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"QA_READER_MODEL={name_or_path!r} cannot be loaded: {exc}") from exc
        if not self.tokenizer.is_fast:
            raise ConfigError(f"QA_READER_MODEL={name_or_path!r}: a fast tokenizer is needed for character offsets")
        self.torch = torch
        self.name = name_or_path
        log.info("extractive reader %s loaded", name_or_path)

    def propose(self, question: str, text: str, k: int = 3) -> list[tuple[int, int, float]]:
        enc = self.tokenizer(
            question,
            text,
            truncation="only_second",
            max_length=MAX_LENGTH,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        offsets = enc.pop("offset_mapping")[0].tolist()
        context = [i for i, s in enumerate(enc.sequence_ids(0)) if s == 1]
        if not context:
            return []
        with self.torch.no_grad():
            out = self.model(**enc)
        return best_spans(out.start_logits[0].tolist(), out.end_logits[0].tolist(), context, offsets, k)


def best_spans(
    start: list[float], end: list[float], context: list[int], offsets: list[Any], k: int
) -> list[tuple[int, int, float]]:
    """The ``k`` best (start, end, score) character spans from token logits: start and end tokens in
    the context, in order, at most MAX_ANSWER_TOKENS apart."""
    first, last = context[0], context[-1]
    found: dict[tuple[int, int], float] = {}
    starts = sorted(range(first, last + 1), key=lambda i: -start[i])[:20]
    ends = sorted(range(first, last + 1), key=lambda i: -end[i])[:20]
    for s in starts:
        for e in ends:
            if s <= e < s + MAX_ANSWER_TOKENS:
                span = (int(offsets[s][0]), int(offsets[e][1]))
                if span[1] > span[0]:
                    found[span] = max(found.get(span, float("-inf")), start[s] + end[e])
    best = sorted(found.items(), key=lambda kv: -kv[1])[:k]
    return [(s, e, score) for (s, e), score in best]


def load_reader(name_or_path: str) -> SpanProposer | None:
    """The reader ``QA_READER_MODEL`` names, or None when it is unset."""
    return TransformersReader(name_or_path) if name_or_path else None
