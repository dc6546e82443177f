"""Adapter recipes on peft's named adapters, on the tiny encoder: a fused curriculum (one LoRA
adapter per stage from the same start, combined into the model the target starts from), a
masked-LM-only LoRA phase (a language adapter), and language adapters swapped in per language
at evaluation (MAD-X style)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from experiment_files import experiment_config, kill_after_checkpoint
from xstilts.analysis.compare import AVERAGE, ZERO_SHOT_AVERAGE, budget_note, compare_runs
from xstilts.config import load_config, load_experiments
from xstilts.errors import XstiltsError
from xstilts.training.pipeline import run_experiment

pytestmark = pytest.mark.usefixtures("one_torch_thread")

QUERY = "encoder.layer.0.attention.self.query"

FUSED = """
  - name: inter
    kind: curriculum
    order: fused
    tasks: [mnli, {task: qqp, max_examples: 8}]
    fusion_weights: [0.7, 0.3]
    budget: 12
    batch_size: 2
    lr: 1.0e-2
    dev_max_examples: 0
    checkpoint_every: 1
    peft: {r: 2, alpha: 4}
  - {name: target, task: xnli, max_examples: 6, batch_size: 2, lr: 1.0e-3, dev_max_examples: 0}
  - {name: zero-shot, kind: evaluate, task: xnli, languages: [en, de]}"""


def _delta(adapter_dir, module: str = QUERY) -> torch.Tensor:
    """The update B @ A * alpha / r a saved LoRA adapter adds to one module's weight."""
    weights = load_file(adapter_dir / "adapter_model.safetensors")
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    a = weights[f"base_model.model.{module}.lora_A.weight"]
    b = weights[f"base_model.model.{module}.lora_B.weight"]
    return b @ a * (config["lora_alpha"] / config["r"])


def _encoder_weight(model_dir, module: str = QUERY) -> torch.Tensor:
    return load_file(model_dir / "encoder" / "model.safetensors")[f"{module}.weight"]


def test_fused_curriculum_trains_one_adapter_per_stage_and_starts_the_target_from_their_combination(
        tmp_path, tiny_model_dir, tiny_data_dir):
    summary = run_experiment(load_config(experiment_config(tmp_path, "fused", tiny_model_dir, tiny_data_dir, FUSED)))
    run = tmp_path / "runs" / "fused"
    assert list(summary["phases"]) == ["inter-1-mnli", "inter-2-qqp", "inter", "target", "zero-shot"]
    base = load_file(tiny_model_dir / "model.safetensors")[f"{QUERY}.weight"]
    stages = [run / "inter-1-mnli" / "model", run / "inter-2-qqp" / "model"]
    deltas = [_delta(stage / "adapter") for stage in stages]
    assert not torch.allclose(deltas[0], deltas[1])  # each stage trained its own adapter
    for stage, delta in zip(stages, deltas):
        # Both stages started from the pretrained encoder: the second did not stack on the first.
        assert torch.allclose(_encoder_weight(stage), base + delta, atol=1e-6)
    fused = run / "inter" / "model"
    combined = 0.7 * deltas[0] + 0.3 * deltas[1]
    assert torch.allclose(_delta(fused / "adapter"), combined, atol=1e-6)
    assert torch.allclose(_encoder_weight(fused), base + combined, atol=1e-6)
    for stage in stages:
        assert not torch.allclose(_encoder_weight(fused), _encoder_weight(stage), atol=1e-4)
    assert set(json.loads((fused / "heads.json").read_text())["heads"]) == {"nli", "qqp"}
    assert summary["phases"]["inter"]["stages"] == {"inter-1-mnli": 0.7, "inter-2-qqp": 0.3}
    # The target phase starts from the fused model: the NLI head the MNLI stage trained, and
    # a budget split across the stages as in a sequential curriculum.
    assert [summary["phases"][s]["examples_seen"] for s in ("inter-1-mnli", "inter-2-qqp")] == [6, 6]
    assert summary["phases"]["target"]["optimizer_steps"] == 3
    assert "`inter-1-mnli` x 0.7, `inter-2-qqp` x 0.3 (cat, rank 4)" in (run / "summary.md").read_text()


