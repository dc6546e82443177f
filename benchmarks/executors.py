"""Grid executors and the results store, measured on this machine.

    .venv/bin/python benchmarks/executors.py [--runs 8] [--rows 100000]

1. Runs per minute of one grid (`--runs` seeds of a tiny random encoder on the packaged demo
   data: 64 sentiment examples, 64 NLI examples, zero-shot NLI in 7 languages x 60 examples),
   run with `local --workers 1` (in this process), `local --workers 2` (two worker processes)
   and `ray` (a local Ray with 2 CPUs started for the grid). Wall time includes each executor's
   start (worker imports, Ray's start), as a user waits for it.
2. The results store with `--rows` result rows (100 per run): one insert of every row, inserts
   of one run at a time (lock, connect, transaction), and the queries `xstilts results` runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
from rich.console import Console
from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

from xstilts.analysis.results_tables import intermediate_by_target, language_by_run
from xstilts.config.grid import load_grid
from xstilts.console import table
from xstilts.data.loading import packaged_data_dir
from xstilts.executors.backends import LocalExecutor, RayExecutor
from xstilts.executors.grid_runner import run_grid
from xstilts.store.results import ResultsStore

console = Console(width=160)
LANGUAGES = ["en", "de", "ru", "ar", "hi", "sw", "zh"]


def tiny_encoder(out: Path) -> Path:
    """A 2-layer, 32-wide BERT with a word-level tokenizer trained on the demo data."""
    texts = [line for path in packaged_data_dir().rglob("*.tsv") for line in path.read_text(encoding="utf-8").splitlines()]
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                                                   vocab_size=4000))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                            unk_token="<unk>").save_pretrained(out)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                         pad_token_id=1)).save_pretrained(out)
    return out


def grid_file(folder: Path, model: Path, runs: int) -> Path:
    (folder / "base.yaml").write_text(f"""
name: bench
model: {model}
max_length: 32
output_dir: {folder / 'runs'}
keep_models: none
phases:
  - {{name: intermediate, task: demo-sentiment, max_examples: 64, batch_size: 16, lr: 1.0e-3, dev_max_examples: 0}}
  - {{name: target, task: demo-nli, max_examples: 64, batch_size: 16, lr: 1.0e-3, dev_max_examples: 0}}
  - {{name: zero-shot, kind: evaluate, task: demo-nli, split: test, languages: all}}
""", encoding="utf-8")
    (folder / "grid.yaml").write_text(f"base: base.yaml\naxes:\n  seed: {list(range(1, runs + 1))}\n", encoding="utf-8")
    return folder / "grid.yaml"


def bench_executors(root: Path, runs: int) -> list[list[str]]:
    model = tiny_encoder(root / "tiny-encoder")
    contenders = {"local --workers 1": lambda grid: LocalExecutor(1),
                  "local --workers 2": lambda grid: LocalExecutor(2)}
    if importlib.util.find_spec("ray"):
        contenders["ray (local, 2 CPUs)"] = lambda grid: RayExecutor(None, grid.settings.resources, workers=2)
    rows, reference = [], None
    for name, make in contenders.items():
        folder = root / name.split()[0] / name.split()[-1].strip("()")
        folder.mkdir(parents=True)
        grid = load_grid(grid_file(folder, model, runs))
        start = time.perf_counter()
        result = run_grid(grid, make(grid))
        seconds = time.perf_counter() - start
        assert len(result.done) == runs, f"{name}: {result.failed} failed"
        values = ResultsStore(grid.store).query("SELECT run_id, language, value FROM results ORDER BY ALL")[1]
        reference = reference or values
        rows.append([name, str(runs), f"{seconds:.1f}", f"{60 * runs / seconds:.2f}",
                     "yes" if values == reference else "NO"])
    return rows


def fake_runs(count: int, rows_per_run: int) -> list[tuple[dict, list[dict]]]:
    now = datetime.now(UTC).replace(tzinfo=None)
    intermediates, targets = ["mnli", "qqp", "sst2", "cosmosqa", "hellaswag"], ["xnli", "pawsx", "xcopa"]
    runs = []
    for i in range(count):
        run = {"run_id": f"{i:016x}", "name": f"run-{i}", "run_dir": f"/runs/run-{i}", "code_version": "0.1.0",
               "axes": "{}", "config": "{}", "model": "tiny", "seed": i % 5, "intermediate": intermediates[i % 5],
               "target": targets[i % 3], "started": now, "finished": now}
        rows = [{"run_id": run["run_id"], "run_name": run["name"], "model": "tiny", "intermediate": run["intermediate"],
                 "target": run["target"], "seed": run["seed"], "phase": "zero-shot", "task": run["target"],
                 "split": "test", "source_language": "en", "language": f"l{k:03d}", "metric": "accuracy",
                 "value": (i * 7 + k) % 100 / 100, "examples": 1000,
                 "predictions": f"/runs/run-{i}/zero-shot/predictions/test-l{k:03d}.jsonl",
                 "started": now, "finished": now} for k in range(rows_per_run)]
        runs.append((run, rows))
    return runs


def bench_store(root: Path, total_rows: int) -> list[list[str]]:
    per_run = 100
    runs = fake_runs(total_rows // per_run, per_run)
    out = []

    def timed(name: str, action, repeat: int = 1) -> None:
        start = time.perf_counter()
        for _ in range(repeat):
            action()
        seconds = (time.perf_counter() - start) / repeat
        out.append([name, f"{1000 * seconds:.1f} ms"])

    bulk = ResultsStore(root / "bulk.duckdb")
    timed(f"insert {total_rows:,} rows at once ({len(runs)} runs)", lambda: bulk.add_runs(runs))
    one_by_one = ResultsStore(root / "one-by-one.duckdb")
    sample = runs[:100]
    timed(f"insert one run ({per_run} rows) at a time, mean of {len(sample)}",
          lambda: [one_by_one.add_runs([r]) for r in sample], repeat=1)
    out[-1][1] = f"{float(out[-1][1].split()[0]) / len(sample):.1f} ms"
    timed("re-insert one run into the full store", lambda: bulk.add_runs([runs[7]]), repeat=5)
    timed("count rows", lambda: bulk.query("SELECT count(*) FROM results"), repeat=5)
    timed("pivot intermediate x target", lambda: intermediate_by_target(bulk), repeat=5)
    timed("pivot language x run", lambda: language_by_run(bulk), repeat=3)
    timed("one run's rows by run id", lambda: bulk.query("SELECT * FROM results WHERE run_id = ?", [runs[123][0]["run_id"]]),
          repeat=5)
    timed("export Parquet", lambda: bulk.export_parquet(root / "parquet"))
    count = bulk.query("SELECT count(*), count(DISTINCT run_id) FROM results")[1][0]
    assert count == (total_rows, len(runs)), count
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="runs in the grid each executor runs")
    parser.add_argument("--rows", type=int, default=100_000, help="result rows in the store benchmark")
    parser.add_argument("--skip-executors", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="xstilts-bench-") as tmp:
        root = Path(tmp)
        if not args.skip_executors:
            console.print(table("executors: one grid of tiny-model runs", ["executor", "runs", "wall s",
                                "runs / minute", "same rows"], bench_executors(root / "grid", args.runs)))
        console.print(table(f"results store: {args.rows:,} rows", ["operation", "time"], bench_store(root, args.rows)))


if __name__ == "__main__":
    main()
