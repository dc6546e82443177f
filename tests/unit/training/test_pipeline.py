"""The three-phase pipeline on a tiny random encoder: outputs, determinism, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiment_files import kill_after_checkpoint, write_config
from xstilts.config import load_config
from xstilts.training import train_phase
from xstilts.training.pipeline import run_experiment

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _config(tmp_path: Path, model_dir: Path, data_dir: Path, name: str = "tiny", extra: str = "") -> Path:
    # Each run trains every phase itself (no copy of a sibling run's): these tests compare runs.
    return write_config(tmp_path / f"{name}.yaml", f"""
name: {name}
model: {model_dir}
seed: 7
reuse_phases: false
max_length: 32
output_dir: {tmp_path / 'runs'}
data: {{dir: {data_dir}}}
phases:
  - {{name: intermediate, task: sst2, epochs: 2, batch_size: 2, lr: 1.0e-3, checkpoint_every: 1}}
  - {{name: target, task: xnli, epochs: 2, batch_size: 4, lr: 1.0e-3, checkpoint_every: 2{extra}}}
  - {{name: zero-shot, kind: evaluate, task: xnli, languages: all_present}}
""".replace("all_present", "[en, de]"))


def test_three_phases_write_results(tmp_path, tiny_model_dir, tiny_data_dir):
    summary = run_experiment(load_config(_config(tmp_path, tiny_model_dir, tiny_data_dir)))
    run = tmp_path / "runs" / "tiny"
    for phase in ("intermediate", "target", "zero-shot"):
        assert (run / phase / "DONE").is_file()
    assert not (run / "target" / "checkpoint").exists()  # removed once the phase is done
    zero = summary["phases"]["zero-shot"]
    assert set(zero["languages"]) == {"en", "de"}
    assert zero["languages"]["de"]["n"] == 3
    preds = (run / "zero-shot" / "predictions" / "xnli" / "dev-de.jsonl").read_text().splitlines()
    assert len(preds) == 3 and json.loads(preds[0])["label"] == "entailment"
    curve = json.loads((run / "target" / "curve.json").read_text())
    assert [r["step"] for r in curve if "loss" in r] == list(range(1, 13))  # 24 examples / 4 x 2 epochs
    assert json.loads((run / "metrics.json").read_text())["task_versions"] == {"sst2": 1, "xnli": 1}
    assert "| de |" in (run / "summary.md").read_text()


def _scores(summary: dict) -> dict:
    phases = summary["phases"]
    return {
        "dev": phases["target"]["best_dev_score"],
        "losses": [r["loss"] for r in json.loads(Path(summary["_run"], "target", "curve.json").read_text()) if "loss" in r],
        "zero": {lang: s["accuracy"] for lang, s in phases["zero-shot"]["languages"].items()},
        "probs": Path(summary["_run"], "zero-shot", "predictions", "xnli", "dev-de.jsonl").read_text(),
    }


def _run(tmp_path, model_dir, data_dir, name, extra=""):
    cfg = load_config(_config(tmp_path, model_dir, data_dir, name, extra))
    summary = run_experiment(cfg)
    summary["_run"] = str(cfg.output_dir / cfg.name)
    return summary


def test_same_seed_same_metrics(tmp_path, tiny_model_dir, tiny_data_dir):
    first = _scores(_run(tmp_path, tiny_model_dir, tiny_data_dir, "a"))
    second = _scores(_run(tmp_path, tiny_model_dir, tiny_data_dir, "b"))
    assert first == second


@pytest.mark.parametrize("accumulate", [1, 2])
def test_killed_run_resumes_to_identical_metrics(tmp_path, tiny_model_dir, tiny_data_dir, monkeypatch, accumulate):
    extra = f", grad_accum_steps: {accumulate}, eval_every: 1"
    reference = _scores(_run(tmp_path, tiny_model_dir, tiny_data_dir, "whole", extra))

    # Crash the target phase right after its second checkpoint (mid-epoch 1 of 2).
    real_save = train_phase.TrainPhaseRunner._save_checkpoint
    calls = {"n": 0}

    def crashing_save(self):
        real_save(self)
        if self.cfg.name == "target":
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(train_phase.TrainPhaseRunner, "_save_checkpoint", crashing_save)
    config = _config(tmp_path, tiny_model_dir, tiny_data_dir, "killed", extra)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(load_config(config))
    run = tmp_path / "runs" / "killed"
    assert (run / "intermediate" / "DONE").is_file()
    assert not (run / "target" / "DONE").exists()
    state = json.loads((run / "target" / "checkpoint" / "trainer_state.json").read_text())
    assert state["optimizer_steps"] == 4
    intermediate_model = (run / "intermediate" / "model" / "heads.safetensors").stat().st_mtime_ns

    monkeypatch.setattr(train_phase.TrainPhaseRunner, "_save_checkpoint", real_save)
    resumed = run_experiment(load_config(config))
    resumed["_run"] = str(run)
    assert (run / "intermediate" / "model" / "heads.safetensors").stat().st_mtime_ns == intermediate_model
    assert _scores(resumed) == reference


def test_rerun_with_changed_config_is_refused(tmp_path, tiny_model_dir, tiny_data_dir):
    from xstilts.errors import XstiltsError

    _run(tmp_path, tiny_model_dir, tiny_data_dir, "same")
    cfg = load_config(_config(tmp_path, tiny_model_dir, tiny_data_dir, "same"), ["seed=8"])
    with pytest.raises(XstiltsError, match="different config.*seed.*--force"):
        run_experiment(cfg)


def _single_phase(tmp_path, model_dir, data_dir, name, phase, extra_top=""):
    return write_config(tmp_path / f"{name}.yaml", f"""
