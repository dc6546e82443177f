"""Curricula on the tiny encoder: stages in the configured order, one budget for every compared
run (in each run's config.yaml and in the examples really seen), transfer and forgetting curves,
and an interrupted curriculum resuming at the right stage."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from experiment_files import kill_after_checkpoint
from xstilts.config import load_experiments
from xstilts.training.pipeline import run_experiment

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# mnli (24 rows, shares XNLI's head) and qqp (a pool of 8 of its 12 rows); 10 examples in
# batches of 2: sequential stages of 5 (batches of 2, 2 and 1), or 5 interleaved batches.
STUDY = """
name: study
model: {model}
seed: 3
max_length: 32
output_dir: {out}
data: {{dir: {data}}}
phases:
  - name: inter
    kind: curriculum
    tasks: [mnli, {{task: qqp, max_examples: 8}}]
    budget: 10
    batch_size: 2
    lr: 1.0e-3
    dev_max_examples: 2
    curve: {{target: xnli, languages: [en, de], max_examples: 3}}
variants:
  seq: {{phases.0.order: permutations}}
  mixed: {{phases.0.order: interleaved, phases.0.sampler: {{type: temperature, temperature: 2}}}}
"""


@pytest.fixture(scope="module")
def study_runs(one_torch_thread, tmp_path_factory, tiny_model_dir, tiny_data_writer):
    """The three runs of the study, run once for the tests of this module."""
    root = tmp_path_factory.mktemp("study")
    data_dir = tiny_data_writer(root / "data")
    config = root / "study.yaml"
    config.write_text(STUDY.format(model=tiny_model_dir, out=root / "runs", data=data_dir), encoding="utf-8")
    runs = {cfg.name: run_experiment(cfg) for cfg in load_experiments(config)}
    return root, config, runs


def test_study_runs_every_order_at_one_budget(study_runs):
    root, _, runs = study_runs
    assert list(runs) == ["study-seq-mnli-qqp", "study-seq-qqp-mnli", "study-mixed"]
    for name in runs:
        saved = yaml.safe_load((root / "runs" / name / "config.yaml").read_text())
        stages = [p for p in saved["phases"] if p["stage_of"] == "inter"]
        assert sum(p["budget"] for p in stages) == 10  # the budget is split, not multiplied
        assert [p["budget"] for p in stages] == ([5, 5] if "seq" in name else [10])
        trained = [p for p in runs[name]["phases"].values() if p["kind"] == "train"]
        assert sum(p["examples_seen"] for p in trained) == 10


def _visited(summary: dict) -> list[str]:
    """The task of every batch, in training order across the run's phases."""
    return [task for phase in summary["phases"].values() if phase["kind"] == "train"
            for task, batches in phase["task_sequence"] for _ in range(batches)]


def test_sequential_curricula_visit_tasks_in_the_configured_order(study_runs):
    _, _, runs = study_runs
    assert list(runs["study-seq-mnli-qqp"]["phases"]) == ["inter-1-mnli", "inter-2-qqp"]
    assert _visited(runs["study-seq-mnli-qqp"]) == ["mnli"] * 3 + ["qqp"] * 3
    assert _visited(runs["study-seq-qqp-mnli"]) == ["qqp"] * 3 + ["mnli"] * 3
    stage = runs["study-seq-qqp-mnli"]["phases"]["inter-1-qqp"]
    assert stage["tasks"]["qqp"]["examples"] == 5 and stage["optimizer_steps"] == 3  # 2 + 2 + 1


def test_interleaved_curriculum_draws_by_its_sampler(study_runs):
    _, _, runs = study_runs
    mixed = runs["study-mixed"]["phases"]["inter"]
    tasks = mixed["tasks"]
    assert [tasks[t]["pool"] for t in ("mnli", "qqp")] == [24, 8]
    assert tasks["mnli"]["probability"] == pytest.approx(math.sqrt(24) / (math.sqrt(24) + math.sqrt(8)), abs=1e-6)
    assert tasks["mnli"]["batches"] + tasks["qqp"]["batches"] == 5
    assert tasks["mnli"]["examples"] + tasks["qqp"]["examples"] == 10
    assert len(set(_visited(runs["study-mixed"]))) == 2  # both tasks drawn: interleaved


def test_curves_show_transfer_and_forgetting_after_each_stage(study_runs):
    root, _, _ = study_runs
    points = json.loads((root / "runs" / "study-seq-qqp-mnli" / "curves.json").read_text())
    assert [(p["phase"], p["run_examples_seen"]) for p in points] == [("inter-1-qqp", 5), ("inter-2-mnli", 10)]
    after_qqp, after_mnli = points
    assert after_qqp["dev"]["mnli"] is None and after_qqp["zero_shot_average"] is None  # no NLI head yet
    assert after_qqp["dev"]["qqp"] is not None
    assert after_mnli["dev"]["qqp"] is not None  # QQP still scored after MNLI: forgetting
    assert set(after_mnli["zero_shot"]) == {"en", "de"} and after_mnli["zero_shot_average"] is not None
    forward = json.loads((root / "runs" / "study-seq-mnli-qqp" / "curves.json").read_text())
    assert forward[1]["zero_shot"]["de"] is not None  # XNLI after QQP followed MNLI: transfer kept or lost


def test_interrupted_curriculum_resumes_at_the_right_stage(study_runs, monkeypatch):
    root, config, runs = study_runs
    # Checkpoints after every step (not a setting that changes results).
    overrides = ["name=killed", "phases.0.checkpoint_every=1"]
    killed = next(c for c in load_experiments(config, overrides) if c.name == "killed-seq-mnli-qqp")
    undo = kill_after_checkpoint(monkeypatch, lambda r: r.cfg.name == "inter-2-qqp" and r.state.optimizer_steps == 2)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(killed)
    run = root / "runs" / "killed-seq-mnli-qqp"
    assert (run / "inter-1-mnli" / "DONE").is_file() and not (run / "inter-2-qqp" / "DONE").exists()
    first_stage = (run / "inter-1-mnli" / "model" / "heads.safetensors").stat().st_mtime_ns

    undo()
    resumed = run_experiment(killed)
    assert (run / "inter-1-mnli" / "model" / "heads.safetensors").stat().st_mtime_ns == first_stage  # not rerun
    reference = runs["study-seq-mnli-qqp"]
    for stage in ("inter-1-mnli", "inter-2-qqp"):
        for key in ("task_sequence", "final_train_loss", "best_dev_score", "transfer_curve", "examples_seen"):
            assert resumed["phases"][stage][key] == reference["phases"][stage][key], (stage, key)
    losses = [r["loss"] for r in json.loads((run / "inter-2-qqp" / "curve.json").read_text()) if "loss" in r]
    reference_run = root / "runs" / "study-seq-mnli-qqp"
    assert losses == [r["loss"] for r in json.loads((reference_run / "inter-2-qqp" / "curve.json").read_text())
                      if "loss" in r]
