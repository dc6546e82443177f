"""LoRA against full fine-tuning on the same data: one shipped config run twice through
`xstilts run`, once as written and once with LoRA adapters on its training phases.

    .venv/bin/python benchmarks/peft.py --data-dir ../shared/data [--config configs/mnli-to-xnli.yaml]
        [--set phases.0.max_examples=2000 ...] [--r 8] [--alpha 16] [--lora-lr 5e-4] [--out DIR]

For each run: training examples per second (the training phases' own count), the peak resident
memory of the run's process, what a trained model adds on disk (full: the encoder and heads;
LoRA: the adapter and heads, beside the merged encoder the run also keeps for evaluation), the
share of encoder parameters trained, and the zero-shot average of the config's last evaluate
phase with its 95% interval. The two runs go one after the other, so neither slows the other;
ratios LoRA / full are printed with the machine, commit and date. `--set` overrides both runs
(e.g. a smaller budget); the LoRA run's learning rate is `--lora-lr` (LoRA needs a larger one).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from rich.console import Console
from rich.markup import escape

from xstilts.console import table
from xstilts.metrics.degenerate import pooled_accuracy
from xstilts.provenance import machine, now

console = Console(width=160)


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def run_once(config: Path, overrides: list[str], name: str, out: Path, data_dir: Path) -> dict:
    """`xstilts run` in a child process; its summary with the child's peak memory (wait4's rusage
    is that child's alone)."""
    args = [sys.executable, "-m", "xstilts.cli", "run", str(config), "--data-dir", str(data_dir),
            "--set", f"name={name}", "--set", f"output_dir={out}", "--set", "reuse_phases=false"]
    for override in overrides:
        args += ["--set", override]
    log = out / f"{name}.log"
    out.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as handle:
        child = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{name}: xstilts run failed; see {log}")
    run_dir = out / name
    summary = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    summary["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports kilobytes
    summary["run_dir"] = run_dir
    return summary


def measures(summary: dict) -> dict:
    phases = summary["phases"]
    trained = [p for p in phases.values() if "train_examples_per_second" in p]
    examples = sum(p["examples_seen"] for p in trained)
    seconds = sum(p["train_seconds"] for p in trained)
    evaluated = [p for p in phases.values() if "languages" in p and "train_seconds" not in p][-1]
    last_trained = [name for name, p in phases.items() if "train_examples_per_second" in p][-1]
    model = summary["run_dir"] / last_trained / "model"
    adapter = model / "adapter"
    # A LoRA run adds its adapter and heads; the merged encoder beside them is kept for evaluation.
    added = _folder_bytes(model) - _folder_bytes(model / "encoder") if adapter.is_dir() else _folder_bytes(model)
    lora = [p["peft"] for p in trained if "peft" in p]
    frozen = any(p.get("freeze_embeddings") for p in summary["config"]["phases"])
    return {
        "train_examples": examples,
        "train_ex_per_s": examples / seconds,
        "peak_rss_mb": summary["peak_rss_mb"],
        "model_bytes_added": added,
        "trainable_encoder_parameters": lora[-1]["trainable_encoder_parameters"] if lora else None,
        "trained_encoder": "all but the input embeddings" if frozen else "all",
        "commit": summary["provenance"]["commit"],  # the code the run ran, as the run recorded it
        **_zero_shot(evaluated),
    }


def _zero_shot(phase: dict) -> dict:
    """Accuracy over every zero-shot example (languages but the source; equal subsets make it the
    languages' average), with its Wilson interval."""
    scores = [(s["accuracy"], s["n"]) for lang, s in phase["languages"].items() if lang != phase["source_language"]]
    accuracy, low, high = pooled_accuracy(scores)
    return {"zero_shot_average": 100 * accuracy, "zero_shot_average_ci": [100 * low, 100 * high],
            "zero_shot_examples": sum(n for _, n in scores)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("configs/mnli-to-xnli.yaml"))
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("XSTILTS_DATA_DIR"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="override of both runs")
    parser.add_argument("--r", type=int, default=8)
    parser.add_argument("--alpha", type=float, default=16)
    parser.add_argument("--lora-lr", type=float, default=5e-4)
    parser.add_argument("--out", type=Path, default=None, help="where the two runs go (default: a temporary folder)")
    parser.add_argument("--json", type=Path, default=None, help="also write the measures here")
    args = parser.parse_args()
    if args.data_dir is None:
        sys.exit("give --data-dir (or set XSTILTS_DATA_DIR)")
    config = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    training = [i for i, phase in enumerate(config["phases"]) if phase.get("kind", "train") != "evaluate"]
    lora = [f"phases.{i}.peft={{r: {args.r}, alpha: {args.alpha}}}" for i in training]
    lora += [f"phases.{i}.lr={args.lora_lr}" for i in training]
    started = now()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        full = measures(run_once(args.config, args.overrides, "full", out, args.data_dir))
        adapted = measures(run_once(args.config, args.overrides + lora, "lora", out, args.data_dir))
    finished = now()
    box = machine()
    commits = dict.fromkeys((full["commit"], adapted["commit"]))
    console.print(escape(f"{args.config} with {' '.join(args.overrides) or 'no overrides'}; LoRA r {args.r}, alpha "
                         f"{args.alpha}, lr {args.lora_lr}; commit {' then '.join(map(str, commits))}; {box['cpu']}, "
                         f"{box['cores']} cores, OMP_NUM_THREADS={box['omp_num_threads']}; {started} to {finished}"))

    def ci(m: dict) -> str:
        low_high = m["zero_shot_average_ci"]
        return f"{m['zero_shot_average']:.1f}" + (f" [{low_high[0]:.1f}, {low_high[1]:.1f}]" if low_high else "")

    rows = [
        ["train examples / s", f"{full['train_ex_per_s']:.2f}", f"{adapted['train_ex_per_s']:.2f}",
         f"{adapted['train_ex_per_s'] / full['train_ex_per_s']:.2f}"],
        ["peak memory (MB)", f"{full['peak_rss_mb']:.0f}", f"{adapted['peak_rss_mb']:.0f}",
         f"{adapted['peak_rss_mb'] / full['peak_rss_mb']:.2f}"],
        ["model added on disk (MB)", f"{full['model_bytes_added'] / 1e6:.1f}", f"{adapted['model_bytes_added'] / 1e6:.2f}",
         f"{adapted['model_bytes_added'] / full['model_bytes_added']:.4f}"],
        ["trained encoder parameters", full["trained_encoder"], f"{adapted['trainable_encoder_parameters']:,}", ""],
        ["zero-shot average [95% CI]", ci(full), ci(adapted),
         f"{adapted['zero_shot_average'] - full['zero_shot_average']:+.1f} points"],
    ]
    console.print(table("LoRA vs full fine-tuning, same data", ["", "full", "LoRA", "LoRA / full"], rows))
    if args.json:
        args.json.write_text(json.dumps({"config": str(args.config), "overrides": args.overrides,
                                         "lora": {"r": args.r, "alpha": args.alpha, "lr": args.lora_lr},
                                         "machine": machine(), "started": started,
                                         "finished": finished, "full": full, "lora_run": adapted}, indent=2),
                             encoding="utf-8")


if __name__ == "__main__":
    main()