name: {name}
model: {model_dir}
max_length: 32
output_dir: {tmp_path / 'runs'}
data: {{dir: {data_dir}}}
{extra_top}
phases:
  - {phase}
""")


def test_patience_stops_early_when_dev_does_not_improve(tmp_path, tiny_model_dir, tiny_data_dir):
    phase = "{name: target, task: xnli, epochs: 3, batch_size: 4, lr: 1.0e-12, eval_every: 1, patience: 2}"
    summary = run_experiment(load_config(_single_phase(tmp_path, tiny_model_dir, tiny_data_dir, "p", phase)))
    target = summary["phases"]["target"]
    assert target["stopped_early"] and target["optimizer_steps"] == 3  # best at 1, no gain at 2, 3
    assert target["best_step"] == 1


def test_frozen_embeddings_stay_unchanged(tmp_path, tiny_model_dir, tiny_data_dir):
    from safetensors.torch import load_file

    phase = "{name: target, task: xnli, batch_size: 4, lr: 1.0e-2, freeze_embeddings: true}"
    run_experiment(load_config(_single_phase(tmp_path, tiny_model_dir, tiny_data_dir, "f", phase)))
    before = load_file(tiny_model_dir / "model.safetensors")
    after = load_file(tmp_path / "runs" / "f" / "target" / "model" / "encoder" / "model.safetensors")
    word = next(k for k in before if k.endswith("word_embeddings.weight"))
    assert (before[word] == after[word]).all()
    dense = next(k for k in before if k.endswith("layer.0.attention.self.query.weight"))
    assert not (before[dense] == after[dense]).all()


def test_bf16_autocast_path_runs_on_cpu(tmp_path, tiny_model_dir, tiny_data_dir):
    phase = "{name: target, task: xnli, batch_size: 4, lr: 1.0e-3}"
    config = _single_phase(tmp_path, tiny_model_dir, tiny_data_dir, "bf", phase, "mixed_precision: bf16")
    summary = run_experiment(load_config(config))
    assert summary["phases"]["target"]["final_train_loss"] > 0


def test_missing_tracker_package_is_named(tmp_path, tiny_model_dir, tiny_data_dir, monkeypatch):
    from xstilts.errors import XstiltsError
    from xstilts.training import pipeline

    monkeypatch.setattr(pipeline, "_tracker_available", lambda name: False)
    phase = "{name: target, task: xnli}"
    config = _single_phase(tmp_path, tiny_model_dir, tiny_data_dir, "tb", phase, "log_with: [tensorboard]")
    with pytest.raises(XstiltsError, match="log_with: tensorboard needs the 'tensorboard' package"):
        run_experiment(load_config(config))


MULTITASK = """
name: {name}
model: {model}
seed: 5
max_length: 32
reuse_phases: false  # the killed run must train its phase, not copy the reference's
output_dir: {out}
data: {{dir: {data}}}
phases:
  - name: mixed
    kind: multitask
    tasks:
      - {{task: mnli, train_languages: [en, de], translated_dir: {translated}}}  # translate-train, mixed
      - qqp
    sampler: {{type: proportional}}
    budget: 20
    batch_size: 2
    grad_accum_steps: 2  # each optimizer step sums two batches, each of its own drawn task
    lr: 1.0e-3
    eval_every: 1
    dev_max_examples: 2
    checkpoint_every: 1
    mlm: {{files: ["{data}/xnli/dev-de.tsv"], tsv_columns: [0, 1], batch_size: 2, weight: 0.5}}
