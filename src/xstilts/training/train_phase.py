"""One training phase: fine-tune the shared encoder and task heads on one task (`train`) or on
several interleaved tasks (`multitask`); single-task training is the one-task case of the loop.

Reads top to bottom: `setup()` builds data, model, optimizer in dependency order and resumes
from a checkpoint if one exists; `run()` is a loop of predicates (evaluate? save? stop?);
`finish()` writes the phase's results and its DONE marker.

Each batch: the task sampler draws a task, that task's stream gives its next batch, and with
continued MLM a batch of masked unlabeled sentences joins it; `grad_accum_steps` batches make
one optimizer step. The budget (training examples) fixes the number of batches up front and
the last batch is cut to fit it, so equal budgets mean equal numbers of examples. A phase with
`mlm` and no task trains on the masked sentences alone (with `peft`: a MAD-X-style language
adapter); its budget counts sentences.

On disk, in `runs/<run>/<phase>/`:
  model/          best model so far on English dev (HF encoder + heads), or the last one
  checkpoint/     accelerate state (model, optimizer, scheduler, RNG), sampler.pt (the task
                  sampler's generator), trainer_state.json (every stream's position, curves)
  curve.json      training loss, drawn tasks and dev score by optimizer step
  metrics.json    the phase's results: realised task counts, task sequence, transfer curve;
                  DONE  written last
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import shutil
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from transformers import DataCollatorForLanguageModeling, get_linear_schedule_with_warmup

from xstilts.config import ExperimentConfig, MultiTaskPhase, UniformSampler
from xstilts.config.plan import PhasePlan, RunPlan
from xstilts.console import console, progress_bar
from xstilts.errors import XstiltsError
from xstilts.evaluation.scored_set import ScoredSet
from xstilts.formats import Collator, get_format
from xstilts.formats.features import encode_cached, encode_sentences_cached
from xstilts.io import replace_dir_atomic, staging_dir_for, write_json_atomic, write_text_atomic
from xstilts.metrics import mean
from xstilts.models.lora import with_lora
from xstilts.models.multitask import build_model, check_max_length, load_model, save_model
from xstilts.tasks.spec import TaskSpec
from xstilts.training.curves import TransferCurve
from xstilts.training.interrupts import StopRequests
from xstilts.training.objectives import TrainingModule, masked_lm_head
from xstilts.training.optim import LazyAdamW, clip_grad_norm, use_sparse_embedding_gradients
from xstilts.training.samplers import BatchStream, build_task_sampler
from xstilts.training.task_data import load_training_task, read_unlabeled_text

DONE = "DONE"


def dev_line(step: int, scores: list[tuple[TaskSpec, float]], dev: float, best: float, best_step: int) -> str:
    """The log line of one dev evaluation: each task's first metric, their mean, the best so far."""
    parts = ", ".join(f"{spec.name} {spec.metrics[0].name} {score:.4f}" for spec, score in scores)
    mean_part = f"; mean {dev:.4f}" if len(scores) > 1 else ""
    best_part = "new best" if best_step == step else f"best {best:.4f} at step {best_step}"
    return f"dev at step {step}: {parts}{mean_part} ({best_part})"


@dataclass
class TrainerState:
    """Everything besides tensors that a resumed phase needs to continue exactly."""

    batches_done: int = 0
    examples_seen: int = 0
    optimizer_steps: int = 0
    task_batches: dict[str, int] = field(default_factory=dict)  # each task stream's position
    task_examples: dict[str, int] = field(default_factory=dict)
    mlm_batches: int = 0  # the unlabeled stream's position
    best_dev: float | None = None
    best_step: int | None = None
    evals_since_best: int = 0
    stopped_early: bool = False
    seconds: float = 0.0
    curve: list[dict] = field(default_factory=list)
    transfer_curve: list[dict] = field(default_factory=list)


