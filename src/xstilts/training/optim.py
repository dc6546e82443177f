"""AdamW that updates only the embedding rows a batch touched.

The input embedding matrix is most of a multilingual encoder's parameters (96M of the built-in
model's 118M). With a dense gradient, every step writes a 96M-entry gradient and runs Adam over
every row, although a batch uses a few thousand of the 250k word pieces. Marking the embedding
`sparse` makes its gradient hold only the used rows; `LazyAdamW` updates their moments and
weights (as TensorFlow's LazyAdam does) and leaves the other rows untouched, instead of decaying
them with zero gradients. Dense parameters take torch's own AdamW step unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class LazyAdamW(torch.optim.AdamW):
    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        sparse: list[tuple[torch.Tensor, dict]] = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and p.grad.is_sparse:
                    sparse.append((p, group))
        # torch's AdamW rejects sparse gradients and skips parameters without one.
        grads = [p.grad for p, _ in sparse]
        for p, _ in sparse:
            p.grad = None
        super().step()
        for (p, group), grad in zip(sparse, grads):
            p.grad = grad
            self._sparse_step(p, grad, group)
        return loss

    def _sparse_step(self, p: torch.Tensor, grad: torch.Tensor, group: dict) -> None:
        grad = grad.coalesce()  # repeated word pieces in a batch: sum their rows
        rows, values = grad.indices()[0], grad.values()
        state = self.state[p]
        if not state:
            state["step"] = torch.tensor(0.0)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["step"] += 1
        step = state["step"].item()
        beta1, beta2 = group["betas"]
        lr, eps, decay = group["lr"], group["eps"], group["weight_decay"]
        exp_avg = state["exp_avg"][rows].mul_(beta1).add_(values, alpha=1 - beta1)
        exp_avg_sq = state["exp_avg_sq"][rows].mul_(beta2).addcmul_(values, values, value=1 - beta2)
        state["exp_avg"][rows] = exp_avg
        state["exp_avg_sq"][rows] = exp_avg_sq
        weights = p[rows]
        if decay:
            weights.mul_(1 - lr * decay)
        denom = (exp_avg_sq.sqrt() / math.sqrt(1 - beta2 ** step)).add_(eps)
        weights.addcdiv_(exp_avg, denom, value=-lr / (1 - beta1 ** step))
        p[rows] = weights


def use_sparse_embedding_gradients(encoder: nn.Module) -> None:
    embedding = encoder.get_input_embeddings()
    if not isinstance(embedding, nn.Embedding):
        raise TypeError(f"sparse embedding updates need an nn.Embedding, not {type(embedding).__name__}")
    embedding.sparse = True


def clip_grad_norm(parameters, max_norm: float) -> torch.Tensor:
    """Clip the global gradient norm like torch's `clip_grad_norm_`, counting sparse
    gradients by their stored rows (torch's version accepts only dense gradients)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    norms = [(g.coalesce().values() if g.is_sparse else g).norm(2) for g in grads]
    total = torch.linalg.vector_norm(torch.stack(norms)) if norms else torch.tensor(0.0)
    scale = max_norm / (total + 1e-6)
    if scale < 1:
        for g in grads:
            g.mul_(scale)
    return total
