"""Answer stage: ranked passages -> the short answer, its evidence sentence, list items, highlights.

The answer is copied from a passage, never generated.  The reader (reader.py) picks the evidence
sentence and the short answer inside it with weights fitted on data (model.py); whether to answer
at all is a second fitted model's probability that the corpus answers the question, from how much
of the question the evidence holds, words the corpus has never seen, and names the question asks
about that the cited document lacks.  List questions (哪些…) get every item found (listing.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from qa_service.core.lexicon import PLACE_SUFFIXES
from qa_service.core.models import Answer, AnswerItem, Evidence, Hit, Query, SlotAnswer
from qa_service.core.text import strip_ws
from qa_service.core.tokenizer import Tokenizer
from qa_service.qa.enumerate import asks_for_list, best_enumeration
from qa_service.qa.features import answerable_features
from qa_service.qa.listing import ListSpec, dated, list_items, list_spec
from qa_service.qa.model import AnswerModel
from qa_service.qa.neural import SpanProposer
from qa_service.qa.reader import Reading, read
from qa_service.qa.scoring import Scorer


def answerable_inputs(
    scorer: Scorer, query: Query, reading: Reading, hit: Hit, doc_text: Callable[[str], str] | None
) -> np.ndarray:
    """What the abstention scorer reads: how likely the reading is, how much of the question the
    evidence holds, the weight of words the corpus has never seen, names the question asks about
    that the cited document lacks or that the whole corpus has never seen (二七区 asked of bulletins
    from other districts), and a year or day the question names that the cited passage neither says
    nor was published on (2022年 asked of a 2021 bulletin)."""
    unknown = sum(w for t, w in scorer.weights.items() if t in scorer.unknown) / scorer.total if scorer.total else 1.0
    focus_unknown = any(len(f) >= 2 for f in scorer.focus & scorer.unknown)
    names_missing = not names_held(query, hit, doc_text)
    name_unknown = any(len(n) >= 2 and n.lower() in scorer.unknown for n in query.names)  # words are lower-cased
    return answerable_features(
        reading.probability,
        reading.sentence_probability,
        reading.sentence_score,
        reading.coverage,
        unknown,
        focus_unknown,
        names_missing,
        reading.best_coverage,
        date_missing(query.text, hit),
        name_unknown,
        reading.overlap,
    )


_YEAR = re.compile(r"((?:19|20)\d{2})\s*年")
_DAY = re.compile(r"(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]")


def date_missing(question: str, hit: Hit) -> bool:
    """The question names a year or a day that the passage (text, title) does not say and is not
    its publication date."""
    years, days = _YEAR.findall(question), _DAY.findall(question)
    if not years and not days:  # most questions: the passage's text need not be read
        return False
    c = hit.chunk
    text = strip_ws(f"{c.title}{c.text}")
    published = c.published or ""
    for y in years:
        if f"{y}年" not in text and not published.startswith(y):
            return True
    for m, d in days:
        said = f"{int(m)}月{int(d)}日" in text or f"{int(m)}月{int(d)}号" in text
        if not said and published[5:] != f"{int(m):02d}-{int(d):02d}":
            return True
    return False


def answerable_probability(
    model: AnswerModel, scorer: Scorer, query: Query, reading: Reading, hit: Hit, doc_text: Callable[[str], str] | None
) -> float:
    """The model's probability that the corpus answers the question, given what was read."""
    return float(model.answerable.prob(answerable_inputs(scorer, query, reading, hit, doc_text)))


def will_answer(model: AnswerModel, probability: float, query: Query, hit: Hit) -> bool:
    """Whether to answer from ``hit``: the model's probability reaches its threshold, and the question
    names no year or day that the passage neither says nor was published on.  The second is a rule,
    not only one of the model's inputs: a rare input, its weight came out strong in one fold and weak
    in the other, and answers it vetoes were right for 5 of the 29 answerable questions it fired on
    (CMRC2018, DRCD, news_dev, seeds) and for none of 95 unanswerable ones (docs/answers.md)."""
    return probability >= model.threshold and not date_missing(query.text, hit)


