"""Evaluate a trained model on every requested language of a task (zero-shot transfer).

Writes `predictions/<task>/<split>-<lang>.jsonl` (one row per example), the same predictions as
an XTREME submission file `xtreme/<task>/<split>-<lang>.<tsv|json>` (what `xstilts score` and
XTREME's evaluate.py read), and `scores/<task>/<split>-<lang>.json` per language as it goes, so
an interrupted evaluation resumes at the first language without scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from xstilts.config import EvaluatePhase
from xstilts.console import progress_bar
from xstilts.evaluation.metrics import mean
from xstilts.formats import get_format
from xstilts.io import write_json_atomic, write_jsonl_atomic, write_text_atomic
from xstilts.models.multitask import MultiTaskModel
from xstilts.tasks.data import DataSettings, load_examples, select_subset
from xstilts.tasks.registry import get_task, resolve_languages
from xstilts.training.features import encode_cached


def evaluate_languages(
    model: MultiTaskModel,
    tokenizer,
    cfg: EvaluatePhase,
    out_dir: Path,
    data: DataSettings,
    seed: int,
    max_length: int,
    device: torch.device,
    where: str,
) -> dict:
    spec = get_task(cfg.task)
    languages = resolve_languages(spec, cfg.languages, where)
    fmt = get_format(spec.format)
    head = model.trained_head(spec) if fmt.has_head else None
    per_language: dict[str, dict] = {}
    with progress_bar() as bar:
        for lang in languages:
            score_file = out_dir / "scores" / spec.name / f"{cfg.split}-{lang}.json"
            if score_file.is_file():
                per_language[lang] = json.loads(score_file.read_text(encoding="utf-8"))
                continue
            examples, report = load_examples(spec, cfg.split, lang, data)
            examples = select_subset(examples, cfg.max_examples, seed)
            features = encode_cached(examples, tokenizer, spec, max_length)
            task = bar.add_task(f"eval {spec.name} {lang}", total=len(features), status="")
            result = fmt.evaluate(model, head, spec, examples, features, tokenizer.pad_token_id, cfg.batch_size,
                                  device, lang, advance=lambda n, t=task: bar.update(t, advance=n), layer=cfg.layer)
            scores = dict(result.scores)
            scores.update(n=len(examples), skipped_rows=len(report.skipped), source=report.origin)
            bar.update(task, status=" ".join(f"{k} {v:.3f}" for k, v in scores.items() if isinstance(v, float)))
            write_jsonl_atomic(out_dir / "predictions" / spec.name / f"{cfg.split}-{lang}.jsonl", result.records)
            submission = fmt.submission(spec, examples, result.predictions)
            if submission is not None:
                write_text_atomic(out_dir / "xtreme" / spec.name / f"{cfg.split}-{lang}.{submission.suffix}",
                                  submission.text)
            write_json_atomic(score_file, scores)
            per_language[lang] = scores
    return summarize(spec.name, spec.version, cfg.split, spec.train_language,
                     [m.name for m in spec.metrics], per_language)


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
