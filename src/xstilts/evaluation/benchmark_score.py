"""Scoring a submission folder as the XTREME and XTREME-R leaderboards do (`xstilts score`).

A submission has one folder per task and one file per language, `<task>/test-<lang>.<ext>`
(`xstilts run` writes its predictions so, as `<phase>/xtreme/`); the labels folder has the same
files with the gold answers. Folders carry XTREME's task names (pawsx, udpos, panx, bucc2018,
mewslix, ...); xstilts task names that differ are read too (`aliases`). The file kinds are those
of google-research/xtreme's evaluate.py and mock_test_data (LAReQA's, absent there, follows
Mewsli-X's):

- `lines` (classification, Tatoeba): `.tsv`, one label per line (Tatoeba: the index of the
  retrieved sentence), compared as text; predictions and labels need as many lines.
- `jsonl` (XCOPA, XTREME-R): `.jsonl`, one JSON object per line whose `label` is compared (as
  JSON values); predictions and labels need as many lines.
- `tags` (UD-POS, PAN-X): `.tsv`, one tag per line and a blank line after each sentence;
  predictions need the same sentences, each with as many tags.
- `pairs` (BUCC): `.tsv`, one `source id<TAB>target id` pair per line, scored as a set (the
  submission may hold any number of pairs).
- `squad` (XQuAD, MLQA, TyDiQA-GoldP): `.json`; predictions `{question id: answer}`, labels a
  SQuAD-format file. A labelled question without an answer scores 0, as in the official v1.1
  and MLQA scripts, and one warning line lists such questions.
- `ranked` (Mewsli-X, LAReQA; XTREME-R): `.json`; predictions `{query id: [ids, best first]}`,
  labels `{query id: [relevant ids]}`; every labelled query needs a ranking.

Metrics are looked up by name in `evaluation/metrics.METRICS`. Scores are fractions (0-1). As in
evaluate.py: a language's score is the mean of its task's metrics (QA: exact match and F1), a
task's score the mean over all its languages (English included), a group's the mean of its tasks'
scores, and the overall score the mean of all tasks' scores (not of the groups).

XTREME-R as released in evaluate.py: XQuAD has `ro`, XCOPA has a group of its own (multiple
choice), and LAReQA is listed with no languages and no group, so evaluate.py cannot score it and
cannot form the XTREME-R overall score. xstilts scores LAReQA on XQuAD-R's 11 languages, in no
group, and counts it in the overall score (the XTREME-R paper's mean of its 10 tasks), and says
so in the result (`notes`) and the table.

Subsets: a run evaluated on `max_examples` rows writes `<split>-<lang>.subset.json` beside the
submission file (`{"rows": [label row of each prediction], "total": rows in the full file,
"ids": [example ids]}`); `score` then scores those label rows (QA: the listed questions) and
says so. A subset of a retrieval task is refused: its searches ran over the subset's pool.

Missing parts: a task is scored when both folders have it; a group score needs all the group's
tasks and the overall score all the benchmark's tasks (a leaderboard submission has them all),
otherwise they are reported as missing, naming the tasks. Within a scored task, every language's
file must be there, in both folders, and agree in size with the labels: anything else is an
error naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from xstilts.errors import XstiltsError
from xstilts.io import read_json, read_text
from xstilts.metrics import METRICS, mean


@dataclass(frozen=True)
class BenchmarkTask:
    name: str  # the task's folder name in a submission (XTREME's)
    group: str | None  # None: in no group (XTREME-R's LAReQA), but in the overall score
    languages: tuple[str, ...]
    kind: str  # how its files read: a key of READERS
    metrics: tuple[str, ...]  # METRICS names; a language's score is their mean
    # Other folder names read as this task: the xstilts tasks whose runs write its files
    # (`mewsli_x` for Mewsli-X, `wikiann` for XTREME-R's 48-language PAN-X).
    aliases: tuple[str, ...] = ()
    # Why google-research/xtreme's evaluate.py cannot score this task, when it cannot.
    not_in_evaluate_py: str | None = None


def _langs(codes: str) -> tuple[str, ...]:
    return tuple(sorted(codes.split()))


CLASSIFICATION, STRUCTURED, QA, RETRIEVAL = "classification", "structured prediction", "question answering", "retrieval"
MULTIPLE_CHOICE = "multiple choice"
_EM_F1 = ("exact_match", "f1")

# Languages per task: XTREME's from evaluate.py's TASK2LANGS; XTREME-R's from its paper and data
# (UD-POS 2.7 adds lt pl ro uk wo, WikiANN az gu lt pa pl qu ro uk, Tatoeba az lt pl ro uk).
_XNLI = _langs("ar bg de el en es fr hi ru sw th tr ur vi zh")
_UDPOS = "af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te th tl tr ur vi yo zh"
_PANX = ("af ar bg bn de el en es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr ms my nl pt ru sw ta te "
         "th tl tr ur vi yo zh")
_TATOEBA = ("af ar bg bn de el es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr nl pt ru sw ta te th tl "
            "tr ur vi zh")
_XQUAD = _langs("ar de el en es hi ru th tr vi zh")
_MLQA = _langs("ar de en es hi vi zh")
_TYDIQA = _langs("ar bn en fi id ko ru sw te")

BENCHMARKS: dict[str, tuple[BenchmarkTask, ...]] = {
    "xtreme": (
        BenchmarkTask("pawsx", CLASSIFICATION, _langs("de en es fr ja ko zh"), "lines", ("accuracy",)),
        BenchmarkTask("xnli", CLASSIFICATION, _XNLI, "lines", ("accuracy",)),
        BenchmarkTask("udpos", STRUCTURED, _langs(_UDPOS), "tags", ("span_f1",)),
        BenchmarkTask("panx", STRUCTURED, _langs(_PANX), "tags", ("span_f1",)),
        BenchmarkTask("xquad", QA, _XQUAD, "squad", _EM_F1),
        BenchmarkTask("mlqa", QA, _MLQA, "squad", ("mlqa_exact_match", "mlqa_f1")),
        BenchmarkTask("tydiqa", QA, _TYDIQA, "squad", _EM_F1),
        BenchmarkTask("bucc2018", RETRIEVAL, _langs("de fr ru zh"), "pairs", ("bucc_f1",)),
        BenchmarkTask("tatoeba", RETRIEVAL, _langs(_TATOEBA), "lines", ("accuracy",)),
    ),
    "xtreme-r": (
        BenchmarkTask("xnli", CLASSIFICATION, _XNLI, "lines", ("accuracy",)),
        BenchmarkTask("xcopa", MULTIPLE_CHOICE, _langs("et ht id it qu sw ta th tr vi zh"), "jsonl", ("accuracy",)),
        BenchmarkTask("udpos", STRUCTURED, _langs(_UDPOS + " lt pl ro uk wo"), "tags", ("span_f1",)),
        BenchmarkTask("panx", STRUCTURED, _langs(_PANX + " az gu lt pa pl qu ro uk"), "tags", ("span_f1",),
                      aliases=("wikiann",)),
        BenchmarkTask("xquad", QA, _langs(" ".join(_XQUAD) + " ro"), "squad", _EM_F1),
        BenchmarkTask("mlqa", QA, _MLQA, "squad", ("mlqa_exact_match", "mlqa_f1")),
        BenchmarkTask("tydiqa", QA, _TYDIQA, "squad", _EM_F1),
        BenchmarkTask("tatoeba", RETRIEVAL, _langs(_TATOEBA + " az lt pl ro uk"), "lines", ("accuracy",)),
        BenchmarkTask("mewslix", RETRIEVAL, _langs("ar de en es fa ja pl ro ta tr uk"), "ranked", ("map_at_20",),
                      aliases=("mewsli_x",)),
        # XQuAD-R's 11 languages (XQuAD's before ro was added).
        BenchmarkTask("lareqa", None, _XQUAD, "ranked", ("map_at_20",),
                      not_in_evaluate_py="its evaluate.py lists lareqa with no languages"),
    ),
}


# ---------------------------------------------------------------- readers


def _lines(path: Path) -> list[str]:
    """Stripped lines, split as evaluate.py's `read_label` iterates a file: text mode's universal
    newlines (CR LF and a lone CR end a line too), then at LF only."""
    lines = read_text(path).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines[-1] == "":  # the end of the last line, not a line
        lines.pop()
    return [line.strip() for line in lines]


def _json(path: Path) -> Any:
    return read_json(path)


def _size_error(predictions: Path, found: str, labels: Path, expected: str) -> XstiltsError:
    return XstiltsError(f"{predictions}: {found}, the labels ({labels}) have {expected}; a submission has one "
                        "prediction per labelled example, in the labels' order")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def subset_file(predictions: Path) -> Path:
    """Where a subset submission lists the label rows it predicts: `<split>-<lang>.subset.json`."""
    return predictions.with_name(predictions.name.split(".")[0] + ".subset.json")


def _subset(predictions: Path) -> dict | None:
    path = subset_file(predictions)
    if not path.is_file():
        return None
    subset = _json(path)
    rows, total = (subset.get("rows"), subset.get("total")) if isinstance(subset, dict) else (None, None)
    if not (isinstance(total, int) and isinstance(rows, list)
            and all(isinstance(r, int) and 0 <= r < total for r in rows)):
        raise XstiltsError(f'{path}: expected {{"rows": [label row numbers, 0-based, below total], "total": '
                           '<rows in the full file>, "ids": [example ids]}')
    return subset


def _label_rows(gold: list, predictions: Path, labels: Path, notes: list[str] | None) -> list:
    """The label rows a submission predicts: all of them, or the rows its subset file lists."""
    subset = _subset(predictions)
    if subset is None:
        return gold
    if subset["total"] != len(gold):
        raise XstiltsError(f"{subset_file(predictions)}: a subset of {subset['total']} rows, but {labels} has "
                           f"{len(gold)}: these are not the labels the run was evaluated on")
    if notes is not None:
        notes.append(f"{predictions}: a subset run: scored on the {len(subset['rows'])} of {len(gold)} label rows "
                     f"it predicts ({subset_file(predictions).name}), not on the whole of {labels}")
    return [gold[row] for row in subset["rows"]]


def read_lines(predictions: Path, labels: Path, notes: list[str] | None = None) -> tuple[list, list]:
    predicted = _lines(predictions)
    gold = _label_rows(_lines(labels), predictions, labels, notes)
    if len(predicted) != len(gold):
        raise _size_error(predictions, _count(len(predicted), "line"), labels, f"{len(gold)}")
    return gold, predicted


def _jsonl_labels(path: Path) -> list[Any]:
    """The `label` of each line of a JSON-lines file (XTREME-R's XCOPA files); blank lines skipped."""
    values = []
    for number, line in enumerate(_lines(path), start=1):
        if not line:
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise XstiltsError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict) or "label" not in row:
            raise XstiltsError(f'{path}:{number}: expected a JSON object with a "label"')
        values.append(row["label"])
    return values


