"""``qa-service eval``: retrieval and answer quality on the seed set and CMRC2018.

Both indexes are built in memory from the sources, so the figures do not depend
on whatever is in the on-disk index.  Given an embedding model, every figure is
reported for BM25 alone and for hybrid retrieval side by side, with an exact
McNemar test on the per-question top-1 hits (the same questions under both, so
only the questions on which they differ say anything).

With ``--backend milvus`` the same corpora are also loaded into Milvus (the
configured QA_MILVUS_URI, or a temporary Milvus Lite file) under throw-away
collections, once per analyzer, and every figure is reported for them beside
the embedded index's.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa_service.core.models import Document
from qa_service.core.settings import PROJECT_DIR, Settings
from qa_service.core.text import strip_ws
from qa_service.index.embedded.hybrid import FusionSettings
from qa_service.index.embedded.store import EmbeddedIndex, IndexSettings
from qa_service.index.embeddings import Embedder, get_embedder
from qa_service.ingest.pipeline import Corpus, build_corpus, corpus_from_documents
from qa_service.qa.service import QAService

log = logging.getLogger(__name__)

DEFAULT_SEED_SET = PROJECT_DIR / "eval" / "seed_questions.jsonl"
DEFAULT_CMRC = PROJECT_DIR.parent / "shared" / "eval" / "cmrc2018_trial.json"
K = 10


def load_questions(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text("utf-8").splitlines() if line.strip()]


def _rank_of_hit(passages: list[dict[str, Any]], doc: str, must: str | None) -> int | None:
    needle = strip_ws(must) if must else None
    for r, p in enumerate(passages):
        if p["source"]["document"] == doc and (needle is None or needle in strip_ws(p["text"])):
            return r
    return None


@dataclass
class SeedReport:
    n: dict[str, int] = field(default_factory=dict)
    hit1: float = 0.0
    hit5: float = 0.0
    mrr10: float = 0.0
    answer_accuracy: float = 0.0
    answered_rate: float = 0.0
    abstain_rate: float = 0.0
    item_recall: float = 0.0
    offset_errors: int = 0
    failures: list[str] = field(default_factory=list)
    top1: list[bool] = field(default_factory=list)  # per answerable question, in order: gold passage first?

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("Hit@1 (answerable)", f"{self.hit1:.3f}"),
            ("Hit@5 (answerable)", f"{self.hit5:.3f}"),
            ("MRR@10 (answerable)", f"{self.mrr10:.3f}"),
            ("answer contains gold", f"{self.answer_accuracy:.3f}"),
            ("answered (answerable)", f"{self.answered_rate:.3f}"),
            ("abstained (unanswerable)", f"{self.abstain_rate:.3f}"),
            ("list item recall", f"{self.item_recall:.3f}"),
            ("offset errors", str(self.offset_errors)),
        ]


def evaluate_seed_set(svc: QAService, questions: list[dict[str, Any]], originals: dict[str, str]) -> SeedReport:
    rep = SeedReport()
    ranks: list[int | None] = []
    answer_ok: list[bool] = []
    answered: list[bool] = []
    abstained: list[bool] = []
    recalls: list[float] = []
    for q in questions:
        rep.n[q["type"]] = rep.n.get(q["type"], 0) + 1
        res = svc.ask(q["question"], top_k=K)
        for p in res["passages"]:
            src = p["source"]
            orig = originals.get(src["document"], "")
            if strip_ws(orig[src["char_start"] : src["char_end"]]) != strip_ws(p["text"]):
                rep.offset_errors += 1
        ans = res["answer"]
        if q["type"] == "unanswerable":
            ok = ans["text"] is None and not ans["items"]
            abstained.append(ok)
            if not ok:
                rep.failures.append(f"{q['id']} answered an unanswerable question: {ans['text']!r}")
            continue
        r = _rank_of_hit(res["passages"], q["gold_doc"], q.get("must_contain"))
        ranks.append(r)
        if r is None or r > 0:
            rep.failures.append(f"{q['id']} gold passage at rank {None if r is None else r + 1}: {q['question']}")
        if q["type"] == "list":
            gold = q.get("items") or []
            got = [i["text"] for i in ans["items"]]
            found = [g for g in gold if any(g == x or g in x for x in got)]
            recalls.append(len(found) / len(gold) if gold else 1.0)
            if len(found) < len(gold):
                rep.failures.append(f"{q['id']} items missing {sorted(set(gold) - set(found))}; got {got}")
            continue
        answered.append(ans["text"] is not None)
        if q.get("answer_contains"):
            ok = ans["text"] is not None and strip_ws(q["answer_contains"]) in strip_ws(ans["text"])
            answer_ok.append(ok)
            if not ok:
                rep.failures.append(f"{q['id']} answer {ans['text']!r} lacks {q['answer_contains']!r}")
    rep.top1 = [r == 0 for r in ranks]
    if ranks:
        rep.hit1 = sum(r == 0 for r in ranks) / len(ranks)
        rep.hit5 = sum(r is not None and r < 5 for r in ranks) / len(ranks)
        rep.mrr10 = sum(1 / (r + 1) for r in ranks if r is not None and r < 10) / len(ranks)
    rep.answer_accuracy = sum(answer_ok) / len(answer_ok) if answer_ok else 0.0
    rep.answered_rate = sum(answered) / len(answered) if answered else 0.0
    rep.abstain_rate = sum(abstained) / len(abstained) if abstained else 0.0
    rep.item_recall = sum(recalls) / len(recalls) if recalls else 0.0
    return rep


def cmrc_documents(path: str | Path) -> tuple[list[Document], list[tuple[str, str, list[str]]]]:
    """Every paragraph a document; each question with its paragraph and gold answers."""
    data = json.loads(Path(path).read_text("utf-8"))
    docs, qs = [], []
    for article in data["data"]:
        for n, para in enumerate(article["paragraphs"]):
            pid = para.get("id") or f"{article.get('id', len(docs))}-{n}"
            docs.append(
                Document(id=pid, text=para["context"], path=str(path), format="jsonl", title=article.get("title"))
            )
            for qa in para["qas"]:
                qs.append((qa["question"], pid, [a["text"] for a in qa.get("answers", [])]))
    return docs, qs


@dataclass
class RetrievalResult:
    """Per question: rank of the gold paragraph (None past the candidates) and answer-hit@5."""

    ranks: list[int | None] = field(default_factory=list)
    answer_hits: list[bool] = field(default_factory=list)

    @property
    def top1(self) -> list[bool]:
        return [r == 0 for r in self.ranks]

    def metrics(self) -> dict[str, float]:
        n = len(self.ranks) or 1
        return {
            "questions": len(self.ranks),
            "R@1": sum(r == 0 for r in self.ranks) / n,
            "R@5": sum(r is not None and r < 5 for r in self.ranks) / n,
            "MRR@10": sum(1 / (r + 1) for r in self.ranks if r is not None and r < K) / n,
            "answer-hit@5": sum(self.answer_hits) / n,
        }


def retrieve_cmrc(svc: QAService, questions: Iterable[tuple[str, str, list[str]]]) -> RetrievalResult:
    res = RetrievalResult()
    for question, gold, answers in questions:
        hits = svc.retriever.search(svc.retriever.query(question), K * 3)
        docs: list[str] = []
        for h in hits:
            if h.chunk.doc_id not in docs:
                docs.append(h.chunk.doc_id)
        res.ranks.append(docs.index(gold) if gold in docs else None)
        top5 = " ".join(h.chunk.text for h in hits[:5])
        res.answer_hits.append(any(a and a in top5 for a in answers))
    return res


def evaluate_retrieval(svc: QAService, questions: Iterable[tuple[str, str, list[str]]]) -> dict[str, float]:
    return retrieve_cmrc(svc, questions).metrics()


def mcnemar(base: Sequence[bool], other: Sequence[bool]) -> dict[str, Any]:
    """Exact two-sided McNemar (sign) test of paired per-question hits: under no difference,
    each question one method gets and the other misses is a fair coin."""
    if len(base) != len(other):
        raise ValueError("paired results must cover the same questions")
    gained = sum(o and not b for b, o in zip(base, other, strict=True))
    lost = sum(b and not o for b, o in zip(base, other, strict=True))
    n = gained + lost
    tail = sum(math.comb(n, i) for i in range(min(gained, lost) + 1)) / 2**n if n else 1.0
    return {"gained": gained, "lost": lost, "p": min(1.0, 2 * tail)}


def _fmt_test(t: dict[str, Any]) -> str:
    return f"+{t['gained']} -{t['lost']} p={t['p']:.2g}"


@dataclass
class Mode:
    """One retrieval set-up to evaluate: BM25 alone (no embedder) or a fusion of BM25 and dense,
    on the embedded index or on Milvus with one of its analyzers (``backend`` "milvus:<analyzer>")."""

    name: str
    embedder: Embedder | None = None
    fusion: FusionSettings = field(default_factory=FusionSettings)
    backend: str = "embedded"

    def service(self, index: Any) -> QAService:
        return QAService(index, embedder=self.embedder, fusion=self.fusion)


def milvus_modes(embedder: Embedder | None, weight: float) -> list[Mode]:
    """Milvus beside the embedded modes: BM25 with each analyzer, and Milvus's hybrid search."""
    modes = [Mode("milvus bm25", backend="milvus:jieba+bigrams"), Mode("milvus bm25 chinese", backend="milvus:chinese")]
    if embedder is not None:
        for f in (FusionSettings(weight=weight), FusionSettings(method="rrf")):
            modes.append(Mode(f"milvus hybrid {f.label()}", embedder, f, backend="milvus:jieba+bigrams"))
    return modes


