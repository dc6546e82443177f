"""`xstilts compare`: accuracies per language and on average, differences from the baseline
with 95% intervals (paired bootstrap for one seed, t-interval across seeds), significance."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from xstilts.analysis.compare import compare_runs
from xstilts.errors import XstiltsError

REPO = Path(__file__).resolve().parents[3]
EN_BASE = [1] * 40 + [0] * 20  # 40 of 60 right
DE_BASE = [1, 0] * 30  # 30 of 60 right
EN_BETTER = [1] * 50 + [0] * 10  # the same 40 and 10 more


def test_one_seed_paired_bootstrap(make_run):
    base = make_run("seq-mnli-qqp", {"en": EN_BASE, "de": DE_BASE}, intermediate="mnli")
    other = make_run("interleaved", {"en": EN_BETTER, "de": DE_BASE}, intermediate="qqp")
    result = compare_runs([base, other], n_boot=1000)
    assert result.rows == ["en", "de", "average, all languages", "zero-shot average"]
    assert result.scores["seq-mnli-qqp"]["en"] == pytest.approx(200 / 3)
    en, de = result.differences["interleaved"]["en"], result.differences["interleaved"]["de"]
    assert en.value == pytest.approx(50 / 3) and en.significant and 5 < en.ci_low < en.value < en.ci_high < 30
    # Same items, same outcomes: a paired bootstrap resamples both runs alike, so no spread at all.
    assert (de.value, de.ci_low, de.ci_high, de.significant) == (0, 0, 0, False)
    average = result.differences["interleaved"]["average, all languages"]
    assert average.value == pytest.approx(25 / 3) and average.ci_low == pytest.approx(en.ci_low / 2)
    assert result.differences["interleaved"]["zero-shot average"] == de  # German only
    assert "paired bootstrap" in result.method


def test_examples_are_matched_by_id_not_by_line(make_run):
    base = make_run("a", {"en": EN_BASE, "de": DE_BASE}, intermediate="mnli")
    other = make_run("b", {"en": EN_BETTER, "de": DE_BASE}, intermediate="qqp")
    expected = compare_runs([base, other], n_boot=500).differences["b"]["en"]
    predictions = other / "zero-shot" / "predictions" / "xnli" / "dev-en.jsonl"
    lines = predictions.read_text().splitlines()
    predictions.write_text("\n".join(lines[::-1]) + "\n")
    assert compare_runs([base, other], n_boot=500).differences["b"]["en"] == expected


def test_several_seeds_give_a_paired_t_interval(make_run):
    accuracies = {"a": [30, 33, 36], "b": [36, 37, 44]}  # items right of 60, seeds 1..3
    dirs = [make_run(f"{name}-seed{seed}", {"en": 60, "de": k}, intermediate=name, seed=seed)
            for name, ks in accuracies.items() for seed, k in zip((1, 2, 3), ks)]
    result = compare_runs(dirs)
    assert [len(g.runs) for g in result.groups] == [3, 3]
    other = result.groups[1].label
    diffs = [100 * (b - a) / 60 for a, b in zip(accuracies["a"], accuracies["b"])]  # 10, 6.67, 13.33 points
    mean = sum(diffs) / 3
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 2)
    half = 4.302652729911275 * sd / math.sqrt(3)  # t(0.975, 2 df)
    de = result.differences[other]["de"]
    assert (de.value, de.ci_low, de.ci_high) == pytest.approx((mean, mean - half, mean + half))
    assert de.significant and result.method == "t-interval across seeds"
    en = result.differences[other]["en"]
    assert (en.value, en.ci_low, en.ci_high, en.significant) == (0, 0, 0, False)  # identical seeds: no spread


def test_compare_needs_two_settings(make_run):
    first = make_run("a-seed1", {"en": 30, "de": 20}, intermediate="mnli", seed=1)
    second = make_run("a-seed2", {"en": 31, "de": 20}, intermediate="mnli", seed=2)
    with pytest.raises(XstiltsError, match="all runs share one setting"):
        compare_runs([first, second])
    with pytest.raises(XstiltsError, match="given twice"):
        compare_runs([first, first])


def test_cli_prints_the_table_and_writes_markdown(make_run, tmp_path):
    base = make_run("order-seq", {"en": EN_BASE, "de": DE_BASE}, intermediate="mnli")
    other = make_run("order-mixed", {"en": EN_BETTER, "de": DE_BASE}, intermediate="qqp")
    out = tmp_path / "compare.md"
    result = subprocess.run([sys.executable, "-m", "xstilts.cli", "compare", str(base), str(other), "--out", str(out),
                             "--bootstrap", "200"], cwd=REPO, capture_output=True, text=True, timeout=300,
                            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    assert "+16.7 [" in result.stdout and "*" in result.stdout
    markdown = out.read_text()
    assert "| language | seq | mixed | Δ mixed |" in markdown  # the shared "order-" left out
    assert "| en | 66.7 | 83.3 | +16.7 [" in markdown and "order-seq: mnli → xnli" in markdown
    assert json.loads((base / "metrics.json").read_text())["name"] == "order-seq"
