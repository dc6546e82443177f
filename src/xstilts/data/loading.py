"""Reading a task's examples from its sources: local XTREME-layout files, the packaged demo
files, or the Hugging Face Hub. Every source yields raw rows; the task's format turns each row
into an `Example`, so all sources validate rows the same way."""

from __future__ import annotations

import itertools
import os
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from xstilts.data.bitext import bitext_files, bitext_rows
from xstilts.errors import XstiltsError
from xstilts.formats import get_format
from xstilts.hub import hub_unreachable, work_offline
from xstilts.io import gc_paused, jsonl_objects, read_json, text_lines
from xstilts.languages import LANGUAGE_INFO
from xstilts.tasks.example import BadRow, Example
from xstilts.tasks.spec import SPLIT_PART, HubSource, LocalSource, PackagedSource, Split, TaskSpec

BadRowPolicy = Literal["fail", "skip"]
SourceChoice = Literal["auto", "local", "hub"]


class DataSettings(BaseModel):
    """Where a run's data comes from: the `data:` key of a config, and what loading receives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # auto: packaged demo files, else local files when a data dir is given, else the Hub.
    source: SourceChoice = "auto"
    dir: Path | None = None
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
    lines = text_lines(path, before="header" if columns is None else "first row")
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
    for lineno, row, problem in jsonl_objects(path):
        yield lineno, row if problem is None else {"__error__": problem}


def _read_json(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """A JSON list of objects, or an object of objects keyed by index (the MNLI/QQP layout)."""
    data = read_json(path)
    if _is_squad_layout(data):
        yield from _squad_rows(data["data"])
        return
    items = data.items() if isinstance(data, dict) else enumerate(data)
    for key, row in items:
        yield f"[{key}]", row if isinstance(row, dict) else {"__error__": "not a JSON object"}


def _is_squad_layout(data: Any) -> bool:
    """The SQuAD JSON layout (SQuAD, XQuAD, MLQA, TyDiQA-GoldP): {"data": [articles]}."""
    return isinstance(data, dict) and isinstance(data.get("data"), list)


def _squad_rows(articles: list) -> Iterator[tuple[str, dict[str, Any]]]:
    """One row per question: its fields (id, question, answers, ...) and its paragraph's context."""
    for a, article in enumerate(articles):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            yield f"[data][{a}]", {"__error__": "an article needs a 'paragraphs' list"}
            continue
        for p, paragraph in enumerate(paragraphs):
            place = f"[data][{a}][paragraphs][{p}]"
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("qas"), list):
                yield place, {"__error__": "a paragraph needs 'context' and a 'qas' list"}
                continue
            for q, qa in enumerate(paragraph["qas"]):
                row = {"context": paragraph.get("context"), **qa} if isinstance(qa, dict) else {
                    "__error__": "not a JSON object"}
                yield f"{place}[qas][{q}]", row


