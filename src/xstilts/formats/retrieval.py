"""Retrieval without training data (XTREME's Tatoeba and BUCC 2018, XTREME-R's LAReQA and
Mewsli-X): sentences are embedded by the attention-masked mean of one encoder layer's hidden
states, L2-normalised, and compared by cosine similarity. Nothing is trained: these tasks are
scored in `evaluate` phases, after any training phase or on the pretrained encoder.

Which search a task runs follows from its metric:

    accuracy    nearest neighbour (Tatoeba). As XTREME's and jiant's code does, every English
                sentence retrieves the most similar source-language sentence; it is right when
                that is its own translation.
    bucc_f1     bitext mining (BUCC). Candidate pairs are mined with LASER's ratio margin over
                4 nearest neighbours (see evaluation/retrieval.py); the score threshold that
                maximises F1 is chosen on the split's first part (BUCC's sample/dev data: the
                spec's test split reads [dev, test]) and applied to its last part. A split of
                one part tunes the threshold on itself (XTREME's dev numbers).
    map_at_20   ranking (LAReQA, Mewsli-X): every query ranks the whole candidate pool; mean
                average precision over the top 20.

Example shapes (`Example(uid, texts, label)`; `inputs.texts` names the two row fields):

    bitext    texts = (source sentence, English sentence); for BUCC one may be "" (a sentence
              in no gold pair) but not both. label = (source id, target id, split part): the
              ids (row fields `source_id`, `target_id`; "" when absent, as in Tatoeba, where a
              row's position pairs it) and the position of the split part the row came from.
              A row with both sentences is a gold pair.
    ranking   a query: texts = (query,), label = ("query", query id, relevant candidate ids);
              the row has the query field, `relevant` (inputs.label: a list of candidate ids)
              and optionally `query_id` (default: the row's place). A candidate: texts =
              (candidate text,), label = ("candidate", candidate id, ()); the row has the
              candidate field and `candidate_id`. One language's file holds its queries and
              the whole candidate pool.

The layer is the evaluate phase's `layer` (hidden state index: 0 is the embedding output, n the
last of n layers); by default 7/12 of the depth, rounded: layer 14 of XLM-R large's 24 (as
XTREME-R), 7 of a 12-layer model. A layer belongs to a model, not to a task, so specs name none.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import torch

from xstilts.errors import XstiltsError
from xstilts.formats.base import Collator, EvaluationResult, Feature, Format, SubmissionFile, mean_pool
from xstilts.formats.predict import batched_outputs
from xstilts.metrics import METRICS
from xstilts.metrics.retrieval import best_threshold, extract, pair_scores
from xstilts.metrics.search import mine_candidates, nearest, search
from xstilts.tasks.example import BadRow, Example, text_field
from xstilts.tasks.format_rules import MINING, NEAREST, PROCEDURES, RANKING
from xstilts.tasks.spec import SPLIT_PART

RANKING_DEPTH = 20  # candidates kept per query: all map_at_20 reads


def default_layer(num_layers: int) -> int:
    return max(1, int(num_layers * 7 / 12 + 0.5))


def encoder_layer(encoder: torch.nn.Module, layer: int | None, where: str = "layer") -> int:
    """The hidden-state index to embed from: `layer`, checked against the encoder's depth, or
    the default."""
    num_layers = encoder.config.num_hidden_layers
    if layer is None:
        return default_layer(num_layers)
    if not 0 <= layer <= num_layers:
        raise XstiltsError(f"{where}: {layer} is not a layer of this {num_layers}-layer encoder; allowed: "
                           f"0..{num_layers} (0 = the embedding output, {num_layers} = the last layer)")
    return layer


def procedure_of(spec) -> str:
    return PROCEDURES[spec.metrics[0].name]


def _row_id(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise BadRow(f"field '{name}' (an id) is missing or empty")
    return str(value).strip()


def _has_text(row: dict[str, Any], name: str) -> bool:
    return row.get(name) not in (None, "")


class Retrieval(Format):
    name = "retrieval"
    has_head = False

    # ------------------------------------------------------------ rows

    def parse(self, spec, row, uid):
        first, second = spec.inputs.texts
        procedure = procedure_of(spec)
        if procedure == RANKING:
            return self._parse_ranking(spec, row, uid)
        if procedure == NEAREST:
            texts = (text_field(row, first).strip(), text_field(row, second).strip())
            return Example(uid=uid, texts=texts, label=("", "", row.get(SPLIT_PART, 0)))
        if not (_has_text(row, first) or _has_text(row, second)):
            raise BadRow(f"a row needs a '{first}' or a '{second}' sentence (or both: a gold pair)")
        sides = [(text_field(row, field).strip(), _row_id(row, id_field)) if _has_text(row, field) else ("", "")
                 for field, id_field in ((first, "source_id"), (second, "target_id"))]
        return Example(uid=uid, texts=(sides[0][0], sides[1][0]),
                       label=(sides[0][1], sides[1][1], row.get(SPLIT_PART, 0)))

    def _parse_ranking(self, spec, row, uid) -> Example:
        query_field, candidate_field = spec.inputs.texts
        if query_field in row:
            relevant = row.get(spec.inputs.label)
            if not isinstance(relevant, list) or not relevant or not all(
                    isinstance(r, (str, int)) and not isinstance(r, bool) for r in relevant):
                raise BadRow(f"field '{spec.inputs.label}' must be a non-empty list of candidate ids")
            query_id = _row_id(row, "query_id") if "query_id" in row else uid
            return Example(uid=uid, texts=(text_field(row, query_field).strip(),),
                           label=("query", query_id, tuple(str(r) for r in relevant)))
        if candidate_field in row:
            return Example(uid=uid, texts=(text_field(row, candidate_field).strip(),),
                           label=("candidate", _row_id(row, "candidate_id"), ()))
        raise BadRow(f"a row is a query ('{query_field}' and '{spec.inputs.label}') or a candidate "
                     f"('{candidate_field}' and 'candidate_id'); fields present: {', '.join(map(str, row))}")

    # ------------------------------------------------------------ model inputs

    def encode(self, spec, examples, tokenizer, max_length):
        """One feature per non-empty text, in example order; the label is the text's position."""
        texts = [(position, text) for ex in examples for position, text in enumerate(ex.texts) if text]
        ids = tokenizer([t for _, t in texts], truncation=True, max_length=max_length)["input_ids"] if texts else []
        return [Feature((tuple(i),), position) for i, (position, _) in zip(ids, texts)]

    def head(self, hidden_size, num_labels, dropout):
        raise XstiltsError("retrieval tasks are scored from encoder states and train nothing; "
                           "use them in evaluate phases")

    # ------------------------------------------------------------ scoring

    def embed(self, model, features: list[Feature], pad_id: int, batch_size: int, device: torch.device,
              layer: int | None, advance: Callable[[int], None] = lambda n: None) -> torch.Tensor:
        """(features, hidden) unit vectors: the masked mean of the chosen layer's hidden states."""
        index = encoder_layer(model.encoder, layer)

        def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            states = model.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                   output_hidden_states=True).hidden_states
            return mean_pool(states[index], attention_mask)

        rows = batched_outputs(model, forward, features, Collator(self, pad_id), batch_size, device, advance)
        return torch.nn.functional.normalize(torch.stack(rows), dim=-1)

    def evaluate(self, model, head, spec, examples, features, pad_id, batch_size, device, lang,
                 advance=lambda n: None, layer=None):
        vectors = iter(self.embed(model, features, pad_id, batch_size, device, layer, advance))
        # Each example's vectors by text position (None for an empty text), as `encode` laid them out.
        per_example = [tuple(next(vectors) if text else None for text in ex.texts) for ex in examples]
        evaluate = {NEAREST: _nearest, MINING: _mining, RANKING: _ranking}[procedure_of(spec)]
        return evaluate(spec, examples, per_example, lang)

    def submission(self, spec, examples, predictions):
        """XTREME's prediction files: Tatoeba's retrieved index per English sentence, BUCC's
        extracted `source id<TAB>target id` pairs; ranking: query id -> ranked candidate ids."""
        procedure = procedure_of(spec)
        if procedure == RANKING:
            return SubmissionFile("json", json.dumps(dict(predictions), ensure_ascii=False))
        lines = [str(p) for p in predictions] if procedure == NEAREST else [f"{s}\t{t}" for s, t in predictions]
        return SubmissionFile("tsv", "".join(f"{line}\n" for line in lines))


