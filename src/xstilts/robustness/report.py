"""The degradation tables of an attack, as markdown (table.md, the README) and rich (terminal).
Accuracies and degradations are in percentage points."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from xstilts.console import table
from xstilts.metrics.degenerate import PredictorCheck

Rows = tuple[str, list[str], list[list[str]]]  # title, header, rows


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _ci(metrics: dict, name: str) -> str:
    interval = (metrics.get("ci") or {}).get(name)
    return f"{_pct(metrics[name])} [{_pct(interval[0])}, {_pct(interval[1])}]" if interval else _pct(metrics[name])


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _queries(summary: dict, name: str, values: list) -> str:
    """Mean queries of an attack; "transfer" for a reused attack set; "-" without a model."""
    if not summary["perturbations"][name]["uses_model"]:
        return "-"
    mean = _mean(values)
    return "transfer" if mean is None else f"{mean:.1f}"


def _run(summary: dict, label_preserving: bool) -> list[str]:
    return [name for name, p in summary["perturbations"].items() if p["label_preserving"] == label_preserving]


def _cells(summary: dict, name: str) -> list[tuple[str, dict]]:
    """(language, metrics) of the languages where the perturbation ran."""
    return [(lang, r["perturbations"][name]) for lang, r in summary["languages"].items()
            if name in r["perturbations"] and "skipped" not in r["perturbations"][name]]


def degenerate_languages(summary: dict) -> dict[str, str]:
    """Language -> what is wrong with the model's clean predictions there (one class, chance level)."""
    return {lang: verdict for lang, r in summary["languages"].items()
            if "clean_check" in r and (verdict := PredictorCheck.from_dict(r["clean_check"]).verdict())}


def _not_learned(summary: dict) -> str:
    """A title's warning when the model has not learned the task in some language."""
    found = degenerate_languages(summary)
    if not found:
        return ""
    return (f" \u2014 WARNING: the model has not learned the task in {', '.join(found)} (clean predictions one-class "
            "or at chance): no degradation there is robustness")


def _change(degradation: float) -> str:
    return f"{-100 * degradation + 0.0:+.1f}"  # + 0.0 turns -0.0 into 0.0


def overview(summary: dict, with_accuracy: bool = True) -> Rows:
    """Languages x label-preserving perturbations: perturbed accuracy (change from clean), and
    the number of examples where a perturbation could change fewer than all."""
    names = _run(summary, label_preserving=True)
    flagged = degenerate_languages(summary)
    rows = []
    for lang, result in summary["languages"].items():
        row = [lang, str(result["n"]), _pct(result["clean_accuracy"])]
        for name in names:
            m = result["perturbations"].get(name, {})
            if "skipped" in m:
                row.append("-")
                continue
            cell = f"{_pct(m['perturbed_accuracy'])} ({_change(m['degradation'])})" if with_accuracy \
                else _change(m["degradation"])
            row.append(cell + (f" n={m['n']}" if m["n"] != result["n"] else ""))
        rows.append(row)
    mean_row = ["mean", "", _pct(_mean([r["clean_accuracy"] for r in summary["languages"].values()]))]
    for name in names:
        cells = [m for _, m in _cells(summary, name)]
        change = _change(_mean([m["degradation"] for m in cells])) if cells else "-"
        mean_row.append(f"{_pct(_mean([m['perturbed_accuracy'] for m in cells]))} ({change})"
                        if cells and with_accuracy else change)
    rows.append(mean_row)
    header = ["language", "n", "clean", *names]
    if flagged:  # a column saying which rows are a model that has learned nothing
        header.append("warning")
        rows = [row + [flagged.get(row[0], "")] for row in rows[:-1]] + [rows[-1] + [f"{len(flagged)} degenerate"]]
    what = ("accuracy under each perturbation (change from clean, points)" if with_accuracy
            else "change from clean accuracy under each perturbation (points)")
    return (f"{summary['task']}: {what}{_not_learned(summary)}", header, rows)


def per_perturbation(summary: dict) -> Rows:
    rows = []
    for name in _run(summary, label_preserving=True):
        cells = [m for _, m in _cells(summary, name)]
        if not cells:
            rows.append([name, "0", "-", "-", "-", "-", "-", "-", "-"])
            continue
        queries = _queries(summary, name, [m["mean_queries"] for m in cells])
        rows.append([name, str(len(cells)), _pct(_mean([m["clean_accuracy"] for m in cells])),
                     _pct(_mean([m["perturbed_accuracy"] for m in cells])), _pct(_mean([m["degradation"] for m in cells])),
                     _pct(_mean([m["relative_degradation"] for m in cells])),
                     _pct(_mean([m["attack_success_rate"] for m in cells])),
                     _pct(_mean([m["words_changed"] for m in cells])), queries])
    return (f"{summary['task']}: mean over the languages each perturbation ran in{_not_learned(summary)}",
            ["perturbation", "languages", "clean", "perturbed", "degradation", "relative %", "success %",
             "words changed %", "queries"], rows)


def label_changing(summary: dict) -> Rows:
    rows = [[name, lang, str(m["n"]), _pct(m["clean_accuracy"]), _ci(m, "perturbed_accuracy")]
            for name in _run(summary, label_preserving=False) for lang, m in _cells(summary, name)]
    return (f"{summary['task']}: label-changing tests (accuracy on the new label; clean = the source pairs)",
            ["test", "language", "n", "clean", "test accuracy [95% CI]"], rows)


def details(summary: dict) -> Rows:
    rows = []
    for lang, result in summary["languages"].items():
        for name, m in result["perturbations"].items():
            if "skipped" in m:
                rows.append([lang, name, "skipped: " + m["skipped"], "", "", "", "", "", "", ""])
                continue
            pairs = ", ".join(f"{pair} {count}" for pair, count in list(m["language_pairs"].items())[:4])
            queries = _queries(summary, name, [m["mean_queries"]])
            rows.append([lang, name, str(m["n"]), _pct(m["clean_accuracy"]), _ci(m, "perturbed_accuracy"),
                         _ci(m, "degradation"), _ci(m, "attack_success_rate"), _pct(m["words_changed"]), queries, pairs])
    return (f"{summary['task']}: per language and perturbation, 95% bootstrap intervals",
            ["language", "perturbation", "n", "clean", "perturbed", "degradation", "success", "words changed %",
             "queries", "language pairs (most used)"], rows)


def _markdown(table: Rows) -> str:
    title, header, rows = table
    lines = [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def render_markdown(summary: dict) -> str:
    source = "reused" if summary["reused"] else "made"
    dictionaries = ", ".join(Path(d).name for d in summary["dictionaries"]) or "none"
    head = (f"# Robustness of `{summary['model']}` on {summary['task']} ({summary['split']})\n\n"
            f"Perturbed set {source}: `{summary['perturbed_set']}`; seed {summary['seed']}; "
            f"{summary['wall_seconds']} s. Dictionaries: {dictionaries}.\n")
    tables = [overview(summary), per_perturbation(summary), label_changing(summary), details(summary)]
    return "\n".join([head, *(_markdown(t) for t in tables if t[2])])


def rich_tables(summary: dict) -> list[Table]:
    out = []
    # The terminal gets the changes only: the table with accuracies is too wide for most terminals.
    for title, header, rows in (overview(summary, with_accuracy=False), per_perturbation(summary),
                                label_changing(summary)):
        if not rows:
            continue
        out.append(table(title, header, rows))
    return out
