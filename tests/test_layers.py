"""Every import points down: benchmarks <- calibrate <- harness; leaderboards read results only.

Checked on every module of the four packages, module-level and function-level imports alike
(the CLI imports lazily, so a look at module level alone would miss most of them).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "benchmarks": {"calibrate", "harness", "leaderboards"},
    "calibrate": {"harness", "leaderboards"},
    "leaderboards": {"calibrate", "harness"},
    "harness": set(),
}


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in ``path``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module.split(".")[0]))
    return out


MODULES = sorted(p for package in FORBIDDEN for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path: Path) -> None:
    package = path.relative_to(ROOT).parts[0]
    wrong = [f"line {n}: {name}" for n, name in imported_packages(path) if name in FORBIDDEN[package]]
    assert not wrong, f"{path.relative_to(ROOT)} ({package}) imports upward: {', '.join(wrong)}"


def test_the_check_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from harness.store import ResultsStore\n    import calibrate.models\n")
    assert [name for _, name in imported_packages(module)] == ["harness", "calibrate"]
