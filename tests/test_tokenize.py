from collections import Counter

from qa_service.core.lexicon import STOPWORDS
from qa_service.core.tokenizer import Tokenizer
from qa_service.index.embedded import term_ids
from qa_service.index.embedded.term_ids import TermIds
from qa_service.ingest.userdict import learn_names


def test_names_learned_from_the_corpus_stay_whole(seed_corpus):
    names = set(learn_names(seed_corpus.articles))
    for n in ("新安路街道", "工业路街道", "峡窝镇", "区人社局", "北下街街道"):
        assert n in names
    for bad in ("建立街道", "大事不出街道"):
        assert bad not in names
    tok = Tokenizer(names)
    assert "峡窝镇" in tok.words("峡窝镇大力实施五大行动")
    assert "区人社局" in tok.words("近日，区人社局结合本区经济发展")


def test_tokens_are_words_plus_bigrams_without_stopwords_or_punctuation():
    tok = Tokenizer()
    tokens = tok.tokens("谁陪同宋洁督导爱国卫生工作？")
    assert "谁" not in tokens and "？" not in tokens
    assert "陪同" in tokens and "爱国卫生" in tokens
    assert "爱国" in tokens and "卫生" in tokens  # bigrams
    # No bigram crosses a stopword: 的 splits the runs.
    assert "区的" not in tok.tokens("上街区的工作")


def test_bigrams_can_be_switched_off():
    assert set(Tokenizer(bigrams=False).tokens("爱国卫生运动热潮")) <= {"爱国卫生", "运动", "热潮"}


def test_latin_and_digits_are_lowercased_tokens():
    tokens = Tokenizer().tokens("GDP增长12.02%")
    assert "gdp" in tokens and not any(t in STOPWORDS for t in tokens)


def test_empty_and_punctuation_only_text():
    tok = Tokenizer()
    assert tok.tokens("") == []
    assert tok.tokens("，。！？……  \n") == []


def test_term_ids_of_a_block_are_each_passages_terms_in_one_vocabulary(seed_corpus, monkeypatch):
    # The build numbers a block's terms from its passages' cuts (TermIds.block, with remembered
    # words); each passage must get exactly Tokenizer.terms of its cut, with bigrams and without,
    # whether its words are remembered, met for the first time, or past what is remembered.
    texts = [c.text for c in seed_corpus.chunks] + ["", "。，", "2021年4月 COVID-19 爱国卫生运动 a.b"]
    for bigrams, remembered in ((True, 200_000), (False, 200_000), (True, 300)):
        monkeypatch.setattr(term_ids, "ENTRIES_MAX", remembered)
        tok = Tokenizer(seed_corpus.user_words, bigrams=bigrams)
        ids = TermIds(bigrams)
        raws = [tok.cut(t) for t in texts]
        for _ in range(2):  # the second time every remembered word is read from its entry
            tids, where = ids.block(raws)
            term = {i: t for t, i in ids.vocab.items()}
            got = [Counter() for _ in raws]
            for i, w in zip(tids.tolist(), where.tolist(), strict=True):
                got[w][term[i]] += 1
            assert got == [Counter(tok.terms(raw)) for raw in raws]
        assert len(ids.vocab) == len({t for raw in raws for t in tok.terms(raw)})
