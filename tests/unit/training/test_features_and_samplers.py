"""Token encoding, dynamic padding and the seeded epoch sampler."""

from __future__ import annotations

from xstilts.tasks.data import Example
from xstilts.training.features import Collator, Feature, encode
from xstilts.training.samplers import EpochBatchSampler


def test_batches_are_padded_to_their_longest_member():
    batch = Collator(pad_id=1, multiple_choice=False)([Feature(((0, 5, 2),), 1), Feature(((0, 5, 6, 7, 2),), 0)])
    assert batch["input_ids"].tolist() == [[0, 5, 2, 1, 1], [0, 5, 6, 7, 2]]
    assert batch["attention_mask"].sum(1).tolist() == [3, 5]
    assert batch["labels"].tolist() == [1, 0]


def test_pairs_are_encoded_as_pairs_and_truncated(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    (feature,) = encode([Example("x", ("the cat", "a dog"), 2)], tokenizer, "pair_classification", 64)
    ids = feature.input_ids[0]
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.eos_token_id) == 3  # <s> A </s></s> B </s>
    (short,) = encode([Example("x", ("the cat sits on the mat", "a dog runs in the park"), 2)],
                      tokenizer, "pair_classification", 6)
    assert len(short.input_ids[0]) == 6


def test_sampler_is_a_seeded_permutation_per_epoch():
    sampler = EpochBatchSampler(size=10, batch_size=4, seed=1)
    first = list(sampler)
    assert [len(b) for b in first] == [4, 4, 2] and len(sampler) == 3
    assert sorted(i for b in first for i in b) == list(range(10))
    assert list(sampler) == first  # same epoch, same order
    sampler.set_epoch(1)
    assert list(sampler) != first
    assert list(EpochBatchSampler(10, 4, seed=2)) != first


def test_length_grouping_cuts_padding_and_keeps_every_example_once():
    import random

    rng = random.Random(0)
    lengths = [rng.randint(5, 120) for _ in range(1000)]
    grouped = EpochBatchSampler(1000, 16, seed=3, lengths=lengths)
    plain = EpochBatchSampler(1000, 16, seed=3)

    def padded_tokens(batches):
        return sum(max(lengths[i] for i in b) * len(b) for b in batches)

    batches = grouped.batches()
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert padded_tokens(batches) < 0.7 * padded_tokens(plain.batches())
    assert batches == grouped.batches()  # deterministic
    grouped.set_epoch(1)
    assert grouped.batches() != batches


def test_tokenized_features_are_cached_by_content(tiny_model_dir, tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    from xstilts.training import features as features_module

    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path))
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    examples = [Example("a", ("the cat", "a dog"), 2), Example("b", ("good film", "bad film"), 0)]
    first = features_module.encode_cached(examples, tokenizer, "pair_classification", 32)
    assert first == encode(examples, tokenizer, "pair_classification", 32)
    assert len(list((tmp_path / "features").iterdir())) == 1

    def no_tokenizing(*args):
        raise AssertionError("a cache hit must not tokenize")

    monkeypatch.setattr(features_module, "encode", no_tokenizing)
    assert features_module.encode_cached(examples, tokenizer, "pair_classification", 32) == first
    monkeypatch.undo()
    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path))
    changed = [Example("a", ("the cat", "a dog"), 1), examples[1]]
    features_module.encode_cached(changed, tokenizer, "pair_classification", 32)
    features_module.encode_cached(examples, tokenizer, "pair_classification", 3)
    assert len(list((tmp_path / "features").iterdir())) == 3  # label and length cap change the key
