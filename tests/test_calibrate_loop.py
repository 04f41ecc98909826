"""The SRC driver end to end on srcal-micro: artifacts, skipping, resume after a kill, baselines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks.configuration import RunDirError
from calibrate.loop import Calibration
from harness.run_spec import resolve_run_spec

ITERATIONS = ("iter_0", "iter_1", "iter_2", "iter_3")
TWO_PROCESSES = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
"""Two CPU processes (gloo), as `torchrun`/`accelerate launch --multi_gpu` start them on GPUs.

(`accelerate launch --cpu --num_processes 2` starts a single process: its `--cpu` path is
the simple launcher.)"""


def calibration_of(preset: str, config_file: str | None, overrides: list[str]) -> tuple:
    """The calibration and data parts of a resolved run spec."""
    spec = resolve_run_spec(preset, config_file, overrides)
    return spec.calibration, spec.data


def _two_processes(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        TWO_PROCESSES + args,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def _cli(run_dir: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "harness.cli",
        "calibrate",
        "--preset",
        "smoke",
        "--run-dir",
        str(run_dir),
        *extra,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=900)


PATH_KEYS = ("base_model", "base_model_name_or_path", "data_dir", "path", "adapter")


def _artifacts(run_dir: Path) -> dict[str, bytes]:
    """Every artifact, minus what depends on where the run lives or when it ran.

    Manifests keep their hashes of files (timings dropped); adapter records and
    configs drop the absolute paths of their base (which name the run directory).
    """
    out = {}
    for path in sorted(run_dir.rglob("*")):
        if not path.is_file() or path.name in ("run.yaml", "README.md") or "/." in path.as_posix():
            continue
        rel = path.relative_to(run_dir).as_posix()
        if path.name.endswith(".manifest.json"):
            manifest = json.loads(path.read_text())
            outputs = {k: v for k, v in manifest["outputs"].items() if k not in PATH_KEYS}
            summary = {
                k: v for k, v in manifest["summary"].items() if k not in PATH_KEYS and "second" not in k
            }
            # what this invocation did (differs after a resume by design), not what the stage produced
            summary = {
                k: v
                for k, v in summary.items()
                if "per_s" not in k and k not in ("items_generated", "tokens")
            }
            out[rel] = json.dumps([outputs, manifest["config_hash"], summary], sort_keys=True).encode()
        elif path.suffix == ".json" and path.parent.name == "adapter":
            record = {
                k: v
                for k, v in json.loads(path.read_text()).items()
                if k not in PATH_KEYS and "second" not in k
            }
            out[rel] = json.dumps(record, sort_keys=True).encode()
        else:
            out[rel] = path.read_bytes()
    return out


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "smoke"
    proc = _cli(run_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return run_dir


class TestSmokeRun:
    def test_iterations_with_distinct_adapters(self, smoke_run: Path) -> None:
        hashes = []
        for name in ITERATIONS:
            manifest_name = "rft" if name == "iter_0" else "preference"
            manifest = json.loads((smoke_run / name / f"{manifest_name}.manifest.json").read_text())
            assert manifest["outputs"]["adapter"] and manifest["outputs"]["model"]
            assert (smoke_run / name / "adapter" / "adapter_model.safetensors").is_file()
            record = json.loads((smoke_run / name / "adapter" / "srcal_adapter.json").read_text())
            assert record["base_hash"]
            hashes.append(manifest["outputs"]["adapter"])
        assert len(set(hashes)) == len(hashes), "two iterations produced the same adapter"

    def test_stage_artifacts(self, smoke_run: Path) -> None:
        assert (smoke_run / "run.yaml").is_file()
        for k in (1, 2, 3):
            d = smoke_run / f"iter_{k}"
            candidates = [json.loads(line) for line in (d / "candidates.jsonl").read_text().splitlines()]
            verdicts = [json.loads(line) for line in (d / "verdicts.jsonl").read_text().splitlines()]
            pairs = [json.loads(line) for line in (d / "pairs.jsonl").read_text().splitlines()]
            assert len(candidates) == 8 and verdicts and pairs
            assert {(v["method"], v["mode"]) for v in verdicts} == {("src", "pairwise")}
            assert all(p["chosen"] != p["rejected"] for p in pairs)
            for stage in ("candidates", "verdicts", "curate", "preference"):
                manifest = json.loads((d / f"{stage}.manifest.json").read_text())
                assert manifest["inputs"] and manifest["outputs"] and manifest["versions"]["trl"]

    def test_rerun_skips_everything(self, smoke_run: Path) -> None:
        before = _artifacts(smoke_run)
        proc = _cli(smoke_run)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "running" not in proc.stdout
        assert proc.stdout.count("up to date, skipped") >= 2 + 4 * 3
        assert _artifacts(smoke_run) == before

    def test_killed_mid_stage_resumes_to_identical_artifacts(self, smoke_run: Path, tmp_path: Path) -> None:
        run_dir = tmp_path / "killed"
        crashed = _cli(run_dir, env={"SRCAL_CRASH_AFTER": "iter_2/candidates.jsonl:3"})
        assert crashed.returncode == 137, crashed.stderr[-2000:]
        partial = (run_dir / "iter_2" / "candidates.jsonl").read_text().splitlines()
        assert 0 < len(partial) < 8
        assert not (run_dir / "iter_2" / "candidates.manifest.json").exists()
        resumed = _cli(run_dir)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert "iter_1/preference: up to date, skipped" in resumed.stdout
        assert _artifacts(run_dir) == _artifacts(smoke_run)


class TestBadInput:
    def test_unknown_preset_and_field(self, tmp_path: Path) -> None:
        proc = _cli(tmp_path / "r", "--set", "scorer.moed=pointwise")
        assert proc.returncode == 1 and "did you mean 'mode'" in proc.stderr
        bad = subprocess.run(
            [
                sys.executable,
                "-m",
                "harness.cli",
                "calibrate",
                "--preset",
                "smok",
                "--run-dir",
                str(tmp_path / "r"),
            ],
            capture_output=True,
            text=True,
        )
        assert bad.returncode == 1 and "did you mean 'smoke'" in bad.stderr

    def test_run_dir_with_other_config_is_refused(self, smoke_run: Path) -> None:
        cfg, data = calibration_of("smoke", None, ["seed=7"])
        with pytest.raises(RunDirError, match="another config"):
            Calibration(cfg, smoke_run, data).run(stop_after="data")

    def test_a_run_recorded_before_later_fields_resumes(self, smoke_run: Path, tmp_path: Path) -> None:
        """A run.yaml written before fields were added (at their defaults now) is the same run; a later
        field set away from its default is another config."""
        import shutil

        import yaml

        run = tmp_path / "old"
        shutil.copytree(smoke_run, run)
        doc = yaml.safe_load((run / "run.yaml").read_text())
        for name in ("train_objective", "train_mixed_precision"):
            del doc["resolved"]["run"]["scorer"][name]
        for name in ("training_sources", "sources", "perceptual_distance"):
            del doc["resolved"]["data"][name]
        (run / "run.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        cfg, data = calibration_of("smoke", None, [])
        Calibration(cfg, run, data).run(stop_after="data")  # resumes: no error
        cfg, data = calibration_of("smoke", None, ["scorer.train_objective=verdict"])
        with pytest.raises(RunDirError, match="another config"):
            Calibration(cfg, run, data).run(stop_after="data")


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _no_scorer_trained(run: Path, cfg, data, summary: dict) -> None:
    assert not (run / "scorer").exists()


def _outcome_scores_are_correctness(run: Path, cfg, data, summary: dict) -> None:
    """outcome-dpo: each candidate's score is its answer's correctness, nothing else."""
    _no_scorer_trained(run, cfg, data, summary)
    sets = {r["item_id"]: r for r in _lines(run / "iter_1" / "candidates.jsonl")}
    for record in _lines(run / "iter_1" / "verdicts.jsonl"):
        assert not record["verdicts"] and not record["pointwise"]
        expected = {
            str(c["candidate_id"]): float(bool(c["correct"])) for c in sets[record["item_id"]]["candidates"]
        }
        assert record["scores"] == expected


def _scores_are_self_rewards(run: Path, cfg, data, summary: dict) -> None:
    """csr-style: each candidate's score is the iter_0 policy's self-reward of it (not a 0/1 outcome)."""
    from calibrate.baselines import self_rewards
    from calibrate.models import load_model
    from calibrate.records import CandidateSet

    _no_scorer_trained(run, cfg, data, summary)
    calibration = Calibration(cfg, run, data)
    items = {item.id: item for item in calibration._calib_items(1)}
    sets = {r["item_id"]: CandidateSet.from_dict(r) for r in _lines(run / "iter_1" / "candidates.jsonl")}
    policy = load_model(str(run / "iter_0" / "model"), **cfg.model.load_kwargs())
    records = _lines(run / "iter_1" / "verdicts.jsonl")
    for record in records[:2]:
        item = items[record["item_id"]]
        expected = self_rewards(
            policy, item, sets[item.id], calibration.data_dir, cfg.candidates.prompt_style
        )
        assert record["scores"].keys() == expected.keys()
        assert list(record["scores"].values()) == pytest.approx(list(expected.values()), abs=1e-5)
    assert {s for r in records for s in r["scores"].values()} - {0.0, 1.0}


def _pointwise_verdicts(run: Path, cfg, data, summary: dict) -> None:
    """pointwise: one P(good) per candidate; pair verdicts are those normalised (no tie, no second order)."""
    sets = {r["item_id"]: r for r in _lines(run / "iter_1" / "candidates.jsonl")}
    for record in _lines(run / "iter_1" / "verdicts.jsonl"):
        point = record["pointwise"]
        assert set(point) == {str(c["candidate_id"]) for c in sets[record["item_id"]]["candidates"]}
        assert all(0 < p < 1 for p in point.values())
        for v in record["verdicts"]:
            a, b = point[str(v["a"])], point[str(v["b"])]
            assert v["p_ba"] == [] and v["p_ab"] == pytest.approx([a / (a + b), b / (a + b), 0.0], abs=1e-5)


def _decisive_r_scorer(monkeypatch: pytest.MonkeyPatch) -> None:
    """An R-Scorer double whose tie mass varies from pair to pair.

    srcal-micro's scorer is near-uniform (tie mass 0.386 +- 0.001 on every pair), so confidence
    weights are all ~0.61 and weighting moves no score by more than the 1e-6 the pairs are
    rounded to. This one prefers the lower candidate id and is sure of it on some pairs only.
    """
    from calibrate.scorer.model import RScorer

    def score_pairs(self, tasks):
        out = []
        for _item, first, second in tasks:
            tie = (0.1, 0.4, 0.7, 0.9)[(3 * first.candidate_id + second.candidate_id) % 4]
            share = 0.8 if first.candidate_id < second.candidate_id else 0.2
            out.append([(1 - tie) * share, (1 - tie) * (1 - share), tie])
        return out

    monkeypatch.setattr(RScorer, "score_pairs", score_pairs)


def _unweighted_scores(run: Path, cfg, data, summary: dict) -> None:
    """No confidence weighting: S_i is the plain mean over comparisons, not the tie-weighted one."""
    from calibrate.curation import scores_from_verdicts
    from calibrate.records import CandidateScores

    verdicts = {r["item_id"]: CandidateScores.from_dict(r) for r in _lines(run / "iter_1" / "verdicts.jsonl")}
    pairs = _lines(run / "iter_1" / "pairs.jsonl")
    assert pairs
    differs = False
    for pair in pairs:
        ids = [int(i) for i in pair["scores"]]
        plain = scores_from_verdicts(verdicts[pair["item_id"]], ids, weighted=False)
        weighted = scores_from_verdicts(verdicts[pair["item_id"]], ids, weighted=True)
        assert pair["scores"] == pytest.approx({str(i): s for i, s in plain.items()}, abs=1e-6)
        differs |= any(abs(plain[i] - weighted[i]) > 1e-3 for i in ids)
    assert differs, "weighted and plain scores agree here: the ablation is not exercised"


def _sentence_search_candidates(run: Path, cfg, data, summary: dict) -> None:
    """Sentence search: candidates grown sentence by sentence, some continuing one kept partial rationale."""
    from calibrate.decoding import sentence_end

    sets = _lines(run / "iter_1" / "candidates.jsonl")
    candidates = [c for r in sets for c in r["candidates"]]
    assert all(c["origin"]["strategy"] == "sentence_search" for c in candidates)
    assert all(c["origin"].get("sentences", 0) >= 1 and c["origin"].get("finish") for c in candidates)

    def first_sentence(text: str) -> str | None:
        end = sentence_end(text)
        return text[:end] if end is not None and end < len(text) else None

    shared = [
        (a["text"], b["text"])
        for r in sets
        for k, a in enumerate(r["candidates"])
        for b in r["candidates"][k + 1 :]
        if min(a["origin"]["sentences"], b["origin"]["sentences"]) >= 2
        and first_sentence(a["text"]) is not None
        and first_sentence(a["text"]) == first_sentence(b["text"])
    ]
    assert shared, "no two candidates continue the same partial rationale"


def _facts_oracle_verdicts(run: Path, cfg, data, summary: dict) -> None:
    """The oracle: nothing trained, verdicts are the fact judge's one-hot labels."""
    _no_scorer_trained(run, cfg, data, summary)
    records = _lines(run / "iter_1" / "verdicts.jsonl")
    probs = [v[k] for r in records for v in r["verdicts"] for k in ("p_ab", "p_ba")]
    assert probs and all(sorted(p) == [0.0, 0.0, 1.0] for p in probs)
    assert summary["iter_1"]["verdicts"]["kind"] == "facts (oracle)"
    assert summary["iter_1"]["verdicts"]["fact_agreement"] == 1.0  # they are the fact labels


