"""Splits carved out of one file by row range (`rows:` of a local source), as `pawsx-devsplit`
cuts PAWS-X dev: disjoint parts, the same rows in every parallel language, ids that keep the
rows' places in the file, and a file too short for its range refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from xstilts.data.loading import DataSettings, load_examples
from xstilts.data.registry import get_task
from xstilts.errors import XstiltsError
from xstilts.tasks.spec import TaskSpec

LANGS = ("en", "de")


def _pawsx_dir(root, rows=20):
    (root / "pawsx").mkdir(parents=True)
    for lang in LANGS:
        lines = [f"{lang} first {i}\t{lang} second {i}\t{i % 2}" for i in range(rows)]
        (root / "pawsx" / f"dev-{lang}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def _split_spec(rows):
    spec = get_task("pawsx-devsplit").model_dump()
    spec["sources"][0]["rows"] = rows
    return TaskSpec.model_validate(spec)


def test_row_ranges_cut_disjoint_splits_aligned_across_languages(tmp_path):
    data = DataSettings(dir=_pawsx_dir(tmp_path))
    spec = _split_spec({"train": [0, 12], "dev": [12, 15], "test": [15, 20]})
    parts = {split: load_examples(spec, split, "de", data)[0] for split in ("train", "dev", "test")}
    assert [len(parts[s]) for s in ("train", "dev", "test")] == [12, 3, 5]
    assert parts["train"][0].texts == ("de first 0", "de second 0")
    assert parts["test"][-1].texts == ("de first 19", "de second 19")
    # ids keep the file's line numbers, so a split's rows are traceable and never collide
    assert [e.uid for e in parts["test"]] == [f"pawsx/dev-de.tsv:{n}" for n in range(16, 21)]
    english_test = load_examples(spec, "test", "en", data)[0]
    assert [e.texts[0].split()[-1] for e in english_test] == [e.texts[0].split()[-1] for e in parts["test"]]


def test_shipped_pawsx_split_trains_on_rows_it_never_scores(tmp_path):
    rows = get_task("pawsx-devsplit").sources[0].rows
    (train, dev, test) = (set(range(*rows[s])) for s in ("train", "dev", "test"))
    assert not (train & test or train & dev or dev & test)
    assert max(train | dev | test) == 1999  # PAWS-X dev has 2,000 pairs per language


def test_a_file_too_short_for_its_range_is_an_error_not_a_smaller_split(tmp_path):
    data = DataSettings(dir=_pawsx_dir(tmp_path, rows=14))
    spec = _split_spec({"train": [0, 12], "test": [12, 20]})
    with pytest.raises(XstiltsError, match=r"dev-en.tsv.*has 14 rows; the split takes rows \[12, 20\)"):
        load_examples(spec, "test", "en", data)


@pytest.mark.parametrize("rows, message", [
    ({"test": [5, 5]}, r"rows.test: \[5, 5\) is empty"),
    ({"train": [0, 3]}, r"rows.train: no such split; splits here: test"),
])
def test_bad_row_ranges_are_refused_with_what_is_allowed(rows, message):
    spec = get_task("pawsx-devsplit").model_dump()
    spec["sources"][0].update(splits={"test": "dev"}, rows=rows)
    with pytest.raises(ValidationError, match=message):
        TaskSpec.model_validate(spec)
