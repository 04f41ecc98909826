"""``srcal teacher``: rationales and judge labels from a served model (OpenAI-compatible endpoint).

    srcal teacher rationales --endpoint http://localhost:8000/v1 --model NAME --data DIR --split rft \\
        [--limit N] [--out FILE]
    srcal teacher labels --endpoint URL --model NAME --data DIR --candidates FILE [--out FILE]

The API key comes from the environment variable ``--api-key-env`` names (default ``OPENAI_API_KEY``)
and is never written anywhere. Answers are cached per request: a rerun, or a run resumed after a kill,
sends only the requests not answered yet. Logic: `calibrate.teacher`; client: `benchmarks.endpoint`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def endpoint_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command that calls a served model takes."""
    options = [
        click.option("--endpoint", "base_url", required=True, help="OpenAI-compatible base URL (…/v1)."),
        click.option("--model", required=True, help="The served model's name."),
        click.option(
            "--api-key-env",
            default="OPENAI_API_KEY",
            show_default=True,
            help="Environment variable holding the API key (unset: no key is sent).",
        ),
        click.option("--concurrency", default=4, show_default=True, help="Requests in flight at once."),
        click.option("--max-retries", default=5, show_default=True, help="Retries of a transient failure."),
        click.option("--timeout", "timeout_s", default=120.0, show_default=True, help="Seconds per reply."),
        click.option("--max-tokens", default=512, show_default=True, help="Tokens per reply."),
        click.option(
            "--extra-body",
            help='JSON merged into every request, e.g. \'{"guided_choice": ["A", "B", "Tie"]}\' (vLLM).',
        ),
        click.option(
            "--cache-dir",
            type=click.Path(file_okay=False),
            help="Request cache (default: $SRCAL_HOME/cache/endpoint).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _client(kw: dict[str, Any]) -> Any:
    from benchmarks.endpoint import EndpointClient, EndpointConfig

    names = ("base_url", "model", "api_key_env", "concurrency", "max_retries", "timeout_s", "max_tokens")
    extra = kw.pop("extra_body")
    try:
        extra_body = json.loads(extra) if extra else None
    except ValueError as exc:
        raise click.BadParameter(f"not JSON ({exc})", param_hint="--extra-body") from exc
    if extra_body is not None and not isinstance(extra_body, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--extra-body")
    cfg = EndpointConfig(
        **{n: kw.pop(n) for n in names}, cache_dir=kw.pop("cache_dir"), extra_body=extra_body
    )
    return EndpointClient(cfg)


def _progress(label: str) -> Callable[[Any], None]:
    last = [0.0]

    def show(state: Any) -> None:
        now = time.monotonic()
        if state.done == state.total or now - last[0] >= 2.0:
            last[0] = now
            click.echo(f"{label}: {state.line()}", err=True)

    return show


def _summary(manifest: dict[str, Any], out: Path) -> None:
    shown = {k: v for k, v in manifest.items() if not k.startswith("dropped_")}
    click.echo(json.dumps(shown, indent=2))
    click.echo(f"wrote {out} and {out.name}.manifest.json", err=True)


@click.group()
def teacher() -> None:
    """Teacher rationales and judge labels from a served model (OpenAI-compatible endpoint)."""


@teacher.command("rationales")
@endpoint_options
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--split", default="rft", show_default=True, help="Split whose items get rationales.")
@click.option("--limit", type=int, help="At most N items, drawn stratified 2:1:1 (seed 0), as RFT draws.")
@click.option("--out", type=click.Path(dir_okay=False), help="Output JSONL (default: DATA/teacher/...).")
@click.option("--no-image", is_flag=True, help="Send text only (a text-only teacher: no image part).")
def rationales(
    data_dir: str, split: str, limit: int | None, out: str | None, no_image: bool, **kw: Any
) -> None:
    """Rationales ending in the gold answer, for rationale fine-tuning (`rft.teacher_rationales`)."""
    from benchmarks.pools import stratified_pool
    from benchmarks.records import read_items
    from calibrate.teacher import teacher_rationales

    client = _client(kw)
    items = read_items(Path(data_dir) / f"{split}.jsonl")
    if limit is not None:
        items = stratified_pool(items, limit, seed=0, salt="rft")
    path = Path(out) if out else Path(data_dir) / "teacher" / f"{split}_rationales.jsonl"
    manifest = teacher_rationales(
        client, items, Path(data_dir), path, with_image=not no_image, progress=_progress("rationales")
    )
    _summary(manifest, path)
    if not manifest["kept"]:
        sys.exit(f"srcal: error: no rationale kept of {manifest['items']} (see {path.name}.manifest.json)")


@teacher.command("labels")
@endpoint_options
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False))
@click.option(
    "--candidates",
    "candidates_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="CandidateSet JSONL (e.g. a run's scorer/train_candidates.jsonl).",
)
@click.option("--max-pairs-per-item", type=int, help="Pairs asked per item (default: every pair).")
@click.option("--out", type=click.Path(dir_okay=False), help="Output JSONL (default: beside --candidates).")
def labels(
    data_dir: str, candidates_file: str, max_pairs_per_item: int | None, out: str | None, **kw: Any
) -> None:
    """Pairwise verdicts (both orders, kept when they agree) for `srcal scorer train --labels`."""
    from benchmarks.records import SPLITS, read_items
    from calibrate.records import CandidateSet, read_records
    from calibrate.teacher import teacher_labels

    client = _client(kw)
    items = [i for split in SPLITS for i in read_items(Path(data_dir) / f"{split}.jsonl")]
    sets = read_records(CandidateSet, candidates_file)
    path = Path(out) if out else Path(candidates_file).with_name("teacher_labels.jsonl")
    manifest = teacher_labels(
        client, items, sets, path, max_pairs_per_item=max_pairs_per_item, progress=_progress("labels")
    )
    _summary(manifest, path)
    if not manifest["kept_pairs"]:
        sys.exit(f"srcal: error: no pair kept of {manifest['pairs']} (see {path.name}.manifest.json)")
