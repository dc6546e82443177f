"""The house's structure: imports run one way (docs/architecture.md), and no import hides in a
function body to dodge a cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src" / "xstilts"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _function_imports() -> list[tuple[Path, int, str]]:
    """(file, line, module) of every import statement inside a function body."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Import):
                        found += [(path, inner.lineno, alias.name) for alias in inner.names]
                    elif isinstance(inner, ast.ImportFrom):
                        found.append((path, inner.lineno, inner.module or ""))
    return found


def test_no_function_imports_our_own_modules():
    own = [f"{p.relative_to(SRC)}:{line} {module}" for p, line, module in _function_imports()
           if module.split(".")[0] == "xstilts"]
    assert own == [], "a function-local import of xstilts hides a cycle or an upward import"


def test_every_function_level_import_says_why():
    """Heavy third-party imports may wait until used (datasets, statsmodels, ...), each with a
    comment on its line or the first import of its group saying why."""
    silent = []
    for path, line, module in _function_imports():
        lines = path.read_text(encoding="utf-8").splitlines()
        group_start = line
        while group_start > 1 and lines[group_start - 2].lstrip().startswith(("import ", "from ")):
            group_start -= 1
        if not any("#" in lines[n - 1] for n in range(group_start, line + 1)):
            silent.append(f"{path.relative_to(SRC)}:{line} {module}")
    assert silent == []


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed in this environment")
def test_layer_contracts_hold(tmp_path):
    result = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=SRC.parents[1], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed in this environment")
def test_an_upward_import_breaks_the_contracts(tmp_path):
    """The contracts are not vacuous: the same check on a copy with one upward import fails."""
    copy = tmp_path / "src"
    subprocess.run(["cp", "-r", str(SRC.parent), str(copy)], check=True)
    subprocess.run(["cp", str(SRC.parents[1] / "pyproject.toml"), str(tmp_path)], check=True)
    errors = copy / "xstilts" / "errors.py"
    errors.write_text("from xstilts.training import pipeline  # upward\n" + errors.read_text(encoding="utf-8"),
                      encoding="utf-8")
    env = {"PYTHONPATH": str(copy), "PATH": str(Path(sys.executable).parent)}
    result = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert result.returncode != 0
    assert "xstilts.errors -> xstilts.training.pipeline" in result.stdout
