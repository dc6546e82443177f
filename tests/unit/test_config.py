"""Experiment configs: defaults, overrides, data dir resolution, and one-line errors."""

from __future__ import annotations

import pytest

from xstilts.config import DATA_DIR_ENV, EvaluatePhase, TrainPhase, load_config
from xstilts.errors import XstiltsError

GOOD = """
name: exp
phases:
  - {name: target, task: xnli}
  - {name: zero-shot, kind: evaluate, task: xnli, languages: [de, sw]}
"""


@pytest.fixture()
def config_file(tmp_path):
    def write(text: str = GOOD):
        path = tmp_path / "exp.yaml"
        path.write_text(text, encoding="utf-8")
        return path
    return write


def test_defaults_and_phase_kinds(config_file, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    cfg = load_config(config_file())
    assert cfg.model == "builtin:multilingual-e5-small" and cfg.seed == 42 and cfg.data.dir is None
    assert isinstance(cfg.phases[0], TrainPhase) and isinstance(cfg.phases[1], EvaluatePhase)


def test_overrides_reach_nested_keys_and_list_items(config_file):
    cfg = load_config(config_file(), ["seed=3", "phases.0.lr=1e-4", "data.bad_rows=skip"])
    assert cfg.seed == 3 and cfg.phases[0].lr == 1e-4 and cfg.data.bad_rows == "skip"


def test_bad_override_index_is_named(config_file):
    with pytest.raises(XstiltsError, match=r"--set phases.5.lr: '5' is not an index of a list of 2"):
        load_config(config_file(), ["phases.5.lr=1"])


def test_data_dir_flag_beats_environment(config_file, monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_DIR_ENV, "/from/env")
    assert str(load_config(config_file()).data.dir) == "/from/env"
    assert load_config(config_file(), data_dir=tmp_path).data.dir == tmp_path


@pytest.mark.parametrize("text,message", [
    (GOOD.replace("task: xnli}", "task: xnli, epocs: 2}", 1),
     r"exp.yaml: unknown key 'phases.0.epocs'. Did you mean 'epochs'\? Allowed here: .*batch_size"),
    (GOOD.replace("name: exp", "name: exp\nmodle: x"), r"unknown key 'modle'. Did you mean 'model'\?"),
    (GOOD.replace("task: xnli}", "task: xnli, lr: fast}", 1),
     r"exp.yaml: phases.0.lr: Input should be a valid number.*\(got 'fast'\)"),
    (GOOD.replace("kind: evaluate", "kind: evalute"), r"phases.1: Input tag 'evalute' .* 'train', 'evaluate'"),
    (GOOD + "  - {name: target, task: mnli}\n", r"phase names must be unique; repeated: target"),
    ("name: exp\nphases: [\n", r"exp.yaml:\d+: not valid YAML"),
])
def test_config_errors_are_one_line_with_place_and_allowed(config_file, text, message):
    with pytest.raises(XstiltsError, match=message) as err:
        load_config(config_file(text))
    assert "\n" not in str(err.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(XstiltsError, match="config file .*nope.yaml does not exist"):
        load_config(tmp_path / "nope.yaml")
