"""Example ids come from the data, not from how its folder was reached: runs of one config on
one data folder typed two ways (a symlink, a relative path) score the same examples, and
`xstilts compare` pairs them."""

from __future__ import annotations

import json
import os

import pytest

from experiment_files import experiment_config
from xstilts.analysis.compare import compare_runs
from xstilts.config import load_config
from xstilts.data.loading import DataSettings, load_examples
from xstilts.data.registry import get_task
from xstilts.errors import XstiltsError
from xstilts.training.pipeline import run_experiment

PHASES = """\
  - {{name: target, task: xnli, epochs: 1, batch_size: 4, lr: {lr}, dev_max_examples: 0}}
  - {{name: zero-shot, kind: evaluate, task: xnli, languages: [en, de]}}
"""


def _spellings(tmp_path, data_dir):
    """The folder through a symlink, and as a path relative to the working directory."""
    link = tmp_path / "linked-data"
    link.symlink_to(data_dir, target_is_directory=True)
    return link, os.path.relpath(data_dir, tmp_path)


def test_ids_do_not_depend_on_the_folder_spelling(tiny_data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    link, relative = _spellings(tmp_path, tiny_data_dir)
    ids = {str(d): [ex.uid for ex in load_examples(get_task("xnli"), "dev", "de", DataSettings(dir=d))[0]]
           for d in (tiny_data_dir, link, relative)}
    assert len({tuple(v) for v in ids.values()}) == 1, ids
    assert ids[str(link)][1] == "xnli/dev-de.tsv:2"
    packaged = load_examples(get_task("demo-nli"), "test", "de", DataSettings())[0]
    assert packaged[0].uid == "demo-nli/test-de.tsv:1"  # not the install path


def test_errors_still_name_the_file_as_given(tiny_data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    link, _ = _spellings(tmp_path, tiny_data_dir)
    with (tiny_data_dir / "xnli" / "dev-de.tsv").open("a", encoding="utf-8") as handle:
        handle.write("one field only\n")
    with pytest.raises(XstiltsError, match=rf"^{link}/xnli/dev-de.tsv:4: malformed row"):
        load_examples(get_task("xnli"), "dev", "de", DataSettings(dir=link))


@pytest.mark.usefixtures("one_torch_thread")
def test_compare_pairs_runs_made_through_two_spellings(tiny_data_dir, tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    link, relative = _spellings(tmp_path, tiny_data_dir)
    runs = []
    for name, data, lr in (("via-link", link, "1.0e-3"), ("via-relative", relative, "5.0e-4")):
        run_experiment(load_config(experiment_config(tmp_path, name, tiny_model_dir, data, PHASES.format(lr=lr))))
        runs.append(tmp_path / "runs" / name)
    records = [[json.loads(line)["id"] for line in
                (run / "zero-shot" / "predictions" / "xnli" / "dev-de.jsonl").read_text().splitlines()] for run in runs]
    assert records[0] == records[1] == ["xnli/dev-de.tsv:1", "xnli/dev-de.tsv:2", "xnli/dev-de.tsv:3"]
    comparison = compare_runs(runs, n_boot=200)
    assert comparison.rows[:2] == ["en", "de"]  # every language paired, none refused
