"""Is a model's output on a test set informative? A model that predicts one class for (almost)
every example, or whose accuracy does not differ from guessing, has learned nothing that its
numbers can show: its "robustness" is a floor and its differences from other runs are noise.
This is the one check; every table that shows per-language results (the run summary, `compare`,
`report`, `attack`) says what it finds."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

# A predictor is (near-)constant when its most frequent prediction covers at least this share of
# the examples while fewer of the gold labels are that class.
CONSTANT_SHARE = 0.9
_Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


def wilson_interval(successes: int, n: int, z: float = _Z95) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion (sound at small n and near 0 or 1)."""
    if n <= 0:
        raise ValueError("an interval needs at least one trial")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def pooled_accuracy(scores: list[tuple[float, int]]) -> tuple[float, float, float]:
    """Accuracy over all the examples of several sets, each given as (accuracy 0..1, n), with
    its Wilson interval: (accuracy, low, high). With equal n it is the sets' average."""
    n = sum(size for _, size in scores)
    right = round(sum(accuracy * size for accuracy, size in scores))
    return (right / n, *wilson_interval(right, n))


@dataclass(frozen=True)
class PredictorCheck:
    """Accuracy (0..1) with its 95% Wilson interval against chance, and the share of the most
    frequent prediction, on one test set. Chance is the best accuracy that ignores the input:
    guessing (1 / classes) or always answering the most frequent gold label (57% on PAWS-X dev)."""

    n: int
    accuracy: float
    ci_low: float
    ci_high: float
    chance: float
    majority_prediction: str
    majority_share: float
    majority_gold_share: float  # the gold labels' share of the majority prediction's class

    @property
    def constant(self) -> bool:
        return self.majority_share >= CONSTANT_SHARE > self.majority_gold_share

    @property
    def at_chance(self) -> bool:
        """Accuracy not above chance at 95% (at or below it)."""
        return self.ci_low <= self.chance

    @property
    def degenerate(self) -> bool:
        return self.constant or self.at_chance

    def verdict(self) -> str | None:
        """What is wrong, in a few words for a table cell; None for a predictor that learned something."""
        if self.constant:
            return f"one class: '{self.majority_prediction}' for {100 * self.majority_share:.0f}% of examples"
        if self.at_chance:
            where = "below" if self.ci_high < self.chance else "at"
            return (f"{where} chance: {100 * self.accuracy:.1f} [{100 * self.ci_low:.1f}, {100 * self.ci_high:.1f}] "
                    f"vs {100 * self.chance:.1f}")
        return None

    def as_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> PredictorCheck:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


def check_predictions(labels: Sequence[str], predictions: Sequence[str], n_classes: int) -> PredictorCheck:
    """The check of one test set: gold labels and predicted labels (names or indices), and the
    number of classes (or choices) a guess picks from."""
    if len(labels) != len(predictions) or not labels:
        raise ValueError("a predictor check needs equally long, non-empty label and prediction lists")
    if n_classes < 2:
        raise ValueError("a predictor check needs at least two classes")
    n = len(labels)
    right = sum(a == b for a, b in zip(labels, predictions))
    majority, count = Counter(predictions).most_common(1)[0]
    low, high = wilson_interval(right, n)
    most_common_gold = Counter(labels).most_common(1)[0][1] / n
    return PredictorCheck(n=n, accuracy=right / n, ci_low=low, ci_high=high, chance=max(1 / n_classes, most_common_gold),
                          majority_prediction=str(majority), majority_share=count / n,
                          majority_gold_share=sum(label == majority for label in labels) / n)


def check_records(records: Sequence[dict]) -> PredictorCheck | None:
    """The check of a predictions file's rows (`label`, `prediction`, `probabilities` per
    example: classification and multiple choice); None for other formats (spans, tags, retrieval)."""
    if not records or not all({"label", "prediction", "probabilities"} <= r.keys() for r in records):
        return None
    if not all(isinstance(r["label"], str | int) and isinstance(r["prediction"], str | int) for r in records):
        return None
    return check_predictions([r["label"] for r in records], [r["prediction"] for r in records],
                             len(records[0]["probabilities"]))
