"""Statistics checked against hand-computed values and against scipy / statsmodels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from xstilts.analysis.stats import (
    bootstrap_scores,
    interaction_fit,
    ols_slope,
    ols_slopes,
    percentile_interval,
    spearman_permutation,
)


def test_ols_slope_by_hand():
    assert ols_slope([0, 1, 2], [1, 3, 5]) == pytest.approx((2.0, 1.0))
    # x mean 1.5, y mean 2.5; sum dx*dy = 6, sum dx^2 = 5 -> slope 1.2, intercept 2.5 - 1.2 * 1.5
    assert ols_slope([0, 1, 2, 3], [1, 2, 2, 5]) == pytest.approx((1.2, 0.7))
    with pytest.raises(ValueError, match="two distinct x values"):
        ols_slope([0.5, 0.5], [1, 2])


def test_ols_slopes_match_scipy_row_by_row():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, 9)
    ys = rng.normal(size=(5, 9))
    expected = [scipy_stats.linregress(x, y).slope for y in ys]
    assert ols_slopes(x, ys) == pytest.approx(expected)
    assert ols_slope(x, ys[0])[1] == pytest.approx(scipy_stats.linregress(x, ys[0]).intercept)


def test_spearman_exact_p_by_hand():
    # n = 4, perfectly monotone: of the 24 orderings only this one and its reverse reach |rho| = 1.
    rho, p = spearman_permutation([0.1, 0.2, 0.3, 0.4], [9, 7, 4, 1])
    assert rho == pytest.approx(-1.0)
    assert p == pytest.approx(2 / 24)


def test_spearman_matches_scipy_with_ties():
    x = [0.0, 0.36, 0.45, 0.45, 0.53, 0.69]
    y = [81.0, 74.0, 70.0, 71.0, 70.0, 62.0]
    rho, p = spearman_permutation(x, y)
    assert rho == pytest.approx(scipy_stats.spearmanr(x, y).statistic)
    exact = scipy_stats.permutation_test(
        (np.array(y),), lambda v: scipy_stats.spearmanr(x, v).statistic,
        permutation_type="pairings", n_resamples=math.inf)
    assert p == pytest.approx(exact.pvalue)


def test_spearman_random_permutations_close_to_scipy():
    rng = np.random.default_rng(6)
    x = rng.uniform(0, 1, 12)
    y = -3 * x + rng.normal(0, 3, 12)
    rx = scipy_stats.rankdata(x)

    def rho_of(v, axis):
        return scipy_stats.pearsonr(np.broadcast_to(rx, v.shape), scipy_stats.rankdata(v, axis=axis), axis=axis).statistic

    rho, p = spearman_permutation(x, y, n_permutations=9999, seed=0)
    reference = scipy_stats.permutation_test((y,), rho_of, permutation_type="pairings", vectorized=True,
                                             n_resamples=9999, rng=np.random.default_rng(1))
    assert rho == pytest.approx(scipy_stats.spearmanr(x, y).statistic)
    assert 0.01 < reference.pvalue < 0.5  # a p-value the two estimates can disagree on
    assert p == pytest.approx(reference.pvalue, abs=0.015)


def test_bootstrap_is_paired_by_test_items():
    correct = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 1], dtype=float)
    labels = tuple("ab" * 5)
    a = bootstrap_scores(correct, labels, 500, seed=7)
    # Same items (same gold labels): the same resampled indices, so identical replicates.
    assert np.array_equal(a, bootstrap_scores(correct, labels, 500, seed=7))
    # A parallel test set with other outcomes on the same items moves item by item with it.
    flipped = 1 - correct
    assert np.allclose(a + bootstrap_scores(flipped, labels, 500, seed=7), 1.0)
    # Other items, or another seed, get other draws.
    assert not np.array_equal(a, bootstrap_scores(correct, tuple("ba" * 5), 500, seed=7))
    assert not np.array_equal(a, bootstrap_scores(correct, labels, 500, seed=8))


def test_bootstrap_spread_is_the_binomial_standard_error():
    rng = np.random.default_rng(0)
    correct = (rng.uniform(size=400) < 0.7).astype(float)
    replicates = bootstrap_scores(correct, tuple(str(i % 3) for i in range(400)), 4000, seed=1)
    p = correct.mean()
    assert replicates.mean() == pytest.approx(p, abs=0.003)
    assert replicates.std() == pytest.approx(math.sqrt(p * (1 - p) / 400), rel=0.06)
    assert np.array_equal(bootstrap_scores(np.ones(50), tuple("x" * 50), 30, 0), np.ones(30))


def test_percentile_interval_by_hand():
    assert percentile_interval(np.arange(0, 101, dtype=float)) == pytest.approx((2.5, 97.5))


def test_interaction_is_the_slope_difference_and_matches_statsmodels_formula():
    import pandas as pd
    import statsmodels.formula.api as smf

    rng = np.random.default_rng(5)
    langs = [f"l{i}" for i in range(10)]
    distance = rng.uniform(0.3, 0.7, 10)
    rows = []
    for setting, slope in (("base", -30.0), ("large", -12.0)):
        for seed in range(3):
            for lang, d in zip(langs, distance):
                rows.append((d, 80 + slope * d + rng.normal(0, 2), setting == "large", lang, setting))
    d, score, second, lang, setting = map(list, zip(*rows))
    fit = interaction_fit(d, score, second, lang)

    by_hand = [ols_slope([x for x, s in zip(d, setting) if s == name],
                         [y for y, s in zip(score, setting) if s == name])[0] for name in ("base", "large")]
    assert fit.slope_difference == pytest.approx(by_hand[1] - by_hand[0])
    frame = pd.DataFrame({"score": score, "distance": d, "setting": setting, "lang": lang})
    reference = smf.ols("score ~ distance * C(setting)", frame).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(frame["lang"])[0]})
    term = "distance:C(setting)[T.large]"
    assert fit.slope_difference == pytest.approx(reference.params[term])
    assert fit.standard_error == pytest.approx(reference.bse[term])
    assert fit.p_value == pytest.approx(reference.pvalues[term])
    assert (fit.ci_low, fit.ci_high) == pytest.approx(tuple(reference.conf_int().loc[term]))
    assert fit.n_observations == 60
