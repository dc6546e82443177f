"""The one exception type that reaches a person (the CLI prints its message and exits 2), and
the small pieces every one-line message is built from."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class XstiltsError(Exception):
    """A problem with the user's input (config, task, language, file, row, network).

    The message is a single line naming what is wrong, where, and what is allowed.
    """


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' Did you mean 'x'?' for the nearest choice, or '' when none is near."""
    near = difflib.get_close_matches(str(name), list(choices), n=1)
    return f" Did you mean '{near[0]}'?" if near else ""


def repeated(names: Iterable[str]) -> list[str]:
    """The names that occur more than once, sorted."""
    seen: set[str] = set()
    dupes: set[str] = set()
    for name in names:
        (dupes if name in seen else seen).add(name)
    return sorted(dupes)
