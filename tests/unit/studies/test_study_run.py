"""End to end on the tiny model: `xstilts study run` makes a 2-run study's runs (a rerun skips
them), `xstilts study verify` gives every claim a verdict and writes the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xstilts.cli.commands import app
from xstilts.errors import XstiltsError
from xstilts.store.results import ResultsStore
from xstilts.studies.plan import plan_study
from xstilts.studies.runner import check_study

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STUDY = """
name: tiny-study
title: Does SST-2 intermediate training help tiny NLI?
question: Does an English sentiment phase before NLI training change zero-shot NLI?
references: {{demo: "A demo reference."}}
setups:
  offline:
    description: the tiny random encoder on tiny files
    attacks: [{{task: xnli, languages: [en, de], perturbations: [char-noise], runs: {{levels: {{intermediate: sst2}}}}}}]
    grid:
      base:
        name: tiny
        model: {model}
        seed: 7
        max_length: 32
        output_dir: {runs}
        data: {{dir: {data}}}
        phases:
          - &target {{name: target, task: xnli, epochs: 1, batch_size: 4, lr: 1.0e-3}}
          - &zero_shot {{name: zero-shot, kind: evaluate, task: xnli, languages: [en, de]}}
      axes:
        intermediate:  # YAML anchors keep the levels' phases identical but for the intermediate one
          none: {{}}
          sst2:
            phases: [{{name: intermediate, task: sst2, epochs: 1, batch_size: 2, lr: 1.0e-3}}, *target, *zero_shot]
claims:
  - id: sst2-helps
    type: difference
    statement: SST-2 intermediate training improves zero-shot NLI
    source: {{reference: demo}}
    a: {{levels: {{intermediate: sst2}}}}
    b: {{levels: {{intermediate: none}}}}
    measure: {{task: xnli, languages: [de]}}
    expect: {{direction: increase}}
  - id: english-too
    type: ranking
    statement: SST-2 then NLI beats NLI alone in English
    source: {{reference: demo}}
    order: [{{levels: {{intermediate: sst2}}}}, {{levels: {{intermediate: none}}}}]
    measure: {{task: xnli, languages: [en]}}
  - id: noise-hurts
    type: degradation
    statement: Character noise lowers accuracy after SST-2
    source: {{reference: demo}}
    a: {{levels: {{intermediate: sst2}}}}
    task: xnli
    perturbations: [char-noise]
    expect: {{direction: increase}}
"""
def _cli(*args: str):
    """The command line in this process (a new one would spend most of the test importing torch)."""
    return CliRunner().invoke(app, ["study", *args], env={"COLUMNS": "200"})


def test_attack_data_is_checked_before_any_run(tmp_path, tiny_model_dir, tiny_data_dir):
    study = tmp_path / "tiny-study.yaml"
    study.write_text(STUDY.format(model=tiny_model_dir, runs=tmp_path / "runs", data=tiny_data_dir)
                     .replace("languages: [en, de], perturbations", "perturbations"), encoding="utf-8")
    with pytest.raises(XstiltsError, match=r"setups\.offline\.attacks\.0 \(tiny-sst2\): missing data file .*dev-ar\.tsv"):
        check_study(plan_study(study))
    result = _cli("run", str(study))
    assert isinstance(result.exception, XstiltsError) and "dev-ar.tsv" in str(result.exception)
    assert not (tmp_path / "runs").exists()


def test_study_run_and_verify(tmp_path, tiny_model_dir, tiny_data_dir):
    study = tmp_path / "tiny-study.yaml"
    study.write_text(STUDY.format(model=tiny_model_dir, runs=tmp_path / "runs", data=tiny_data_dir), encoding="utf-8")
    result = _cli("run", str(study))
    assert result.exit_code == 0, result.output
    runs = tmp_path / "runs"
    assert sorted(p.name for p in runs.iterdir() if p.is_dir()) == ["tiny-none", "tiny-sst2"]
    # The runs went through the grid executor: each is in the results store with its levels.
    store = ResultsStore(runs / "results.duckdb")
    _, stored = store.query("SELECT name, json_extract_string(axes, '$.intermediate') FROM runs")
    assert sorted(stored) == [("tiny-none", "none"), ("tiny-sst2", "sst2")]
    # The setup's attack ran on the runs it selects only, in the run's job (its log has it).
    attack = runs / "tiny-sst2" / "attack" / "xnli" / "results.json"
    assert attack.is_file()
    assert not (runs / "tiny-none" / "attack").exists()
    assert "attack on xnli" in (runs / "tiny-sst2" / "logs" / "attempt-1.log").read_text(encoding="utf-8")
    model = runs / "tiny-sst2" / "target" / "model" / "heads.safetensors"
    before, attacked = model.stat().st_mtime_ns, attack.stat().st_mtime_ns
    again = _cli("run", str(study))  # finished: both runs are skipped, the attack too
    assert again.exit_code == 0, again.output
    assert "2 already finished (skipped), 0 to run" in again.output
    assert (model.stat().st_mtime_ns, attack.stat().st_mtime_ns) == (before, attacked)
    # A lost attack is made again by a job of its own; the finished run is not trained again.
    attack.unlink()
    again = _cli("run", str(study))
    assert again.exit_code == 0, again.output
    assert "1 already finished (skipped), 1 to run (1 finished, for their attacks)" in again.output
    assert attack.is_file() and model.stat().st_mtime_ns == before
    assert "attack on xnli" in (runs / "tiny-sst2" / "logs" / "attempt-2.log").read_text(encoding="utf-8")

    result = _cli("verify", str(study), "--out", str(tmp_path / "report"), "--bootstrap", "200")
    assert result.exit_code == 0, result.output
    assert "sst2-helps" in result.output
    verdicts = json.loads((tmp_path / "report" / "verdicts.json").read_text(encoding="utf-8"))
    # The tiny random encoder learns nothing from a few rows: every claim says so instead of
    # reporting chance against chance as an effect.
    assert [(c["id"], c["verdict"]) for c in verdicts["claims"]] == [
        ("sst2-helps", "untestable-here"), ("english-too", "untestable-here"), ("noise-hurts", "untestable-here")]
    assert all("no run learned xnli" in c["reason"] for c in verdicts["claims"])
    assert Path(tmp_path / "report" / "report.html").is_file()


def test_only_runs_the_matching_runs(tmp_path, tiny_model_dir, tiny_data_dir):
    study = tmp_path / "tiny-study.yaml"
    study.write_text(STUDY.format(model=tiny_model_dir, runs=tmp_path / "runs", data=tiny_data_dir), encoding="utf-8")
    result = _cli("run", str(study), "--only", "tiny-n*")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "runs").iterdir() if p.is_dir()) == ["tiny-none"]
    assert "1 runs" in result.output or "1 run" in result.output
    missing = _cli("run", str(study), "--only", "tiny-x*")
    assert isinstance(missing.exception, XstiltsError)
    assert "--only tiny-x*: no run of setup 'offline' matches; runs: tiny-none, tiny-sst2" in str(missing.exception)
