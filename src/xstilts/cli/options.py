"""Options several commands share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Local data in XTREME layout "
                    "(<task>/<split>-<lang>.<ext>); defaults to $XSTILTS_DATA_DIR.")]
TaskDirs = Annotated[list[Path], typer.Option("--task-dir", help="A folder of task spec YAML files, added to "
                     "the built-in tasks (repeatable).")]
