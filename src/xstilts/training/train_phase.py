"""One training phase: fine-tune the shared encoder and one task head on English data.

Reads top to bottom: `setup()` builds data, model, optimizer in dependency order and resumes
from a checkpoint if one exists; `run()` is a loop of predicates (evaluate? save? stop?);
`finish()` writes the phase's results and its DONE marker.

On disk, in `runs/<run>/<phase>/`:
  model/          best model so far on English dev (HF encoder + heads), or the last one
  checkpoint/     accelerate state (model, optimizer, scheduler, RNG) + trainer_state.json
  curve.json      training loss and dev accuracy by optimizer step
  metrics.json    the phase's results;   DONE   written last
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader
from transformers import get_linear_schedule_with_warmup

from xstilts.config import ExperimentConfig, TrainPhase
from xstilts.console import console, progress_bar
from xstilts.evaluation.metrics import accuracy
from xstilts.evaluation.predict import predict_logits
from xstilts.io import replace_dir_atomic, staging_dir_for, write_json_atomic, write_text_atomic
from xstilts.models.multitask import build_model, load_model, save_model
from xstilts.tasks.data import DataSettings, load_examples, select_subset
from xstilts.tasks.registry import get_task
from xstilts.training.features import Collator, encode_cached
from xstilts.training.optim import LazyAdamW, clip_grad_norm, use_sparse_embedding_gradients
from xstilts.training.samplers import EpochBatchSampler

DONE = "DONE"


@dataclass
class TrainerState:
    """Everything besides tensors that a resumed phase needs to continue exactly."""

    batches_done: int = 0
    examples_seen: int = 0
    optimizer_steps: int = 0
    best_dev: float | None = None
    best_step: int | None = None
    evals_since_best: int = 0
    stopped_early: bool = False
    seconds: float = 0.0
    curve: list[dict] = field(default_factory=list)


class TrainPhaseRunner:
    def __init__(self, cfg: TrainPhase, exp: ExperimentConfig, phase_dir: Path,
                 init_from: Path | None, accelerator: Accelerator, data: DataSettings):
        self.cfg = cfg
        self.exp = exp
        self.phase_dir = Path(phase_dir)
        self.init_from = init_from  # previous phase's model dir; None = the pretrained encoder
        self.accelerator = accelerator
        self.data = data
        self.spec = get_task(cfg.task)
        # xnli trains on mnli's English data, as in XTREME; the head is shared through the spec.
        self.train_spec = get_task(self.spec.train_task) if self.spec.train_task else self.spec
        self.state = TrainerState()

    @property
    def checkpoint_dir(self) -> Path:
        return self.phase_dir / "checkpoint"

    @property
    def model_dir(self) -> Path:
        return self.phase_dir / "model"

    # ------------------------------------------------------------------ setup

    def setup(self) -> None:
        cfg, exp = self.cfg, self.exp
        set_seed(exp.seed)
        lang = self.train_spec.train_language
        train, self.train_report = load_examples(self.train_spec, "train", lang, self.data)
        self.train_examples = select_subset(train, cfg.max_examples, exp.seed)
        self.dev_examples = self._dev_examples()

        # Model before data encoding: the tokenizer comes with it.
        if self.init_from is None:
            self.model, self.tokenizer = build_model(exp.model, exp.pooling, exp.dropout, exp.encoder_layers)
        else:
            self.model, self.tokenizer = load_model(self.init_from)
        self.head = self.model.ensure_head(self.spec)
        if cfg.freeze_embeddings:
            self.model.encoder.get_input_embeddings().weight.requires_grad_(False)
        elif cfg.sparse_embedding_updates:
            use_sparse_embedding_gradients(self.model.encoder)

        fmt = self.spec.format
        self.collator = Collator(self.tokenizer.pad_token_id, fmt == "multiple_choice")
        features = encode_cached(self.train_examples, self.tokenizer, fmt, exp.max_length)
        self.dev_features = encode_cached(self.dev_examples, self.tokenizer, fmt, exp.max_length) if self.dev_examples else []
        lengths = [f.length for f in features] if cfg.group_by_length else None
        self.sampler = EpochBatchSampler(len(features), cfg.batch_size, exp.seed, lengths)
        # A private generator: starting a DataLoader iterator draws a seed from it, and drawing
        # from the global RNG instead would shift dropout masks after a resume.
        loader = DataLoader(features, batch_sampler=self.sampler, collate_fn=self.collator,
                            generator=torch.Generator().manual_seed(exp.seed))

        self.steps_per_epoch = math.ceil(len(self.sampler) / cfg.grad_accum_steps)
        self.total_steps = self.steps_per_epoch * cfg.epochs
        # No weight decay on biases and normalisation weights (the 1-D parameters).
        params = [p for p in self.model.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.ndim > 1], "weight_decay": cfg.weight_decay},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
        ]
        optimizer = LazyAdamW(groups, lr=cfg.lr)  # plain AdamW unless a gradient is sparse
        scheduler = get_linear_schedule_with_warmup(
            optimizer, int(cfg.warmup_ratio * self.total_steps), self.total_steps
        )
        self.accelerator.gradient_accumulation_steps = cfg.grad_accum_steps
        # prepare() wraps the model for DDP / mixed precision, shards the loader across
        # processes and makes the scheduler step only when the optimizer really steps.
        self.model, self.optimizer, self.loader, self.scheduler = self.accelerator.prepare(
            self.model, optimizer, loader, scheduler
        )
        if (self.checkpoint_dir / "trainer_state.json").is_file():
            self._resume()

    def _dev_examples(self):
        if self.cfg.dev_max_examples == 0 or "dev" not in self._splits(self.train_spec):
            return []
        dev, _ = load_examples(self.train_spec, "dev", self.train_spec.train_language, self.data)
        return select_subset(dev, self.cfg.dev_max_examples, self.exp.seed)

    def _splits(self, spec) -> set[str]:
        return {split for source in spec.sources for split in source.splits}

    def _resume(self) -> None:
        self.accelerator.load_state(str(self.checkpoint_dir))
        saved = json.loads((self.checkpoint_dir / "trainer_state.json").read_text(encoding="utf-8"))
        self.state = TrainerState(**saved)
        console.print(f"[yellow]resuming phase '{self.cfg.name}' at optimizer step "
                      f"{self.state.optimizer_steps}/{self.total_steps}")

    # ------------------------------------------------------------------ loop

    def run(self) -> None:
        cfg, state = self.cfg, self.state
        batches_per_epoch = len(self.sampler)
        started = time.perf_counter() - state.seconds
        self.model.train()
        with progress_bar() as bar:
            task = bar.add_task(f"train {cfg.name} ({self.spec.name})", total=batches_per_epoch * cfg.epochs,
                                completed=state.batches_done, status="")
            while not self._should_stop():
                epoch, skip = divmod(state.batches_done, batches_per_epoch)
                loader = self.accelerator.skip_first_batches(self.loader, skip) if skip else self.loader
                # accelerate's loader re-sets the sampler's epoch from its own pass counter when
                # iterated, and its skipping wrapper does not pass set_epoch on: set both, so a
                # resumed phase gets the same batch order as an uninterrupted one.
                loader.set_epoch(epoch)
                self.sampler.set_epoch(epoch)
                for batch in loader:
                    loss = self._train_step(batch)
                    state.batches_done += 1
                    state.examples_seen += len(batch["labels"])
                    bar.update(task, advance=1, status=f"loss {loss:.3f}")
                    if not self.accelerator.sync_gradients:
                        continue
                    state.optimizer_steps += 1
                    self._log({"step": state.optimizer_steps, "epoch": epoch, "loss": loss,
                               "lr": self.scheduler.get_last_lr()[0],
                               "seconds": round(time.perf_counter() - started, 3)})
                    end_of_epoch = state.batches_done % batches_per_epoch == 0
                    if self._should_evaluate(end_of_epoch):
                        self._evaluate_dev()
                    state.seconds = time.perf_counter() - started
                    if self._should_stop():
                        break
                    if self._should_checkpoint():
                        self._save_checkpoint()
        state.seconds = time.perf_counter() - started

    def _train_step(self, batch) -> float:
        with self.accelerator.accumulate(self.model):
            with self.accelerator.autocast():
                logits = self.model(self.head, batch["input_ids"], batch["attention_mask"])
                loss = torch.nn.functional.cross_entropy(logits.float(), batch["labels"])
            self.accelerator.backward(loss)
            if self.accelerator.sync_gradients:
                self.accelerator.unscale_gradients()
                clip_grad_norm(self.model.parameters(), self.cfg.max_grad_norm)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad()
        return loss.item()

    def _should_evaluate(self, end_of_epoch: bool) -> bool:
        if not self.dev_features:
            return False
        every = self.cfg.eval_every
        return end_of_epoch or (every is not None and self.state.optimizer_steps % every == 0)

    def _should_stop(self) -> bool:
        done = self.state.batches_done >= len(self.sampler) * self.cfg.epochs
        return done or self.state.stopped_early

    def _should_checkpoint(self) -> bool:
        return self.state.optimizer_steps % self.cfg.checkpoint_every == 0

    def _evaluate_dev(self) -> None:
        model = self.accelerator.unwrap_model(self.model)
        with self.accelerator.autocast():
            logits = predict_logits(model, self.head, self.dev_features, self.collator,
                                    batch_size=64, device=self.accelerator.device)
        dev = accuracy([f.label for f in self.dev_features], logits.argmax(-1).tolist())
        state = self.state
        self._log({"step": state.optimizer_steps, "dev_accuracy": dev})
        if state.best_dev is None or dev > state.best_dev:
            state.best_dev, state.best_step, state.evals_since_best = dev, state.optimizer_steps, 0
            self._save_model()
        else:
            state.evals_since_best += 1
            if self.cfg.patience is not None and state.evals_since_best >= self.cfg.patience:
                state.stopped_early = True

    def _log(self, row: dict) -> None:
        self.state.curve.append(row)
        if self.exp.log_with:
            self.accelerator.log({f"{self.cfg.name}/{k}": v for k, v in row.items() if k != "step"},
                                 step=row["step"])

    # ------------------------------------------------------------------ saving

    def _save_model(self) -> None:
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            save_model(self.accelerator.unwrap_model(self.model), self.tokenizer, self.model_dir)

    def _save_checkpoint(self) -> None:
        """accelerate's state and ours, written aside and swapped in whole."""
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return
        staging = staging_dir_for(self.checkpoint_dir)
        self.accelerator.save_state(str(staging))
        write_json_atomic(staging / "trainer_state.json", asdict(self.state))
        replace_dir_atomic(staging, self.checkpoint_dir)

    def finish(self) -> dict:
        """Results of the phase; the model of the best dev step is kept (the last one when no
        dev set exists), then the checkpoint is removed and DONE written last."""
        state = self.state
        if state.best_dev is None:
            self._save_model()
        metrics = {
            "kind": "train",
            "task": self.spec.name,
            "train_task": self.train_spec.name,
            "task_version": self.spec.version,
            "train_examples": len(self.train_examples),
            "train_source": self.train_report.origin,
            "skipped_rows": len(self.train_report.skipped),
            "epochs": self.cfg.epochs,
            "optimizer_steps": state.optimizer_steps,
            "stopped_early": state.stopped_early,
            "best_dev_accuracy": state.best_dev,
            "best_step": state.best_step,
            "dev_examples": len(self.dev_examples),
            "final_train_loss": next((r["loss"] for r in reversed(state.curve) if "loss" in r), None),
            "train_seconds": round(state.seconds, 2),
            "train_examples_per_second": round(state.examples_seen / max(state.seconds, 1e-9), 2),
        }
        if self.accelerator.is_main_process:
            write_json_atomic(self.phase_dir / "curve.json", state.curve)
            write_json_atomic(self.phase_dir / "metrics.json", metrics)
            if self.train_report.skipped:
                write_text_atomic(self.phase_dir / "skipped_rows.txt", "\n".join(self.train_report.skipped) + "\n")
            shutil.rmtree(self.checkpoint_dir, ignore_errors=True)
            write_text_atomic(self.phase_dir / DONE, "")
        # The accelerator outlives the phase; drop its references so the next phase's
        # save_state/load_state see only that phase's model and optimizer.
        self.accelerator.free_memory()
        return metrics
