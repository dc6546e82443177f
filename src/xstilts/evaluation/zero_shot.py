"""Evaluate a trained model on every requested language of a task (zero-shot transfer).

Writes `predictions/<task>/<split>-<lang>.jsonl` (one row per example), the same predictions as
an XTREME submission file `xtreme/<task>/<split>-<lang>.<tsv|jsonl|json>` (what `xstilts score` and
XTREME's evaluate.py read; for a `max_examples` subset also `<split>-<lang>.subset.json`: the label
rows and ids of its predictions), and `scores/<task>/<split>-<lang>.json` per language as it goes,
so an interrupted evaluation resumes at the first language without scores.

A language listed in the phase's `language_adapters` is scored by the model with that
language's LoRA adapter added (MAD-X style); the others by the model as it is.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from xstilts.config import EvaluatePhase
from xstilts.console import progress_bar
from xstilts.data.loading import DataSettings
from xstilts.evaluation.benchmark_score import subset_file
from xstilts.evaluation.scored_set import ScoredSet
from xstilts.formats import get_format
from xstilts.io import write_json_atomic, write_jsonl_atomic, write_text_atomic
from xstilts.metrics import mean
from xstilts.metrics.degenerate import check_records
from xstilts.models.lora import with_language_adapter
from xstilts.models.multitask import MultiTaskModel
from xstilts.tasks.spec import TaskSpec


def evaluate_languages(
    model: MultiTaskModel,
    tokenizer,
    spec: TaskSpec,
    languages: list[str] | tuple[str, ...],
    cfg: EvaluatePhase,
    out_dir: Path,
    data: DataSettings,
    seed: int,
    max_length: int,
    device: torch.device,
) -> dict:
    if get_format(spec.format).has_head:
        model.trained_head(spec)  # one line now, before any data is read, when the head is missing
    per_language: dict[str, dict] = {}
    with progress_bar() as bar:
        for lang in languages:
            score_file = out_dir / "scores" / spec.name / f"{cfg.split}-{lang}.json"
            if score_file.is_file():
                per_language[lang] = json.loads(score_file.read_text(encoding="utf-8"))
                continue
            scored = ScoredSet.load(spec, cfg.split, lang, data, cfg.max_examples, seed, tokenizer, max_length)
            task = bar.add_task(f"eval {spec.name} {lang}", total=len(scored.features), status="")
            adapter = cfg.language_adapters.get(lang)
            scoring = model if adapter is None else model.with_encoder(with_language_adapter(model.encoder, adapter))
            result = scored.evaluate(scoring, device, cfg.batch_size, layer=cfg.layer,
                                     advance=lambda n, t=task: bar.update(t, advance=n))
            scores = dict(result.scores)
            scores.update(n=len(scored.examples), skipped_rows=len(scored.report.skipped), source=scored.report.origin)
            check = check_records(result.records)
            if check is not None:
                scores["predictions_check"] = check.as_dict()
            bar.update(task, status=" ".join(f"{k} {v:.3f}" for k, v in scores.items() if isinstance(v, float)))
            write_jsonl_atomic(out_dir / "predictions" / spec.name / f"{cfg.split}-{lang}.jsonl", result.records)
            submission = scored.format.submission(spec, scored.examples, result.predictions)
            if submission is not None:
                submission_path = out_dir / "xtreme" / spec.name / f"{cfg.split}-{lang}.{submission.suffix}"
                write_text_atomic(submission_path, submission.text)
                subset_path = subset_file(submission_path)
                if scored.subset is not None:  # which label rows these predictions are for (`xstilts score`)
                    write_json_atomic(subset_path, {"rows": scored.subset.positions, "total": scored.subset.total,
                                                    "ids": [ex.uid for ex in scored.examples]})
                else:
                    subset_path.unlink(missing_ok=True)  # from an earlier subset run into the same folder
            write_json_atomic(score_file, scores)
            per_language[lang] = scores
    summary = summarize(spec.name, spec.version, cfg.split, spec.train_language,
                        [m.name for m in spec.metrics], per_language)
    if cfg.language_adapters:
        summary["language_adapters"] = {lang: str(path) for lang, path in cfg.language_adapters.items()}
    return summary


def summarize(task: str, version: int, split: str, source_language: str,
              metric_names: list[str], per_language: dict[str, dict]) -> dict:
    """Per-language scores plus the averages people report: over all languages, and over
    the zero-shot ones (every language but the training language)."""
    others = [lang for lang in per_language if lang != source_language]
    averages = {name: mean([per_language[lang][name] for lang in per_language]) for name in metric_names}
    zero_shot = {name: mean([per_language[lang][name] for lang in others]) for name in metric_names} if others else {}
    return {
        "kind": "evaluate",
        "task": task,
        "task_version": version,
        "split": split,
        "source_language": source_language,
        "languages": per_language,
        "average": averages,
        "zero_shot_average": zero_shot,
    }
