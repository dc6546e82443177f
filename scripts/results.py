"""Every published results table, regenerated from finished runs of the shipped configs.

    make results                       # = python scripts/results.py --runs runs --out docs/results.md --allow-missing
    python scripts/results.py --check  # exit 1 when docs/results.md is not what the runs give

For each entry of PUBLISHED it reads runs/<name>/metrics.json, refuses a run whose config is not
the shipped one (up to output_dir and data), and writes its tables with what made them: commit,
config, command, machine (CPU model, cores, threads), date and wall time, all recorded by the run
itself. docs/results.json holds the same numbers for tests (the demo's integration test compares
a fresh demo run with them).

Make the runs first, one at a time (they share the CPU), e.g.
    OMP_NUM_THREADS=1 xstilts run configs/demo.yaml
    OMP_NUM_THREADS=1 xstilts run configs/mnli-copa-to-xcopa.yaml --data-dir ../shared/data
    OMP_NUM_THREADS=1 xstilts run configs/mnli-copa-to-xcopa.yaml --data-dir ../shared/data \
        --set seed=2 --set name=mnli-copa-to-xcopa-seed2
    OMP_NUM_THREADS=1 xstilts run configs/qqp-to-pawsx.yaml --data-dir ../shared/data
    OMP_NUM_THREADS=1 xstilts run configs/qqp-to-pawsx.yaml --data-dir ../shared/data \
        --set seed=2 --set name=qqp-to-pawsx-seed2
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from xstilts.config import load_config
from xstilts.errors import XstiltsError
from xstilts.io import write_text_atomic
from xstilts.metrics.degenerate import PredictorCheck, pooled_accuracy
from xstilts.training.pipeline import resolved_config
from xstilts.training.run_folder import comparable

REPO = Path(__file__).resolve().parents[1]
RUN_NEUTRAL_KEYS = ("output_dir", "data")  # where a run wrote and read: not what it measured


@dataclass(frozen=True)
class Published:
    key: str  # the entry's name in docs/results.json
    config: str  # a shipped config, relative to the repository
    title: str
    notes: tuple[str, ...] = ()
    # The config run again with other seeds, as runs/<name>-seed<N>
    # (`xstilts run CONFIG --set seed=N --set name=<name>-seed<N>`): the seeds table.
    more_seeds: tuple[int, ...] = ()


def seed_run_name(name: str, seed: int) -> str:
    return f"{name}-seed{seed}"


def _run_command(entry: Published, name: str, seed: int | None = None) -> str:
    """The command that makes the entry's run (its seed run, with `seed`)."""
    if seed is None:
        return f"xstilts run {entry.config}"
    return f"xstilts run {entry.config} --set seed={seed} --set name={seed_run_name(name, seed)}"