def read_jsonl(predictions: Path, labels: Path, notes: list[str] | None = None) -> tuple[list, list]:
    predicted = _jsonl_labels(predictions)
    gold = _label_rows(_jsonl_labels(labels), predictions, labels, notes)
    if len(predicted) != len(gold):
        raise _size_error(predictions, _count(len(predicted), "line"), labels, f"{len(gold)}")
    return gold, predicted


def _sentences(path: Path) -> list[list[str]]:
    """Tag files: one tag per line, a blank line after each sentence (as evaluate.py's read_tag)."""
    sentences, current = [], []
    for line in _lines(path):
        if line:
            current.append(line)
        else:
            sentences.append(current)
            current = []
    return sentences + [current] if current else sentences


def read_tags(predictions: Path, labels: Path, notes: list[str] | None = None) -> tuple[list, list]:
    predicted = _sentences(predictions)
    gold = _label_rows(_sentences(labels), predictions, labels, notes)
    if len(predicted) != len(gold):
        raise _size_error(predictions, _count(len(predicted), "sentence"), labels, f"{len(gold)}")
    for number, (p, g) in enumerate(zip(predicted, gold), start=1):
        if len(p) != len(g):
            raise _size_error(predictions, f"sentence {number} has {_count(len(p), 'tag')}", labels, f"{len(g)}")
    return gold, predicted


