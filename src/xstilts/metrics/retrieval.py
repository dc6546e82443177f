"""The retrieval metrics (XTREME's Tatoeba and BUCC 2018, XTREME-R's LAReQA and Mewsli-X) over
what the search (`search.py`) found: BUCC's threshold and F1, mAP@k. Pure Python, so the task
registry can check metric names without torch.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence


def pair_scores(gold: Collection[Hashable], extracted: Collection[Hashable]) -> tuple[float, float, float]:
    """(precision, recall, F1) of extracted pairs against gold pairs; 0 where undefined."""
    correct = len(set(gold) & set(extracted))
    precision = correct / len(extracted) if extracted else 0.0
    recall = correct / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if correct else 0.0
    return precision, recall, f1


def best_threshold(candidates: Sequence[tuple[Hashable, float]], gold: Collection[Hashable]) -> float:
    """The score threshold (keep candidates scoring at least it) with the best F1 against
    `gold`, as XTREME's `bucc_optimize`: halfway between the last kept score and the next.

    Cuts fall only between different scores (equal scores are kept or dropped together), and
    the first best cut wins. With no correct candidate at all the threshold is 0.
    """
    items = sorted(candidates, key=lambda c: -c[1])
    gold = set(gold)
    best_f1, threshold, correct = 0.0, 0.0, 0
    for kept, (pair, score) in enumerate(items, start=1):
        correct += pair in gold
        next_score = items[kept][1] if kept < len(items) else None
        if next_score == score or not correct:
            continue
        precision, recall = correct / kept, correct / len(gold)
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best_f1:
            best_f1 = f1
            threshold = score if next_score is None else (score + next_score) / 2
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