class MilvusEval:
    """Throw-away collections for the eval (dropped afterwards), one per corpus and analyzer."""

    def __init__(self, s: Settings, workdir: str) -> None:
        from qa_service.index.milvus.backend import MilvusConfig

        self.base = s.with_overrides(backend="milvus", index_dir=workdir)
        if not s.milvus_uri:
            self.base = self.base.with_overrides(milvus_uri=str(Path(workdir) / "eval.db"))
        self.tag = uuid.uuid4().hex[:8]
        self.config = MilvusConfig.from_settings(self.base)
        self.stores: list[Any] = []

    def index(self, corpus: Corpus, what: str, analyzer: str, embedder: Embedder | None, settings: IndexSettings):
        from qa_service.index.milvus.backend import index_corpus

        s = self.base.with_overrides(milvus_collection=f"qa_eval_{what}_{analyzer[:7]}_{self.tag}".replace("+", "_"))
        s = s.with_overrides(milvus_analyzer=analyzer)
        run = index_corpus(corpus, s, embedder, index_settings=settings)
        self.stores.append(run.index.store)
        return run.index

    def close(self) -> None:
        for store in self.stores:
            try:
                store.drop()
            except Exception as exc:  # a cleanup failure must not hide the figures
                log.warning("could not drop eval collection %s: %s", store.config.collection, exc)
        for store in self.stores:
            store.close()


