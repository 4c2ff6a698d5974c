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

Modules: :mod:`.seed` (the seed question set), :mod:`.cmrc` (CMRC2018 and the
McNemar test), :mod:`.modes` (the set-ups compared), :mod:`.milvus` (throw-away
Milvus collections), :mod:`.run` (``run_eval``) and :mod:`.report` (the printout).
"""

from __future__ import annotations

from qa_service.evaluation.cmrc import (
    DEFAULT_CMRC,
    RetrievalResult,
    cmrc_documents,
    evaluate_retrieval,
    mcnemar,
    retrieve_cmrc,
)
from qa_service.evaluation.milvus import MilvusEval, milvus_eval
from qa_service.evaluation.modes import Mode, eval_modes, milvus_modes, parse_weights
from qa_service.evaluation.report import print_report
from qa_service.evaluation.run import run_eval
from qa_service.evaluation.seed import DEFAULT_SEED_SET, K, SeedReport, evaluate_seed_set, load_questions

__all__ = [
    "DEFAULT_CMRC",
    "DEFAULT_SEED_SET",
    "K",
    "MilvusEval",
    "Mode",
    "RetrievalResult",
    "SeedReport",
    "cmrc_documents",
    "eval_modes",
    "evaluate_retrieval",
    "evaluate_seed_set",
    "load_questions",
    "mcnemar",
    "milvus_eval",
    "milvus_modes",
    "parse_weights",
    "print_report",
    "retrieve_cmrc",
    "run_eval",
]
