"""`--set key.sub=value` overrides, applied to a config's data before it is validated."""

from __future__ import annotations

from typing import Any

import yaml

from xstilts.errors import XstiltsError


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise XstiltsError(f"--set '{text}': expected key=value, e.g. --set seed=1 or --set phases.0.lr=1e-4")
    key, value = text.split("=", 1)
    return key.strip().split("."), yaml.safe_load(value)


def apply_override(data: dict[str, Any], path: list[str], value: Any, flag: str = "--set") -> None:
    node: Any = data
    for part in path[:-1]:
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise XstiltsError(f"{flag} {'.'.join(path)}: '{part}' is not an index of a list of {len(node)}")
            node = node[int(part)]
        else:
            node = node.setdefault(part, {})
    last = path[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise XstiltsError(f"{flag} {'.'.join(path)}: '{last}' is not an index of a list of {len(node)}")
        node[int(last)] = value
    else:
        node[last] = value
