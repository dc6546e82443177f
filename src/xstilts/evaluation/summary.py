"""Human-readable views of a run's results: the per-language table as markdown and rich."""

from __future__ import annotations

from rich.table import Table

from xstilts.metrics.degenerate import PredictorCheck


def _fmt(value) -> str:
    return f"{100 * value:.1f}" if isinstance(value, float) else ("-" if value is None else str(value))


def language_note(scores: dict) -> str:
    """What the predictor check of one language found (a one-class or chance-level model), or ''."""
    check = scores.get("predictions_check")
    return (PredictorCheck.from_dict(check).verdict() or "") if check else ""


def language_rows(phase: dict) -> list[tuple[str, str, str, str]]:
    """(language, score, n, note) rows for an evaluate phase, then the averages; the note of an
    average counts the languages whose model is degenerate."""
    metric = next(iter(phase["average"]))
    rows = [(lang, _fmt(s[metric]), str(s["n"]), language_note(s)) for lang, s in phase["languages"].items()]
    flagged = [lang for lang, _, _, note in rows if note]
    rows.append(("average", _fmt(phase["average"][metric]), "",
                 f"{len(flagged)} of {len(rows)} languages degenerate: {', '.join(flagged)}" if flagged else ""))
    if phase.get("zero_shot_average"):
        rows.append((f"zero-shot avg (not {phase['source_language']})", _fmt(phase["zero_shot_average"][metric]), "", ""))
    return rows


def _has_notes(rows: list[tuple[str, str, str, str]]) -> bool:
    return any(note for *_, note in rows)


def render_summary(summary: dict) -> str:
    cfg = summary["config"]
    lines = [f"# Run `{summary['name']}`", "",
             f"Model `{cfg['model']}`, seed {cfg['seed']}, max length {cfg['max_length']}.", ""]
    for name, phase in summary["phases"].items():
        if phase["kind"] == "fuse":
            lines += [f"## Phase `{name}`: the stage adapters combined into one LoRA adapter", "",
                      ", ".join(f"`{stage}` x {weight:g}" for stage, weight in phase["stages"].items())
                      + f" ({phase['combination']}, rank {phase['rank']}).", ""]
        elif phase["kind"] == "train" and not phase["tasks"]:
            lines += [f"## Phase `{name}`: masked-LM only", "",
                      f"{phase['examples_seen']} sentences seen ({phase['mlm']['sentences']} distinct), "
                      f"{phase['optimizer_steps']} steps, {phase['train_seconds']} s; final MLM loss "
                      f"{phase['final_mlm_loss']:.3f}.", ""]
        elif phase["kind"] == "train":
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
            rows = language_rows(phase)
            lines += [f"## Phase `{name}`: {phase['task']} {phase['split']} ({metric}, %)", ""]
            if phase.get("language_adapters"):
                lines += ["Language adapters (MAD-X style, added for that language only): " + ", ".join(
                    f"{lang} `{path}`" for lang, path in phase["language_adapters"].items()) + ".", ""]
            if _has_notes(rows):
                lines += ["| language | score | n | warning |", "|---|---:|---:|---|"]
                lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
                lines += ["", "Warning: a model that predicts one class for 90% or more of the examples, or whose "
                          "accuracy's 95% Wilson interval reaches chance, has not learned the task there: its "
                          "scores are not findings."]
            else:
                lines += ["| language | score | n |", "|---|---:|---:|"]
                lines += [f"| {a} | {b} | {c} |" for a, b, c, _ in rows]
            lines.append("")
    return "\n".join(lines)


def language_table(title: str, phase: dict) -> Table:
    metric = next(iter(phase["average"]))
    rows = language_rows(phase)
    table = Table(title=f"{title}: {phase['task']} {phase['split']} ({metric}, %)")
    table.add_column("language")
    table.add_column("score", justify="right")
    table.add_column("n", justify="right")
    notes = _has_notes(rows)
    if notes:
        table.add_column("warning", style="bold red")
    for row in rows:
        table.add_row(*(row if notes else row[:3]))
    return table
