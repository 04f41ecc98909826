from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from benchmarks.records import read_items
from harness.cli import main


class TestStartup:
    def test_help_imports_no_heavy_package(self) -> None:
        code = (
            "import sys; from harness.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'transformers', 'datasets', 'PIL', 'matplotlib') if m in sys.modules]\n"
            "print('HEAVY', heavy)"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert "HEAVY []" in out
        assert "data" in out and "score" in out

    def test_benchmarks_lists_names(self) -> None:
        result = CliRunner().invoke(main, ["benchmarks"])
        assert result.exit_code == 0
        assert "chartqa" in result.output and "easyvqa" in result.output


class TestScore:
    def _responses(self, smoke_dataset: Path, tmp_path: Path) -> tuple[Path, list]:
        items = read_items(smoke_dataset / "test.jsonl")
        items = [i for i in items if i.suite == "digits"]
        lines = []
        for k, item in enumerate(items):
            # Half the responses are the gold rationale, half a wrong short answer.
            response = item.rationale if k % 2 == 0 else "Answer: 99"
            lines.append({"id": item.id, "response": response, "doc": item.to_dict()})
        path = tmp_path / "responses.jsonl"
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        return path, items

    def test_rescore_builtin(self, smoke_dataset: Path, tmp_path: Path) -> None:
        path, items = self._responses(smoke_dataset, tmp_path)
        out = tmp_path / "scored.jsonl"
        result = CliRunner().invoke(main, ["score", "--benchmark", "digits", str(path), "--out", str(out)])
        assert result.exit_code == 0, result.output
        summary = json.loads(result.output)
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(rows) == len(items)
        expected = sum(1 for k in range(len(items)) if k % 2 == 0) / len(items)
        assert abs(summary["accuracy"] - expected) < 1e-9
        assert all(r["correct"] == (k % 2 == 0) for k, r in enumerate(rows))
        assert {"final_answer", "parse_status", "claims_checked"} <= set(rows[0])
        assert summary["claim_accuracy"] == 1.0

    def test_malformed_lines_reported_and_nothing_written(self, smoke_dataset: Path, tmp_path: Path) -> None:
        path, _ = self._responses(smoke_dataset, tmp_path)
        lines = path.read_text().splitlines()
        lines[1] = "{oops"
        bad = json.loads(lines[2])
        del bad["doc"]
        lines[2] = json.dumps(bad)
        bad = json.loads(lines[3])
        del bad["doc"]["question"]
        lines[3] = json.dumps(bad)
        path.write_text("\n".join(lines) + "\n")
        out = tmp_path / "scored.jsonl"
        result = CliRunner().invoke(main, ["score", "--benchmark", "digits", str(path), "--out", str(out)])
        assert result.exit_code == 1
        assert f"{path}:2: invalid JSON" in result.output
        assert f"{path}:3: field 'doc': missing" in result.output
        assert not out.exists()

    def test_unknown_benchmark(self, tmp_path: Path) -> None:
        path = tmp_path / "r.jsonl"
        path.write_text("")
        result = CliRunner().invoke(main, ["score", "--benchmark", "chartqaa", str(path)])
        assert result.exit_code == 1 and "did you mean 'chartqa'" in result.output
