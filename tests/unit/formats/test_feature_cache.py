"""The feature cache: entries of every format come back exactly; a damaged, truncated, altered
or foreign entry (a pickle crafted to run code included) is a miss, rebuilt with one warning."""

from __future__ import annotations

import pickle

import pytest
from transformers import AutoTokenizer

from xstilts.data.registry import get_task
from xstilts.formats import Feature, get_format
from xstilts.formats import features as cache
from xstilts.formats.span_extraction import SpanFeature
from xstilts.formats.token_tagging import TaggingFeature
from xstilts.tasks.example import Example


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _encoded(task: str, examples: list[Example], tokenizer, max_length: int = 32) -> list:
    spec = get_task(task)
    return get_format(spec.format).encode(spec, examples, tokenizer, max_length)


def _format_features(tokenizer) -> dict[str, list]:
    """Real features of every format, from the tiny tokenizer."""
    context = " ".join(["the cat sits on the mat"] * 6)
    return {
        "pair_classification": _encoded("mnli", [Example("a", ("the cat", "a dog"), 2),
                                                 Example("b", ("good film", "bad film"), 0)], tokenizer),
        "multiple_choice": _encoded("xcopa", [Example("a", ("she reads",), 1, ("yes", "no"))], tokenizer),
        # A long context in short windows: several features per example, with offsets.
        "span_extraction": _encoded("squad", [Example("q", ("where is the cat", context), (("the mat", 19),)),
                                              Example("r", ("who", "a dog runs"), ())], tokenizer, 16),
        "token_tagging": _encoded("panx", [get_format("token_tagging").parse(
            get_task("panx"), {"tokens": ["the", "cat", "sits"] * 8, "ner_tags": ["O", "B-PER", "O"] * 8}, "u")],
            tokenizer, 8),
        # An empty text gives no feature: the labels are text positions.
        "retrieval": _encoded("tatoeba", [Example("a", ("the cat", ""), ("", "", 0)),
                                          Example("b", ("", "a dog"), ("", "", 0))], tokenizer),
    }


def test_features_of_every_format_round_trip_exactly(tokenizer):
    encoded = _format_features(tokenizer)
    assert len(encoded["span_extraction"]) > 2 and len(encoded["token_tagging"]) > 1  # windows, pieces
    for name, features in encoded.items():
        feature_type = get_format(name).feature_type
        assert features and all(type(f) is feature_type for f in features), name
        back = cache.unpack_features(cache.pack_features(features, feature_type), feature_type)
        assert back == features, name
        assert [type(f) for f in back] == [feature_type] * len(features)
        assert type(back[0].input_ids[0][0]) is int and type(back[0].input_ids[0]) is tuple


@pytest.mark.parametrize("features", [
    [],
    [Feature(((),), 0)],
    [SpanFeature(((0, 4, 2),), (0, 0), 3, 1, ()), SpanFeature(((0, 5, 6, 2),), (1, 2), 4, 1, ((0, 3), (4, 9)))],
    [TaggingFeature(((0, 2),), (-100, -100), ()), TaggingFeature(((0, 7, 2),), (-100, 3, -100), (1, -1))],
], ids=["none", "empty-ids", "span-edge", "tagging-edge"])
def test_edge_shapes_round_trip(features):
    feature_type = type(features[0]) if features else Feature
    assert cache.unpack_features(cache.pack_features(features, feature_type), feature_type) == features


def _one_entry(tmp_path) -> tuple:
    (entry,) = (tmp_path / "features").iterdir()
    return entry, entry.read_bytes()


EXAMPLES = [Example("a", ("the cat", "a dog"), 2), Example("b", ("good film", "bad film"), 0)]


def _tampered(data: bytes) -> bytes:
    last = len(data) - 8  # the last id of the last feature
    return data[:last] + (7).to_bytes(8, "little") + data[last + 8:]


@pytest.mark.parametrize("damage", [
    lambda data: data[: len(data) // 2],  # truncated (a crash mid-copy, a full disk)
    lambda data: b"",
    _tampered,  # one id changed
    lambda data: data[:60] + b"{" + data[61:],  # the header altered
    lambda data: b"garbage" * 40,
], ids=["truncated", "empty", "one-id-changed", "header-altered", "garbage"])
def test_damaged_entry_is_rebuilt_with_one_warning(tiny_model_dir, tokenizer, tmp_path, monkeypatch, capsys, damage):
    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path))
    spec = get_task("mnli")
    first = cache.encode_cached(EXAMPLES, tokenizer, spec, 32)
    entry, good = _one_entry(tmp_path)
    capsys.readouterr()
    entry.write_bytes(damage(good))
    assert cache.encode_cached(EXAMPLES, tokenizer, spec, 32) == first
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and str(entry) in warning[0] and "rebuilding" in warning[0], warning
    assert entry.read_bytes() == good  # overwritten with a whole entry
    assert cache.encode_cached(EXAMPLES, tokenizer, spec, 32) == first
    assert capsys.readouterr().err == ""  # the rebuilt entry is a plain hit


class _RunsCode:
    """Unpickling this calls a function: what a planted cache file would do."""

    def __reduce__(self):
        return (exec, ("import pathlib, os; pathlib.Path(os.environ['XSTILTS_CACHE'], 'PWNED').touch()",))


def test_a_pickle_crafted_to_run_code_is_never_unpickled(tiny_model_dir, tokenizer, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path))
    spec = get_task("mnli")
    first = cache.encode_cached(EXAMPLES, tokenizer, spec, 32)
    entry, _ = _one_entry(tmp_path)
    entry.write_bytes(pickle.dumps(_RunsCode()))
    # The old layout's file name as well: nothing named *.pkl is read either.
    entry.with_suffix(".pkl").write_bytes(pickle.dumps(_RunsCode()))
    assert cache.encode_cached(EXAMPLES, tokenizer, spec, 32) == first
    assert not (tmp_path / "PWNED").exists()
    assert "rebuilding" in capsys.readouterr().err


def test_an_entry_of_another_feature_type_is_a_miss(tokenizer):
    features = _format_features(tokenizer)["token_tagging"]
    data = cache.pack_features(features, TaggingFeature)
    with pytest.raises(cache.DamagedEntry, match="holds TaggingFeature features, expected SpanFeature"):
        cache.unpack_features(data, SpanFeature)
