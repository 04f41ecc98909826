"""The ``srcal`` command line.

Start-up imports only ``click``: every command imports what it needs when it runs, so
``srcal --help`` and light commands never pay for torch or transformers.

Errors a user can meet (a bad preset or config, bad data, a missing pretrained part, a model
or adapter that cannot load, ...; see ``EXPECTED_ERRORS``) end every command the same way:
one line ``srcal: error: <message>`` on stderr and exit status 1. Anything else is a bug and
keeps its traceback; ``SRCAL_TRACEBACK=1`` shows the traceback of expected errors too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, NoReturn

import click

EXPECTED_ERRORS = frozenset(
    {
        # ConfigError, RunDirError, RecordError, DataPathError, TeacherFileError, LabelError,
        # ResponsesFileError are ValueErrors, and so are the checks of config values and inputs.
        "builtins.ValueError",
        "builtins.FileNotFoundError",
        "benchmarks.registry.UnknownNameError",
        "benchmarks.loading.BenchmarkLoadError",
        "benchmarks.judges.JudgeNotConfiguredError",
        "calibrate.zoo.parts.PartsMissingError",
        "calibrate.candidates.ServedCandidatesError",
        "calibrate.models.ModelLoadError",
        "harness.evaluate.EvalError",
        "harness.lmms_engine.LmmsEvalError",
    }
)
"""Exception classes (``module.QualName``, subclasses included) that are the user's to fix.
Named, not imported, so that start-up stays light; a test checks that each one exists."""


def is_expected_error(exc: BaseException) -> bool:
    """Whether ``exc`` is an error a user can meet and fix (see ``EXPECTED_ERRORS``)."""
    return any(f"{cls.__module__}.{cls.__qualname__}" in EXPECTED_ERRORS for cls in type(exc).__mro__)


class SrcalError(click.ClickException):
    """An expected failure: printed as one line ``srcal: error: <message>``, exit status 1."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        lines = [line.strip() for line in message.splitlines() if line.strip()]
        super().__init__("; ".join(lines) or "failed")

    def show(self, file: Any = None) -> None:
        click.echo(f"srcal: error: {self.format_message()}", err=True, file=file)


def _fail(message: str) -> NoReturn:
    raise SrcalError(message)


