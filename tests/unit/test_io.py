"""Atomic writes: a failure mid-write leaves the previous file or directory whole."""

from __future__ import annotations

import errno
import os

import pytest

from xstilts import io
from xstilts.errors import XstiltsError


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    io.write_json_atomic(target, {"accuracy": 0.5})

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        io.write_json_atomic(target, {"accuracy": 0.9})
    assert target.read_text() == '{\n  "accuracy": 0.5\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_written_files_get_ordinary_permissions(tmp_path):
    io.write_text_atomic(tmp_path / "a.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask


def test_directory_replacement_swaps_whole_directories(tmp_path):
    target = tmp_path / "model"
    for version in ("old", "new"):
        staging = io.staging_dir_for(target)
        (staging / "weights").write_text(version)
        io.replace_dir_atomic(staging, target)
    assert (target / "weights").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_gc_pause_restores_the_collector_even_after_an_error():
    import gc

    from xstilts.io import gc_paused

    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        with gc_paused():
            assert not gc.isenabled()
            raise RuntimeError("boom")
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()


def test_a_full_disk_is_one_line_naming_the_file_and_leaves_no_temp(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(XstiltsError, match=r"out/a.json: No space left on device; free some space"):
        io.write_json_atomic(tmp_path / "out" / "a.json", {})
    assert list((tmp_path / "out").iterdir()) == []


def test_yaml_keys_are_unique_at_every_depth_and_no_code_runs(tmp_path):
    assert io.load_yaml("a: {b: 1}\nc: [1, 2]\n", "f.yaml") == {"a": {"b": 1}, "c": [1, 2]}
    with pytest.raises(XstiltsError, match=r"^f.yaml:4: key 'b' given twice \(first on line 2\)$"):
        io.load_yaml("a:\n  b: 1\n  c: 2\n  b: 3\n", "f.yaml")
    with pytest.raises(XstiltsError, match=r"^f.yaml:1: not valid YAML"):
        io.load_yaml(f"!!python/object/apply:os.mkdir [{tmp_path / 'made'}]\n", "f.yaml")
    assert not (tmp_path / "made").exists()


def test_reads_name_the_line_of_invalid_utf8_and_reject_a_bom(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": "\xe9"}\n')
    with pytest.raises(XstiltsError, match=r"x.jsonl:2: not valid UTF-8 \(byte 0xe9\)"):
        io.read_jsonl(path)
    with pytest.raises(XstiltsError, match=r"x.jsonl:2: not valid UTF-8"):
        io.read_text(path)
    path.write_text('\ufeff{"a": 1}\n', encoding="utf-8")
    with pytest.raises(XstiltsError, match=r"x.jsonl:1: a byte-order mark"):
        io.read_json(path)
