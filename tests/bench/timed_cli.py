"""Run a CLI module with its generation timed apart from start-up (``test_bench_eval.py``).

    python -m tests.bench.timed_cli --out T.json --time MOD:QUALNAME [--minus MOD:QUALNAME]
        [--import MOD] -- MODULE ARGS...

Wraps each ``--time`` / ``--minus`` function (``module:Class.method`` or ``module:function``) in a
timer, imports each ``--import`` module, then runs ``MODULE`` as ``__main__`` with ``ARGS``
(``runpy``, as ``python -m MODULE ARGS`` would). At exit writes ``T.json``: the seconds spent in
each wrapped function and ``generate_s``, the ``--time`` seconds less the ``--minus`` seconds
(work nested in the timed function that is not generation, e.g. loading the model on first use).
Only the wrapped functions change; what the CLI does is untouched.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import runpy
import sys
import time
from pathlib import Path
from typing import Any


def _wrap(target: str, seconds: dict[str, float]) -> None:
    module_name, qualname = target.split(":")
    owner: Any = importlib.import_module(module_name)
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    inner = getattr(owner, name)
    seconds[target] = 0.0

    @functools.wraps(inner)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            seconds[target] += time.perf_counter() - started

    setattr(owner, name, timed)


def main() -> None:
    argv = sys.argv[1:]
    split = argv.index("--")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--time", required=True)
    parser.add_argument("--minus", action="append", default=[])
    parser.add_argument("--import", dest="imports", action="append", default=[])
    args = parser.parse_args(argv[:split])
    module, *rest = argv[split + 1 :]
    for name in args.imports:
        importlib.import_module(name)
    seconds: dict[str, float] = {}
    for target in (args.time, *args.minus):
        _wrap(target, seconds)
    sys.argv = [module, *rest]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        generate_s = seconds[args.time] - sum(seconds[m] for m in args.minus)
        Path(args.out).write_text(json.dumps({"seconds": seconds, "generate_s": generate_s}) + "\n")


if __name__ == "__main__":
    main()
