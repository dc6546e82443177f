"""The degradation tables of an attack, as markdown (table.md, the README) and rich (terminal).
Accuracies and degradations are in percentage points."""

from __future__ import annotations

from rich.table import Table

Rows = tuple[str, list[str], list[list[str]]]  # title, header, rows


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _ci(metrics: dict, name: str) -> str:
    interval = (metrics.get("ci") or {}).get(name)
    return f"{_pct(metrics[name])} [{_pct(interval[0])}, {_pct(interval[1])}]" if interval else _pct(metrics[name])


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _run(summary: dict, label_preserving: bool) -> list[str]:
    return [name for name, p in summary["perturbations"].items() if p["label_preserving"] == label_preserving]


def _cells(summary: dict, name: str) -> list[tuple[str, dict]]:
    """(language, metrics) of the languages where the perturbation ran."""
    return [(lang, r["perturbations"][name]) for lang, r in summary["languages"].items()
            if name in r["perturbations"] and "skipped" not in r["perturbations"][name]]


def overview(summary: dict) -> Rows:
    names = _run(summary, label_preserving=True)
    rows = []
    for lang, result in summary["languages"].items():
        row = [lang, str(result["n"]), _pct(result["clean_accuracy"])]
        for name in names:
            m = result["perturbations"].get(name, {})
            row.append("-" if "skipped" in m else f"{_pct(m['perturbed_accuracy'])} ({-100 * m['degradation']:+.1f})")
        rows.append(row)
    mean_row = ["mean", "", _pct(_mean([r["clean_accuracy"] for r in summary["languages"].values()]))]
    for name in names:
        cells = [m for _, m in _cells(summary, name)]
        mean_row.append(f"{_pct(_mean([m['perturbed_accuracy'] for m in cells]))} "
                        f"({-100 * _mean([m['degradation'] for m in cells]):+.1f})" if cells else "-")
    rows.append(mean_row)
    return (f"{summary['task']}: accuracy under each perturbation (change from clean, points)",
            ["language", "n", "clean", *names], rows)


def per_perturbation(summary: dict) -> Rows:
    rows = []
    for name in _run(summary, label_preserving=True):
        cells = [m for _, m in _cells(summary, name)]
        if not cells:
            rows.append([name, "0", "-", "-", "-", "-", "-", "-", "-"])
            continue
        queries = _mean([m["mean_queries"] for m in cells])
        rows.append([name, str(len(cells)), _pct(_mean([m["clean_accuracy"] for m in cells])),
                     _pct(_mean([m["perturbed_accuracy"] for m in cells])), _pct(_mean([m["degradation"] for m in cells])),
                     _pct(_mean([m["relative_degradation"] for m in cells])),
                     _pct(_mean([m["attack_success_rate"] for m in cells])),
                     _pct(_mean([m["words_changed"] for m in cells])),
                     "transfer" if cells[0].get("transfer") else f"{queries:.1f}"])
    return (f"{summary['task']}: mean over the languages each perturbation ran in",
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
            queries = "transfer" if m.get("transfer") else f"{m['mean_queries']:.1f}"
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
    head = (f"# Robustness of `{summary['model']}` on {summary['task']} ({summary['split']})\n\n"
            f"Perturbed set {source}: `{summary['perturbed_set']}`; seed {summary['seed']}; "
            f"{summary['wall_seconds']} s. Dictionaries: {', '.join(summary['dictionaries']) or 'none'}.\n")
    tables = [overview(summary), per_perturbation(summary), label_changing(summary), details(summary)]
    return "\n".join([head, *(_markdown(t) for t in tables if t[2])])


def rich_tables(summary: dict) -> list[Table]:
    out = []
    for title, header, rows in (overview(summary), per_perturbation(summary), label_changing(summary)):
        if not rows:
            continue
        table = Table(title=title)
        for i, column in enumerate(header):
            table.add_column(column, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*row)
        out.append(table)
    return out
