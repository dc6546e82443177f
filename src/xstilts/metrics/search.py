"""Similarity search over sentence embeddings (torch): top-k with deterministic ties, nearest
neighbours and BUCC's margin mining; the metrics over its results are in `retrieval.py`.

Embeddings are L2-normalised, so a dot product is the cosine similarity. Every search breaks
ties the same way: a higher score first, then the lower index (the earlier sentence in the
file), so results never depend on the order a sort or a top-k kernel happens to return.
"""

from __future__ import annotations

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
