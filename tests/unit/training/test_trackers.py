"""Experiment trackers through accelerate: `log_with: [wandb]` (offline here) records the
training curve of a run in the run's folder."""

from __future__ import annotations

import json
import re

import pytest

from experiment_files import experiment_config
from xstilts.config import load_config
from xstilts.training.pipeline import run_experiment

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_wandb_offline_logs_the_training_curve(tmp_path, tiny_model_dir, tiny_data_dir, monkeypatch):
    pytest.importorskip("wandb", reason="wandb is not installed (pip install 'xstilts[trackers]')")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    config = experiment_config(tmp_path, "tracked", tiny_model_dir, tiny_data_dir,
                               "  - {name: t, task: sst2, epochs: 1, batch_size: 2, eval_every: 1}")
    config.write_text("log_with: [wandb]\n" + config.read_text())
    run_experiment(load_config(config))
    (records,) = (tmp_path / "runs" / "tracked" / "wandb").glob("offline-run-*/run-*.wandb")
    data = records.read_bytes()
    curve = json.loads((tmp_path / "runs" / "tracked" / "t" / "curve.json").read_text())
    losses = [r["loss"] for r in curve if "loss" in r]
    dev_scores = [r["dev_score"] for r in curve if "dev_score" in r]
    assert len(losses) == 2 and len(dev_scores) == 2
    # History and summary items: every value logged is one of the curve's, and each is logged.
    assert set(_logged(data, "t/loss")) == set(losses)
    assert set(_logged(data, "t/dev_score")) == set(dev_scores)
    assert str(tiny_model_dir).encode() in data  # the run's config


def _logged(data: bytes, key: str) -> list[float]:
    """The values of `key` in a .wandb record file (wandb 0.31 has no Python reader for it): an
    item is the key (protobuf field 2) followed by its value as JSON (field 16)."""
    item = re.compile(rb"\x12" + re.escape(bytes([len(key)]) + key.encode()) + rb"\x82\x01(.)", re.S)
    return [json.loads(data[m.end():m.end() + m.group(1)[0]]) for m in item.finditer(data)]
