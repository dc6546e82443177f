"""One shared encoder with named task heads, saved in Hugging Face format plus a heads file."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from xstilts.errors import XstiltsError
from xstilts.formats import get_format
from xstilts.formats.base import mean_pool
from xstilts.io import give_plain_modes, read_json, replace_dir_atomic, staging_dir_for, write_json_atomic
from xstilts.models.lora import has_lora, merged
from xstilts.models.sources import check_encoder_layers, load_encoder_and_tokenizer, usable_positions
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

    def with_encoder(self, encoder: nn.Module) -> MultiTaskModel:
        """This model's heads (shared, not copied) on another encoder."""
        other = MultiTaskModel(encoder, self.pooling, self.dropout)
        other.heads = self.heads
        other.head_info = self.head_info
        return other

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
    check_encoder_layers(n, len(layers))
    encoder.encoder.layer = layers[:n]
    encoder.config.num_hidden_layers = n


def build_model(name: str, pooling: Pooling = "mean", dropout: float = 0.1, encoder_layers: int | None = None):
    """The model an experiment starts from: a pretrained encoder (new heads are made as tasks
    need them), or a saved xstilts model (`runs/<run>/<phase>/model`) with its trained heads,
    so a new experiment continues from an old run. New heads get `dropout`."""
    if is_saved_model(Path(name)):
        model, tokenizer = load_model(Path(name))
        if model.pooling != pooling:
            raise XstiltsError(f"model: {name} was trained with pooling '{model.pooling}', the config says "
                               f"'{pooling}'; set pooling: {model.pooling}")
        model.dropout = dropout
    else:
        encoder, tokenizer = load_encoder_and_tokenizer(name)
        model = MultiTaskModel(encoder, pooling, dropout)
    if encoder_layers is not None:
        keep_first_layers(model.encoder, encoder_layers)
    return model, tokenizer


CHECKSUMS_FILE = "checksums.json"


def save_model(model: MultiTaskModel, tokenizer, target: Path) -> None:
    """Encoder and tokenizer in Hugging Face format under `encoder/` (LoRA adapters merged in;
    the adapter alone under `adapter/`), heads beside them, and the sha256 of every file.
    Written into a staging directory and moved in place, so `target` is always whole."""
    staging = staging_dir_for(target)
    merged(model.encoder).save_pretrained(staging / "encoder")
    if has_lora(model.encoder):
        model.encoder.save_pretrained(staging / "adapter")
    tokenizer.save_pretrained(staging / "encoder")
    state = {k: v.detach().cpu().contiguous() for k, v in model.heads.state_dict().items()}
    save_file(state, staging / "heads.safetensors")
    write_json_atomic(staging / "heads.json", {
        "pooling": model.pooling,
        "dropout": model.dropout,
        "heads": {key: asdict(info) for key, info in model.head_info.items()},
    })
    give_plain_modes(staging)
    write_json_atomic(staging / CHECKSUMS_FILE, _checksums(staging))
    replace_dir_atomic(staging, target)


def _checksums(model_dir: Path) -> dict[str, str]:
    """sha256 of every file of a saved model, by path relative to it."""
    digests = {}
    for file in sorted(p for p in model_dir.rglob("*") if p.is_file() and p.name != CHECKSUMS_FILE):
        with open(file, "rb") as handle:
            digests[file.relative_to(model_dir).as_posix()] = hashlib.file_digest(handle, "sha256").hexdigest()
    return digests


def verify_checksums(model_dir: Path) -> None:
    """Every file recorded when the model was saved is there, unchanged (models saved before
    checksums were recorded have none to check)."""
    recorded_file = model_dir / CHECKSUMS_FILE
    if not recorded_file.is_file():
        return
    try:
        recorded = json.loads(recorded_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        recorded = None
    if not isinstance(recorded, dict):
        raise XstiltsError(f"{recorded_file}: not a readable checksum list; restore the model or retrain its phase")
    actual = _checksums(model_dir)
    for name in recorded:
        if actual.get(name) != recorded[name]:
            state = "is missing" if name not in actual else "does not match the sha256 recorded when it was saved"
            raise XstiltsError(f"{model_dir / name} {state} (damaged or altered); restore it or retrain the phase")


def is_saved_model(path: Path) -> bool:
    return (Path(path) / "heads.json").is_file() and (Path(path) / "encoder").is_dir()


def saved_heads(name: str) -> list[str]:
    """The heads a model an experiment starts from already has: a saved xstilts model's
    (`runs/<run>/<phase>/model`); none for a pretrained encoder."""
    if not is_saved_model(Path(name)):
        return []
    heads = read_json(Path(name) / "heads.json", "a model's heads.json, as save_model writes it").get("heads")
    return list(heads) if isinstance(heads, dict) else []


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
    heads_file = path / "heads.json"
    meta = read_json(heads_file, "a model's heads.json, as save_model writes it")
    missing = [k for k in ("pooling", "dropout", "heads") if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise XstiltsError(f"{heads_file}: not a heads file save_model wrote (no {', '.join(missing)})")
    for weights in [path / "heads.safetensors", *sorted((path / "encoder").glob("*.safetensors"))]:
        check_weight_file(weights)
    verify_checksums(path)  # after the structural checks, whose messages say more about a broken file
    encoder, tokenizer = load_encoder_and_tokenizer(str(path / "encoder"))
    try:
        model = MultiTaskModel(encoder, meta["pooling"], meta["dropout"])
        for key, info in meta["heads"].items():
            model.heads[key] = get_format(info["format"]).head(model.hidden_size, len(info["labels"]), model.dropout)
            model.head_info[key] = HeadInfo(info["format"], info["labels"])
    except (KeyError, TypeError, AttributeError, XstiltsError) as exc:
        raise XstiltsError(f"{heads_file}: not a heads file save_model wrote ({exc.__class__.__name__}: {exc})") from None
    try:
        model.heads.load_state_dict(load_file(path / "heads.safetensors"))
    except RuntimeError as exc:
        reason = str(exc).splitlines()[0]
        raise XstiltsError(f"{path / 'heads.safetensors'}: does not match {heads_file} ({reason})") from None
    return model, tokenizer


def check_weight_file(path: Path) -> None:
    """A safetensors file whose header and length are whole (a truncated or overwritten file
    fails here, in one line, instead of deep inside the model load)."""
    if not path.is_file():
        raise XstiltsError(f"{path}: missing; a saved model has encoder/, heads.json and heads.safetensors")
    try:
        with safe_open(path, framework="pt") as weights:
            weights.keys()
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error type, and OSError
        reason = (str(exc).splitlines() or [""])[0] or exc.__class__.__name__
        raise XstiltsError(f"{path}: not a complete safetensors file ({reason}); the model is damaged, "
                           "rerun the phase that wrote it") from None


def position_limit(encoder: nn.Module) -> int | None:
    """The most tokens the encoder takes (`usable_positions` of its config)."""
    return usable_positions(encoder.config)


def check_max_length(encoder: nn.Module, max_length: int, where: str = "max_length") -> None:
    """Refuse a length cap the encoder cannot take, before any input reaches it."""
    limit = position_limit(encoder)
    if limit is not None and max_length > limit:
        raise XstiltsError(f"{where}: {max_length} is more than the model takes ({limit} positions, "
                           f"{type(encoder).__name__}); allowed: 1 to {limit}")
