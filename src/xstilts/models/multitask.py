"""One shared encoder with named task heads, saved in Hugging Face format plus a heads file."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from xstilts.errors import XstiltsError
from xstilts.formats import get_format
from xstilts.formats.base import mean_pool
from xstilts.io import replace_dir_atomic, staging_dir_for, write_json_atomic
from xstilts.models.sources import load_encoder_and_tokenizer
from xstilts.tasks.spec import TaskFormat, TaskSpec

Pooling = Literal["mean", "cls"]
# Written beside a model directory removed by `keep_models`; it says why the model is gone.
MODEL_NOT_KEPT = "MODEL_NOT_KEPT"


@dataclass(frozen=True)
class HeadInfo:
    format: TaskFormat
    labels: list[str]


class MultiTaskModel(nn.Module):
    def __init__(self, encoder: nn.Module, pooling: Pooling = "mean", dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.dropout = dropout
        self.heads = nn.ModuleDict()
        self.head_info: dict[str, HeadInfo] = {}

    @property
    def hidden_size(self) -> int:
        return self.encoder.config.hidden_size

    def ensure_head(self, spec: TaskSpec) -> str:
        """The head a task uses, created on first use; a shared head must match the task."""
        info = HeadInfo(spec.format, list(spec.labels))
        if spec.head in self.head_info:
            if self.head_info[spec.head] != info:
                raise XstiltsError(
                    f"task '{spec.name}' uses head '{spec.head}', which was trained for "
                    f"{self.head_info[spec.head].labels} ({self.head_info[spec.head].format})"
                )
            return spec.head
        self.heads[spec.head] = get_format(spec.format).head(self.hidden_size, len(spec.labels), self.dropout)
        self.heads[spec.head].train(self.training)  # a new module would otherwise be in train mode
        self.head_info[spec.head] = info
        return spec.head

    def trained_head(self, spec: TaskSpec) -> str:
        """The head to evaluate a task with; it must exist (never a fresh random one)."""
        if spec.head not in self.head_info:
            trained = ", ".join(self.head_info) or "none"
            raise XstiltsError(
                f"the model has no '{spec.head}' head for task '{spec.name}' (heads it has: {trained}); "
                "train a phase on that task first"
            )
        return self.ensure_head(spec)

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "cls":
            return hidden[:, 0]
        return mean_pool(hidden, attention_mask)

    def forward(self, head: str, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The head's outputs: (batch, labels) for sentence-level heads, (batch, length, ...) for
        token-level ones. Multiple-choice inputs are (batch, choices, length)."""
        num_choices = None
        if input_ids.dim() == 3:
            num_choices = input_ids.shape[1]
            input_ids = input_ids.flatten(0, 1)
            attention_mask = attention_mask.flatten(0, 1)
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if get_format(self.head_info[head].format).token_level:
            return self.heads[head](hidden, attention_mask)
        return self.heads[head](self.pool(hidden, attention_mask), num_choices)


def keep_first_layers(encoder: nn.Module, n: int) -> None:
    """Truncate a BERT/RoBERTa-style encoder to its first `n` transformer layers."""
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        raise XstiltsError(f"encoder_layers: {type(encoder).__name__} has no encoder.layer list to truncate")
    if not 1 <= n <= len(layers):
        raise XstiltsError(f"encoder_layers: {n} is not between 1 and the model's {len(layers)} layers")
    encoder.encoder.layer = layers[:n]
    encoder.config.num_hidden_layers = n


def build_model(name: str, pooling: Pooling = "mean", dropout: float = 0.1, encoder_layers: int | None = None):
    encoder, tokenizer = load_encoder_and_tokenizer(name)
    if encoder_layers is not None:
        keep_first_layers(encoder, encoder_layers)
    return MultiTaskModel(encoder, pooling, dropout), tokenizer


def save_model(model: MultiTaskModel, tokenizer, target: Path) -> None:
    """Encoder and tokenizer in Hugging Face format under `encoder/`, heads beside them.
    Written into a staging directory and moved in place, so `target` is always whole."""
    staging = staging_dir_for(target)
    model.encoder.save_pretrained(staging / "encoder")
    tokenizer.save_pretrained(staging / "encoder")
    state = {k: v.detach().cpu().contiguous() for k, v in model.heads.state_dict().items()}
    save_file(state, staging / "heads.safetensors")
    write_json_atomic(staging / "heads.json", {
        "pooling": model.pooling,
        "dropout": model.dropout,
        "heads": {key: asdict(info) for key, info in model.head_info.items()},
    })
    replace_dir_atomic(staging, target)


def is_saved_model(path: Path) -> bool:
    return (Path(path) / "heads.json").is_file() and (Path(path) / "encoder").is_dir()


def load_model(path: Path):
    path = Path(path)
    not_kept = path.parent / MODEL_NOT_KEPT
    if not is_saved_model(path) and not_kept.is_file():
        raise XstiltsError(f"{path}: {not_kept.read_text(encoding='utf-8').strip()}")
    if not is_saved_model(path):
        raise XstiltsError(
            f"{path} is not an xstilts model directory (expected encoder/ and heads.json, "
            "as written in runs/<run>/<phase>/model)"
        )
    meta = json.loads((path / "heads.json").read_text(encoding="utf-8"))
    encoder, tokenizer = load_encoder_and_tokenizer(str(path / "encoder"))
    model = MultiTaskModel(encoder, meta["pooling"], meta["dropout"])
    for key, info in meta["heads"].items():
        model.heads[key] = get_format(info["format"]).head(model.hidden_size, len(info["labels"]), model.dropout)
        model.head_info[key] = HeadInfo(info["format"], info["labels"])
    model.heads.load_state_dict(load_file(path / "heads.safetensors"))
    return model, tokenizer
