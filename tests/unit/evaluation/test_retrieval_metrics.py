"""Retrieval search and metrics against hand-computed values: deterministic ties, Tatoeba
accuracy, BUCC margin mining and threshold choice, mAP@20."""

from __future__ import annotations

import pytest
import torch

from xstilts.metrics import METRICS
from xstilts.metrics.retrieval import average_precision_at_k, best_threshold, extract, map_at_k, pair_scores
from xstilts.metrics.search import mine_candidates, nearest, search, top_k


def unit(*rows):
    return torch.nn.functional.normalize(torch.tensor(rows, dtype=torch.float), dim=-1)


# ---------------------------------------------------------------- ties


def test_top_k_orders_ties_by_index_and_keeps_the_lowest_indices_at_the_cut():
    scores = torch.tensor([[0.5, 0.9, 0.5, 0.5], [0.2, 0.2, 0.2, 0.7]])
    values, indices = top_k(scores, 2)
    assert indices.tolist() == [[1, 0], [3, 0]]
    assert torch.allclose(values, torch.tensor([[0.9, 0.5], [0.7, 0.2]]))
    assert top_k(scores, 3)[1].tolist() == [[1, 0, 2], [3, 0, 1]]
    assert top_k(scores, 10)[1].tolist() == [[1, 0, 2, 3], [3, 0, 1, 2]]  # k capped at the pool


def test_search_in_blocks_matches_one_block(monkeypatch):
    queries, keys = torch.randn(7, 4), torch.randn(5, 4)
    whole = search(queries, keys, 3)
    monkeypatch.setattr("xstilts.metrics.search._BLOCK_CELLS", 10)  # two queries per block
    blocked = search(queries, keys, 3)
    assert torch.equal(whole[1], blocked[1]) and torch.allclose(whole[0], blocked[0])


def test_tatoeba_accuracy_with_a_tie_takes_the_lowest_index():
    # Sources 0 and 1 are the same sentence: English sentence 1 retrieves source 0 (a miss).
    sources = unit([1, 0], [1, 0], [0, 1])
    english = unit([1, 0], [1, 0], [0, 1])
    predictions = nearest(english, sources)
    assert predictions == [0, 0, 2]
    assert METRICS["accuracy"]([0, 1, 2], predictions, "de") == pytest.approx(2 / 3)


# ---------------------------------------------------------------- BUCC


def test_margin_mining_by_hand():
    # Cosines: s0: t0 .8, t1 0 | s1: t0 .96, t1 .8 | s2: t0 .6, t1 1 (2 neighbours each way).
    # Means of the 2 nearest: s0 .4, s1 .88, s2 .8; t0 (.96, .8) .88, t1 (1, .8) .9.
    # Margins cos / mean of the two: (s0,t0) .8/.64 = 1.25, (s1,t0) .96/.88 = 1.0909,
    # (s1,t1) .8/.89, (s2,t1) 1/.85 = 1.1765. s1's best cosine (t0, the highest of all) loses
    # t0 to s0, whose margin is higher; s1 proposes only t0, so it stays unpaired.
    sources = unit([1, 0], [0.6, 0.8], [0, 1])
    targets = unit([0.8, 0.6], [0, 1])
    pairs = mine_candidates(sources, targets, neighbours=2)
    assert [(i, j) for i, j, _ in pairs] == [(0, 0), (2, 1)]
    assert [s for _, _, s in pairs] == pytest.approx([0.8 / 0.64, 1 / 0.85])


DEV = [("A", 0.9), ("B", 0.8), ("C", 0.7), ("D", 0.6), ("E", 0.5), ("G", 0.4)]
DEV_GOLD = {"A", "C", "E", "F"}  # F was never mined: recall counts it


def test_threshold_maximises_dev_f1_halfway_to_the_next_score():
    # F1 keeping the top 1..6: .4, .333, .571, .5, .667 (P 3/5, R 3/4), .6 -> keep 5: (0.5 + 0.4) / 2.
    threshold = best_threshold(DEV, DEV_GOLD)
    assert threshold == pytest.approx(0.45)
    assert pair_scores(DEV_GOLD, extract(DEV, threshold)) == pytest.approx((3 / 5, 3 / 4, 2 / 3))


