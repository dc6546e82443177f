"""The task registry: every shipped spec honours the contract; bad specs are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from xstilts.data.registry import build_registry, builtin_spec_paths, get_task, registry, resolve_languages
from xstilts.errors import XstiltsError
from xstilts.formats import get_format
from xstilts.languages import LANGUAGE_INFO

PAPER_TASKS = {"mnli", "qqp", "sst2", "xnli", "pawsx", "copa", "xcopa"}
# Phang et al.'s nine intermediate tasks, XTREME's nine targets and XTREME-R's additions.
INTERMEDIATE_TASKS = {"anli", "ccg", "commonsenseqa", "cosmosqa", "hellaswag", "mnli", "qqp", "squad_v2", "sst2"}
XTREME_TASKS = {"xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"}
XTREME_R_ADDITIONS = {"xcopa", "wikiann", "mewsli_x", "lareqa", "siqa"}


@pytest.mark.parametrize("name", sorted(registry()))
def test_every_registered_task_is_complete(name):
    spec = get_task(name)
    assert spec.metrics and spec.sources and spec.head
    assert all(lang in LANGUAGE_INFO for lang in spec.languages)
    assert get_format(spec.format) is not None
    if get_format(spec.format).has_head:
        train_spec = get_task(spec.train_task) if spec.train_task else spec
        assert any("train" in s.splits for s in train_spec.sources), "nothing to train the task's head on"
        assert train_spec.head == spec.head
    for source in spec.sources:
        if source.kind != "hub":
            assert "{split}" in source.file


def test_the_papers_and_benchmarks_tasks_are_registered():
    assert INTERMEDIATE_TASKS | XTREME_TASKS | XTREME_R_ADDITIONS <= set(registry())


def test_paper_tasks_have_local_and_hub_sources_and_xtreme_heads():
    assert PAPER_TASKS <= set(registry())
    for name in PAPER_TASKS:
        assert {s.kind for s in get_task(name).sources} == {"local", "hub"}
    assert get_task("xnli").train_task == "mnli" and get_task("xnli").head == get_task("mnli").head
    assert get_task("xcopa").train_task == "copa"
    assert get_task("pawsx").train_task is None  # trained on its own English train set


def _spec(tmp_path: Path, file: str, text: str) -> Path:
    path = tmp_path / file
    path.write_text(text, encoding="utf-8")
    return path


BASE = """
name: {name}
version: 1
description: test
format: pair_classification
labels: {labels}
inputs: {{texts: [a, b]}}
languages: [en]
head: shared
metrics: [{{name: accuracy}}]
sources: [{{kind: local, file: "x/{{split}}.tsv", splits: {{train: train}}}}]
"""


def test_duplicate_task_names_are_refused(tmp_path):
    a = _spec(tmp_path, "a.yaml", BASE.format(name="t", labels="[x, y]"))
    b = _spec(tmp_path, "b.yaml", BASE.format(name="t", labels="[x, y]"))
    with pytest.raises(XstiltsError, match=r"b.yaml: task 't' is already defined in .*a.yaml"):
        build_registry([a, b])


def test_shared_head_with_different_labels_is_refused(tmp_path):
    a = _spec(tmp_path, "a.yaml", BASE.format(name="t1", labels="[x, y]"))
    b = _spec(tmp_path, "b.yaml", BASE.format(name="t2", labels="[y, x]"))
    with pytest.raises(XstiltsError, match="head 'shared' is shared with task 't1'"):
        build_registry([a, b])


def test_invalid_spec_names_file_and_field(tmp_path):
    bad = _spec(tmp_path, "bad.yaml", BASE.format(name="t", labels="[x, y]").replace("[en]", "[en, xx]"))
    with pytest.raises(XstiltsError, match=r"bad.yaml: invalid task spec .*unknown language code\(s\) \['xx'\]"):
        build_registry([bad])


def test_builtin_specs_are_all_found():
    assert len(builtin_spec_paths()) == len(registry())


def test_unknown_task_suggests_the_nearest():
    with pytest.raises(XstiltsError, match="unknown task 'xlni'. Did you mean 'xnli'"):
        get_task("xlni")


def test_languages_all_and_unknown():
    spec = get_task("xnli")
    assert resolve_languages(spec, "all", "here") == spec.languages
    assert resolve_languages(spec, ["de", "sw"], "here") == ["de", "sw"]
    with pytest.raises(XstiltsError, match=r"phases.2.languages: task 'xnli' has no language 'ja'; allowed: all, en, ar"):
        resolve_languages(spec, ["de", "ja"], "phases.2.languages")
