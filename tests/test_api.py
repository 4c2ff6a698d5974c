"""The HTTP contract of /api/ask, /api/documents and every error status."""

import json
import re

import pytest

from qa_service.core.settings import Settings
from qa_service.evaluation import load_questions
from qa_service.web.app import create_app
from tests.conftest import EVAL_SET, SEEDS


def ask(client, payload, **kw):
    return client.post("/api/ask", data=json.dumps(payload, ensure_ascii=False), content_type="application/json", **kw)


def assert_error(resp, status, code):
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    text = resp.get_data(as_text=True)
    assert "Traceback" not in text and "/work/" not in text and ".py" not in text


def test_ask_returns_the_documented_shape(client):
    r = ask(client, {"question": "谁陪同宋洁督导爱国卫生工作？"})
    assert r.status_code == 200 and r.mimetype == "application/json"
    body = r.get_json()
    assert set(body) >= {"question", "answer", "passages", "took_ms", "mode"}
    assert body["question"] == "谁陪同宋洁督导爱国卫生工作？" and body["mode"] == "bm25"
    assert set(body["answer"]) >= {"text", "items", "passage"}
    assert isinstance(body["took_ms"], float)
    assert 1 <= len(body["passages"]) <= 5
    scores = [p["score"] for p in body["passages"]]
    assert scores == sorted(scores, reverse=True)
    for p in body["passages"]:
        assert set(p) >= {"id", "text", "score", "highlights", "source"}
        assert set(p["source"]) >= {
            "document",
            "title",
            "published",
            "publisher",
            "attribution",
            "char_start",
            "char_end",
        }
        for s, e in p["highlights"]:
            assert 0 <= s < e <= len(p["text"])


def test_demo_question_cites_document_001_with_the_answer(client):
    body = ask(client, {"question": "宋洁是哪天实地督导上街区爱国卫生工作的？"}).get_json()
    top = body["passages"][0]
    assert top["source"]["document"] == "001_ca14ccf12a6e3ca9.txt"
    assert "房玉雯" in top["text"]
    assert body["answer"]["text"] == "4月14日"
    p = body["passages"][body["answer"]["passage"]]
    s, e = body["answer"]["span"]
    assert p["text"][s:e] == body["answer"]["text"]
    original = (SEEDS / top["source"]["document"]).read_text("utf-8")
    src = top["source"]
    assert re.sub(r"\s", "", original[src["char_start"] : src["char_end"]]) == re.sub(r"\s", "", top["text"])


def test_a_question_in_spoken_words_gets_the_same_short_answer(client):
    """啥时候 is 什么时候 as a chat user types it: a date is asked, not a sentence."""
    body = ask(client, {"question": "宋洁啥时候实地督导上街区爱国卫生工作的？"}).get_json()
    assert body["answer"]["text"] == "4月14日"


def test_what_a_chat_user_says_around_a_question_is_not_read_as_the_question(client):
    """我想知道…？ got no answer: 我想知道 stood where the question's own wording goes."""
    asked = "我想知道上街公安局请群众代表来局里参观那次是几号？谢谢！"
    body = ask(client, {"question": asked}).get_json()
    assert body["answer"]["text"] == "3月11日"
    assert body["question"] == asked and "rewritten_question" not in body


def test_every_answer_comes_with_its_evidence_sentence(client):
    answered = 0
    for q in load_questions(EVAL_SET):
        answer = ask(client, {"question": q["question"], "history": q.get("history") or []}).get_json()
        answer, passages = answer["answer"], answer["passages"]
        if answer["slots"]:  # a two-part question: the first part's answer is the answer
            assert answer["text"] == answer["slots"][0]["text"]
        # Every part's answer (or the one answer) is cited like the answer itself.
        for part in answer["slots"] or [answer]:
            if part["text"] is None:
                assert part["evidence"] is None and part["span"] is None
                continue
            answered += part is answer or part is answer["slots"][0]
            ev = part["evidence"]
            text = passages[ev["passage"]]["text"]
            assert text[ev["span"][0] : ev["span"][1]] == ev["text"]
            # The short answer lies inside its evidence sentence, in the same passage.
            s, e = part["span"]
            assert part["passage"] == ev["passage"] and ev["span"][0] <= s < e <= ev["span"][1]
            assert part["text"] in ev["text"]
    assert answered > 50


def test_offsets_are_exact_for_every_passage_of_every_eval_question(client):
    originals = {p.name: p.read_text("utf-8") for p in SEEDS.iterdir()}
    checked = 0
    for q in load_questions(EVAL_SET):
        body = ask(client, {"question": q["question"], "top_k": 20}).get_json()
        for p in body["passages"]:
            src = p["source"]
            orig = originals[src["document"]]
            assert re.sub(r"\s", "", orig[src["char_start"] : src["char_end"]]) == re.sub(r"\s", "", p["text"]), q
            checked += 1
    assert checked > 100