def test_test_set_is_cut_at_the_dev_threshold_not_its_own_best():
    test = [("P", 0.95), ("Q", 0.47), ("R", 0.44)]
    gold = {"P", "R"}
    extracted = extract(test, best_threshold(DEV, DEV_GOLD))  # 0.45 keeps P and Q
    assert extracted == ["P", "Q"]
    assert pair_scores(gold, extracted) == pytest.approx((0.5, 0.5, 0.5))
    assert METRICS["bucc_f1"](sorted(gold), extracted, "de") == pytest.approx(0.5)
    # Tuned on the test set itself it would keep all three: F1 0.8.
    assert pair_scores(gold, extract(test, best_threshold(test, gold)))[2] == pytest.approx(0.8)


def test_threshold_cuts_as_bucc_optimize_also_inside_equal_scores():
    candidates = [("A", 0.9), ("B", 0.5), ("C", 0.5)]
    threshold = best_threshold(candidates, {"A"})
    assert extract(candidates, threshold) == ["A"]
    assert threshold == pytest.approx(0.7)
    tied = [("A", 0.5), ("B", 0.5), ("C", 0.1)]
    assert extract(tied, best_threshold(tied, {"A"})) == ["A", "B"]
    # Best cut after A, inside the run of 0.5s (F1 1 on X, A): the official threshold is
    # (0.5 + 0.5) / 2, not 0.3 between the run and 0.1, and a test score of 0.4 is not kept.
    run = [("X", 0.9), ("A", 0.5), ("B", 0.5), ("C", 0.1)]
    assert best_threshold(run, {"X", "A"}) == 0.5
    assert extract([("T", 0.4)], best_threshold(run, {"X", "A"})) == []


def test_threshold_past_the_last_candidate_keeps_them_all():
    # bucc_optimize reads items[i + 1] here and crashes; xstilts keeps every candidate.
    assert best_threshold([("A", 0.9), ("B", 0.8)], {"A", "B"}) == 0.8
    assert best_threshold([("A", 0.9)], {"A"}) == 0.9


def test_repeated_pairs_count_once():
    # evaluate.py scores sets of pairs: gold [a-b], predicted [a-b, a-b] is F1 1, not 2/3.
    assert pair_scores([("a", "b")], [("a", "b"), ("a", "b")]) == (1.0, 1.0, 1.0)
    assert METRICS["bucc_f1"]([("a", "b"), ("a", "b"), ("c", "d")], [("a", "b"), ("a", "b")], "de") == \
        pytest.approx(2 * 0.5 / 1.5)


def test_no_correct_candidate_gives_threshold_zero_and_f1_zero():
    assert best_threshold([("A", 0.9)], {"Z"}) == 0.0
    assert best_threshold([], {"Z"}) == 0.0
    assert pair_scores({"Z"}, ["A"]) == (0.0, 0.0, 0.0)
    assert pair_scores({"Z"}, []) == (0.0, 0.0, 0.0)


# ---------------------------------------------------------------- mAP@20


def test_average_precision_with_several_relevant_and_fewer_than_k_candidates():
    # Hits at ranks 1 and 3 of 4 candidates; c is never retrieved: (1/1 + 2/3) / min(20, 3).
    assert average_precision_at_k({"a", "b", "c"}, ["a", "x", "b", "y"], 20) == pytest.approx((1 + 2 / 3) / 3)
    # Only the top k count, normalised by min(k, relevant): a hit at rank 2 of k = 2 -> (1/2) / 2.
    assert average_precision_at_k({"a", "b", "c"}, ["x", "a", "b"], 2) == pytest.approx(0.25)
    # A relevant item below rank 20 earns nothing.
    assert average_precision_at_k({"z"}, [f"c{i}" for i in range(20)] + ["z"], 20) == 0.0
    # A repeated item counts once, in the ranking and in the relevant list (XTREME-R's JSON labels).
    assert average_precision_at_k({"a", "b"}, ["a", "a", "b"], 20) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision_at_k(["a", "a"], ["a"], 20) == 1.0


def test_map_at_20_is_the_mean_over_queries():
    golds = [{"a"}, {"a", "b"}]
    rankings = [["x", "a"], ["b", "a"]]
    assert map_at_k(golds, rankings, 20) == pytest.approx((0.5 + 1.0) / 2)
    assert METRICS["map_at_20"](golds, rankings, "en") == pytest.approx(0.75)
    with pytest.raises(ValueError):
        map_at_k([set()], [["a"]], 20)


def test_ranking_ties_put_the_lower_index_first():
    # Candidates 0 and 1 are equally similar to the query; the relevant one (1) ranks second.
    query = unit([1, 0])
    pool = unit([1, 1], [1, 1], [0, 1])
    ranking = search(query, pool, 20)[1][0].tolist()
    assert ranking == [0, 1, 2]
    assert average_precision_at_k({1}, ranking, 20) == pytest.approx(0.5)