def _scores(spec, golds, predictions, lang) -> dict[str, Any]:
    return {m.name: METRICS[m.name](golds, predictions, lang) for m in spec.metrics}


def _nearest(spec, examples, vectors, lang) -> EvaluationResult:
    sources = torch.stack([v[0] for v in vectors])
    targets = torch.stack([v[1] for v in vectors])
    predictions = nearest(targets, sources)
    records = [{"id": ex.uid, "target": ex.texts[1], "gold": i, "prediction": p, "retrieved": examples[p].texts[0]}
               for i, (ex, p) in enumerate(zip(examples, predictions))]
    return EvaluationResult(predictions, records, _scores(spec, list(range(len(examples))), predictions, lang))


def _mine_part(examples, vectors, part) -> tuple[list[tuple[tuple[str, str], float]], set[tuple[str, str]]]:
    """(candidate pairs with their margin scores, gold pairs) of one split part, by sentence id."""
    sources: dict[str, torch.Tensor] = {}
    targets: dict[str, torch.Tensor] = {}
    gold: set[tuple[str, str]] = set()
    for ex, (source, target) in zip(examples, vectors):
        source_id, target_id, row_part = ex.label
        if row_part != part:
            continue
        if source is not None:
            sources.setdefault(source_id, source)
        if target is not None:
            targets.setdefault(target_id, target)
        if source is not None and target is not None:
            gold.add((source_id, target_id))
    if not sources or not targets:
        return [], gold
    source_ids, target_ids = list(sources), list(targets)
    pairs = mine_candidates(torch.stack(list(sources.values())), torch.stack(list(targets.values())))
    return [((source_ids[i], target_ids[j]), score) for i, j, score in pairs], gold


