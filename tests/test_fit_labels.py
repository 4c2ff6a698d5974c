"""How `qa-service fit` labels a question asked of a corpus that should not answer it."""

from types import SimpleNamespace

from qa_service.evaluation.fit import Labelled, _unanswerable


def _asked(golds, *texts):
    hits = [SimpleNamespace(chunk=SimpleNamespace(text=t)) for t in texts]
    example = SimpleNamespace(question="韩国总统是谁？", golds=golds, hits=hits)
    return Labelled(example, False, None, "q1", "news, gold articles withheld")


def test_a_question_whose_gold_is_in_a_passage_read_is_not_a_negative():
    # Another article telling the same story still answers it: not a question to abstain on.
    item = _asked(["尹锡悦"], "据报道，韩国总统 尹 锡悦当天表示……", "无关的文字")
    assert _unanswerable(item) == []


def test_a_question_whose_gold_no_passage_holds_stays_a_negative():
    item = _asked(["尹锡悦"], "韩国总统府当天发表声明。", "首尔的天气晴。")
    assert _unanswerable(item) == [item]


def test_a_number_matches_with_its_punctuation():
    # 10.3% is not 103%: the check is the evidence figures' own, whitespace aside only.
    assert _unanswerable(_asked(["10.3%"], "同比增长103%。")) != []
    assert _unanswerable(_asked(["10.3%"], "同比增长 10.3 %。")) == []


def test_a_question_without_gold_stays_a_negative():
    item = _asked(["", "。"], "韩国总统府当天发表声明。")
    assert _unanswerable(item) == [item]


def test_folds_follow_the_key():
    a, b = _asked(["x"], "y"), _asked(["z"], "w")
    assert a.fold == b.fold  # the same key, the same fold
    keys = [Labelled(None, True, None, f"article-{i}", "s").fold for i in range(200)]
    assert 60 < sum(keys) < 140  # both folds are used
