"""QA_TOKENIZER: rjieba (what new indexes are built with, unless told), jieba or jieba_fast segment index
terms; an index keeps its own."""

import importlib.util
import json
import marshal
import pickle
import shutil

import jieba
import pytest

from qa_service.core.errors import ConfigError, IndexIncompatible
from qa_service.core.settings import DEFAULT_TOKENIZER, TOKENIZERS, Settings, from_env, worker_environment
from qa_service.core.tokenizer import Tokenizer, _base_dictionary
from qa_service.index.embedded.store import EmbeddedIndex, IndexSettings
from qa_service.index.embedded.versions import SegmentedIndex
from qa_service.ingest.pipeline import build_corpus
from qa_service.ops.build import ensure_backend
from tests.conftest import SEEDS


def _installed(name: str):
    return pytest.param(
        name,
        marks=pytest.mark.skipif(
            importlib.util.find_spec(name) is None, reason=f"{name} not installed (pip install 'qa-service[fast]')"
        ),
    )


SEGMENTERS = [_installed(n) for n in TOKENIZERS]
FAST = [_installed(n) for n in TOKENIZERS if n != "jieba"]
NOT_DEFAULT = [_installed(n) for n in TOKENIZERS if n != DEFAULT_TOKENIZER]

# Names learn_names finds in the seed corpus that every segmenter splits without them.
LEARNED = {
    "新安路街道": "新安路街道开展活动",
    "北下街街道": "北下街街道办事处",
    "区人社局": "近日，区人社局结合本区经济发展",
    "工业路街道": "工业路街道召开会议",
    "紫荆山南路街道": "紫荆山南路街道组织居民",
}


def test_the_setting_selects_the_segmenter():
    assert from_env({}).tokenizer is None  # unset: each index its own, new ones the default
    assert from_env({}).build_tokenizer == DEFAULT_TOKENIZER == "rjieba"
    assert from_env({"QA_TOKENIZER": "jieba"}).build_tokenizer == "jieba"
    assert from_env({"QA_TOKENIZER": " Jieba_Fast "}).tokenizer == "jieba_fast"
    assert from_env({"QA_TOKENIZER": ""}).tokenizer is None  # empty: unset


def test_server_workers_get_the_setting_or_none(monkeypatch):
    monkeypatch.setenv("QA_TOKENIZER", "jieba")
    assert worker_environment(Settings(tokenizer="jieba_fast"), {})["QA_TOKENIZER"] == "jieba_fast"
    assert "QA_TOKENIZER" not in worker_environment(Settings(), {})


def test_an_unknown_tokenizer_is_a_config_error_naming_the_variable():
    with pytest.raises(ConfigError, match="QA_TOKENIZER"):
        from_env({"QA_TOKENIZER": "pkuseg"})
    with pytest.raises(ConfigError, match="QA_TOKENIZER"):
        Tokenizer(segmenter="pkuseg")


def test_a_missing_package_is_a_config_error_saying_how_to_install_it(monkeypatch):
    real = importlib.import_module

    def missing(name, *a, **kw):
        if name in ("rjieba", "jieba_fast"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *a, **kw)

    monkeypatch.setattr(importlib, "import_module", missing)
    with pytest.raises(ConfigError, match=r"QA_TOKENIZER=rjieba .*pip install rjieba"):
        Tokenizer(segmenter="rjieba")
    with pytest.raises(ConfigError, match=r"QA_TOKENIZER=jieba_fast .*qa-service\[fast\]"):
        Tokenizer(segmenter="jieba_fast")


@pytest.mark.parametrize("segmenter", SEGMENTERS)
def test_learned_user_words_stay_whole(segmenter, seed_corpus):
    plain = Tokenizer(segmenter=segmenter)
    tok = Tokenizer(seed_corpus.user_words, segmenter=segmenter)
    for name, text in LEARNED.items():
        assert name in seed_corpus.user_words
        assert name not in plain.words(text)  # the dictionary is what keeps it whole
        assert name in tok.words(text)
        assert name in tok.tokens(text)


@pytest.mark.parametrize("segmenter", FAST)
def test_each_segmenter_is_the_one_used_and_survives_pickling(segmenter):
    tok = Tokenizer(["区人社局"], segmenter=segmenter)
    copy = pickle.loads(pickle.dumps(tok))  # as BM25 build workers receive it
    assert (copy.segmenter, copy.user_words, copy.bigrams) == (segmenter, ["区人社局"], True)
    text = "近日，区人社局结合本区经济发展。谁陪同宋洁督导爱国卫生工作？GDP增长12.02%"
    assert copy.tokens(text) == tok.tokens(text)
    assert tok._module.__name__ == segmenter


def test_rjieba_splits_letters_digits_and_joiners_as_jieba_does():
    rjieba = pytest.importorskip("rjieba")
    text = "2023-08-16 发布，见www.gd.chinanews.com或拨打010-85202353，GDP增长12.02%，C++和C#"
    assert "2023-08-16" in rjieba.Jieba().cut(text)  # jieba-rs alone keeps a dash-joined date whole
    assert Tokenizer(segmenter="rjieba").cut(text) == Tokenizer().cut(text)