"""


def test_killed_multitask_phase_resumes_to_identical_training(tmp_path, tiny_mlm_model_dir, tiny_data_dir, monkeypatch):
    # The tiny German XNLI rows serve as translated MNLI training data.
    translated = tmp_path / "translated"
    (translated / "mnli").mkdir(parents=True)
    german = [line.split("\t") for line in (tiny_data_dir / "xnli" / "dev-de.tsv").read_text().splitlines()]
    rows = {str(i): {"text_a": a, "text_b": b, "label": c} for i, (a, b, c) in enumerate(german)}
    (translated / "mnli" / "train-de.json").write_text(json.dumps(rows), encoding="utf-8")

    def run(name: str) -> tuple[dict, list[dict]]:
        config = write_config(tmp_path / f"{name}.yaml", MULTITASK.format(
            name=name, model=tiny_mlm_model_dir, out=tmp_path / "runs", data=tiny_data_dir, translated=translated))
        summary = run_experiment(load_config(config))
        curve = json.loads((tmp_path / "runs" / name / "mixed" / "curve.json").read_text())
        return summary["phases"]["mixed"], [{k: v for k, v in row.items() if k != "seconds"} for row in curve]

    reference, reference_curve = run("whole")
    assert reference["tasks"]["mnli"]["pool"] == 24 + 3 and reference["tasks"]["mnli"]["train_languages"] == ["en", "de"]
    assert "train-de.json" in reference["train_source"]
    assert reference["tasks"]["mnli"]["probability"] == pytest.approx(27 / 39, abs=1e-6)
    assert reference["mlm"] == {"sentences": 5, "batches": 10, "head": "initialised"}  # 2 distinct premises + 3 hypotheses
    assert reference["examples_seen"] == 20 and reference["optimizer_steps"] == 5
    assert {t for row in reference_curve for t in row.get("tasks", [])} == {"mnli", "qqp"}
    assert all(len(row["tasks"]) == 2 and row["mlm_loss"] > 0 for row in reference_curve if "loss" in row)

    undo = kill_after_checkpoint(monkeypatch, lambda r: r.state.optimizer_steps == 2)
    with pytest.raises(KeyboardInterrupt):
        run("killed")
    state = json.loads((tmp_path / "runs" / "killed" / "mixed" / "checkpoint" / "trainer_state.json").read_text())
    assert state["batches_done"] == 4 and sum(state["task_batches"].values()) == 4 and state["mlm_batches"] == 4
    undo()
    resumed, resumed_curve = run("killed")
    assert resumed_curve == reference_curve  # losses, MLM losses, drawn tasks, learning rates, dev scores
    for key in ("tasks", "task_sequence", "best_dev_score", "best_step", "mlm"):
        assert resumed[key] == reference[key], key
