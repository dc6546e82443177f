"""Similarity search over sentence embeddings and the retrieval metrics (XTREME's Tatoeba and
BUCC 2018, XTREME-R's LAReQA and Mewsli-X).

Embeddings are L2-normalised, so a dot product is the cosine similarity. Every search breaks
ties the same way: a higher score first, then the lower index (the earlier sentence in the
file), so results never depend on the order a sort or a top-k kernel happens to return.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence

import torch

# Score-matrix cells per block of queries (rows x keys): bounds memory on big pools (BUCC's
# 400k sentences per side, Mewsli-X's 1M entities).
_BLOCK_CELLS = 1 << 24

# BUCC mining (LASER's and XTREME's setting): the ratio margin over k nearest neighbours.
MARGIN_NEIGHBOURS = 4


def top_k(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, indices) of each row's k best columns, best first; equal scores are ordered
    by column index, and a tie at the k-th place keeps the lowest indices."""
    k = min(k, scores.shape[1])
    kth = scores.topk(k, dim=1).values[:, -1:]
    above = scores > kth
    tied = scores == kth
    # Fill each row's remaining places with its tied columns, lowest index first.
    wanted = k - above.sum(1, keepdim=True)
    chosen = above | (tied & (tied.cumsum(1) <= wanted))
    indices = chosen.nonzero()[:, 1].view(-1, k)  # row-major: ascending index within a row
    values = scores.gather(1, indices)
    order = values.sort(dim=1, descending=True, stable=True).indices
    return values.gather(1, order), indices.gather(1, order)


def search(queries: torch.Tensor, keys: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k most similar keys of every query: (similarities, key indices), each (queries, k)."""
    rows = max(1, _BLOCK_CELLS // max(1, keys.shape[0]))
    blocks = [top_k(queries[start:start + rows] @ keys.T, k) for start in range(0, queries.shape[0], rows)]
    return torch.cat([b[0] for b in blocks]), torch.cat([b[1] for b in blocks])


def nearest(queries: torch.Tensor, keys: torch.Tensor) -> list[int]:
    """The index of every query's most similar key (the lowest index among equals)."""
    return search(queries, keys, 1)[1][:, 0].tolist()


# ---------------------------------------------------------------- bitext mining (BUCC)


def mine_candidates(sources: torch.Tensor, targets: torch.Tensor,
                    neighbours: int = MARGIN_NEIGHBOURS) -> list[tuple[int, int, float]]:
    """Candidate pairs (source index, target index, margin score), best first.

    As in LASER and XTREME (`mine_bitext`, retrieval "max", margin "ratio"): a pair's score is
    its cosine divided by the mean of the average cosine of each side's k nearest neighbours
    in the other language; each sentence proposes its best-scoring neighbour (both
    directions), and proposals are accepted best first while neither sentence is taken yet.
    """
    fwd_sim, fwd_idx = search(sources, targets, neighbours)
    bwd_sim, bwd_idx = search(targets, sources, neighbours)
    source_mean, target_mean = fwd_sim.mean(1), bwd_sim.mean(1)
    fwd_score = fwd_sim / ((source_mean[:, None] + target_mean[fwd_idx]) / 2)
    bwd_score = bwd_sim / ((target_mean[:, None] + source_mean[bwd_idx]) / 2)
    fwd_best = fwd_score.argmax(1)  # the first of equal scores: the nearer neighbour
    bwd_best = bwd_score.argmax(1)
    proposals = [(i, int(fwd_idx[i, b]), float(fwd_score[i, b])) for i, b in enumerate(fwd_best.tolist())]
    proposals += [(int(bwd_idx[j, b]), j, float(bwd_score[j, b])) for j, b in enumerate(bwd_best.tolist())]
    proposals.sort(key=lambda p: -p[2])  # stable: forward proposals, then lower indices, first on ties
    taken_sources: set[int] = set()
    taken_targets: set[int] = set()
    pairs = []
    for i, j, score in proposals:
        if i not in taken_sources and j not in taken_targets:
            taken_sources.add(i)
            taken_targets.add(j)
            pairs.append((i, j, score))
    return pairs


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