@contextmanager
def milvus_eval(s: Settings, enabled: bool) -> Iterator[MilvusEval | None]:
    if not enabled:
        yield None
        return
    from qa_service.index.milvus.backend import MilvusError

    with tempfile.TemporaryDirectory(prefix="qa-eval-milvus-") as workdir:
        ev = MilvusEval(s, workdir)
        try:
            yield ev
        except MilvusError as exc:
            raise SystemExit(f"qa-service eval: {exc}") from exc
        finally:
            ev.close()


def eval_modes(args: argparse.Namespace, s: Settings) -> tuple[list[Mode], Embedder | None]:
    modes = [Mode("bm25")]
    name = args.embedding_model or s.embedding_model
    if not name:
        return modes, None
    weight = s.hybrid_weight if args.hybrid_weight is None else args.hybrid_weight
    if not 0.0 <= weight <= 1.0:
        raise SystemExit(f"qa-service eval: --hybrid-weight must be from 0 to 1, got {weight}")
    embedder = get_embedder(name)
    if embedder is None:
        raise SystemExit(f"qa-service eval: cannot use embedding model {name!r} (the log above says why)")
    weighted = FusionSettings(weight=weight)
    rrf = FusionSettings(method="rrf")
    modes += [Mode(f"hybrid {weighted.label()}", embedder, weighted), Mode(f"hybrid {rrf.label()}", embedder, rrf)]
    return modes, embedder


def _weights(arg: str | None) -> list[float]:
    if not arg:
        return []
    try:
        ws = [float(w) for w in arg.split(",") if w.strip()]
    except ValueError as exc:
        raise SystemExit(f"qa-service eval: --weights takes numbers like 0,0.3,0.5: {exc}") from exc
    if any(not 0 <= w <= 1 for w in ws):
        raise SystemExit("qa-service eval: every weight must be from 0 to 1")
    return ws


def _embed(index: EmbeddedIndex, embedder: Embedder | None, s: Settings, what: str, out: dict[str, Any]) -> None:
    if embedder is None:
        return
    stats = index.embed(embedder, batch_size=s.embedding_batch, show_progress=True)
    out.setdefault("embedding", {"model": embedder.name, "model_id": embedder.model_id, "dim": embedder.dim})
    out["embedding"][what] = {
        "passages": stats.passages,
        "seconds": round(stats.seconds, 1),
        "passages_per_s": round(stats.per_second, 1),
    }