def test_fused_order_needs_peft(tmp_path, tiny_model_dir, tiny_data_dir):
    config = experiment_config(tmp_path, "nopeft", tiny_model_dir, tiny_data_dir,
                               FUSED.replace("    peft: {r: 2, alpha: 4}\n", ""))
    with pytest.raises(XstiltsError, match=r"nopeft.yaml: phases\.0\.curriculum: .*order: fused .* give peft: ") as error:
        load_config(config)
    assert "\n" not in str(error.value)


def test_killed_fused_curriculum_resumes_to_identical_models(tmp_path, tiny_model_dir, tiny_data_dir, monkeypatch):
    def run(name):
        # reuse_phases off: the killed run must train its phases, not copy the reference's.
        config = experiment_config(tmp_path, name, tiny_model_dir, tiny_data_dir, FUSED)
        summary = run_experiment(load_config(config, ["reuse_phases=false"]))
        return summary, load_file(tmp_path / "runs" / name / "target" / "model" / "encoder" / "model.safetensors")

    reference, reference_weights = run("whole")
    undo = kill_after_checkpoint(monkeypatch, lambda r: r.cfg.name == "inter-2-qqp" and r.state.optimizer_steps == 2)
    with pytest.raises(KeyboardInterrupt):
        run("killed")
    killed = tmp_path / "runs" / "killed"
    assert (killed / "inter-1-mnli" / "DONE").is_file() and not (killed / "inter-2-qqp" / "DONE").exists()
    assert not (killed / "inter").exists()
    undo()
    resumed, resumed_weights = run("killed")
    assert resumed["provenance"]["skipped_phases"] == ["inter-1-mnli"]
    for stage in ("inter-1-mnli", "inter-2-qqp", "target"):
        for key in ("task_sequence", "final_train_loss", "examples_seen"):
            assert resumed["phases"][stage][key] == reference["phases"][stage][key], (stage, key)
    assert resumed["phases"]["zero-shot"]["languages"] == reference["phases"]["zero-shot"]["languages"]
    assert all(torch.equal(resumed_weights[k], reference_weights[k]) for k in reference_weights)


def _language_adapter_phase(data_dir, lang: str = "de") -> str:
    return f"""
  - name: adapter-{lang}
    mlm: {{files: ["{data_dir}/xnli/dev-{lang}.tsv"], tsv_columns: [0, 1], batch_size: 2, mlm_probability: 0.5}}
    budget: 10
    lr: 5.0e-2
    dev_max_examples: 0
    peft: {{r: 2, alpha: 4}}"""


@pytest.fixture()
def language_adapter(tmp_path, tiny_mlm_model_dir, tiny_data_dir):
    """A German LoRA adapter trained by masked LM alone on the tiny German XNLI premises and
    hypotheses, and the run's summary."""
    config = experiment_config(tmp_path, "lang", tiny_mlm_model_dir, tiny_data_dir, _language_adapter_phase(tiny_data_dir))
    summary = run_experiment(load_config(config))
    return tmp_path / "runs" / "lang" / "adapter-de" / "model", summary


def test_masked_lm_lora_phase_trains_only_the_adapter(language_adapter, tiny_mlm_model_dir):
    model_dir, summary = language_adapter
    phase = summary["phases"]["adapter-de"]
    # 5 distinct sentences (2 premises, 3 hypotheses); a budget of 10 sentences in batches of 2.
    assert phase["task"] == "mlm" and phase["tasks"] == {} and phase["examples_seen"] == 10
    assert phase["mlm"]["sentences"] == 5 and phase["mlm"]["batches"] == 5 and phase["optimizer_steps"] == 5
    assert phase["final_mlm_loss"] > 0 and phase["final_train_loss"] is None
    before = load_file(tiny_mlm_model_dir / "model.safetensors")
    after = load_file(model_dir / "encoder" / "model.safetensors")
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert "embeddings.word_embeddings.weight" not in changed  # the embeddings MLM predicts stay frozen
    assert changed and all(k.endswith(("query.weight", "value.weight")) for k in changed), changed
    adapter = load_file(model_dir / "adapter" / "adapter_model.safetensors")
    assert adapter and all("lora_" in k for k in adapter)
    assert phase["peft"]["trainable_encoder_parameters"] == sum(t.numel() for t in adapter.values())
    assert "masked-LM only" in (model_dir.parent.parent / "summary.md").read_text()