def _pairs(path: Path) -> list[tuple[str, str]]:
    pairs = []
    for number, line in enumerate(_lines(path), start=1):
        fields = line.split("\t")
        if len(fields) != 2:
            raise XstiltsError(f"{path}:{number}: expected 'source id<TAB>target id', got {line!r}")
        pairs.append((fields[0], fields[1]))
    return pairs


def read_pairs(predictions: Path, labels: Path, notes: list[str] | None = None) -> tuple[list, list]:
    return _pairs(labels), _pairs(predictions)


def _squad_answers(path: Path) -> dict[str, list[str]]:
    """{question id: gold answer texts} of a SQuAD-format file."""
    data = _json(path)
    try:
        return {qa["id"]: [answer["text"] for answer in qa["answers"]]
                for article in data["data"] for paragraph in article["paragraphs"] for qa in paragraph["qas"]}
    except (KeyError, TypeError):
        raise XstiltsError(f"{path}: not a SQuAD-format labels file "
                           "({'data': [{'paragraphs': [{'qas': [{'id', 'answers': [{'text'}]}]}]}]})") from None


def _mapping(path: Path, value_type: type, shape: str) -> dict[str, Any]:
    data = _json(path)
    if not isinstance(data, dict) or not all(isinstance(v, value_type) for v in data.values()):
        raise XstiltsError(f"{path}: expected one JSON object {shape}")
    return data