ABLATIONS = {
    "sft-only": (["method=sft-only"], _no_scorer_trained),
    "outcome-dpo": (["method=outcome-dpo", "iterations=1"], _outcome_scores_are_correctness),
    "csr-style": (["method=csr-style", "iterations=1"], _scores_are_self_rewards),
    "pointwise": (["scorer.mode=pointwise", "iterations=1"], _pointwise_verdicts),
    "no-confidence": (["curation.confidence_weighting=false", "iterations=1"], _unweighted_scores),
    "sentence-search": (["candidates.strategy=sentence_search", "iterations=1"], _sentence_search_candidates),
    "facts-oracle": (["scorer.kind=facts", "iterations=1"], _facts_oracle_verdicts),
}
"""Each baseline or ablation: its overrides of the smoke preset, and a check of its effect on the
written artifacts that fails if the switch were ignored."""
SETUP = {"no-confidence": _decisive_r_scorer}
"""What an ablation's run needs so that its switch has a visible effect."""


@pytest.mark.parametrize("name", list(ABLATIONS))
def test_baselines_and_ablations_run_end_to_end(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    overrides, effect = ABLATIONS[name]
    if name in SETUP:
        SETUP[name](monkeypatch)
    cfg, data = calibration_of("smoke", None, overrides)
    run = tmp_path / "run"
    summary = Calibration(cfg, run, data).run()
    assert (run / "iter_0" / "model" / "config.json").is_file()
    if cfg.method == "sft-only":
        assert not (run / "iter_1").exists()
    else:
        assert (run / "iter_1" / "model" / "config.json").is_file()
        assert summary["iter_1"]["curate"]["items"] == 8
        # one record type in verdicts.jsonl whatever the method: the one input of curation
        lines = _lines(run / "iter_1" / "verdicts.jsonl")
        mode = cfg.scorer.mode if cfg.method == "src" else "direct"
        assert 0 < len(lines) <= 12 and {(r["method"], r["mode"]) for r in lines} == {(cfg.method, mode)}
        assert {p["method"] for p in _lines(run / "iter_1" / "pairs.jsonl")} == {cfg.method}
    effect(run, cfg, data, summary)


def test_scorer_train_cli(smoke_run: Path, tmp_path: Path) -> None:
    data_dir = json.loads((smoke_run / "data" / "manifest.json").read_text())["path"]
    out = tmp_path / "scorer"
    cmd = [sys.executable, "-m", "harness.cli", "scorer", "train", "--data", data_dir, "--out", str(out)]
    cmd += [
        "--candidates",
        str(smoke_run / "scorer" / "train_candidates.jsonl"),
        "--set",
        "scorer.train_steps=2",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout[proc.stdout.rindex('{\n  "') :])  # the indented summary comes last
    assert summary["steps"] == 2 and "agreement_after" in summary
    assert (out / "adapter_model.safetensors").is_file()


def test_dpo_stage_with_two_processes(smoke_run: Path, tmp_path: Path) -> None:
    """The preference stage runs unchanged under a 2-process launch (CPU, gloo): trl's DDP training."""
    import shutil

    run_dir = tmp_path / "ddp"
    shutil.copytree(smoke_run, run_dir)
    for stale in ("iter_2", "iter_3", "iter_1/adapter", "iter_1/model", "iter_1/preference.manifest.json"):
        target = run_dir / stale
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    cmd = ["-m", "harness.cli"]
    cmd += ["calibrate", "--preset", "smoke", "--run-dir", str(run_dir), "--stage", "preference"]
    proc = _two_processes(cmd)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    manifest = json.loads((run_dir / "iter_1" / "preference.manifest.json").read_text())
    assert manifest["summary"]["steps"] == 2 and manifest["outputs"]["adapter"]
    assert (run_dir / "iter_1" / "adapter" / "adapter_model.safetensors").is_file()
    assert (run_dir / "iter_1" / "model" / "config.json").is_file()
    assert not list((run_dir / "iter_1").glob(".checkpoint.partial-*"))
    assert not (run_dir / "iter_2").exists()


def test_candidates_and_verdicts_shard_across_two_processes(smoke_run: Path, tmp_path: Path) -> None:
    """Candidate search and R-Scorer verdicts shard items across the processes of a distributed launch.

    Batches are seeded per batch, so the merged candidates equal the single-process run's; the
    verdicts come from the same forward passes in other batch groupings (equal up to float noise).
    """
    import shutil

    run_dir = tmp_path / "sharded"
    shutil.copytree(smoke_run, run_dir)
    for stale in ("iter_2", "iter_3", "iter_1"):
        shutil.rmtree(run_dir / stale)
    cmd = ["-m", "harness.cli"]
    cmd += ["calibrate", "--preset", "smoke", "--run-dir", str(run_dir), "--stage", "verdicts"]
    proc = _two_processes(cmd)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    manifest = json.loads((run_dir / "iter_1" / "candidates.manifest.json").read_text())
    assert manifest["summary"]["processes"] == 2
    assert not list((run_dir / "iter_1").glob("*.rank*.jsonl"))  # shards merged and removed

    def records(path: Path) -> list[dict]:
        return [json.loads(line) for line in path.read_text().splitlines()]

    single = records(smoke_run / "iter_1" / "candidates.jsonl")
    sharded = records(run_dir / "iter_1" / "candidates.jsonl")
    assert [r["item_id"] for r in sharded] == [r["item_id"] for r in single]
    assert [[c["text"] for c in r["candidates"]] for r in sharded] == [
        [c["text"] for c in r["candidates"]] for r in single
    ]
    one = records(smoke_run / "iter_1" / "verdicts.jsonl")
    two = records(run_dir / "iter_1" / "verdicts.jsonl")
    assert [r["item_id"] for r in two] == [r["item_id"] for r in one]
    for a, b in zip(one, two):
        for va, vb in zip(a["verdicts"], b["verdicts"]):
            assert (va["a"], va["b"]) == (vb["a"], vb["b"])
            assert va["p_ab"] == pytest.approx(vb["p_ab"], abs=1e-4)
    assert not (run_dir / "iter_1" / "pairs.jsonl").exists()


def test_scorer_training_refuses_a_distributed_launch(smoke_run: Path, tmp_path: Path) -> None:
    """The R-Scorer is trained in one process (zoo models built by the smoke run are reused)."""
    cmd = ["-m", "harness.cli"]
    cmd += ["calibrate", "--preset", "smoke", "--run-dir", str(tmp_path / "r"), "--stage", "scorer"]
    cmd += ["--set", "rft.max_steps=1"]
    proc = _two_processes(cmd)
    assert proc.returncode != 0
    assert "train the R-Scorer in one process first" in proc.stderr


def _count_training_layer_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Attention calls of the decoder layers with gradients on, per training stage, of every policy loaded
    from now on.

    Without checkpointing each layer's attention runs once per training forward; with it the backward
    pass runs the layer's ``forward`` again (transformers checkpoints ``forward``, not ``__call__``, so
    hooks on the layer itself fire once: the count is taken inside it, by a pre-hook, which fires even
    when a recomputation stops early).
    """
    import calibrate.models

    counts: dict[str, int] = {"rft": 0, "preference": 0}
    load_model = calibrate.models.load_model

    def counting_load_model(model_id_or_dir, *args, **kwargs):
        loaded = load_model(model_id_or_dir, *args, **kwargs)
        stage = "preference" if Path(model_id_or_dir).parent.name == "iter_0" else "rft"

        def count(module, _inputs) -> None:
            if module.training and torch.is_grad_enabled():
                counts[stage] += 1

        layers = [m for m in loaded.model.modules() if type(m).__name__.endswith("DecoderLayer")]
        assert layers
        for layer in layers:
            layer.self_attn.register_forward_pre_hook(count)
        return loaded

    monkeypatch.setattr(calibrate.models, "load_model", counting_load_model)
    return counts


def test_gradient_checkpointing_keeps_adapters_and_stage_hashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFT and DPO with gradient checkpointing recompute every layer in the backward pass, and give the
    same adapters (LoRA dropout on) and stage hashes."""
    from safetensors.torch import load_file

    runs, calls = {}, {}
    for on in ("false", "true"):
        overrides = ["method=outcome-dpo", "iterations=1"]
        overrides += [f"rft.gradient_checkpointing={on}", f"preference.gradient_checkpointing={on}"]
        cfg, data = calibration_of("smoke", None, overrides)
        assert cfg.rft.gradient_checkpointing is (on == "true") and cfg.rft.lora_dropout > 0
        with monkeypatch.context() as patch:
            calls[on] = _count_training_layer_calls(patch)
            Calibration(cfg, tmp_path / on, data).run()
        runs[on] = tmp_path / on
    for stage in ("rft", "preference"):
        assert calls["false"][stage] > 0, calls
        assert calls["true"][stage] == 2 * calls["false"][stage], f"{stage}: {calls}"
    for directory, stage in (("iter_0", "rft"), ("iter_1", "preference")):
        manifests = [json.loads((runs[on] / directory / f"{stage}.manifest.json").read_text()) for on in runs]
        assert manifests[0]["config_hash"] == manifests[1]["config_hash"]
        off, on = (load_file(runs[k] / directory / "adapter" / "adapter_model.safetensors") for k in runs)
        assert off.keys() == on.keys() and any(t.abs().sum() > 0 for k, t in off.items() if "lora_B" in k)
        for key in off:
            torch.testing.assert_close(
                on[key], off[key], rtol=1e-5, atol=1e-6, msg=f"{directory}/{stage}: {key}"
            )


