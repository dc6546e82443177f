"""Per-language gaps, score/gap fits against distance, and comparisons of settings, on fake runs
with hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest

from xstilts.analysis.distance_fits import analyse_setting, comparable_pairs, compare
from xstilts.analysis.runs import group_by_setting, load_run
from xstilts.errors import XstiltsError
from xstilts.typology.distances import Distances

LANGS = ["en", "de", "ar", "sw", "ur"]
# Hand-made distances; ur has none (as if URIEL lacked it): it must be left out of the fit.
DISTANCES = Distances("en", ("syntactic",), {"en": {"syntactic": 0.0}, "de": {"syntactic": 0.4},
                                             "ar": {"syntactic": 0.55}, "sw": {"syntactic": 0.7},
                                             "ur": {"syntactic": None}})


def _setting(make_run, name, correct, **kwargs):
    group = group_by_setting([load_run(make_run(name, correct, n=20, **kwargs))])[0]
    return analyse_setting(group, LANGS, DISTANCES, n_boot=400, seed=0)


def test_score_and_gap_fits_by_hand(make_run):
    # accuracy 80, 70, 60, 50 at distance 0, 0.4, 0.55, 0.7; ur (65) has no distance
    a = _setting(make_run, "a", {"en": 16, "de": 14, "ar": 12, "sw": 10, "ur": 13})
    assert a.gaps() == pytest.approx({"de": 10, "ar": 20, "sw": 30, "ur": 15})
    score = a.fits["syntactic", "score"]
    assert score.languages == ("en", "de", "ar", "sw")
    # x mean 0.4125, y mean 65: sum dx*dy = -11.25, sum dx^2 = 0.271875 -> slope -1200/29
    assert score.slope == pytest.approx(-1200 / 29)
    assert score.intercept == pytest.approx(2380 / 29)
    assert score.rho == pytest.approx(-1) and score.p_value == pytest.approx(2 / 24)
    assert score.ci_low < score.slope < score.ci_high
    gap = a.fits["syntactic", "gap"]
    assert gap.languages == ("de", "ar", "sw")  # the source's own gap (0 by definition) is not data
    assert gap.slope == pytest.approx(10 / 0.15) and gap.intercept == pytest.approx(10 - 0.4 * 10 / 0.15)
    assert gap.rho == pytest.approx(1) and gap.p_value == pytest.approx(2 / 6)
    assert a.zero_shot_average() == pytest.approx((70 + 60 + 50 + 65) / 4)


def test_gap_bootstrap_is_paired_across_languages(make_run):
    # Every language right on exactly the same items: every resample has the same accuracy in all.
    same = [1, 0, 1, 1] * 5
    a = _setting(make_run, "a", {lang: same for lang in LANGS})
    for replicates in a.gap_replicates().values():
        assert np.all(replicates == 0)
    assert a.fits["syntactic", "score"].slope == pytest.approx(0)
    assert (a.fits["syntactic", "score"].ci_low, a.fits["syntactic", "score"].ci_high) == pytest.approx((0, 0))


def test_too_few_languages_give_no_fit(make_run):
    group = group_by_setting([load_run(make_run("a", {"en": 16, "de": 14, "ur": 10}, n=20))])[0]
    analysis = analyse_setting(group, ["en", "de", "ur"], DISTANCES, n_boot=100, seed=0)
    assert analysis.fits == {}  # two languages with a distance: no slope worth reporting
    same = Distances("en", ("genetic",), {lang: {"genetic": 1.0} for lang in ("en", "de", "ur")})
    assert analyse_setting(group, ["en", "de", "ur"], same, n_boot=100, seed=0).fits == {}  # no spread


def test_comparison_is_the_slope_difference(make_run):
    a = _setting(make_run, "base", {"en": 16, "de": 14, "ar": 12, "sw": 10, "ur": 13})
    b = _setting(make_run, "large", {"en": 17, "de": 16, "ar": 15, "sw": 14, "ur": 15}, model="large-model")
    c = compare(a, b, "model", DISTANCES)
    score = c.slopes["syntactic", "score"]
    assert score.value == pytest.approx(-600 / 29 + 1200 / 29)
    assert score.ci_low <= score.value <= score.ci_high
    assert c.zero_shot_average.value == pytest.approx((80 + 75 + 70 + 75) / 4 - (70 + 60 + 50 + 65) / 4)
    assert c.interactions == {}  # one seed each: no interaction model


def test_interaction_model_with_several_seeds(make_run):
    runs = [load_run(make_run(f"base-seed{s}", {"en": 16, "de": 14 - s, "ar": 12, "sw": 10 + s, "ur": 13},
                              n=20, seed=s)) for s in (1, 2)]
    runs.append(load_run(make_run("large", {"en": 17, "de": 16, "ar": 15, "sw": 14, "ur": 15}, n=20,
                                  model="large-model")))
    groups = group_by_setting(runs)
    assert [g.label for g in groups] == ["base (2 seeds)", "large"]
    base, large = (analyse_setting(g, LANGS, DISTANCES, n_boot=200, seed=0) for g in groups)
    assert base.scores["de"] == pytest.approx(100 * (13 + 12) / 2 / 20)  # mean over seeds
    c = compare(base, large, "model", DISTANCES)
    fit = c.interactions["syntactic"]
    assert fit.slope_difference == pytest.approx(c.slopes["syntactic", "score"].value)
    assert fit.n_observations == 3 * 4  # three runs x four languages with a distance


def test_pairs_differing_in_one_aspect(make_run):
    small = dict(encoder_layers=6)
    runs = [load_run(make_run("12l", {"en": 10, "de": 9})),
            load_run(make_run("12l-mnli", {"en": 10, "de": 9}, intermediate="mnli")),
            load_run(make_run("6l", {"en": 10, "de": 9}, **small)),
            load_run(make_run("6l-mnli", {"en": 10, "de": 9}, intermediate="mnli", **small))]
    pairs = {(a.label, b.label): why for a, b, why in comparable_pairs(group_by_setting(runs))}
    assert pairs == {
        ("12l", "12l-mnli"): "training: xnli vs mnli \u2192 xnli",
        ("12l", "6l"): "model: builtin:multilingual-e5-small vs builtin:multilingual-e5-small (6 layers)",
        ("12l-mnli", "6l-mnli"): "model: builtin:multilingual-e5-small vs builtin:multilingual-e5-small (6 layers)",
        ("6l", "6l-mnli"): "training: xnli vs mnli \u2192 xnli",
    }
    # Two runs differing in two aspects are still compared, with both named.
    two = comparable_pairs(group_by_setting([runs[0], runs[3]]))
    assert [why for _, _, why in two] == [
        "model: builtin:multilingual-e5-small vs builtin:multilingual-e5-small (6 layers); "
        "training: xnli vs mnli \u2192 xnli"]


def test_training_settings_are_named_and_new_empty_options_ignored(make_run):
    base = load_run(make_run("a", {"en": 10, "de": 9}, target_options={"lr": 1e-4}))
    other_lr = load_run(make_run("b", {"en": 10, "de": 9}, target_options={"lr": 5e-5, "budget": None}))
    same = load_run(make_run("c", {"en": 10, "de": 9}, target_options={"lr": 1e-4, "budget": None}, seed=7))
    assert [why for _, _, why in comparable_pairs(group_by_setting([base, other_lr]))] == [
        "training settings: target.lr 0.0001 vs 5e-05"]
    assert [g.label for g in group_by_setting([base, same])] == ["a (2 seeds)"]  # one setting


def test_run_loading_errors(tmp_path, make_run):
    with pytest.raises(XstiltsError, match="no metrics.json; expected a finished run directory"):
        load_run(tmp_path / "nothing")
    run_dir = make_run("a", {"en": 3, "de": 2}, n=4)
    with pytest.raises(XstiltsError, match="no evaluate phase 'test'; evaluate phases: zero-shot"):
        load_run(run_dir, "test")
    (run_dir / "zero-shot" / "predictions" / "xnli" / "dev-de.jsonl").unlink()
    with pytest.raises(XstiltsError, match="dev-de.jsonl: predictions file missing"):
        load_run(run_dir)


def test_chance_level_source_accuracy_is_flagged(make_run):
    # Three labels: guessing gets 33.3%. 7/20 = 35% cannot be told apart from it; 16/20 can.
    guessing = _setting(make_run, "guessing", {"en": 7, "de": 7, "ar": 6, "sw": 7, "ur": 6})
    learned = _setting(make_run, "learned", {"en": 16, "de": 14, "ar": 12, "sw": 10, "ur": 13})
    assert guessing.group.first.languages["en"].chance == pytest.approx(1 / 3)
    assert guessing.source_at_chance() and not learned.source_at_chance()
