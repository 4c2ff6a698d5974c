"""Synthetic Chinese news corpus at any size, for benchmarks (not tests).

Sentences of the seed bulletins (seeds/) and of the CMRC2018 trial paragraphs
are recombined into passage-sized records.  To keep the vocabulary growing as
a real archive's does (new names, numbers and word pairs keep turning up),
every sentence is a template: its nouns, names, places, organisations and
numbers are slots, and about a quarter of the slots are refilled with another
word of the same part of speech drawn from the pool (so by frequency).  New
neighbours make new character bigrams; refilled numbers make new number tokens.

One JSONL record per passage (``id``, ``title``, ``text``, ``published``,
``publisher``), 150-400 characters like the chunks of a CMRC paragraph, so one
record is one passage for the service (``python -m qa_service index FILE``).

    python benchmarks/corpus.py --size 100k --out /tmp/news-100k.jsonl
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

CMRC = ROOT.parent / "shared" / "eval" / "cmrc2018_trial.json"
SEEDS = ROOT / "seeds"
GENERATOR_VERSION = 1

SLOT_TAGS = {"n", "nr", "ns", "nt", "nz", "m", "vn", "nrt", "t"}
REFILL = 0.25
_SENT = re.compile(r"[^。！？；!?]+[。！？；!?]*")
PUBLISHERS = [
    "上街区融媒体中心",
    "肥城市融媒体中心",
    "区委办公室",
    "市政府新闻办",
    "区人社局",
    "区卫健委",
    "县委宣传部",
    "市文明办",
    "区城管局",
    "街道党工委",
]


def parse_size(s: str) -> int:
    s = s.strip().lower()
    mult = {"k": 1_000, "m": 1_000_000}.get(s[-1], 1)
    return int(float(s[:-1] if s[-1] in "km" else s) * mult)


def size_label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def source_sentences() -> tuple[list[str], list[str], list[int]]:
    """Sentences, titles and CMRC passage lengths of the source texts."""
    from qa_service.ingest.pipeline import build_corpus, corpus_from_documents

    texts: list[str] = []
    titles: list[str] = []
    lengths: list[int] = []
    if CMRC.is_file():
        from qa_service.evaluation import cmrc_documents

        docs, _ = cmrc_documents(CMRC)
        corpus = corpus_from_documents(docs)
        texts += [c.text for c in corpus.chunks]
        titles += sorted({d.title for d in docs if d.title})
        lengths = [len(c.text) for c in corpus.chunks]
    seeds = build_corpus([SEEDS])
    texts += [c.text for c in seeds.chunks]
    titles += sorted({a.title for a in seeds.articles if a.title})
    sentences = []
    for t in texts:
        for m in _SENT.finditer(re.sub(r"\s+", "", t)):
            s = m.group(0)
            if 8 <= len(s) <= 200:
                sentences.append(s)
    sentences = list(dict.fromkeys(sentences))
    return sentences, titles, lengths or [312]


def build_templates(sentences: list[str]) -> tuple[list[list[tuple[str, str | None]]], dict[str, list[str]]]:
    """Each sentence as pieces (text, slot tag or None); the words seen under each slot tag."""
    import jieba.posseg as pseg

    templates = []
    pool: dict[str, list[str]] = {}
    for s in sentences:
        pieces: list[tuple[str, str | None]] = []
        for w, flag in pseg.cut(s):
            tag = flag if flag in SLOT_TAGS and len(w) >= 2 else None
            if tag:
                pool.setdefault(tag, []).append(w)
            if tag is None and pieces and pieces[-1][1] is None:
                pieces[-1] = (pieces[-1][0] + w, None)
            else:
                pieces.append((w, tag))
        templates.append(pieces)
    return templates, pool


_STATE: dict = {}


def _init(state: dict) -> None:
    _STATE.update(state)


def _fresh_number(w: str, rng: random.Random) -> str:
    return re.sub(r"\d", lambda _: str(rng.randrange(10)), w)


def _records(args: tuple[int, int, int]) -> str:
    start, stop, seed = args
    st = _STATE
    templates, pool, titles, lengths = st["templates"], st["pool"], st["titles"], st["lengths"]
    place_tags = [t for t in ("ns", "nt") if t in pool] or ["n"]
    rng = random.Random(seed * 1_000_003 + start)
    out = []
    for i in range(start, stop):
        target = max(150, min(400, rng.choice(lengths)))
        parts: list[str] = []
        n = 0
        while n < target:
            tpl = templates[rng.randrange(len(templates))]
            for text, tag in tpl:
                if tag is not None and rng.random() < REFILL:
                    words = pool[tag]
                    text = words[rng.randrange(len(words))]
                    if tag == "m" and rng.random() < 0.5:
                        text = _fresh_number(text, rng)
                parts.append(text)
                n += len(text)
        text = "".join(parts)
        if len(text) > 400:
            cut = max(text.rfind("。", 0, 400), text.rfind("，", 0, 400))
            text = text[: cut + 1] if cut >= 150 else text[:400]
        title = titles[rng.randrange(len(titles))]
        if rng.random() < 0.5:  # 上街区 + 召开政法队伍教育整顿会议
            words = pool[place_tags[rng.randrange(len(place_tags))]]
            title = words[rng.randrange(len(words))] + title
        day = 16_071 + (i * 7 + rng.randrange(7)) % 3650  # 2014-01-01 + ~10 years
        y, m, d = time.gmtime(day * 86_400)[:3]
        rec = {
            "id": f"n{i:07d}",
            "title": title,
            "text": text,
            "published": f"{y:04d}-{m:02d}-{d:02d}",
            "publisher": PUBLISHERS[rng.randrange(len(PUBLISHERS))],
        }
        out.append(json.dumps(rec, ensure_ascii=False))
    return "\n".join(out) + "\n"


def generate(n: int, out: Path, seed: int = 6, workers: int = 2, quiet: bool = False) -> Path:
    sentences, titles, lengths = source_sentences()
    templates, pool = build_templates(sentences)
    state = {"templates": templates, "pool": pool, "titles": titles, "lengths": lengths}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    step = 5_000
    jobs = [(a, min(a + step, n), seed) for a in range(0, n, step)]
    t0 = time.perf_counter()
    with open(tmp, "w", encoding="utf-8") as f:
        if workers > 1 and len(jobs) > 1:
            ctx = mp.get_context("fork")
            with ctx.Pool(workers, initializer=_init, initargs=(state,)) as pool_:
                for k, block in enumerate(pool_.imap(_records, jobs), 1):
                    f.write(block)
                    if not quiet:
                        print(f"\rcorpus {out.name}: {min(k * step, n):,}/{n:,}", end="", file=sys.stderr)
        else:
            _init(state)
            for block in map(_records, jobs):
                f.write(block)
    os.replace(tmp, out)
    if not quiet:
        print(f"\rcorpus {out.name}: {n:,} records in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="10k", help="records: 10k, 100k, 1m, ...")
    p.add_argument("--out", help="output JSONL (default benchmarks/.data/news-SIZE.jsonl)")
    p.add_argument("--seed", type=int, default=6)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    n = parse_size(a.size)
    out = Path(a.out) if a.out else HERE / ".data" / f"news-{size_label(n)}.jsonl"
    generate(n, out, a.seed, a.workers)


if __name__ == "__main__":
    main()
