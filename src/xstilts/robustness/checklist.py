"""CheckList-style label-changing tests for NLI (Ribeiro et al. 2020): negating the hypothesis
of an entailment pair makes it a contradiction. These change the gold label, so they are
reported apart from the label-preserving perturbations.

Negation is a rule per language: the first copula or modal verb of the hypothesis takes the
language's negation. Languages without a rule are skipped with that reason. A hypothesis
that already holds a negation is left out (double negation is no clean test), and so is one
where the rule would be ungrammatical (German `ist ein` needs `kein`; French elided clitics
such as `c'est`, `l'a`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from xstilts.robustness.perturbations import Perturbation, Perturbed
from xstilts.robustness.text import match_case, tokenize
from xstilts.tasks.example import Example


@dataclass(frozen=True)
class NegationRule:
    negated: dict[str, str]             # verb (lower case) -> its negated form
    negative_words: frozenset[str]      # a hypothesis with one of these is left out
    not_before: frozenset[str] = frozenset()  # words after which the rule would be ungrammatical


def _prefixed(prefix: str, verbs: str) -> dict[str, str]:
    return {v: f"{prefix} {v}" for v in verbs.split()}


def _suffixed(suffix: str, verbs: str) -> dict[str, str]:
    return {v: f"{v} {suffix}" for v in verbs.split()}


NEGATION_RULES: dict[str, NegationRule] = {
    "en": NegationRule({**_suffixed("not", "is are was were will could would should must may might"),
                        "can": "cannot"},
                       # Contractions split at the apostrophe: "isn't" reads as "isn", "'", "t".
                       frozenset("not no never nobody nothing none cannot nor neither isn aren wasn weren "
                                 "don doesn didn hasn haven hadn won wouldn couldn shouldn mustn".split())),
    "de": NegationRule(_suffixed("nicht", "ist sind war waren kann können wird werden"),
                       frozenset("nicht kein keine keinen keinem keiner keines nie niemals niemand nichts".split()),
                       frozenset("ein eine einen einem einer eines".split())),
    "es": NegationRule(_prefixed("no", "es son era eran está están estaba estaban fue fueron puede pueden"),
                       frozenset("no nunca nadie nada ni ningún ninguna ninguno jamás".split())),
    "fr": NegationRule({"est": "n'est pas", "sont": "ne sont pas", "était": "n'était pas",
                        "étaient": "n'étaient pas", "sera": "ne sera pas", "seront": "ne seront pas",
                        "peut": "ne peut pas", "peuvent": "ne peuvent pas"},
                       frozenset("ne n pas jamais personne rien aucun aucune".split())),
    "bg": NegationRule(_prefixed("не", "е са беше бяха може могат"),
                       frozenset("не няма никога никой нищо нито".split())),
    "el": NegationRule(_prefixed("δεν", "είναι ήταν μπορεί μπορούν"),
                       frozenset("δεν μην ποτέ κανείς τίποτα ούτε όχι".split())),
    "ru": NegationRule(_prefixed("не", "был была было были будет будут может могут"),
                       frozenset("не нет никогда никто ничего ни".split())),
}
_APOSTROPHES = "'’"


def negate(hypothesis: str, rule: NegationRule) -> str | None:
    tokens = tokenize(hypothesis)
    lowered = [t.text.lower() if t.is_word else None for t in tokens]
    if any(w in rule.negative_words for w in lowered if w):
        return None
    for i, token in enumerate(tokens):
        if not token.is_word or lowered[i] not in rule.negated:
            continue
        if (i > 0 and tokens[i - 1].text[-1:] in _APOSTROPHES) or \
                (i + 1 < len(tokens) and tokens[i + 1].text[:1] in _APOSTROPHES):
            return None  # an elided or contracted form ("c'est", "can't")
        following = next((w for w in lowered[i + 1:] if w), None)
        if following in rule.not_before:
            return None
        parts = [t.text for t in tokens]
        parts[i] = match_case(token.text, rule.negated[lowered[i]])
        return "".join(parts)
    return None


class HypothesisNegation(Perturbation):
    name: ClassVar[str] = "checklist-negation"
    description: ClassVar[str] = "entailment pairs with the hypothesis negated, expected: contradiction"
    label_preserving: ClassVar[bool] = False
    formats: ClassVar[frozenset] = frozenset({"pair_classification"})

    def skip_reason(self, context):
        labels = context.task.labels
        if "entailment" not in labels or "contradiction" not in labels:
            return "not an NLI task (needs entailment and contradiction labels)"
        if context.lang not in NEGATION_RULES:
            return f"no negation rule for '{context.lang}' (rules: {', '.join(NEGATION_RULES)})"
        return super().skip_reason(context)

    def perturb(self, example: Example, rng, context):
        labels = context.task.labels
        if example.label != labels.index("entailment"):
            return None
        negated = negate(example.texts[1], NEGATION_RULES[context.lang])
        if negated is None:
            return None
        new = Example(example.uid, (example.texts[0], negated), labels.index("contradiction"), example.choices)
        return Perturbed(new, 1, self.words(example, context).total)
