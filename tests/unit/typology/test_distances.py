"""URIEL distances: equal to urielplus's own answers, cached, missing data kept missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from xstilts.typology import distances as distances_module
from xstilts.typology.distances import DISTANCE_KINDS, distances_from


@pytest.fixture(scope="module")
def uriel():
    """A separate urielplus instance, loaded once (about 2 s); quietly, as importing urielplus
    would otherwise set the root logger to INFO for the rest of the session."""
    with distances_module._quiet_root_logger():
        from urielplus import urielplus

        return urielplus.URIELPlus()


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("target, iso3", [("de", "deu"), ("sw", "swa")])
def test_distances_equal_urielplus(uriel, target, iso3):
    ours = distances_from("en", [target])
    for kind in DISTANCE_KINDS:
        assert ours.values[target][kind] == float(uriel.new_distance(kind, ["eng", iso3])), kind
    # A sanity anchor independent of both: the environment notes' en-de syntactic distance.
    if target == "de":
        assert ours.values["de"]["syntactic"] == pytest.approx(0.3582)


def test_distances_are_cached_on_disk(tmp_path, monkeypatch):
    first = distances_from("en", ["de", "sw"])
    cache_files = list((tmp_path / "cache" / "typology").glob("urielplus-*-distances.json"))
    assert len(cache_files) == 1
    assert json.loads(cache_files[0].read_text())["eng-deu"] == first.values["de"]

    def no_uriel(*args):
        raise AssertionError("URIEL was queried although the distances are cached")

    monkeypatch.setattr(distances_module, "uriel_distance", no_uriel)
    assert distances_from("en", ["sw", "de"]).values == first.values


def test_missing_uriel_data_is_reported_not_zero(uriel):
    # URIEL has no phonological features for Urdu: urielplus itself refuses the pair.
    with pytest.raises(ValueError, match="No shared phonological features"):
        uriel.new_distance("phonological", ["eng", "urd"])
    d = distances_from("en", ["de", "ur", "xx"])
    assert d.values["ur"]["phonological"] is None
    assert d.values["ur"]["syntactic"] == float(uriel.new_distance("syntactic", ["eng", "urd"]))
    assert all(value is None for value in d.values["xx"].values())  # not a language we know
    assert d.missing("phonological") == ["ur", "xx"]
    assert "ur" not in d.known("phonological") and "de" in d.known("phonological")
    message = d.describe_missing("phonological")
    assert "ur (urd)" in message and "xx (no ISO 639-3 code known)" in message and "left out" in message
    assert d.describe_missing("genetic") == "genetic distance from en: URIEL has no data for xx (no ISO 639-3 " \
                                            "code known); left out of the genetic fits"


def test_urielplus_import_and_queries_stay_quiet(tmp_path):
    # A fresh process: urielplus configures logging when first imported.
    code = ("import logging; from xstilts.typology.distances import distances_from; "
            "distances_from('en', ['hi']); assert logging.getLogger().handlers == [], logging.getLogger().handlers; "
            "assert logging.getLogger().level == logging.WARNING")
    env = {**os.environ, "XSTILTS_CACHE": str(tmp_path / "fresh-cache")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "INFO" not in result.stderr and "distance" not in result.stderr
