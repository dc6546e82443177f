"""The retrieval metrics (XTREME's Tatoeba and BUCC 2018, XTREME-R's LAReQA and Mewsli-X) over
what the search (`search.py`) found: BUCC's threshold and F1, mAP@k. Pure Python, so the task
registry can check metric names without torch.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence


def pair_scores(gold: Collection[Hashable], extracted: Collection[Hashable]) -> tuple[float, float, float]:
    """(precision, recall, F1) of the set of extracted pairs against the set of gold pairs, as
    XTREME's evaluate.py scores BUCC (a pair listed twice counts once); 0 where undefined."""
    gold, extracted = set(gold), set(extracted)
    correct = len(gold & extracted)
    if not correct:
        return 0.0, 0.0, 0.0
    precision, recall = correct / len(extracted), correct / len(gold)
    return precision, recall, 2 * precision * recall / (precision + recall)


def best_threshold(candidates: Sequence[tuple[Hashable, float]], gold: Collection[Hashable]) -> float:
    """The score threshold (keep candidates scoring at least it) that XTREME's `bucc_optimize`
    chooses against `gold`: candidates sorted by score (stably: equal scores keep their order),
    the first cut with the best F1 wins, and the threshold is halfway between the last kept
    score and the next one. As there, a cut may fall inside a run of equal scores (its
    threshold is then that score, which keeps the whole run); with no correct candidate the
    threshold is 0. Where the official loop would read past the last candidate (the best cut
    keeps them all) and crash, the threshold is the last score: every candidate is kept.
    """
    items = sorted(candidates, key=lambda c: -c[1])
    gold = set(gold)
    best_f1, threshold, correct = 0.0, 0.0, 0
    for kept, (pair, score) in enumerate(items, start=1):
        correct += pair in gold
        if not correct:
            continue
        precision, recall = correct / kept, correct / len(gold)
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best_f1:
            best_f1 = f1
            threshold = (score + items[kept][1]) / 2 if kept < len(items) else score
    return threshold


def extract(candidates: Sequence[tuple[Hashable, float]], threshold: float) -> list[Hashable]:
    return [pair for pair, score in candidates if score >= threshold]


def bucc_f1(golds: Sequence[Hashable], predictions: Sequence[Hashable], lang: str | None = None) -> float:
    """F1 of the extracted pairs (`predictions`) against the gold pairs."""
    return pair_scores(golds, predictions)[2]


# ---------------------------------------------------------------- ranking (LAReQA, Mewsli-X)


def average_precision_at_k(relevant: Collection[Hashable], ranking: Sequence[Hashable], k: int) -> float:
    """Precision at each relevant hit in the top k, summed and divided by min(k, relevant)."""
    relevant = set(relevant)  # the scorer's labels are JSON lists
    if not relevant:
        raise ValueError("average precision needs at least one relevant item")
    hits, total, seen = 0, 0.0, set()
    for rank, item in enumerate(ranking[:k], start=1):
        if item in relevant and item not in seen:
            hits += 1
            total += hits / rank
        seen.add(item)
    return total / min(k, len(relevant))


def map_at_k(golds: Sequence[Collection[Hashable]], predictions: Sequence[Sequence[Hashable]], k: int) -> float:
    if len(golds) != len(predictions) or not golds:
        raise ValueError("mAP needs equally long, non-empty lists of relevant sets and rankings")
    return sum(average_precision_at_k(g, p, k) for g, p in zip(golds, predictions)) / len(golds)


def map_at_20(golds: Sequence[Collection[Hashable]], predictions: Sequence[Sequence[Hashable]],
              lang: str | None = None) -> float:
    """Mean average precision at 20 (XTREME-R's LAReQA and Mewsli-X metric)."""
    return map_at_k(golds, predictions, 20)


RETRIEVAL_METRICS = {"bucc_f1": bucc_f1, "map_at_20": map_at_20}