def _subset_ids(gold: dict[str, Any], predictions: Path, labels: Path, notes: list[str] | None) -> dict[str, Any]:
    """The labelled questions (queries) a submission answers: all, or those its subset file lists."""
    subset = _subset(predictions)
    if subset is None:
        return gold
    ids = subset.get("ids")
    unknown = [i for i in ids if i not in gold] if isinstance(ids, list) else None
    if unknown is None or unknown:
        raise XstiltsError(f"{subset_file(predictions)}: its \"ids\" must be ids of {labels}"
                           + (f" (not there: {unknown[0]!r})" if unknown else ""))
    if notes is not None:
        notes.append(f"{predictions}: a subset run: scored on the {len(ids)} of {len(gold)} labelled ids it "
                     f"lists ({subset_file(predictions).name}), not on the whole of {labels}")
    return {key: gold[key] for key in ids}


def read_squad(predictions: Path, labels: Path, notes: list[str] | None = None) -> tuple[list, list]:
    """Golds and predictions in the labels' order; None for a question without a prediction (it
    scores 0, as in the official scripts, and a note lists them)."""
    predicted = _mapping(predictions, str, "{question id: answer text}")
    gold = _subset_ids(_squad_answers(labels), predictions, labels, notes)
    missing = [key for key in gold if key not in predicted]
    if missing and notes is not None:
        notes.append(f"{predictions}: no prediction for {len(missing)} of the {len(gold)} questions in {labels}; "
                     f"each scores 0, as in the official scripts: {', '.join(missing)}")
    return list(gold.values()), [predicted.get(key) for key in gold]


def read_ranked(predictions: Path, labels: Path, notes: list[str] | None = None) -> tuple[list, list]:
    predicted = _mapping(predictions, list, "{query id: [ids, best first]}")
    gold = _subset_ids(_mapping(labels, list, "{query id: [relevant ids]}"), predictions, labels, notes)
    missing = [key for key in gold if key not in predicted]
    if missing:
        raise XstiltsError(f"{predictions}: no prediction for {len(missing)} of the {len(gold)} ids in {labels} "
                           f"(first: {missing[0]!r})")
    return list(gold.values()), [predicted[key] for key in gold]


Reader = Callable[[Path, Path, list[str]], tuple[list, list]]
# kind -> (file suffix, reader of (predictions file, labels file, notes) -> (golds, predictions))
READERS: dict[str, tuple[str, Reader]] = {
    "lines": ("tsv", read_lines), "jsonl": ("jsonl", read_jsonl), "tags": ("tsv", read_tags),
    "pairs": ("tsv", read_pairs), "squad": ("json", read_squad), "ranked": ("json", read_ranked),
}


# ---------------------------------------------------------------- scores


def _metric(task: BenchmarkTask, name: str) -> Callable[..., float]:
    if name not in METRICS:
        raise XstiltsError(f"task '{task.name}' is scored with metric '{name}', which is not registered in "
                           f"evaluation/metrics.METRICS (registered: {', '.join(sorted(METRICS))})")
    return METRICS[name]


def task_folder(root: Path, task: BenchmarkTask) -> Path | None:
    """The task's folder under `root`: its XTREME name, else one of its aliases."""
    return next((root / name for name in (task.name, *task.aliases) if (root / name).is_dir()), None)


def score_task(task: BenchmarkTask, predictions_dir: Path, labels_dir: Path, split: str) -> dict:
    """Per-language metrics and scores of one task (its folders are `predictions_dir` and
    `labels_dir`), their averages over its languages, and notes on how it was scored."""
    suffix, read = READERS[task.kind]
    metrics = {name: _metric(task, name) for name in task.metrics}
    languages: dict[str, dict[str, float]] = {}
    notes: list[str] = []
    for lang in task.languages:
        name = f"{split}-{lang}.{suffix}"
        files = predictions_dir / name, labels_dir / name
        for path in files:
            if not path.is_file():
                raise XstiltsError(f"missing file {path}: task '{task.name}' needs {path.parent.name}/{split}-<lang>."
                                   f"{suffix} for each of its languages ({' '.join(task.languages)})")
        if task.group == RETRIEVAL and subset_file(files[0]).is_file():
            raise XstiltsError(f"{subset_file(files[0])}: a subset run of task '{task.name}' cannot be scored "
                               "against the full labels: its searches ran over the subset's sentences only")
        golds, predicted = read(*files, notes)
        if not golds:
            raise XstiltsError(f"{files[1]}: no labels")
        try:
            values = {metric: fn(golds, predicted, lang) for metric, fn in metrics.items()}
        except ValueError as exc:  # what a metric cannot score (e.g. a query without relevant ids)
            raise XstiltsError(f"{files[1]}: cannot score against these labels: {exc}") from None
        languages[lang] = {**values, "score": mean(list(values.values()))}
    return {
        "group": task.group,
        "metrics": list(task.metrics),
        "languages": languages,
        "average": {metric: mean([s[metric] for s in languages.values()]) for metric in task.metrics},
        "score": mean([s["score"] for s in languages.values()]),
        "notes": notes,
    }


