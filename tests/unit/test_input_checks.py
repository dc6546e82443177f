"""What is checked before a run starts, and how: every row of every file read once, before the
first step; an unreachable Hub noticed in about a second; weight files with the user's umask."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter

import huggingface_hub.constants
import pytest

from experiment_files import experiment_config
from xstilts import cli, hub
from xstilts.config import load_config
from xstilts.data import loading
from xstilts.data.registry import get_task
from xstilts.errors import XstiltsError
from xstilts.models.multitask import build_model, save_model
from xstilts.models.sources import load_encoder_and_tokenizer
from xstilts.training.pipeline import check_config, run_plan

XCOPA_ROW = '{"premise": "x", "choice1": "a", "choice2": "b", "question": "cause", "label": 0}\n'


def test_a_broken_validation_line_stops_the_run_before_training(tmp_path, tiny_model_dir, tiny_data_dir,
                                                                monkeypatch, capsys):
    (tiny_data_dir / "xcopa" / "val-sw.jsonl").write_text(XCOPA_ROW + '{"premise": \n', encoding="utf-8")
    config = experiment_config(tmp_path, "c", tiny_model_dir, tiny_data_dir,
                               "  - {name: t, task: xcopa}\n  - {name: e, kind: evaluate, task: xcopa, languages: [sw]}\n")
    monkeypatch.setattr(sys, "argv", ["xstilts", "run", str(config)])
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    assert stopped.value.code == 2
    assert "xcopa/val-sw.jsonl:2: malformed row: not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "runs" / "c").exists()  # nothing trained, nothing written


def test_run_bad_rows_skip_counts_the_skipped_rows(tmp_path, tiny_model_dir, tiny_data_dir, one_torch_thread,
                                                  monkeypatch, capsys):
    german = tiny_data_dir / "xnli" / "dev-de.tsv"
    german.write_text(german.read_text(encoding="utf-8") + "one field only\n", encoding="utf-8")
    config = experiment_config(tmp_path, "skip", tiny_model_dir, tiny_data_dir,
                               "  - {name: t, task: xnli, batch_size: 8}\n"
                               "  - {name: e, kind: evaluate, task: xnli, languages: [de]}\n")
    monkeypatch.setattr(sys, "argv", ["xstilts", "run", str(config), "--bad-rows", "skip"])
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    assert stopped.value.code == 0, capsys.readouterr().err
    scores = json.loads((tmp_path / "runs" / "skip" / "e" / "metrics.json").read_text(encoding="utf-8"))
    assert scores["languages"]["de"]["skipped_rows"] == 1 and scores["languages"]["de"]["n"] == 3


def test_each_file_is_parsed_once_per_run(tmp_path, tiny_model_dir, tiny_data_dir, one_torch_thread, monkeypatch):
    parsed = Counter()
    real = loading._local_split_rows

    def counting(spec, source, root, paths, split, lang):
        parsed.update(str(p.relative_to(tiny_data_dir)) for p in paths)
        return real(spec, source, root, paths, split, lang)

    monkeypatch.setattr(loading, "_local_split_rows", counting)
    config = experiment_config(tmp_path, "once", tiny_model_dir, tiny_data_dir,
                               "  - {name: t, task: xnli, batch_size: 8}\n"
                               "  - {name: e, kind: evaluate, task: xnli, languages: [en, de]}\n")
    plan = check_config(load_config(config))
    assert parsed == {"mnli/train.json": 1, "mnli/dev.json": 1, "xnli/dev-en.tsv": 1, "xnli/dev-de.tsv": 1}
    run_plan(plan)
    assert set(parsed.values()) == {1}  # training and evaluation used the examples the check read
    assert not loading._checked  # and the run let them go


def test_a_file_changed_after_the_check_is_read_again(tiny_data_dir):
    spec, settings = get_task("xnli"), loading.DataSettings(dir=tiny_data_dir)
    loading.check_examples(spec, "dev", "de", settings)
    path = tiny_data_dir / "xnli" / "dev-de.tsv"
    path.write_text(path.read_text(encoding="utf-8") + "a\tb\tneutral\n", encoding="utf-8")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    examples, _ = loading.load_examples(spec, "dev", "de", settings)
    assert len(examples) == 4
    loading.forget_checked_examples()


def test_hub_offline_is_one_line_at_once(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", huggingface_hub.constants.HF_HUB_OFFLINE)
    hub.hub_unreachable.cache_clear()
    started = time.monotonic()
    with pytest.raises(XstiltsError, match=r"could not load model 'xstilts-test/no-such-model' as a Hugging Face "
                                           r"Hub id: .*cannot be reached \(HF_HUB_OFFLINE is set\)"):
        load_encoder_and_tokenizer("xstilts-test/no-such-model")
    assert time.monotonic() - started < 5
    hub.hub_unreachable.cache_clear()


def test_hub_data_offline_is_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.hub_unreachable.cache_clear()
    with pytest.raises(XstiltsError, match=r"could not load facebook/xnli .*: not in the local datasets cache and "
                                           r"the Hub cannot be reached \(HF_HUB_OFFLINE is set\)\. Offline\? Use --data-dir"):
        loading.load_examples(get_task("xnli"), "dev", "de", loading.DataSettings(source="hub"))
    hub.hub_unreachable.cache_clear()


def test_no_network_is_noticed_in_about_a_second(monkeypatch):
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://192.0.2.1:9")  # TEST-NET-1: never answers
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    hub.hub_unreachable.cache_clear()
    started = time.monotonic()
    with pytest.raises(XstiltsError, match=r"cannot be reached \(no connection to 192.0.2.1:9 within 1 s\)"):
        load_encoder_and_tokenizer("xstilts-test/no-such-model")
    assert time.monotonic() - started < 5
    assert huggingface_hub.constants.HF_HUB_OFFLINE  # later requests in the process use the cache only
    hub.hub_unreachable.cache_clear()


def test_saved_weights_follow_the_umask(tmp_path, tiny_model_dir):
    model, tokenizer = build_model(str(tiny_model_dir))
    save_model(model, tokenizer, tmp_path / "model")
    umask = os.umask(0)
    os.umask(umask)
    for name in ("heads.safetensors", "encoder/model.safetensors", "heads.json"):
        assert (tmp_path / "model" / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
