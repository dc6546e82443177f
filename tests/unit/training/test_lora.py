"""LoRA phases through peft: only the adapters and heads train; the saved model is a plain
encoder with the adapter merged in, plus the adapter alone."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from experiment_files import experiment_config
from xstilts.config import load_config
from xstilts.errors import XstiltsError
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