def test_every_subset_taking_stage_draws_a_stratified_pool(smoke_run: Path) -> None:
    """RFT, scorer training and each iteration's candidates: 2:1:1, every suite, recorded and hashed."""

    def manifest(path: str) -> dict:
        return json.loads((smoke_run / path).read_text())

    rft = manifest("iter_0/rft.manifest.json")
    assert rft["summary"]["pool"]["category"] == {"chart": 6, "math_science": 6, "perception": 12}
    assert len(rft["summary"]["pool"]["suite"]) == 7
    scorer = manifest("scorer/scorer.manifest.json")
    assert sum(scorer["summary"]["pool"]["category"].values()) == 6
    seen: set[str] = set()
    for k in (1, 2, 3):
        stage = manifest(f"iter_{k}/candidates.manifest.json")
        assert stage["summary"]["pool"]["category"] == {"chart": 2, "math_science": 2, "perception": 4}
        ids = {json.loads(line)["item_id"] for line in (smoke_run / f"iter_{k}/candidates.jsonl").open()}
        assert len(ids) == 8 and not ids & seen  # fresh items every iteration
        seen |= ids
        assert "items" in stage["inputs"]  # the pool's identity is in the stage hash
    assert "items" in rft["inputs"] and "items" in scorer["inputs"]
    scorer_ids = {
        json.loads(line)["item_id"] for line in (smoke_run / "scorer/train_candidates.jsonl").open()
    }
    cfg, data = calibration_of("smoke", None, [])
    rft_ids = {item.id for item in Calibration(cfg, smoke_run, data).rft_pool()}
    assert len(rft_ids) == 24 and len(scorer_ids) == 6 and not scorer_ids & rft_ids