@pytest.mark.parametrize(
    "text",
    [
        "-开头.和结尾-",  # joiners after no letter or digit: nothing to split
        "a.b.c.d和1-2-3，v2.0.1版在2023-08-16、3.5%与12.5%之间",  # several joiners in one word
        "COVID-19疫情 www.example.com A+B C#语言 abc-def abc-def",  # the same word twice
        "区人社局2021年1-3月收入32815万元，同比增长12.02%。",
        "x-",
    ],
)
def test_rjieba_words_are_each_word_split_as_jieba_splits_it(text):
    """The rjieba cut splits only the words holding a joiner (found from the words' ends), which
    must be what splitting every word gives."""
    rjieba = pytest.importorskip("rjieba")
    from qa_service.core.tokenizer import _pieces

    every_word = [p for w in rjieba.Jieba().cut(text, True) for p in _pieces(w)]
    assert Tokenizer(segmenter="rjieba").cut(text) == every_word


@pytest.fixture(scope="module")
def small_corpus():
    return build_corpus([SEEDS / "001_ca14ccf12a6e3ca9.txt"])


@pytest.mark.parametrize("segmenter", SEGMENTERS)
def test_an_index_opens_only_with_the_tokenizer_that_built_it(segmenter, small_corpus, tmp_path):
    SegmentedIndex.create(small_corpus, Settings(index_dir=str(tmp_path), tokenizer=segmenter))
    opened = SegmentedIndex.open(Settings(index_dir=str(tmp_path), tokenizer=segmenter))
    assert opened.tokenizer.segmenter == segmenter
    assert opened.manifest["settings"]["tokenizer"] == f"{segmenter}+bigrams"
    other = next(t for t in TOKENIZERS if t != segmenter)
    with pytest.raises(IndexIncompatible, match=f"built with the {segmenter} tokenizer, but QA_TOKENIZER is {other}"):
        SegmentedIndex.open(Settings(index_dir=str(tmp_path), tokenizer=other))
    # Opened without a configured tokenizer (QA_TOKENIZER unset, or a rebuild reusing vectors):
    # whichever built it.
    assert SegmentedIndex.open(Settings(index_dir=str(tmp_path))).tokenizer.segmenter == segmenter
    assert EmbeddedIndex.load(tmp_path).tokenizer.segmenter == segmenter


@pytest.mark.parametrize("segmenter", FAST)
def test_a_jieba_index_refuses_another_tokenizer(segmenter, small_corpus, tmp_path):
    vdir = EmbeddedIndex.build(small_corpus, IndexSettings(segmenter="jieba")).save(tmp_path)
    with pytest.raises(IndexIncompatible, match="QA_TOKENIZER"):
        SegmentedIndex.open(Settings(index_dir=str(tmp_path), tokenizer=segmenter))
    # An index from before the segmenter was recorded was cut by jieba.
    m = json.loads((vdir / "manifest.json").read_text())
    del m["settings"]["segmenter"]
    (vdir / "manifest.json").write_text(json.dumps(m))
    assert SegmentedIndex.open(Settings(index_dir=str(tmp_path))).tokenizer.segmenter == "jieba"
    with pytest.raises(IndexIncompatible):
        SegmentedIndex.open(Settings(index_dir=str(tmp_path), tokenizer=segmenter))


@pytest.mark.parametrize("segmenter", NOT_DEFAULT)
def test_start_up_rebuilds_an_index_cut_by_another_tokenizer_only_when_one_is_configured(segmenter, tmp_path):
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    shutil.copy(SEEDS / "001_ca14ccf12a6e3ca9.txt", corpus_dir)
    s = Settings(index_dir=str(tmp_path / "index"), corpus=[str(corpus_dir)], upload_dir=str(tmp_path / "up"))
    assert ensure_backend(s, check_stale=True).tokenizer.segmenter == DEFAULT_TOKENIZER
    switched = ensure_backend(s.with_overrides(tokenizer=segmenter), check_stale=True)
    assert switched.tokenizer.segmenter == segmenter
    assert switched.manifest["settings"]["segmenter"] == segmenter
    # Unset again (an upgrade that kept its index): served as built, not rebuilt.
    live = (tmp_path / "index" / "CURRENT").read_text()
    assert ensure_backend(s, check_stale=True).tokenizer.segmenter == segmenter
    assert (tmp_path / "index" / "CURRENT").read_text() == live


def test_index_settings_record_the_segmenter():
    assert IndexSettings().to_dict()["tokenizer"] == "rjieba+bigrams"
    d = IndexSettings(bigrams=False, segmenter="rjieba").to_dict()
    assert (d["segmenter"], d["tokenizer"]) == ("rjieba", "rjieba")


def test_the_base_dictionary_loads_from_jiebas_cache_as_jieba_does(monkeypatch, tmp_path):
    # _base_dictionary reads jieba's cache file whole (core/tokenizer.py, _WholeFileMarshal); what it
    # loads, written on a cache miss and read back on a hit, is what jieba loads itself.
    for _ in ("miss: written", "hit: read"):
        fresh = jieba.Tokenizer()
        fresh.tmp_dir = str(tmp_path)
        monkeypatch.setattr(jieba, "dt", fresh)
        assert _base_dictionary(jieba) is fresh and fresh.initialized
        assert jieba.marshal is marshal  # jieba's own module is back in place
    assert (tmp_path / "jieba.cache").is_file()
    itself = jieba.Tokenizer()
    itself.tmp_dir = str(tmp_path)
    itself.initialize()
    assert (fresh.FREQ, fresh.total) == (itself.FREQ, itself.total)
    assert len(fresh.FREQ) > 100_000
