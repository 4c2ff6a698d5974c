"""``POST /api/ask``'s ``filters``: validated with the API's one error shape, applied inside retrieval."""

from __future__ import annotations

import pytest

from qa_service.core.models import Query
from qa_service.index import Filters
from qa_service.index.milvus.rankers import filter_expr
from qa_service.qa.question import parse_question

SHANGJIE = "中共上街区委办公室"


def ask(client, question, filters, **kw):
    return client.post("/api/ask", json={"question": question, "filters": filters, **kw})


@pytest.mark.parametrize(
    "filters",
    [
        "2021-04",
        {"published_from": "2021-4-1"},
        {"published_to": "2021-02-30"},
        {"published_from": 20210401},
        {"publisher": ""},
        {"publisher": ["a"]},
        {"documents": []},
        {"documents": "001_ca14ccf12a6e3ca9.txt"},
        {"documents": [1]},
        {"month": "2021-04"},
    ],
)
def test_bad_filters_are_400_in_the_one_error_shape(client, filters):
    resp = ask(client, "谁陪同宋洁督导爱国卫生工作？", filters)
    assert resp.status_code == 400
    body = resp.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == "invalid_field"
    assert "filters" in body["error"]["message"]


def test_filters_are_optional_and_null_means_none(client):
    plain = client.post("/api/ask", json={"question": "谁陪同宋洁督导爱国卫生工作？"}).get_json()
    assert ask(client, "谁陪同宋洁督导爱国卫生工作？", None).get_json()["passages"] == plain["passages"]
    assert ask(client, "谁陪同宋洁督导爱国卫生工作？", {}).get_json()["passages"] == plain["passages"]


def test_a_filtered_question_only_cites_matching_passages(client):
    question = "政法队伍教育整顿"
    unfiltered = ask(client, question, None, top_k=10).get_json()
    assert {p["source"]["publisher"] for p in unfiltered["passages"]} - {SHANGJIE}  # others rank too

    by_publisher = ask(client, question, {"publisher": SHANGJIE}, top_k=10).get_json()
    assert by_publisher["passages"]
    assert {p["source"]["publisher"] for p in by_publisher["passages"]} == {SHANGJIE}

    april = {"published_from": "2021-04-01", "published_to": "2021-04-30"}
    in_april = ask(client, question, april, top_k=10).get_json()
    assert in_april["passages"]
    assert all("2021-04-01" <= p["source"]["published"] <= "2021-04-30" for p in in_april["passages"])

    doc = "004_9122cf0f75c063ff.txt"
    one = ask(client, question, {"documents": [doc]}, top_k=20).get_json()
    assert one["passages"] and {p["source"]["document"] for p in one["passages"]} == {doc}

    nothing = ask(client, question, {"published_from": "2021-05-01", "published_to": "2021-04-01"}).get_json()
    assert nothing["passages"] == [] and nothing["answer"]["text"] is None


def test_filtering_restricts_retrieval_not_a_pool(service):
    """The filtered ranking is the unfiltered one over the matching passages only, however far down
    they rank: not the top 30 filtered afterwards."""
    index = service.index
    query: Query = parse_question(index.tokenizer, "谁陪同宋洁督导爱国卫生工作？")
    everything = service.ranker.rank(query, len(index))
    theirs = Filters(publisher="澎湃新闻·澎湃号·政务")
    expected = [h.chunk.id for h in everything if h.chunk.publisher == theirs.publisher]
    got = [h.chunk.id for h in service.ranker.rank(query, len(index), theirs)]
    assert got == expected and got
    assert [h.chunk.id for h in service.ranker.rank(query, 2, theirs)] == expected[:2]


def test_milvus_filter_expression():
    assert filter_expr(None) == "" and filter_expr(Filters()) == ""
    expr = filter_expr(Filters("2021-04-01", "2021-04-30", 'a"b', ("x.txt", "y.txt")))
    assert expr == (
        'published >= "2021-04-01" and published <= "2021-04-30" and published != "" and '
        'publisher == "a\\"b" and doc_id in ["x.txt", "y.txt"]'
    )


def test_hybrid_retrieval_is_filtered_too(seed_corpus):
    from qa_service.index.embedded.store import EmbeddedIndex
    from qa_service.qa.service import QAService
    from tests.test_embeddings import FakeEmbedder

    fake = FakeEmbedder()
    svc = QAService(EmbeddedIndex.build(seed_corpus, embedder=fake), embedder=fake)
    assert svc.mode == "hybrid"
    theirs = Filters(published_from="2021-03-01", published_to="2021-03-31")
    got = svc.ask("政法队伍教育整顿", top_k=10, filters=theirs)["passages"]
    assert got and all(p["source"]["published"] == "2021-03-05" for p in got)
