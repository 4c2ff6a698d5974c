"""Span features computed for several sentences at once (qa/span_features.py ``span_rows``).

The sentences a question reads are joined with a space and their spans' features computed together;
nothing may leak from one sentence into the next, so each sentence's rows must be exactly the rows
it gets alone.  The per-position tables behind the features are checked against their definitions,
written here the slow way.
"""

from __future__ import annotations

import random

import numpy as np

from qa_service.core.tokenizer import Tokenizer
from qa_service.qa.features import QuestionView, question_view
from qa_service.qa.kinds import KINDS, answer_kind
from qa_service.qa.question import parse_question
from qa_service.qa.span_features import (
    _LATIN,
    _PUNCT,
    _QUESTION,
    SPAN_FEATURES,
    _Chars,
    _slot_tables,
    _word_tables,
    span_matrix,
    span_rows,
)

# Few characters, so the question's wording and words turn up across the sentences' edges.
ALPHABET = "张三毕业于北京大学，。、《》“”是的等 ab1"


def _random_view(rng: random.Random, text: str) -> QuestionView:
    def piece(k: int) -> str:
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, k)))

    words = tuple(text[a : a + rng.randint(2, 3)] for a in (rng.randrange(len(text)) for _ in range(4)))
    left = piece(4) + text[: rng.randrange(len(text))]  # the question's wording, found in the text
    right = text[rng.randrange(len(text)) :] + piece(4)
    return QuestionView(frozenset(piece(8)), frozenset(), words, left, right, rng.choice(KINDS))


def _random_sentence(rng: random.Random) -> tuple[str, list[tuple[int, int, bool]], float]:
    n = rng.randint(1, 16)
    text = "".join(rng.choice(ALPHABET) for _ in range(n))
    spans = {(a, rng.randint(a + 1, n), rng.random() < 0.3) for a in (rng.randrange(n) for _ in range(12))}
    return text, sorted(spans), rng.random()


def test_each_sentences_rows_are_the_rows_it_gets_alone():
    rng = random.Random(11)
    for _ in range(300):
        sentences = [_random_sentence(rng) for _ in range(rng.randint(2, 4))]
        sentences.insert(1, ("空", [], 0.5))  # a sentence without spans adds no rows
        view = _random_view(rng, "".join(t for t, _, _ in sentences))
        alone = np.concatenate([span_matrix(view, t, spans, p) for t, spans, p in sentences])
        together = span_rows(view, sentences)
        assert together.shape == (sum(len(s) for _, s, _ in sentences), len(SPAN_FEATURES))
        assert np.array_equal(together, alone)


def test_a_span_opening_a_sentence_reads_nothing_of_the_sentence_before():
    query = parse_question(Tokenizer(), "张三毕业于哪所大学？")
    view = question_view(query, answer_kind(query.text))
    first, second = "张三毕业于", "北京大学是名校"
    rows = span_rows(view, [(first, [(0, 5, True)], 0.4), (second, [(0, 4, False)], 0.6)])
    row = dict(zip(SPAN_FEATURES, rows[1], strict=True))
    assert row["slot_left"] == 0.0  # 张三毕业于 stands right before it, but in the other sentence
    assert row["after_copula"] == 0.0 and row["sentence_prob"] == 0.6
    assert row["head_end"] == 1.0 and row["before_break"] == 0.0  # 北京大学 ends with 大学; 是 follows
    assert row["log_distance"] == np.log1p(len(second)) / 5  # no question word in its own sentence
    assert dict(zip(SPAN_FEATURES, rows[0], strict=True))["whole_clause"] == 1.0


def test_char_classes_are_read_per_position_with_a_space_for_padding():
    chars = _Chars("a😀，\ud800b", QuestionView(frozenset("ab"), frozenset(), (), "", "", "other"), "")
    assert chars.flags(_PUNCT).tolist() == [False, False, True, False, False, True]  # last: the padding
    assert chars.flags(_PUNCT)[-1] and chars.flags(_LATIN)[-1]  # position -1 reads the padding too
    assert chars.prefix(_QUESTION).tolist() == [0, 1, 1, 1, 1, 2]
    assert chars.prefix(_LATIN).tolist() == [0, 1, 1, 1, 1, 2]


def _slots_by_definition(view: QuestionView, sentence: str) -> tuple[list[int], list[int]]:
    q_left, q_right = view.left[-8:], view.right[:8]
    left = [
        max(k for k in range(min(len(q_left), p) + 1) if sentence[p - k : p] == q_left[len(q_left) - k :])
        for p in range(len(sentence) + 1)
    ]
    right = [
        max(k for k in range(min(len(q_right), len(sentence) - p) + 1) if sentence[p : p + k] == q_right[:k])
        for p in range(len(sentence) + 1)
    ]
    return left, right


def test_slot_tables_count_the_question_wording_matched_at_each_position():
    rng = random.Random(12)
    for _ in range(500):
        sentence, _, _ = _random_sentence(rng)
        view = _random_view(rng, sentence)
        left, right = _slot_tables(view, sentence)
        assert (left.tolist(), right.tolist()) == _slots_by_definition(view, sentence)


def test_word_tables_give_each_spans_distance_to_the_question_words():
    rng = random.Random(13)
    for _ in range(500):
        sentence, spans, _ = _random_sentence(rng)
        view = _random_view(rng, sentence)
        last_end, next_start, first_end = _word_tables(view, sentence)
        found = [(a, a + len(w)) for w in view.words for a in range(len(sentence)) if sentence.startswith(w, a)]
        for s, e, _ in spans:
            gaps = [s - end for _, end in found if end <= s] + [a - e for a, _ in found if a >= e]
            assert min(len(sentence), s - last_end[s], next_start[e] - e) == min([len(sentence), *gaps])
            assert (first_end[s] <= e) == any(s <= a and end <= e for a, end in found)


def test_near_context_counts_the_questions_side_characters_next_to_a_span_in_its_sentence():
    rng = random.Random(14)
    near_left, near_right = SPAN_FEATURES.index("near_left"), SPAN_FEATURES.index("near_right")
    for _ in range(300):
        sentences = [_random_sentence(rng) for _ in range(rng.randint(1, 3))]
        view = _random_view(rng, "".join(t for t, _, _ in sentences))
        rows = span_rows(view, sentences)
        q_left, q_right = set(view.left[-8:]), set(view.right[:8])
        expected = [
            [
                sum(ch in q_left for ch in text[max(0, s - 8) : s]) / max(1, min(8, len(view.left))),
                sum(ch in q_right for ch in text[e : e + 8]) / max(1, min(8, len(view.right))),
            ]
            for text, spans, _ in sentences
            for s, e, _ in spans
        ]
        assert rows[:, [near_left, near_right]].tolist() == expected


def test_a_dictionary_place_is_a_name_only_when_a_place_is_asked():
    tokenizer = Tokenizer()
    sentence = "南洋的富商大多数在香港都有企业"
    at, other = sentence.index("香港"), sentence.index("富商")
    place = SPAN_FEATURES.index("place_name")
    for question, expected in (("华人的资本中心是哪里？", 1.0), ("华人的资本中心是什么？", 0.0)):
        query = parse_question(tokenizer, question)
        view = question_view(query, answer_kind(query.text))
        rows = span_matrix(view, sentence, [(at, at + 2, False), (other, other + 2, False)], 1.0)
        assert rows[:, place].tolist() == [expected, 0.0]
