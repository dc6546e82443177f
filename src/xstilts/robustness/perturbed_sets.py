"""Perturbed sets on disk, so another model is evaluated on identical examples
(`xstilts attack RUN_DIR --reuse PERTURBED_DIR`).

    <dir>/manifest.json                         seed, task, languages, perturbations with all
                                                their parameters, dictionaries, language pairs
                                                used, skipped (perturbation, language) with the
                                                reason, the model attacks searched with, version
    <dir>/<task>/clean/<lang>.jsonl             the clean examples (the seeded subset)
    <dir>/<task>/<perturbation>/<lang>.jsonl    the perturbed examples, one per line

Examples made by attacks (`uses_model`) are adversarial for the model that made them; reused
for another model they are a fixed transfer set, evaluated as they are, with no new search.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from xstilts import __version__
from xstilts.errors import XstiltsError
from xstilts.io import read_json, read_jsonl, write_json_atomic, write_jsonl_atomic
from xstilts.robustness.perturbations import Perturbation, Perturbed
from xstilts.robustness.registry import build_perturbation
from xstilts.tasks.example import Example

MANIFEST = "manifest.json"
CLEAN = "clean"
_MANIFEST_KEYS = ("task", "perturbations", "languages", "seed", "split", "skipped")
T = TypeVar("T")


def _example_row(example: Example) -> dict:
    return {"uid": example.uid, "texts": list(example.texts), "choices": list(example.choices), "label": example.label}


def _example(row: dict) -> Example:
    return Example(row["uid"], tuple(row["texts"]), row["label"], tuple(row["choices"]))


def set_file(root: Path, task: str, name: str, lang: str) -> Path:
    return Path(root) / task / name / f"{lang}.jsonl"


def write_clean(root: Path, task: str, lang: str, examples: list[Example]) -> None:
    write_jsonl_atomic(set_file(root, task, CLEAN, lang), [_example_row(ex) for ex in examples])


def write_perturbed(root: Path, task: str, name: str, lang: str, records: list[Perturbed]) -> None:
    write_jsonl_atomic(set_file(root, task, name, lang), [
        {**_example_row(r.example), "changed_words": r.changed_words, "total_words": r.total_words,
         "queries": r.queries, "language_pairs": list(r.language_pairs)}
        for r in records
    ])


def manifest_for(task: str, task_version: int, split: str, seed: int, max_examples: int | None,
                 languages: list[str], perturbations: list[Perturbation], model: str,
                 dictionaries: list[str], language_pairs: dict, skipped: dict) -> dict:
    return {
        "xstilts_version": __version__,
        "task": task,
        "task_version": task_version,
        "split": split,
        "seed": seed,
        "max_examples": max_examples,
        "languages": languages,
        "perturbations": {p.name: p.model_dump(mode="json") for p in perturbations},
        "attacks_searched_with": model,
        "dictionaries": dictionaries,
        "language_pairs": language_pairs,
        "skipped": skipped,
    }


def write_manifest(root: Path, manifest: dict) -> None:
    write_json_atomic(Path(root) / MANIFEST, manifest)


class PerturbedSet:
    """A saved perturbed set, read back exactly as written."""

    def __init__(self, root: Path):
        root = Path(root)
        if not (root / MANIFEST).is_file() and (root / "perturbed" / MANIFEST).is_file():
            root = root / "perturbed"  # the attack's output folder was given
        if not (root / MANIFEST).is_file():
            raise XstiltsError(f"--reuse {root}: no {MANIFEST}; give the perturbed/ folder an "
                               "earlier `xstilts attack` wrote (runs/<run>/attack/<task>/perturbed)")
        self.root = root
        manifest_file = root / MANIFEST
        self.manifest = read_json(manifest_file, "the manifest an `xstilts attack` wrote")
        missing = [key for key in _MANIFEST_KEYS if key not in self.manifest] if isinstance(self.manifest, dict) else ["all"]
        if missing or not isinstance(self.manifest["perturbations"], dict):
            raise XstiltsError(f"{manifest_file}: not the manifest an `xstilts attack` wrote (missing: "
                               f"{', '.join(missing) or 'perturbations as a mapping'})")
        self.task: str = self.manifest["task"]
        self.perturbations = [build_perturbation(name, params, f"{manifest_file}")
                              for name, params in self.manifest["perturbations"].items()]

    def select(self, names: str) -> list[Perturbation]:
        """`all` or comma-separated names, each of which the set must hold."""
        if names.strip() == "all":
            return self.perturbations
        saved = {p.name: p for p in self.perturbations}
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        for name in wanted:
            if name not in saved:
                raise XstiltsError(f"--perturbations: '{name}' is not in the reused set {self.root}; "
                                   f"it holds: {', '.join(saved)}")
        return [saved[n] for n in wanted]

    def _rows(self, name: str, lang: str) -> list[dict]:
        path = set_file(self.root, self.task, name, lang)
        if not path.is_file():
            raise XstiltsError(f"--reuse: {path} is missing; the perturbed set is incomplete")
        return read_jsonl(path, "a perturbed set `xstilts attack` wrote")

    def _read(self, name: str, lang: str, make: Callable[[dict], T]) -> list[T]:
        """`make` of each row; a row without the fields it needs is one line naming the row."""
        path = set_file(self.root, self.task, name, lang)
        out = []
        for number, row in enumerate(self._rows(name, lang), start=1):
            try:
                out.append(make(row))
            except (KeyError, TypeError) as exc:
                raise XstiltsError(f"{path}: row {number}: missing or wrong field {exc}; the perturbed set is "
                                   "damaged, make it again") from None
        return out

    def clean(self, lang: str) -> list[Example]:
        return self._read(CLEAN, lang, _example)

    def skip_reason(self, name: str, lang: str) -> str | None:
        return self.manifest["skipped"].get(name, {}).get(lang)

    def perturbed(self, name: str, lang: str) -> list[Perturbed]:
        return self._read(name, lang, lambda row: Perturbed(_example(row), row["changed_words"], row["total_words"],
                                                             row["queries"], tuple(row["language_pairs"])))
