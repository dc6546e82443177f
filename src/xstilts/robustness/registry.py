"""The registry of perturbations (name -> class) and building them from command-line text."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from xstilts.config import parse_override
from xstilts.errors import XstiltsError, did_you_mean
from xstilts.robustness.checklist import HypothesisNegation
from xstilts.robustness.code_switch import AdversarialCodeSwitch, CodeSwitch
from xstilts.robustness.perturbations import (
    CharNoise,
    EntitySwap,
    Perturbation,
    SurfaceNoise,
    UnicodeVariants,
    WordOrder,
)
from xstilts.robustness.textfooler import TextFooler

# `--perturbations all` runs them in this order: model-free first, then attacks, then tests.
PERTURBATIONS: dict[str, type[Perturbation]] = {
    cls.name: cls for cls in (CharNoise, WordOrder, SurfaceNoise, UnicodeVariants, EntitySwap, CodeSwitch,
                              AdversarialCodeSwitch, TextFooler, HypothesisNegation)
}


def perturbation_class(name: str, where: str) -> type[Perturbation]:
    if name not in PERTURBATIONS:
        raise XstiltsError(f"{where}: unknown perturbation '{name}'.{did_you_mean(name, PERTURBATIONS)} "
                           f"Allowed: all, {', '.join(PERTURBATIONS)}")
    return PERTURBATIONS[name]


def build_perturbation(name: str, params: dict[str, Any], where: str) -> Perturbation:
    cls = perturbation_class(name, where)
    try:
        return cls.model_validate(params)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        if first["type"] == "extra_forbidden":
            raise XstiltsError(f"{where}: '{name}' has no option '{key}'; "
                               f"its options: {', '.join(cls.model_fields)}") from None
        raise XstiltsError(f"{where}: {name}.{key}: {first['msg']} (got {first['input']!r})") from None


def build_perturbations(names: str, overrides: list[str], defaults: dict[str, Any]) -> list[Perturbation]:
    """`all` or comma-separated names. `defaults` (seed, strength, query budget) go to every
    perturbation that has the option; `--set name.option=value` overrides win."""
    chosen = list(PERTURBATIONS) if names.strip() == "all" else [n.strip() for n in names.split(",") if n.strip()]
    if not chosen:
        raise XstiltsError(f"--perturbations: none given; allowed: all, {', '.join(PERTURBATIONS)}")
    params: dict[str, dict[str, Any]] = {}
    for name in chosen:
        fields = perturbation_class(name, "--perturbations").model_fields
        params[name] = {k: v for k, v in defaults.items() if k in fields and v is not None}
    for text in overrides:
        path, value = parse_override(text)
        if len(path) != 2 or path[0] not in params:
            raise XstiltsError(f"--set {text}: expected <perturbation>.<option>=value for one of the chosen "
                               f"perturbations ({', '.join(chosen)})")
        params[path[0]][path[1]] = value
    return [build_perturbation(name, params[name], "xstilts attack") for name in chosen]
