"""Where people see long work: a rich console on stderr and progress bars."""

from __future__ import annotations

from datetime import timedelta

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

# Progress and status go to stderr; result tables go to stdout, so they can be piped. Status
# lines are never cut into lines at rich's width (80 columns when not a terminal): a path in
# them stays whole, to be copied or matched.
console = Console(stderr=True, soft_wrap=True)
results_console = Console()


class _LoggedProgress(Progress):
    """A progress bar that, when stderr is not a terminal (CI logs, nohup, a pipe), also
    prints a plain line at every tenth of a task, with the time left at the recent speed, since
    rich does not redraw there."""

    def __init__(self, *columns, **kwargs):
        super().__init__(*columns, **kwargs)
        self._logged_tenths: dict[TaskID, int] = {}

    def update(self, task_id: TaskID, **kwargs) -> None:  # type: ignore[override]
        super().update(task_id, **kwargs)
        if self.console.is_terminal:
            return
        task = self._tasks[task_id]
        if not task.total:
            return
        tenth = int(10 * task.completed / task.total)
        if tenth > self._logged_tenths.get(task_id, 0) and tenth < 10:
            self._logged_tenths[task_id] = tenth
            status = task.fields.get("status", "")
            eta = f", ETA {timedelta(seconds=round(task.time_remaining))}" if task.time_remaining is not None else ""
            self.console.print(f"{task.description}: {int(task.completed)}/{int(task.total)} "
                               f"{status} ({task.elapsed or 0:.0f}s{eta})", highlight=False)


def progress_bar() -> Progress:
    return _LoggedProgress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def table(title: str, header: list[str], rows: list[list[str]]) -> Table:
    """A results table: the first column (names) left-aligned, the numbers right-aligned."""
    out = Table(title=title)
    for i, column in enumerate(header):
        out.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        out.add_row(*row)
    return out