PUBLISHED = (
    Published("demo", "configs/demo.yaml", "The demo (`make demo`)", (
        "Hand-written demo data shipped with xstilts, not a benchmark: 60 test pairs per language, so one "
        "example is 1.7 points and differences between languages are noise.",
        "The intermediate phase (160 English sentiment sentences) trains 4 epochs at lr 5e-5: with 1 epoch "
        "it ended at chance on dev, and trained harder it left the NLI phase at chance, so it stays gentle.",
        "The wall time below was measured with the 2 cores shared by other runs; on an idle machine the run "
        "is faster.",
    )),
    Published("xcopa", "configs/mnli-copa-to-xcopa.yaml", "XCOPA: an MNLI-then-QQP curriculum, then COPA, then "
              "zero-shot", (
        "XCOPA validation has 100 items per language: a 95% interval is about \u00b110 points wide, so one "
        "language is rarely distinguishable from chance on its own; the average over 11 languages (1,100 items) is.",
        "Each interval covers the sampling of the 1,100 items, not training variance; the seeds table shows "
        "that variance.",
    ), more_seeds=(2,)),
    Published("pawsx", "configs/qqp-to-pawsx.yaml", "PAWS-X: QQP as the intermediate paraphrase task, then "
              "PAWS-X's English dev rows 0-1399, then zero-shot on rows 1600-1999", (
        "PAWS-X has no English train set offline, and its dev sets in de, es, fr, ja, ko and zh translate dev-en "
        "row by row: training on all of dev-en would leak the evaluation items into every language. Task "
        "pawsx-devsplit trains on dev-en rows 0-1399, selects on rows 1400-1599 and scores rows 1600-1999, "
        "pairs whose English versions were never trained on.",
        "Chance is the share of the most frequent label, not 50%: PAWS-X's rows are mostly 'different', so a "
        "model that ignores its input scores that share.",
    ), more_seeds=(2,)),
)


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def _check_made_by(entry: Published, metrics: dict, run_dir: Path, seed: int | None = None) -> None:
    """The run is the shipped config (with `seed`, under its seed run's name, when given)."""
    # Both read through today's schema (a key added since the run takes its default), as a resume is checked.
    shipped = comparable(resolved_config(load_config(REPO / entry.config)))
    rerun = _run_command(entry, shipped["name"], seed)
    if seed is not None:
        shipped.update(seed=seed, name=seed_run_name(shipped["name"], seed))
    ran = comparable(metrics["config"])
    differs = sorted(k for k in set(shipped) | set(ran)
                     if k not in RUN_NEUTRAL_KEYS and shipped.get(k) != ran.get(k))
    if differs:
        raise XstiltsError(f"{run_dir}: not a run of {entry.config} as shipped (differs at: {', '.join(differs)}); "
                           f"rerun it: {rerun} --force")


def _checks(languages: dict) -> dict[str, PredictorCheck]:
    return {lang: PredictorCheck.from_dict(s["predictions_check"]) for lang, s in languages.items()
            if "predictions_check" in s}


def _headline(phase: dict) -> tuple[float, str]:
    """An evaluate phase's headline: its zero-shot average (else its average) and the pooled interval."""
    metric = next(iter(phase["average"]))
    languages = phase["languages"]
    checks = _checks(languages)
    chosen = [lang for lang in languages if lang != phase["source_language"] or not phase.get("zero_shot_average")]
    value = (phase.get("zero_shot_average") or phase["average"])[metric]
    return value, _pooled_interval(languages, checks, metric, chosen)


def seeds_table(entry: Published, name: str, metrics: dict, runs_dir: Path, strict: bool) -> tuple[list[str], dict]:
    """Markdown lines of the seeds table (each evaluate phase's headline per seed, and the mean
    over seeds) and its numbers; a missing seed run is listed as not measured unless `strict`."""
    phases = [p for p, phase in metrics["phases"].items() if phase["kind"] == "evaluate"]
    by_seed = {metrics["config"]["seed"]: metrics}
    missing = []
    for seed in entry.more_seeds:
        run_dir = runs_dir / seed_run_name(name, seed)
        if not (run_dir / "metrics.json").is_file():
            if strict:
                raise XstiltsError(f"{run_dir / 'metrics.json'}: missing; make the run first: "
                                   f"{_run_command(entry, name, seed)}")
            missing.append(seed)
            continue
        seeded = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        _check_made_by(entry, seeded, run_dir, seed)
        by_seed[seed] = seeded
    lines = ["Seeds (the headline of each evaluate phase: the zero-shot average, else the average, with its "
             "pooled 95% CI):", "", "| seed | run | " + " | ".join(phases) + " |", "|---|---|" + "---:|" * len(phases)]
    numbers: dict = {}
    for seed, run in by_seed.items():
        cells = []
        for phase in phases:
            value, interval = _headline(run["phases"][phase])
            numbers.setdefault(phase, {})[str(seed)] = value
            cells.append(f"{_pct(value)} ({interval})" if interval else _pct(value))
        lines.append(f"| {seed} | `{run['name']}` | " + " | ".join(cells) + " |")
    if len(by_seed) > 1:
        means = [sum(numbers[p].values()) / len(numbers[p]) for p in phases]
        lines.append(f"| mean of {len(by_seed)} | | " + " | ".join(_pct(m) for m in means) + " |")
    lines.append("")
    if missing:
        lines += [f"Not measured yet: seed(s) {', '.join(map(str, missing))} ("
                  + "; ".join(f"`{_run_command(entry, name, seed)}`" for seed in missing) + ", then `make results`).", ""]
    return lines, numbers


