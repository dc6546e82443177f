"""The malformed-input corpus: bad configs, overrides, data files of every format, model and
run files, and `score` / `report` / `compare` / `attack` inputs. Each must end the command with
exit code 2 and one stderr line `error: ...` naming the file (or option) and the place, with no
traceback, and must leave an existing finished run byte-identical.

The CLI runs in-process (`xstilts.cli.main` with a patched argv) on the tiny model, so the whole
corpus takes seconds.
"""

from __future__ import annotations

import errno
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from experiment_files import experiment_config
from xstilts import cli
from xstilts.config import load_config
from xstilts.evaluation.benchmark_score import BENCHMARKS
from xstilts.robustness.perturbed_sets import manifest_for, write_clean, write_manifest
from xstilts.robustness.registry import build_perturbations
from xstilts.tasks.example import Example
from xstilts.training.pipeline import run_experiment

SQUAD = {"data": [{"paragraphs": [{"context": "the cat sits on the mat", "qas": [
    {"id": "q1", "question": "where is the cat", "answers": [{"text": "on the mat", "answer_start": 13}]}]}]}]}


def write_more_formats(root: Path) -> None:
    """Valid files of the formats the tiny data lacks: SQuAD JSON, tagging sentences, bitext, pairs."""
    for name in ("squad/train-v1.1.json", "squad/dev-v1.1.json", "xquad/test-de.json"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(json.dumps(SQUAD), encoding="utf-8")
    for name in ("panx/train-en.tsv", "panx/dev-en.tsv", "panx/test-de.tsv"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("the\tO\ncat\tB-PER\n\ndog\tO\n", encoding="utf-8")
    (root / "bucc2018").mkdir()
    (root / "bucc2018" / "de-en.dev.de").write_text("de-1\tdie katze\nde-2\tder hund\n", encoding="utf-8")
    (root / "bucc2018" / "de-en.dev.en").write_text("en-1\tthe cat\nen-2\tthe dog\n", encoding="utf-8")
    (root / "bucc2018" / "de-en.dev.gold").write_text("de-1\ten-1\n", encoding="utf-8")
    (root / "tatoeba").mkdir()
    (root / "tatoeba" / "test-de.tsv").write_text("die katze\tthe cat\nder hund\tthe dog\n", encoding="utf-8")


@dataclass
class Env:
    """What a case builds on: a fresh folder, the tiny model, a valid data folder, a finished run."""

    tmp: Path
    model: Path
    base_data: Path
    run: Path  # a finished run, never changed by any case
    run_config: Path
    monkeypatch: pytest.MonkeyPatch

    def data(self) -> Path:
        """A copy of the valid data folder, to break."""
        copy = self.tmp / "data"
        if not copy.exists():
            shutil.copytree(self.base_data, copy)
        return copy

    def put(self, relative: str, content: str | bytes) -> Path:
        """Write (break) a file of the data copy."""
        path = self.data() / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return path

    def config(self, phases: str, extra: str = "", name: str = "c") -> Path:
        path = experiment_config(self.tmp, name, self.model, self.data(), phases)
        if extra:
            path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
        return path

    def raw_config(self, text: str | bytes) -> Path:
        path = self.tmp / "c.yaml"
        path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
        return path

    def run_copy(self) -> Path:
        """A copy of the finished run, to break (the original stays intact)."""
        copy = self.tmp / "runs-copy" / self.run.name
        if not copy.exists():
            shutil.copytree(self.run, copy)
        return copy

    def other_setting(self) -> Path:
        """The run copy, recorded as another setting (a different max_length), for `compare`."""
        metrics_file = self.run_copy() / "metrics.json"
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        metrics["config"]["max_length"] += 1
        metrics_file.write_text(json.dumps(metrics), encoding="utf-8")
        return metrics_file.parent

    def model_copy(self) -> Path:
        return self.run_copy() / "target" / "model"

    def no_space(self) -> None:
        """Every atomic write fails as on a full disk."""
        def full(fd):
            raise OSError(errno.ENOSPC, "No space left on device")
        self.monkeypatch.setattr("xstilts.io.os.fsync", full)


TRAIN_XNLI = "  - {name: target, task: xnli, batch_size: 8, epochs: 1}\n"
EVAL_DE = "  - {name: zero-shot, kind: evaluate, task: xnli, languages: [en, de]}\n"


def _run(env: Env, phases: str, *more: str) -> list[str]:
    return ["run", str(env.config(phases)), *more]


def _data_case(relative: str, content: str | bytes, phases: str = TRAIN_XNLI + EVAL_DE) -> Callable[[Env], list[str]]:
    def build(env: Env) -> list[str]:
        env.put(relative, content)
        return _run(env, phases)
    return build


def _config_case(text: str | bytes) -> Callable[[Env], list[str]]:
    return lambda env: ["run", str(env.raw_config(text))]


def _phases_case(phases: str, extra: str = "", command: str = "run") -> Callable[[Env], list[str]]:
    return lambda env: [command, str(env.config(phases, extra))]


def _override_case(*settings: str) -> Callable[[Env], list[str]]:
    """The finished run's own config with bad --set values: the run must stay as it was."""
    return lambda env: ["run", str(env.run_config), *[a for s in settings for a in ("--set", s)]]


def _mlm(env: Env, name: str, content: str | bytes, options: str = "") -> list[str]:
    """A training phase with continued MLM on one (broken) text file: checked before training."""
    path = env.put(f"mlm/{name}", content)
    return _run(env, f"  - {{name: t, task: xnli, mlm: {{files: [{path}], {options}}}}}\n")


def _eval(env: Env, model: Path, *more: str) -> list[str]:
    return ["eval", str(model), "--task", "xnli", "--languages", "de", "--data-dir", str(env.data()),
            "--out", str(env.tmp / "eval-out"), "--max-length", "32", *more]


def _model_case(relative: str, damage: Callable[[bytes], bytes]) -> Callable[[Env], list[str]]:
    def build(env: Env) -> list[str]:
        path = env.model_copy() / relative
        path.write_bytes(damage(path.read_bytes()))
        return _eval(env, env.model_copy())
    return build


def _run_file_case(command: str, relative: str, content: str | bytes) -> Callable[[Env], list[str]]:
    def build(env: Env) -> list[str]:
        run = env.run_copy()
        (run / relative).write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        args = [command, str(run)]
        return args + (["--out", str(env.tmp / "report")] if command == "report" else [])
    return build


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _submission(env: Env, damage: Callable[[Path, Path], None] | None = None, *more: str) -> list[str]:
    predictions, labels = env.tmp / "predictions", env.tmp / "labels"
    for lang in BENCHMARKS["xtreme"][0].languages:
        for root in (predictions, labels):
            (root / "pawsx").mkdir(parents=True, exist_ok=True)
            (root / "pawsx" / f"test-{lang}.tsv").write_text("0\n1\n1\n0\n", encoding="utf-8")
    if damage is not None:
        damage(predictions, labels)
    return ["score", "--predictions", str(predictions), "--labels", str(labels), "--benchmark", "xtreme", *more]


def _perturbed_set(env: Env, clean_rows: str | None = None) -> Path:
    """A saved perturbed set of xnli in German (char-noise), as `xstilts attack` writes one."""
    root = env.tmp / "perturbed"
    chosen = build_perturbations("char-noise", [], {"seed": 0, "strength": None, "query_budget": None})
    write_manifest(root, manifest_for("xnli", 1, "dev", 0, None, ["de"], chosen, "m", [], {}, {}))
    write_clean(root, "xnli", "de", [Example("x:1", ("die katze", "eine katze"), 0)])
    if clean_rows is not None:
        (root / "xnli" / "clean" / "de.jsonl").write_text(clean_rows, encoding="utf-8")
    return root


def _attack(env: Env, reuse: Path | None, *more: str) -> list[str]:
    return ["attack", str(env.run), "--task", "xnli", "--languages", "de", "--data-dir", str(env.data()),
            "--out", str(env.tmp / "attack-out"), *(["--reuse", str(reuse)] if reuse else []), *more]


def _manifest_case(text: str) -> Callable[[Env], list[str]]:
    def build(env: Env) -> list[str]:
        root = _perturbed_set(env)
        (root / "manifest.json").write_text(text, encoding="utf-8")
        return _attack(env, root)
    return build


def _no_space_case(build: Callable[[Env], list[str]]) -> Callable[[Env], list[str]]:
    def wrapped(env: Env) -> list[str]:
        args = build(env)
        env.no_space()
        return args
    return wrapped


def _raw_disk_full(env: Env) -> list[str]:
    """A full disk in a write no xstilts helper made (OSError with the file name) reaches main()."""
    target = env.tmp / "table.md"

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
    env.monkeypatch.setattr("xstilts.cli.commands.write_text_atomic", full)
    return ["compare", str(env.run), str(env.other_setting()), "--out", str(target)]


# (case id, how to build the command line, fragments the error line must contain; {tmp} is the case's folder)
CASES: list[tuple[str, Callable[[Env], list[str]], tuple[str, ...]]] = [
    # ------------------------------------------------------------ configs
    ("yaml-syntax", _config_case("name: c\nphases: [\n  {name: t\n"), ("c.yaml:", "not valid YAML")),
    ("yaml-duplicate-top-key", _config_case("name: c\nseed: 1\nseed: 2\nphases: [{name: t, task: xnli}]\n"),
     ("c.yaml:3:", "key 'seed' given twice (first on line 2)")),
    ("yaml-duplicate-phase-key", _config_case("name: c\nphases:\n  - {name: t, task: xnli, lr: 1.0e-4, lr: 1}\n"),
     ("c.yaml:3:", "key 'lr' given twice")),
    ("yaml-not-utf8", _config_case(b"name: c\nphases: [{name: t, task: \xff}]\n"), ("c.yaml:2:", "not valid UTF-8")),
    ("yaml-top-level-list", _config_case("- name: c\n"), ("c.yaml:", "expected a mapping")),
    ("config-missing", lambda env: ["run", str(env.tmp / "absent.yaml")], ("absent.yaml", "does not exist")),
    ("lr-inf", _phases_case("  - {name: t, task: xnli, lr: .inf}\n"), ("c.yaml:", "phases.0.lr", "finite")),
    ("lr-nan", _phases_case("  - {name: t, task: xnli, lr: .nan}\n"), ("c.yaml:", "phases.0.lr", "finite")),
    ("weight-decay-inf", _phases_case("  - {name: t, task: xnli, weight_decay: .inf}\n"),
     ("c.yaml:", "phases.0.weight_decay", "finite")),
    ("sampler-temperature-inf", _phases_case(
        "  - {name: t, kind: multitask, tasks: [mnli, qqp], sampler: {type: temperature, temperature: .inf}}\n"),
     ("c.yaml:", "phases.0.sampler.temperature", "finite")),
    ("phase-a-number", _config_case("name: c\nphases: [5]\n"), ("c.yaml:", "phases.0", "a phase is a mapping")),
    ("phase-kind-unknown", _phases_case("  - {name: t, kind: bogus, task: xnli}\n"), ("c.yaml:", "phases.0", "kind")),
    ("phases-empty", _config_case("name: c\nphases: []\n"), ("c.yaml:", "phases")),
    ("unknown-key", _phases_case("  - {name: t, task: xnli, batchsize: 8}\n"),
     ("c.yaml:", "unknown key 'phases.0.batchsize'", "batch_size")),
    ("unknown-task", _phases_case("  - {name: t, task: xlni}\n"), ("c.yaml: phases.0.task: unknown task 'xlni'",)),
    ("unknown-task-in-multitask", _phases_case("  - {name: t, kind: multitask, tasks: [mnli, qqq]}\n"),
     ("c.yaml: phases.0.tasks.1.task: unknown task 'qqq'",)),
    ("unknown-task-in-curriculum", _phases_case("  - {name: i, kind: curriculum, tasks: [mnli, qqq], budget: 8}\n"),
     ("c.yaml: curriculum 'i', stage 'i-2-qqq': phases.1.task: unknown task 'qqq'",)),
    ("unknown-language", _phases_case(TRAIN_XNLI + "  - {name: e, kind: evaluate, task: xnli, languages: [de, xx]}\n"),
     ("c.yaml: phases.1.languages:", "no language 'xx'")),
    ("unknown-train-language", _phases_case("  - {name: t, task: mnli, train_languages: [qq]}\n"),
     ("c.yaml:", "phases.0", "unknown language code(s) qq")),
    ("translate-train-without-dir", _phases_case("  - {name: t, task: mnli, train_languages: [en, de]}\n"),
     ("c.yaml: phases.0.train_languages:", "translated_dir")),
    ("curve-target-unknown", _phases_case("  - {name: t, task: xnli, curve: {target: xnil}}\n"),
     ("c.yaml: phases.0.curve.target: unknown task 'xnil'",)),
    ("curve-language-unknown", _phases_case("  - {name: t, task: mnli, curve: {target: xnli, languages: [zz]}}\n"),
     ("c.yaml: phases.0.curve.languages:", "no language 'zz'")),
    ("epochs-and-budget", _phases_case("  - {name: t, task: xnli, epochs: 1, budget: 10}\n"),
     ("c.yaml:", "phases.0", "either epochs or budget")),
    ("evaluate-before-train-run", _phases_case(EVAL_DE + TRAIN_XNLI),
     ("c.yaml: phases.0:", "'nli' head, which no training phase before it trains")),
    ("evaluate-before-train-validate", _phases_case(EVAL_DE, command="validate"),
     ("c.yaml: phases.0:", "no training phase before it trains", "heads trained by then: none")),
    ("evaluate-other-head-validate", _phases_case("  - {name: t, task: sst2}\n" + EVAL_DE, command="validate"),
     ("c.yaml: phases.1:", "heads trained by then: sst2")),
    ("evaluate-split-the-task-lacks", _phases_case("  - {name: e, kind: evaluate, task: tatoeba, languages: [de]}\n"),
     ("c.yaml: phases.0.split: task 'tatoeba' has no 'dev' split; allowed: test",)),
    ("run-name-not-a-name", lambda env: ["run", str(env.raw_config("name: ../x\nphases: [{name: t, task: xnli}]\n"))],
     ("c.yaml:", "name")),
    ("variants-not-a-mapping", _config_case("name: c\nphases: [{name: t, task: xnli}]\nvariants: [a, b]\n"),
     ("c.yaml: variants:",)),
    ("max-length-beyond-positions", lambda env: ["run", str(env.config(TRAIN_XNLI)), "--set", "max_length=100000"],
     ("c.yaml: max_length: 100000 is more than model", "(64 positions); allowed: 1 to 64")),
    ("max-length-beyond-positions-validate", lambda env: ["validate", str(env.raw_config(
        f"name: c\nmodel: {env.model}\nmax_length: 65\nphases: [{{name: t, task: xnli}}]\n"))],
     ("c.yaml:", "max_length: 65 is more than model")),
    # ------------------------------------------------------------ --set and options
    ("set-into-a-number", _override_case("seed.x=1"), ("--set seed.x:", "'seed' is 3, not a mapping")),
    ("set-unclosed-list", _override_case("phases.0.lr=[1,"), ("--set 'phases.0.lr=[1,'", "not valid YAML")),
    ("set-phase-to-a-number", _override_case("phases.0=5"), ("finished.yaml:", "phases.0", "a phase is a mapping")),
    ("set-without-equals", _override_case("seed"), ("--set 'seed'", "expected key=value")),
    ("set-index-out-of-range", _override_case("phases.9.lr=1"), ("--set phases.9.lr:", "'9' is not an index")),
    ("set-lr-inf", _override_case("phases.0.lr=.inf"), ("finished.yaml:", "phases.0.lr", "finite")),
    ("set-unknown-key", _override_case("learning_rate=1"), ("finished.yaml:", "unknown key 'learning_rate'")),
    ("set-unknown-task", _override_case("phases.0.task=xlni"), ("finished.yaml: phases.0.task: unknown task",)),
    ("set-max-length-zero", _override_case("max_length=0"), ("finished.yaml:", "max_length")),
    ("bad-rows-option", lambda env: ["run", str(env.run_config), "--bad-rows", "maybe"],
     ("--bad-rows 'maybe'", "allowed: fail, skip")),
    # ------------------------------------------------------------ data files: tsv
    ("tsv-field-count", _data_case("xnli/dev-de.tsv", "a\tb\tentailment\nonly two\tfields\n"),
     ("xnli/dev-de.tsv:2:", "expected 3 tab-separated fields", "--bad-rows skip")),
    ("tsv-not-utf8", _data_case("xnli/dev-de.tsv", b"a\tb\tentailment\nc\t\xff\tneutral\n"),
     ("xnli/dev-de.tsv:2:", "not valid UTF-8")),
    ("tsv-unknown-label", _data_case("xnli/dev-de.tsv", "a\tb\tmaybe\n"), ("xnli/dev-de.tsv:1:", "maybe")),
    ("tsv-empty", _data_case("xnli/dev-de.tsv", ""), ("xnli/dev-de.tsv", "no usable rows")),
    ("tsv-bom-before-header", _data_case("sst2/train.tsv", "\ufeffsentence\tlabel\ngood film\t1\n",
                                         "  - {name: t, task: sst2}\n"),
     ("sst2/train.tsv:1:", "byte-order mark", "before the header")),
    ("tsv-header-not-utf8", _data_case("sst2/dev.tsv", b"sent\xffence\tlabel\ngood\t1\n", "  - {name: t, task: sst2}\n"),
     ("sst2/dev.tsv:1:", "not valid UTF-8")),
    ("tsv-missing-file", lambda env: (env.data() / "xnli" / "dev-de.tsv").unlink() or _run(env, TRAIN_XNLI + EVAL_DE),
     ("missing data file", "xnli/dev-de.tsv")),
    ("tsv-retrieval-pairs", _data_case("tatoeba/test-de.tsv", "die katze\n",
                                       "  - {name: e, kind: evaluate, task: tatoeba, split: test, languages: [de]}\n"),
     ("tatoeba/test-de.tsv:1:", "expected 2 tab-separated fields")),
    # ------------------------------------------------------------ data files: json (MNLI layout)
    ("json-truncated", _data_case("mnli/train.json", '{"0": {"text_a": "a", "text_b": "b",'),
     ("mnli/train.json:1:", "not valid JSON")),
    ("json-not-utf8", _data_case("mnli/train.json", b'{"0": {"text_a": "\xff"}}'), ("mnli/train.json:1:", "not valid UTF-8")),
    ("json-row-not-object", _data_case("mnli/train.json", '{"0": 5}'), ("mnli/train.json[0]", "not a JSON object")),
    ("json-dev-row-missing-label", _data_case("mnli/dev.json", '{"7": {"text_a": "a", "text_b": "b"}}'),
     ("mnli/dev.json[7]", "label")),
    ("json-bom", _data_case("qqp/train.json", "\ufeff{}", "  - {name: t, task: qqp}\n"),
     ("qqp/train.json:1:", "byte-order mark")),
    # ------------------------------------------------------------ data files: jsonl (XCOPA)
    ("jsonl-broken-validation-line", _data_case("xcopa/val-sw.jsonl", '{"premise": "x", "choice1": "a", '
                                                '"choice2": "b", "question": "cause", "label": 0}\n{"premise": \n',
                                                "  - {name: t, task: xcopa}\n  - {name: e, kind: evaluate, task: xcopa, "
                                                "languages: [sw]}\n"),
     ("xcopa/val-sw.jsonl:2:", "not valid JSON", "--bad-rows skip")),
    ("jsonl-not-utf8", _data_case("xcopa/val-sw.jsonl", b'{"premise": "\xff"}\n',
                                  "  - {name: t, task: xcopa}\n  - {name: e, kind: evaluate, task: xcopa, languages: [sw]}\n"),
     ("xcopa/val-sw.jsonl:1:", "not valid UTF-8")),
    ("jsonl-not-object", _data_case("xcopa/train-en.jsonl", "[1, 2]\n", "  - {name: t, task: xcopa}\n"),
     ("xcopa/train-en.jsonl:1:", "not a JSON object")),
    ("jsonl-label-out-of-range", _data_case("xcopa/train-en.jsonl", '{"premise": "x", "choice1": "a", "choice2": "b", '
                                            '"question": "cause", "label": 7}\n', "  - {name: t, task: xcopa}\n"),
     ("xcopa/train-en.jsonl:1:", "malformed row")),
    ("jsonl-bom", _data_case("xcopa/train-en.jsonl", '\ufeff{"premise": "x"}\n', "  - {name: t, task: xcopa}\n"),
     ("xcopa/train-en.jsonl:1:", "byte-order mark")),
    # ------------------------------------------------------------ data files: SQuAD json
    ("squad-article-without-paragraphs", _data_case("squad/train-v1.1.json", '{"data": [{"title": "x"}]}',
                                                    "  - {name: t, task: squad}\n"),
     ("squad/train-v1.1.json[data][0]", "paragraphs")),
    ("squad-answer-after-context", _data_case("squad/dev-v1.1.json", json.dumps({"data": [{"paragraphs": [{
        "context": "short", "qas": [{"id": "q", "question": "q?", "answers": [{"text": "x", "answer_start": 99}]}]}]}]}),
        "  - {name: t, task: squad}\n"),
     ("squad/dev-v1.1.json[data][0][paragraphs][0][qas][0]", "after the end of the context")),
    ("squad-truncated-test-file", _data_case("xquad/test-de.json", '{"data": [{"paragraphs": [',
                                             "  - {name: t, task: squad}\n  - {name: e, kind: evaluate, task: xquad, "
                                             "split: test, languages: [de]}\n"),
     ("xquad/test-de.json:1:", "not valid JSON")),
    # ------------------------------------------------------------ data files: tagging sentences
    ("tagging-three-fields", _data_case("panx/train-en.tsv", "the\tO\ncat\tB-PER\textra\n", "  - {name: t, task: panx}\n"),
     ("panx/train-en.tsv:1:", "line 2: expected word<TAB>tag")),
    ("tagging-unknown-tag", _data_case("panx/test-de.tsv", "der\tO\n\nhund\tB-DOG\n",
                                       "  - {name: t, task: panx}\n  - {name: e, kind: evaluate, task: panx, "
                                       "split: test, languages: [de]}\n"),
     ("panx/test-de.tsv:3:", "'B-DOG'")),
    ("tagging-not-utf8", _data_case("panx/dev-en.tsv", b"the\tO\n\n\xff\tO\n", "  - {name: t, task: panx}\n"),
     ("panx/dev-en.tsv:3:", "not valid UTF-8")),
    # ------------------------------------------------------------ data files: bitext (BUCC)
    ("bitext-gold-unknown-id", _data_case("bucc2018/de-en.dev.gold", "de-9\ten-1\n",
                                          "  - {name: e, kind: evaluate, task: bucc2018, languages: [de]}\n"),
     ("bucc2018/de-en.dev.gold:1:", "de id 'de-9'")),
    ("bitext-sentence-one-field", _data_case("bucc2018/de-en.dev.en", "en-1 the cat\n",
                                             "  - {name: e, kind: evaluate, task: bucc2018, languages: [de]}\n"),
     ("bucc2018/de-en.dev.en:1:", "expected two non-empty tab-separated fields")),
    ("bitext-not-utf8", _data_case("bucc2018/de-en.dev.de", b"de-1\tdie \xffkatze\n",
                                   "  - {name: e, kind: evaluate, task: bucc2018, languages: [de]}\n"),
     ("bucc2018/de-en.dev.de:1:", "not valid UTF-8")),
    ("mlm-files-match-nothing", lambda env: _run(env, "  - {name: t, task: xnli, mlm: {files: [" + str(env.tmp / "none-*.txt")
                                                 + "]}}\n"),
     ("phases.0.mlm.files:", "matches no file")),
    ("mlm-jsonl-broken-line", lambda env: _mlm(env, "a.jsonl", '{"text": "x"}\n{"text": \n'),
     ("mlm/a.jsonl:2:", "not valid JSON")),
    ("mlm-tsv-too-few-columns", lambda env: _mlm(env, "a.tsv", "eins\tzwei\n", "tsv_columns: [2]"),
     ("mlm/a.tsv:1:", "mlm.tsv_columns [2]")),
    ("mlm-txt-not-utf8", lambda env: _mlm(env, "a.txt", b"gut\nschl\xfcssel\n"), ("mlm/a.txt:2:", "not valid UTF-8")),
    ("eval-command-broken-row", lambda env: (env.put("xnli/dev-de.tsv", "x\ty\n"), _eval(env, env.run / "target" / "model"))[1],
     ("xnli/dev-de.tsv:1:", "expected 3 tab-separated fields")),
    # ------------------------------------------------------------ model files
    ("heads-garbage", _model_case("heads.safetensors", lambda data: b"\x00" * len(data)),
     ("heads.safetensors:", "not a complete safetensors file")),
    ("heads-truncated", _model_case("heads.safetensors", _truncated), ("heads.safetensors:", "not a complete safetensors")),
    ("encoder-weights-truncated", _model_case("encoder/model.safetensors", _truncated),
     ("encoder/model.safetensors:", "not a complete safetensors file")),
    ("encoder-weights-garbage", _model_case("encoder/model.safetensors", lambda data: b"garbage"),
     ("encoder/model.safetensors:", "not a complete safetensors file")),
    ("heads-json-truncated", _model_case("heads.json", _truncated), ("heads.json:", "not valid JSON")),
    ("heads-json-without-heads", _model_case("heads.json", lambda data: b'{"pooling": "mean"}'),
     ("heads.json:", "not a heads file")),
    ("eval-not-a-model", lambda env: _eval(env, env.tmp), ("{tmp} is not an xstilts model directory",)),
    ("eval-max-length-beyond-positions", lambda env: _eval(env, env.run / "target" / "model", "--max-length", "100000"),
     ("--max-length: 100000", "64 positions")),
    ("eval-unknown-task", lambda env: ["eval", str(env.run / "target" / "model"), "--task", "xlni"], ("--task:", "xlni")),
    ("eval-unknown-language", lambda env: _eval(env, env.run / "target" / "model")[:4] + ["--languages", "xx"],
     ("--languages:", "no language 'xx'")),
    ("eval-bad-rows-option", lambda env: _eval(env, env.run / "target" / "model", "--bad-rows", "never"),
     ("--bad-rows 'never'",)),
    ("config-model-missing-dir", lambda env: ["run", str(env.config(TRAIN_XNLI))] + ["--set", f"model={env.tmp}/no-model"],
     ("could not load model", "no-model")),
    # ------------------------------------------------------------ disk full
    ("disk-full-feature-cache", _no_space_case(lambda env: _eval(env, env.run / "target" / "model")),
     ("features/", "No space left on device")),
    ("disk-full-score-json", _no_space_case(lambda env: _submission(env, None, "--json", str(env.tmp / "s.json"))),
     ("s.json:", "No space left on device")),
    ("disk-full-compare-out", _no_space_case(lambda env: ["compare", str(env.run), str(env.other_setting()), "--out",
                                                          str(env.tmp / "t.md")]),
     ("t.md:", "No space left on device")),
    ("disk-full-outside-helpers", _raw_disk_full, ("table.md:", "No space left on device")),
    # ------------------------------------------------------------ score
    ("score-empty-predictions", lambda env: _submission(env, lambda p, lab: shutil.rmtree(p) or p.mkdir()),
     ("predictions:", "no task of xtreme to score")),
    ("score-not-utf8", lambda env: _submission(
        env, lambda p, lab: (p / "pawsx" / "test-de.tsv").write_bytes(b"0\n\xff\n1\n0\n")),
     ("pawsx/test-de.tsv:2:", "not valid UTF-8")),
    ("score-labels-not-utf8", lambda env: _submission(
        env, lambda p, lab: (lab / "pawsx" / "test-en.tsv").write_bytes(b"\xff\n")),
     ("labels/pawsx/test-en.tsv:1:", "not valid UTF-8")),
    ("score-line-count", lambda env: _submission(env, lambda p, lab: (p / "pawsx" / "test-ja.tsv").write_text("0\n")),
     ("pawsx/test-ja.tsv: 1 line, the labels", "have 4")),
    ("score-missing-labels-folder", lambda env: _submission(env, lambda p, lab: shutil.rmtree(lab)),
     ("labels: no such folder",)),
    ("score-unknown-benchmark", lambda env: _submission(env)[:-1] + ["xtremo"], ("--benchmark 'xtremo'",)),
    ("score-bad-split", lambda env: _submission(env, None, "--split", "train"), ("--split 'train'",)),
    # ------------------------------------------------------------ report / compare
    ("compare-metrics-truncated", _run_file_case("compare", "metrics.json", '{"name": "finished", "phases": {'),
     ("metrics.json:1:", "not valid JSON")),
    ("report-metrics-truncated", _run_file_case("report", "metrics.json", '{"name": "finished",\n "phases": {'),
     ("metrics.json:2:", "not valid JSON")),
    ("compare-metrics-not-utf8", _run_file_case("compare", "metrics.json", b'{"name": "\xff"}'),
     ("metrics.json:1:", "not valid UTF-8")),
    ("compare-metrics-a-list", _run_file_case("compare", "metrics.json", "[1, 2]"), ("metrics.json:", "'phases'")),
    ("compare-predictions-broken-line", _run_file_case("compare", "zero-shot/predictions/xnli/dev-de.jsonl",
                                                       '{"id": "a", "label": "x", "prediction": "x", '
                                                       '"probabilities": [1]}\n{"id'),
     ("zero-shot/predictions/xnli/dev-de.jsonl:2:", "not valid JSON")),
    ("compare-not-a-run", lambda env: ["compare", str(env.tmp)], ("no metrics.json",)),
    ("compare-unknown-phase", lambda env: ["compare", str(env.run), "--phase", "nope"], ("metrics.json:", "'nope'")),
    # ------------------------------------------------------------ attack
    ("attack-manifest-truncated", _manifest_case('{"task": "xnli", "perturbations": {'),
     ("manifest.json:1:", "not valid JSON")),
    ("attack-manifest-missing-keys", _manifest_case('{"task": "xnli"}'), ("manifest.json:", "missing: perturbations")),
    ("attack-manifest-a-list", _manifest_case("[]"), ("manifest.json:", "not the manifest")),
    ("attack-reuse-broken-line", lambda env: _attack(env, _perturbed_set(env, '{"uid": "x:1", "texts": ["a", "b"], '
                                                                            '"choices": [], "label": 0}\n{"uid": \n')),
     ("clean/de.jsonl:2:", "not valid JSON")),
    ("attack-reuse-row-without-texts", lambda env: _attack(env, _perturbed_set(env, '{"uid": "x:1", "label": 0}\n')),
     ("clean/de.jsonl: row 1:", "'texts'")),
    ("attack-reuse-no-manifest", lambda env: _attack(env, env.tmp), ("--reuse", "no manifest.json")),
    ("attack-metrics-truncated", lambda env: (
        (env.run_copy() / "metrics.json").write_text('{"phases": '),
        ["attack", str(env.run_copy()), "--task", "xnli"])[-1],
     ("metrics.json:1:", "not valid JSON")),
    ("attack-unknown-perturbation", lambda env: _attack(env, None, "--perturbations", "char-noize"),
     ("--perturbations", "char-noize")),
    ("attack-bad-rows-option", lambda env: _attack(env, None, "--bad-rows", "often"), ("--bad-rows 'often'",)),
    ("attack-bad-split", lambda env: _attack(env, None, "--split", "train"), ("--split 'train'",)),
]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_model_dir, tiny_data_writer, one_torch_thread):
    """A finished tiny run (train xnli, evaluate en and de) and the bytes of every file in it."""
    root = tmp_path_factory.mktemp("finished")
    data = tiny_data_writer(root / "data")
    write_more_formats(data)
    config = experiment_config(root, "finished", tiny_model_dir, data, TRAIN_XNLI + EVAL_DE)
    run_experiment(load_config(config))
    run = root / "runs" / "finished"
    return config, data, run, _snapshot(run)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _invoke(args: list[str], monkeypatch, capsys) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["xstilts", *args])
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    return stopped.value.code, capsys.readouterr().err


def test_the_corpus_is_large():
    assert len(CASES) >= 60
    assert len({name for name, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize("build,fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_2(build, fragments, finished_run, tiny_model_dir, tmp_path, monkeypatch, capsys):
    config, data, run, before = finished_run
    env = Env(tmp_path, tiny_model_dir, data, run, config, monkeypatch)
    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
    code, err = _invoke(build(env), monkeypatch, capsys)
    monkeypatch.undo()
    assert "Traceback" not in err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    for fragment in fragments:
        assert fragment.format(tmp=tmp_path) in errors[0], errors[0]
    assert _snapshot(run) == before
