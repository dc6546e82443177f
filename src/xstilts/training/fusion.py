"""The fuse phase of a fused curriculum (`order: fused`): every stage trained its own LoRA
adapter from the same starting model; their weighted combination, added to that model, is the
model the next phase starts from (AdapterFusion in spirit, on peft's named adapters).

On disk, in `runs/<run>/<curriculum>/`: `model/` (the encoder with the combined adapter merged
in, the combined adapter alone under `model/adapter/`, and every stage's heads), `metrics.json`
and `DONE`, written last. The stages' own adapters stay in their phases
(`<curriculum>-<n>-<task>/model/adapter/`). The phase is quick and deterministic: an
interrupted one is simply run again.
"""

from __future__ import annotations

from pathlib import Path

from accelerate import Accelerator

from xstilts.config import FusePhase
from xstilts.config.plan import PhasePlan, RunPlan
from xstilts.console import console
from xstilts.errors import XstiltsError
from xstilts.io import write_json_atomic, write_text_atomic
from xstilts.models.lora import DEFAULT_ADAPTER, fused_adapters
from xstilts.models.multitask import load_model, save_model
from xstilts.training.train_phase import DONE, starting_model


def run_fuse_phase(plan: RunPlan, phase: PhasePlan, init_from: Path | None, accelerator: Accelerator) -> dict:
    """Combine the stage adapters on the model the stages started from (`init_from`, or the
    pretrained encoder) and save the result with the heads the stages trained (a head trained
    by several stages is taken from the last of them)."""
    cfg: FusePhase = phase.config
    exp = plan.config
    model, tokenizer = starting_model(exp, init_from)
    stage_dirs = [plan.run_dir / stage / "model" for stage in cfg.stages]
    for stage, stage_dir in zip(cfg.stages, stage_dirs):
        if not (stage_dir / "adapter").is_dir():
            raise XstiltsError(f"{phase.where}: stage '{stage}' has no adapter in {stage_dir} (its model was "
                               "removed or not trained with peft); rerun the stage")
        stage_model, _ = load_model(stage_dir)
        for key, info in stage_model.head_info.items():
            model.heads[key] = stage_model.heads[key]
            model.head_info[key] = info
    model.encoder = fused_adapters(model.encoder, [d / "adapter" for d in stage_dirs], cfg.weights)
    console.print(f"fused the adapters of {', '.join(cfg.stages)} with weights {cfg.weights}")
    metrics = {
        "kind": "fuse",
        "stage_of": cfg.stage_of,
        "stages": dict(zip(cfg.stages, cfg.weights)),
        "combination": "cat",
        "rank": model.encoder.peft_config[DEFAULT_ADAPTER].r,
        "heads": sorted(model.head_info),
    }
    if accelerator.is_main_process:
        save_model(model, tokenizer, phase.dir / "model")
        write_json_atomic(phase.dir / "metrics.json", metrics)
        write_text_atomic(phase.dir / DONE, "")
    accelerator.wait_for_everyone()  # the next phase loads the saved model in every process
    return metrics