def _mining(spec, examples, vectors, lang) -> EvaluationResult:
    parts = sorted({ex.label[2] for ex in examples})
    candidates, gold = _mine_part(examples, vectors, parts[-1])
    tuning_candidates, tuning_gold = _mine_part(examples, vectors, parts[0]) if len(parts) > 1 else (candidates, gold)
    threshold = best_threshold(tuning_candidates, tuning_gold)
    extracted = extract(candidates, threshold)
    precision, recall, _ = pair_scores(gold, extracted)
    scores = _scores(spec, sorted(gold), extracted, lang)
    scores.update(precision=precision, recall=recall, threshold=threshold,
                  threshold_tuned_on="first split part" if len(parts) > 1 else "scored set")
    records = [{"source_id": s, "target_id": t, "score": round(score, 6), "extracted": score >= threshold,
                "gold": (s, t) in gold} for (s, t), score in candidates]
    return EvaluationResult(extracted, records, scores)


def _ranking(spec, examples, vectors, lang) -> EvaluationResult:
    pool: dict[str, torch.Tensor] = {}
    queries = []
    for ex, (vector,) in zip(examples, vectors):
        kind, item_id, relevant = ex.label
        if kind == "candidate":
            pool.setdefault(item_id, vector)
        else:
            queries.append((item_id, relevant, vector))
    if not queries or not pool:
        raise XstiltsError(f"task '{spec.name}' ({lang}): ranking needs query rows and candidate rows; "
                           f"got {len(queries)} queries and {len(pool)} candidates")
    candidate_ids = list(pool)
    _, ranked = search(torch.stack([q[2] for q in queries]), torch.stack(list(pool.values())), RANKING_DEPTH)
    predictions = [(query_id, [candidate_ids[j] for j in row]) for (query_id, _, _), row in zip(queries, ranked.tolist())]
    records = [{"id": query_id, "relevant": list(relevant), "ranking": ranking}
               for (query_id, relevant, _), (_, ranking) in zip(queries, predictions)]
    scores = _scores(spec, [set(q[1]) for q in queries], [p[1] for p in predictions], lang)
    return EvaluationResult(predictions, records, scores)
