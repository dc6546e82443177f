"""An experiment is one YAML file validated here; defaults live in the schema.

Phases form an ordered list: each `train` phase starts from the model the previous one wrote,
each `evaluate` phase scores the latest model. Later phase kinds (multi-task, curricula) join
the `Phase` union.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    NonNegativeInt,
    PositiveInt,
    Tag,
    ValidationError,
    model_validator,
)

from xstilts.errors import XstiltsError
from xstilts.tasks.spec import Split

DATA_DIR_ENV = "XSTILTS_DATA_DIR"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    # auto: packaged demo files, else local files when a data dir is given, else the Hub.
    source: Literal["auto", "local", "hub"] = "auto"
    dir: Path | None = None
    bad_rows: Literal["fail", "skip"] = "fail"


class TrainPhase(_Strict):
    kind: Literal["train"] = "train"
    name: str
    task: str
    epochs: PositiveInt = 1
    # Budget: the first N examples of a seeded shuffle of the training set.
    max_examples: PositiveInt | None = None
    batch_size: PositiveInt = 16
    grad_accum_steps: PositiveInt = 1
    lr: float = Field(3e-5, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, le=1)
    max_grad_norm: float = Field(1.0, gt=0)
    # The input embedding matrix is most of a small multilingual model's parameters; freezing
    # it trains faster and keeps the multilingual word space intact.
    freeze_embeddings: bool = False
    # Or train it through sparse gradients: only the rows a batch used are updated
    # (lazy AdamW), which skips most of the optimizer's work on a 250k-piece vocabulary.
    sparse_embedding_updates: bool = True
    # Batches of similar-length examples: less padding, faster steps.
    group_by_length: bool = True
    # Dev evaluation (English) for best-checkpoint selection: every N optimizer steps and at
    # the end of each epoch; `patience` evaluations without improvement stop the phase.
    eval_every: PositiveInt | None = None
    patience: PositiveInt | None = None
    dev_max_examples: NonNegativeInt | None = 500  # 0: no dev evaluation, keep the last model
    checkpoint_every: PositiveInt = 100


    @model_validator(mode="after")
    def _one_embedding_mode(self) -> "TrainPhase":
        if self.freeze_embeddings:
            self.sparse_embedding_updates = False  # nothing to update
        return self


class EvaluatePhase(_Strict):
    kind: Literal["evaluate"]
    name: str
    task: str
    split: Split = "dev"
    languages: list[str] | Literal["all"] = "all"
    max_examples: PositiveInt | None = None
    batch_size: PositiveInt = 64


def _phase_kind(value: Any) -> str:
    # `kind` may be left out of training phases, the common case.
    return value.get("kind", "train") if isinstance(value, dict) else value.kind


Phase = Annotated[
    Union[Annotated[TrainPhase, Tag("train")], Annotated[EvaluatePhase, Tag("evaluate")]],
    Discriminator(_phase_kind),
]


class ExperimentConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    model: str = "builtin:multilingual-e5-small"
    seed: int = 42
    max_length: PositiveInt = 128
    # Keep only the encoder's first N layers (a smaller variant of a model, e.g. for
    # model-size studies without a second checkpoint); None keeps them all.
    encoder_layers: PositiveInt | None = None
    pooling: Literal["mean", "cls"] = "mean"
    dropout: float = Field(0.1, ge=0, lt=1)
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    log_with: list[Literal["tensorboard", "mlflow"]] = []
    output_dir: Path = Path("runs")
    data: DataConfig = DataConfig()
    phases: list[Phase] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_phase_names(self) -> "ExperimentConfig":
        names = [p.name for p in self.phases]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"phase names must be unique; repeated: {', '.join(dupes)}")
        return self


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    return sorted(model.model_fields)


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The schema class that owns the last key of an error location (for 'allowed: ...')."""
    model: Any = ExperimentConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if part in ("train", "evaluate"):
            model = TrainPhase if part == "train" else EvaluatePhase
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return None
        annotation = field.annotation
        model = {"data": DataConfig, "phases": TrainPhase}.get(part, annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def describe_validation_error(err: ValidationError, source: str) -> str:
    """One line: where (file and config path), what is wrong, what is allowed."""
    # Unknown keys first: a typo explains the other errors it causes.
    errors = sorted(err.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    loc = tuple(p for p in first["loc"] if p not in ("train", "evaluate"))
    where = ".".join(str(p) for p in loc) or "(top level)"
    if first["type"] == "extra_forbidden":
        owner = _model_at(first["loc"])
        allowed = _allowed_keys(owner) if owner else []
        near = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" Did you mean '{near[0]}'?" if near else ""
        return f"{source}: unknown key '{where}'.{hint} Allowed here: {', '.join(allowed)}"
    got = f" (got {first['input']!r})" if "input" in first and not isinstance(first["input"], dict) else ""
    more = f" [+{len(err.errors()) - 1} more]" if len(err.errors()) > 1 else ""
    return f"{source}: {where}: {first['msg']}{got}{more}"


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise XstiltsError(f"--set '{text}': expected key=value, e.g. --set seed=1 or --set phases.0.lr=1e-4")
    key, value = text.split("=", 1)
    return key.strip().split("."), yaml.safe_load(value)


def apply_override(data: dict[str, Any], path: list[str], value: Any) -> None:
    node: Any = data
    for depth, part in enumerate(path[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise XstiltsError(f"--set {'.'.join(path)}: '{part}' is not an index of a list of {len(node)}")
            node = node[int(part)]
        else:
            node = node.setdefault(part, {})
    last = path[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise XstiltsError(f"--set {'.'.join(path)}: '{last}' is not an index of a list of {len(node)}")
        node[int(last)] = value
    else:
        node[last] = value


def load_config(path: Path, overrides: list[str] = (), data_dir: Path | None = None) -> ExperimentConfig:
    """Read, override (`key.sub=value`), fill the data dir (flag > env > file), validate."""
    path = Path(path)
    if not path.is_file():
        raise XstiltsError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f"{path}:{mark.line + 1}" if mark else str(path)
        raise XstiltsError(f"{place}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise XstiltsError(f"{path}: expected a mapping of config keys at the top level")
    for text in overrides:
        apply_override(data, *parse_override(text))
    if data_dir is not None:
        data.setdefault("data", {})["dir"] = str(data_dir)
    elif os.environ.get(DATA_DIR_ENV) and not (data.get("data") or {}).get("dir"):
        data.setdefault("data", {})["dir"] = os.environ[DATA_DIR_ENV]
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise XstiltsError(describe_validation_error(exc, str(path))) from None