def score_submission(predictions_dir: Path, labels_dir: Path, benchmark: str, split: str = "test") -> dict:
    """Every present task's scores, the group scores and the overall score of a benchmark."""
    if benchmark not in BENCHMARKS:
        raise XstiltsError(f"--benchmark {benchmark!r}: allowed: {', '.join(BENCHMARKS)}")
    for folder in (predictions_dir, labels_dir):
        if not folder.is_dir():
            raise XstiltsError(f"{folder}: no such folder")
    tasks = BENCHMARKS[benchmark]
    scored: dict[str, dict] = {}
    missing: dict[str, str] = {}
    for task in tasks:
        folders = {side: task_folder(root, task) for side, root in (("predictions", predictions_dir),
                                                                     ("labels", labels_dir))}
        absent = [side for side, folder in folders.items() if folder is None]
        if absent:
            names = "/ or ".join((task.name, *task.aliases))
            missing[task.name] = f"no {names}/ folder in the {' and '.join(absent)}"
        else:
            scored[task.name] = score_task(task, folders["predictions"], folders["labels"], split)
    if not scored:
        names = ", ".join(task.name for task in tasks)
        raise XstiltsError(f"{predictions_dir}: no task of {benchmark} to score: no task folder in both the "
                           f"predictions and the labels; expected <task>/{split}-<lang> files, tasks: {names}")
    groups: dict[str, dict] = {}
    for task in tasks:
        if task.group is None:
            continue
        group = groups.setdefault(task.group, {"tasks": [], "missing": []})
        group["tasks"].append(task.name)
        if task.name in missing:
            group["missing"].append(task.name)
    for group in groups.values():
        group["score"] = None if group["missing"] else mean([scored[name]["score"] for name in group["tasks"]])
    overall = None if missing else mean([s["score"] for s in scored.values()])
    notes = [note for s in scored.values() for note in s["notes"]]
    beyond = [task for task in tasks if task.not_in_evaluate_py and task.name in scored]
    for task in beyond:
        notes.append(f"{task.name}: scored by xstilts only; evaluate.py cannot score it ({task.not_in_evaluate_py})")
    if overall is not None and beyond:
        notes.append(f"overall: computed by xstilts; evaluate.py cannot compute the {benchmark} overall score "
                     f"({'; '.join(t.not_in_evaluate_py for t in beyond)})")
    return {
        "benchmark": benchmark,
        "split": split,
        "tasks": scored,
        "missing_tasks": missing,
        "groups": groups,
        "overall": overall,
        "notes": notes,
    }


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def scores_table(result: dict) -> Table:
    """Per-task (with each language), per-group and overall scores, in percent."""
    table = Table(title=f"{result['benchmark']} {result['split']} scores (%)")
    for column in ("task", "group", "metric", "score", "per language"):
        table.add_column(column, justify="right" if column == "score" else "left", overflow="fold")
    for task in BENCHMARKS[result["benchmark"]]:
        if task.name in result["tasks"]:
            scores = result["tasks"][task.name]
            per_language = " ".join(f"{lang} {_percent(s['score'])}" for lang, s in scores["languages"].items())
            if task.not_in_evaluate_py:
                per_language += f" (xstilts only: {task.not_in_evaluate_py})"
            table.add_row(task.name, task.group or "-", " + ".join(task.metrics), _percent(scores["score"]),
                          per_language)
        else:
            table.add_row(task.name, task.group or "-", " + ".join(task.metrics), "missing",
                          result["missing_tasks"][task.name])
    table.add_section()
    for name, group in result["groups"].items():
        note = f"missing: {', '.join(group['missing'])}" if group["missing"] else f"mean of {', '.join(group['tasks'])}"
        table.add_row("", name, "", _percent(group["score"]), note)
    table.add_section()
    missing = result["missing_tasks"]
    beyond = [t.name for t in BENCHMARKS[result["benchmark"]] if t.not_in_evaluate_py]
    table.add_row("overall", "", "", _percent(result["overall"]),
                  f"missing: {', '.join(missing)}" if missing else "mean of all tasks"
                  + (f" (xstilts only: evaluate.py cannot score {', '.join(beyond)})" if beyond else ""))
    return table