def test_list_question_lists_each_street_with_citations(client):
    body = ask(client, {"question": "哪些街道开展了爱国卫生或创卫工作？"}).get_json()
    items = {i["text"]: i["passages"] for i in body["answer"]["items"]}
    for street in ("新安路街道", "工业路街道", "北下街街道"):
        assert street in items
        cited = [body["passages"][n] for n in items[street]]
        assert cited and any(street in p["text"] or street == p["source"]["attribution"] for p in cited)


def test_a_list_question_naming_a_year_the_passages_do_not_bear_out_lists_nothing(client):
    """The seed bulletins are of 2021: the same list question lists items for 2021, none for 2020."""
    for year, listed in (("2021年", True), ("2020年", False)):
        answer = ask(client, {"question": f"{year}上街区有哪些单位被评为见习基地？"}).get_json()["answer"]
        assert bool(answer["items"]) is listed


def test_unanswerable_question_has_null_answer_but_still_returns_200(client):
    body = ask(client, {"question": "法国的首都是哪里？"}).get_json()
    assert body["answer"]["text"] is None and body["answer"]["passage"] is None


def test_follow_up_uses_history(client):
    first = "新安路街道怎样开展爱国卫生运动？"
    body = ask(
        client,
        {
            "question": "那工业路街道呢？",
            "history": [{"role": "user", "content": first}, {"role": "assistant", "content": "……"}],
        },
    ).get_json()
    assert "工业路街道" in body["passages"][0]["text"] or body["passages"][0]["source"]["attribution"] == "工业路街道"
    assert body["rewritten_question"] == "工业路街道怎样开展爱国卫生运动？"
    alone = ask(client, {"question": "那工业路街道呢？"}).get_json()
    assert "rewritten_question" not in alone


def test_top_k_bounds_the_passages(client):
    assert len(ask(client, {"question": "政法队伍教育整顿", "top_k": 1}).get_json()["passages"]) == 1
    assert len(ask(client, {"question": "政法队伍教育整顿", "top_k": 20}).get_json()["passages"]) > 5


def test_explain_adds_scores(client):
    body = ask(client, {"question": "峡窝镇", "explain": True}).get_json()
    assert body["passages"][0]["explain"]["bm25_rank"] == 0


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({}, "invalid_field"),
        ({"question": 5}, "invalid_field"),
        ({"question": "   "}, "empty_question"),
        ({"question": "问" * 2001}, "question_too_long"),
        ({"question": "问题", "top_k": 0}, "invalid_field"),
        ({"question": "问题", "top_k": 21}, "invalid_field"),
        ({"question": "问题", "top_k": "5"}, "invalid_field"),
        ({"question": "问题", "top_k": True}, "invalid_field"),
        ({"question": "问题", "history": "x"}, "invalid_field"),
        ({"question": "问题", "history": [{"role": "system", "content": "x"}]}, "invalid_field"),
        ({"question": "问题", "history": [{"role": "user"}]}, "invalid_field"),
        ({"question": "问题", "history": [{"role": "user", "content": "x"}] * 21}, "history_too_long"),
        ({"question": "问题", "explain": "yes"}, "invalid_field"),
    ],
)
def test_bad_fields_are_400(client, payload, code):
    assert_error(ask(client, payload), 400, code)


def test_bad_json_is_400_and_non_object_is_400(client):
    assert_error(client.post("/api/ask", data="{nope", content_type="application/json"), 400, "invalid_json")
    assert_error(client.post("/api/ask", data="[1,2]", content_type="application/json"), 400, "invalid_json")


def test_non_json_is_415(client):
    assert_error(client.post("/api/ask", data="question=x", content_type="text/plain"), 415, "unsupported_media_type")


def test_too_large_body_is_413(client):
    big = json.dumps({"question": "问", "pad": "x" * 300_000})
    assert_error(client.post("/api/ask", data=big, content_type="application/json"), 413, "payload_too_large")


def test_wrong_method_and_unknown_path(client):
    assert_error(client.get("/api/ask"), 405, "method_not_allowed")
    assert_error(client.get("/api/nothing"), 404, "not_found")
    assert_error(client.get("/api/documents/nope.txt"), 404, "not_found")


def test_index_not_ready_is_503(tmp_path):
    app = create_app(Settings(index_dir=str(tmp_path / "missing"), corpus=[str(SEEDS)], build_if_missing=False))
    c = app.test_client()
    assert_error(ask(c, {"question": "问题"}), 503, "index_not_ready")
    assert_error(c.get("/healthz"), 503, "index_not_ready")
    assert_error(c.get("/api/documents"), 503, "index_not_ready")


def test_app_builds_the_index_when_none_exists(tmp_path):
    app = create_app(Settings(index_dir=str(tmp_path / "idx"), corpus=[str(SEEDS)]))
    assert app.test_client().get("/healthz").get_json()["passages"] > 10
    assert (tmp_path / "idx" / "CURRENT").is_file()


