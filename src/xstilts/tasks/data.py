"""Reading a task's examples from its sources: local XTREME-layout files, the packaged demo
files, or the Hugging Face Hub. Every source yields raw rows; the task's format turns each row
into an `Example`, so all sources validate rows the same way."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Literal

from xstilts.errors import XstiltsError
from xstilts.formats import get_format
from xstilts.tasks.example import BadRow, Example
from xstilts.tasks.spec import HubSource, LocalSource, PackagedSource, Split, TaskSpec

BadRowPolicy = Literal["fail", "skip"]
SourceChoice = Literal["auto", "local", "hub"]


@dataclass(frozen=True)
class DataSettings:
    source: SourceChoice = "auto"
    data_dir: Path | None = None
    bad_rows: BadRowPolicy = "fail"


@dataclass
class LoadReport:
    """What loading found: where the rows came from and which rows were skipped."""

    origin: str
    skipped: list[str] = field(default_factory=list)


def packaged_data_dir() -> Path:
    return Path(str(resources.files("xstilts.tasks") / "demo_data"))


# ---------------------------------------------------------------- local files


def _read_tsv(path: Path, columns: list[str] | None) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        lines = enumerate(handle, start=1)
        if columns is None:
            _, header = next(lines, (0, ""))
            columns = header.rstrip("\r\n").split("\t")
        for lineno, line in lines:
            cells = line.rstrip("\r\n").split("\t")
            if cells == [""]:
                continue  # a blank line (e.g. trailing) carries no row
            if len(cells) != len(columns):
                yield lineno, {"__error__": f"expected {len(columns)} tab-separated fields "
                               f"({', '.join(columns)}), got {len(cells)}"}
                continue
            yield lineno, dict(zip(columns, cells))


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield lineno, {"__error__": f"not valid JSON ({exc.msg})"}
                continue
            yield lineno, row if isinstance(row, dict) else {"__error__": "not a JSON object"}


def _read_json(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """A JSON list of objects, or an object of objects keyed by index (the MNLI/QQP layout)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise XstiltsError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    items = data.items() if isinstance(data, dict) else enumerate(data)
    for key, row in items:
        yield f"[{key}]", row if isinstance(row, dict) else {"__error__": "not a JSON object"}


