"""`qa_service index` of this checkout beside a baseline checkout: wall time, CPU time and peak memory.

    python benchmarks/index_build.py --baseline ../base [--size 100k] [--rounds 1]

Both build the same generated corpus (benchmarks/corpus.py, JSONL files of 10,000 passages) through
the real CLI, one after the other (baseline first in each round), each with the code of its checkout
and this venv's Python.  Memory is sampled every 0.2 s over the whole process tree (the command and
its worker processes): peak PSS (shared pages split between the processes that map them, so forked
workers are not counted twice) and peak summed RSS.  Prints one JSON object.
"""

from __future__ import annotations

import json

from ab import ab_parser, build_index, sides_of
from run import log


def main() -> None:
    a = ab_parser(__doc__.split("\n\n")[0], rounds=1).parse_args()
    sides = sides_of(a)
    for r in range(a.rounds):
        for name, checkout in sides.checkouts.items():
            res = build_index(checkout, sides.shards, sides.index_dir("index-build", name))
            log(f"round {r + 1} {name}: {res}")
            sides.report.setdefault(name, []).append(res)
    print(json.dumps(sides.report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
