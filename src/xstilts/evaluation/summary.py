"""Human-readable views of a run's results: the per-language table as markdown and rich."""

from __future__ import annotations

from rich.table import Table


def _fmt(value) -> str:
    return f"{100 * value:.1f}" if isinstance(value, float) else ("-" if value is None else str(value))


def language_rows(phase: dict) -> list[tuple[str, str, str]]:
    """(language, score, n) rows for an evaluate phase, then the averages."""
    metric = next(iter(phase["average"]))
    rows = [(lang, _fmt(s[metric]), str(s["n"])) for lang, s in phase["languages"].items()]
    rows.append(("average", _fmt(phase["average"][metric]), ""))
    if phase.get("zero_shot_average"):
        rows.append((f"zero-shot avg (not {phase['source_language']})", _fmt(phase["zero_shot_average"][metric]), ""))
    return rows


def render_summary(summary: dict) -> str:
    cfg = summary["config"]
    lines = [f"# Run `{summary['name']}`", "",
             f"Model `{cfg['model']}`, seed {cfg['seed']}, max length {cfg['max_length']}.", ""]
    for name, phase in summary["phases"].items():
        if phase["kind"] == "train":
            lines += [
                f"## Phase `{name}`: trained on `{phase['train_task']}` for `{phase['task']}`", "",
                f"{phase['examples_seen']} inputs seen, {phase['epochs']:g} pass(es) over {phase['train_examples']} "
                "examples, "
                f"{phase['optimizer_steps']} steps, {phase['train_seconds']} s "
                f"({phase['train_examples_per_second']} ex/s); best English dev "
                f"{'/'.join(sorted(set(phase['dev_metrics'].values()))) or 'score'} "
                f"{_fmt(phase['best_dev_score'])} at step {phase['best_step']}"
                + (" (stopped early)" if phase["stopped_early"] else "") + ".", "",
            ]
        else:
            metric = next(iter(phase["average"]))
            lines += [f"## Phase `{name}`: {phase['task']} {phase['split']} ({metric}, %)", "",
                      "| language | score | n |", "|---|---:|---:|"]
            lines += [f"| {a} | {b} | {c} |" for a, b, c in language_rows(phase)]
            lines.append("")
    return "\n".join(lines)


def language_table(title: str, phase: dict) -> Table:
    metric = next(iter(phase["average"]))
    table = Table(title=f"{title}: {phase['task']} {phase['split']} ({metric}, %)")
    table.add_column("language")
    table.add_column("score", justify="right")
    table.add_column("n", justify="right")
    for row in language_rows(phase):
        table.add_row(*row)
    return table