def test_documents_list_and_detail(client):
    docs = client.get("/api/documents").get_json()["documents"]
    assert {d["id"] for d in docs} == {p.name for p in SEEDS.iterdir()}
    d001 = next(d for d in docs if d["id"] == "001_ca14ccf12a6e3ca9.txt")
    assert d001["articles"] == 9 and d001["published"] == "2021-04-16" and d001["publisher"] == "中共上街区委办公室"
    detail = client.get("/api/documents/001_ca14ccf12a6e3ca9.txt").get_json()
    original = (SEEDS / "001_ca14ccf12a6e3ca9.txt").read_text("utf-8")
    assert detail["text"] == original
    assert len(detail["articles"]) == 9
    for a in detail["articles"]:
        assert original[a["char_start"] : a["char_end"]].strip()
        assert (
            re.sub(r"\s", "", a["title"])[:4] in re.sub(r"\s", "", original[a["char_start"] : a["char_end"]])
            or a["section"]
        )


def test_documents_are_listed_a_page_at_a_time_searched_and_filtered(client):
    body = client.get("/api/documents?limit=2").get_json()
    assert body["total"] == body["indexed"] == 5 and body["offset"] == 0 and body["limit"] == 2
    assert len(body["documents"]) == 2 and body["next_offset"] == 2
    seen = [d["id"] for d in body["documents"]]
    while body["next_offset"] is not None:
        body = client.get(f"/api/documents?limit=2&offset={body['next_offset']}").get_json()
        seen += [d["id"] for d in body["documents"]]
    assert sorted(seen) == sorted(p.name for p in SEEDS.iterdir())
    for order in ("desc", "asc"):
        dates = [d["published"] for d in client.get(f"/api/documents?order={order}").get_json()["documents"]]
        dated = [d for d in dates if d]
        assert len(dated) >= 3 and dates[: len(dated)] == sorted(dated, reverse=order == "desc")  # undated last

    found = client.get("/api/documents", query_string={"q": "爱国卫生"}).get_json()
    assert [d["id"] for d in found["documents"]] == ["001_ca14ccf12a6e3ca9.txt"] and found["total"] == 1
    assert found["indexed"] == 5
    by_file = client.get("/api/documents", query_string={"q": "CA14CCF"}).get_json()["documents"]
    assert [d["id"] for d in by_file] == ["001_ca14ccf12a6e3ca9.txt"]  # the file name, either case
    ranged = client.get(
        "/api/documents",
        query_string={"publisher": "中共上街区委办公室", "published_from": "2021-04-01", "published_to": "2021-04-20"},
    ).get_json()
    assert [d["id"] for d in ranged["documents"]] == ["001_ca14ccf12a6e3ca9.txt"]
    empty = client.get("/api/documents?q=&publisher=").get_json()  # a cleared search box: no criterion
    assert empty["total"] == 5


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=1001", "limit=x", "offset=-1", "offset=1e3", "order=newest", "published_from=2021-02-30",
     "published_to=20210101", "published_to=", "order=", "sort=asc", "q=" + "字" * 301,
     "offset=" + "9" * 4000],
)  # fmt: skip
def test_a_bad_documents_query_is_a_400(client, query):
    assert_error(client.get(f"/api/documents?{query}"), 400, "invalid_field")


def test_publishers_are_listed_with_their_document_counts(client):
    publishers = client.get("/api/publishers").get_json()["publishers"]
    docs = client.get("/api/documents").get_json()["documents"]
    counts = {}
    for d in docs:
        if d["publisher"]:
            counts[d["publisher"]] = counts.get(d["publisher"], 0) + 1
    assert {p["name"]: p["documents"] for p in publishers} == counts
    assert [p["documents"] for p in publishers] == sorted(counts.values(), reverse=True)


def test_healthz(client):
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["passages"] > 10 and body["documents"] == 5


def test_security_headers_on_every_response(client):
    for r in (client.get("/healthz"), client.get("/api/nothing"), ask(client, {"question": "峡窝镇"})):
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"


def test_unexpected_errors_are_json_500_without_details(app, monkeypatch):
    svc = app.extensions["qa_live"].service

    def boom(*a, **k):
        raise RuntimeError("secret /etc/passwd detail")

    monkeypatch.setattr(svc, "ask", boom)
    r = ask(app.test_client(), {"question": "问题"})
    assert_error(r, 500, "internal_error")
    assert "secret" not in r.get_data(as_text=True)


def test_a_question_without_chinese_gets_a_clear_notice(client):
    body = ask(client, {"question": "Who accompanied the district secretary?"}).get_json()
    assert body["answer"]["text"] is None and "中文" in body["notice"]
    assert "notice" not in ask(client, {"question": "谁陪同宋洁督导爱国卫生工作？"}).get_json()
