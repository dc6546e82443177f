"""LoRA phases through peft: only the adapters and heads train; the saved model is a plain
encoder with the adapter merged in, plus the adapter alone."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from experiment_files import experiment_config
from xstilts.config import load_config
from xstilts.errors import XstiltsError
from xstilts.training import train_phase
from xstilts.training.pipeline import run_experiment

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_lora_phase_trains_adapters_only(tmp_path, tiny_model_dir, tiny_data_dir):
    config = experiment_config(tmp_path, "lora", tiny_model_dir, tiny_data_dir, """
  - {name: target, task: xnli, epochs: 2, batch_size: 4, lr: 1.0e-2, peft: {r: 4, alpha: 8}}
  - {name: zero-shot, kind: evaluate, task: xnli, languages: [en, de]}""")
    summary = run_experiment(load_config(config))
    model_dir = tmp_path / "runs" / "lora" / "target" / "model"
    before = load_file(tiny_model_dir / "model.safetensors")
    after = load_file(model_dir / "encoder" / "model.safetensors")
    changed = {k for k in before if not (before[k] == after[k]).all()}
    # peft's default for BERT adapts the attention query and value projections; all else is frozen.
    assert changed and all(k.endswith(("query.weight", "value.weight")) for k in changed), changed
    adapter = load_file(model_dir / "adapter" / "adapter_model.safetensors")
    assert adapter and all("lora_" in k for k in adapter)
    peft = summary["phases"]["target"]["peft"]
    assert peft["r"] == 4 and peft["trainable_encoder_parameters"] == sum(t.numel() for t in adapter.values())
    assert peft["adapter_bytes"] < (model_dir / "encoder" / "model.safetensors").stat().st_size
    assert set(summary["phases"]["zero-shot"]["languages"]) == {"en", "de"}
    heads = json.loads((model_dir / "heads.json").read_text())["heads"]
    assert set(heads) == {"nli"}


def test_lora_config_errors(tmp_path, tiny_model_dir, tiny_data_dir):
    config = experiment_config(tmp_path, "bad", tiny_model_dir, tiny_data_dir,
                               "  - {name: t, task: sst2, peft: {r: 4, target_modules: [nope]}}")
    with pytest.raises(XstiltsError, match=r"phases.0.peft.target_modules: "):
        run_experiment(load_config(config))
    config.write_text(config.read_text().replace("r: 4, target_modules: [nope]", "r: 0"))
    with pytest.raises(XstiltsError, match=r"phases.0.peft.r"):
        load_config(config)


def test_killed_lora_phase_resumes_to_identical_training(tmp_path, tiny_model_dir, tiny_data_dir, monkeypatch):
    phases = """
  - {name: target, task: xnli, epochs: 2, batch_size: 4, lr: 1.0e-2, checkpoint_every: 2, eval_every: 3,
     peft: {r: 4, alpha: 8, dropout: 0.1}}
  - {name: zero-shot, kind: evaluate, task: xnli, languages: [de]}"""

    def run(name):
        # reuse_phases off: the killed run must train its phase, not copy the reference's.
        config = experiment_config(tmp_path, name, tiny_model_dir, tiny_data_dir, phases)
        summary = run_experiment(load_config(config, ["reuse_phases=false"]))
        curve = json.loads((tmp_path / "runs" / name / "target" / "curve.json").read_text())
        return summary["phases"]["zero-shot"]["languages"], [{k: v for k, v in r.items() if k != "seconds"}
                                                             for r in curve]

    reference = run("whole")
    real_save = train_phase.TrainPhaseRunner._save_checkpoint
    calls = {"n": 0}

    def crashing_save(self):
        real_save(self)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(train_phase.TrainPhaseRunner, "_save_checkpoint", crashing_save)
    with pytest.raises(KeyboardInterrupt):
        run("killed")
    monkeypatch.setattr(train_phase.TrainPhaseRunner, "_save_checkpoint", real_save)
    assert run("killed") == reference
