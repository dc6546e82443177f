"""`--set key.sub=value` overrides, applied to a config's data before it is validated."""

from __future__ import annotations

from typing import Any

import yaml

from xstilts.errors import XstiltsError


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise XstiltsError(f"--set '{text}': expected key=value, e.g. --set seed=1 or --set phases.0.lr=1e-4")
    key, value = text.split("=", 1)
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise XstiltsError(f"--set '{text}': the value is not valid YAML ({getattr(exc, 'problem', None) or exc}); "
                           "quote it, e.g. --set 'phases.2.languages=[de, sw]'") from None
    return key.strip().split("."), parsed


def apply_override(data: dict[str, Any], path: list[str], value: Any, flag: str = "--set") -> None:
    node: Any = data
    key = ".".join(path)
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise XstiltsError(f"{flag} {key}: '{part}' is not an index of a list of {len(node)}")
            part = int(part)
        elif not isinstance(node, dict):
            parent = ".".join(path[:depth])
            raise XstiltsError(f"{flag} {key}: '{parent}' is {node!r}, not a mapping or list with a '{part}'")
        if last:
            node[part] = value
        else:
            node = node[part] if isinstance(node, list) else node.setdefault(part, {})
