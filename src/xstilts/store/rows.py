"""A finished run folder as the store's rows: one run record, and one row per phase, task,
language and metric, each with the config fields a pivot needs and a pointer to the
per-example predictions behind the score (for paired bootstraps)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from xstilts.errors import XstiltsError
from xstilts.run_identity import run_identity
from xstilts.training.run_folder import RUN_RECORD

# What a grid executor writes into a run folder: identity, code version, axes, attempts, times.
# Per-language counts in an evaluate phase's metrics: not metrics.
_COUNTS = ("n", "skipped_rows")


def phase_label(phase: dict) -> str:
    """A training phase in a few characters: its task, or e.g. multitask(mnli+qqp),
    fuse(<stage phases>), mlm (masked LM only)."""
    kind = phase.get("kind", "train")
    if kind == "fuse":
        return f"fuse({'+'.join(phase['stages'])})"
    task = phase["task"] if "task" in phase else "+".join(t["task"] for t in phase["tasks"])
    return (task or "mlm") if kind == "train" else f"{kind}({task})"


def read_run_record(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / RUN_RECORD
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _utc(moment: datetime) -> datetime:
    """A naive UTC time, as the store keeps times (DuckDB's TIMESTAMP; its time zone type needs pytz)."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _timestamp(value: str | None) -> datetime | None:
    return _utc(datetime.fromisoformat(value)) if value else None


def run_rows(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the run's record, its result rows) from a finished run folder."""
    run_dir = Path(run_dir).resolve()
    metrics_file = run_dir / "metrics.json"
    if not metrics_file.is_file():
        raise XstiltsError(f"{run_dir}: no metrics.json; expected a finished run directory (runs/<name>/)")
    summary = json.loads(metrics_file.read_text(encoding="utf-8"))
    record = read_run_record(run_dir)
    config = summary["config"]
    trained = [p for p in config["phases"] if p.get("kind", "train") != "evaluate"]
    finished = _timestamp(record.get("finished")) or _utc(datetime.fromtimestamp(metrics_file.stat().st_mtime, UTC))
    run = {
        "run_id": run_identity(config),
        "name": summary["name"],
        "run_dir": str(run_dir),
        "code_version": record.get("code_version", summary.get("xstilts_version")),
        "axes": json.dumps(record.get("axes", {})),
        "config": json.dumps(config),
        "model": config["model"],
        "seed": config["seed"],
        "intermediate": " → ".join(phase_label(p) for p in trained[:-1]) or "none",
        "target": phase_label(trained[-1]) if trained else "none",
        "started": _timestamp(record.get("started")),
        "finished": finished,
    }
    shared = {k: run[k] for k in ("run_id", "model", "intermediate", "target", "seed", "started", "finished")}
    rows = []
    for phase_name, phase in summary["phases"].items():
        if phase["kind"] == "evaluate":
            for lang, scores in phase["languages"].items():
                predictions = run_dir / phase_name / "predictions" / phase["task"] / f"{phase['split']}-{lang}.jsonl"
                for metric, value in scores.items():
                    if metric in _COUNTS or not isinstance(value, int | float) or isinstance(value, bool):
                        continue
                    rows.append({**shared, "run_name": run["name"], "phase": phase_name, "task": phase["task"],
                                 "split": phase["split"], "source_language": phase["source_language"],
                                 "language": lang, "metric": metric, "value": float(value),
                                 "examples": scores.get("n"),
                                 "predictions": str(predictions) if predictions.is_file() else None})
        elif isinstance(phase.get("best_dev_score"), int | float):
            tasks = phase.get("tasks", {})
            languages = "+".join(sorted({lang for t in tasks.values() for lang in t.get("train_languages", [])}))
            rows.append({**shared, "run_name": run["name"], "phase": phase_name, "task": "+".join(tasks),
                         "split": "dev", "source_language": languages, "language": languages, "metric": "best_dev_score",
                         "value": float(phase["best_dev_score"]), "examples": phase.get("dev_examples"),
                         "predictions": None})
    return run, rows
