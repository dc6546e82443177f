"""Degradation metrics for one language and perturbation, with paired bootstrap confidence
intervals: each resample draws examples with replacement and keeps every example's clean and
perturbed outcome together, so the interval of the degradation reflects the pairing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RESAMPLES = 1000
CONFIDENCE = 0.95


def _rates(clean: np.ndarray, perturbed: np.ndarray) -> dict[str, np.ndarray]:
    """Rates over the last axis (one row per bootstrap resample, or a single row)."""
    clean_accuracy = clean.mean(-1)
    perturbed_accuracy = perturbed.mean(-1)
    right = clean.sum(-1)
    flipped = (clean & ~perturbed).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        success = np.where(right > 0, flipped / right, np.nan)
    return {
        "clean_accuracy": clean_accuracy,
        "perturbed_accuracy": perturbed_accuracy,
        "degradation": clean_accuracy - perturbed_accuracy,
        # Of the examples the model had right, the share the perturbation made it get wrong.
        "attack_success_rate": success,
    }


def _number(value) -> float | None:
    value = float(value)
    return None if np.isnan(value) else round(value, 4)


def degradation_metrics(clean_correct: Sequence[bool], perturbed_correct: Sequence[bool],
                        changed_fractions: Sequence[float], queries: Sequence[int], seed: int,
                        resamples: int = RESAMPLES, confidence: float = CONFIDENCE) -> dict:
    """Clean and perturbed accuracy on the same examples, absolute and relative degradation,
    attack success rate, mean fraction of words changed, mean queries; `ci` holds the
    percentile bootstrap intervals of the four rates."""
    clean = np.asarray(clean_correct, dtype=bool)
    perturbed = np.asarray(perturbed_correct, dtype=bool)
    if clean.shape != perturbed.shape or clean.size == 0:
        raise ValueError("degradation metrics need equally long, non-empty outcome lists")
    point = _rates(clean, perturbed)
    draws = np.random.default_rng(seed).integers(0, clean.size, size=(resamples, clean.size))
    boot = _rates(clean[draws], perturbed[draws])
    tail = (1 - confidence) / 2
    ci = {}
    for name, values in boot.items():
        values = values[~np.isnan(values)]
        ci[name] = [_number(np.quantile(values, tail)), _number(np.quantile(values, 1 - tail))] if values.size else None
    clean_accuracy = float(point["clean_accuracy"])
    return {
        "n": int(clean.size),
        **{name: _number(value) for name, value in point.items()},
        "relative_degradation": _number(point["degradation"] / clean_accuracy) if clean_accuracy else None,
        "words_changed": _number(np.mean(changed_fractions)),
        "mean_queries": _number(np.mean(queries)),
        "ci": ci,
    }