def _predictions(run_dir, phase: str, lang: str) -> list[dict]:
    path = run_dir / phase / "predictions" / "xnli" / f"dev-{lang}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_language_adapter_changes_only_its_language(tmp_path, tiny_mlm_model_dir, tiny_data_dir, language_adapter):
    model_dir, _ = language_adapter
    config = experiment_config(tmp_path, "madx", tiny_mlm_model_dir, tiny_data_dir, f"""
  - {{name: target, task: xnli, max_examples: 8, batch_size: 4, lr: 1.0e-2, dev_max_examples: 0, peft: {{r: 2}}}}
  - {{name: plain, kind: evaluate, task: xnli, languages: [en, de]}}
  - {{name: madx, kind: evaluate, task: xnli, languages: [en, de], language_adapters: {{de: {model_dir / 'adapter'}}}}}""")
    summary = run_experiment(load_config(config))
    run = tmp_path / "runs" / "madx"
    assert _predictions(run, "madx", "en") == _predictions(run, "plain", "en")  # no adapter listed: as it was
    plain_de, adapted_de = _predictions(run, "plain", "de"), _predictions(run, "madx", "de")
    assert [r["id"] for r in adapted_de] == [r["id"] for r in plain_de]
    assert [r["probabilities"] for r in adapted_de] != [r["probabilities"] for r in plain_de]
    assert summary["phases"]["madx"]["language_adapters"] == {"de": str(model_dir / "adapter")}
    assert "language_adapters" not in summary["phases"]["plain"]
    assert f"de `{model_dir / 'adapter'}`" in (run / "summary.md").read_text()


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")  # peft 0.21 on transformers 5
def test_language_adapter_paths_are_checked_before_the_run(tmp_path, tiny_model_dir, tiny_mlm_model_dir, tiny_data_dir,
                                                           language_adapter):
    from peft import LoraConfig, get_peft_model
    from transformers import BertConfig, BertModel

    adapter = language_adapter[0] / "adapter"
    narrow = tmp_path / "narrow-adapter"  # a LoRA adapter of a BERT of another width
    get_peft_model(BertModel(BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                        intermediate_size=32)), LoraConfig(r=2)).save_pretrained(narrow)
    cases = {
        tmp_path / "missing": r"language_adapters\.de: .*missing is not a saved peft adapter",
        tiny_model_dir: r"language_adapters\.de: .* is not a saved peft adapter",
        narrow: r"language_adapters\.de: .*adapts 'encoder\.layer\.0\.attention\.self\.query' .*another architecture",
    }
    for path, message in cases.items():
        config = experiment_config(tmp_path, "bad", tiny_mlm_model_dir, tiny_data_dir, f"""
  - {{name: target, task: xnli, max_examples: 4, dev_max_examples: 0}}
  - {{name: madx, kind: evaluate, task: xnli, languages: [en, de], language_adapters: {{de: {path}}}}}""")
        with pytest.raises(XstiltsError, match=r"^phases\.1\." + message) as error:
            run_experiment(load_config(config))
        assert "\n" not in str(error.value)
        assert not (tmp_path / "runs" / "bad" / "target").exists()  # refused before any training
    config = experiment_config(tmp_path, "bad", tiny_mlm_model_dir, tiny_data_dir, f"""
  - {{name: target, task: xnli, max_examples: 4, dev_max_examples: 0}}
  - {{name: madx, kind: evaluate, task: xnli, languages: [en], language_adapters: {{de: {adapter}}}}}""")
    with pytest.raises(XstiltsError, match=r"phases\.1\.language_adapters\.de: 'de' is not among the languages"):
        run_experiment(load_config(config))


def test_compare_treats_a_fused_curriculum_as_another_order(tmp_path, tiny_model_dir, tiny_data_dir):
    study = experiment_config(tmp_path, "order", tiny_model_dir, tiny_data_dir, FUSED.replace(
        "    fusion_weights: [0.7, 0.3]\n", "").replace("order: fused", "order: sequential")
        + "\nvariants:\n  sequential: {}\n  fused: {phases.0.order: fused}\n")
    runs = [tmp_path / "runs" / cfg.name for cfg in load_experiments(study) if run_experiment(cfg)]
    assert [run.name for run in runs] == ["order-sequential", "order-fused"]
    comparison = compare_runs(runs)
    assert comparison.training_examples == {label: 12 for label in comparison.training_examples}
    assert "(equal)" in budget_note(comparison)
    fused = comparison.groups[1].first
    assert fused.training == "mnli → qqp → fuse(inter-1-mnli+inter-2-qqp) → xnli"
    assert set(comparison.differences[comparison.groups[1].label]) == {"en", "de", AVERAGE, ZERO_SHOT_AVERAGE}


