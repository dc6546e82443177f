"""Throughput of xstilts against a plain Hugging Face Trainer on the same model and data.

    .venv/bin/python benchmarks/throughput.py --data-dir ../shared/data

One process, one model (builtin:multilingual-e5-small), the same examples, batch size and
length cap for every contender. Prints tables; ratios are xstilts / Trainer measured in the
same run, so a busy machine slows both sides. Peak RSS is sampled from /proc during each
measurement (the process's memory at its highest while that measurement ran).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from rich.console import Console

from xstilts.config import ExperimentConfig
from xstilts.console import table
from xstilts.data.loading import DataSettings, load_examples, select_subset
from xstilts.data.registry import get_task
from xstilts.formats import Collator, get_format
from xstilts.formats.features import encode, encode_cached
from xstilts.formats.predict import predict_logits
from xstilts.metrics import accuracy
from xstilts.models.builtin import ensure_builtin
from xstilts.models.multitask import load_model
from xstilts.training.pipeline import run_experiment

MODEL = "builtin:multilingual-e5-small"
console = Console(width=160)  # wide enough that contender names never wrap
TRAINER = "transformers.Trainer"
DEFAULT = "xstilts, default (lazy embedding Adam, length-grouped)"
BF16 = "xstilts, default + bf16 autocast"


# ---------------------------------------------------------------- measuring


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def peak_rss():
    """Yields a dict whose 'peak' is the highest RSS seen while the block ran and 'start' the
    RSS when it began (so 'peak - start' is what the measured work itself added)."""
    result = {"start": _rss_bytes()}
    result["peak"] = result["start"]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.05):
            result["peak"] = max(result["peak"], _rss_bytes())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()


def segment_rate(times: list[float], examples_per_step: int, segments: int = 5) -> float:
    """Median examples/s over equal segments of a run's steps: robust to one slow stretch."""
    marks = [0.0] + times
    size = max(1, (len(marks) - 1) // segments)
    rates = [size * examples_per_step / (marks[i + size] - marks[i])
             for i in range(0, len(marks) - size, size)]
    return statistics.median(rates)


def matmul_peak_flops(dtype: torch.dtype, n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def padding_efficiency(lengths: list[int], batch_size: int) -> float:
    """Real tokens / tokens computed when `lengths`, in this order, are cut into padded batches:
    the share of the encoder's work that is not padding."""
    batches = [lengths[i:i + batch_size] for i in range(0, len(lengths), batch_size)]
    return sum(lengths) / sum(max(b) * len(b) for b in batches)


def non_embedding_params(model) -> int:
    embedding = model.get_input_embeddings().weight.numel()
    return sum(p.numel() for p in model.parameters()) - embedding


def print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    console.print(table(title, columns, rows))


# ---------------------------------------------------------------- contenders


def hf_trainer(model_dir: Path, args, out: Path, callbacks=()):
    """transformers.Trainer with DataCollatorWithPadding (the hand-rolled loop users replace),
    and a function turning examples into its rows."""
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    torch.manual_seed(args.seed)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=3)

    def rows(examples):
        enc = tokenizer([e.texts[0] for e in examples], [e.texts[1] for e in examples],
                        truncation=True, max_length=args.max_length)
        return [{"input_ids": i, "attention_mask": m, "labels": e.label}
                for i, m, e in zip(enc["input_ids"], enc["attention_mask"], examples)]

    training_args = TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.eval_batch_size, learning_rate=args.lr, num_train_epochs=1,
        warmup_steps=0.1, weight_decay=0.01, lr_scheduler_type="linear", logging_strategy="no",
        save_strategy="no", report_to=[], seed=args.seed, use_cpu=True, disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=training_args, data_collator=DataCollatorWithPadding(tokenizer),
                      callbacks=list(callbacks))
    return trainer, rows


