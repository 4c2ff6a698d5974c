"""The evidence sentence's overlap features (qa/features.py), against their definitions written
here the slow way: the question's characters and bigrams looked up in the sentence must count what
intersecting the two sets counts, and the longest question wording found must be the longest."""

from __future__ import annotations

import random

import numpy as np

from qa_service.qa.features import SENTENCE_FEATURES, QuestionView, sentence_features, with_gaps

ALPHABET = "张三毕业于北京大学是的，。 ab"


def _text(rng: random.Random, longest: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, longest)))


def _row(view: QuestionView, sentence: str) -> np.ndarray:
    """A sentence's features, read as the only sentence (its gaps to the best are 0)."""
    return with_gaps(sentence_features(view, sentence, 0.5, False, 0, 1.0, False, 0.0, (0.0, 0.0))[None])[0]


def test_overlaps_and_question_wording_are_as_defined():
    rng = random.Random(21)
    for _ in range(2000):
        sentence, question = _text(rng, 20), _text(rng, 12)
        grams = frozenset(question[i : i + 2] for i in range(len(question) - 1))
        view = QuestionView(frozenset(question), grams, (), _text(rng, 10), _text(rng, 10), "other")
        row = dict(zip(SENTENCE_FEATURES, _row(view, sentence), strict=True))
        sentence_grams = {sentence[i : i + 2] for i in range(len(sentence) - 1)}
        assert row["char_overlap"] == len(view.chars & set(sentence)) / max(1, len(view.chars))
        assert row["bigram_overlap"] == len(grams & sentence_grams) / max(1, len(grams))
        lefts = [n for n in range(2, min(8, len(view.left)) + 1) if view.left[-n:] in sentence]
        rights = [n for n in range(2, min(8, len(view.right)) + 1) if view.right[:n] in sentence]
        assert row["slot_left"] == max(lefts, default=0) / 8 and row["slot_right"] == max(rights, default=0) / 8


def test_the_longest_wording_found_counts_not_the_first():
    view = QuestionView(frozenset(), frozenset(), (), "区委书记宋洁", "实地督导", "person")
    row = dict(zip(SENTENCE_FEATURES, _row(view, "书记宋洁实地督导"), strict=True))
    assert row["slot_left"] == 4 / 8 and row["slot_right"] == 4 / 8
    row = dict(zip(SENTENCE_FEATURES, _row(view, "宋洁到场"), strict=True))
    assert row["slot_left"] == 2 / 8 and row["slot_right"] == 0.0


def test_gaps_are_each_feature_minus_the_best_sentences():
    view = QuestionView(frozenset("宋洁督导卫生"), frozenset({"宋洁", "督导"}), (), "宋洁", "督导", "person")
    sentences = ["宋洁督导卫生工作", "副区长陪同", "宋洁到场"]
    covered = (0.9, 0.1, 0.5)
    pairs = zip(sentences, covered, strict=True)
    base = np.stack([sentence_features(view, s, c, False, 0, 1.0, False, c, (0.0, 0.0)) for s, c in pairs])
    rows = with_gaps(base)
    assert rows.shape == (3, len(SENTENCE_FEATURES))
    named = [dict(zip(SENTENCE_FEATURES, row, strict=True)) for row in rows]
    for name in ("coverage", "char_overlap", "bigram_overlap", "context_coverage", "slot_left", "slot_right"):
        best = max(r[name] for r in named)
        assert [r[f"{name}_gap"] for r in named] == [r[name] - best for r in named]
    assert named[0]["coverage_gap"] == 0.0 and named[1]["coverage_gap"] < named[2]["coverage_gap"] < 0


def test_each_sentence_reads_how_much_of_the_question_its_neighbours_hold():
    from qa_service.core.models import Chunk, Hit
    from qa_service.core.tokenizer import Tokenizer
    from qa_service.qa.features import question_view
    from qa_service.qa.kinds import answer_kind
    from qa_service.qa.question import parse_question
    from qa_service.qa.reader import sentence_candidates
    from qa_service.qa.scoring import Scorer

    query = parse_question(Tokenizer(), "宋洁督导了哪项工作？")
    scorer = Scorer(query, {"宋洁": 5.0, "督导": 2.0, "工作": 1.0}.get, max_idf=6.0)
    text = "宋洁到场。她督导爱国卫生工作。副区长陪同。"
    chunk = Chunk(id="d#0", text=text, char_start=0, char_end=len(text), doc_id="d", article=0, title="t")
    hit = Hit(chunk=chunk, score=3.0, rank=0)
    cands = sentence_candidates(question_view(query, answer_kind(query.text)), scorer, [hit])
    rows = [dict(zip(SENTENCE_FEATURES, c.features, strict=True)) for c in cands]
    covered = [scorer.coverage(text[c.start : c.end]) for c in cands]
    assert [text[c.start : c.end] for c in cands] == ["宋洁到场。", "她督导爱国卫生工作。", "副区长陪同。"]
    assert [r["previous_coverage"] for r in rows] == [0.0, covered[0], covered[1]]
    assert [r["next_coverage"] for r in rows] == [covered[1], covered[2], 0.0]
    assert covered[0] > 0 and covered[1] > 0
