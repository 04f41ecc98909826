"""The lmms-eval engine (``srcal eval --engine lmms-eval``).

Delegates generation of one benchmark to lmms-eval's CLI with srcal's registered model
class (``--model srcal``), then ingests lmms-eval's per-sample log so that scoring,
consistency and metrics are srcal's, exactly as for the native engine. Built-in suites
are exported as lmms-eval tasks first (:mod:`benchmarks.lmms_tasks`); public benchmarks
use their lmms-eval task (``spec.lmms_task``, which needs the hub or lmms-eval's cache).

lmms-eval 0.7.3 exits 0 even when it failed: success is read from its output files (a
results file and a samples log covering every document), never from the exit code.
lmms-eval writes its files only when a task finishes, so this engine resumes per
benchmark, not per sample.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.registry import BUILTIN_SUITES
from benchmarks.spec import BenchmarkSpec, EvalDoc


class LmmsEvalError(RuntimeError):
    """lmms-eval did not produce a complete samples log (the message quotes its output)."""


def samples_file(out: Path, task: str) -> Path | None:
    found = sorted(glob.glob(str(out / "*" / f"*_samples_{task}.jsonl")))
    return Path(found[-1]) if found else None


class LmmsResponder:
    """Responses of one checkpoint from lmms-eval, one CLI run per benchmark."""

    def __init__(
        self, model: str, adapter: str | None, cfg: Any, workdir: Path, progress: Any = None
    ) -> None:
        from calibrate.zoo.names import resolve_model

        self.model = resolve_model(model)
        self.adapter = adapter
        self.cfg = cfg
        self.workdir = Path(workdir)
        self.say = progress or (lambda _m: None)
        self._responses: dict[str, list[str]] = {}

    def __call__(
        self,
        spec: BenchmarkSpec,
        docs: list[EvalDoc],
        prompts: list[str],
        indices: list[int],
        base: Path | None = None,
    ) -> list[str]:
        if spec.name not in self._responses:
            self._responses[spec.name] = self._run(spec, docs, prompts)
        responses = self._responses[spec.name]
        return [responses[i] for i in indices]

    def _task(self, spec: BenchmarkSpec) -> tuple[str, Path | None]:
        if spec.name not in BUILTIN_SUITES:
            if not spec.lmms_task:
                raise LmmsEvalError(f"{spec.name}: no lmms-eval task is known for this benchmark")
            return spec.lmms_task, None
        from benchmarks.lmms_tasks import export_lmms_tasks

        tasks_dir = self.workdir / "tasks"
        [task] = export_lmms_tasks(
            self.cfg.data_dir,
            tasks_dir,
            suites=[spec.name],
            limit=self.cfg.limit,
            prompt_style=self.cfg.prompt_style,
            max_new_tokens=self.cfg.max_new_tokens,
        )
        return task, tasks_dir

    def command(self, task: str, tasks_dir: Path | None, out: Path) -> list[str]:
        args = f"pretrained={self.model},max_new_tokens={self.cfg.max_new_tokens},dtype={self.cfg.dtype}"
        if self.adapter:
            args += f",adapter={self.adapter},merge=true"
        cmd = [sys.executable, "-m", "lmms_eval", "eval", "--model", "srcal", "--model_args", args]
        cmd += [
            "--tasks",
            task,
            "--batch_size",
            str(self.cfg.batch_size),
            "--output_path",
            str(out),
            "--log_samples",
        ]
        if tasks_dir is not None:
            cmd += ["--include_path", str(tasks_dir)]
        elif self.cfg.limit:
            cmd += ["--limit", str(self.cfg.limit)]
        return cmd

    def _run(self, spec: BenchmarkSpec, docs: list[EvalDoc], prompts: list[str]) -> list[str]:
        from harness.rescore import lmms_response

        task, tasks_dir = self._task(spec)
        out = self.workdir / "out" / spec.name
        import shutil

        shutil.rmtree(out, ignore_errors=True)
        cmd = self.command(task, tasks_dir, out)
        self.say(f"{spec.name}: lmms-eval {' '.join(cmd[3:])}")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
        path = samples_file(out, task)
        tail = f"(exit {proc.returncode})\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        if path is None:
            raise LmmsEvalError(f"{spec.name}: lmms-eval wrote no samples log for {task} {tail}")
        responses: dict[int, str] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            responses[int(record["doc_id"])] = lmms_response(record) or ""
            if tasks_dir is not None and str(record.get("input", "")) != prompts[int(record["doc_id"])]:
                raise LmmsEvalError(
                    f"{spec.name}: lmms-eval document {record['doc_id']} has another prompt than srcal's"
                )
        missing = [i for i in range(len(docs)) if i not in responses]
        if missing:
            raise LmmsEvalError(
                f"{spec.name}: lmms-eval answered {len(responses)} of {len(docs)} documents {tail}"
            )
        return [responses[i] for i in range(len(docs))]
