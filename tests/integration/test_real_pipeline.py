"""End to end on the real built-in encoder: the demo config, and real XNLI/MNLI files.

Slow-ish (about two minutes together on 2 CPU cores); marked `integration`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from xstilts.config import load_config
from xstilts.data.loading import DataSettings, load_examples
from xstilts.data.registry import get_task
from xstilts.training.pipeline import run_experiment

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_demo_config_learns_and_transfers(tmp_path):
    """`make demo` end to end: every demo language is scored, English well above chance."""
    cfg = load_config(REPO / "configs" / "demo.yaml", [f"output_dir={tmp_path}"])
    summary = run_experiment(cfg)
    zero = summary["phases"]["zero-shot"]
    assert set(zero["languages"]) == {"en", "de", "ru", "ar", "hi", "sw", "zh"}
    assert all(s["n"] == 60 for s in zero["languages"].values())
    assert zero["languages"]["en"]["accuracy"] > 0.45  # chance is 1/3
    assert zero["zero_shot_average"]["accuracy"] > 0.40
    assert summary["phases"]["target"]["best_dev_score"] > 0.45
    assert summary["phases"]["intermediate"]["best_dev_score"] > 0.75  # the sentiment phase learns (chance 0.5)
    _matches_published_demo(zero)


# The published demo numbers (docs/results.json, written by `make results` from a run of
# configs/demo.yaml) must regenerate. One machine gives the same numbers for the same seed and
# data; another CPU may round differently and flip a few of the 60 test pairs of a language:
# allowed are 5 points per language (3 pairs) and 2 points on the averages.
PER_LANGUAGE_TOLERANCE = 5.0
AVERAGE_TOLERANCE = 2.0


def _matches_published_demo(zero: dict) -> None:
    published = json.loads((REPO / "docs" / "results.json").read_text(encoding="utf-8"))["demo"]
    assert published is not None, "docs/results.json has no demo run: run configs/demo.yaml, then make results"
    expected = published["phases"]["zero-shot"]
    for lang, accuracy in expected["languages"].items():
        assert abs(100 * zero["languages"][lang]["accuracy"] - 100 * accuracy) <= PER_LANGUAGE_TOLERANCE, lang
    assert abs(100 * zero["average"]["accuracy"] - 100 * expected["average"]) <= AVERAGE_TOLERANCE
    assert abs(100 * zero["zero_shot_average"]["accuracy"] - 100 * expected["zero_shot_average"]) <= AVERAGE_TOLERANCE


def test_every_xnli_language_loads_from_the_real_files(shared_data_dir):
    settings = DataSettings(dir=shared_data_dir)
    spec = get_task("xnli")
    for lang in spec.languages:
        examples, report = load_examples(spec, "dev", lang, settings)
        assert len(examples) == 2490 and not report.skipped
        assert [sum(e.label == k for e in examples) for k in range(3)] == [830, 830, 830]


def test_real_mnli_to_xnli_pipeline_runs(tmp_path, shared_data_dir):
    config = tmp_path / "c.yaml"
    config.write_text(f"""
name: tiny-real
output_dir: {tmp_path / 'runs'}
phases:
  - {{name: target, task: xnli, max_examples: 64, batch_size: 16, lr: 1.0e-4,
      freeze_embeddings: true, dev_max_examples: 32}}
  - {{name: zero-shot, kind: evaluate, task: xnli, languages: [en, sw, zh], max_examples: 40}}
""")
    summary = run_experiment(load_config(config, data_dir=shared_data_dir))
    zero = summary["phases"]["zero-shot"]
    assert [s["n"] for s in zero["languages"].values()] == [40, 40, 40]
    run = tmp_path / "runs" / "tiny-real"
    en = [json.loads(line)["id"] for line in (run / "zero-shot/predictions/xnli/dev-en.jsonl").read_text().splitlines()]
    zh = [json.loads(line)["id"] for line in (run / "zero-shot/predictions/xnli/dev-zh.jsonl").read_text().splitlines()]
    # The same rows (line numbers) are scored in every language: parallel files, one seed.
    assert [i.rsplit(":", 1)[1] for i in en] == [i.rsplit(":", 1)[1] for i in zh]
    assert summary["phases"]["target"]["train_examples"] == 64


def test_pretrained_encoder_retrieves_translations_of_real_xnli_premises(tmp_path, shared_data_dir):
    """Retrieval on the real encoder with no training: XNLI's parallel premises as a Tatoeba set.
    multilingual-e5 was trained for retrieval, so German translations are found far above the
    1/100 chance of a 100-sentence pool."""
    subprocess.run([sys.executable, str(REPO / "scripts" / "xnli_bitext.py"), "--data-dir", str(shared_data_dir),
                    "--out", str(tmp_path / "data"), "--pairs", "100"], check=True)
    lines = (tmp_path / "data" / "tatoeba" / "test-de.tsv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 100 and lines[0].endswith("\tAnd he said, Mama, I'm home.")
    config = tmp_path / "r.yaml"
    config.write_text(f"""
name: retrieval
output_dir: {tmp_path / 'runs'}
phases:
  - {{name: retrieval, kind: evaluate, task: tatoeba, split: test, languages: [de, sw]}}
""")
    summary = run_experiment(load_config(config, data_dir=tmp_path / "data"))
    scores = summary["phases"]["retrieval"]["languages"]
    assert scores["de"]["n"] == 100 and scores["de"]["accuracy"] > 0.8
    assert scores["sw"]["accuracy"] > 0.2
