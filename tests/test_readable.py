"""The source view's readable text (web/readable.py): the cleaning stage's text, mapped exactly back."""

from __future__ import annotations

import re

from qa_service.index.documents import corpus_records
from qa_service.web.readable import readable


def test_readable_text_maps_every_character_back_and_keeps_each_passage(seed_corpus, originals):
    _, articles = corpus_records(seed_corpus)
    for doc_id, original in originals.items():
        r = readable(original, [a for a in articles if a["document"] == doc_id])
        text = r["text"]
        assert "\n\n" not in text  # the blank line after every extracted line is gone
        inv = {}
        for start, orig, n in r["runs"]:
            for k in range(n):
                ch = text[start + k]
                assert ch == original[orig + k] or ch in " \n", (doc_id, start + k)
                inv[orig + k] = start + k
        for _, b in r["headings"]:
            assert text[b : b + 1] in ("\n", "")  # a title on a line of its own
        for chunk in (c for c in seed_corpus.chunks if c.doc_id == doc_id):
            # The readable characters of a passage's original range are the passage, whitespace aside.
            shown = [inv[o] for o in range(chunk.char_start, chunk.char_end) if o in inv]
            got = text[min(shown) : max(shown) + 1]
            assert re.sub(r"\s", "", got) == re.sub(r"\s", "", chunk.text), chunk.id


def test_titles_run_into_the_body_get_their_own_line(seed_corpus, originals):
    _, articles = corpus_records(seed_corpus)
    doc = "001_ca14ccf12a6e3ca9.txt"
    r = readable(originals[doc], [a for a in articles if a["document"] == doc])
    assert "宋洁督导上街区爱国卫生工作\n4月14日，区委书记宋洁" in r["text"]
    assert [r["text"][a:b] for a, b in r["headings"]][:1] == ["宋洁督导上街区爱国卫生工作"]
