"""What a training phase learns from: each task's pool of training examples (in its own
training language, in translated languages, or both), its English dev set, and unlabeled
sentences for continued masked-language modelling."""

from __future__ import annotations

import fnmatch
import glob
import json
import re
from dataclasses import dataclass
from pathlib import Path

from xstilts.config import MaskedLMConfig, TaskEntry
from xstilts.errors import XstiltsError
from xstilts.tasks.data import DataSettings, LoadReport, check_available, load_examples, select_subset
from xstilts.tasks.example import Example
from xstilts.tasks.registry import get_task
from xstilts.tasks.spec import LocalSource, TaskSpec


@dataclass
class TrainingTask:
    entry: TaskEntry
    spec: TaskSpec  # the task trained: its head, and the name it is reported under
    train_spec: TaskSpec  # whose data trains it (xnli trains on mnli's, as in XTREME)
    languages: list[str]
    examples: list[Example]  # the pool
    reports: list[LoadReport]
    dev_examples: list[Example]

    @property
    def name(self) -> str:
        return self.spec.name


def train_spec_of(spec: TaskSpec) -> TaskSpec:
    return get_task(spec.train_task) if spec.train_task else spec


def translated_spec(spec: TaskSpec) -> TaskSpec:
    """`spec` reading translated training files: its file layout under another directory, with
    `-<lang>` before the extension when the English file names no language (mnli/train.json ->
    mnli/train-de.json), as XTREME names its per-language files."""
    layout = spec.source("local") or spec.source("packaged")
    if layout is None:
        raise XstiltsError(f"task '{spec.name}' has no file layout to read translated training data with; "
                           f"its sources: {', '.join(s.kind for s in spec.sources)}")
    file = layout.file if "{lang}" in layout.file else re.sub(r"(\.[^./]+)$", r"-{lang}\1", layout.file)
    source = LocalSource(file=file, splits=layout.splits, columns=layout.columns, rename=layout.rename,
                         layout=layout.layout)
    return spec.model_copy(update={"sources": [source]})


def training_sources(entry: TaskEntry, data: DataSettings, where: str) -> list[tuple[TaskSpec, str, DataSettings]]:
    """(spec, language, settings) for each language an entry trains on."""
    train_spec = train_spec_of(get_task(entry.task))
    own = train_spec.train_language
    sources = []
    for lang in entry.train_languages or [own]:
        if lang == own:
            sources.append((train_spec, lang, data))
        elif entry.translated_dir is None:
            raise XstiltsError(f"{where}.train_languages: '{lang}' is not task '{train_spec.name}''s own training "
                               f"language ({own}); give translated_dir, a folder with "
                               f"{translated_spec(train_spec).source('local').file.format(split='train', lang=lang)}")
        else:
            translated = DataSettings("local", entry.translated_dir, data.bad_rows)
            sources.append((translated_spec(train_spec), lang, translated))
    return sources


def check_training_files(entry: TaskEntry, data: DataSettings, where: str) -> None:
    for spec, lang, settings in training_sources(entry, data, where):
        check_available(spec, "train", lang, settings)


def load_training_task(entry: TaskEntry, data: DataSettings, seed: int, dev_max_examples: int | None,
                       where: str) -> TrainingTask:
    spec = get_task(entry.task)
    train_spec = train_spec_of(spec)
    pool: list[Example] = []
    reports = []
    languages = []
    for source_spec, lang, settings in training_sources(entry, data, where):
        examples, report = load_examples(source_spec, "train", lang, settings)
        pool += examples
        reports.append(report)
        languages.append(lang)
    dev: list[Example] = []
    has_dev = any("dev" in source.splits for source in train_spec.sources)
    if dev_max_examples != 0 and has_dev:
        dev_all, _ = load_examples(train_spec, "dev", train_spec.train_language, data)
        dev = select_subset(dev_all, dev_max_examples, seed)
    return TrainingTask(entry, spec, train_spec, languages, select_subset(pool, entry.max_examples, seed),
                        reports, dev)


def text_files(cfg: MaskedLMConfig) -> list[Path]:
    """The files `mlm.files` names (globs expanded, sorted) but `mlm.exclude`; each pattern
    must leave at least one file."""
    files = []
    for pattern in cfg.files:
        matches = [Path(m) for m in sorted(glob.glob(pattern))
                   if not any(fnmatch.fnmatch(Path(m).name, e) for e in cfg.exclude)]
        if not matches:
            raise XstiltsError(f"mlm.files: '{pattern}' matches no file" + (" not excluded" if cfg.exclude else ""))
        files += matches
    return files


def read_unlabeled_text(cfg: MaskedLMConfig, seed: int) -> list[str]:
    """Sentences of the configured columns/fields, each once, in file order; a seeded subset
    of `max_sentences`."""
    sentences: dict[str, None] = {}
    for path in text_files(cfg):
        with path.open(encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, start=1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                for text in _texts(path, lineno, line, cfg):
                    if text.strip():
                        sentences[text.strip()] = None
    if not sentences:
        raise XstiltsError(f"mlm.files: no text in {', '.join(map(str, text_files(cfg)))}")
    return select_subset(list(sentences), cfg.max_sentences, seed)


def _texts(path: Path, lineno: int, line: str, cfg: MaskedLMConfig) -> list[str]:
    if path.suffix == ".tsv":
        cells = line.split("\t")
        if max(cfg.tsv_columns) >= len(cells):
            raise XstiltsError(f"{path}:{lineno}: mlm.tsv_columns {cfg.tsv_columns} but the line has "
                               f"{len(cells)} tab-separated fields")
        return [cells[i] for i in cfg.tsv_columns]
    if path.suffix == ".jsonl":
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise XstiltsError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
        missing = [f for f in cfg.jsonl_fields if not isinstance(row, dict) or not isinstance(row.get(f), str)]
        if missing:
            raise XstiltsError(f"{path}:{lineno}: no text field {', '.join(missing)} (mlm.jsonl_fields)")
        return [row[f] for f in cfg.jsonl_fields]
    if path.suffix == ".txt":
        return [line]
    raise XstiltsError(f"{path}: unsupported file type '{path.suffix}' for mlm.files; allowed: .tsv, .jsonl, .txt")
