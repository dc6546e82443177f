"""Models that travel: a saved run starts a new experiment, and `xstilts export` writes a
standard transformers folder that predicts what xstilts predicts, with a model card."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification, AutoTokenizer

from experiment_files import experiment_config
from xstilts import export as export_module
from xstilts.config import load_config
from xstilts.data.loading import DataSettings, load_examples
from xstilts.data.registry import get_task
from xstilts.errors import XstiltsError
from xstilts.export import export_model
from xstilts.models.multitask import build_model, load_model, save_model
from xstilts.training.pipeline import run_experiment

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cls_run(tmp_path_factory, tiny_model_dir, tiny_data_writer):
    """A tiny xnli run (trained on mnli) with CLS pooling, scored zero-shot in en and de."""
    root = tmp_path_factory.mktemp("export")
    data_dir = tiny_data_writer(root / "data")
    config = experiment_config(root, "cls", tiny_model_dir, data_dir, """
  - {name: target, task: xnli, epochs: 3, batch_size: 4, lr: 1.0e-3}
  - {name: zero-shot, kind: evaluate, task: xnli, languages: [en, de]}""")
    config.write_text("pooling: cls\n" + config.read_text())
    summary = run_experiment(load_config(config))
    return root, data_dir, summary


def test_exported_model_predicts_what_xstilts_predicts(cls_run, tmp_path):
    root, data_dir, summary = cls_run
    out = export_model(root / "runs" / "cls" / "target", tmp_path / "exported")
    standard = AutoModelForSequenceClassification.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert type(standard).__name__ == "BertForSequenceClassification"
    ours, _ = load_model(root / "runs" / "cls" / "target" / "model")
    ours.eval()
    for lang in ("en", "de"):
        examples, _ = load_examples(get_task("xnli"), "dev", lang, DataSettings(dir=data_dir))
        batch = tokenizer([ex.texts[0] for ex in examples], [ex.texts[1] for ex in examples], padding=True,
                          truncation=True, max_length=32, return_tensors="pt")
        with torch.no_grad():
            theirs = standard(**batch).logits
            expected = ours("nli", batch["input_ids"], batch["attention_mask"])
        assert torch.allclose(theirs, expected, atol=1e-5)
        labels = [standard.config.id2label[i] for i in theirs.argmax(-1).tolist()]
        rows = (root / "runs" / "cls" / "zero-shot" / "predictions" / "xnli" / f"dev-{lang}.jsonl").read_text()
        predicted = {r["id"]: r["prediction"] for r in map(json.loads, rows.splitlines())}
        assert labels == [predicted[ex.uid] for ex in examples]
    card = (out / "README.md").read_text()
    assert "BertForSequenceClassification" in card and "entailment, neutral, contradiction" in card
    assert "| de |" in card and "## The run's config" in card and "pooling: cls" in card and "seed: 3" in card


def test_a_saved_run_starts_a_new_experiment(cls_run, tmp_path):
    root, data_dir, summary = cls_run
    saved = root / "runs" / "cls" / "target" / "model"
    config = experiment_config(tmp_path, "again", saved, data_dir, """
  - {name: zero-shot, kind: evaluate, task: xnli, languages: [en, de]}
  - {name: more, task: sst2, epochs: 1, batch_size: 2}""")
    config.write_text("pooling: cls\n" + config.read_text())
    again = run_experiment(load_config(config))
    # The saved heads come along: xnli scores as the original run scored it.
    assert again["phases"]["zero-shot"]["languages"] == summary["phases"]["zero-shot"]["languages"]
    heads = json.loads((tmp_path / "runs" / "again" / "more" / "model" / "heads.json").read_text())["heads"]
    assert set(heads) == {"nli", "sst2"}
    config.write_text(config.read_text().replace("pooling: cls", "pooling: mean"))
    with pytest.raises(XstiltsError, match="trained with pooling 'cls', the config says 'mean'; set pooling: cls"):
        run_experiment(load_config(config), force=True)


def test_mean_pooling_is_refused_and_token_tagging_exports(tiny_model_dir, tmp_path):
    model, tokenizer = build_model(str(tiny_model_dir), "mean")
    model.ensure_head(get_task("sst2"))
    model.ensure_head(get_task("panx"))
    save_model(model, tokenizer, tmp_path / "model")
    with pytest.raises(XstiltsError, match="choose one with --head"):
        export_model(tmp_path / "model", tmp_path / "out")
    with pytest.raises(XstiltsError, match="pools sentences by their mean token state.*`pooling: cls`"):
        export_model(tmp_path / "model", tmp_path / "out", head="sst2")
    assert not (tmp_path / "out").exists()
    out = export_model(tmp_path / "model", tmp_path / "out", head="ner")
    tagger = AutoModelForTokenClassification.from_pretrained(out).eval()
    assert tagger.config.id2label[0] == get_task("panx").labels[0]
    batch = AutoTokenizer.from_pretrained(out)(["the cat sits", "a dog"], padding=True, return_tensors="pt")
    model.eval()
    with torch.no_grad():
        assert torch.allclose(tagger(**batch).logits, model("ner", batch["input_ids"], batch["attention_mask"]),
                              atol=1e-5)
    assert "No finished run" in (out / "README.md").read_text()


def test_push_to_hub_uploads_the_folder(tiny_model_dir, tmp_path, monkeypatch):
    calls = []

    class FakeHub:
        def create_repo(self, repo_id, **kwargs):
            calls.append(("create", repo_id, kwargs))

        def upload_folder(self, **kwargs):
            calls.append(("upload", kwargs["repo_id"], sorted(p.name for p in tmp_path.joinpath("out").iterdir())))

    monkeypatch.setattr(export_module, "HfApi", FakeHub)
    model, tokenizer = build_model(str(tiny_model_dir), "mean")
    model.ensure_head(get_task("panx"))
    save_model(model, tokenizer, tmp_path / "model")
    export_model(tmp_path / "model", tmp_path / "out", push_to_hub="me/tiny-ner")
    assert calls[0] == ("create", "me/tiny-ner", {"repo_type": "model", "exist_ok": True})
    assert calls[1][:2] == ("upload", "me/tiny-ner") and {"README.md", "config.json"} <= set(calls[1][2])
