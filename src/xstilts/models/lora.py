"""Parameter-efficient training through peft: LoRA adapters on the shared encoder (the heads
stay fully trained). A saved model holds the encoder with its adapter merged in, a plain
transformers encoder that evaluation, export and later phases load as any other, and the
adapter alone under `adapter/` (what a LoRA phase adds per task on disk).

The recipes of the `adapters` library (AdapterFusion, MAD-X) are built here on peft's named
adapters instead (that library's current release needs transformers 4.57, older than ours):
several LoRA adapters loaded on one encoder by name and combined with `add_weighted_adapter`
(`fused_adapters`), and a language adapter added to a task model for one language's
evaluation (`with_language_adapter`)."""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors import safe_open
from torch import nn
from transformers import AutoModel, PretrainedConfig

from xstilts.errors import XstiltsError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
# peft's name for an adapter created or loaded without one; saved at the top of its folder.
DEFAULT_ADAPTER = "default"


@contextmanager
def _quiet_peft() -> Iterator[None]:
    with warnings.catch_warnings():
        # peft 0.21 calls a transformers 5 method that is deprecated: nothing for users to do.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
        yield


def with_lora(encoder: nn.Module, r: int, alpha: float, dropout: float, target_modules: list[str] | None,
              where: str) -> PeftModel:
    """`encoder` with fresh LoRA adapters on `target_modules` (None: peft's default for the
    architecture, BERT's and XLM-R's attention query and value); every encoder weight but the
    adapters' is frozen."""
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules)
    try:
        with _quiet_peft():
            return get_peft_model(encoder, config)
    except ValueError as exc:
        raise XstiltsError(f"{where}.target_modules: {str(exc).splitlines()[0]}") from None


def has_lora(encoder: nn.Module) -> bool:
    return isinstance(encoder, PeftModel)


def merged(encoder: nn.Module) -> nn.Module:
    """The plain encoder computing what `encoder` computes (adapters merged into a copy, so
    training goes on with them separate)."""
    return copy.deepcopy(encoder).merge_and_unload() if has_lora(encoder) else encoder


def fused_adapters(base: nn.Module, adapter_dirs: list[Path], weights: list[float]) -> PeftModel:
    """`base` with one LoRA adapter whose update is sum_i weights[i] * (the update of the
    adapter saved in adapter_dirs[i]), each trained on `base` (AdapterFusion in spirit, as a
    fixed weighted combination). The adapters are loaded under their own names, combined, and
    only the combination is kept, under peft's default name."""
    names = [f"stage{i}" for i in range(len(adapter_dirs))]
    with _quiet_peft():
        model = PeftModel.from_pretrained(base, str(adapter_dirs[0]), adapter_name=names[0])
        for name, folder in zip(names[1:], adapter_dirs[1:]):
            model.load_adapter(str(folder), adapter_name=name)
        # `cat` stacks the adapters' ranks (A's rows, B's columns; rank = the sum of theirs,
        # alpha = rank, so scaling 1), which makes B @ A exactly sum_i w_i * s_i * B_i @ A_i,
        # whatever each adapter's rank. `linear` would sum the weighted A's and B's separately
        # (needing equal ranks), whose product has cross terms B_i @ A_j of unrelated adapters.
        model.add_weighted_adapter(names, list(weights), DEFAULT_ADAPTER, combination_type="cat")
        model.set_adapter(DEFAULT_ADAPTER)
        for name in names:
            model.delete_adapter(name)
    return model


def with_language_adapter(encoder: nn.Module, adapter_dir: Path) -> nn.Module:
    """A copy of the plain `encoder` with the LoRA language adapter at `adapter_dir` merged
    in. LoRA updates add up, so a task model (its own adapter merged, or fully trained) plus a
    language adapter computes what both adapters active at once compute; merging into a copy
    keeps the evaluation on the plain encoder path and leaves `encoder` bit for bit as it was
    for the languages without an adapter (unmerging would round)."""
    with _quiet_peft():
        return PeftModel.from_pretrained(copy.deepcopy(encoder), str(adapter_dir)).merge_and_unload()


def check_lora_adapter(adapter_dir: Path, config: PretrainedConfig, where: str) -> None:
    """`adapter_dir` is a saved peft LoRA adapter for an encoder of `config`'s architecture:
    every adapted module exists there, as a linear layer of the adapter's sizes. Reads the
    adapter's config and weight shapes and builds the architecture without weights."""
    adapter_dir = Path(adapter_dir)
    config_file, weights_file = adapter_dir / ADAPTER_CONFIG, adapter_dir / ADAPTER_WEIGHTS
    if not config_file.is_file() or not weights_file.is_file():
        raise XstiltsError(f"{where}: {adapter_dir} is not a saved peft adapter (no {ADAPTER_CONFIG} and "
                           f"{ADAPTER_WEIGHTS}); give a folder such as runs/<run>/<phase>/model/adapter")
    try:
        peft_type = json.loads(config_file.read_text(encoding="utf-8")).get("peft_type")
    except (ValueError, UnicodeDecodeError, AttributeError):
        peft_type = None
    if peft_type != "LORA":
        raise XstiltsError(f"{where}: {config_file} is not a LoRA adapter config (peft_type {peft_type!r}, "
                           "allowed: LORA)")
    try:
        with safe_open(weights_file, framework="pt") as weights:
            shapes = {key: weights.get_slice(key).get_shape() for key in weights.keys()}
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error type, and OSError
        raise XstiltsError(f"{where}: {weights_file} is not a complete safetensors file "
                           f"({(str(exc).splitlines() or [''])[0]})") from None
    # The low-rank factors; other saved tensors (trained biases, modules_to_save) load by name.
    factors = {key: shape for key, shape in shapes.items() if ".lora_" in key}
    if not factors:
        raise XstiltsError(f"{where}: {weights_file} holds no LoRA weights (lora_A / lora_B)")
    with torch.device("meta"):
        modules = dict(AutoModel.from_config(config).named_modules())
    for key, shape in factors.items():
        module_name, _, kind = key.removeprefix("base_model.model.").rpartition(".lora_")
        module = modules.get(module_name)
        sizes = {"A.weight": (shape[1], "in_features"), "B.weight": (shape[0], "out_features")}.get(kind)
        if not isinstance(module, nn.Linear) or sizes is None or getattr(module, sizes[1]) != sizes[0]:
            raise XstiltsError(f"{where}: {adapter_dir} adapts '{module_name}' ({list(shape)}), which this run's "
                               f"encoder ({config.model_type}, hidden size {config.hidden_size}) does not have "
                               "as such a linear layer; the adapter was trained on another architecture")