def trainer_baseline(model_dir: Path, train, dev, args, out: Path) -> dict:
    from transformers import TrainerCallback

    step_times: list[float] = []

    class StepClock(TrainerCallback):
        def on_train_begin(self, *a, **k):
            self.start = time.perf_counter()

        def on_step_end(self, *a, **k):
            step_times.append(time.perf_counter() - self.start)

    trainer, rows = hf_trainer(model_dir, args, out, callbacks=[StepClock()])
    trainer.train_dataset = rows(train)
    with peak_rss() as rss:
        trainer.train()
    predictions = trainer.predict(rows(dev)).predictions.argmax(-1)
    return {"rate": segment_rate(step_times, args.batch_size), "rss": rss["peak"] - rss["start"],
            "dev": accuracy([e.label for e in dev], predictions.tolist())}


def xstilts_training(name: str, overrides: dict, args, out: Path) -> dict:
    """One xstilts run; `overrides` holds phase keys, and experiment keys under "experiment"."""
    overrides = dict(overrides)
    experiment = overrides.pop("experiment", {})
    phase = {"name": "target", "task": "xnli", "max_examples": args.train_examples,
             "batch_size": args.batch_size, "lr": args.lr, "dev_max_examples": 0, **overrides}
    cfg = ExperimentConfig.model_validate({
        "name": name, "model": MODEL, "seed": args.seed, "max_length": args.max_length, **experiment,
        "output_dir": str(out), "data": {"dir": str(args.data_dir)}, "phases": [
            phase,
            {"name": "dev", "kind": "evaluate", "task": "mnli", "languages": ["en"],
             "max_examples": args.dev_examples, "batch_size": args.eval_batch_size}],
    })
    from accelerate.state import AcceleratorState

    # accelerate keeps one state per process; each contender sets its own mixed precision.
    AcceleratorState._reset_state(reset_partial_state=True)
    with peak_rss() as rss:
        summary = run_experiment(cfg)
    curve = [row for row in __import__("json").loads((out / name / "target" / "curve.json").read_text()) if "loss" in row]
    return {"rate": segment_rate([r["seconds"] for r in curve], args.batch_size), "rss": rss["peak"] - rss["start"],
            "dev": summary["phases"]["dev"]["languages"]["en"]["accuracy"]}


# ---------------------------------------------------------------- the benchmark


def prepare_data(data_dir: Path, tokenizer, max_length: int) -> list:
    """What a run does before training: load MNLI train and the 15 XNLI dev files, tokenize."""
    settings = DataSettings(dir=data_dir)
    return [encode_cached(load_examples(get_task(task), split, lang, settings)[0], tokenizer, get_task(task), max_length)
            for task, split, lang in [("mnli", "train", "en")] + [("xnli", "dev", lang) for lang in get_task("xnli").languages]]


