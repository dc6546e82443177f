"""Experiment configs: defaults, overrides, data dir resolution, and one-line errors."""

from __future__ import annotations

import pytest

from xstilts.config import DATA_DIR_ENV, EvaluatePhase, TrainPhase, load_config
from xstilts.errors import XstiltsError

GOOD = """
name: exp
phases:
  - {name: target, task: xnli}
  - {name: zero-shot, kind: evaluate, task: xnli, languages: [de, sw]}
"""


@pytest.fixture()
def config_file(tmp_path):
    def write(text: str = GOOD):
        path = tmp_path / "exp.yaml"
        path.write_text(text, encoding="utf-8")
        return path
    return write


def test_defaults_and_phase_kinds(config_file, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    cfg = load_config(config_file())
    assert cfg.model == "builtin:multilingual-e5-small" and cfg.seed == 42 and cfg.data.dir is None
    assert isinstance(cfg.phases[0], TrainPhase) and isinstance(cfg.phases[1], EvaluatePhase)


def test_overrides_reach_nested_keys_and_list_items(config_file):
    cfg = load_config(config_file(), ["seed=3", "phases.0.lr=1e-4", "data.bad_rows=skip"])
    assert cfg.seed == 3 and cfg.phases[0].lr == 1e-4 and cfg.data.bad_rows == "skip"


def test_bad_override_index_is_named(config_file):
    with pytest.raises(XstiltsError, match=r"--set phases.5.lr: '5' is not an index of a list of 2"):
        load_config(config_file(), ["phases.5.lr=1"])


def test_data_dir_flag_beats_environment(config_file, monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_DIR_ENV, "/from/env")
    assert str(load_config(config_file()).data.dir) == "/from/env"
    assert load_config(config_file(), data_dir=tmp_path).data.dir == tmp_path


@pytest.mark.parametrize("text,message", [
    (GOOD.replace("task: xnli}", "task: xnli, epocs: 2}", 1),
     r"exp.yaml: unknown key 'phases.0.epocs'. Did you mean 'epochs'\? Allowed here: .*batch_size"),
    (GOOD.replace("name: exp", "name: exp\nmodle: x"), r"unknown key 'modle'. Did you mean 'model'\?"),
    (GOOD.replace("task: xnli}", "task: xnli, lr: fast}", 1),
     r"exp.yaml: phases.0.lr: Input should be a valid number.*\(got 'fast'\)"),
    (GOOD.replace("kind: evaluate", "kind: evalute"), r"phases.1: Input tag 'evalute' .* 'train', 'evaluate'"),
    (GOOD + "  - {name: target, task: mnli}\n", r"phase names must be unique; repeated: target"),
    ("name: exp\nphases: [\n", r"exp.yaml:\d+: not valid YAML"),
])
def test_config_errors_are_one_line_with_place_and_allowed(config_file, text, message):
    with pytest.raises(XstiltsError, match=message) as err:
        load_config(config_file(text))
    assert "\n" not in str(err.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(XstiltsError, match="config file .*nope.yaml does not exist"):
        load_config(tmp_path / "nope.yaml")


# ---------------------------------------------------------------- curricula and studies

from pathlib import Path  # noqa: E402

from xstilts.config import MultiTaskPhase, load_experiments, split_budget  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

CURRICULUM = """
name: cur
phases:
  - {kind: curriculum, name: inter, tasks: TASKS, budget: 1000, lr: 1.0e-4EXTRA}
  - {name: target, task: xnli}
"""


def _curriculum(config_file, tasks: str = "[mnli, qqp, sst2]", extra: str = ""):
    return config_file(CURRICULUM.replace("TASKS", tasks).replace("EXTRA", extra))


@pytest.mark.parametrize("budget,shares,parts", [
    (1000, [1, 1, 1], [334, 333, 333]), (1200, [1, 1], [600, 600]), (10, [2, 1], [7, 3]), (5, [1, 1, 1, 1, 1], [1] * 5),
])
def test_budget_is_split_exactly(budget, shares, parts):
    assert split_budget(budget, shares) == parts and sum(parts) == budget


def test_sequential_curriculum_becomes_one_phase_per_stage_within_the_budget(config_file):
    (cfg,) = load_experiments(_curriculum(config_file, "[mnli, [qqp, sst2]]", ", shares: [3, 1], "
                                          "sampler: {type: fixed, weights: {mnli: 1, qqp: 2, sst2: 1}}"))
    first, group, target = cfg.phases
    assert (first.name, first.task, first.budget, first.lr, first.stage_of) == ("inter-1-mnli", "mnli", 750, 1e-4, "inter")
    assert isinstance(group, MultiTaskPhase) and group.name == "inter-2-qqp+sst2" and group.budget == 250
    assert group.sampler.weights == {"qqp": 2, "sst2": 1}  # the group's own tasks
    assert target.name == "target" and target.budget is None


def test_permutations_make_one_run_per_order(config_file):
    runs = load_experiments(_curriculum(config_file, "[mnli, qqp, sst2]", ", order: permutations"))
    assert [r.name for r in runs] == ["cur-mnli-qqp-sst2", "cur-mnli-sst2-qqp", "cur-qqp-mnli-sst2",
                                      "cur-qqp-sst2-mnli", "cur-sst2-mnli-qqp", "cur-sst2-qqp-mnli"]
    assert [p.task for p in runs[3].phases[:3]] == ["qqp", "sst2", "mnli"]
    short = config_file(CURRICULUM.replace("tasks: TASKS, ", "").replace("EXTRA", ", order: 'permutations([mnli, qqp])'"))
    assert [r.name for r in load_experiments(short)] == ["cur-mnli-qqp", "cur-qqp-mnli"]


def test_interleaved_curriculum_is_one_multitask_phase(config_file):
    (cfg,) = load_experiments(_curriculum(config_file, extra=", order: interleaved, "
                                          "sampler: {type: temperature, temperature: 2, cap: 5000}"))
    phase = cfg.phases[0]
    assert isinstance(phase, MultiTaskPhase) and phase.name == "inter" and phase.budget == 1000
    assert [t.task for t in phase.tasks] == ["mnli", "qqp", "sst2"] and phase.sampler.cap == 5000


def test_shipped_order_study_compares_curricula_at_one_budget():
    runs = load_experiments(REPO / "configs" / "order-study.yaml")
    assert [r.name for r in runs] == ["order-study-sequential-mnli-qqp", "order-study-sequential-qqp-mnli",
                                      "order-study-proportional", "order-study-temperature", "order-study-fused"]

    def intermediate(run):
        return [p for p in run.phases if getattr(p, "stage_of", None) == "intermediate"]

    def budgets(run):  # of the training phases (a fused curriculum's fuse phase trains nothing)
        return [p.budget for p in intermediate(run) if p.kind != "fuse"]

    assert [sum(budgets(r)) for r in runs] == [1200] * 5
    assert [budgets(r) for r in runs] == [[600, 600], [600, 600], [1200], [1200], [600, 600]]
    fused = intermediate(runs[-1])
    assert [p.kind for p in fused] == ["train", "train", "fuse"] and all(p.peft for p in fused[:2])
    # Everything but the curriculum (and the run name) is the same.
    rest = [r.model_dump(exclude={"name"}) | {"phases": r.model_dump()["phases"][len(intermediate(r)):]} for r in runs]
    assert all(other == rest[0] for other in rest[1:])


@pytest.mark.parametrize("tasks,extra,message", [
    ("[mnli, qqp]", ", order: interleaved, sampler: {type: softmax}",
     r"phases.0.sampler: Input tag 'softmax' .* 'uniform', 'proportional', 'temperature', 'fixed'"),
    ("[mnli, qqp]", ", order: interleaved, sampler: {type: temperature, temprature: 3}",
     r"unknown key 'phases.0.sampler.temprature'. Did you mean 'temperature'\? Allowed here: cap, temperature, type"),
    ("[mnli, qqp]", ", order: interleaved, sampler: {type: fixed, weights: {mnli: 1}}",
     r"sampler.weights must give one weight per task \(mnli, qqp\); missing: qqp"),
    ("[mnli, qqp]", ", shares: [1, 2, 3]", r"shares: one per stage \(2\), got 3"),
    ("[mnli, [qqp, sst2]]", ", order: interleaved", r"an interleaved curriculum takes a flat list of tasks"),
    ("[mnli, mnli]", "", r"a task appears more than once: mnli"),
    ("[mnli, {task: qqp, train_languages: [xx]}]", "", r"unknown language code\(s\) xx"),
    ("[mnli, {task: qqp, max_exampels: 3}]", "", r"unknown key 'phases.0.tasks.1.0.max_exampels'. Did you mean 'max_examples'"),
    ("[mnli, qqp]", ", order: fused", r"phases.0.curriculum: .*order: fused trains one LoRA adapter per stage .* give peft:"),
    ("[mnli, qqp]", ", fusion_weights: [1, 2]", r"fusion_weights combine the stage adapters of order: fused; .* sequential"),
    ("[mnli, qqp]", ", order: fused, peft: {r: 2}, fusion_weights: [1]", r"fusion_weights: one per stage \(2\), got 1"),
])
def test_curriculum_errors_are_one_line_with_place_and_allowed(config_file, tasks, extra, message):
    with pytest.raises(XstiltsError, match=message) as err:
        load_experiments(_curriculum(config_file, tasks, extra))
    assert "\n" not in str(err.value)


def test_study_variants_and_multi_run_files(config_file):
    study = config_file(CURRICULUM.replace("TASKS", "[mnli, qqp]").replace("EXTRA", "")
                        + "variants:\n  seq: {}\n  mixed: {phases.0.order: interleaved}\n")
    assert [r.name for r in load_experiments(study, ["seed=3"])] == ["cur-seq", "cur-mixed"]
    with pytest.raises(XstiltsError, match=r"stands for 2 runs \(cur-seq, cur-mixed\); run it with `xstilts run`"):
        load_config(study)
    bad = config_file(CURRICULUM.replace("TASKS", "[mnli]").replace("EXTRA", "") + "variants: [a, b]\n")
    with pytest.raises(XstiltsError, match=r"variants: expected a mapping of variant name -> \{dotted.key: value\}"):
        load_experiments(bad)
    typo = config_file(CURRICULUM.replace("TASKS", "[mnli]").replace("EXTRA", "") + "variants: {a: {phases.0.ordr: x}}\n")
    with pytest.raises(XstiltsError, match=r"exp.yaml \(variant a\): unknown key 'phases.0.ordr'. Did you mean 'order'"):
        load_experiments(typo)
