"""scripts/results.py: published tables regenerate from finished runs of the shipped configs,
each with the commit, command, machine and date its run recorded."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from experiment_files import experiment_config
from xstilts.config import load_config
from xstilts.errors import XstiltsError
from xstilts.training.pipeline import run_experiment

REPO = Path(__file__).resolve().parents[2]
PHASES = """\
  - {name: target, task: xnli, epochs: 1, batch_size: 4, lr: 1.0e-3, dev_max_examples: 0}
  - {name: zero-shot, kind: evaluate, task: xnli, languages: [en, de]}
"""


def _script():
    spec = importlib.util.spec_from_file_location("results_script", REPO / "scripts" / "results.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_published(tmp_path_factory, tiny_model_dir, tiny_data_writer):
    root = tmp_path_factory.mktemp("results")
    data = tiny_data_writer(root / "data")
    config = experiment_config(root, "tiny", tiny_model_dir, data, PHASES)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XSTILTS_CACHE", str(root / "cache"))
        summary = run_experiment(load_config(config))
    return root, config, summary


@pytest.mark.usefixtures("one_torch_thread")
def test_tables_carry_the_numbers_and_what_made_them(tiny_published, monkeypatch):
    root, config, summary = tiny_published
    results = _script()
    monkeypatch.setattr(results, "PUBLISHED", (results.Published("tiny", str(config), "Tiny", ("A note.",)),))
    out = root / "docs" / "results.md"
    assert results.main(["--runs", str(root / "runs"), "--out", str(out)]) == 0
    markdown = out.read_text()
    de = summary["phases"]["zero-shot"]["languages"]["de"]
    assert f"| accuracy | {100 * summary['phases']['zero-shot']['languages']['en']['accuracy']:.1f} | " \
           f"{100 * de['accuracy']:.1f} |" in markdown
    made = summary["provenance"]
    assert made["machine"]["cores"] == os.cpu_count() and made["wall_seconds"] > 0
    assert f"- commit: `{made['commit']}`" in markdown and f"{os.cpu_count()} cores" in markdown
    assert f"command: `{made['command']}`" in markdown and made["started"][:10] in markdown
    assert "A note." in markdown
    numbers = json.loads(out.with_suffix(".json").read_text())
    assert numbers["tiny"]["phases"]["zero-shot"]["languages"]["de"] == de["accuracy"]
    # --check: up to date now, stale after a hand edit.
    assert results.main(["--runs", str(root / "runs"), "--out", str(out), "--check"]) == 0
    out.write_text(markdown.replace("| accuracy |", "| accuracy (edited) |"))
    assert results.main(["--runs", str(root / "runs"), "--out", str(out), "--check"]) == 1


@pytest.mark.usefixtures("one_torch_thread")
def test_runs_of_another_config_are_refused(tiny_published, monkeypatch):
    root, config, _ = tiny_published
    results = _script()
    changed = config.with_name("changed.yaml")
    changed.write_text(config.read_text().replace("lr: 1.0e-3", "lr: 2.0e-3"))
    monkeypatch.setattr(results, "PUBLISHED", (results.Published("tiny", str(changed), "Tiny"),))
    with pytest.raises(XstiltsError, match=r"not a run of .*changed.yaml as shipped \(differs at: phases\)"):
        results.build(root / "runs")
    monkeypatch.setattr(results, "PUBLISHED", (results.Published("tiny", str(config), "Tiny"),))
    with pytest.raises(XstiltsError, match="missing; make the run first"):
        results.build(root / "elsewhere")
    markdown, numbers = results.build(root / "elsewhere", strict=False)
    assert "Not measured yet: no finished run of" in markdown and numbers == {"tiny": None}


@pytest.mark.usefixtures("one_torch_thread")
def test_the_seeds_table_reads_each_seed_run_and_refuses_another_config(tiny_published, monkeypatch):
    root, config, summary = tiny_published
    results = _script()
    monkeypatch.setattr(results, "PUBLISHED", (results.Published("tiny", str(config), "Tiny", more_seeds=(8,)),))
    with pytest.raises(XstiltsError, match=r"tiny-seed8/metrics.json: missing; make the run first: xstilts run "
                                           r".*tiny.yaml --set seed=8 --set name=tiny-seed8"):
        results.build(root / "runs")
    markdown, _ = results.build(root / "runs", strict=False)
    assert "Not measured yet: seed(s) 8" in markdown
    # The seed run: the shipped config with only its seed and name changed.
    monkeypatch.setenv("XSTILTS_CACHE", str(root / "cache"))
    seeded = load_config(config).model_copy(update={"seed": 8, "name": "tiny-seed8"})
    second = run_experiment(seeded)
    markdown, numbers = results.build(root / "runs")
    first_de, second_de = (s["phases"]["zero-shot"]["zero_shot_average"]["accuracy"] for s in (summary, second))
    assert numbers["tiny"]["seeds"]["zero-shot"] == {"3": first_de, "8": second_de}
    assert f"| 8 | `tiny-seed8` | {100 * second_de:.1f}" in markdown
    assert f"| mean of 2 | | {100 * (first_de + second_de) / 2:.1f} |" in markdown
    # A seed run with anything else changed is not this config's.
    other = load_config(config).model_copy(update={"seed": 9, "name": "tiny-seed9", "max_length": 24})
    run_experiment(other)
    monkeypatch.setattr(results, "PUBLISHED", (results.Published("tiny", str(config), "Tiny", more_seeds=(9,)),))
    with pytest.raises(XstiltsError, match=r"tiny-seed9: not a run of .*tiny.yaml as shipped \(differs at: max_length\); "
                                           r"rerun it: xstilts run .*--set seed=9 --set name=tiny-seed9 --force"):
        results.build(root / "runs")
