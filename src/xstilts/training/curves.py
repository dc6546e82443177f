"""Transfer and forgetting curves: the model scored at points of a training phase on the
English dev set of each curve task and on the target task's zero-shot languages.

A set is scored only while the model has its task's head: after a QQP stage that follows MNLI,
the NLI head is there and XNLI shows what QQP training did to transfer (forgetting); before any
NLI training it is not, and the point records None.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from xstilts.config import CurveConfig
from xstilts.evaluation.metrics import mean
from xstilts.formats import Feature, get_format
from xstilts.models.multitask import MultiTaskModel
from xstilts.tasks.data import DataSettings, load_examples, select_subset
from xstilts.tasks.example import Example
from xstilts.tasks.registry import get_task, resolve_languages
from xstilts.tasks.spec import TaskSpec
from xstilts.training.features import encode_cached
from xstilts.training.task_data import train_spec_of

EVAL_BATCH_SIZE = 64


@dataclass
class ScoredSet:
    """Encoded examples of one task, scored with that task's head."""

    spec: TaskSpec
    language: str
    examples: list[Example]
    features: list[Feature]
    pad_id: int

    @classmethod
    def encode(cls, spec: TaskSpec, language: str, examples: list[Example], tokenizer,
               max_length: int) -> "ScoredSet":
        return cls(spec, language, examples, encode_cached(examples, tokenizer, spec, max_length),
                   tokenizer.pad_token_id)

    def score(self, model: MultiTaskModel, device: torch.device) -> float | None:
        """The task's first metric (accuracy for classification) with the task's head, or None
        while the model has no such head."""
        fmt = get_format(self.spec.format)
        if fmt.has_head and self.spec.head not in model.head_info:
            return None
        result = fmt.evaluate(model, self.spec.head if fmt.has_head else None, self.spec, self.examples,
                              self.features, self.pad_id, EVAL_BATCH_SIZE, device, self.language)
        return result.scores[self.spec.metrics[0].name]


class TransferCurve:
    def __init__(self, cfg: CurveConfig, default_tasks: list[str], tokenizer, data: DataSettings,
                 seed: int, max_length: int, where: str):
        self.cfg = cfg
        self.dev_sets: dict[str, ScoredSet] = {}
        for name in cfg.tasks or default_tasks:
            train_spec = train_spec_of(get_task(name))
            examples, _ = load_examples(train_spec, "dev", train_spec.train_language, data)
            # Scored with the curve task's head (xnli's is mnli's), on its training task's dev set.
            self.dev_sets[name] = ScoredSet.encode(get_task(name), train_spec.train_language,
                                                   select_subset(examples, cfg.max_examples, seed), tokenizer, max_length)
        self.target_sets: dict[str, ScoredSet] = {}
        if cfg.target is not None:
            self.target = get_task(cfg.target)
            for lang in resolve_languages(self.target, cfg.languages, f"{where}.curve.languages"):
                examples, _ = load_examples(self.target, cfg.split, lang, data)
                self.target_sets[lang] = ScoredSet.encode(self.target, lang, select_subset(examples, cfg.max_examples, seed),
                                                          tokenizer, max_length)

    def point(self, model: MultiTaskModel, device: torch.device) -> dict:
        point: dict = {"dev": {name: s.score(model, device) for name, s in self.dev_sets.items()}}
        if self.target_sets:
            zero_shot = {lang: s.score(model, device) for lang, s in self.target_sets.items()}
            others = [a for lang, a in zero_shot.items() if a is not None and lang != self.target.train_language]
            point.update(target=self.target.name, zero_shot=zero_shot,
                         zero_shot_average=mean(others) if others else None)
        return point
