"""Metric functions, looked up by the names task specs declare."""

from __future__ import annotations

from typing import Callable, Sequence


def accuracy(labels: Sequence[int], predictions: Sequence[int]) -> float:
    if len(labels) != len(predictions) or not labels:
        raise ValueError("accuracy needs equally long, non-empty label and prediction lists")
    return sum(int(a == b) for a, b in zip(labels, predictions)) / len(labels)


METRICS: dict[str, Callable[[Sequence[int], Sequence[int]], float]] = {"accuracy": accuracy}


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)
