"""Helpers the robustness tests share: the test dictionaries, the tiny encoder with heads, and
a finished-looking run to attack."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from xstilts.data.registry import get_task
from xstilts.io import write_json_atomic
from xstilts.models.multitask import build_model, save_model

DICTIONARIES = Path(__file__).resolve().parents[2] / "assets" / "dictionaries"


def tiny_model(tiny_model_dir: Path, seed: int):
    """The tiny encoder with NLI and COPA heads, initialised from `seed`."""
    torch.manual_seed(seed)
    model, tokenizer = build_model(str(tiny_model_dir))
    model.ensure_head(get_task("xnli"))
    model.ensure_head(get_task("xcopa"))
    model.eval()
    return model, tokenizer


def make_run(root: Path, tiny_model_dir: Path, seed: int) -> Path:
    """runs/<name> as the pipeline leaves it, as far as `xstilts attack` reads it."""
    model, tokenizer = tiny_model(tiny_model_dir, seed)
    save_model(model, tokenizer, root / "target" / "model")
    write_json_atomic(root / "metrics.json", {
        "name": root.name, "config": {"seed": 42, "max_length": 32},
        "phases": {"intermediate": {"kind": "train"}, "target": {"kind": "train"},
                   "zero-shot": {"kind": "evaluate"}},
    })
    return root


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
