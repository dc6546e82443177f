"""Token tagging: first-sub-word labels, long sentences split into pieces, decoding one tag per
word, the XTREME (udpos/panx) and jiant (CCG) file layouts, the Hub path, and training and
zero-shot evaluation end to end on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
import torch

from experiment_files import experiment_config
from xstilts.config import load_config
from xstilts.data.loading import DataSettings, load_examples
from xstilts.data.registry import get_task
from xstilts.errors import XstiltsError
from xstilts.formats import get_format
from xstilts.formats.token_tagging import IGNORE
from xstilts.training.pipeline import run_experiment

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
TAGGING = get_format("token_tagging")
UDPOS = get_task("udpos")
POS = UDPOS.labels


@pytest.fixture(scope="module")
def wordpiece():
    """A tokenizer that splits words into sub-words: running -> run ##ning, unbelievable ->
    un ##believ ##able; blank words give no token at all."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    pieces = ["<s>", "<pad>", "</s>", "<unk>", "the", "cat", "run", "##ning", "un", "##believ", "##able"]
    tok = Tokenizer(models.WordPiece({p: i for i, p in enumerate(pieces)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>")


def pos_example(words, tags, uid="u1"):
    return TAGGING.parse(UDPOS, {"tokens": list(words), "pos_tags": list(tags)}, uid)


WORDS = ("the", "cat", "running", "unbelievable")
TAGS = ("DET", "NOUN", "VERB", "ADJ")


def outputs_predicting(feature, tag_at):
    """Logits whose argmax is `tag_at(position)` at every position of the feature."""
    out = torch.zeros(feature.length, len(POS))
    for position in range(feature.length):
        out[position, POS.index(tag_at(position))] = 1.0
    return out


# ---------------------------------------------------------------- encoding and decoding


def test_label_sits_on_the_first_sub_word_only(wordpiece):
    ex = pos_example(WORDS, TAGS)
    assert ex.texts == WORDS and ex.label == tuple(POS.index(t) for t in TAGS)
    [feature] = TAGGING.encode(UDPOS, [ex], wordpiece, max_length=32)
    # <s> the cat run ##ning un ##believ ##able </s>
    assert feature.input_ids == ((0, 4, 5, 6, 7, 8, 9, 10, 2),)
    det, noun, verb, adj = (POS.index(t) for t in TAGS)
    assert feature.label == (IGNORE, det, noun, verb, IGNORE, adj, IGNORE, IGNORE, IGNORE)
    assert feature.word_starts == (1, 2, 3, 5)


def test_decode_reads_each_word_at_its_first_sub_word(wordpiece):
    ex = pos_example(WORDS, TAGS)
    [feature] = TAGGING.encode(UDPOS, [ex], wordpiece, max_length=32)
    # Right tags at first sub-words, X everywhere else: decoding must not look elsewhere.
    gold_at = {1: "DET", 2: "NOUN", 3: "VERB", 5: "ADJ"}
    output = outputs_predicting(feature, lambda p: gold_at.get(p, "X"))
    [prediction] = TAGGING.decode(UDPOS, [ex], [feature], [output])
    assert prediction == TAGS
    assert TAGGING.score(UDPOS, [ex], [prediction], "en")["token_accuracy"] == 1.0
    record = TAGGING.records(UDPOS, [ex], [prediction], [output])[0]
    assert record == {"id": "u1", "words": list(WORDS), "label": list(TAGS), "prediction": list(TAGS)}


def test_long_sentence_is_split_between_words_and_every_word_is_predicted(wordpiece):
    words = WORDS + ("the",)  # sub-words per word: 1 1 2 3 1
    ex = pos_example(words, TAGS + ("DET",))
    features = TAGGING.encode(UDPOS, [ex], wordpiece, max_length=6)  # 4 sub-words + <s> </s>
    assert [f.input_ids[0] for f in features] == [(0, 4, 5, 6, 7, 2), (0, 8, 9, 10, 4, 2)]
    assert [f.word_starts for f in features] == [(1, 2, 3), (1, 4)]
    adj, det = POS.index("ADJ"), POS.index("DET")
    assert features[1].label == (IGNORE, adj, IGNORE, IGNORE, det, IGNORE)
    outputs = [outputs_predicting(f, lambda p, f=f: POS[f.label[p]] if f.label[p] != IGNORE else "X") for f in features]
    assert TAGGING.decode(UDPOS, [ex], features, outputs) == [TAGS + ("DET",)]


def test_word_longer_than_the_input_keeps_its_first_sub_word(wordpiece):
    ex = pos_example(("unbelievable", "cat"), ("ADJ", "NOUN"))
    features = TAGGING.encode(UDPOS, [ex], wordpiece, max_length=4)  # room for 2 sub-words
    assert [f.input_ids[0] for f in features] == [(0, 8, 9, 2), (0, 5, 2)]  # truncated, then the next word
    assert [f.word_starts for f in features] == [(1,), (1,)]


def test_word_without_any_token_is_predicted_as_the_first_label(wordpiece):
    panx = get_task("panx")
    ex = TAGGING.parse(panx, {"tokens": ["the", " ", "cat"], "ner_tags": ["O", "B-PER", "O"]}, "u")
    [feature] = TAGGING.encode(panx, [ex], wordpiece, max_length=32)
    assert feature.word_starts == (1, -1, 2)
    output = torch.zeros(feature.length, len(panx.labels))
    output[:, panx.labels.index("B-LOC")] = 1.0
    [prediction] = TAGGING.decode(panx, [ex], [feature], [output])
    assert prediction == ("B-LOC", "O", "B-LOC")  # the dropped word still counts, as "O"
    assert TAGGING.score(panx, [ex], [prediction], "en") == {"span_f1": 0.0}


def test_collate_pads_labels_with_ignore_and_the_loss_skips_them(wordpiece):
    examples = [pos_example(WORDS, TAGS), pos_example(("the", "cat"), ("DET", "NOUN"), "u2")]
    features = TAGGING.encode(UDPOS, examples, wordpiece, max_length=32)
    batch = TAGGING.collate(features, pad_id=1)
    assert batch["labels"].shape == batch["input_ids"].shape == (2, 9)
    assert batch["labels"][1].tolist() == [IGNORE, POS.index("DET"), POS.index("NOUN")] + [IGNORE] * 6
    assert batch["attention_mask"][1].tolist() == [1, 1, 1, 1, 0, 0, 0, 0, 0]
    # Confident and right at tagged positions, wrong everywhere else: the loss is ~0.
    labels = batch["labels"]
    outputs = torch.full((2, 9, len(POS)), -20.0)
    outputs[..., POS.index("X")] = 20.0
    tagged = labels != IGNORE
    outputs[tagged] = -20.0
    outputs[tagged, labels[tagged]] = 20.0
    assert TAGGING.loss(outputs, batch).item() < 1e-6
    outputs[0, 1] = 0.0  # uniform at one of the 6 tagged positions
    assert TAGGING.loss(outputs, batch).item() == pytest.approx(torch.log(torch.tensor(17.0)).item() / 6, rel=1e-4)


def test_head_gives_one_logit_per_tag_per_token():
    head = TAGGING.head(hidden_size=8, num_labels=17, dropout=0.0)
    assert head(torch.zeros(2, 5, 8), torch.ones(2, 5)).shape == (2, 5, 17)


def test_submission_is_a_tag_per_line_and_a_blank_line_per_sentence():
    text = TAGGING.submission(get_task("panx"), [], [("B-PER", "O"), ("O",)]).text
    assert text == "B-PER\nO\n\nO\n\n"


# ---------------------------------------------------------------- malformed rows


@pytest.mark.parametrize("row,message", [
    ({"tokens": ["a", "b"], "pos_tags": ["DET"]}, "2 words in 'tokens' but 1 tags in 'pos_tags'"),
    ({"tokens": ["a"], "pos_tags": ["B-PER"]}, "tag 'B-PER' of word 1 is not in the tag set (ADJ, ADP, ADV,"),
    ({"tokens": ["a"], "pos_tags": [17]}, "tag 17 of word 1 is not in the tag set"),
    ({"tokens": "a b", "pos_tags": ["DET", "DET"]}, "field 'tokens' is not a non-empty list"),
    ({"pos_tags": ["DET"]}, "missing field 'tokens'"),
])
def test_malformed_rows_name_the_problem_and_the_allowed_tags(row, message):
    from xstilts.tasks.example import BadRow

    with pytest.raises(BadRow) as err:
        TAGGING.parse(UDPOS, row, "u")
    assert message in str(err.value)


# ---------------------------------------------------------------- file layouts and the Hub


def test_xtreme_sentence_files_give_a_row_per_sentence_placed_at_its_first_line():
    examples, report = load_examples(get_task("panx"), "dev", "de", DataSettings(dir=FIXTURES))
    assert [ex.uid.rsplit(":", 1)[1] for ex in examples] == ["1", "7", "13"]
    assert examples[1].texts == ("der", "mann", "heißt", "hans", "müller")
    panx = get_task("panx").labels
    assert [panx[i] for i in examples[1].label] == ["O", "O", "O", "B-PER", "I-PER"]


def test_malformed_sentence_line_is_one_line_error_at_the_sentence(tmp_path):
    (tmp_path / "udpos").mkdir()
    (tmp_path / "udpos" / "dev-en.tsv").write_text("a\tDET\n\nthe\tDET\ncat\tNOUN\textra\n", encoding="utf-8")
    with pytest.raises(XstiltsError) as err:
        load_examples(UDPOS, "dev", "en", DataSettings(dir=tmp_path))
    message = str(err.value)
    assert "\n" not in message
    assert f"{tmp_path / 'udpos' / 'dev-en.tsv'}:3: malformed row: line 4: expected word<TAB>tag, got 3" in message


def test_ccg_reads_jiant_files_and_maps_supertags_to_their_ids():
    ccg = get_task("ccg")
    assert len(ccg.labels) == 1363 and ccg.note and "no Hub copy" in ccg.note
    examples, _ = load_examples(ccg, "train", "en", DataSettings(dir=FIXTURES))
    assert [ex.texts for ex in examples][1] == ("The", "dog", "barks")
    assert [ex.label for ex in examples] == [(0, 1, 2, 3, 4, 1, 5), (4, 1, 6)]
    with pytest.raises(XstiltsError, match="no data directory was given"):
        load_examples(ccg, "train", "en", DataSettings())  # no Hub copy to fall back on


@pytest.mark.parametrize("line,message", [
    ("The dog barks", "expected words<TAB>tags, got 1 tab-separated field(s)"),
    ("The dog barks\tNP[nb]/N N S[q]", "tag 'S[q]' is not in tags_to_id.json"),
    ("The dog barks\tNP[nb]/N N", "3 words in 'tokens' but 2 tags in 'tags'"),
])
def test_ccg_malformed_lines_are_one_line_errors_with_file_and_line(tmp_path, line, message):
    folder = tmp_path / "ccg"
    folder.mkdir()
    (folder / "tags_to_id.json").write_text((FIXTURES / "ccg" / "tags_to_id.json").read_text(), encoding="utf-8")
    (folder / "ccg.dev").write_text(f"The dog barks\tNP[nb]/N N S[dcl]\\NP\n{line}\n", encoding="utf-8")
    with pytest.raises(XstiltsError) as err:
        load_examples(get_task("ccg"), "dev", "en", DataSettings(dir=tmp_path))
    assert "\n" not in str(err.value)
    assert str(err.value).startswith(f"{folder / 'ccg.dev'}:2: malformed row: {message}")


def test_ccg_without_its_tag_vocabulary_says_where_it_belongs(tmp_path):
    (tmp_path / "ccg").mkdir()
    (tmp_path / "ccg" / "ccg.dev").write_text("The dog\tN N\n", encoding="utf-8")
    with pytest.raises(XstiltsError, match=r"missing .*tags_to_id.json: jiant's CCG layout keeps"):
        load_examples(get_task("ccg"), "dev", "en", DataSettings(dir=tmp_path))


def test_hub_class_label_ints_become_tag_names(monkeypatch):
    calls = []
    # Deliberately not our order: ints must be mapped by name, not used as our indices.
    hub_names = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]

    def load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        features = datasets.Features({"tokens": datasets.List(datasets.Value("string")),
                                      "ner_tags": datasets.List(datasets.ClassLabel(names=hub_names)),
                                      "langs": datasets.List(datasets.Value("string"))})
        return datasets.Dataset.from_dict({"tokens": [["Hans", "lebt", "in", "Bonn"]], "ner_tags": [[5, 0, 0, 1]],
                                           "langs": [["de"] * 4]}, features=features)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    [ex], report = load_examples(get_task("panx"), "dev", "de", DataSettings(source="hub"))
    panx = get_task("panx").labels
    assert ex.texts == ("Hans", "lebt", "in", "Bonn")
    assert [panx[i] for i in ex.label] == ["B-PER", "O", "O", "B-LOC"]
    load_examples(get_task("wikiann"), "test", "uk", DataSettings(source="hub"))
    assert calls == [("google/xtreme", "PAN-X.de", "validation"), ("unimelb-nlp/wikiann", "uk", "test")]


def test_udpos_hub_configs_are_named_by_language(monkeypatch):
    calls = []

    def load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        raise ConnectionError("stop here")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    for lang in ("en", "fa", "zh"):
        with pytest.raises(XstiltsError):
            load_examples(UDPOS, "test", lang, DataSettings(source="hub"))
    assert [c[1] for c in calls] == ["udpos.English", "udpos.Persian", "udpos.Chinese"]


# ---------------------------------------------------------------- end to end


def test_train_on_english_and_tag_german_zero_shot(tmp_path, tiny_model_dir, monkeypatch, one_torch_thread):
    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
    config = experiment_config(tmp_path, "tagging", tiny_model_dir, FIXTURES, """\
  - {name: ner, task: panx, epochs: 2, batch_size: 2, lr: 1.0e-3}
  - {name: pos, task: udpos, epochs: 2, batch_size: 2, lr: 1.0e-3}
  - {name: ner-zero-shot, kind: evaluate, task: panx, languages: [en, de]}
  - {name: pos-zero-shot, kind: evaluate, task: udpos, languages: [en, de]}
  - {name: wikiann-zero-shot, kind: evaluate, task: wikiann, languages: [de]}
""")
    summary = run_experiment(load_config(config))
    run = tmp_path / "runs" / "tagging"
    for phase, task, metrics in [("ner-zero-shot", "panx", ["span_f1"]),
                                 ("pos-zero-shot", "udpos", ["span_f1", "token_accuracy"])]:
        scores = summary["phases"][phase]["languages"]
        assert set(scores) == {"en", "de"}
        for lang, n_sentences in (("en", 2), ("de", 3 if task == "panx" else 2)):
            assert scores[lang]["n"] == n_sentences
            assert all(0.0 <= scores[lang][m] <= 1.0 for m in metrics)
            rows = [json.loads(line) for line in
                    (run / phase / "predictions" / task / f"dev-{lang}.jsonl").read_text().splitlines()]
            assert len(rows) == n_sentences
            assert all(len(r["prediction"]) == len(r["words"]) == len(r["label"]) for r in rows)
            assert all(tag in get_task(task).labels for r in rows for tag in r["prediction"])
    # wikiann shares panx's head and files: the German scores are the same.
    wikiann = summary["phases"]["wikiann-zero-shot"]["languages"]["de"]
    assert wikiann["span_f1"] == summary["phases"]["ner-zero-shot"]["languages"]["de"]["span_f1"]


def test_tasks_listing_says_ccg_has_no_hub_copy(monkeypatch):
    from xstilts.cli.task_table import tasks
    from xstilts.console import results_console

    monkeypatch.setattr(results_console, "width", 400)
    with results_console.capture() as captured:
        tasks(wide=True)
    ccg_row = next(line for line in captured.get().splitlines() if line.startswith("│ ccg "))
    assert "ids 0..1362 (named by the data)" in ccg_row and "local:ccg/ccg.{split}" in ccg_row
    assert "note: no Hub copy (CCGbank is licensed by the LDC)" in captured.get()
