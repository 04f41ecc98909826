"""lmms-eval drives srcal checkpoints on exported built-in tasks, offline (``tox -e lmms``)."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.lmms_tasks import export_lmms_tasks
from benchmarks.records import read_items

pytestmark = pytest.mark.lmms


@pytest.fixture(autouse=True)
def _needs_lmms_eval() -> None:
    """These tests run only under ``-m lmms`` (``tox -e lmms``), where lmms-eval must import: a missing or
    broken install (e.g. ``No module named 'filelock._api'``) fails them instead of turning into skips."""
    try:
        import lmms_eval  # noqa: F401
    except Exception as exc:  # ImportError, or any error its import raises
        pytest.fail(
            f"lmms_eval does not import ({type(exc).__name__}: {exc}): the lmms leg would test nothing"
        )


LIMIT = 8


def run_lmms_eval(model_dir: Path, tasks_dir: Path, task: str, out: Path, extra: str = "") -> dict:
    """Run the lmms-eval CLI; it exits 0 even when it failed, so success is read from its files."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    args = f"pretrained={model_dir}{extra}"
    cmd = [
        sys.executable,
        "-m",
        "lmms_eval",
        "eval",
        "--model",
        "srcal",
        "--model_args",
        args,
        "--batch_size",
        "4",
    ]
    cmd += ["--tasks", task, "--include_path", str(tasks_dir), "--output_path", str(out), "--log_samples"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    results = glob.glob(str(out / "*" / "*_results.json"))
    samples = glob.glob(str(out / "*" / f"*_samples_{task}.jsonl"))
    assert results and samples, (
        f"lmms-eval wrote no results (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return {
        "samples_path": Path(samples[0]),
        "results": json.loads(Path(results[0]).read_text())["results"][task],
        "samples": [json.loads(line) for line in Path(samples[0]).read_text().splitlines()],
    }


@pytest.fixture(scope="module")
def micro(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from calibrate.zoo.srcal_micro import build_srcal_micro

    return build_srcal_micro(tmp_path_factory.mktemp("micro") / "srcal-micro")


class TestLmmsEval:
    def test_entry_point_registers_srcal(self) -> None:
        from lmms_eval.models import get_model

        cls = get_model("srcal")
        assert cls.__name__ == "SrcalLMM"

    def test_cli_matches_native_engine_and_scoring(
        self, micro: Path, smoke_dataset: Path, tmp_path: Path
    ) -> None:
        from PIL import Image

        from benchmarks.registry import BENCHMARKS
        from calibrate.generation import generate_texts
        from calibrate.models import load_model

        [task] = export_lmms_tasks(smoke_dataset, tmp_path / "tasks", suites=["digits"], limit=LIMIT)
        run = run_lmms_eval(micro, tmp_path / "tasks", task, tmp_path / "out")
        samples = sorted(run["samples"], key=lambda s: s["doc_id"])
        assert len(samples) == LIMIT

        # Same responses as srcal's own engine on the same prompts ...
        items = [i for i in read_items(smoke_dataset / "test.jsonl") if i.suite == "digits"][:LIMIT]
        spec = BENCHMARKS.get("digits")
        docs = [spec.to_doc(i.to_dict()) for i in items]
        loaded = load_model(micro)
        images = [Image.open(smoke_dataset / i.image).convert("RGB") for i in items]
        native = generate_texts(
            loaded.model, loaded.processor, images, [spec.prompt(d, "plain") for d in docs], max_new_tokens=16
        )
        assert [s["filtered_resps"] for s in samples] == native
        assert [s["input"] for s in samples] == [spec.prompt(d, "plain") for d in docs]

        # ... and the same accuracy as srcal's scoring of those responses.
        ours = spec.aggregate([spec.score(r, d) for r, d in zip(native, docs)])
        assert run["results"]["accuracy,none"] == pytest.approx(ours["accuracy"])
        assert run["results"]["parse_failure,none"] == pytest.approx(ours["parse_failure_rate"])

        # srcal reads lmms-eval's own samples log back (documents joined by doc_id) with consistency.
        from harness.implied_answer import ReaderConfig
        from harness.rescore import rescore

        audit = rescore(
            "digits",
            run["samples_path"],
            consistency=True,
            reader=ReaderConfig(name="conclusion"),
            docs_source=str(smoke_dataset),
        )
        assert [r["id"] for r in audit.rows] == [i.id for i in items]
        assert audit.summary["accuracy"] == pytest.approx(run["results"]["accuracy,none"])
        assert all("consistent" in r and "implied_status" in r for r in audit.rows)

    def test_lmms_engine_equals_native_engine(self, micro: Path, smoke_dataset: Path, tmp_path: Path) -> None:
        from harness.evaluate import Checkpoint, Evaluation, eval_config_from

        results = {}
        for engine in ("native", "lmms-eval"):
            cfg = eval_config_from(
                (),
                {
                    "benchmarks": ["digits", "arithmetic"],
                    "data_dir": str(smoke_dataset),
                    "limit": LIMIT,
                    "max_new_tokens": 16,
                    "engine": engine,
                    "reader": {"name": "conclusion"},
                },
            )
            out = tmp_path / engine
            from harness.lmms_engine import LmmsResponder

            responder = LmmsResponder(str(micro), None, cfg, out / ".lmms") if engine == "lmms-eval" else None
            results[engine] = Evaluation(Checkpoint(str(micro)), cfg, out, responder=responder).run()
            results[engine + "_samples"] = [
                json.loads(line)["response"]
                for b in ("digits", "arithmetic")
                for line in (out / b / "samples.jsonl").read_text().splitlines()
            ]
        assert results["native_samples"] == results["lmms-eval_samples"]
        for bench in ("digits", "arithmetic"):
            assert results["native"][bench]["accuracy"] == results["lmms-eval"][bench]["accuracy"]


class TestLoglikelihood:
    CONTEXT = "What colour is the shape?"

    @staticmethod
    def _reference(lmm, image, context: str, continuation: str) -> tuple[float, bool]:
        """Mean NLL of ``continuation`` after the chat prompt and whether it is greedy: one plain forward."""
        import torch

        from calibrate.generation import chat_prompt

        prompt = chat_prompt(lmm.processor, context)
        n_prompt = lmm.processor(images=[image], text=[prompt], return_tensors="pt")["input_ids"].shape[1]
        full = lmm.processor(images=[image], text=[prompt + continuation], return_tensors="pt")
        with torch.inference_mode():
            logits = lmm.model(**full).logits[0].float()
        ids = full["input_ids"][0]
        logprobs = torch.log_softmax(logits, dim=-1)
        steps = range(n_prompt, len(ids))
        nll = -sum(logprobs[t - 1, ids[t]].item() for t in steps) / len(steps)
        return nll, all(logits[t - 1].argmax().item() == ids[t].item() for t in steps)

    def test_loglikelihood_is_teacher_forced_mean_nll(self, micro: Path) -> None:
        """Per request: the continuation's mean NLL (lower = likelier, lmms-eval ranks by the lowest) and
        whether greedy decoding produces it; the model's own greedy continuation scores best."""
        import torch
        from lmms_eval.api.instance import Instance
        from PIL import Image

        from calibrate.generation import chat_prompt
        from harness.lmms_model import SrcalLMM

        lmm = SrcalLMM(pretrained=str(micro), device="cpu")
        image = Image.new("RGB", (64, 64), (200, 30, 30))
        inputs = lmm.processor(
            images=[image], text=[chat_prompt(lmm.processor, self.CONTEXT)], return_tensors="pt"
        )
        with torch.inference_mode():
            generated = lmm.model.generate(**inputs, max_new_tokens=6, do_sample=False)
        greedy = lmm.processor.tokenizer.decode(
            generated[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True
        )
        continuations = [greedy, " zebra quantum", " red"]
        lmm.task_dict = {"t": {"test": [{"image": image}]}}
        requests = [
            Instance(
                "loglikelihood",
                (self.CONTEXT, c, lambda doc: [doc["image"]], 0, "t", "test"),
                idx=i,
                metadata={"task": "t", "doc_id": 0, "repeats": 1},
            )
            for i, c in enumerate(continuations)
        ]
        scores = lmm.loglikelihood(requests)
        for (nll, is_greedy), continuation in zip(scores, continuations, strict=True):
            ref_nll, ref_greedy = self._reference(lmm, image, self.CONTEXT, continuation)
            assert nll == pytest.approx(ref_nll, abs=1e-4) and is_greedy is ref_greedy
        assert scores[0][1] and not scores[1][1]  # the greedy continuation round-trips as greedy
        assert scores[0][0] < min(scores[1][0], scores[2][0])
