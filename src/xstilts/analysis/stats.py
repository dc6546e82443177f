"""Statistics for score-against-distance analyses: OLS slopes, example bootstrap, Spearman
rank correlation with a permutation test, and the distance x run interaction model."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import permutations

import numpy as np
from scipy.stats import rankdata

_BOOTSTRAP_CHUNK = 200  # replicates drawn at a time: bounds memory for large test sets


def ols_slope(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line y = intercept + slope * x."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0:
        raise ValueError("a slope needs at least two distinct x values")
    dx = x - x.mean()
    slope = float(dx @ (y - y.mean()) / (dx @ dx))
    return slope, float(y.mean() - slope * x.mean())


def ols_slopes(x: Sequence[float], ys: np.ndarray) -> np.ndarray:
    """The OLS slope of each row of `ys` (replicates x points) against the same x."""
    x = np.asarray(x, dtype=float)
    dx = x - x.mean()
    return (ys - ys.mean(axis=1, keepdims=True)) @ dx / (dx @ dx)


def bootstrap_scores(correct: np.ndarray, labels: Sequence[str], n_boot: int, seed: int) -> np.ndarray:
    """`n_boot` bootstrap replicates of the accuracy of one test set, resampling its examples.

    The draws are seeded by the test set's gold-label sequence: parallel test sets (XNLI's
    languages, or two runs scored on the same items) get the same resampled items, so
    differences between them (transfer gaps, slopes, run differences) are paired bootstraps.
    """
    return bootstrap_sums(np.asarray(correct, dtype=float)[:, None], labels, n_boot, seed)[:, 0] / len(correct)


def bootstrap_sums(values: np.ndarray, keys: Sequence[str], n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, k): the column sums of `values` (one row of k statistics per example: 0/1
    correctness, a question's F1, a sentence's chunk counts) over `n_boot` resamples of its
    rows. A metric that is not a mean (span F1) is recomputed from each replicate's sums.

    The draws are seeded by `keys`, one per example (gold labels or example ids): sets with
    the same keys get the same resampled rows, so differences between them are paired."""
    digest = hashlib.sha256("\x1f".join(map(str, keys)).encode("utf-8")).digest()
    rng = np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])
    n = len(values)
    out = np.empty((n_boot, values.shape[1]))
    for start in range(0, n_boot, _BOOTSTRAP_CHUNK):
        stop = min(start + _BOOTSTRAP_CHUNK, n_boot)
        out[start:stop] = values[rng.integers(0, n, size=(stop - start, n))].sum(axis=1)
    return out


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return float(low), float(high)


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))


def spearman_permutation(x: Sequence[float], y: Sequence[float], n_permutations: int = 9999,
                         seed: int = 0) -> tuple[float, float]:
    """Spearman's rho and its two-sided permutation p-value.

    With n! <= n_permutations every permutation is enumerated (exact p); otherwise
    p = (1 + #{|rho_perm| >= |rho|}) / (1 + n_permutations) over random permutations.
    """
    # Ties get their average rank; permuting y's ranks is permuting y.
    rx, ry = rankdata(np.asarray(x, dtype=float)), rankdata(np.asarray(y, dtype=float))
    if len(rx) < 3 or np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return math.nan, math.nan
    rho = float(_pearson_rows(rx, ry))
    exact = math.factorial(len(ry)) <= n_permutations
    if exact:
        shuffled = np.array(list(permutations(ry)))
    else:
        rng = np.random.default_rng(seed)
        shuffled = rng.permuted(np.tile(ry, (n_permutations, 1)), axis=1)
    # A small tolerance counts permutations whose rho equals the observed one up to rounding.
    hits = int((np.abs(_pearson_rows(rx, shuffled)) >= abs(rho) - 1e-12).sum())
    p = hits / len(shuffled) if exact else (hits + 1) / (n_permutations + 1)
    return rho, p


@dataclass(frozen=True)
class InteractionFit:
    """OLS fit of score ~ distance * run for two runs: the interaction is the slope difference."""

    slope_difference: float
    standard_error: float
    ci_low: float
    ci_high: float
    p_value: float
    n_observations: int


def interaction_fit(distance: Sequence[float], score: Sequence[float], is_second_run: Sequence[bool],
                    cluster: Sequence[str]) -> InteractionFit:
    """score = b0 + b1 distance + b2 run + b3 distance*run, with standard errors clustered by
    `cluster` (the language: its items and difficulty are shared by every seed and run)."""
    import statsmodels.api as sm  # imported where used: 3 s, for this one fit

    d = np.asarray(distance, dtype=float)
    g = np.asarray(is_second_run, dtype=float)
    design = np.column_stack([np.ones_like(d), d, g, d * g])
    groups = np.unique(np.asarray(cluster), return_inverse=True)[1]
    fit = sm.OLS(np.asarray(score, dtype=float), design).fit(cov_type="cluster", cov_kwds={"groups": groups})
    low, high = fit.conf_int()[3]
    return InteractionFit(float(fit.params[3]), float(fit.bse[3]), float(low), float(high),
                          float(fit.pvalues[3]), len(d))
