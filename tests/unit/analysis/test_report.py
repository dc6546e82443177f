"""`xstilts report` on fake run directories: one self-contained HTML page plus markdown."""

from __future__ import annotations

import base64
import json
import re

import pytest

from experiment_files import xstilts_in_process
from xstilts.analysis.report import ReportOptions, build_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(tmp_path_factory, run_writer):
    # Two settings forming an intermediate x target grid; ur has no phonological data in URIEL.
    root = tmp_path_factory.mktemp("report-test")
    plain = run_writer(root, "e5-12l", {"en": 48, "de": 42, "ar": 36, "sw": 30, "ur": 33})
    mnli = run_writer(root, "e5-12l-mnli", {"en": 50, "de": 46, "ar": 41, "sw": 37, "ur": 38}, intermediate="mnli")
    _write_attack_results(plain / "attack" / "xnli" / "results.json")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XSTILTS_CACHE", str(root / "cache"))
        page = build_report([plain, mnli], root / "report", ReportOptions(n_boot=200))
    return page, page.read_text(encoding="utf-8")


def _write_attack_results(path):
    """What `xstilts attack` saves, cut to one language and one perturbation."""
    cell = {"n": 60, "clean_accuracy": 0.8, "perturbed_accuracy": 0.65, "degradation": 0.15,
            "attack_success_rate": 0.2, "relative_degradation": 0.1875, "words_changed": 0.3, "mean_queries": 0.0}
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({
        "task": "xnli", "split": "dev", "perturbations": {"char-noise": {"label_preserving": True, "uses_model": False}},
        "languages": {"en": {"n": 60, "clean_accuracy": 0.8, "perturbations": {"char-noise": cell}}},
    }), encoding="utf-8")


def test_html_is_self_contained(report):
    page, html = report
    assert page.name == "report.html"
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", html)
    assert references and all(ref.startswith("data:image/png;base64,") for ref in references)
    assert "<script" not in html and "<link" not in html and "http" not in html
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 6 + 1  # one scatter figure per distance kind, and the grid heatmap
    assert all(base64.b64decode(data).startswith(PNG_MAGIC) for data in images)


def test_html_has_the_tables(report):
    _, html = report
    # Per-language accuracy and gap: sw is 30/60 = 50.0% and 30.0 points below en (80.0%).
    assert re.search(r"<td>sw Swahili \(Bantu\)</td><td class=\"num\">50\.0</td><td class=\"num\">30\.0</td>", html)
    assert "<td class=\"group\" colspan=\"5\">Niger-Congo</td>" in html  # grouped by family
    # URIEL lacks ur's phonology: shown as n/a and reported, not filled with 0.
    ur_row = re.search(r"<tr><td>ur</td>.*?</tr>", html).group(0)
    assert ur_row.count("n/a") == 1
    assert "URIEL has no data for ur (urd); left out of the phonological fits" in html
    assert "e5-12l-mnli minus e5-12l \u2014 training: xnli vs mnli \u2192 xnli" in html
    assert "Intermediate task \u00d7 target task" in html
    assert "at chance level" not in html
    # xstilts compare's table: per language, each setting minus the first, with its interval.
    assert "<h2>xnli dev: accuracy differences from e5-12l</h2>" in html
    assert re.search(r"<td>en</td><td class=\"num\">80\.0</td><td class=\"num\">83\.3</td><td[^>]*>\+3\.3 \[", html)
    # The degradation table of the attack saved in a run.
    assert "<h2>Robustness of e5-12l: xnli dev (xnli)</h2>" in html
    assert "<th class=\"num\">char-noise</th>" in html and "<td class=\"num\">65.0 (-15.0)</td>" in html


def test_markdown_and_figure_files(report):
    page, _ = report
    markdown = (page.parent / "report.md").read_text(encoding="utf-8")
    assert "| de German (Germanic) | 70.0 | 10.0 | 76.7 | 6.7 |" in markdown
    figures = sorted(p.name for p in (page.parent / "figures").iterdir())
    assert figures == sorted([f"xnli-dev-{kind}.png" for kind in
                              ("syntactic", "genetic", "geographic", "phonological", "inventory", "featural")]
                             + ["intermediate-x-target.png"])
    assert all(f"](figures/{name})" in markdown for name in figures)
    assert (page.parent / "figures" / figures[0]).read_bytes().startswith(PNG_MAGIC)


def test_cli_reports_a_bad_run_directory_in_one_line(tmp_path):
    result = xstilts_in_process("report", str(tmp_path / "nope"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'nope'}: no metrics.json; expected a finished run directory (runs/<name>/)"]


def test_runs_the_analysis_cannot_read_are_refused_with_the_reason(make_run):
    from xstilts.analysis.runs import load_run
    from xstilts.errors import XstiltsError

    # A retrieval task (Tatoeba) scores every language against English but not English itself.
    no_source = make_run("tatoeba-like", {"de": 40, "sw": 30})
    with pytest.raises(XstiltsError, match="no score in its source language 'en' \\(it scored de, sw\\)"):
        load_run(no_source)
    # Prediction rows that are not label/prediction pairs (retrieval, QA) cannot be bootstrapped.
    other_rows = make_run("qa-like", {"en": 40, "de": 30})
    predictions = other_rows / "zero-shot" / "predictions" / "xnli" / "dev-en.jsonl"
    predictions.write_text(json.dumps({"id": "q1", "answers": ["x"], "prediction": "x"}) + "\n", encoding="utf-8")
    with pytest.raises(XstiltsError, match=f"{re.escape(str(predictions))}:1: rows have no label, prediction"):
        load_run(other_rows)
    predictions.write_text("", encoding="utf-8")
    with pytest.raises(XstiltsError, match="no predictions in the file"):
        load_run(other_rows)