def starting_model(exp: ExperimentConfig, init_from: Path | None):
    """(model, tokenizer) a phase starts from: the model saved in `init_from` by an earlier
    phase, or the configured pretrained encoder with no heads when None."""
    if init_from is None:
        return build_model(exp.model, exp.pooling, exp.dropout, exp.encoder_layers)
    return load_model(init_from)


class TrainPhaseRunner:
    def __init__(self, run: RunPlan, phase: PhasePlan, init_from: Path | None, accelerator: Accelerator,
                 stop: StopRequests | None = None):
        self.run_plan = run
        self.phase = phase
        self.cfg = phase.config
        self.exp = run.config
        self.phase_dir = phase.dir
        self.where = phase.where  # the phase's place in the config, for error messages
        self.init_from = init_from  # previous phase's model dir; None = the pretrained encoder
        self.accelerator = accelerator
        self.stop = stop or StopRequests()  # not entered: no signal handling
        self.data = run.data
        self.sampler_config = self.cfg.sampler if isinstance(self.cfg, MultiTaskPhase) else UniformSampler(type="uniform")
        self.state = TrainerState()

    @property
    def checkpoint_dir(self) -> Path:
        return self.phase_dir / "checkpoint"

    @property
    def model_dir(self) -> Path:
        return self.phase_dir / "model"

    @property
    def label(self) -> str:
        return "+".join(t.name for t in self.tasks) or "mlm"

    @property
    def mlm_only(self) -> bool:
        """A masked-LM-only phase: no task, the unlabeled sentences are what it trains on."""
        return not self.phase.tasks

    # ------------------------------------------------------------------ setup

    def setup(self) -> None:
        cfg, exp = self.cfg, self.exp
        set_seed(exp.seed)
        self.tasks = [load_training_task(task, self.data, exp.seed, cfg.dev_max_examples) for task in self.phase.tasks]
        self.state.task_batches = {t.name: 0 for t in self.tasks}
        self.state.task_examples = {t.name: 0 for t in self.tasks}

        # Model before data encoding: the tokenizer comes with it.
        model, self.tokenizer = starting_model(exp, self.init_from)
        check_max_length(model.encoder, exp.max_length)
        self.heads = [model.ensure_head(t.spec) for t in self.tasks]  # shared where the specs say so
        mlm_head, self.mlm_head_initialised = (masked_lm_head(exp.model, model.encoder) if cfg.mlm
                                               else (None, False))
        if cfg.freeze_embeddings:
            model.encoder.get_input_embeddings().weight.requires_grad_(False)
        elif cfg.sparse_embedding_updates:
            use_sparse_embedding_gradients(model.encoder)
        if cfg.peft:
            lora = cfg.peft
            model.encoder = with_lora(model.encoder, lora.r, lora.alpha, lora.dropout, lora.target_modules,
                                      f"{self.where}.peft")

        # Encoded as the trained task's format (its training task shares it: xnli <- mnli).
        self.features = [encode_cached(t.examples, self.tokenizer, t.spec, exp.max_length) for t in self.tasks]
        self.collators = [Collator(get_format(t.spec.format), self.tokenizer.pad_token_id) for t in self.tasks]
        self.streams = [BatchStream(len(f), cfg.batch_size, exp.seed,
                                    [x.length for x in f] if cfg.group_by_length else None) for f in self.features]
        self.dev_sets = [ScoredSet.of(t.spec, t.train_spec.train_language, t.dev_examples, self.tokenizer, exp.max_length)
                         for t in self.tasks if t.dev_examples]
        # Pools count model inputs, so an epoch is one pass over them: a long QA context split
        # into several windows gives several inputs.
        pools = [len(f) for f in self.features]
        self.sampler = (None if self.mlm_only
                        else build_task_sampler(self.sampler_config, [t.name for t in self.tasks], pools, exp.seed))
        if cfg.mlm:
            self._setup_mlm()
        self.transfer = (TransferCurve(self.phase.curve, self.tokenizer, self.data, exp.seed, exp.max_length)
                         if self.phase.curve else None)

        # Length of training: every process takes its own batch of each draw.
        self.world = self.accelerator.num_processes
        self.epoch_size = len(self.mlm_features) if self.mlm_only else sum(pools)
        self.batch_size = cfg.mlm.batch_size if self.mlm_only else cfg.batch_size
        epochs = getattr(cfg, "epochs", None) or 1  # multi-task phases: one pass over the pools
        self.budget = cfg.budget or self.epoch_size * epochs
        per_draw = self.batch_size * self.world
        self.total_batches = math.ceil(self.budget / per_draw)
        if 0 < self.budget % per_draw < self.world:
            raise XstiltsError(f"{self.where}.budget: {self.budget} leaves a last batch of {self.budget % per_draw} "
                               f"examples for {self.world} processes; make it a multiple of {per_draw}")
        self.total_steps = math.ceil(self.total_batches / cfg.grad_accum_steps)

        self.module = TrainingModule(model, mlm_head)
        # No weight decay on biases and normalisation weights (the 1-D parameters).
        params = [p for p in self.module.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.ndim > 1], "weight_decay": cfg.weight_decay},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
        ]
        # Plain AdamW unless a gradient is sparse; torch's fused kernel for the dense step (on
        # CPU about 8x faster than the default per-tensor loop over 118M parameters).
        optimizer = LazyAdamW(groups, lr=cfg.lr, fused=True)
        scheduler = get_linear_schedule_with_warmup(
            optimizer, int(cfg.warmup_ratio * self.total_steps), self.total_steps
        )
        # prepare() wraps the model for DDP / mixed precision and the optimizer for gradient
        # scaling; batches are sharded across processes by the streams, not by a loader.
        self.module, self.optimizer, self.scheduler = self.accelerator.prepare(self.module, optimizer, scheduler)
        self.model = self.accelerator.unwrap_model(self.module).model
        if (self.checkpoint_dir / "trainer_state.json").is_file():
            self._resume()

    def _setup_mlm(self) -> None:
        mlm = self.cfg.mlm
        if self.tokenizer.mask_token is None:
            raise XstiltsError(f"{self.where}.mlm: the model's tokenizer has no mask token")
        sentences = read_unlabeled_text(mlm, self.exp.seed, self.data.dir, self.where)
        self.mlm_features = encode_sentences_cached(sentences, self.tokenizer, self.exp.max_length)
        self.mlm_stream = BatchStream(len(sentences), mlm.batch_size, self.exp.seed,
                                      [f.length for f in self.mlm_features] if self.cfg.group_by_length else None)
        # Masks come from the global RNG, which checkpoints save and restore.
        self.mlm_collator = DataCollatorForLanguageModeling(self.tokenizer, mlm_probability=mlm.mlm_probability)

    def _resume(self) -> None:
        self.accelerator.load_state(str(self.checkpoint_dir))
        saved = json.loads((self.checkpoint_dir / "trainer_state.json").read_text(encoding="utf-8"))
        self.state = TrainerState(**saved)
        if self.sampler is not None:
            self.sampler.load_state_dict(torch.load(self.checkpoint_dir / "sampler.pt", weights_only=True))
        console.print(f"[yellow]resuming phase '{self.cfg.name}' at optimizer step "
                      f"{self.state.optimizer_steps}/{self.total_steps}")

    # ------------------------------------------------------------------ loop

    def run(self) -> None:
        state = self.state
        started = time.perf_counter() - state.seconds
        self.module.train()
        with progress_bar() as bar:
            task = bar.add_task(f"train {self.cfg.name} ({self.label})", total=self.total_batches,
                                completed=state.batches_done, status="")
            while not self._should_stop():
                epoch = state.examples_seen // self.epoch_size
                losses, drawn = self._optimizer_step()
                state.optimizer_steps += 1
                shown = "loss" if "loss" in losses else "mlm_loss"
                bar.update(task, completed=state.batches_done, status=f"{shown} {losses[shown]:.3f}")
                self._log({"step": state.optimizer_steps, "epoch": epoch, **losses,
                           "lr": self.scheduler.get_last_lr()[0], "tasks": drawn,
                           "seconds": round(time.perf_counter() - started, 3)})
                if self._should_evaluate(end_of_epoch=state.examples_seen // self.epoch_size > epoch):
                    self._evaluate_dev()
                if self._should_score_curve():
                    self._score_curve()
                state.seconds = time.perf_counter() - started
                if self._should_stop():
                    break
                stopping = self._stop_requested()  # SIGTERM / SIGINT: checkpoint, then stop
                if stopping or self._should_checkpoint():
                    self._save_checkpoint()
                if stopping:
                    self.stop.raise_if_requested()
        state.seconds = time.perf_counter() - started

    def _optimizer_step(self) -> tuple[dict, list[str]]:
        """Up to `grad_accum_steps` batches, each of its own drawn task, then one update."""
        count = min(self.cfg.grad_accum_steps, self.total_batches - self.state.batches_done)
        losses: dict[str, list[float]] = {"loss": [], "mlm_loss": []}
        drawn = []
        for i in range(count):
            head, batch = None, None
            if not self.mlm_only:
                t = self.sampler.pop(self.state.batches_done)
                head, batch = self.heads[t], self._next_batch(t)
                drawn.append(self.tasks[t].name)
            mlm_batch = self._next_mlm_batch() if self.cfg.mlm else None
            # Gradients add up over the step's batches; DDP syncs them with the last one only.
            sync = contextlib.nullcontext() if i == count - 1 else self.accelerator.no_sync(self.module)
            with sync:
                with self.accelerator.autocast():
                    task_loss, mlm_loss = self.module(head, batch, mlm_batch)
                    if task_loss is None:
                        loss = mlm_loss
                    else:
                        loss = task_loss if mlm_loss is None else task_loss + self.cfg.mlm.weight * mlm_loss
                self.accelerator.backward(loss / count)
            if task_loss is not None:
                losses["loss"].append(task_loss.item())
            if mlm_loss is not None:
                losses["mlm_loss"].append(mlm_loss.item())
        self.accelerator.unscale_gradients()
        clip_grad_norm(self.module.parameters(), self.cfg.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad()
        return {k: mean(v) for k, v in losses.items() if v}, drawn

    def _next_batch(self, t: int) -> dict[str, torch.Tensor]:
        """This process's part of task t's next batch; the last batch of the phase is cut to
        what is left of the budget."""
        state, name = self.state, self.tasks[t].name
        indices = self.streams[t].batch(state.task_batches[name] * self.world + self.accelerator.process_index)
        indices, size = self._count_budget(indices)
        state.task_batches[name] += 1
        state.task_examples[name] += size
        batch = self.collators[t]([self.features[t][i] for i in indices])
        return {k: v.to(self.accelerator.device) for k, v in batch.items()}

    def _count_budget(self, indices: list[int]) -> tuple[list[int], int]:
        """This process's part of a batch of the phase's budget, cut to what is left of it, and
        the examples all processes take in this draw (counted as seen)."""
        state = self.state
        size = min(self.batch_size * self.world, self.budget - state.examples_seen)
        rank = self.accelerator.process_index
        local = size // self.world + (rank < size % self.world)
        state.examples_seen += size
        state.batches_done += 1
        return indices[:local], size

    def _next_mlm_batch(self) -> dict[str, torch.Tensor]:
        """The unlabeled stream's next batch; in a masked-LM-only phase, the batch of the budget."""
        index = self.state.mlm_batches * self.world + self.accelerator.process_index
        self.state.mlm_batches += 1
        indices = self.mlm_stream.batch(index)
        if self.mlm_only:
            indices, _ = self._count_budget(indices)
        rows = [{"input_ids": list(self.mlm_features[i].input_ids[0])} for i in indices]
        batch = self.mlm_collator(rows)
        return {k: batch[k].to(self.accelerator.device) for k in ("input_ids", "attention_mask", "labels")}

    def _should_evaluate(self, end_of_epoch: bool) -> bool:
        if not self.dev_sets:
            return False
        every = self.cfg.eval_every
        last = self.state.batches_done >= self.total_batches
        return end_of_epoch or last or (every is not None and self.state.optimizer_steps % every == 0)

    def _should_score_curve(self) -> bool:
        if self.transfer is None:
            return False
        every = self.transfer.every
        last = self.state.batches_done >= self.total_batches or self.state.stopped_early
        return last or (every is not None and self.state.optimizer_steps % every == 0)

    def _should_stop(self) -> bool:
        return self.state.batches_done >= self.total_batches or self.state.stopped_early

    def _should_checkpoint(self) -> bool:
        return self.state.optimizer_steps % self.cfg.checkpoint_every == 0

    def _stop_requested(self) -> bool:
        """A stop signal reached this process or, with several processes, any of them (all must
        reach the checkpoint together)."""
        requested = self.stop.signum is not None
        if self.world > 1:
            flag = torch.tensor([float(requested)], device=self.accelerator.device)
            requested = bool(self.accelerator.reduce(flag, reduction="sum").item())
            if requested and self.stop.signum is None:
                self.stop.signum = signal.SIGTERM  # stop with the others
        return requested

    def _evaluate_dev(self) -> None:
        """The mean over the phase's tasks of each one's English dev score (its spec's first
        metric: accuracy, F1, ...) selects the best model: the highest, or the lowest for a
        metric where lower is better (the plan checks that the tasks agree)."""
        with self.accelerator.autocast():
            scores = {s.spec.name: s.score(self.model, self.accelerator.device) for s in self.dev_sets}
        dev = mean(list(scores.values()))
        state = self.state
        self._log({"step": state.optimizer_steps, "dev_score": dev, "dev": scores})
        improved = state.best_dev is None or (dev > state.best_dev if self.phase.selects_higher else dev < state.best_dev)
        if improved:
            state.best_dev, state.best_step, state.evals_since_best = dev, state.optimizer_steps, 0
            self._save_model()
        else:
            state.evals_since_best += 1
            if self.cfg.patience is not None and state.evals_since_best >= self.cfg.patience:
                state.stopped_early = True
        console.print(dev_line(state.optimizer_steps, [(s.spec, scores[s.spec.name]) for s in self.dev_sets],
                               dev, state.best_dev, state.best_step), highlight=False)

    def _score_curve(self) -> None:
        with self.accelerator.autocast():
            point = self.transfer.point(self.model, self.accelerator.device)
        self.state.transfer_curve.append({"step": self.state.optimizer_steps,
                                          "examples_seen": self.state.examples_seen, **point})

    def _log(self, row: dict) -> None:
        self.state.curve.append(row)
        if self.exp.log_with:
            scalars = {k: v for k, v in row.items() if k != "step" and isinstance(v, (int, float))}
            self.accelerator.log({f"{self.cfg.name}/{k}": v for k, v in scalars.items()}, step=row["step"])

    # ------------------------------------------------------------------ saving

    def _save_model(self) -> None:
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            save_model(self.model, self.tokenizer, self.model_dir)

    def _save_checkpoint(self) -> None:
        """accelerate's state and ours, written aside and swapped in whole."""
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return
        staging = staging_dir_for(self.checkpoint_dir)
        # Pickled, not safetensors: a tied MLM output layer is one tensor under two names,
        # which safetensors would save once and then fail to load.
        self.accelerator.save_state(str(staging), safe_serialization=False)
        if self.sampler is not None:
            torch.save(self.sampler.state_dict(), staging / "sampler.pt")
        write_json_atomic(staging / "trainer_state.json", asdict(self.state))
        replace_dir_atomic(staging, self.checkpoint_dir)

    def task_sequence(self) -> list[list]:
        """The drawn tasks in order, run-length encoded: [[task, batches], ...]."""
        drawn = [name for row in self.state.curve for name in row.get("tasks", [])]
        return [[name, len(list(run))] for name, run in itertools.groupby(drawn)]

    def finish(self) -> dict:
        """Results of the phase; the model of the best dev step is kept (the last one when no
        dev set exists), then the checkpoint is removed and DONE written last."""
        state = self.state
        if state.best_dev is None:
            self._save_model()
        pool = sum(len(t.examples) for t in self.tasks) if self.tasks else len(self.mlm_features)
        probabilities = [] if self.sampler is None else self.sampler.probs(state.batches_done).tolist()
        metrics = {
            "kind": "train",
            "task": self.label,
            "train_task": "+".join(t.train_spec.name for t in self.tasks),
            "stage_of": self.cfg.stage_of,
            "train_examples": pool,
            "train_source": ", ".join(r.origin for t in self.tasks for r in t.reports),
            "skipped_rows": sum(len(r.skipped) for t in self.tasks for r in t.reports),
            "budget": self.budget,
            "examples_seen": state.examples_seen,
            "epochs": round(state.examples_seen / self.epoch_size, 3),  # passes over the model inputs
            "sampler": self.sampler_config.model_dump(),
            "tasks": {t.name: {"task_version": t.spec.version, "train_task": t.train_spec.name,
                               "train_languages": t.languages, "pool": len(t.examples),
                               "probability": round(p, 6),
                               "batches": state.task_batches[t.name], "examples": state.task_examples[t.name]}
                      for t, p in zip(self.tasks, probabilities)},
            "task_sequence": self.task_sequence(),
            "optimizer_steps": state.optimizer_steps,
            "stopped_early": state.stopped_early,
            "best_dev_score": state.best_dev,
            "dev_metrics": {t.name: t.spec.metrics[0].name for t in self.tasks if t.dev_examples},
            "best_step": state.best_step,
            "dev_examples": sum(len(t.dev_examples) for t in self.tasks),
            "final_train_loss": next((r["loss"] for r in reversed(state.curve) if "loss" in r), None),
            "final_mlm_loss": next((r["mlm_loss"] for r in reversed(state.curve) if "mlm_loss" in r), None),
            "train_seconds": round(state.seconds, 2),
            "train_examples_per_second": round(state.examples_seen / max(state.seconds, 1e-9), 2),
            "transfer_curve": state.transfer_curve,
        }
        if self.cfg.peft:
            adapter = self.model_dir / "adapter"
            metrics["peft"] = {**self.cfg.peft.model_dump(), "trainable_encoder_parameters": sum(
                p.numel() for p in self.model.encoder.parameters() if p.requires_grad),
                "adapter_bytes": sum(f.stat().st_size for f in adapter.iterdir())}
        if self.cfg.mlm:
            metrics["mlm"] = {"sentences": len(self.mlm_features), "batches": state.mlm_batches,
                              "head": "initialised" if self.mlm_head_initialised else "pretrained"}
        if self.accelerator.is_main_process:
            write_json_atomic(self.phase_dir / "curve.json", state.curve)
            write_json_atomic(self.phase_dir / "metrics.json", metrics)
            skipped = [s for t in self.tasks for r in t.reports for s in r.skipped]
            if skipped:
                write_text_atomic(self.phase_dir / "skipped_rows.txt", "\n".join(skipped) + "\n")
            shutil.rmtree(self.checkpoint_dir, ignore_errors=True)
            write_text_atomic(self.phase_dir / DONE, "")
        # The accelerator outlives the phase; drop its references so the next phase's
        # save_state/load_state see only that phase's model and optimizer.
        self.accelerator.free_memory()
        return metrics
