"""Transfer and forgetting curves: the model scored at points of a training phase on the
English dev set of each curve task and on the target task's zero-shot languages.

A set is scored only while the model has its task's head: after a QQP stage that follows MNLI,
the NLI head is there and XNLI shows what QQP training did to transfer (forgetting); before any
NLI training it is not, and the point records None.
"""

from __future__ import annotations

import torch

from xstilts.config.plan import CurvePlan, ScoredSetPlan
from xstilts.data.loading import DataSettings
from xstilts.evaluation.scored_set import ScoredSet
from xstilts.metrics import mean
from xstilts.models.multitask import MultiTaskModel


class TransferCurve:
    def __init__(self, plan: CurvePlan, tokenizer, data: DataSettings, seed: int, max_length: int):
        self.plan = plan
        self.every = plan.config.every

        def load(scored: ScoredSetPlan) -> ScoredSet:
            return ScoredSet.load(scored.spec, scored.split, scored.language, data, plan.config.max_examples,
                                  seed, tokenizer, max_length, data_spec=scored.data_spec)

        self.dev_sets = {scored.spec.name: load(scored) for scored in plan.dev_sets}
        self.target_sets = {scored.language: load(scored) for scored in plan.target_sets}

    def point(self, model: MultiTaskModel, device: torch.device) -> dict:
        point: dict = {"dev": {name: s.score(model, device) for name, s in self.dev_sets.items()}}
        if self.target_sets:
            target = self.plan.target
            zero_shot = {lang: s.score(model, device) for lang, s in self.target_sets.items()}
            others = [a for lang, a in zero_shot.items() if a is not None and lang != target.train_language]
            point.update(target=target.name, zero_shot=zero_shot,
                         zero_shot_average=mean(others) if others else None)
        return point