def test_dev_pool_avoids_the_rft_and_scorer_pools_and_refuses_when_nothing_is_left(
    smoke_dataset: Path,
) -> None:
    """The dev slice (where tools/rft_dev.py and tools/dpo_dev.py choose settings) trains nothing."""
    from benchmarks.configuration import ConfigError

    at = [f"data_dir={smoke_dataset}"]
    cfg, data = calibration_of("smoke", None, [*at, "rft.max_items=8", "scorer.train_items=4"])
    calibration = Calibration(cfg, "/nonexistent", data)
    dev = calibration.dev_pool(7)
    used = {item.id for item in calibration.rft_pool()} | {item.id for item in calibration.scorer_pool()}
    assert len(dev) == 7 and not {item.id for item in dev} & used
    assert [item.id for item in dev] == [item.id for item in calibration.dev_pool(7)]  # seeded
    assert {item.category for item in dev} == {"perception", "chart", "math_science"}
    cfg, data = calibration_of("smoke", None, [*at, "rft.max_items=48"])  # RFT takes the whole rft split
    with pytest.raises(ConfigError, match="no rft item left for a dev slice"):
        Calibration(cfg, "/nonexistent", data).dev_pool(7)


def test_a_run_reuses_an_earlier_runs_stages_up_to_the_first_changed_setting(tmp_path: Path) -> None:
    """--reuse-from: a dev run stopped after curation; the run with preference settings chosen on it copies
    everything before preference (the method's own stages too: their hash holds the method) and trains that."""
    dev_cfg, data = calibration_of("smoke", None, ["iterations=1"])
    Calibration(dev_cfg, tmp_path / "dev", data).run(stop_after="curate")
    cfg, data = calibration_of("smoke", None, ["iterations=1", "preference.learning_rate=5e-4"])
    Calibration(cfg, tmp_path / "run", data, reuse_from=tmp_path / "dev").run()

    def reused(path: str) -> str | None:
        return json.loads((tmp_path / "run" / path).read_text()).get("reused_from")

    for stage in ("iter_0/rft", "scorer/scorer", "iter_1/candidates", "iter_1/verdicts", "iter_1/curate"):
        assert reused(f"{stage}.manifest.json") == str(tmp_path / "dev" / stage.split("/")[0])
    assert reused("iter_1/preference.manifest.json") is None
    assert (tmp_path / "run" / "iter_1" / "model" / "config.json").is_file()
    verdicts = (tmp_path / "dev" / "iter_1" / "verdicts.jsonl").read_bytes()
    assert (tmp_path / "run" / "iter_1" / "verdicts.jsonl").read_bytes() == verdicts
