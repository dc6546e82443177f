"""Task formats, one registry: a spec's `format` names one of these."""

from __future__ import annotations

from xstilts.formats.base import Collator, EvaluationResult, Feature, Format
from xstilts.formats.classification import Classification, MultipleChoice
from xstilts.formats.retrieval import Retrieval
from xstilts.formats.span_extraction import SpanExtraction
from xstilts.formats.token_tagging import TokenTagging

FORMATS: dict[str, Format] = {
    fmt.name: fmt
    for fmt in (
        Classification("single_classification", n_texts=1),
        Classification("pair_classification", n_texts=2),
        MultipleChoice(),
        SpanExtraction(),
        TokenTagging(),
        Retrieval(),
    )
}


def get_format(name: str) -> Format:
    return FORMATS[name]


__all__ = ["FORMATS", "Collator", "EvaluationResult", "Feature", "Format", "get_format"]
