"""What a training phase learns from: each task's pool of training examples (in its own
training language, in translated languages, or both), its English dev set, and unlabeled
sentences for continued masked-language modelling."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xstilts.config import MaskedLMConfig
from xstilts.config.plan import TaskPlan, has_dev_set, mlm_text_files
from xstilts.data.loading import DataSettings, LoadReport, load_examples, select_subset
from xstilts.data.unlabeled import unlabeled_sentences
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


def read_unlabeled_text(cfg: MaskedLMConfig, seed: int, data_dir: Path | None, where: str = "") -> list[str]:
    """Sentences of the configured columns/fields, each once, in file order; a seeded subset
    of `max_sentences`."""
    sentences = unlabeled_sentences(mlm_text_files(cfg, data_dir, where), cfg.tsv_columns, cfg.jsonl_fields, where)
    return select_subset(sentences, cfg.max_sentences, seed)
