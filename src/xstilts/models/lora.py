"""Parameter-efficient training through peft: LoRA adapters on the shared encoder (the heads
stay fully trained). A saved model holds the encoder with its adapter merged in, a plain
transformers encoder that evaluation, export and later phases load as any other, and the
adapter alone under `adapter/` (what a LoRA phase adds per task on disk)."""

from __future__ import annotations

import copy
import warnings

from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn

from xstilts.errors import XstiltsError


def with_lora(encoder: nn.Module, r: int, alpha: float, dropout: float, target_modules: list[str] | None,
              where: str) -> PeftModel:
    """`encoder` with fresh LoRA adapters on `target_modules` (None: peft's default for the
    architecture, BERT's and XLM-R's attention query and value); every encoder weight but the
    adapters' is frozen."""
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules)
    try:
        with warnings.catch_warnings():
            # peft 0.21 calls a transformers 5 method that is deprecated: nothing for users to do.
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
            return get_peft_model(encoder, config)
    except ValueError as exc:
        raise XstiltsError(f"{where}.target_modules: {str(exc).splitlines()[0]}") from None


def has_lora(encoder: nn.Module) -> bool:
    return isinstance(encoder, PeftModel)


def merged(encoder: nn.Module) -> nn.Module:
    """The plain encoder computing what `encoder` computes (adapters merged into a copy, so
    training goes on with them separate)."""
    return copy.deepcopy(encoder).merge_and_unload() if has_lora(encoder) else encoder
