"""The command line, `xstilts <command>`: a thin layer over config loading, the pipeline and
evaluation.

Each command lives in a module of this package that is imported only when the command runs (or
when `xstilts --help` lists it): `xstilts tasks` reads YAML and prints a table without loading
torch, which the training and evaluation commands need.
"""

from __future__ import annotations

import importlib
import sys

import typer
from typer.core import TyperGroup

from xstilts.errors import XstiltsError
from xstilts.io import DISK_FULL, disk_full

# command -> the module whose typer `app` defines it.
COMMAND_MODULES = {
    "run": "xstilts.cli.commands",
    "validate": "xstilts.cli.commands",
    "tasks": "xstilts.cli.task_table",
    "eval": "xstilts.cli.commands",
    "report": "xstilts.cli.commands",
    "attack": "xstilts.cli.commands",
    "compare": "xstilts.cli.commands",
    "score": "xstilts.cli.commands",
    "export": "xstilts.cli.commands",
    "study": "xstilts.cli.commands",
    "grid": "xstilts.cli.commands",
    "results": "xstilts.cli.commands",
}


def reflowed(text: str | None) -> str | None:
    """A docstring's paragraphs as single lines: the help renderer keeps line breaks, which
    would cut sentences at the source's wrapping column."""
    if text is None:
        return None
    paragraphs = [" ".join(line.strip() for line in p.strip().splitlines()) for p in text.strip().split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


class LazyCommands(TyperGroup):
    """Commands loaded from their module on first use."""

    def list_commands(self, ctx) -> list[str]:
        return list(COMMAND_MODULES)

    def get_command(self, ctx, cmd_name: str):
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            module = importlib.import_module(COMMAND_MODULES[cmd_name])
            command = typer.main.get_group(module.app).get_command(ctx, cmd_name)
            command.help = reflowed(command.help)
            self.commands[cmd_name] = command
        return self.commands.get(cmd_name)


cli = LazyCommands(name="xstilts", rich_markup_mode="rich", no_args_is_help=True,
                   help="English intermediate-task training and zero-shot cross-lingual transfer.")


def main() -> None:
    try:
        cli(prog_name="xstilts")
    except XstiltsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        # A full disk (or quota) in a write that no xstilts helper made, e.g. a model's weights
        # saved by transformers: the file is named when the OS names it.
        if exc.errno not in DISK_FULL:
            raise
        print(f"error: {disk_full(exc.filename, exc)}", file=sys.stderr)
        sys.exit(2)
