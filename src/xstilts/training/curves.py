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
from xstilts.evaluation.metrics import accuracy, mean
from xstilts.evaluation.predict import predict_logits
from xstilts.models.multitask import MultiTaskModel
from xstilts.tasks.data import DataSettings, Example, load_examples, select_subset
from xstilts.tasks.registry import get_task, resolve_languages
from xstilts.tasks.spec import TaskSpec
from xstilts.training.features import Collator, Feature, encode_cached
from xstilts.training.task_data import train_spec_of

EVAL_BATCH_SIZE = 64


@dataclass
class ScoredSet:
    """Encoded examples of one task, scored with that task's head."""

    spec: TaskSpec
    features: list[Feature]
    collator: Collator

    @classmethod
    def encode(cls, spec: TaskSpec, examples: list[Example], tokenizer, max_length: int) -> "ScoredSet":
        return cls(spec, encode_cached(examples, tokenizer, spec.format, max_length),
                   Collator(tokenizer.pad_token_id, spec.format == "multiple_choice"))

    def accuracy(self, model: MultiTaskModel, device: torch.device) -> float | None:
        """Accuracy with the task's head, or None while the model has no such head."""
        if self.spec.head not in model.head_info:
            return None
        logits = predict_logits(model, self.spec.head, self.features, self.collator, EVAL_BATCH_SIZE, device)
        return accuracy([f.label for f in self.features], logits.argmax(-1).tolist())


class TransferCurve:
    def __init__(self, cfg: CurveConfig, default_tasks: list[str], tokenizer, data: DataSettings,
                 seed: int, max_length: int, where: str):
        self.cfg = cfg
        self.dev_sets: dict[str, ScoredSet] = {}
        for name in cfg.tasks or default_tasks:
            train_spec = train_spec_of(get_task(name))
            examples, _ = load_examples(train_spec, "dev", train_spec.train_language, data)
            # Scored with the curve task's head (xnli's is mnli's), on its training task's dev set.
            self.dev_sets[name] = ScoredSet.encode(get_task(name), select_subset(examples, cfg.max_examples, seed),
                                                   tokenizer, max_length)
        self.target_sets: dict[str, ScoredSet] = {}
        if cfg.target is not None:
            self.target = get_task(cfg.target)
            for lang in resolve_languages(self.target, cfg.languages, f"{where}.curve.languages"):
                examples, _ = load_examples(self.target, cfg.split, lang, data)
                self.target_sets[lang] = ScoredSet.encode(self.target, select_subset(examples, cfg.max_examples, seed),
                                                          tokenizer, max_length)

    def point(self, model: MultiTaskModel, device: torch.device) -> dict:
        point: dict = {"dev": {name: s.accuracy(model, device) for name, s in self.dev_sets.items()}}
        if self.target_sets:
            zero_shot = {lang: s.accuracy(model, device) for lang, s in self.target_sets.items()}
            others = [a for lang, a in zero_shot.items() if a is not None and lang != self.target.train_language]
            point.update(target=self.target.name, zero_shot=zero_shot,
                         zero_shot_average=mean(others) if others else None)
        return point