def _pooled_interval(languages: dict, checks: dict, metric: str, chosen: list[str]) -> str:
    """The Wilson interval of an average over languages with equally many examples: the share
    right over all their examples (empty when the sizes differ or an accuracy check is missing)."""
    sizes = {languages[lang]["n"] for lang in chosen}
    if len(sizes) != 1 or not all(lang in checks for lang in chosen):
        return ""
    _, low, high = pooled_accuracy([(languages[lang][metric], languages[lang]["n"]) for lang in chosen])
    return f"{_pct(low)}\u2013{_pct(high)}"


def evaluation_table(phase_name: str, phase: dict) -> tuple[list[str], dict]:
    """Markdown lines of one evaluate phase (accuracy per language with its 95% Wilson CI, the
    averages, any degenerate-model warning) and its numbers for results.json."""
    metric = next(iter(phase["average"]))
    languages = phase["languages"]
    checks = _checks(languages)
    header = [*languages, "average"] + (["average without " + phase["source_language"]]
                                        if phase.get("zero_shot_average") else [])
    scores = [_pct(s[metric]) for s in languages.values()] + [_pct(phase["average"][metric])]
    intervals = [f"{_pct(checks[lang].ci_low)}\u2013{_pct(checks[lang].ci_high)}" if lang in checks else ""
                 for lang in languages] + [_pooled_interval(languages, checks, metric, list(languages))]
    if phase.get("zero_shot_average"):
        scores.append(_pct(phase["zero_shot_average"][metric]))
        intervals.append(_pooled_interval(languages, checks, metric,
                                          [lang for lang in languages if lang != phase["source_language"]]))
    n = {s["n"] for s in languages.values()}
    chance = {round(100 * c.chance, 1) for c in checks.values()}
    lines = [f"{metric.replace('_', ' ').capitalize()} (%) of phase `{phase_name}`, {phase['task']} {phase['split']}, "
             f"{' / '.join(map(str, sorted(n)))} examples per language"
             + (f", chance {' / '.join(f'{c:.1f}' for c in sorted(chance))}" if chance else "") + ":", "",
             "| | " + " | ".join(header) + " |", "|---|" + "---:|" * len(header),
             "| accuracy | " + " | ".join(scores) + " |"]
    if checks:
        lines.append("| 95% CI | " + " | ".join(intervals) + " |")
    lines.append("")
    flagged = {lang: verdict for lang, c in checks.items() if (verdict := c.verdict())}
    if flagged:
        lines += ["Not learned (one class, or the 95% interval reaches chance) in: "
                  + "; ".join(f"{lang} ({v})" for lang, v in flagged.items()) + ".", ""]
    numbers = {"metric": metric, "task": phase["task"], "split": phase["split"],
               "languages": {lang: s[metric] for lang, s in languages.items()},
               "average": phase["average"][metric], "zero_shot_average": phase.get("zero_shot_average", {}).get(metric),
               "not_learned": sorted(flagged)}
    return lines, numbers


def _training_lines(metrics: dict) -> list[str]:
    lines = []
    for name, phase in metrics["phases"].items():
        if phase["kind"] == "train":
            best = phase.get("best_dev_score")
            dev = (f"best English dev accuracy {_pct(best)}% on {phase['dev_examples']} examples at step "
                   f"{phase['best_step']}" if best is not None else "no dev evaluation")
            lines.append(f"- `{name}`: {phase['train_task']}, {phase['train_examples']} examples, "
                         f"{phase['optimizer_steps']} steps, {phase['train_seconds']:.0f} s; {dev}.")
    return lines


