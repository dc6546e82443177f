"""Pivot tables of the results store (`xstilts results`): zero-shot score by intermediate and
target task (mean over seeds), and per task and language by run."""

from __future__ import annotations

from dataclasses import dataclass

from xstilts.store.results import ResultsStore

PIVOTS = ("intermediate-target", "language-run")


@dataclass(frozen=True)
class Pivot:
    title: str
    header: list[str]
    rows: list[list[str]]


def _cell(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def _pivot(title: str, corner: str, cells: list[tuple[str, str, float]]) -> Pivot:
    rows = list(dict.fromkeys(r for r, _, _ in cells))
    columns = list(dict.fromkeys(c for _, c, _ in cells))
    values = {(r, c): v for r, c, v in cells}
    return Pivot(title, [corner, *columns], [[r, *(_cell(values.get((r, c))) for c in columns)] for r in rows])


def intermediate_by_target(store: ResultsStore, metric: str = "accuracy") -> Pivot:
    """Zero-shot average (languages other than the source) per run, then the mean over the runs
    (seeds) of each intermediate task(s) and evaluated task."""
    _, cells = store.query("""
        WITH per_run AS (
            SELECT run_id, intermediate, task, avg(value) AS value FROM results
            WHERE metric = ? AND language <> source_language AND predictions IS NOT NULL
            GROUP BY run_id, intermediate, task)
        SELECT intermediate, task, avg(value), count(*) FROM per_run
        GROUP BY intermediate, task ORDER BY intermediate, task""", [metric])
    seeds = sorted({n for *_, n in cells})
    runs = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}" if seeds else "0"
    return _pivot(f"zero-shot {metric} (%, mean over languages other than the source, then over {runs} runs)",
                  "intermediate \\ target", [(i, t, v) for i, t, v, _ in cells])


def language_by_run(store: ResultsStore, metric: str = "accuracy") -> Pivot:
    _, cells = store.query("""
        SELECT task || ' ' || language, run_name, value FROM results
        WHERE metric = ? AND predictions IS NOT NULL ORDER BY task, language = source_language DESC, language, run_name""",
                           [metric])
    return _pivot(f"{metric} (%) per language and run", "task language", cells)
