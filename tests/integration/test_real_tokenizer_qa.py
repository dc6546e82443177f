"""Extractive QA offsets with the real multilingual tokenizer (XLM-R's sentencepiece): in scripts
without spaces (zh, th), with combining marks (hi) and right-to-left (ar), an answer labelled in
a later window decodes back to exactly the gold text."""

import pytest
import torch
from transformers import AutoTokenizer

from xstilts.data.registry import get_task
from xstilts.formats import get_format
from xstilts.models.builtin import ensure_builtin
from xstilts.tasks.example import Example

pytestmark = pytest.mark.integration
SPANS = get_format("span_extraction")

# language: (question, context, answer); the context is repeated three times and the answer
# taken from the last copy, so it lies past the first window.
CASES = {
    "ar": ("أين يقع البرج؟", "يقع برج إيفل في مدينة باريس الفرنسية، وقد بني في عام ١٨٨٩ للمعرض العالمي.",
           "مدينة باريس"),
    "hi": ("मीनार कहाँ है?", "एफ़िल टॉवर फ़्रांस की राजधानी पेरिस में स्थित है और इसे १८८९ में बनाया गया था।", "पेरिस"),
    "zh": ("铁塔在哪里？", "埃菲尔铁塔位于法国巴黎战神广场，建于一八八九年，是世界著名的建筑。", "法国巴黎"),
    "th": ("หอคอยอยู่ที่ไหน", "หอไอเฟลตั้งอยู่ที่กรุงปารีสประเทศฝรั่งเศสและสร้างขึ้นในปีพ.ศ. ๒๔๓๒", "กรุงปารีส"),
    "ru": ("Где башня?", "Эйфелева башня находится в Париже, столице Франции, и была построена в 1889 году.",
           "в Париже"),
    "el": ("Πού είναι ο πύργος;", "Ο Πύργος του Άιφελ βρίσκεται στο Παρίσι, την πρωτεύουσα της Γαλλίας.",
           "στο Παρίσι"),
}


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(ensure_builtin("builtin:multilingual-e5-small"))


@pytest.mark.parametrize("lang", sorted(CASES))
def test_answer_in_a_later_window_decodes_to_the_gold_text(tokenizer, lang):
    question, context, answer = CASES[lang]
    separator = "" if lang in ("zh", "th") else " "
    context = separator.join([context] * 3)
    start = context.rindex(answer)
    spec = get_task("mlqa")
    spec = spec.model_copy(update={"spans": spec.spans.model_copy(update={"doc_stride": 16})})
    example = Example("q", (question, context), ((answer, start),))
    features = SPANS.encode(spec, [example], tokenizer, max_length=48)
    labelled = next(i for i, f in enumerate(features) if f.label != (0, 0))
    assert labelled > 0  # the last copy's answer, past the first window
    outputs = []
    for i, feature in enumerate(features):
        logits = torch.zeros(feature.length, 2)
        first, last = feature.label if i == labelled else (0, 0)
        logits[first, 0] = logits[last, 1] = 10.0
        outputs.append(logits)
    assert SPANS.decode(spec, [example], features, outputs) == [answer]
