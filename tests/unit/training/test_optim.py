"""The lazy (row-sparse) AdamW matches torch's AdamW where the two should agree."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from xstilts.training.optim import LazyAdamW, clip_grad_norm, use_sparse_embedding_gradients


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 4)
        self.out = nn.Linear(4, 2)

    def get_input_embeddings(self):
        return self.embed

    def forward(self, ids):
        return self.out(self.embed(ids).mean(1))


def _loss(model, ids):
    return nn.functional.cross_entropy(model(ids), torch.tensor([0, 1]))


def _pair():
    torch.manual_seed(0)
    dense = Tiny()
    lazy = copy.deepcopy(dense)
    use_sparse_embedding_gradients(lazy)
    def groups(m):
        return [{"params": [m.embed.weight, m.out.weight], "weight_decay": 0.0},
                {"params": [m.out.bias], "weight_decay": 0.0}]
    return dense, lazy, torch.optim.AdamW(groups(dense), lr=0.1), LazyAdamW(groups(lazy), lr=0.1)


def test_first_step_equals_adamw_and_touches_only_used_rows():
    dense, lazy, opt_dense, opt_lazy = _pair()
    ids = torch.tensor([[1, 2, 2], [3, 4, 1]])
    before = lazy.embed.weight.detach().clone()
    for model, opt in ((dense, opt_dense), (lazy, opt_lazy)):
        _loss(model, ids).backward()
        opt.step()
    assert lazy.embed.weight.grad.is_sparse
    for a, b in zip(dense.parameters(), lazy.parameters()):
        torch.testing.assert_close(a, b)
    changed = (lazy.embed.weight != before).any(1).nonzero().flatten().tolist()
    assert changed == [1, 2, 3, 4]


def test_untouched_rows_keep_their_values_and_moments_later():
    _, lazy, _, opt = _pair()
    _loss(lazy, torch.tensor([[1, 2], [3, 4]])).backward()
    opt.step()
    opt.zero_grad()
    row1 = lazy.embed.weight[1].detach().clone()
    moment1 = opt.state[lazy.embed.weight]["exp_avg"][1].clone()
    _loss(lazy, torch.tensor([[5, 6], [7, 8]])).backward()
    opt.step()
    assert torch.equal(lazy.embed.weight[1], row1)  # AdamW would move it by its momentum
    assert torch.equal(opt.state[lazy.embed.weight]["exp_avg"][1], moment1)
    assert opt.state[lazy.embed.weight]["step"].item() == 2


def test_clipping_counts_sparse_rows_like_dense_gradients():
    dense, lazy, _, _ = _pair()
    ids = torch.tensor([[1, 2, 2], [3, 4, 1]])
    for model in (dense, lazy):
        (_loss(model, ids) * 100).backward()
    norm_dense = torch.nn.utils.clip_grad_norm_(dense.parameters(), 1.0)
    norm_lazy = clip_grad_norm(list(lazy.parameters()), 1.0)
    torch.testing.assert_close(norm_dense, norm_lazy)
    torch.testing.assert_close(dense.embed.weight.grad, lazy.embed.weight.grad.to_dense())
    assert norm_dense > 1


def test_sparse_updates_need_an_embedding_module():
    class NoEmbedding(nn.Module):
        def get_input_embeddings(self):
            return nn.Linear(2, 2)

    with pytest.raises(TypeError, match="need an nn.Embedding"):
        use_sparse_embedding_gradients(NoEmbedding())


@pytest.mark.parametrize("fused", [False, True])  # training uses torch's fused kernel for the dense step
def test_several_steps_equal_adamw_with_weight_decay_when_every_row_is_used(fused):
    # The lazy optimiser differs from AdamW only on rows a batch did not touch: with every
    # row in every batch, the two training paths must stay identical step after step.
    torch.manual_seed(0)
    dense = Tiny()
    lazy = copy.deepcopy(dense)
    use_sparse_embedding_gradients(lazy)
    opt_dense = torch.optim.AdamW(dense.parameters(), lr=0.05, weight_decay=0.01)
    opt_lazy = LazyAdamW(lazy.parameters(), lr=0.05, weight_decay=0.01, fused=fused)
    for step in range(4):
        ids = torch.randperm(20, generator=torch.Generator().manual_seed(step)).view(2, 10)
        for model, opt in ((dense, opt_dense), (lazy, opt_lazy)):
            opt.zero_grad()
            _loss(model, ids).backward()
            opt.step()
    for a, b in zip(dense.parameters(), lazy.parameters()):
        torch.testing.assert_close(a, b)
