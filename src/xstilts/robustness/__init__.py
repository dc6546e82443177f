"""Adversarial robustness of zero-shot transfer: perturb a task's examples in every language,
evaluate a trained model on the clean and perturbed examples, and report the degradation.

    text.py           words and scripts of any text (the unit every perturbation counts)
    perturbations.py  the protocol and the model-free, label-preserving perturbations
    dictionaries.py   bilingual dictionaries: TSV files and Debian's freedict (dictd format)
    code_switch.py    code-switching with dictionaries, random and greedy-adversarial
    textfooler.py     black-box word substitution with neighbours in the model's embeddings
    search.py         the greedy substitution search both adversarial attacks share
    checklist.py      label-changing NLI tests (hypothesis negation) for languages with a rule
    registry.py       name -> perturbation class; building them from command-line options
    scoring.py        the model as a black box: batched probabilities, counted queries
    metrics.py        degradation metrics with paired bootstrap confidence intervals
    perturbed_sets.py saving and reloading perturbed sets with their manifest
    report.py         the degradation tables (markdown and terminal)
    attack.py         the runner behind `xstilts attack`
"""
