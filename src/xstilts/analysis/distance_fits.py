"""How zero-shot scores fall with typological distance from the training language.

For a setting (one run, or several seeds of it) and each URIEL distance kind:
  - score fit: accuracy (points) of every language against its distance from the source;
  - gap fit: transfer gap (source score minus language score, points) of every other language.
Each fit has an OLS slope (points per unit of distance; its 95% CI from a bootstrap over test
examples), and Spearman's rho with a permutation p-value. The score slope is the setting's
robustness slope: closer to 0 means transfer degrades less with distance.

Two settings that differ in one thing (model, training, ...) are compared by the difference
of their slopes, with a paired bootstrap CI; with several seeds, also by the interaction term
of score ~ distance * setting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xstilts.analysis.compare import Difference
from xstilts.analysis.runs import BOOKKEEPING_KEYS, RunGroup, RunResult
from xstilts.analysis.stats import (
    InteractionFit,
    bootstrap_scores,
    interaction_fit,
    ols_slope,
    ols_slopes,
    percentile_interval,
    spearman_permutation,
)
from xstilts.typology.distances import Distances

MEASURES = ("score", "gap")
MIN_LANGUAGES_FOR_FIT = 3  # and two distinct distances


@dataclass(frozen=True)
class DistanceFit:
    kind: str
    measure: str
    languages: tuple[str, ...]
    slope: float
    intercept: float
    ci_low: float
    ci_high: float
    rho: float
    p_value: float
    slope_replicates: np.ndarray


@dataclass(frozen=True)
class SettingAnalysis:
    group: RunGroup
    source: str
    scores: dict[str, float]  # points, mean over seeds
    score_replicates: dict[str, np.ndarray]
    fits: dict[tuple[str, str], DistanceFit]  # (kind, measure) -> fit; absent when too few languages

    @property
    def label(self) -> str:
        return self.group.label

    def gaps(self) -> dict[str, float]:
        return _below_source(self.scores, self.source)

    def gap_replicates(self) -> dict[str, np.ndarray]:
        return _below_source(self.score_replicates, self.source)

    def source_interval(self) -> tuple[float, float]:
        """95% bootstrap CI of the accuracy in the source language (points)."""
        return percentile_interval(self.score_replicates[self.source])

    def source_at_chance(self) -> bool:
        """Whether source-language accuracy is indistinguishable from guessing: then the model has
        not learned the task, and a flat slope is a floor, not robustness."""
        low, high = self.source_interval()
        return low <= 100 * self.group.first.languages[self.source].chance <= high

    def zero_shot_replicates(self) -> np.ndarray:
        return np.mean([r for lang, r in self.score_replicates.items() if lang != self.source], axis=0)

    def zero_shot_average(self) -> float:
        return float(np.mean([s for lang, s in self.scores.items() if lang != self.source]))


def _below_source(values: dict, source: str) -> dict:
    """The transfer gap: the source language's value minus each other language's."""
    return {lang: values[source] - v for lang, v in values.items() if lang != source}


def analyse_setting(group: RunGroup, languages: list[str], distances: Distances, n_boot: int,
                    seed: int, n_permutations: int = 9999) -> SettingAnalysis:
    source = group.first.source_language
    scores = {lang: 100 * float(np.mean([run.languages[lang].score for run in group.runs])) for lang in languages}
    replicates = {
        lang: 100 * np.mean([bootstrap_scores(run.languages[lang].correct, run.languages[lang].labels, n_boot, seed)
                             for run in group.runs], axis=0)
        for lang in languages
    }
    values = {"score": (scores, replicates),
              "gap": (_below_source(scores, source), _below_source(replicates, source))}
    fits = {}
    for kind in distances.kinds:
        x = distances.known(kind)
        for measure, (points, reps) in values.items():
            langs = tuple(lang for lang in points if lang in x)
            xs = [x[lang] for lang in langs]
            if len(langs) < MIN_LANGUAGES_FOR_FIT or len(set(xs)) < 2:
                continue
            slope, intercept = ols_slope(xs, [points[lang] for lang in langs])
            slope_reps = ols_slopes(xs, np.column_stack([reps[lang] for lang in langs]))
            rho, p = spearman_permutation(xs, [points[lang] for lang in langs], n_permutations, seed)
            fits[kind, measure] = DistanceFit(kind, measure, langs, slope, intercept,
                                              *percentile_interval(slope_reps), rho, p, slope_reps)
    return SettingAnalysis(group, source, scores, replicates, fits)


@dataclass(frozen=True)
class Comparison:
    """`second` minus `first`, for two settings that differ in `differs`."""

    first: SettingAnalysis
    second: SettingAnalysis
    differs: str
    zero_shot_average: Difference
    slopes: dict[tuple[str, str], Difference]
    interactions: dict[str, InteractionFit]  # kind -> fit; only with several seeds


def compare(first: SettingAnalysis, second: SettingAnalysis, differs: str, distances: Distances) -> Comparison:
    average = Difference(second.zero_shot_average() - first.zero_shot_average(),
                         *percentile_interval(second.zero_shot_replicates() - first.zero_shot_replicates()))
    slopes = {}
    for key, fit in first.fits.items():
        other = second.fits.get(key)
        if other is not None and other.languages == fit.languages:
            slopes[key] = Difference(other.slope - fit.slope,
                                     *percentile_interval(other.slope_replicates - fit.slope_replicates))
    interactions = {}
    if len(first.group.runs) > 1 or len(second.group.runs) > 1:
        for kind, measure in first.fits:
            if measure == "score" and (kind, measure) in slopes:
                interactions[kind] = _interaction(first, second, first.fits[kind, measure].languages,
                                                  distances.known(kind))
    return Comparison(first, second, differs, average, slopes, interactions)


def _interaction(first: SettingAnalysis, second: SettingAnalysis, languages: tuple[str, ...],
                 x: dict[str, float]) -> InteractionFit:
    rows = [(x[lang], 100 * run.languages[lang].score, setting is second, lang)
            for setting in (first, second) for run in setting.group.runs for lang in languages]
    distance, score, is_second, cluster = zip(*rows)
    return interaction_fit(distance, score, is_second, cluster)


def comparable_pairs(groups: list[RunGroup]) -> list[tuple[RunGroup, RunGroup, str]]:
    """Pairs of settings that differ in exactly one aspect (model, training, evaluation or one
    other config key), with that aspect described; every pair when no pair differs in just one."""
    pairs = []
    for i, first in enumerate(groups):
        for second in groups[i + 1:]:
            pairs.append((first, second, _differences(first.first, second.first)))
    single = [(a, b, diffs[0]) for a, b, diffs in pairs if len(diffs) == 1]
    return single or [(a, b, "; ".join(diffs)) for a, b, diffs in pairs]


def _differences(a: RunResult, b: RunResult) -> list[str]:
    """What differs between two runs' configs, named as people name it. A key absent from one
    config and None in the other (an option the schema gained later) is no difference."""
    diffs = []
    if a.model != b.model:
        diffs.append(f"model: {a.model} vs {b.model}")
    train_a, eval_a = _split_phases(a.config["phases"])
    train_b, eval_b = _split_phases(b.config["phases"])
    if a.training != b.training:
        diffs.append(f"training: {a.training} vs {b.training}")
    elif keys := _differing_phase_keys(train_a, train_b):
        diffs.append(f"training settings: {', '.join(keys)}")
    if keys := _differing_phase_keys(eval_a, eval_b):
        diffs.append(f"evaluation settings: {', '.join(keys)}")
    skip = {"model", "encoder_layers", "phases", *BOOKKEEPING_KEYS}
    for key in sorted((set(a.config) | set(b.config)) - skip):
        if a.config.get(key) != b.config.get(key):
            diffs.append(f"{key}: {a.config.get(key)} vs {b.config.get(key)}")
    return diffs


def _differing_phase_keys(a: list[dict], b: list[dict]) -> list[str]:
    """'phase.key x vs y' for each option that differs between phases at the same position."""
    if len(a) != len(b):
        return [f"{len(a)} vs {len(b)} phases"]
    return [f"{pa['name']}.{key} {pa.get(key)} vs {pb.get(key)}" for pa, pb in zip(a, b)
            for key in sorted((set(pa) | set(pb)) - {"name"}) if pa.get(key) != pb.get(key)]


def _split_phases(phases: list[dict]) -> tuple[list[dict], list[dict]]:
    train = [p for p in phases if p.get("kind", "train") != "evaluate"]
    return train, [p for p in phases if p.get("kind") == "evaluate"]
