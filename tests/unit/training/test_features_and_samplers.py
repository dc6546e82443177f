"""Token encoding, dynamic padding and the seeded batch stream."""

from __future__ import annotations

from xstilts.data.registry import get_task
from xstilts.formats import Collator, Feature, get_format
from xstilts.formats.features import encode
from xstilts.tasks.example import Example
from xstilts.training.samplers import GROUP_BATCHES, BatchStream


def test_batches_are_padded_to_their_longest_member():
    batch = Collator(get_format("single_classification"), pad_id=1)([Feature(((0, 5, 2),), 1), Feature(((0, 5, 6, 7, 2),), 0)])
    assert batch["input_ids"].tolist() == [[0, 5, 2, 1, 1], [0, 5, 6, 7, 2]]
    assert batch["attention_mask"].sum(1).tolist() == [3, 5]
    assert batch["labels"].tolist() == [1, 0]


def test_pairs_are_encoded_as_pairs_and_truncated(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    (feature,) = encode([Example("x", ("the cat", "a dog"), 2)], tokenizer, get_task("mnli"), 64)
    ids = feature.input_ids[0]
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.eos_token_id) == 3  # <s> A </s></s> B </s>
    (short,) = encode([Example("x", ("the cat sits on the mat", "a dog runs in the park"), 2)],
                      tokenizer, get_task("mnli"), 6)
    assert len(short.input_ids[0]) == 6


def _batches(stream: BatchStream, start: int, stop: int) -> list[list[int]]:
    return [stream.batch(i) for i in range(start, stop)]


def test_stream_is_a_seeded_permutation_per_epoch_in_full_batches():
    stream = BatchStream(size=10, batch_size=4, seed=1)
    first = _batches(stream, 0, 5)  # 20 positions: exactly two epochs
    assert all(len(b) == 4 for b in first)
    flat = [i for b in first for i in b]
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:]) == list(range(10))
    assert flat[:10] != flat[10:]  # each epoch has its own order
    assert _batches(BatchStream(10, 4, seed=1), 0, 5) == first  # a function of (seed, index)
    assert BatchStream(10, 4, seed=1).batch(3) == first[3]  # so a resumed stream continues exactly
    assert _batches(BatchStream(10, 4, seed=2), 0, 5) != first


def test_length_grouping_cuts_padding_and_keeps_every_example_once_per_epoch():
    import random

    rng = random.Random(0)
    lengths = [rng.randint(5, 120) for _ in range(1000)]
    grouped = BatchStream(1000, 16, seed=3, lengths=lengths)
    plain = BatchStream(1000, 16, seed=3)

    def padded_tokens(batches):
        return sum(max(lengths[i] for i in b) * len(b) for b in batches)

    # 5 windows of GROUP_BATCHES batches = 4000 positions = exactly 4 epochs.
    batches = _batches(grouped, 0, 5 * GROUP_BATCHES)
    counts = [0] * 1000
    for i in (i for b in batches for i in b):
        counts[i] += 1
    assert set(counts) == {4}
    assert padded_tokens(batches) < 0.7 * padded_tokens(_batches(plain, 0, 5 * GROUP_BATCHES))
    assert batches == _batches(BatchStream(1000, 16, seed=3, lengths=lengths), 0, 5 * GROUP_BATCHES)


def test_tokenized_features_are_cached_by_content(tiny_model_dir, tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    from xstilts.formats import features as features_module

    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path))
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    examples = [Example("a", ("the cat", "a dog"), 2), Example("b", ("good film", "bad film"), 0)]
    first = features_module.encode_cached(examples, tokenizer, get_task("mnli"), 32)
    assert first == encode(examples, tokenizer, get_task("mnli"), 32)
    assert len(list((tmp_path / "features").iterdir())) == 1

    def no_tokenizing(*args):
        raise AssertionError("a cache hit must not tokenize")

    monkeypatch.setattr(type(get_format("pair_classification")), "encode", no_tokenizing)
    again = features_module.encode_cached(examples, tokenizer, get_task("mnli"), 32)
    assert again == first and all(type(f) is Feature and type(f.input_ids[0][0]) is int for f in again)
    # Equal examples made of other string objects (a new run re-reading the file) still hit.
    rebuilt = [Example(e.uid, tuple("".join(list(text)) for text in e.texts), e.label) for e in examples]
    assert features_module.encode_cached(rebuilt, tokenizer, get_task("mnli"), 32) == first
    monkeypatch.undo()
    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path))
    changed = [Example("a", ("the cat", "a dog"), 1), examples[1]]
    features_module.encode_cached(changed, tokenizer, get_task("mnli"), 32)
    features_module.encode_cached(examples, tokenizer, get_task("mnli"), 3)
    features_module.encode_cached([Example("a", ("the cat", "a dog."), 2), examples[1]], tokenizer,
                                  get_task("mnli"), 32)
    assert len(list((tmp_path / "features").iterdir())) == 4  # label, length cap and text change the key


def test_cached_multiple_choice_features_come_back_unchanged(tiny_model_dir, tmp_path, monkeypatch):
    # Features of several sequences per input (one per choice) are stored two levels deep.
    from transformers import AutoTokenizer

    from xstilts.formats import features as features_module

    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path))
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    examples = [Example("a", ("she reads",), 1, ("yes", "no")), Example("b", ("the cat",), 0, ("sits", "runs"))]
    first = features_module.encode_cached(examples, tokenizer, get_task("xcopa"), 32)
    assert features_module.encode_cached(examples, tokenizer, get_task("xcopa"), 32) == first
    assert len(first[0].input_ids) == 2
