"""keep_models: which trained models a finished run keeps, and the one line a command gets
when it needs a model that was not kept."""

from __future__ import annotations

import pytest

from experiment_files import experiment_config
from xstilts.config import load_config
from xstilts.errors import XstiltsError
from xstilts.models.multitask import load_model
from xstilts.robustness.attack import latest_model_dir
from xstilts.training.pipeline import run_experiment

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PHASES = """  - {name: intermediate, task: sst2, epochs: 1, batch_size: 4, dev_max_examples: 0}
  - {name: target, task: xnli, epochs: 1, batch_size: 8, dev_max_examples: 0}
  - {name: zero-shot, kind: evaluate, task: xnli, languages: [en, de]}"""


def test_final_keeps_the_last_model_and_a_phase_may_keep_its_own(tmp_path, tiny_model_dir, tiny_data_dir):
    path = experiment_config(tmp_path, "keep", tiny_model_dir, tiny_data_dir, PHASES)
    run_experiment(load_config(path, ["keep_models=final"]))
    run = tmp_path / "runs" / "keep"
    assert load_model(latest_model_dir(run))  # the final model: eval and attack still work
    assert not (run / "intermediate" / "model").exists()
    with pytest.raises(XstiltsError, match=r"^\S+/keep/intermediate/model: model not kept \(keep_models: final in "
                                           r"\S+/keep/config.yaml\); rerun with keep_models: all"):
        load_model(run / "intermediate" / "model")

    path = experiment_config(tmp_path, "none", tiny_model_dir, tiny_data_dir, PHASES)
    run_experiment(load_config(path, ["keep_models=none", "phases.0.keep_model=true"]))
    run = tmp_path / "runs" / "none"
    assert load_model(run / "intermediate" / "model")
    with pytest.raises(XstiltsError, match=r"target/model: model not kept \(keep_models: none in"):
        load_model(latest_model_dir(run))
    # A finished run that kept nothing is still finished: a rerun skips every phase.
    assert run_experiment(load_config(path, ["keep_models=none", "phases.0.keep_model=true"]))["phases"]["zero-shot"]