def run_eval(args: argparse.Namespace, s: Settings) -> int:
    with milvus_eval(s, getattr(args, "backend", "embedded") == "milvus") as mv:
        return _run_eval(args, s, mv)


def _indexes(
    modes: list[Mode], index: EmbeddedIndex, corpus: Corpus, what: str, mv: MilvusEval | None, settings: IndexSettings
) -> dict[str, Any]:
    """The index each mode's backend searches: the embedded one, or a Milvus collection per analyzer."""
    out: dict[str, Any] = {"embedded": index}
    for m in modes:
        if m.backend not in out and mv is not None:
            analyzer = m.backend.split(":", 1)[1]
            model = next((x.embedder for x in modes if x.backend == m.backend and x.embedder is not None), None)
            out[m.backend] = mv.index(corpus, what, analyzer, model, settings)
    return out


def _run_eval(args: argparse.Namespace, s: Settings, mv: MilvusEval | None) -> int:
    settings = IndexSettings(bigrams=not args.no_bigrams)
    modes, embedder = eval_modes(args, s)
    if mv is not None:
        weight = s.hybrid_weight if args.hybrid_weight is None else args.hybrid_weight
        modes += milvus_modes(embedder, weight)
    weights = _weights(args.weights) if embedder is not None else []
    if args.weights and embedder is None:
        log.warning("--weights sweeps hybrid fusion, which needs an embedding model (--embedding-model): ignored")
    out: dict[str, Any] = {"tokenizer": settings.to_dict()["tokenizer"]}
    seed_path = Path(args.seed_set) if args.seed_set else DEFAULT_SEED_SET
    seed_reports: dict[str, SeedReport] = {}
    if seed_path.is_file():
        corpus = build_corpus(s.corpus)
        index = EmbeddedIndex.build(corpus, settings)
        _embed(index, embedder, s, "seed", out)
        questions = load_questions(seed_path)
        originals = {d.id: d.text for d in corpus.documents}
        indexes = _indexes(modes, index, corpus, "seed", mv, settings)
        for m in modes:
            seed_reports[m.name] = evaluate_seed_set(m.service(indexes[m.backend]), questions, originals)
        rep = seed_reports["bm25"]
        out["seed"] = {"questions": rep.n, **dict(rep.rows())}
        out["seed_failures"] = rep.failures
        for w in weights:
            svc = Mode("", embedder, FusionSettings(weight=w)).service(index)
            top1 = evaluate_seed_set(svc, questions, originals).top1
            out.setdefault("sweep", {}).setdefault(f"{w:g}", {})["seed Hit@1"] = _sweep_cell(rep.top1, top1)
    else:
        log.warning("no seed question set at %s", seed_path)
    cmrc_path = Path(args.cmrc) if args.cmrc else DEFAULT_CMRC
    cmrc_results: dict[str, RetrievalResult] = {}
    if cmrc_path.is_file():
        docs, qs = cmrc_documents(cmrc_path)
        t0 = time.perf_counter()
        cmrc_corpus = corpus_from_documents(docs)
        index = EmbeddedIndex.build(cmrc_corpus, settings)
        cmrc_results["bm25"] = retrieve_cmrc(modes[0].service(index), qs)
        res: dict[str, Any] = cmrc_results["bm25"].metrics()
        res["seconds"] = round(time.perf_counter() - t0, 1)
        out["cmrc2018_trial"] = {"paragraphs": len(docs), **{k: round(v, 4) for k, v in res.items()}}
        _embed(index, embedder, s, "cmrc2018_trial", out)
        indexes = _indexes(modes, index, cmrc_corpus, "cmrc", mv, settings)
        for m in modes[1:]:
            cmrc_results[m.name] = retrieve_cmrc(m.service(indexes[m.backend]), qs)
        for w in weights:
            top1 = retrieve_cmrc(Mode("", embedder, FusionSettings(weight=w)).service(index), qs).top1
            cell = _sweep_cell(cmrc_results["bm25"].top1, top1)
            out.setdefault("sweep", {}).setdefault(f"{w:g}", {})["CMRC R@1"] = cell
    else:
        log.warning("no CMRC2018 file at %s", cmrc_path)
    if mv is not None:
        out["milvus"] = {"uri": mv.config.where(), "analyzers": ["jieba+bigrams", "chinese"]}
    if len(modes) > 1:
        out["modes"] = _mode_figures(modes, seed_reports, cmrc_results)
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    print_report(out, modes, seed_reports, seed_path)
    return 0


