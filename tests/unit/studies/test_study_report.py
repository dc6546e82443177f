"""The study report: every number in it is computed from the runs (effects, intervals,
confidences, scores, sizes from configs); untestable claims say why."""

from __future__ import annotations

import json
import re

import pytest

from study_files import classification_rows, planted, runs_by_levels, write_run, write_study
from xstilts.studies.plan import plan_study
from xstilts.studies.report import build_study_report
from xstilts.studies.verify import verify_study
from xstilts.training.pipeline import resolved_config

CLAIMS = """\
  - id: mnli-helps
    type: difference
    statement: MNLI intermediate training improves XNLI
    source: {reference: paper, where: Table 2}
    a: {levels: {intermediate: mnli}}
    b: {levels: {intermediate: none}}
    measure: {task: xnli}
    expect: {direction: increase, size: 12, tolerance: 4}
  - id: hellaswag-helps
    type: difference
    statement: HellaSwag intermediate training improves XNLI
    source: {reference: paper}
    a: {levels: {intermediate: mnli}}
    b: {levels: {intermediate: none}}
    measure: {task: xnli}
    expect: {direction: increase}
"""
AXES = """\
        intermediate: {none: {phases.0.lr: 0.0001}, mnli: {phases.0.lr: 0.0002}}"""


@pytest.fixture()
def report(tmp_path):
    path = write_study(tmp_path, CLAIMS, AXES, untestable="{hellaswag-helps: HellaSwag is not in the offline data}")
    for (level,), run in runs_by_levels(path).items():
        right = {"none": 140, "mnli": 173}[level]
        write_run(run, {lang: classification_rows(planted(300, right, 7 * i + len(level)), lang)
                        for i, lang in enumerate(("en", "de", "sw"))})
    verification = verify_study(plan_study(path), n_boot=400)
    page = build_study_report(verification, tmp_path / "report")
    return verification, page


def _computed_numbers(verification) -> set[str]:
    """Every number the report may print, formatted as it prints them."""
    numbers: set[float] = {verification.n_boot, verification.seed, 95, len(verification.results),
                           len(verification.finished), len(verification.plan.runs)}
    for r in verification.results:
        numbers |= {v for v in (r.effect, *(r.ci or ()), r.confidence) if v is not None}
        for c in r.conditions:
            numbers |= {*c.points.values(), c.average()[0], *c.seeds, *c.unit_counts.values(), len(c.runs)}
    for run in verification.finished.values():
        for evaluation in run.evaluations:
            scores = [100 * s[m] for s in evaluation.scores.values() for m in s]
            zero_shot = [100 * evaluation.scores[lang][evaluation.metrics[0]] for lang in evaluation.zero_shot_languages()]
            numbers |= {*scores, sum(zero_shot) / len(zero_shot)}
    # Besides: the resolved configs, and what the study file says (citations, statements).
    written = [json.dumps(resolved_config(run.config)) for run in verification.plan.runs]
    written.append(verification.plan.study.model_dump_json())
    out = {x for text in written for x in re.findall(r"\d+(?:\.\d+)?(?:e-?\d+)?", text)}
    numbers |= {float(x) for x in out if "e" not in x}
    for value in numbers:
        out |= {f"{value:.1f}", f"{value:.2f}", f"{value:+.2f}", f"{abs(value):.2f}", str(value)}
        if float(value).is_integer():
            out.add(str(int(value)))
    return out


def test_every_number_in_the_report_is_computed(report):
    verification, page = report
    markdown = page.with_suffix(".md").read_text(encoding="utf-8")
    # Numbers outside names (run names such as fake-mnli, file names, the decision rule's 2·min).
    text = re.sub(r"\]\([^)]*\)", "", markdown)
    # The provenance section (last) holds recorded facts, dates and versions: checked in the next test.
    text = text[:text.index("## Provenance")]
    found = re.findall(r"(?<![\w.\u2212-])[+\u2212-]?\d+(?:\.\d+)?(?:e-?\d+)?(?![\w.]\w)", text)
    allowed = _computed_numbers(verification)
    strays = sorted({n for n in found if n.replace("\u2212", "-").lstrip("+") not in allowed
                     and n.replace("\u2212", "-") not in allowed})
    assert strays == [], strays
    assert "+11.00" in markdown  # the planted effect: 33 of 300 more right, in de and sw


def test_the_report_has_its_sections(report):
    verification, page = report
    html = page.read_text(encoding="utf-8")
    for title in ("Abstract", "Research question", "Methodology", "Claims", "Claim mnli-helps", "Results per run",
                  "Limitations", "References", "Provenance"):
        assert f"<h2>{title}</h2>" in html
    result = verification.results[0]
    assert result.verdict == "supported"
    assert f"MNLI intermediate training improves XNLI: supported (effect {result.effect:+.2f} [" in html
    assert "Untestable here: hellaswag-helps (HellaSwag is not in the offline data)" in html
    assert "a substituted model" in html  # the setup's notes are limitations
    assert "Conditions with a single run (seed): intermediate=mnli; intermediate=none." in html
    assert "<td>increase of +12 \u00b1 4</td>" in html
    assert "xnli: 300 examples per language" in html
    assert "[paper] Someone et al. 2020. A paper. arXiv:0000.00000" in html
    assert "data:image/png;base64," in html
    verdicts = json.loads((page.parent / "verdicts.json").read_text(encoding="utf-8"))
    assert [c["verdict"] for c in verdicts["claims"]] == ["supported", "untestable-here"]
    made = verdicts["provenance"]
    assert {r["run"] for r in made["runs"]} == {r.name for r in verification.plan.unique_runs if r.run_dir.name in
                                                 verification.finished}
    assert f"at commit {made['commit']}" in html and made["date"] in html


def test_the_report_names_the_data_folder_not_where_it_sits(tmp_path):
    path = write_study(tmp_path, CLAIMS, AXES)
    plan = plan_study(path, data_dir=tmp_path / "on-this-machine" / "shared-data")
    for run in plan.runs:
        write_run(run, {lang: classification_rows(planted(300, 150, i), lang) for i, lang in enumerate(("en", "de"))})
    markdown = build_study_report(verify_study(plan, n_boot=200), tmp_path / "report").with_suffix(".md").read_text(
        encoding="utf-8")
    assert "data: local files in a folder named shared-data." in markdown
    assert "on-this-machine" not in markdown
