"""Fixtures for the robustness tests (helpers in robustness_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from robustness_helpers import DICTIONARIES, make_run, tiny_model

from xstilts.data.registry import get_task
from xstilts.robustness.dictionaries import DictionaryBank, open_dictionaries
from xstilts.robustness.scoring import ModelScorer


@pytest.fixture(scope="module")
def nli_scorer(tiny_model_dir) -> ModelScorer:
    model, tokenizer = tiny_model(tiny_model_dir, seed=0)
    return ModelScorer(model, tokenizer, get_task("xnli"), max_length=32, batch_size=8)


@pytest.fixture()
def bank() -> DictionaryBank:
    lexicons, notes = open_dictionaries([DICTIONARIES])
    assert not notes
    return DictionaryBank(lexicons)


@pytest.fixture()
def tiny_run(tmp_path, tiny_model_dir) -> Path:
    return make_run(tmp_path / "runs" / "tiny", tiny_model_dir, seed=0)