def _read_sentences(path: Path, columns: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """XTREME's tagging files (udpos, panx): a `word<TAB>tag` line per word and a blank line
    after each sentence. One row per sentence, placed at the line of its first word."""
    words_field, tags_field = columns
    start, words, tags, problem = 0, [], [], None
    # A blank line after the last one ends the file's last sentence too.
    for lineno, line in itertools.chain(text_lines(path), [(0, "")]):
        if not line.strip():
            if words:
                yield start, problem or {words_field: words, tags_field: tags}
            start, words, tags, problem = 0, [], [], None
            continue
        cells = line.rstrip("\r\n").split("\t")
        if len(cells) != 2 and problem is None:
            problem = {"__error__": f"line {lineno}: expected word<TAB>tag, got {len(cells)} tab-separated field(s)"}
        start = start or lineno
        words.append(cells[0])
        tags.append(cells[-1])


def _read_jiant_ccg(path: Path, columns: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """jiant's CCG files (ccg.train, ...): per line the space-separated words, a tab and their
    space-separated supertags. Tags become their ids from jiant's `tags_to_id.json` beside the
    file, the ids a spec's numbered labels (`label_count`) name."""
    vocabulary = path.parent / "tags_to_id.json"
    if not vocabulary.is_file():
        raise XstiltsError(f"missing {vocabulary}: jiant's CCG layout keeps the tag vocabulary "
                           f"(a JSON object tag -> id) beside {path.name}")
    try:
        tag_ids = {tag: int(i) for tag, i in read_json(vocabulary).items()}
    except (AttributeError, TypeError, ValueError):
        raise XstiltsError(f"{vocabulary}: not a JSON object of tag -> integer id (jiant's tags_to_id.json)") from None
    words_field, tags_field = columns
    for lineno, line in text_lines(path):
        if not line.strip():
            continue
        cells = line.rstrip("\r\n").split("\t")
        if len(cells) != 2:
            yield lineno, {"__error__": f"expected words<TAB>tags, got {len(cells)} tab-separated field(s)"}
            continue
        words, tags = cells[0].split(), cells[1].split()
        unknown = next((tag for tag in tags if tag not in tag_ids), None)
        if unknown is not None:
            yield lineno, {"__error__": f"tag {unknown!r} is not in {vocabulary.name}"}
            continue
        yield lineno, {words_field: words, tags_field: [tag_ids[tag] for tag in tags]}


def local_rows(path: Path, columns: list[str] | None, layout: str = "rows") -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a local file with their position in it (`:line` or `[key]`)."""
    suffix = path.suffix
    if layout == "sentences":
        return ((f":{n}", row) for n, row in _read_sentences(path, columns))
    if layout == "jiant_ccg":
        return ((f":{n}", row) for n, row in _read_jiant_ccg(path, columns))
    if suffix == ".tsv":
        return ((f":{n}", row) for n, row in _read_tsv(path, columns))
    if suffix == ".jsonl":
        return ((f":{n}", row) for n, row in _read_jsonl(path))
    if suffix == ".json":
        return _read_json(path)
    raise XstiltsError(f"{path}: unsupported file type '{suffix}'; allowed: .tsv, .jsonl, .json")


def _local_paths(spec: TaskSpec, source: LocalSource, root: Path, split: Split, lang: str) -> list[Path]:
    """The file of a split, or one per part when it lists several (a bitext layout's path is
    its files' common prefix)."""
    if split not in source.splits:
        raise XstiltsError(
            f"task '{spec.name}' has no local '{split}' split; available: {', '.join(source.splits)}"
        )
    parts = source.splits[split]
    paths = [root / source.file.format(split=part, lang=lang) for part in ([parts] if isinstance(parts, str) else parts)]
    for path in paths:
        files = bitext_files(path, lang, spec.train_language) if source.layout == "bitext" else [path]
        missing = next((f for f in files if not f.is_file()), None)
        if missing is not None:
            layout = f"<data-dir>/{source.file}" if source.kind == "local" else f"{root}/{source.file}"
            raise XstiltsError(f"missing data file {missing} (task '{spec.name}', split '{split}', "
                               f"language '{lang}'); expected layout {layout}")
    return paths


def _local_split_rows(spec: TaskSpec, source: LocalSource, root: Path, paths: list[Path], split: Split,
                      lang: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a split's files in turn, renamed; tagged with their part when it lists several.
    Each row's id is its file relative to the data folder and its position there
    (`xnli/dev-de.tsv:12`): the same rows get the same ids however the folder was reached
    (a symlink, a relative path, the package's install path)."""
    rename, in_parts = source.rename, isinstance(source.splits[split], list)
    for part, path in enumerate(paths):
        name = path.relative_to(root).as_posix()
        if source.layout == "bitext":
            rows = bitext_rows(path, lang, spec.train_language, root)
        else:
            rows = ((name + position, row) for position, row in local_rows(path, source.columns, source.layout))
        if not rename and not in_parts:  # the common case, kept free of per-row work
            yield from rows
            continue
        for uid, row in rows:
            row = {rename.get(k, k): v for k, v in row.items()}
            if in_parts:
                row[SPLIT_PART] = part
            yield uid, row


def _row_range(rows: Iterator[tuple[str, dict[str, Any]]], start: int, stop: int,
               where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows [start, stop) of a split's rows; a file too short for the range is an error, not a
    smaller split."""
    count = 0
    for count, row in enumerate(itertools.islice(rows, stop), start=1):
        if count > start:
            yield row
    if count < stop:
        raise XstiltsError(f"{where}: has {count} rows; the split takes rows [{start}, {stop})")


# ---------------------------------------------------------------- the Hub


def hub_rows(spec: TaskSpec, source: HubSource, split: Split, lang: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a Hub dataset through `datasets.load_dataset` (the path real users take)."""
    import datasets  # imported where used: 2 s, and only the Hub path needs it

    if split not in source.splits:
        raise XstiltsError(
            f"task '{spec.name}' has no Hub '{split}' split; available: {', '.join(source.splits)}"
        )
    # {lang_name}: configs named by language (google/xtreme's udpos.English).
    # {lang_code}: the dataset's own code for the language (Tatoeba's cmn for zh).
    config = source.config.format(lang=lang, lang_name=LANGUAGE_INFO[lang].name,
                                  lang_code=source.language_codes.get(lang, lang)) if source.config else None
    id_prefix = source.id_prefixes.get(lang)
    if source.id_prefixes and id_prefix is None:
        raise XstiltsError(f"task '{spec.name}': the Hub source's id_prefixes name no prefix for "
                           f"language '{lang}'; it has: {', '.join(source.id_prefixes)}")
    offline = hub_unreachable()
    if offline is not None:
        work_offline()
        datasets.config.HF_HUB_OFFLINE = True  # read from the datasets cache only: no minute of retries
    hub_splits = source.splits[split]
    for part, hub_split in enumerate([hub_splits] if isinstance(hub_splits, str) else hub_splits):
        try:
            dataset = datasets.load_dataset(source.dataset, config, split=hub_split)
        except Exception as exc:  # datasets raises many types for "not reachable / not found"
            reason = str(exc).splitlines()[0][:160].rstrip(".") if str(exc) else exc.__class__.__name__
            if offline is not None:
                reason = f"not in the local datasets cache and the Hub cannot be reached ({offline})"
            raise XstiltsError(
                f"could not load {source.dataset} (config {config}, split {hub_split}) from the "
                f"Hugging Face Hub: {reason}. Offline? Use --data-dir with local files in XTREME layout "
                "(see docs/offline.md)"
            ) from None
        names = dataset.features.get(spec.inputs.label)
        label_names = getattr(names, "names", None)
        tag_names = getattr(getattr(names, "feature", None), "names", None)  # a list of ClassLabels
        for index, row in enumerate(dataset):
            if id_prefix is not None and not str(row.get("id", "")).startswith(id_prefix):
                continue  # another language's row
            row = {source.rename.get(k, k): v for k, v in row.items()}
            if not isinstance(hub_splits, str):
                row[SPLIT_PART] = part
            if label_names and isinstance(row.get(spec.inputs.label), int) and row[spec.inputs.label] >= 0:
                # Hub ClassLabels give ints; map through their names when they match our list.
                name = label_names[row[spec.inputs.label]]
                if name in spec.labels:
                    row[spec.inputs.label] = name
            if tag_names and isinstance(row.get(spec.inputs.label), list):
                # Token tags (PAN-X's ner_tags): ClassLabel ints -> their names.
                row[spec.inputs.label] = [tag_names[t] if isinstance(t, int) and 0 <= t < len(tag_names) else t
                                          for t in row[spec.inputs.label]]
            yield f"hub:{source.dataset}/{config}/{hub_split}[{index}]", row


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


# ---------------------------------------------------------------- entry point


def _pick_source(spec: TaskSpec, settings: DataSettings):
    wanted = settings.source
    if wanted == "auto":
        if spec.source("packaged"):
            return spec.source("packaged")
        if settings.dir is not None and spec.source("local"):
            return spec.source("local")
        wanted = "hub" if spec.source("hub") else "local"
    source = spec.source(wanted) or (spec.source("packaged") if wanted == "local" else None)
    if source is None:
        kinds = ", ".join(s.kind for s in spec.sources)
        raise XstiltsError(f"task '{spec.name}' has no '{wanted}' source; available: {kinds}")
    if source.kind == "local" and settings.dir is None:
        raise XstiltsError(
            f"task '{spec.name}' reads local files but no data directory was given; "
            "pass --data-dir DIR or set XSTILTS_DATA_DIR"
        )
    return source


def check_available(spec: TaskSpec, split: Split, lang: str, settings: DataSettings) -> None:
    """Fail now, not hours into a run, when a local file a phase will read is missing."""
    source = _pick_source(spec, settings)
    if not isinstance(source, HubSource):
        root = packaged_data_dir() if isinstance(source, PackagedSource) else Path(settings.dir)
        _local_paths(spec, source, root, split, lang)


# Examples read by `check_examples` before a run starts, kept for the run's own loads so that
# every file is parsed once: (task, source, split, language, settings) -> (the files' sizes
# and modification times when read, examples, report).
_checked: dict[tuple, tuple[tuple, list[Example], LoadReport]] = {}


def _files_state(paths: list[Path]) -> tuple:
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)


def check_examples(spec: TaskSpec, split: Split, lang: str, settings: DataSettings) -> None:
    """Fail now, not hours into a run, on a missing file or a malformed row: read and validate
    every row of a local (or packaged) file, and keep the examples for `load_examples` in this
    process. Hub datasets are read when used."""
    source = _pick_source(spec, settings)
    if not isinstance(source, HubSource):
        load_examples(spec, split, lang, settings, keep=True)


def forget_checked_examples() -> None:
    """Drop the examples `check_examples` kept (a run has finished with them)."""
    _checked.clear()


def load_examples(spec: TaskSpec, split: Split, lang: str, settings: DataSettings,
                  keep: bool = False) -> tuple[list[Example], LoadReport]:
    """All examples of one task, split and language, validated row by row.

    A malformed row stops loading with its place (`fail`) or is skipped and counted (`skip`);
    it is never dropped silently. Examples `check_examples` read are returned from memory while
    their files are unchanged; `keep` keeps these for later calls.
    """
    source = _pick_source(spec, settings)
    if isinstance(source, HubSource):
        rows = hub_rows(spec, source, split, lang)
        origin, root = f"hub:{source.dataset}", None
        key, state = None, ()
    else:
        root = packaged_data_dir() if isinstance(source, PackagedSource) else Path(settings.dir)
        paths = _local_paths(spec, source, root, split, lang)
        files = [f for p in paths for f in (bitext_files(p, lang, spec.train_language) if source.layout == "bitext" else [p])]
        key, state = (spec.name, source.model_dump_json(), split, lang, settings), _files_state(files)
        if key in _checked and _checked[key][0] == state:
            _, examples, report = _checked[key]
            return list(examples), report
        rows = _local_split_rows(spec, source, root, paths, split, lang)
        origin = " + ".join(map(str, paths))
        if split in source.rows:
            rows = _row_range(rows, *source.rows[split], f"{origin} (task '{spec.name}', split '{split}')")

    def place(uid: str) -> str:
        """Where a row is, for people: its file as the user gave the folder, and its position."""
        return uid if root is None else os.path.join(root, uid)

    report = LoadReport(origin=origin)
    fmt = get_format(spec.format)
    examples: list[Example] = []
    with gc_paused():
        for uid, row in rows:
            try:
                if "__error__" in row:
                    raise BadRow(row["__error__"])
                examples.append(fmt.parse(spec, row, uid=uid))
            except BadRow as exc:
                if settings.bad_rows == "fail":
                    raise XstiltsError(
                        f"{place(uid)}: malformed row: {exc} (pass --bad-rows skip to skip and count such rows)"
                    ) from None
                report.skipped.append(f"{place(uid)}: {exc}")
    if not examples:
        raise XstiltsError(f"{origin}: no usable rows for task '{spec.name}' ({split}, {lang})")
    if keep and key is not None:
        _checked[key] = (state, examples, report)
    return list(examples), report


def subset_positions(count: int, limit: int | None, seed: int) -> list[int] | None:
    """The positions (in file order) a seeded subset of `limit` of `count` examples keeps; None
    when it keeps them all."""
    if limit is None or limit >= count:
        return None
    return sorted(random.Random(seed).sample(range(count), limit))


def select_subset(examples: list[Example], limit: int | None, seed: int) -> list[Example]:
    """A seeded random subset of `limit` examples, kept in file order. Parallel files (XNLI's
    languages) select the same rows, so every language is scored on the same items."""
    keep = subset_positions(len(examples), limit, seed)
    return examples if keep is None else [examples[i] for i in keep]
