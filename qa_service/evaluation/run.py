"""``qa-service eval``: build the indexes, evaluate every mode, then print or dump the figures."""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa_service.core.models import Corpus
from qa_service.core.settings import Settings
from qa_service.evaluation.cmrc import DEFAULT_CMRC, RetrievalResult, cmrc_documents, mcnemar, retrieve_cmrc
from qa_service.evaluation.lists import list_figures
from qa_service.evaluation.milvus import MilvusEval, milvus_eval
from qa_service.evaluation.modes import Mode, eval_modes, milvus_modes, parse_weights
from qa_service.evaluation.report import print_report
from qa_service.evaluation.seed import (
    CHAT_FORMS,
    CHAT_ROWS,
    DEFAULT_SEED_SET,
    SeedReport,
    chat_wrapped,
    evaluate_seed_set,
    load_forms,
    load_questions,
)
from qa_service.evaluation.slots import slot_figures
from qa_service.index.embedded.store import EmbeddedIndex, IndexSettings
from qa_service.index.embeddings import Embedder
from qa_service.index.fusion import FusionSettings
from qa_service.ingest.pipeline import build_corpus, corpus_from_documents

log = logging.getLogger(__package__)  # "qa_service.evaluation", as before the split into modules


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
    with milvus_eval(s, args) as mv:
        return _run_eval(args, s, mv)


def _indexes(
    modes: list[Mode], index: EmbeddedIndex, corpus: Corpus, what: str, mv: MilvusEval | None, settings: IndexSettings
) -> dict[str, Any]:
    """The index each mode's backend searches: the embedded one, or a Milvus collection per analyzer."""
    out: dict[str, Any] = {"embedded": index}
    for m in modes:
        if m.engine not in out and mv is not None:
            analyzer = m.engine.split(":", 1)[1]
            model = next((x.embedder for x in modes if x.engine == m.engine and x.embedder is not None), None)
            out[m.engine] = mv.index(corpus, what, analyzer, model, settings)
    return out


@dataclass
class _Run:
    """What every part of one eval run shares; ``out`` collects the figures (the ``--json`` output)."""

    s: Settings
    settings: IndexSettings
    modes: list[Mode]
    embedder: Embedder | None
    weights: list[float]
    mv: MilvusEval | None
    out: dict[str, Any]

    def sweep(self, w: float, label: str, base: list[bool], top1: list[bool]) -> None:
        self.out.setdefault("sweep", {}).setdefault(f"{w:g}", {})[label] = _sweep_cell(base, top1)


def _run_eval(args: argparse.Namespace, s: Settings, mv: MilvusEval | None) -> int:
    settings = IndexSettings(bigrams=not args.no_bigrams, segmenter=s.build_tokenizer)
    modes, embedder = eval_modes(args, s)
    if mv is not None:
        weight = s.hybrid_weight if args.hybrid_weight is None else args.hybrid_weight
        modes += milvus_modes(embedder, weight)
    weights = parse_weights(args.weights) if embedder is not None else []
    if args.weights and embedder is None:
        log.warning("--weights sweeps hybrid fusion, which needs an embedding model (--embedding-model): ignored")
    run = _Run(s, settings, modes, embedder, weights, mv, {"tokenizer": settings.to_dict()["tokenizer"]})
    seed_path = Path(args.seed_set) if args.seed_set else DEFAULT_SEED_SET
    seed_reports = _eval_seed(run, seed_path)
    cmrc_results = _eval_cmrc(run, Path(args.cmrc) if args.cmrc else DEFAULT_CMRC)
    out = run.out
    if mv is not None:
        out["milvus"] = {"uri": mv.config.where(), "analyzers": ["jieba+bigrams", "chinese"]}
    if len(modes) > 1:
        out["modes"] = _mode_figures(modes, seed_reports, cmrc_results)
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    print_report(out, modes, seed_reports, seed_path)
    return 0


def _eval_seed(run: _Run, seed_path: Path) -> dict[str, SeedReport]:
    """Every mode on the seed set over the configured corpus (nothing if there is no seed set)."""
    seed_reports: dict[str, SeedReport] = {}
    if not seed_path.is_file():
        log.warning("no seed question set at %s", seed_path)
        return seed_reports
    modes, embedder, out = run.modes, run.embedder, run.out
    corpus = build_corpus(run.s.corpus)
    index = EmbeddedIndex.build(corpus, run.settings)
    _embed(index, embedder, run.s, "seed", out)
    questions = load_questions(seed_path)
    originals = {d.id: d.text for d in corpus.documents}
    indexes = _indexes(modes, index, corpus, "seed", run.mv, run.settings)
    for m in modes:
        seed_reports[m.name] = evaluate_seed_set(m.service(indexes[m.engine]), questions, originals)
    rep = seed_reports["bm25"]
    out["seed"] = {"questions": rep.n, **dict(rep.rows())}
    out["seed_failures"] = rep.failures
    if CHAT_FORMS.is_file():
        forms = load_forms(CHAT_FORMS)
        bm25 = next(m for m in modes if m.name == "bm25")
        chat = evaluate_seed_set(bm25.service(indexes[bm25.engine]), chat_wrapped(questions, forms), originals)
        out["seed_chat"] = {"forms": len(forms), **{k: v for k, v in chat.rows() if k in CHAT_ROWS}}
    for w in run.weights:
        svc = Mode("", embedder, FusionSettings(weight=w)).service(index)
        run.sweep(w, "seed Hit@1", rep.top1, evaluate_seed_set(svc, questions, originals).top1)
    return seed_reports


def _eval_cmrc(run: _Run, cmrc_path: Path) -> dict[str, RetrievalResult]:
    """Every mode on the CMRC2018 paragraphs and questions (nothing if the file is missing)."""
    cmrc_results: dict[str, RetrievalResult] = {}
    if not cmrc_path.is_file():
        log.warning("no CMRC2018 file at %s", cmrc_path)
        return cmrc_results
    modes, embedder, out = run.modes, run.embedder, run.out
    docs, qs = cmrc_documents(cmrc_path)
    t0 = time.perf_counter()
    cmrc_corpus = corpus_from_documents(docs)
    index = EmbeddedIndex.build(cmrc_corpus, run.settings)
    cmrc_results["bm25"] = retrieve_cmrc(modes[0].service(index), qs)
    res: dict[str, Any] = cmrc_results["bm25"].metrics()
    res["seconds"] = round(time.perf_counter() - t0, 1)
    out["cmrc2018_trial"] = {"paragraphs": len(docs), **{k: round(v, 4) for k, v in res.items()}}
    out["cmrc2018_trial_lists"] = list_figures(modes[0].service(index), qs)
    out["cmrc2018_trial_two_part"] = slot_figures(modes[0].service(index), qs)
    _embed(index, embedder, run.s, "cmrc2018_trial", out)
    indexes = _indexes(modes, index, cmrc_corpus, "cmrc", run.mv, run.settings)
    for m in modes[1:]:
        cmrc_results[m.name] = retrieve_cmrc(m.service(indexes[m.engine]), qs)
    for w in run.weights:
        top1 = retrieve_cmrc(Mode("", embedder, FusionSettings(weight=w)).service(index), qs).top1
        run.sweep(w, "CMRC R@1", cmrc_results["bm25"].top1, top1)
    return cmrc_results


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
