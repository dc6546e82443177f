"""Grid files: the cartesian product of the axes, run names, run identity, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiment_files import write_config
from xstilts.config import load_config, resolved_config
from xstilts.config.grid import load_grid
from xstilts.errors import XstiltsError
from xstilts.run_identity import code_version, run_identity

BASE = """
name: study
seed: 1
output_dir: {out}
data: {{dir: {data}}}
phases:
  - {{name: intermediate, task: sst2}}
  - {{name: target, task: xnli}}
  - {{name: zero-shot, kind: evaluate, task: xnli, languages: [en, de]}}
"""


def _grid(tmp_path: Path, axes: str, base: str | None = None, extra: str = "") -> Path:
    write_config(tmp_path / "base.yaml", base or BASE.format(out=tmp_path / "runs", data=tmp_path / "data"))
    return write_config(tmp_path / "grid.yaml", f"base: base.yaml\naxes:\n{axes}\n{extra}")


def test_axes_expand_into_the_cartesian_product_named_by_their_values(tmp_path):
    grid = load_grid(_grid(tmp_path, """
  phases.0.task: [sst2, qqp]
  seed: [1, 2]
  target:
    - {phases.1.task: xnli, phases.2.task: xnli}
    - {name: copa, phases.1.task: xcopa, phases.2.task: xcopa, phases.2.languages: [sw]}"""))
    assert [r.name for r in grid.runs] == [
        "study-sst2-seed1-xnli", "study-sst2-seed1-copa", "study-sst2-seed2-xnli", "study-sst2-seed2-copa",
        "study-qqp-seed1-xnli", "study-qqp-seed1-copa", "study-qqp-seed2-xnli", "study-qqp-seed2-copa"]
    run = grid.runs[5]
    assert run.axes == {"phases.0.task": "qqp", "seed": "seed1", "target": "copa"}
    assert (run.config.seed, run.config.phases[0].task, run.config.phases[1].task) == (1, "qqp", "xcopa")
    assert run.config.phases[2].languages == ["sw"]
    assert len({r.run_id for r in grid.runs}) == 8
    assert grid.store == tmp_path / "runs" / "results.duckdb"  # beside the runs by default


def test_identity_ignores_where_a_run_is_written_but_not_what_it_measures(tmp_path):
    path = write_config(tmp_path / "a.yaml", BASE.format(out=tmp_path / "runs", data=tmp_path / "data"))
    identity = run_identity(resolved_config(load_config(path)))
    moved = ["name=other", f"output_dir={tmp_path / 'elsewhere'}", f"data.dir={tmp_path / 'data2'}",
             "keep_models=none", "phases.0.keep_model=true"]
    assert run_identity(resolved_config(load_config(path, moved))) == identity
    for changed in ("seed=2", "phases.0.lr=1e-4", "data.bad_rows=skip", "phases.2.languages=[de]"):
        assert run_identity(resolved_config(load_config(path, [changed]))) != identity, changed
    assert code_version().startswith("0.")  # recorded beside the identity, not part of it


def test_grid_errors_are_one_line(tmp_path):
    with pytest.raises(XstiltsError, match=r"grid.yaml: retry: not a grid key. Did you mean 'retries'\?"):
        load_grid(_grid(tmp_path, "  seed: [1, 2]", extra="retry: 2"))
    with pytest.raises(XstiltsError, match=r"axes.seed: give at least one value"):
        load_grid(_grid(tmp_path, "  seed: []"))
    with pytest.raises(XstiltsError, match="several runs would be named study-seed1"):
        load_grid(_grid(tmp_path, "  seed: [1, 1]"))
    with pytest.raises(XstiltsError, match=r"variants: a grid's base stands for one run"):
        load_grid(_grid(tmp_path, "  seed: [1]", base=BASE.format(out=tmp_path, data=tmp_path)
                        + "variants: {a: {seed: 3}}\n"))
    with pytest.raises(XstiltsError, match=r"phases.0.lr"):  # a value goes through the schema like --set
        load_grid(_grid(tmp_path, "  phases.0.lr: [-1]"))
