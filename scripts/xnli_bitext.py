"""Build a Tatoeba-style retrieval set from XNLI's parallel dev files, for the offline machines.

XNLI's dev set is the same 2,490 English sentence pairs translated into 14 languages, line for
line, and each premise appears in three consecutive rows (one per hypothesis). Its distinct
premises are therefore parallel sentences: this writes them as `tatoeba/test-<lang>.tsv`
(`sentence<TAB>English sentence`, the layout of the `tatoeba` task) and links the MNLI folder
beside them, so one `--data-dir` serves a run that trains on MNLI and scores retrieval.

    python scripts/xnli_bitext.py --data-dir ../shared/data --out data/xnli-bitext [--pairs 500]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

from xstilts.data.loading import DataSettings, load_examples
from xstilts.data.registry import get_task
from xstilts.errors import XstiltsError
from xstilts.io import write_text_atomic


def distinct_premises(data_dir: Path, lang: str) -> list[str]:
    """Each XNLI dev premise once (its run of consecutive rows), in file order: the row order is
    the same in every language."""
    examples, _ = load_examples(get_task("xnli"), "dev", lang, DataSettings(dir=data_dir))
    return [premise for premise, _ in itertools.groupby(ex.texts[0] for ex in examples)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="folder with xnli/dev-<lang>.tsv and mnli/")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pairs", type=int, default=500, help="sentence pairs per language (first N premises)")
    args = parser.parse_args()
    try:
        english = distinct_premises(args.data_dir, "en")[: args.pairs]
        for lang in get_task("xnli").languages:
            if lang == "en":
                continue
            source = distinct_premises(args.data_dir, lang)[: args.pairs]
            if len(source) != len(english):
                raise XstiltsError(f"xnli/dev-{lang}.tsv has {len(source)} premises, English {len(english)}")
            write_text_atomic(args.out / "tatoeba" / f"test-{lang}.tsv",
                              "".join(f"{s}\t{e}\n" for s, e in zip(source, english)))
    except XstiltsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    mnli = args.out / "mnli"
    if not mnli.exists():
        mnli.symlink_to((args.data_dir / "mnli").resolve(), target_is_directory=True)
    print(f"wrote {len(english)} pairs per language to {args.out / 'tatoeba'}; linked {mnli}")


if __name__ == "__main__":
    main()
