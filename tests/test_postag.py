"""core/postag.py: jieba.posseg's HMM decoded with numpy gives jieba's own routes and scores."""

import json
import random
import sys

import pytest

from qa_service.core.postag import pseg, viterbi
from qa_service.core.settings import PROJECT_DIR
from tests.conftest import SEEDS

JIEBA_VITERBI = sys.modules["jieba.posseg.viterbi"].viterbi  # jieba's own, which postag replaced in pseg
MODEL = (pseg.char_state_tab_P, pseg.start_P, pseg.trans_P, pseg.emit_P)


def _texts() -> list[str]:
    lines = [line for f in sorted(SEEDS.iterdir()) for line in f.read_text("utf-8", errors="ignore").splitlines()]
    with open(PROJECT_DIR / "eval" / "seed_questions.jsonl", encoding="utf-8") as f:
        questions = [json.loads(q)["question"] for q in f]
    return [t for t in lines + questions if t.strip()]


def test_it_is_what_pseg_calls():
    assert pseg.viterbi is viterbi


def test_random_runs_decode_as_jieba_decodes_them():
    # Characters the model knows in several states, ones it knows in few, and ones it does not know.
    rng = random.Random(11)
    known = sorted(pseg.char_state_tab_P)
    alphabet = [*known[:: max(1, len(known) // 3000)], "㐀", "䶵", "鿋", "𠀀", "x"]
    for _ in range(1500):
        obs = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9)))
        assert viterbi(obs, *MODEL) == JIEBA_VITERBI(obs, *MODEL), obs


def test_the_seeds_and_their_questions_are_tagged_as_jieba_tags_them(monkeypatch):
    texts = _texts()
    ours = [[tuple(p) for p in pseg.cut(t)] for t in texts]
    monkeypatch.setattr(pseg, "viterbi", JIEBA_VITERBI)
    theirs = [[tuple(p) for p in pseg.cut(t)] for t in texts]
    assert len(texts) > 400 and ours == theirs


@pytest.mark.parametrize("obs", ["张向奥", "姚方海", "乍都节", "德米特里", "锦地罗"])
def test_names_jieba_finds_by_its_hmm(obs):
    assert viterbi(obs, *MODEL) == JIEBA_VITERBI(obs, *MODEL)
