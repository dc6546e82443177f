"""Finished runs as the analysis sees them.

- `load_run`: one zero-shot evaluation per run with per-example correctness (accuracy tasks),
  for `report` and `compare`.
- `load_run_results`: every evaluate phase of a run, every metric per language, and its
  per-example prediction rows and `xstilts attack` results, read on demand: what a study's
  claims are measured on, for every metric (QA, tagging and retrieval too; see units.py).
  `RunResults` is the interface a results store fills in as well as a run folder.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xstilts.analysis.units import Units, example_units
from xstilts.errors import XstiltsError
from xstilts.io import read_json, read_jsonl
from xstilts.metrics.degenerate import PredictorCheck, check_records
from xstilts.store.results import ResultsStore
from xstilts.store.rows import phase_label

# Config keys that do not change what a run measures: runs differing only in these (and the
# seed) are repetitions of one setting.
BOOKKEEPING_KEYS = ("name", "seed", "output_dir", "data", "log_with", "keep_models")
STORE_PREFIX = "store:"  # a run named by the results store instead of by its folder


@dataclass(frozen=True)
class LanguageResult:
    score: float  # the phase's metric as metrics.json has it (0..1)
    correct: np.ndarray  # 0/1 per example, in file order
    labels: tuple[str, ...]  # gold labels in the same order (identifies parallel test sets)
    chance: float  # accuracy of guessing: 1 / number of classes (or choices)
    check: PredictorCheck  # one-class or chance-level predictions? (its chance also counts the most frequent label)


@dataclass(frozen=True)
class RunResult:
    name: str
    directory: Path
    config: dict
    phase: str
    task: str
    split: str
    source_language: str
    languages: dict[str, LanguageResult]

    @property
    def seed(self) -> int:
        return self.config["seed"]

    @property
    def model(self) -> str:
        """The encoder, with the number of layers kept when the run cut it."""
        layers = self.config.get("encoder_layers")
        return f"{self.config['model']} ({layers} layers)" if layers else self.config["model"]

    @property
    def training(self) -> str:
        """The train phases before this evaluation, e.g. 'mnli → xnli'."""
        return " → ".join(phase_label(p) for p in self._train_phases()) or "none"

    @property
    def intermediate(self) -> str:
        """Train phases before the last one (the intermediate tasks), or 'none'."""
        return " → ".join(phase_label(p) for p in self._train_phases()[:-1]) or "none"

    @property
    def setting(self) -> str:
        """What the run measures, equal for repetitions of one setting: the config without
        bookkeeping keys (seed included), phase names, or options left empty (None, so that runs
        from before the schema gained an option still match)."""
        phases = [{k: v for k, v in p.items() if v is not None and k != "name"} for p in self.config["phases"]]
        kept = {k: v for k, v in self.config.items() if k not in BOOKKEEPING_KEYS and v is not None}
        return json.dumps({**kept, "phases": phases}, sort_keys=True)

    def zero_shot_average(self) -> float:
        return float(np.mean([r.score for lang, r in self.languages.items() if lang != self.source_language]))

    def degenerate(self) -> dict[str, str]:
        """Language -> what is wrong with its predictions (one class, chance level), for the
        languages where something is."""
        return {lang: verdict for lang, r in self.languages.items() if (verdict := r.check.verdict())}

    def _train_phases(self) -> list[dict]:
        phases = self.config["phases"]
        until = next(i for i, p in enumerate(phases) if p["name"] == self.phase)
        return [p for p in phases[:until] if p.get("kind", "train") != "evaluate"]


def resolve_run_dirs(refs: list[Path | str], store: Path) -> list[Path]:
    """Run folders from the command line: a folder as it is, `store:RUN` (a run id, a prefix of
    one, or a run name) as the folder the results store recorded for that run."""
    out = []
    for ref in refs:
        text = str(ref)
        if not text.startswith(STORE_PREFIX):
            out.append(Path(ref))
            continue
        run_dir = ResultsStore(store).run_dir(text[len(STORE_PREFIX):])
        if not (run_dir / "metrics.json").is_file():
            raise XstiltsError(f"{text}: the run folder {run_dir} that {store} records is gone; the analysis "
                               "reads its per-example predictions (copy the run folder back, or rerun it)")
        out.append(run_dir)
    return out


def load_run(run_dir: Path, phase: str | None = None) -> RunResult:
    """A finished run's zero-shot evaluation: `phase`, or its last evaluate phase scoring more
    than one language."""
    run_dir = Path(run_dir)
    summary = _read_summary(run_dir)
    metrics_file = run_dir / "metrics.json"
    try:
        evaluations = {n: p for n, p in summary["phases"].items() if p["kind"] == "evaluate"}
    except (KeyError, TypeError, AttributeError):
        raise XstiltsError(f"{metrics_file}: no 'phases' with a 'kind' each; not a metrics.json `xstilts run` wrote") from None
    if phase is None:
        several = [n for n, p in evaluations.items() if len(p["languages"]) > 1]
        if not several:
            raise XstiltsError(f"{metrics_file}: no evaluate phase with more than one language to analyse")
        phase = several[-1]
    elif phase not in evaluations:
        raise XstiltsError(f"{metrics_file}: no evaluate phase '{phase}'; evaluate phases: "
                           f"{', '.join(evaluations) or 'none'}")
    result = evaluations[phase]
    if "accuracy" not in result["average"]:
        raise XstiltsError(f"{metrics_file}: phase '{phase}' has no accuracy; the analysis bootstraps "
                           f"accuracy (this phase has: {', '.join(result['average'])})")
    if result["source_language"] not in result["languages"]:
        # Retrieval tasks (Tatoeba) pair each language with English and score no English of their own.
        raise XstiltsError(f"{metrics_file}: phase '{phase}' has no score in its source language "
                           f"'{result['source_language']}' (it scored {', '.join(result['languages'])}); "
                           "the analysis measures transfer gaps from the source language")
    languages = {}
    for lang, scores in result["languages"].items():
        path = run_dir / phase / "predictions" / result["task"] / f"{result['split']}-{lang}.jsonl"
        rows = _read_predictions(path)
        if not {"label", "prediction", "probabilities"} <= rows[0].keys():
            raise XstiltsError(f"{path}:1: rows have no label, prediction and probabilities; the analysis "
                               "bootstraps the correctness of classification and multiple-choice predictions")
        languages[lang] = LanguageResult(
            score=scores["accuracy"],
            correct=np.array([r["label"] == r["prediction"] for r in rows], dtype=np.float64),
            labels=tuple(r["label"] for r in rows),
            chance=1 / len(rows[0]["probabilities"]),
            check=check_records(rows),
        )
    return RunResult(name=summary["name"], directory=run_dir, config=summary["config"], phase=phase,
                     task=result["task"], split=result["split"], source_language=result["source_language"],
                     languages=languages)


def _read_summary(run_dir: Path) -> dict:
    metrics_file = run_dir / "metrics.json"
    if not metrics_file.is_file():
        raise XstiltsError(f"{run_dir}: no metrics.json; expected a finished run directory (runs/<name>/)")
    summary = read_json(metrics_file, "a finished run's metrics.json (rerun the same `xstilts run` to rewrite it)")
    if not isinstance(summary, dict):
        raise XstiltsError(f"{metrics_file}: no 'phases' with a 'kind' each; not a metrics.json `xstilts run` wrote")
    return summary


@dataclass(frozen=True)
class Evaluation:
    """One evaluate phase of a run: a task and split scored in some languages."""

    phase: str
    task: str
    split: str
    source_language: str
    metrics: tuple[str, ...]  # the task's metrics, its first one the headline
    scores: dict[str, dict[str, float]]  # language -> metric -> value (0..1) as metrics.json has it

    @property
    def languages(self) -> list[str]:
        return list(self.scores)

    def zero_shot_languages(self) -> list[str]:
        """Every scored language but the training language (all of them for retrieval tasks,
        which score no English of their own)."""
        return [lang for lang in self.scores if lang != self.source_language]


@dataclass(frozen=True)
class RunResults:
    """A finished run: its resolved config, every evaluation, and on demand the per-example
    prediction rows (runs/<run>/<phase>/predictions/<task>/<split>-<lang>.jsonl) and the
    attacks saved in it (runs/<run>/attack/<name>/results.json)."""

    name: str
    directory: Path
    config: dict
    evaluations: tuple[Evaluation, ...]
    provenance: dict = field(default_factory=dict)  # commit, command, machine and times of its making

    @property
    def seed(self) -> int:
        return self.config["seed"]

    def evaluation(self, task: str, phase: str | None = None) -> Evaluation | None:
        """The evaluation of `task` (in `phase`, or the run's last one of that task)."""
        found = [e for e in self.evaluations if e.task == task and phase in (None, e.phase)]
        return found[-1] if found else None

    def predictions_file(self, evaluation: Evaluation, lang: str) -> Path:
        return self.directory / evaluation.phase / "predictions" / evaluation.task / f"{evaluation.split}-{lang}.jsonl"

    def units(self, evaluation: Evaluation, lang: str, metric: str) -> Units:
        path = self.predictions_file(evaluation, lang)
        return example_units(metric, _read_predictions(path), lang, path)

    def not_learned(self, evaluation: Evaluation, metric: str) -> str | None:
        """What shows the model did not learn the evaluated task, in its source language (where it
        was trained): one class or chance-level accuracy, or a score of 0 (a tagger that finds no
        entity, a reader that gets no answer right); None when it learned, or when the source
        language is not scored (retrieval scores the encoder: nothing was trained for it)."""
        lang = evaluation.source_language
        if lang not in evaluation.scores:
            return None
        path = self.predictions_file(evaluation, lang)
        rows = _read_predictions(path)
        check = check_records(rows) if metric == "accuracy" else None
        if check is not None:
            verdict = check.verdict()
            return f"{lang} {verdict}" if verdict else None
        return f"{lang} {metric} 0" if example_units(metric, rows, lang, path).score() == 0 else None

    def attacks(self) -> dict[str, dict]:
        """Attack folder name -> its results.json, for every `xstilts attack` saved in the run."""
        return {path.parent.name: json.loads(path.read_text(encoding="utf-8"))
                for path in sorted(self.directory.glob("attack/*/results.json"))}

    def attack_rows(self, attack: str, task: str, perturbation: str, lang: str) -> list[dict]:
        """An attack's rows for one perturbation and language: label, clean_prediction, prediction."""
        return _read_predictions(self.directory / "attack" / attack / "predictions" / task / perturbation / f"{lang}.jsonl")


def load_run_results(run_dir: Path) -> RunResults:
    """Every evaluate phase of a finished run (metrics.json), prediction rows read on demand."""
    run_dir = Path(run_dir)
    summary = _read_summary(run_dir)
    evaluations = []
    for phase, result in summary["phases"].items():
        if result["kind"] != "evaluate":
            continue
        scores = {lang: {k: float(v) for k, v in values.items() if isinstance(v, (int, float)) and k in result["average"]}
                  for lang, values in result["languages"].items()}
        evaluations.append(Evaluation(phase, result["task"], result["split"], result["source_language"],
                                      tuple(result["average"]), scores))
    return RunResults(summary["name"], run_dir, summary["config"], tuple(evaluations), summary.get("provenance", {}))


def _read_predictions(path: Path) -> list[dict]:
    if not path.is_file():
        raise XstiltsError(f"{path}: predictions file missing; the analysis bootstraps over per-example "
                           "predictions (rerun the evaluation to write them)")
    rows = read_jsonl(path, "a predictions file of `xstilts run` (rerun the evaluation to rewrite it)")
    if not rows:
        raise XstiltsError(f"{path}: no predictions in the file (rerun the evaluation to write them)")
    return rows


@dataclass(frozen=True)
class RunGroup:
    """Runs of one setting (differing only in seed); a single run is a group of one."""

    label: str
    runs: tuple[RunResult, ...]

    @property
    def first(self) -> RunResult:
        return self.runs[0]


def group_by_setting(runs: list[RunResult]) -> list[RunGroup]:
    """Runs grouped by setting, in the order first seen; labelled by run name, or by the
    names' common prefix when a setting has several seeds."""
    settings: dict[str, list[RunResult]] = {}
    for run in runs:
        settings.setdefault(run.setting, []).append(run)
    groups = []
    for members in settings.values():
        if len(members) == 1:
            label = members[0].name
        else:
            # "xlmr-base-seed1", "xlmr-base-seed2" -> "xlmr-base (2 seeds)"
            prefix = re.sub(r"[-_.]+(seed|s)?$", "", _common_prefix([r.name for r in members]))
            label = f"{prefix or members[0].name} ({len(members)} seeds)"
        groups.append(RunGroup(label, tuple(members)))
    return groups


def _common_prefix(names: list[str]) -> str:
    shortest = min(names, key=len)
    for i, char in enumerate(shortest):
        if any(name[i] != char for name in names):
            return shortest[:i]
    return shortest
