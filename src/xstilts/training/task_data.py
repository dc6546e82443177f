"""What a training phase learns from: each task's pool of training examples (in its own
training language, in translated languages, or both), its English dev set, and unlabeled
sentences for continued masked-language modelling."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from xstilts.config import MaskedLMConfig
from xstilts.config.plan import TaskPlan, has_dev_set, mlm_text_files
from xstilts.data.loading import DataSettings, LoadReport, load_examples, select_subset
from xstilts.errors import XstiltsError
from xstilts.tasks.example import Example
from xstilts.tasks.spec import TaskSpec


@dataclass
class TrainingTask:
    plan: TaskPlan
    languages: list[str]
    examples: list[Example]  # the pool
    reports: list[LoadReport]
    dev_examples: list[Example]

    @property
    def name(self) -> str:
        return self.plan.spec.name

    @property
    def spec(self) -> TaskSpec:
        return self.plan.spec

    @property
    def train_spec(self) -> TaskSpec:
        return self.plan.train_spec


def load_training_task(task: TaskPlan, data: DataSettings, seed: int, dev_max_examples: int | None) -> TrainingTask:
    pool: list[Example] = []
    reports = []
    languages = []
    for source in task.sources:
        examples, report = load_examples(source.spec, "train", source.language, source.data)
        pool += examples
        reports.append(report)
        languages.append(source.language)
    dev: list[Example] = []
    train_spec = task.train_spec
    if dev_max_examples != 0 and has_dev_set(train_spec):
        dev_all, _ = load_examples(train_spec, "dev", train_spec.train_language, data)
        dev = select_subset(dev_all, dev_max_examples, seed)
    return TrainingTask(task, languages, select_subset(pool, task.entry.max_examples, seed), reports, dev)


def read_unlabeled_text(cfg: MaskedLMConfig, seed: int, where: str = "") -> list[str]:
    """Sentences of the configured columns/fields, each once, in file order; a seeded subset
    of `max_sentences`."""
    sentences: dict[str, None] = {}
    files = mlm_text_files(cfg, where)
    for path in files:
        with path.open(encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, start=1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                for text in _texts(path, lineno, line, cfg):
                    if text.strip():
                        sentences[text.strip()] = None
    if not sentences:
        raise XstiltsError(f"{where}.mlm.files: no text in {', '.join(map(str, files))}")
    return select_subset(list(sentences), cfg.max_sentences, seed)


def _texts(path: Path, lineno: int, line: str, cfg: MaskedLMConfig) -> list[str]:
    if path.suffix == ".tsv":
        cells = line.split("\t")
        if max(cfg.tsv_columns) >= len(cells):
            raise XstiltsError(f"{path}:{lineno}: mlm.tsv_columns {cfg.tsv_columns} but the line has "
                               f"{len(cells)} tab-separated fields")
        return [cells[i] for i in cfg.tsv_columns]
    if path.suffix == ".jsonl":
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise XstiltsError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
        missing = [f for f in cfg.jsonl_fields if not isinstance(row, dict) or not isinstance(row.get(f), str)]
        if missing:
            raise XstiltsError(f"{path}:{lineno}: no text field {', '.join(missing)} (mlm.jsonl_fields)")
        return [row[f] for f in cfg.jsonl_fields]
    if path.suffix == ".txt":
        return [line]
    raise XstiltsError(f"{path}: unsupported file type '{path.suffix}' for mlm.files; allowed: .tsv, .jsonl, .txt")
