"""Where encoders come from: a built-in converted model, a local directory, or the Hub."""

from __future__ import annotations

import logging
from pathlib import Path

from transformers import AutoModel, AutoTokenizer
from transformers.utils import logging as hf_logging

from xstilts.errors import XstiltsError
from xstilts.models.builtin import BUILTIN_PREFIX, ensure_builtin


def resolve_model_path(name: str) -> str:
    """`builtin:<name>` -> its cached conversion; anything else is passed to transformers
    (a local directory or a Hub id such as `xlm-roberta-large`)."""
    if name.startswith(BUILTIN_PREFIX):
        return str(ensure_builtin(name))
    return name


def load_encoder_and_tokenizer(name: str):
    path = resolve_model_path(name)
    # The built-in encoder has no pooler (we pool ourselves); transformers would warn loudly.
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        encoder = AutoModel.from_pretrained(path)
    except (OSError, ValueError) as exc:
        where = "local directory" if Path(path).exists() else "Hugging Face Hub id"
        reason = str(exc).splitlines()[0][:160].rstrip(".")
        raise XstiltsError(
            f"could not load model '{name}' as a {where}: {reason}. Allowed: "
            "builtin:multilingual-e5-small, a directory saved with save_pretrained, a saved xstilts model "
            "(runs/<run>/<phase>/model), or a Hub id (needs network)"
        ) from None
    return encoder, tokenizer
