"""`qqp-pawsx`: QQP trains the head PAWS-X is evaluated with (PAWS-X has no English train set
offline, and training on its dev-en would leak into the other languages, which translate it)."""

from __future__ import annotations

from xstilts.data.loading import DataSettings, load_examples
from xstilts.data.registry import get_task


def test_qqp_rows_under_pawsx_labels_and_head(tiny_data_dir):
    qqp, pawsx, bridge = get_task("qqp"), get_task("pawsx"), get_task("qqp-pawsx")
    assert bridge.head == pawsx.head != qqp.head and bridge.labels == pawsx.labels
    as_qqp, _ = load_examples(qqp, "train", "en", DataSettings(dir=tiny_data_dir))
    as_pawsx, _ = load_examples(bridge, "train", "en", DataSettings(dir=tiny_data_dir))
    assert [(e.texts, e.label) for e in as_pawsx] == [(e.texts, e.label) for e in as_qqp]
    assert {bridge.labels[e.label] for e in as_pawsx} == {"different", "paraphrase"}
