"""Where encoders come from: a built-in converted model, a local directory, or the Hub."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

from transformers import AutoConfig, AutoModel, AutoTokenizer
from transformers.utils import logging as hf_logging

from xstilts.errors import XstiltsError
from xstilts.hub import hub_unreachable, work_offline
from xstilts.io import read_json
from xstilts.models.builtin import BUILTIN_PREFIX, builtin_dir, ensure_builtin


def resolve_model_path(name: str) -> str:
    """`builtin:<name>` -> its cached conversion; anything else is passed to transformers
    (a local directory or a Hub id such as `xlm-roberta-large`)."""
    if name.startswith(BUILTIN_PREFIX):
        return str(ensure_builtin(name))
    return name


def usable_positions(config) -> int | None:
    """The most tokens an encoder with this (transformers) config takes: its position
    embeddings, less the ones RoBERTa-style models reserve below their padding id; None when
    the config does not say."""
    positions = getattr(config, "max_position_embeddings", None)
    if positions is None:
        return None
    roberta_style = getattr(config, "model_type", None) in ("roberta", "xlm-roberta", "camembert")
    return positions - ((getattr(config, "pad_token_id", None) or 0) + 1 if roberta_style else 0)


def configured_position_limit(name: str) -> int | None:
    """`usable_positions` of a model whose config.json is on disk (a local directory, a
    converted built-in model), without loading it; None otherwise (a Hub id is checked when
    it is loaded)."""
    folder = builtin_dir(name) if name.startswith(BUILTIN_PREFIX) else Path(name)
    config_file = folder / "config.json"
    if not config_file.is_file():
        return None
    config = read_json(config_file)
    return usable_positions(SimpleNamespace(**config)) if isinstance(config, dict) else None


def load_encoder_and_tokenizer(name: str):
    path = resolve_model_path(name)
    with _loading(name, path) as cache_only:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=cache_only)
        encoder = AutoModel.from_pretrained(path, local_files_only=cache_only)
    return encoder, tokenizer


def check_model_source(name: str, encoder_layers: int | None = None) -> None:
    """Fail in one line, before a run starts, when `name` cannot be loaded: its config and
    tokenizer are read (converting a built-in model, reaching the Hub), not its weights."""
    path = resolve_model_path(name)
    with _loading(name, path) as cache_only:
        config = AutoConfig.from_pretrained(path, local_files_only=cache_only)
        AutoTokenizer.from_pretrained(path, local_files_only=cache_only)
    if encoder_layers is not None:
        check_encoder_layers(encoder_layers, getattr(config, "num_hidden_layers", encoder_layers))


def encoder_config(name: str, encoder_layers: int | None = None):
    """The transformers config of model `name` (as `load_encoder_and_tokenizer` would load it,
    cut to `encoder_layers`), without its weights."""
    path = resolve_model_path(name)
    with _loading(name, path) as cache_only:
        config = AutoConfig.from_pretrained(path, local_files_only=cache_only)
    if encoder_layers is not None:
        config.num_hidden_layers = encoder_layers
    return config


def check_encoder_layers(n: int, available: int) -> None:
    if not 1 <= n <= available:
        raise XstiltsError(f"encoder_layers: {n} is not between 1 and the model's {available} layers")


@contextmanager
def _loading(name: str, path: str) -> Iterator[bool]:
    """transformers' errors as one line naming the model and what is allowed; yields whether
    to load from the local Hugging Face cache only (the Hub cannot be reached)."""
    # The built-in encoder has no pooler (we pool ourselves); transformers would warn loudly.
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    local = Path(path).exists()
    offline = None if local else hub_unreachable()
    if offline is not None:
        work_offline()  # a model downloaded before still loads from the Hugging Face cache
    try:
        yield offline is not None
    except Exception as exc:  # noqa: BLE001 - transformers and safetensors raise many types for a bad file
        if offline is not None:
            raise XstiltsError(
                f"could not load model '{name}' as a Hugging Face Hub id: it is not in the local Hugging Face "
                f"cache and the Hub cannot be reached ({offline}); download it once with network, or give a "
                "local directory (see docs/offline.md)"
            ) from None
        where = "local directory" if local else "Hugging Face Hub id"
        reason = (str(exc).splitlines() or [""])[0][:160].rstrip(".") or exc.__class__.__name__
        raise XstiltsError(
            f"could not load model '{name}' as a {where}: {reason}. Allowed: "
            "builtin:multilingual-e5-small, a directory saved with save_pretrained, a saved xstilts model "
            "(runs/<run>/<phase>/model), or a Hub id (needs network)"
        ) from None