def data_preparation_seconds(args, model_dir: Path, cache: Path) -> float:
    """`prepare_data`'s time in a fresh process using `cache`, as a new run would see it (the
    interpreter start, the task registry and the tokenizer load, the same for both, are not
    counted)."""
    child = ("import sys, time; from pathlib import Path; from transformers import AutoTokenizer; "
             "sys.path.insert(0, sys.argv[1]); import throughput; throughput.registry(); "
             "tokenizer = AutoTokenizer.from_pretrained(sys.argv[2]); start = time.perf_counter(); "
             "throughput.prepare_data(Path(sys.argv[3]), tokenizer, int(sys.argv[4])); print(time.perf_counter() - start)")
    done = subprocess.run([sys.executable, "-c", child, str(Path(__file__).parent), str(model_dir), str(args.data_dir),
                           str(args.max_length)], env={**os.environ, "XSTILTS_CACHE": str(cache)},
                          capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("XSTILTS_DATA_DIR"), required=False)
    parser.add_argument("--train-examples", type=int, default=1600)
    parser.add_argument("--dev-examples", type=int, default=1000)
    parser.add_argument("--eval-per-language", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3, help="evaluation and data-preparation repeats")
    parser.add_argument("--train-repeats", type=int, default=1, help="training runs per contender (about 14 min each)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--eval-batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if args.data_dir is None:
        parser.error("--data-dir (or XSTILTS_DATA_DIR) is required: MNLI and XNLI files in XTREME layout")
    os.environ["HF_HUB_OFFLINE"] = "1"
    cpuinfo = Path("/proc/cpuinfo").read_text()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
               "unknown CPU")
    console.print(f"{cpu}, {os.cpu_count()} CPUs, {torch.get_num_threads()} threads, torch {torch.__version__}, "
                  f"bf16 matmul support: {torch.backends.mkldnn.is_available() and 'avx512_bf16' in cpuinfo}")
    model_dir = ensure_builtin(MODEL)
    settings = DataSettings(dir=args.data_dir)
    work = Path(tempfile.mkdtemp(prefix="xstilts-bench-"))

    train_all, _ = load_examples(get_task("mnli"), "train", "en", settings)
    train = select_subset(train_all, args.train_examples, args.seed)
    dev_all, _ = load_examples(get_task("mnli"), "dev", "en", settings)
    dev = select_subset(dev_all, args.dev_examples, args.seed)

    # 1. Fine-tuning: every contender once per repeat, so a slow stretch of the machine hits all
    variants = {
        "xstilts, plain (dense AdamW, random batches)": {"sparse_embedding_updates": False, "group_by_length": False},
        DEFAULT: {},
        "xstilts, frozen embeddings, length-grouped": {"freeze_embeddings": True},
        BF16: {"experiment": {"mixed_precision": "bf16"}},
    }
    measured: dict[str, list[dict]] = {TRAINER: [], **{name: [] for name in variants}}
    for repeat in range(args.train_repeats):
        measured[TRAINER].append(trainer_baseline(model_dir, train, dev, args, work / f"trainer-{repeat}"))
        for i, (name, overrides) in enumerate(variants.items()):
            measured[name].append(r := xstilts_training(f"bench-{i}-{repeat}", overrides, args, work))
            console.print(f"{name}: {r['rate']:.2f} ex/s, dev {100 * r['dev']:.1f}%")  # kept if a later one fails
    results = {name: {key: statistics.median(r[key] for r in runs) for key in runs[0]} for name, runs in measured.items()}
    baseline = results.pop(TRAINER)
    rows = [[TRAINER, f"{baseline['rate']:.2f}", "1.00", f"{baseline['rss'] / 1e9:.2f}",
             f"{100 * baseline['dev']:.1f}", ""]]
    rows += [[name, f"{r['rate']:.2f}", f"{r['rate'] / baseline['rate']:.2f}", f"{r['rss'] / 1e9:.2f}",
              f"{100 * r['dev']:.1f}", f"{100 * (r['dev'] - baseline['dev']):+.1f}"] for name, r in results.items()]
    print_table(f"Fine-tuning: {len(train)} MNLI examples, batch {args.batch_size}, lr {args.lr}, "
                f"dev accuracy on {len(dev)} MNLI dev examples (rate: median over 5 segments of a run; "
                f"medians over {args.train_repeats} run(s))",
                ["contender", "train ex/s", "ratio", "RSS added (GB)", "dev acc %", "delta (points)"], rows)

    # 2. Zero-shot evaluation over the 15 XNLI languages --------------------------
    xnli = get_task("xnli")
    eval_sets = {lang: select_subset(load_examples(xnli, "dev", lang, settings)[0], args.eval_per_language, args.seed)
                 for lang in xnli.languages}
    examples = [e for lang in xnli.languages for e in eval_sets[lang]]
    trainer, rows = hf_trainer(model_dir, args, work / "trainer-predict")
    encoded = rows(examples)
    model, tokenizer = load_model(work / "bench-1-0" / "target" / "model")
    features = encode(examples, tokenizer, "pair_classification", args.max_length)
    collator = Collator(get_format("pair_classification"), tokenizer.pad_token_id)

    def xstilts_predict(precision: torch.dtype):
        # What an evaluate phase runs under `mixed_precision: bf16` (accelerate's CPU autocast).
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == torch.bfloat16):
            return predict_logits(model, "nli", features, collator, args.eval_batch_size, torch.device("cpu"))

    contenders = {"Trainer.predict": lambda: trainer.predict(encoded).predictions,
                  "xstilts": lambda: xstilts_predict(torch.float32),
                  "xstilts, bf16 autocast": lambda: xstilts_predict(torch.bfloat16)}
    timings = {name: [] for name in contenders}
    predictions = {}
    for _ in range(args.repeats):
        for name, predict in contenders.items():
            start = time.perf_counter()
            predictions[name] = torch.as_tensor(predict()).argmax(-1)
            timings[name].append(time.perf_counter() - start)
    rates = {k: len(examples) / statistics.median(v) for k, v in timings.items()}
    # Trainer.predict batches in input order; xstilts sorts by length first.
    lengths = [f.length for f in features]
    efficiency = {name: padding_efficiency(lengths if name == "Trainer.predict" else sorted(lengths), args.eval_batch_size)
                  for name in contenders}
    print_table(f"Zero-shot evaluation: {len(examples)} XNLI dev examples ({args.eval_per_language} x 15 languages), "
                f"batch {args.eval_batch_size}, median of {args.repeats}; same label: share of examples whose "
                "predicted label equals xstilts fp32's (the Trainer's model has its own untrained head)",
                ["contender", "eval ex/s", "ratio", "real / computed tokens", "same label"],
                [[name, f"{rate:.1f}", f"{rate / rates['Trainer.predict']:.2f}", f"{efficiency[name]:.2f}",
                  "" if name == "Trainer.predict" else
                  f"{100 * (predictions[name] == predictions['xstilts']).float().mean():.1f}%"]
                 for name, rate in rates.items()])

    # 3. Data preparation: first run vs cache hit, each a new process as a second run is -----
    first, second = [], []
    for repeat in range(args.repeats):
        cache = work / f"cache-{repeat}"
        first.append(data_preparation_seconds(args, model_dir, cache))
        second.append(data_preparation_seconds(args, model_dir, cache))
    miss, hit = statistics.median(first), statistics.median(second)
    print_table(f"Data preparation: MNLI train (8,999) + XNLI dev (15 x 2,490), load + tokenize, median of {args.repeats}",
                ["run", "seconds", "speed-up"],
                [["first (cache miss)", f"{miss:.2f}", "1.0"], ["second (cache hit)", f"{hit:.2f}", f"{miss / hit:.1f}"]])

    # 4. Achieved FLOP/s against the measured matmul peak of the precision used ----------
    peak = {"fp32": matmul_peak_flops(torch.float32), "bf16": matmul_peak_flops(torch.bfloat16)}
    params = non_embedding_params(model.encoder)
    train_tokens = sum(f.length for f in encode(train, tokenizer, "pair_classification", args.max_length)) / len(train)
    eval_tokens = sum(f.length for f in features) / len(features)
    # 2 FLOPs per parameter per token forward, 3x that for forward + backward (attention
    # score FLOPs are small at these lengths and left out: these are lower bounds).
    achieved = {  # workload: (FLOP/s, precision)
        "training (xstilts default)": (6 * params * train_tokens * results[DEFAULT]["rate"], "fp32"),
        "training (xstilts bf16)": (6 * params * train_tokens * results[BF16]["rate"], "bf16"),
        "training (Trainer)": (6 * params * train_tokens * baseline["rate"], "fp32"),
        "evaluation (xstilts)": (2 * params * eval_tokens * rates["xstilts"], "fp32"),
        "evaluation (xstilts bf16)": (2 * params * eval_tokens * rates["xstilts, bf16 autocast"], "bf16"),
        "evaluation (Trainer)": (2 * params * eval_tokens * rates["Trainer.predict"], "fp32"),
    }
    print_table(f"Achieved FLOP/s (non-embedding params {params / 1e6:.1f}M, real tokens) vs the measured matmul peak, "
                f"fp32 {peak['fp32'] / 1e9:.1f} and bf16 {peak['bf16'] / 1e9:.1f} GFLOP/s",
                ["workload", "GFLOP/s", "% of its precision's peak"],
                [[name, f"{flops / 1e9:.1f}", f"{100 * flops / peak[precision]:.0f}%"]
                 for name, (flops, precision) in achieved.items()])


if __name__ == "__main__":
    main()
