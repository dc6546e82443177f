"""`xstilts attack`: evaluate a run's latest trained model on clean and perturbed examples of
a task in each language, and save the perturbed sets, per-example predictions and the
degradation tables.

    <out>/perturbed/            the perturbed set (see perturbed_sets.py); not written on --reuse
    <out>/predictions/<task>/<perturbation>/<lang>.jsonl   id, label, clean and perturbed prediction
    <out>/results.json          every metric per language and perturbation, skipped ones with the reason
    <out>/table.md              the tables

Each language's clean examples are scored once; each perturbation's examples are scored in
one batched pass after they are made, so a reused set is evaluated exactly like a fresh one.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch

from xstilts.console import console, progress_bar
from xstilts.data.loading import DataSettings, check_available, load_examples, select_subset
from xstilts.errors import XstiltsError
from xstilts.io import read_json, write_json_atomic, write_jsonl_atomic, write_text_atomic
from xstilts.metrics.degenerate import check_predictions
from xstilts.models.multitask import check_max_length, is_saved_model, load_model
from xstilts.robustness import perturbed_sets
from xstilts.robustness.code_switch import CodeSwitch
from xstilts.robustness.dictionaries import FREEDICT_DIR, DictionaryBank, open_dictionaries
from xstilts.robustness.metrics import degradation_metrics
from xstilts.robustness.perturbations import Perturbation, PerturbContext, Perturbed
from xstilts.robustness.perturbed_sets import PerturbedSet
from xstilts.robustness.report import render_markdown
from xstilts.robustness.scoring import ModelScorer
from xstilts.robustness.text import words
from xstilts.tasks.example import Example
from xstilts.tasks.spec import Split, TaskSpec


@dataclass
class AttackOptions:
    spec: TaskSpec  # the task perturbed, resolved by the caller ...
    languages: list[str]  # ... in these of its languages
    perturbations: list[Perturbation] = field(default_factory=list)
    split: Split = "dev"
    max_examples: int | None = None
    seed: int = 42
    max_length: int = 128
    batch_size: int = 64
    # None: the installed freedict dictionaries, if any (only read when code-switching runs).
    dictionaries: list[Path] | None = None
    data: DataSettings = field(default_factory=DataSettings)
    reuse: PerturbedSet | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))


def latest_model_dir(run_dir: Path) -> Path:
    """The model of a run's last train phase (phases in order in runs/<run>/metrics.json);
    a model directory is taken as it is."""
    run_dir = Path(run_dir)
    if is_saved_model(run_dir):
        return run_dir
    metrics_file = run_dir / "metrics.json"
    if not metrics_file.is_file():
        raise XstiltsError(f"{run_dir}: no metrics.json; give a finished run (runs/<name>) "
                           "or a model directory (runs/<name>/<phase>/model)")
    phases = read_json(metrics_file, "a finished run's metrics.json").get("phases")
    if not isinstance(phases, dict):
        raise XstiltsError(f"{metrics_file}: no 'phases'; not a metrics.json `xstilts run` wrote")
    # A fuse phase (a fused curriculum's) writes a model as a train phase does.
    trained = [name for name, phase in phases.items() if isinstance(phase, dict) and phase.get("kind") in ("train", "fuse")]
    if not trained:
        raise XstiltsError(f"{metrics_file}: the run has no train phase, so no trained model to attack")
    return run_dir / trained[-1] / "model"


def run_config(run_dir: Path) -> dict:
    """The resolved config of a run (seed, max_length, data dir), or {} for a bare model directory."""
    metrics_file = Path(run_dir) / "metrics.json"
    return read_json(metrics_file, "a finished run's metrics.json").get("config", {}) if metrics_file.is_file() else {}


def protected_words(spec: TaskSpec) -> frozenset[str]:
    """Words of the fixed questions a task appends to its inputs (COPA's "What was the
    cause?"): changing them would change the question, not perturb the example."""
    return frozenset(w.lower() for template in spec.inputs.question_templates.values() for w in words(template))


def _dictionary_bank(options: AttackOptions) -> tuple[DictionaryBank | None, list[str]]:
    if not any(isinstance(p, CodeSwitch) for p in options.perturbations):
        return None, []
    paths = options.dictionaries
    if paths is None:
        paths = [FREEDICT_DIR] if FREEDICT_DIR.is_dir() else []
    lexicons, notes = open_dictionaries(paths)
    return DictionaryBank(lexicons), notes


def _prediction_rows(spec: TaskSpec, examples: list[Example], clean: dict[str, int], predicted: list[int]) -> list[dict]:
    return [{"id": ex.uid, "label": spec.labels[ex.label], "clean_prediction": spec.labels[clean[ex.uid]],
             "prediction": spec.labels[p]} for ex, p in zip(examples, predicted)]


def _evaluate(records: list[Perturbed], scorer: ModelScorer, clean: dict[str, int], originals: dict[str, Example],
              transfer: bool, seed: int) -> tuple[dict, list[int]]:
    # An input the perturbation left as it was (an attack that found nothing) keeps its clean
    # prediction; every changed input is scored in one batched pass.
    changed = [r for r in records if r.example.texts != originals[r.example.uid].texts
               or r.example.choices != originals[r.example.uid].choices]
    scored = dict(zip((r.example.uid for r in changed),
                      scorer.probabilities([r.example for r in changed]).argmax(-1).tolist()))
    predicted = [scored.get(r.example.uid, clean[r.example.uid]) for r in records]
    metrics = degradation_metrics(
        [clean[r.example.uid] == originals[r.example.uid].label for r in records],
        [p == r.example.label for p, r in zip(predicted, records)],
        [r.changed_words / max(r.total_words, 1) for r in records],
        [r.queries for r in records], seed)
    if transfer:
        # Searched with another model: a fixed transfer set, no queries to this one.
        metrics.update(mean_queries=None, transfer=True)
    metrics["language_pairs"] = dict(Counter(p for r in records for p in r.language_pairs).most_common())
    return metrics, predicted


class _Attack:
    """One `xstilts attack`: setup, then each language in turn, then the summary files."""

    def __init__(self, model_dir: Path, options: AttackOptions, out_dir: Path):
        self.started = time.perf_counter()
        self.model_dir, self.options, self.out_dir = model_dir, options, out_dir
        self.spec = options.spec
        self.reuse = options.reuse
        self.set_dir = out_dir / "perturbed"
        self.results: dict[str, dict] = {}
        self.language_pairs: dict[str, dict] = {}
        self.skipped: dict[str, dict[str, str]] = {}

    def setup(self) -> None:
        # Everything that can be wrong with the input fails before the model loads.
        spec, reuse, options = self.spec, self.reuse, self.options
        if reuse is not None and reuse.task != spec.name:
            raise XstiltsError(f"--reuse {reuse.root} holds task '{reuse.task}', not '{spec.name}'")
        self.languages = options.languages
        if reuse is not None:
            missing = [lang for lang in self.languages if lang not in reuse.manifest["languages"]]
            if missing:
                raise XstiltsError(f"--reuse {reuse.root} has no '{missing[0]}'; "
                                   f"its languages: {', '.join(reuse.manifest['languages'])}")
        else:
            for lang in self.languages:  # a missing file fails now, not after hours of attacks
                check_available(spec, options.split, lang, options.data)
        model, tokenizer = load_model(self.model_dir)
        check_max_length(model.encoder, options.max_length)
        model.to(options.device)
        self.scorer = ModelScorer(model, tokenizer, spec, options.max_length, options.batch_size, options.device)
        self.bank, self.dictionary_notes = _dictionary_bank(options) if reuse is None else (None, [])

    def _examples(self, lang: str) -> list[Example]:
        if self.reuse is not None:
            return self.reuse.clean(lang)
        examples = select_subset(load_examples(self.spec, self.options.split, lang, self.options.data)[0],
                                 self.options.max_examples, self.options.seed)
        perturbed_sets.write_clean(self.set_dir, self.spec.name, lang, examples)
        return examples

    def _skip(self, name: str, lang: str, reason: str) -> None:
        self.skipped.setdefault(name, {})[lang] = reason
        self.results[lang]["perturbations"][name] = {"skipped": reason}

    def language(self, lang: str, bar) -> None:
        spec, options = self.spec, self.options
        examples = self._examples(lang)
        task = bar.add_task(f"attack {spec.name} {lang}", status="clean",
                            total=len(examples) * (1 + len(options.perturbations)))
        advance = lambda n: bar.update(task, advance=n)  # noqa: E731
        clean_probabilities = self.scorer.probabilities(examples)
        clean = dict(zip((ex.uid for ex in examples), clean_probabilities.argmax(-1).tolist()))
        advance(len(examples))
        originals = {ex.uid: ex for ex in examples}
        clean_accuracy = sum(clean[ex.uid] == ex.label for ex in examples) / len(examples)
        # A one-class or chance-level model loses nothing under any perturbation: say so beside its numbers.
        check = check_predictions([spec.labels[ex.label] for ex in examples],
                                  [spec.labels[clean[ex.uid]] for ex in examples], clean_probabilities.shape[-1])
        self.results[lang] = {"n": len(examples), "clean_accuracy": round(clean_accuracy, 4),
                              "clean_check": check.as_dict(), "perturbations": {}}
        write_jsonl_atomic(self.out_dir / "predictions" / spec.name / perturbed_sets.CLEAN / f"{lang}.jsonl",
                           _prediction_rows(spec, examples, clean, [clean[ex.uid] for ex in examples]))
        context = PerturbContext(spec, lang, protected_words(spec), self.scorer, self.bank,
                                 dict(zip((ex.uid for ex in examples), clean_probabilities)))
        for perturbation in options.perturbations:
            name = perturbation.name
            bar.update(task, status=name)
            reason = (self.reuse.skip_reason(name, lang) if self.reuse is not None
                      else perturbation.skip_reason(context))
            if reason is not None:
                self._skip(name, lang, reason)
                advance(len(examples))
                continue
            if self.reuse is not None:
                records = self.reuse.perturbed(name, lang)
                advance(len(examples))
            else:
                records = perturbation.perturb_all(examples, context, advance)
                perturbed_sets.write_perturbed(self.set_dir, spec.name, name, lang, records)
            if not records:
                self._skip(name, lang, "no example could be perturbed")
                continue
            metrics, predicted = _evaluate(records, self.scorer, clean, originals,
                                           transfer=self.reuse is not None and perturbation.uses_model,
                                           seed=options.seed)
            self.results[lang]["perturbations"][name] = metrics
            self.language_pairs.setdefault(lang, {})[name] = metrics["language_pairs"]
            write_jsonl_atomic(self.out_dir / "predictions" / spec.name / name / f"{lang}.jsonl",
                               _prediction_rows(spec, [r.example for r in records], clean, predicted))
        bar.update(task, status="done")

    def finish(self) -> dict:
        spec, options, reuse = self.spec, self.options, self.reuse
        dictionaries = self.bank.files if self.bank is not None else (reuse.manifest["dictionaries"] if reuse else [])
        summary = {
            "task": spec.name,
            "task_version": spec.version,
            "split": options.split if reuse is None else reuse.manifest["split"],
            "model": str(self.model_dir),
            "perturbed_set": str(reuse.root if reuse is not None else self.set_dir),
            "reused": reuse is not None,
            "seed": options.seed,
            "perturbations": {p.name: {"description": p.description, "label_preserving": p.label_preserving,
                                       "uses_model": p.uses_model, **p.model_dump(mode="json")}
                              for p in options.perturbations},
            "dictionaries": dictionaries,
            "dictionary_notes": self.dictionary_notes,
            "wall_seconds": round(time.perf_counter() - self.started, 1),
            "languages": self.results,
        }
        if reuse is None:
            perturbed_sets.write_manifest(self.set_dir, perturbed_sets.manifest_for(
                spec.name, spec.version, options.split, options.seed, options.max_examples, self.languages,
                options.perturbations, str(self.model_dir), dictionaries, self.language_pairs, self.skipped))
        write_json_atomic(self.out_dir / "results.json", summary)
        write_text_atomic(self.out_dir / "table.md", render_markdown(summary))
        console.print(f"attack finished in {summary['wall_seconds']} s; results in {self.out_dir}")
        return summary


def run_attack(model_dir: Path, options: AttackOptions, out_dir: Path) -> dict:
    attack = _Attack(model_dir, options, out_dir)
    attack.setup()
    with progress_bar() as bar:
        for lang in attack.languages:
            attack.language(lang, bar)
    return attack.finish()
