"""A training phase identical to a finished phase of a sibling run is copied, not trained again;
anything that changes its result (a setting, an earlier phase) makes it train."""

from __future__ import annotations

import json

import pytest

from experiment_files import experiment_config
from xstilts.config import load_config
from xstilts.training import train_phase
from xstilts.training.phase_reuse import PHASE_ID
from xstilts.training.pipeline import run_experiment

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PHASES = """  - {name: intermediate, task: sst2, epochs: 1, batch_size: 4, dev_max_examples: 0}
  - {name: target, task: TARGET, epochs: 1, batch_size: 8, dev_max_examples: 0}
  - {name: zero-shot, kind: evaluate, task: xnli, languages: [en, de]}"""


@pytest.fixture
def trained_phases(monkeypatch) -> list[str]:
    """The names of the phases trained (not copied) in this test, in order."""
    trained: list[str] = []
    real_run = train_phase.TrainPhaseRunner.run

    def run(self):
        trained.append(self.cfg.name)
        return real_run(self)

    monkeypatch.setattr(train_phase.TrainPhaseRunner, "run", run)
    return trained


def _run(tmp_path, model, data, name, target="xnli", overrides=()):
    path = experiment_config(tmp_path, name, model, data, PHASES.replace("TARGET", target))
    return run_experiment(load_config(path, list(overrides)))


def test_shared_intermediate_phase_is_copied_from_the_finished_run(tmp_path, tiny_model_dir, tiny_data_dir, trained_phases):
    _run(tmp_path, tiny_model_dir, tiny_data_dir, "first")
    second = _run(tmp_path, tiny_model_dir, tiny_data_dir, "second", overrides=["phases.1.lr=1e-3"])
    assert trained_phases == ["intermediate", "target", "target"]
    runs = tmp_path / "runs"
    source, copy = runs / "first" / "intermediate", runs / "second" / "intermediate"
    for weights in ("model/heads.safetensors", "model/encoder/model.safetensors", PHASE_ID):
        assert (copy / weights).read_bytes() == (source / weights).read_bytes()
    assert second["phases"]["intermediate"]["reused_from"] == str(source)
    assert json.loads((copy / "metrics.json").read_text())["reused_from"] == str(source)
    # The targets differ (another lr): each trained its own, from the same intermediate model.
    assert (runs / "first" / "target" / PHASE_ID).read_text() != (runs / "second" / "target" / PHASE_ID).read_text()


def test_a_change_before_or_in_the_phase_trains_it(tmp_path, tiny_model_dir, tiny_data_dir, trained_phases):
    _run(tmp_path, tiny_model_dir, tiny_data_dir, "first")
    _run(tmp_path, tiny_model_dir, tiny_data_dir, "seed", overrides=["seed=4"])
    _run(tmp_path, tiny_model_dir, tiny_data_dir, "lr", overrides=["phases.0.lr=1e-3"])
    _run(tmp_path, tiny_model_dir, tiny_data_dir, "no-copy", overrides=["reuse_phases=false"])
    assert trained_phases == ["intermediate", "target"] * 4


def test_an_evaluation_added_after_the_phases_does_not_stop_their_reuse(tmp_path, tiny_model_dir, tiny_data_dir,
                                                                          trained_phases):
    _run(tmp_path, tiny_model_dir, tiny_data_dir, "first")
    path = experiment_config(tmp_path, "more", tiny_model_dir, tiny_data_dir, PHASES.replace("TARGET", "xnli") + """
  - {name: matched, kind: evaluate, task: mnli, split: dev, languages: [en]}""")
    more = run_experiment(load_config(path))
    assert trained_phases == ["intermediate", "target"]  # the run with a task more copied both
    assert more["phases"]["target"]["reused_from"].endswith("first/target")


def test_a_run_identical_but_for_its_name_copies_every_phase(tmp_path, tiny_model_dir, tiny_data_dir, trained_phases):
    first = _run(tmp_path, tiny_model_dir, tiny_data_dir, "first")
    twin = _run(tmp_path, tiny_model_dir, tiny_data_dir, "twin")
    assert trained_phases == ["intermediate", "target"]
    assert twin["phases"]["zero-shot"]["languages"] == first["phases"]["zero-shot"]["languages"]