class _Srcal(click.Group):
    """The top-level group: expected errors of any command become one line (:class:`SrcalError`)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if isinstance(exc, click.ClickException) or not is_expected_error(exc):
                raise
            if os.environ.get("SRCAL_TRACEBACK", "").strip() not in ("", "0"):
                raise
            raise SrcalError(str(exc) or type(exc).__name__) from exc


@click.group(cls=_Srcal, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="srcal")
def main() -> None:
    """srcal: Self-Rationale Calibration for vision-language models, with an evaluation harness."""


# ----------------------------------------------------------------------------- data


@main.group()
def data() -> None:
    """Build and validate the built-in offline datasets."""


@data.command("build")
@click.option(
    "--preset", default="default", show_default=True, help="Data preset (benchmarks/presets/*.yaml)."
)
@click.option(
    "--config", "config_file", type=click.Path(dir_okay=False), help="YAML file overriding the preset."
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output dataset directory.")
@click.option("--force", is_flag=True, help="Rebuild even if OUT holds a dataset built with another config.")
@click.option(
    "--source",
    "sources",
    multiple=True,
    help="Where a training source or benchmark is read (paper-public): NAME=DIR_OR_HUB_ID (repeatable).",
)
def data_build(preset: str, config_file: str | None, out: str, force: bool, sources: tuple[str, ...]) -> None:
    """Build base/rft/calib/test splits, images, a manifest and a datasets copy."""
    import dataclasses

    from benchmarks.build import build_dataset, load_data_config
    from benchmarks.configuration import ConfigError

    config = load_data_config(preset, config_file)
    given = dict(config.sources)
    for pair in sources:
        name, sep, where = pair.partition("=")
        if not sep or not name or not where:
            raise ConfigError(f"--source {pair!r}: expected NAME=DIR_OR_HUB_ID")
        given[name] = where
    config = dataclasses.replace(config, sources=given)  # an unknown NAME: refused with a did-you-mean
    manifest = build_dataset(config, out, force=force, progress=click.echo)
    for split, info in manifest["splits"].items():
        share = " ".join(f"{c}={v:.3f}" for c, v in info["category_share"].items())
        click.echo(f"{split:5s} {info['count']:6d} items  {info['images']:6d} images  {share}")
    for name, info in manifest.get("training_sources", {}).items():
        dropped = sum(info["dropped"].values())
        click.echo(
            f"  {name:15s} rft {info['items']['rft']:6d}  calib {info['items']['calib']:6d}  dropped {dropped}"
        )
    if manifest["suites"]:
        click.echo("majority-answer baseline on test:")
    for name, info in manifest["suites"].items():
        click.echo(f"  {name:10s} {info['test_majority_baseline']:.3f} ({info['test_majority_answer']!r})")


@data.command("validate")
@click.argument("target", type=click.Path())
@click.option("--no-images", is_flag=True, help="Skip opening and hashing the images.")
def data_validate(target: str, no_images: bool) -> None:
    """Check a dataset directory or JSONL file; exit 1 if any problem is found."""
    from benchmarks.validate import validate

    problems = validate(target, check_images=not no_images)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        _fail(f"{len(problems)} problem(s) in {target}")
    click.echo(f"{target}: no problems found")


@data.command("export-lmms")
@click.option(
    "--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False), help="Built dataset."
)
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="Directory for the task YAML files."
)
@click.option("--suites", default=None, help="Comma-separated suites (default: all in the dataset).")
@click.option("--limit", type=int, default=None, help="First N test items per suite.")
@click.option(
    "--prompt-style", default="plain", show_default=True, type=click.Choice(["bare", "plain", "rationale"])
)
def data_export_lmms(
    data_dir: str, out: str, suites: str | None, limit: int | None, prompt_style: str
) -> None:
    """Export built-in test suites as lmms-eval tasks (use with --include_path OUT)."""
    from benchmarks.lmms_tasks import export_lmms_tasks

    names = export_lmms_tasks(
        data_dir, out, suites.split(",") if suites else None, limit=limit, prompt_style=prompt_style
    )
    click.echo(f"wrote {len(names)} task(s) to {out}: {', '.join(names)}")


# ---------------------------------------------------------------------------- score


def _reader_options(command: Callable) -> Callable:
    """--reader / --reader-model, shared by `srcal score` and `srcal eval`."""
    command = click.option(
        "--reader-model",
        default=None,
        help="Backbone of the choice/lm reader (default smollm2-135m-instruct).",
    )(command)
    return click.option(
        "--reader",
        default="choice",
        show_default=True,
        help="Implied-answer reader: choice, conclusion or lm.",
    )(command)


@main.command()
@click.option("--benchmark", "benchmark", required=True, help="Benchmark name (see `srcal benchmarks`).")
@click.argument("responses", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), help="Write the scored lines here (JSONL).")
@click.option("--consistency", is_flag=True, help="Add implied_answer / consistent per line and the metrics.")
@_reader_options
@click.option(
    "--docs", "docs_source", default=None, help="Documents for an lmms-eval samples log (dataset dir)."
)
def score(
    benchmark: str,
    responses: str,
    out: str | None,
    consistency: bool,
    reader: str,
    reader_model: str | None,
    docs_source: str | None,
) -> None:
    """Re-score saved responses (srcal JSONL or an lmms-eval samples log) offline."""
    from benchmarks.configuration import from_mapping
    from benchmarks.fileio import atomic_write_text
    from harness.implied_answer import READERS, ReaderConfig
    from harness.rescore import ResponsesFileError, rescore

    reader_cfg = from_mapping(
        ReaderConfig, {"name": reader, **({"backbone": reader_model} if reader_model else {})}, "--reader"
    )
    READERS.get(reader_cfg.name)
    try:
        result = rescore(benchmark, responses, consistency, reader_cfg, docs_source)
    except ResponsesFileError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        _fail(f"{len(exc.problems)} malformed line(s); nothing written")
    if out:
        atomic_write_text(
            out, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in result.rows)
        )
    click.echo(json.dumps({"benchmark": benchmark, **result.summary}, indent=2, default=str))


# --------------------------------------------------------------------------- readers


@main.group()
def readers() -> None:
    """Implied-answer readers: measure how well they read (validity on known answers)."""


@readers.command("validate")
@_reader_options
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False),
    help="Built dataset (default: $SRCAL_HOME/data/default).",
)
@click.option(
    "--split", default="test", show_default=True, help="Split the generated cases come from (dev: calib)."
)
@click.option(
    "--suites", default=None, help="Comma-separated built-in suites (default: all; 'none' for none)."
)
@click.option(
    "--benchmarks", default=None, help="Comma-separated public benchmarks (default: all; 'none' for none)."
)
@click.option("--per-suite", type=int, default=40, show_default=True, help="Items per built-in suite.")
@click.option(
    "--cases",
    "cases_dir",
    type=click.Path(exists=True, file_okay=False),
    help="Directory of hand-written public cases (default: harness/implied_answer/cases; dev set: harness/implied_answer/cases/dev).",
)
@click.option("--min-confidence", type=float, default=None, help="`choice` reader: least winner probability.")
@click.option(
    "--choice-scoring",
    type=click.Choice(["sum", "mean", "pmi"]),
    default=None,
    help="`choice` reader scoring.",
)
@click.option(
    "--reader-dtype",
    type=click.Choice(["auto", "fp32", "bf16"]),
    default="auto",
    show_default=True,
    help="dtype of the choice/lm reader's backbone (auto: bf16 on a CUDA GPU, else fp32).",
)
@click.option(
    "--out", type=click.Path(file_okay=False), help="Write report.json (every case) and report.md here."
)
def readers_validate(
    reader: str,
    reader_model: str | None,
    data_dir: str | None,
    split: str,
    suites: str | None,
    benchmarks: str | None,
    per_suite: int,
    cases_dir: str | None,
    min_confidence: float | None,
    choice_scoring: str | None,
    reader_dtype: str,
    out: str | None,
) -> None:
    """Agreement, coverage and confusion of a reader on generated and hand-written cases."""
    from pathlib import Path

    from benchmarks.configuration import from_mapping
    from harness.implied_answer import READERS, ReaderConfig, make_reader
    from harness.implied_answer.validity import report_markdown, select_cases, validate, write_report

    settings: dict[str, Any] = {"name": reader, **({"backbone": reader_model} if reader_model else {})}
    if min_confidence is not None:
        settings["min_confidence"] = min_confidence
    if choice_scoring is not None:
        settings["choice_scoring"] = choice_scoring
    settings["dtype"] = reader_dtype
    reader_cfg = from_mapping(ReaderConfig, settings, "--reader")
    READERS.get(reader)
    cases = select_cases(suites, benchmarks, data_dir, split, per_suite, cases_dir)
    report = validate(make_reader(reader_cfg), cases)
    if out:
        write_report(report, Path(out))
    click.echo(f"reader: {json.dumps(report['reader'], default=str)}")
    click.echo(report_markdown(report))


# ----------------------------------------------------------------------------- eval


def _say() -> Callable[[str], None]:
    import time

    started = time.perf_counter()

    def say(message: str) -> None:
        click.echo(f"[{time.perf_counter() - started:7.1f}s] {message}")

    return say


@main.command("eval")
@click.option("--model", required=True, help="Zoo name, hub id or model directory.")
@click.option("--adapter", type=click.Path(exists=True, file_okay=False), help="LoRA adapter directory.")
@click.option("--benchmarks", default=None, help="Comma-separated benchmarks (default: all built-in suites).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output directory.")
@click.option("--limit", type=int, default=None, help="First N documents per benchmark.")
@click.option(
    "--batch-size",
    default=None,
    help="Prompts per batch (results do not depend on it), or auto: as many as the device's free memory holds.",
)
@click.option(
    "--data", "data_dir", type=click.Path(file_okay=False), help="Built dataset for built-in suites."
)
@click.option(
    "--source", "sources", multiple=True, help="Public benchmark data: NAME=DIR_OR_HUB_ID (repeatable)."
)
@click.option(
    "--engine",
    type=click.Choice(["native", "lmms-eval", "endpoint"]),
    default="native",
    show_default=True,
    help="native: the model here; lmms-eval; endpoint: a served policy (--model is its served name).",
)
@click.option(
    "--endpoint",
    "endpoint_url",
    default=None,
    metavar="URL",
    help="engine endpoint: the OpenAI-compatible base URL (e.g. http://localhost:8000/v1); the key is read "
    "from $OPENAI_API_KEY (--set endpoint.api_key_env=NAME for another variable).",
)
@_reader_options
@click.option(
    "--set", "overrides", multiple=True, help="Override an EvalConfig field: --set max_new_tokens=64."
)
def eval_command(
    model: str,
    adapter: str | None,
    benchmarks: str | None,
    out: str,
    limit: int | None,
    batch_size: str | None,
    data_dir: str | None,
    sources: tuple,
    engine: str,
    endpoint_url: str | None,
    reader: str | None,
    reader_model: str | None,
    overrides: tuple,
) -> None:
    """Evaluate a model (+ adapter) on benchmarks: samples.jsonl and metrics.json per benchmark."""
    from harness.evaluate import EvalFailures, eval_config_from, evaluate, results_table

    if endpoint_url:
        overrides = (f"endpoint.base_url={endpoint_url}", *overrides)
    cfg = eval_config_from(
        overrides,
        benchmarks=benchmarks.split(",") if benchmarks else None,
        limit=limit,
        batch_size=int(batch_size) if batch_size and batch_size.isdigit() else batch_size,
        data_dir=data_dir,
        sources=sources,
        engine=engine,
        reader=reader,
        reader_model=reader_model,
    )
    try:
        results = evaluate(model, adapter, cfg, out, progress=_say())
    except EvalFailures as exc:
        _fail_evaluations(exc.failures, f"benchmark(s) failed; the others are in {out}")
    click.echo(results_table(results))


def _fail_evaluations(failures: dict[str, str], what: str) -> NoReturn:
    """Print each failed evaluation, then exit 1 saying how many failed."""
    for name, message in failures.items():
        click.echo(f"{name}: {message}", err=True)
    _fail(f"{len(failures)} {what}")


# ------------------------------------------------------------------------------ run


REUSE_FROM = click.option(
    "--reuse-from",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="An earlier run directory: its completed stages with the same config hash and inputs are copied, not "
    "recomputed (e.g. the dev run on which later stages' settings were chosen); srcal run also reuses its "
    "responses for a checkpoint with the same weights (content hash).",
)


@main.command("run")
@click.option(
    "--preset", default=None, help="Preset (harness/presets): smoke, tiny, report, llava15-7b, llava-next-8b."
)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="YAML overriding the preset.")
@click.option("--run-dir", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option(
    "--benchmarks", default=None, help="Comma-separated benchmarks (default: the preset's eval list)."
)
@click.option("--baselines", default=None, help="Comma-separated baselines (default: the preset's list).")
@click.option(
    "--arms",
    default=None,
    help="One piece of a run: only these arms (the method, e.g. src, and baselines; comma-separated). "
    "base and sft-only (iter_0) are always evaluated.",
)
@click.option(
    "--shared-record",
    type=click.Path(dir_okay=False),
    default=None,
    help="JSON record of the shared stages (data, RFT, R-Scorer) of a run in pieces: the first piece writes "
    "their content hashes, later pieces stop if theirs differ.",
)
@click.option("--limit", type=int, default=None, help="First N documents per benchmark.")
@click.option("--resume", is_flag=True, help="Continue the run already in --run-dir.")
@click.option("--set", "overrides", multiple=True, help="Override a field: --set eval.limit=20 (repeatable).")
@REUSE_FROM
def run_command(
    preset: str | None,
    config_file: str | None,
    run_dir: str,
    benchmarks: str | None,
    baselines: str | None,
    arms: str | None,
    shared_record: str | None,
    limit: int | None,
    resume: bool,
    overrides: tuple,
    reuse_from: str | None,
) -> None:
    """Data, calibration and evaluation of every checkpoint (base, iter_0..K, baselines), with a results store."""
    from pathlib import Path

    from harness.evaluate import EvalFailures, results_table
    from harness.run import Run
    from harness.run_spec import resolve_run_spec

    if not preset and not config_file:
        _fail("give --preset NAME and/or --config FILE")
    if (Path(run_dir) / "run.yaml").is_file() and not resume:
        _fail(f"{run_dir} already holds a run: pass --resume to continue it")
    spec = resolve_run_spec(
        preset,
        config_file,
        list(overrides),
        benchmarks.split(",") if benchmarks else None,
        [b for b in baselines.split(",") if b] if baselines is not None else None,
        limit,
    )
    try:
        chosen = [a.strip() for a in arms.split(",") if a.strip()] if arms is not None else None
        runner = Run(
            spec, run_dir, progress=_say(), reuse_from=reuse_from, arms=chosen, shared_record=shared_record
        )
        result = runner.run()
    except EvalFailures as exc:
        _fail_evaluations(exc.failures, f"evaluation(s) failed; the rest is in {run_dir}")
    for name, results in result["results"].items():
        click.echo(f"\n== {name}")
        click.echo(results_table(results))


# ---------------------------------------------------------------------- leaderboard


@main.command("leaderboard")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option(
    "--format",
    "formats",
    default="all",
    show_default=True,
    help="md, csv, tex, html or all (comma-separated).",
)
@click.option("--with-reference", is_flag=True, help="Add published reference rows (source: paper).")
@click.option("--out", type=click.Path(file_okay=False), help="Output directory (default: the first run).")
@click.option("--bootstrap", default=1000, show_default=True, help="Bootstrap resamples for CIs and deltas.")
@click.option(
    "--compare",
    "compare",
    multiple=True,
    metavar="A:B",
    help="Paired comparison of checkpoint A vs B, pooled (repeatable; default: the last iteration vs "
    "iter_0 and vs each baseline).",
)
def leaderboard(
    run_dirs: tuple, formats: str, with_reference: bool, out: str | None, bootstrap: int, compare: tuple
) -> None:
    """Tables (md/csv/tex/html) and plots comparing the checkpoints of evaluated runs."""
    from leaderboards.build import FORMATS, build_leaderboard

    chosen = FORMATS if formats == "all" else tuple(f.strip() for f in formats.split(","))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown:
        _fail(f"unknown format {unknown[0]!r}; expected {', '.join(FORMATS)} or all")
    pairs = [tuple(c.split(":", 1)) for c in compare]
    if any(len(p) != 2 or not all(p) for p in pairs):
        _fail(f"--compare takes CHECKPOINT:CHECKPOINT (e.g. iter_3:iter_0), got {', '.join(compare)}")
    from harness.store import ensure_store

    for run_dir in run_dirs:
        ensure_store(run_dir)  # the harness writes the store; leaderboards only read it
    result = build_leaderboard(
        list(run_dirs), out, chosen, with_reference, bootstrap, comparisons=pairs or None
    )
    click.echo(result["markdown"])
    for path in result["written"].values():
        click.echo(f"wrote {path}", err=True)


# ------------------------------------------------------------------------ calibrate


@main.command()
@click.option(
    "--preset", default=None, help="Preset (harness/presets): smoke, tiny, report, llava15-7b, llava-next-8b."
)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="YAML overriding the preset.")
@click.option("--run-dir", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option(
    "--stage",
    default=None,
    help="Stop after this stage (data, rft, scorer, candidates, verdicts, curate, preference).",
)
@click.option(
    "--method", default=None, help="src, sft-only, outcome-dpo or csr-style (overrides the preset)."
)
@click.option(
    "--set", "overrides", multiple=True, help="Override a field: --set scorer.mode=pointwise (repeatable)."
)
@REUSE_FROM
def calibrate(
    preset: str | None,
    config_file: str | None,
    run_dir: str,
    stage: str | None,
    method: str | None,
    overrides: tuple,
    reuse_from: str | None,
) -> None:
    """Run Self-Rationale Calibration: RFT, then K iterations of candidates -> R-Scorer -> curation -> DPO."""
    from calibrate.loop import Calibration
    from harness.run_spec import resolve_run_spec

    say = _say()
    if not preset and not config_file:
        _fail("give --preset NAME and/or --config FILE")
    sets = ([f"method={method}"] if method else []) + list(overrides)
    spec = resolve_run_spec(preset, config_file, sets)
    calibration = Calibration(spec.calibration, run_dir, spec.data, progress=say, reuse_from=reuse_from)
    summary = calibration.run(stop_after=stage)
    click.echo(json.dumps(summary, indent=2, default=str))


@main.group()
def scorer() -> None:
    """The R-Scorer: train it on pairwise labels."""


@scorer.command("train")
@click.option(
    "--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False), help="Built dataset."
)
@click.option(
    "--candidates",
    "candidates_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="CandidateSet JSONL (e.g. a run's iter_k/candidates.jsonl or scorer/train_candidates.jsonl).",
)
@click.option(
    "--labels",
    type=click.Path(exists=True, dir_okay=False),
    help="External judge labels {item_id,a,b,verdict}.",
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Adapter output directory.")
@click.option("--preset", default="smoke", show_default=True, help="Preset whose `scorer` section is used.")
@click.option("--set", "overrides", multiple=True, help="Override a field: --set scorer.train_steps=200.")
def scorer_train(
    data_dir: str, candidates_file: str, labels: str | None, out: str, preset: str, overrides: tuple
) -> None:
    """Train the R-Scorer (LoRA SFT) on fact labels or an external model's labels; report agreement."""
    from pathlib import Path

    from benchmarks.records import SPLITS, read_items
    from calibrate.artifacts import ItemLog
    from calibrate.records import CandidateSet
    from calibrate.scorer.labels import training_examples
    from calibrate.scorer.train import train_scorer
    from harness.run_spec import resolve_run_spec

    run_cfg = resolve_run_spec(preset, None, overrides).calibration
    items = [i for split in SPLITS for i in read_items(Path(data_dir) / f"{split}.jsonl")]
    sets = [CandidateSet.from_dict(r) for r in ItemLog(candidates_file).records.values()]
    examples = training_examples(items, sets, run_cfg.scorer, labels)
    summary = train_scorer(run_cfg.scorer, examples, Path(out), run_cfg.seed)
    click.echo(json.dumps(summary, indent=2, default=str))


