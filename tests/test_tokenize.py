from qa_service.core.lexicon import STOPWORDS
from qa_service.core.tokenizer import Tokenizer
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