def _provenance_lines(entry: Published, metrics: dict) -> list[str]:
    made = metrics.get("provenance")
    if made is None:
        raise XstiltsError(f"run '{metrics['name']}' records no provenance (made before xstilts recorded it); "
                           f"rerun it: {_run_command(entry, metrics['name'])} --force")
    machine = made["machine"]
    threads = machine.get("omp_num_threads") or "unset"
    resumed = f" (phases done before and skipped: {', '.join(made['skipped_phases'])})" if made["skipped_phases"] else ""
    return [f"- config: [`{entry.config}`]({'../' + entry.config}); command: `{made['command']}`",
            f"- commit: `{made['commit'] or 'unknown (not a git checkout)'}`",
            f"- machine: {machine['cpu']}, {machine['cores']} cores, OMP_NUM_THREADS={threads}; {machine['system']}, "
            f"Python {machine['python']}",
            f"- date: {made['started']} to {made['finished']}; wall time {made['wall_seconds'] / 60:.1f} min{resumed}"]


def build(runs_dir: Path, strict: bool = True) -> tuple[str, dict]:
    """docs/results.md and docs/results.json from the runs under `runs_dir`; without `strict`, an
    entry whose run is missing is published as not measured yet."""
    lines = ["# Published results", "",
             "Generated by `make results` (`scripts/results.py`) from finished runs of the shipped configs; do not "
             "edit by hand. Each table names the run that made it. Scores are accuracy in percent; a 95% CI is the "
             "Wilson interval of the language's accuracy over its examples (for an average, over all its languages' "
             "examples).", ""]
    numbers = {}
    for entry in PUBLISHED:
        name = load_config(REPO / entry.config).name
        run_dir = runs_dir / name
        metrics_file = run_dir / "metrics.json"
        if not metrics_file.is_file():
            if strict:
                raise XstiltsError(f"{metrics_file}: missing; make the run first: {_run_command(entry, name)}")
            lines += [f"## {entry.title}", "", f"Not measured yet: no finished run of [`{entry.config}`]"
                      f"(../{entry.config}). Make it with `{_run_command(entry, name)}`, then `make results`.", ""]
            numbers[entry.key] = None
            continue
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        _check_made_by(entry, metrics, run_dir)
        lines += [f"## {entry.title}", ""]
        numbers[entry.key] = {"config": entry.config, "run": name, "phases": {}}
        for phase_name, phase in metrics["phases"].items():
            if phase["kind"] == "evaluate":
                table, numbers[entry.key]["phases"][phase_name] = evaluation_table(phase_name, phase)
                lines += table
        if entry.more_seeds:
            table, numbers[entry.key]["seeds"] = seeds_table(entry, name, metrics, runs_dir, strict)
            lines += table
        lines += ["Training:", "", *_training_lines(metrics), ""]
        for note in entry.notes:
            lines += [note, ""]
        lines += ["Made by:", "", *_provenance_lines(entry, metrics), ""]
        numbers[entry.key]["provenance"] = metrics["provenance"]
    return "\n".join(lines), numbers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=REPO / "runs", help="where the runs are (runs/<name>/)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results.md",
                        help="the markdown file; its numbers go beside it as .json")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when --out is out of date")
    parser.add_argument("--allow-missing", action="store_true",
                        help="publish an entry whose run is missing as 'not measured yet' instead of failing")
    args = parser.parse_args(argv)
    try:
        markdown, numbers = build(args.runs, strict=not args.allow_missing)
    except XstiltsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    as_json = json.dumps(numbers, indent=2, ensure_ascii=False) + "\n"
    json_file = args.out.with_suffix(".json")
    if args.check:
        stale = [str(f) for f, text in ((args.out, markdown), (json_file, as_json))
                 if not f.is_file() or f.read_text(encoding="utf-8") != text]
        if stale:
            print(f"out of date: {', '.join(stale)}; run make results", file=sys.stderr)
            return 1
        print(f"{args.out} is what the runs give")
        return 0
    write_text_atomic(args.out, markdown)
    write_text_atomic(json_file, as_json)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