def local_rows(path: Path, columns: list[str] | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a local file with their place (`file:line` or `file[key]`)."""
    suffix = path.suffix
    if suffix == ".tsv":
        reader = ((f":{n}", row) for n, row in _read_tsv(path, columns))
    elif suffix == ".jsonl":
        reader = ((f":{n}", row) for n, row in _read_jsonl(path))
    elif suffix == ".json":
        reader = _read_json(path)
    else:
        raise XstiltsError(f"{path}: unsupported file type '{suffix}'; allowed: .tsv, .jsonl, .json")
    for place, row in reader:
        yield f"{path}{place}", row


def _local_path(spec: TaskSpec, source: LocalSource, root: Path, split: Split, lang: str) -> Path:
    if split not in source.splits:
        raise XstiltsError(
            f"task '{spec.name}' has no local '{split}' split; available: {', '.join(source.splits)}"
        )
    path = root / source.file.format(split=source.splits[split], lang=lang)
    if not path.is_file():
        layout = f"<data-dir>/{source.file}" if source.kind == "local" else f"{root}/{source.file}"
        raise XstiltsError(f"missing data file {path} (task '{spec.name}', split '{split}', "
                           f"language '{lang}'); expected layout {layout}")
    return path


# ---------------------------------------------------------------- the Hub


def hub_rows(spec: TaskSpec, source: HubSource, split: Split, lang: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a Hub dataset through `datasets.load_dataset` (the path real users take)."""
    import datasets

    if split not in source.splits:
        raise XstiltsError(
            f"task '{spec.name}' has no Hub '{split}' split; available: {', '.join(source.splits)}"
        )
    config = source.config.format(lang=lang) if source.config else None
    hub_split = source.splits[split]
    try:
        dataset = datasets.load_dataset(source.dataset, config, split=hub_split)
    except Exception as exc:  # datasets raises many types for "not reachable / not found"
        reason = str(exc).splitlines()[0][:160].rstrip(".") if str(exc) else exc.__class__.__name__
        raise XstiltsError(
            f"could not load {source.dataset} (config {config}, split {hub_split}) from the "
            f"Hugging Face Hub: {reason}. Offline? Use --data-dir with local files in XTREME layout"
        ) from None
    names = dataset.features.get(spec.inputs.label)
    label_names = getattr(names, "names", None)
    for index, row in enumerate(dataset):
        row = {source.rename.get(k, k): v for k, v in row.items()}
        if label_names and isinstance(row.get(spec.inputs.label), int) and row[spec.inputs.label] >= 0:
            # Hub ClassLabels give ints; map through their names when they match our list.
            name = label_names[row[spec.inputs.label]]
            if name in spec.labels:
                row[spec.inputs.label] = name
        yield f"hub:{source.dataset}/{config}/{hub_split}[{index}]", row


# ---------------------------------------------------------------- entry point


def _pick_source(spec: TaskSpec, settings: DataSettings):
    wanted = settings.source
    if wanted == "auto":
        if spec.source("packaged"):
            return spec.source("packaged")
        if settings.data_dir is not None and spec.source("local"):
            return spec.source("local")
        wanted = "hub" if spec.source("hub") else "local"
    source = spec.source(wanted) or (spec.source("packaged") if wanted == "local" else None)
    if source is None:
        kinds = ", ".join(s.kind for s in spec.sources)
        raise XstiltsError(f"task '{spec.name}' has no '{wanted}' source; available: {kinds}")
    if source.kind == "local" and settings.data_dir is None:
        raise XstiltsError(
            f"task '{spec.name}' reads local files but no data directory was given; "
            "pass --data-dir DIR or set XSTILTS_DATA_DIR"
        )
    return source


def check_available(spec: TaskSpec, split: Split, lang: str, settings: DataSettings) -> None:
    """Fail now, not hours into a run, when a local file a phase will read is missing."""
    source = _pick_source(spec, settings)
    if not isinstance(source, HubSource):
        root = packaged_data_dir() if isinstance(source, PackagedSource) else Path(settings.data_dir)
        _local_path(spec, source, root, split, lang)


def load_examples(spec: TaskSpec, split: Split, lang: str, settings: DataSettings) -> tuple[list[Example], LoadReport]:
    """All examples of one task, split and language, validated row by row.

    A malformed row stops loading with its place (`fail`) or is skipped and counted (`skip`);
    it is never dropped silently.
    """
    source = _pick_source(spec, settings)
    if isinstance(source, HubSource):
        rows = hub_rows(spec, source, split, lang)
        origin = f"hub:{source.dataset}"
    else:
        root = packaged_data_dir() if isinstance(source, PackagedSource) else Path(settings.data_dir)
        path = _local_path(spec, source, root, split, lang)
        rows = (
            (place, {source.rename.get(k, k): v for k, v in row.items()})
            for place, row in local_rows(path, source.columns)
        )
        origin = str(path)
    report = LoadReport(origin=origin)
    fmt = get_format(spec.format)
    examples: list[Example] = []
    for place, row in rows:
        try:
            if "__error__" in row:
                raise BadRow(row["__error__"])
            examples.append(fmt.parse(spec, row, uid=place))
        except BadRow as exc:
            if settings.bad_rows == "fail":
                raise XstiltsError(
                    f"{place}: malformed row: {exc} (pass --bad-rows skip to skip and count such rows)"
                ) from None
            report.skipped.append(f"{place}: {exc}")
    if not examples:
        raise XstiltsError(f"{origin}: no usable rows for task '{spec.name}' ({split}, {lang})")
    return examples, report


def select_subset(examples: list[Example], limit: int | None, seed: int) -> list[Example]:
    """A seeded random subset of `limit` examples, kept in file order. Parallel files (XNLI's
    languages) select the same rows, so every language is scored on the same items."""
    if limit is None or limit >= len(examples):
        return examples
    import random

    keep = sorted(random.Random(seed).sample(range(len(examples)), limit))
    return [examples[i] for i in keep]