def highlights(query: Query, text: str) -> list[list[int]]:
    """Offsets of the question's words in a passage, merged."""
    terms = {w for w in query.words if len(w) >= 2 or w.isascii()}
    spans = []
    for t in terms:
        for m in re.finditer(re.escape(t), text, flags=re.IGNORECASE):
            spans.append((m.start(), m.end()))
    spans.sort()
    merged: list[list[int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return merged


def compose(
    model: AnswerModel,
    tokenizer: Tokenizer,
    query: Query,
    pool: Sequence[Hit],
    top_k: int,
    idf: Callable[[str], float | None],
    max_idf: float,
    doc_text: Callable[[str], str] | None = None,
    proposer: SpanProposer | None = None,
    part_pools: Sequence[Sequence[Hit]] = (),
) -> tuple[Answer, list[Hit]]:
    """The answer and the passages to return (top_k best, plus any a list item or a part cites);
    ``proposer`` is the optional neural reader (neural.py); ``part_pools``: for a question asking
    several things (``query.slots``), each part's own best passages (else the parts read ``pool``)."""
    passages = list(pool[:top_k])
    if query.slots:
        return _parts_answer(model, tokenizer, query, passages, part_pools, (idf, max_idf), doc_text, proposer)
    first, reading = _read_part(model, tokenizer, query, passages, (idf, max_idf), doc_text, proposer)
    answer = Answer(first.text, first.passage, first.span, confidence=first.confidence, evidence=first.evidence)
    spec = list_spec(query.question) or (list_spec(query.text) if query.followup else None)
    if spec is not None or asks_for_list(query.text):
        items, passages = _list_answer(spec, tokenizer, query, pool, top_k, reading, Scorer, (idf, max_idf), doc_text)
        answer.items = items
    return answer, passages


def _parts_answer(
    model: AnswerModel,
    tokenizer: Tokenizer,
    query: Query,
    passages: list[Hit],
    part_pools: Sequence[Sequence[Hit]],
    idf: tuple[Callable[[str], float | None], float],
    doc_text: Callable[[str], str] | None,
    proposer: SpanProposer | None,
) -> tuple[Answer, list[Hit]]:
    """One answer per part, each read from its own passages when retrieved for it (the two things
    of 「A和B分别…」 are often in two articles); a passage a part cites joins the ones returned.  The
    first part's answer is the answer; when every part found that same span, it answers them together
    (「甲国与乙国的合作是由于哪个宣言？」) and there are no parts."""
    slots = []
    top_k = len(passages)
    for k, part in enumerate(query.slots):
        own = list(part_pools[k][:top_k]) if k < len(part_pools) else passages
        slot, _ = _read_part(model, tokenizer, part, own, idf, doc_text, proposer)
        if slot.passage is not None and slot.evidence is not None:
            slot.passage = slot.evidence.passage = _cite(passages, own[slot.passage])
        slots.append(slot)
    first = slots[0]
    answer = Answer(first.text, first.passage, first.span, confidence=first.confidence, evidence=first.evidence)
    if first.text is None or any((s.passage, s.span) != (first.passage, first.span) for s in slots):
        answer.slots = slots
    return answer, passages


def _cite(passages: list[Hit], hit: Hit) -> int:
    """The index of ``hit`` among ``passages``, appending it if it is not there."""
    for i, h in enumerate(passages):
        if h.chunk.id == hit.chunk.id:
            return i
    passages.append(hit)
    return len(passages) - 1


def _read_part(
    model: AnswerModel,
    tokenizer: Tokenizer,
    query: Query,
    passages: Sequence[Hit],
    idf: tuple[Callable[[str], float | None], float],
    doc_text: Callable[[str], str] | None,
    proposer: SpanProposer | None = None,
) -> tuple[SlotAnswer, Reading | None]:
    """The short answer to ``query`` in ``passages`` with its evidence, or none below the threshold."""
    out = SlotAnswer(query.text, None)
    scorer = Scorer(query, *idf)
    reading = read(model, tokenizer, query, scorer, passages, proposer) if passages else None
    if reading is None:
        return out, None
    p = reading.passage
    probability = answerable_probability(model, scorer, query, reading, passages[p], doc_text)
    out.confidence = round(probability, 4)
    if will_answer(model, probability, query, passages[p]):
        text = passages[p].chunk.text
        out.text = text[reading.span[0] : reading.span[1]]
        out.passage, out.span = p, reading.span
        out.evidence = Evidence(text[reading.evidence[0] : reading.evidence[1]], p, reading.evidence)
    return out, reading


def _list_answer(
    spec: ListSpec | None,
    tokenizer: Tokenizer,
    query: Query,
    pool: Sequence[Hit],
    top_k: int,
    reading: Reading | None,
    scorer_type: type[Scorer],
    idf: tuple[Callable[[str], float | None], float],
    doc_text: Callable[[str], str] | None,
) -> tuple[list[AnswerItem], list[Hit]]:
    """Every item a list question asks for, and the passages to return: typed names (哪些街道) from
    all passages about the question, else the run one sentence or paragraph lists (哪五个行动)."""
    topic = scorer_type(query, *idf, exclude=(spec.label, *spec.heads) if spec else (), topic=True)
    # Places (哪些地区, 哪些城市) are listed by the evidence sentence's run first: place names are
    # everywhere in passages about a topic, the run says which ones the question means.  On
    # CMRC2018's list questions this raised item precision 0.557 -> 0.567 and part recall
    # 0.366 -> 0.401; the same order for every kind lowered the seed set's recall 0.80 -> 0.64.
    typed = spec is not None and spec.kind != "spot"
    places_first = typed and spec.suffixes == PLACE_SUFFIXES
    raw: list[tuple[str, list[str]]] = []
    # Items come only from passages that bear out a year or a day the question names, as the short
    # answer does (will_answer): 2020年…哪些单位… is not listed from a 2021 bulletin.
    unsaid = {h.chunk.id for h in pool if date_missing(query.text, h)}
    said = [h for h in dated(query.text, pool) if h.chunk.id not in unsaid]
    if typed and not places_first:
        raw = list_items(spec, tokenizer, topic, query, said, doc_text)
    if not raw:
        evidence = (reading.passage, *reading.evidence) if reading else None
        # A list about 中原区 is not read from a document that never names 中原区.
        readable = [h if h.chunk.id not in unsaid and names_held(query, h, doc_text) else None for h in pool[:top_k]]
        listed = best_enumeration(query.text, topic.coverage, readable, evidence, pool)
        if listed is not None:
            raw = list({i: [c] for i, c in zip(listed.items, listed.cites, strict=True)}.items())
    if not raw and places_first:
        raw = list_items(spec, tokenizer, topic, query, said, doc_text)
    # Return every passage an item cites, even from beyond top_k, best first.
    cited = {c for _, ids in raw for c in ids}
    passages = [h for i, h in enumerate(pool) if i < top_k or h.chunk.id in cited]
    position = {h.chunk.id: i for i, h in enumerate(passages)}
    return [AnswerItem(n, [position[c] for c in ids]) for n, ids in raw], passages


def names_held(query: Query, hit: Hit, doc_text: Callable[[str], str] | None) -> bool:
    """The hit's document names every place, person and organisation the question names."""
    if doc_text is None or not query.names:
        return True
    text = strip_ws(doc_text(hit.chunk.doc_id))
    return all(strip_ws(n) in text for n in query.names)