def _sweep_cell(base: list[bool], top1: list[bool]) -> dict[str, Any]:
    return {"value": round(sum(top1) / (len(top1) or 1), 4), **mcnemar(base, top1)}


def _mode_figures(
    modes: list[Mode], seed: dict[str, SeedReport], cmrc: dict[str, RetrievalResult]
) -> dict[str, dict[str, Any]]:
    figures: dict[str, dict[str, Any]] = {}
    for m in modes:
        f: dict[str, Any] = {}
        if m.name in seed:
            f["seed"] = dict(seed[m.name].rows())
            f["seed_failures"] = seed[m.name].failures
            if m.name != "bm25":
                f["seed Hit@1 vs bm25"] = mcnemar(seed["bm25"].top1, seed[m.name].top1)
        if m.name in cmrc:
            f["cmrc2018_trial"] = {k: round(v, 4) for k, v in cmrc[m.name].metrics().items()}
            if m.name != "bm25":
                f["CMRC R@1 vs bm25"] = mcnemar(cmrc["bm25"].top1, cmrc[m.name].top1)
        figures[m.name] = f
    return figures


def print_report(out: dict[str, Any], modes: list[Mode], seed: dict[str, SeedReport], seed_path: Path) -> None:
    print(f"tokenizer: {out['tokenizer']}")
    if out.get("milvus"):
        print(f"milvus: {out['milvus']['uri']}, throw-away collections (dropped after the run)")
    emb = out.get("embedding")
    if emb:
        rates = ", ".join(
            f"{k}: {v['passages']} passages in {v['seconds']}s ({v['passages_per_s']}/s)"
            for k, v in emb.items()
            if isinstance(v, dict)
        )
        print(f"embedding model: {emb['model_id']} ({emb['dim']} dimensions); {rates}")
    figures = out.get("modes")
    names = [m.name for m in modes]
    width = max(14, *(len(n) for n in names))

    def table(rows: list[tuple[str, list[str]]]) -> None:
        print(f"  {'':<28}" + "".join(f"{n:>{width + 2}}" for n in names))
        for label, cells in rows:
            print(f"  {label:<28}" + "".join(f"{c:>{width + 2}}" for c in cells))

    if "seed" in out:
        print(
            f"\nseed set ({seed_path.name}; {sum(out['seed']['questions'].values())} questions: "
            + ", ".join(f"{v} {k}" for k, v in out["seed"]["questions"].items())
            + ")"
        )
        if figures:
            rows = [(label, [dict(seed[n].rows())[label] for n in names]) for label, _ in seed["bm25"].rows()]
            rows.append(
                ("Hit@1 vs bm25 (McNemar)", ["-", *(_fmt_test(figures[n]["seed Hit@1 vs bm25"]) for n in names[1:])])
            )
            table(rows)
        else:
            for k, v in out["seed"].items():
                if k != "questions":
                    print(f"  {k:<28}{v}")
        for n in names[:2]:
            if seed[n].failures:
                print(f"  misses ({n}):")
                for f in seed[n].failures:
                    print(f"    - {f}")
    if "cmrc2018_trial" in out:
        c = out["cmrc2018_trial"]
        print(f"\nCMRC2018 trial ({c['paragraphs']} paragraphs, {c['questions']} questions)")
        keys = ("R@1", "R@5", "MRR@10", "answer-hit@5")
        if figures:
            rows = [(k, [f"{figures[n]['cmrc2018_trial'][k]:.4f}" for n in names]) for k in keys]
            rows.append(
                ("R@1 vs bm25 (McNemar)", ["-", *(_fmt_test(figures[n]["CMRC R@1 vs bm25"]) for n in names[1:])])
            )
            table(rows)
        else:
            for k in keys:
                print(f"  {k:<28}{c[k]:.4f}")
    if out.get("sweep"):
        print("\nweight sweep (weighted fusion; top-1 hits gained/lost against bm25, exact McNemar p)")
        for w, cells in out["sweep"].items():
            parts = [f"{k} {v['value']:.4f} ({_fmt_test(v)})" for k, v in cells.items()]
            print(f"  w={w:<5} " + "   ".join(parts))
