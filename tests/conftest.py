"""Shared fixtures: a tiny random encoder with its own tokenizer, and tiny XTREME-layout data.

Unit tests never touch the network or the built-in model; integration tests (marked) use the
real converted encoder and ../shared/data when present.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

# Words for the tiny tokenizer and sentences; several "languages" in different scripts.
TINY_CORPUS = [
    "the cat sits on the mat", "a dog runs in the park", "the man is not happy",
    "she is reading a book", "it is raining today", "the weather is sunny",
    "die katze sitzt auf der matte", "ein hund läuft im park", "der mann ist nicht glücklich",
    "кошка сидит на коврике", "собака бегает в парке", "мужчина не счастлив",
    "good film", "bad film", "great food", "terrible service", "yes", "no",
]

NLI_ROWS = [
    ("the cat sits on the mat", "a cat is on the mat", "entailment"),
    ("the cat sits on the mat", "the cat is not on the mat", "contradiction"),
    ("the cat sits on the mat", "the cat is happy", "neutral"),
    ("a dog runs in the park", "a dog is in the park", "entailment"),
    ("a dog runs in the park", "the dog is sleeping at home", "contradiction"),
    ("a dog runs in the park", "the dog is chasing a ball", "neutral"),
    ("she is reading a book", "she reads", "entailment"),
    ("she is reading a book", "she is asleep", "contradiction"),
    ("she is reading a book", "the book is about cats", "neutral"),
    ("it is raining today", "the weather is wet", "entailment"),
    ("it is raining today", "the weather is sunny", "contradiction"),
    ("it is raining today", "it will rain tomorrow", "neutral"),
]

DE_ROWS = [
    ("die katze sitzt auf der matte", "eine katze ist auf der matte", "entailment"),
    ("die katze sitzt auf der matte", "die katze ist nicht auf der matte", "contradiction"),
    ("ein hund läuft im park", "der hund jagt einen ball", "neutral"),
]


def _write_tsv(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """accelerate keeps one state per process; tests run many experiments in one process."""
    yield
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module of tiny-model runs: on a busy CPU, synchronising two
    threads costs far more than a 32-wide layer (about 30x per step measured here)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide BERT with a word-level tokenizer, saved like any HF model."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    out = tmp_path_factory.mktemp("tiny-encoder")
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([r for row in NLI_ROWS + DE_ROWS for r in row[:2]] + TINY_CORPUS,
                            trainers.WordLevelTrainer(special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>")
    fast.save_pretrained(out)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                        pad_token_id=1)
    BertModel(config).save_pretrained(out)
    return out


@pytest.fixture()
def tiny_data_dir(tmp_path) -> Path:
    """MNLI/XNLI/SST-2/QQP/COPA-shaped files in the XTREME layout, a few rows each."""
    return write_tiny_data(tmp_path / "data")


@pytest.fixture(scope="session")
def tiny_data_writer():
    """write_tiny_data, for fixtures of a wider scope than tiny_data_dir."""
    return write_tiny_data


def write_tiny_data(root: Path) -> Path:
    """The files of `tiny_data_dir`, under `root`."""
    mnli = {str(i): {"text_a": a, "text_b": b, "label": c} for i, (a, b, c) in enumerate(NLI_ROWS * 2)}
    (root / "mnli").mkdir(parents=True)
    (root / "mnli" / "train.json").write_text(json.dumps(mnli), encoding="utf-8")
    (root / "mnli" / "dev.json").write_text(json.dumps(dict(list(mnli.items())[:6])), encoding="utf-8")
    _write_tsv(root / "xnli" / "dev-en.tsv", NLI_ROWS[:6])
    _write_tsv(root / "xnli" / "dev-de.tsv", DE_ROWS)
    _write_tsv(root / "sst2" / "train.tsv", [("sentence", "label"), ("good film", "1"), ("bad film", "0"),
                                             ("great food", "1"), ("terrible service", "0")])
    _write_tsv(root / "sst2" / "dev.tsv", [("sentence", "label"), ("good film", "1"), ("bad film", "0")])
    # QQP-shaped: premise/hypothesis pairs as questions, duplicate (1) when one entails the other.
    qqp = {str(i): {"text_a": a, "text_b": b, "label": "1" if c == "entailment" else "0"}
           for i, (a, b, c) in enumerate(NLI_ROWS)}
    (root / "qqp").mkdir()
    (root / "qqp" / "train.json").write_text(json.dumps(qqp), encoding="utf-8")
    (root / "qqp" / "dev.json").write_text(json.dumps(dict(list(qqp.items())[:4])), encoding="utf-8")
    copa = [{"premise": "the man is not happy", "choice1": "it is raining today", "choice2": "good film",
             "question": "cause", "label": 0},
            {"premise": "she is reading a book", "choice1": "the weather is sunny", "choice2": "bad film",
             "question": "effect", "label": 1}]
    (root / "xcopa").mkdir()
    for name in ("train-en.jsonl", "val-en.jsonl", "val-sw.jsonl"):
        (root / "xcopa" / name).write_text("".join(json.dumps(r) + "\n" for r in copa), encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def tiny_mlm_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny encoder with a mask token, for continued-MLM tests (added to a copy: a new token
    in the shared tiny tokenizer would shift every other test's token ids)."""
    import shutil

    import torch
    from transformers import AutoTokenizer, BertModel

    out = tmp_path_factory.mktemp("tiny-mlm-encoder")
    shutil.copytree(tiny_model_dir, out, dirs_exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(out)
    tokenizer.add_special_tokens({"mask_token": "<mask>"})
    model = BertModel.from_pretrained(out)
    torch.manual_seed(0)
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The real data folder, given by XSTILTS_DATA_DIR (`make test` points it at ../shared/data)."""
    value = os.environ.get("XSTILTS_DATA_DIR")
    if not value or not (Path(value) / "xnli").is_dir():
        pytest.skip(f"real data folder not available (XSTILTS_DATA_DIR={value!r} has no xnli/)")
    return Path(value)
