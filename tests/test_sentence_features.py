"""The evidence sentence's overlap features (qa/features.py), against their definitions written
here the slow way: the question's characters and bigrams looked up in the sentence must count what
intersecting the two sets counts, and the longest question wording found must be the longest."""

from __future__ import annotations

import random

from qa_service.qa.features import SENTENCE_FEATURES, QuestionView, sentence_features

ALPHABET = "张三毕业于北京大学是的，。 ab"


def _text(rng: random.Random, longest: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, longest)))


def test_overlaps_and_question_wording_are_as_defined():
    rng = random.Random(21)
    for _ in range(2000):
        sentence, question = _text(rng, 20), _text(rng, 12)
        grams = frozenset(question[i : i + 2] for i in range(len(question) - 1))
        view = QuestionView(frozenset(question), grams, (), _text(rng, 10), _text(rng, 10), "other")
        row = dict(
            zip(SENTENCE_FEATURES, sentence_features(view, sentence, 0.5, False, 0, 1.0, False, 0.0), strict=True)
        )
        sentence_grams = {sentence[i : i + 2] for i in range(len(sentence) - 1)}
        assert row["char_overlap"] == len(view.chars & set(sentence)) / max(1, len(view.chars))
        assert row["bigram_overlap"] == len(grams & sentence_grams) / max(1, len(grams))
        lefts = [n for n in range(2, min(8, len(view.left)) + 1) if view.left[-n:] in sentence]
        rights = [n for n in range(2, min(8, len(view.right)) + 1) if view.right[:n] in sentence]
        assert row["slot_left"] == max(lefts, default=0) / 8 and row["slot_right"] == max(rights, default=0) / 8


def test_the_longest_wording_found_counts_not_the_first():
    view = QuestionView(frozenset(), frozenset(), (), "区委书记宋洁", "实地督导", "person")
    row = dict(
        zip(SENTENCE_FEATURES, sentence_features(view, "书记宋洁实地督导", 0.5, False, 0, 1.0, False, 0.0), strict=True)
    )
    assert row["slot_left"] == 4 / 8 and row["slot_right"] == 4 / 8
    row = dict(zip(SENTENCE_FEATURES, sentence_features(view, "宋洁到场", 0.5, False, 0, 1.0, False, 0.0), strict=True))
    assert row["slot_left"] == 2 / 8 and row["slot_right"] == 0.0
