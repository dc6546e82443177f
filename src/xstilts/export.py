"""`xstilts export`: a trained model as a standard transformers folder that
`AutoModelFor<Task>.from_pretrained` loads without xstilts, with a model card.

One head is exported, as the standard class whose head computes the same function:

- sentence classification (`single_/pair_classification`): `<Arch>ForSequenceClassification`.
  xstilts' head is dropout, dense, tanh, dropout, linear on the pooled sentence: BERT's pooler
  plus classifier, RoBERTa/XLM-R's classification head. Those read the first token, so this
  fits models trained with `pooling: cls` only; mean pooling (the default) has no standard
  class and is refused rather than exported with different predictions.
- token tagging: `<Arch>ForTokenClassification` (dropout, linear on every token).

xstilts never feeds token type ids, so every row of the exported token-type embedding is the
one xstilts used: a tokenizer that returns type ids for sentence pairs gets the same outputs.
The export is checked before it is written: both models score probe inputs, and the logits
must agree.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml
from huggingface_hub import HfApi
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoModelForTokenClassification

from xstilts.errors import XstiltsError
from xstilts.evaluation.summary import render_summary
from xstilts.formats import get_format
from xstilts.io import replace_dir_atomic, staging_dir_for, write_text_atomic
from xstilts.models.multitask import MultiTaskModel, is_saved_model, load_model

# xstilts format -> the transformers auto class whose head it matches.
_AUTO_CLASSES = {
    "single_classification": AutoModelForSequenceClassification,
    "pair_classification": AutoModelForSequenceClassification,
    "token_tagging": AutoModelForTokenClassification,
}
_PROBES = (("A man is playing a guitar.", "Someone makes music."), ("The cat sleeps.", "A dog barks loudly."))


def model_dir_of(path: Path) -> Path:
    """`runs/<run>/<phase>` or its `model/` folder."""
    for candidate in (Path(path), Path(path) / "model"):
        if is_saved_model(candidate):
            return candidate
    raise XstiltsError(f"{path}: no saved model here (expected runs/<run>/<phase> of a train phase, or its model/)")


def chosen_head(model: MultiTaskModel, head: str | None, where: str) -> str:
    heads = list(model.head_info)
    if head is None:
        if len(heads) != 1:
            raise XstiltsError(f"{where} has heads {', '.join(heads)}; choose one with --head")
        return heads[0]
    if head not in model.head_info:
        raise XstiltsError(f"--head {head}: the model has no such head; its heads: {', '.join(heads)}")
    return head


def standard_model(model: MultiTaskModel, head: str, config_dir: Path) -> torch.nn.Module:
    """The `<Arch>For<Task>` model computing what `model` computes with `head`."""
    info = model.head_info[head]
    auto_class = _AUTO_CLASSES.get(info.format)
    if auto_class is None:
        raise XstiltsError(f"head '{head}' ({info.format}): no standard transformers head computes what xstilts' "
                           f"does; exportable: {', '.join(sorted(_AUTO_CLASSES))}")
    if auto_class is AutoModelForSequenceClassification and model.pooling != "cls":
        raise XstiltsError(f"head '{head}': the model pools sentences by their {model.pooling} token state, which no "
                           "standard ...ForSequenceClassification does (they read the first token); train with "
                           "`pooling: cls` to export, or use the xstilts model folder as it is")
    config = AutoConfig.from_pretrained(config_dir)
    config.id2label = dict(enumerate(info.labels))
    config.label2id = {label: i for i, label in enumerate(info.labels)}
    config.classifier_dropout = model.dropout
    standard = auto_class.from_config(config)
    base = getattr(standard, standard.base_model_prefix)
    missing, unexpected = base.load_state_dict(model.encoder.state_dict(), strict=False)
    if any(not k.startswith("pooler.") for k in missing + unexpected):
        raise XstiltsError(f"the encoder's weights do not fit {type(standard).__name__}: missing "
                           f"{missing[:3]}, unexpected {unexpected[:3]}")
    _copy_head(standard, base, model.heads[head], get_format(info.format).token_level)
    embeddings = getattr(base.embeddings, "token_type_embeddings", None)
    if embeddings is not None:
        with torch.no_grad():
            embeddings.weight.copy_(embeddings.weight[0].expand_as(embeddings.weight))
    return standard.eval()


def _copy_head(standard: torch.nn.Module, base: torch.nn.Module, head: torch.nn.Module, token_level: bool) -> None:
    classifier = standard.classifier
    pairs: list[tuple[torch.nn.Linear, torch.nn.Linear]]
    if token_level:
        pairs = [(classifier, head.out)]
    elif hasattr(classifier, "out_proj"):  # RoBERTa / XLM-R: dense, tanh, out_proj on the first token
        pairs = [(classifier.dense, head.dense), (classifier.out_proj, head.out)]
    elif getattr(base, "pooler", None) is not None:  # BERT: the pooler's dense and tanh, then the classifier
        pairs = [(base.pooler.dense, head.dense), (classifier, head.out)]
    else:
        raise XstiltsError(f"{type(standard).__name__}: its classification head is not one xstilts can fill")
    with torch.no_grad():
        for target, source in pairs:
            target.weight.copy_(source.weight)
            target.bias.copy_(source.bias)


def check_same_outputs(model: MultiTaskModel, head: str, standard: torch.nn.Module, tokenizer) -> float:
    """The largest difference between the two models' logits on probe inputs; raises when the
    export would predict differently."""
    model.eval()
    pair = getattr(get_format(model.head_info[head].format), "n_texts", 1) == 2  # sentence pairs
    firsts, seconds = [p[0] for p in _PROBES], ([p[1] for p in _PROBES] if pair else None)
    batch = tokenizer(firsts, seconds, padding=True, return_tensors="pt")
    with torch.no_grad():
        ours = model(head, batch["input_ids"], batch["attention_mask"])
        theirs = standard(**batch).logits
    gap = float((ours - theirs).abs().max())
    if gap > 1e-4 * max(1.0, float(ours.abs().max())):
        raise XstiltsError(f"the exported model's logits differ from xstilts' by {gap:.2g}; nothing was written")
    return gap


def run_of(model_dir: Path) -> dict | None:
    """The run a model belongs to (`runs/<run>/metrics.json`), if it finished."""
    metrics = model_dir.parent.parent / "metrics.json"
    return json.loads(metrics.read_text(encoding="utf-8")) if metrics.is_file() else None


def model_card(model: MultiTaskModel, head: str, standard: torch.nn.Module, model_dir: Path, run: dict | None) -> str:
    info = model.head_info[head]
    task_class = type(standard).__name__
    lines = [
        "---", "library_name: transformers", "tags: [xstilts, cross-lingual-transfer]", "---", "",
        f"# {run['name'] if run else model_dir.parent.name}: head `{head}`", "",
        f"Exported by xstilts from `{model_dir}` as `{task_class}`: the head `{head}` "
        f"({info.format}, labels: {', '.join(info.labels)}) on the trained encoder. "
        "It predicts the labels xstilts predicts (checked at export on probe inputs).", "",
        "```python",
        "from transformers import AutoModelFor" + task_class.split("For", 1)[1] + ", AutoTokenizer",
        "tokenizer = AutoTokenizer.from_pretrained(PATH)",
        "model = AutoModelFor" + task_class.split("For", 1)[1] + ".from_pretrained(PATH)",
        "```", "",
        "xstilts feeds no token type ids: every token-type embedding row is the one it trained with.", "",
    ]
    if run is None:
        return "\n".join(lines + ["No finished run found beside this model: no training data or scores to report.", ""])
    summary = render_summary(run).replace("\n# ", "\n## ").split("\n", 1)
    config = yaml.safe_dump(run["config"], sort_keys=False, allow_unicode=True)
    return "\n".join(lines + ["## Training and zero-shot results", "", summary[1].strip(), "",
                              "## The run's config", "", "```yaml", config.rstrip(), "```", ""])


def export_model(path: Path, out: Path, head: str | None = None, push_to_hub: str | None = None) -> Path:
    """Write the standard folder (weights, config, tokenizer, README.md) to `out`; with
    `push_to_hub`, upload it to that Hub repository."""
    model_dir = model_dir_of(path)
    model, tokenizer = load_model(model_dir)
    head = chosen_head(model, head, str(model_dir))
    standard = standard_model(model, head, model_dir / "encoder")
    check_same_outputs(model, head, standard, tokenizer)
    staging = staging_dir_for(out)
    standard.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    write_text_atomic(staging / "README.md", model_card(model, head, standard, model_dir, run_of(model_dir)))
    replace_dir_atomic(staging, out)
    if push_to_hub:
        api = HfApi()
        api.create_repo(push_to_hub, repo_type="model", exist_ok=True)
        api.upload_folder(folder_path=str(out), repo_id=push_to_hub, repo_type="model")
    return out
