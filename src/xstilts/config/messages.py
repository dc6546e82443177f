"""Validation errors as one line: where (file and config key path), what is wrong, what is allowed."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from xstilts.config.schema import _TAGGED_MODELS, ExperimentConfig
from xstilts.errors import did_you_mean


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _model_at(loc: tuple[Any, ...], root: type[BaseModel],
              tagged: dict[str, type[BaseModel]]) -> type[BaseModel] | None:
    """The schema class that owns the last key of an error location (for 'allowed: ...')."""
    model: type[BaseModel] | None = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if part in tagged:
            model = tagged[part]
            continue
        field = model.model_fields.get(part) if model else None
        if field is None:
            return None
        # A union of models has no single owner; its tag is the next part of the location.
        models = _models_in(field.annotation)
        model = models[0] if len(models) == 1 else None
    return model


def describe_validation_error(err: ValidationError, source: str, root: type[BaseModel] = ExperimentConfig,
                              tagged: dict[str, type[BaseModel]] = _TAGGED_MODELS) -> str:
    """One line: where (file and config path), what is wrong, what is allowed. `root` is the
    schema validated (an experiment config by default); `tagged` maps the tags of its tagged
    unions to their models."""
    # Unknown keys first: a typo explains the other errors it causes.
    errors = sorted(err.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    # A union member's tag sits between keys; a key may share a tag's name (sampler.temperature).
    loc = tuple(p for i, p in enumerate(first["loc"]) if p not in tagged or i == len(first["loc"]) - 1)
    where = ".".join(str(p) for p in loc) or "(top level)"
    if first["type"] == "extra_forbidden":
        owner = _model_at(first["loc"], root, tagged)
        allowed = sorted(owner.model_fields) if owner else []
        return f"{source}: unknown key '{where}'.{did_you_mean(loc[-1], allowed)} Allowed here: {', '.join(allowed)}"
    got = f" (got {first['input']!r})" if "input" in first and not isinstance(first["input"], dict) else ""
    more = f" [+{len(err.errors()) - 1} more]" if len(err.errors()) > 1 else ""
    # pydantic's words for a phase that is no mapping name our internals, not the config.
    phase_not_a_mapping = first["type"] == "union_tag_not_found" and len(loc) == 2 and loc[0] == "phases"
    message = _PHASE_NOT_A_MAPPING if phase_not_a_mapping else first["msg"]
    return f"{source}: {where}: {message}{got}{more}"


_PHASE_NOT_A_MAPPING = ("a phase is a mapping such as {name: target, task: xnli} "
                        "(kind: train, evaluate, multitask or curriculum)")
