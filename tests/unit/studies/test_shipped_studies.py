"""The studies shipped in studies/: every setup expands into valid runs (tasks, languages,
phases checked as `xstilts validate` checks them), and the offline setups mark what the local
data cannot test."""

from __future__ import annotations

from pathlib import Path

import pytest

from xstilts.studies.plan import plan_study
from xstilts.training.pipeline import check_config

STUDIES = sorted((Path(__file__).resolve().parents[3] / "studies").glob("*.yaml"))


def test_the_three_studies_are_shipped():
    assert [p.stem for p in STUDIES] == ["phang2020", "rq1-typology", "rq2-order"]


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_every_setup_expands_into_valid_runs(path):
    for setup in ("offline", "gpu"):
        plan = plan_study(path, setup)
        assert len(plan.unique_runs) >= 4
        for run in plan.unique_runs:
            check_config(run.config, check_files=False)
        models = {run.config.model for run in plan.unique_runs}
        assert models == ({"builtin:multilingual-e5-small"} if setup == "offline" else
                          {"xlm-roberta-large"} | ({"xlm-roberta-base"} if path.stem == "rq1-typology" else set()))


def test_phang2020_offline_grid():
    plan = plan_study(STUDIES[0], "offline")
    assert plan.axes() == {"intermediate": ["none", "mnli", "qa"], "target": ["xnli", "mlqa", "panx", "tatoeba"],
                           "seed": ["seed1", "seed2"]}
    by_name = {run.name: run.config for run in plan.runs}
    qa_mlqa = by_name["phang2020-qa-mlqa-seed1"]
    assert [(p.name, p.task) for p in qa_mlqa.phases] == [("intermediate", "tydiqa_en"), ("target", "tydiqa_en"),
                                                          ("zero-shot", "mlqa")]
    assert [(p.name, p.task) for p in by_name["phang2020-none-tatoeba-seed2"].phases] == [("zero-shot", "tatoeba")]
    assert {"hellaswag-helps", "multitask-best", "tydiqa-improves"} <= set(plan.setup.untestable)