def test_phases_without_task_or_with_a_stray_fuse_are_refused_in_one_line(tmp_path, tiny_model_dir, tiny_data_dir):
    cases = {
        "  - {name: t, lr: 1.0e-3}": r"phases\.0\.train: .*a train phase needs a task, or mlm: \{files",
        f"  - {{name: t, max_examples: 3, mlm: {{files: [{tiny_data_dir}/xnli/dev-de.tsv]}}}}":
            r"phases\.0\.train: .*a masked-LM-only phase \(no task\) takes no max_examples",
        "  - {name: t, task: sst2}\n  - {name: f, kind: fuse, stages: [t], weights: [1]}":
            r"phases\.1\.stages\.0: 't' is not a LoRA \(peft\) training phase before it with fused_into: f",
        "  - {name: t, task: sst2, peft: {r: 2}, fused_into: g}":
            r"phases\.0\.fused_into: no fuse phase 'g' in this run",
    }
    for phases, message in cases.items():
        with pytest.raises(XstiltsError, match=message) as error:
            run_experiment(load_config(experiment_config(tmp_path, "bad", tiny_model_dir, tiny_data_dir, phases)))
        assert "\n" not in str(error.value)


def test_killed_masked_lm_phase_resumes_to_identical_training(tmp_path, tiny_mlm_model_dir, tiny_data_dir, monkeypatch):
    phases = _language_adapter_phase(tiny_data_dir) + "\n    checkpoint_every: 1"

    def run(name):
        config = experiment_config(tmp_path, name, tiny_mlm_model_dir, tiny_data_dir, phases)
        run_experiment(load_config(config, ["reuse_phases=false"]))  # train, do not copy the reference's phase
        curve = json.loads((tmp_path / "runs" / name / "adapter-de" / "curve.json").read_text())
        adapter = load_file(tmp_path / "runs" / name / "adapter-de" / "model" / "adapter" / "adapter_model.safetensors")
        return [{k: v for k, v in row.items() if k != "seconds"} for row in curve], adapter

    reference_curve, reference_adapter = run("whole")
    undo = kill_after_checkpoint(monkeypatch, lambda r: r.state.optimizer_steps == 3)
    with pytest.raises(KeyboardInterrupt):
        run("killed")
    state = json.loads((tmp_path / "runs" / "killed" / "adapter-de" / "checkpoint" / "trainer_state.json").read_text())
    assert state["mlm_batches"] == 3 and state["examples_seen"] == 6
    undo()
    curve, adapter = run("killed")
    assert curve == reference_curve and len(curve) == 5
    assert all(torch.equal(adapter[k], reference_adapter[k]) for k in reference_adapter)


def test_lora_task_phase_with_continued_mlm_keeps_the_embeddings(tmp_path, tiny_mlm_model_dir, tiny_data_dir):
    config = experiment_config(tmp_path, "lora-mlm", tiny_mlm_model_dir, tiny_data_dir, f"""
  - name: target
    task: sst2
    batch_size: 2
    lr: 5.0e-2
    dev_max_examples: 0
    peft: {{r: 2, alpha: 4}}
    mlm: {{files: ["{tiny_data_dir}/xnli/dev-de.tsv"], tsv_columns: [0, 1], batch_size: 2, mlm_probability: 0.5}}""")
    phase = run_experiment(load_config(config))["phases"]["target"]
    assert phase["mlm"]["batches"] == 2 and phase["final_mlm_loss"] > 0 and phase["peft"]["r"] == 2
    before = load_file(tiny_mlm_model_dir / "model.safetensors")
    after = load_file(tmp_path / "runs" / "lora-mlm" / "target" / "model" / "encoder" / "model.safetensors")
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.endswith(("query.weight", "value.weight")) for k in changed), changed
