"""Atomic writes: a failure mid-write leaves the previous file or directory whole."""

from __future__ import annotations

import os

import pytest

from xstilts import io


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