# ------------------------------------------------------------------------------ zoo


@main.group()
def zoo() -> None:
    """Build the models srcal ships: srcal-tiny (real parts) and srcal-micro (tests)."""


@zoo.command("build")
@click.argument("name", type=click.Choice(["srcal-tiny", "srcal-micro"]))
@click.option(
    "--out", type=click.Path(file_okay=False), help="Output directory (default: $SRCAL_HOME/zoo/NAME)."
)
@click.option(
    "--data", "data_dir", type=click.Path(file_okay=False), help="Built dataset (default: built if missing)."
)
@click.option("--seed", default=0, show_default=True, help="Seed of the build.")
@click.option("--force", is_flag=True, help="Rebuild even if an up-to-date build exists.")
def zoo_build(name: str, out: str | None, data_dir: str | None, seed: int, force: bool) -> None:
    """Build a zoo model (cached: a second build with the same recipe is a no-op)."""
    from benchmarks.fileio import srcal_home

    say = _say()
    if name == "srcal-micro":
        from calibrate.zoo.srcal_micro import build_srcal_micro

        path = build_srcal_micro(out or srcal_home() / "zoo" / name, seed=seed)
    else:
        from calibrate.zoo.srcal_tiny import RECIPE_FILE, TinyRecipe, accuracy_table, build_srcal_tiny

        # a missing SmolLM2 part ends as one line saying the pip command that installs it
        path = build_srcal_tiny(out, data_dir, TinyRecipe(seed=seed), progress=say, force=force)
        click.echo(accuracy_table(json.loads((path / RECIPE_FILE).read_text())["evaluation"]))
    say(f"{name}: {path}")


# ----------------------------------------------------------------------- benchmarks


@main.command("benchmarks")
def list_benchmarks() -> None:
    """List the registered benchmarks (built-in suites and public benchmarks)."""
    from benchmarks.registry import BENCHMARKS, BUILTIN_SUITES

    for name in BENCHMARKS.names():
        kind = "built-in" if name in BUILTIN_SUITES else "public"
        click.echo(f"{name:20s} {kind}")


from harness.teacher_cli import teacher  # noqa: E402 (click only: start-up stays light)

main.add_command(teacher)

if __name__ == "__main__":  # pragma: no cover
    main()
