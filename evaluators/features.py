"""Text features shared by the trained heads and their training script (numpy-free, pure functions).

Why hand-made features next to embeddings: sentence embeddings say "same topic", which is not the same
as "answers the question" or "is supported by the context". Word overlap with the context, words that
appear in neither context nor question, and numbers, dates and names the context does not contain are
content signals a 20 MB encoder misses, and they are what catches an answer whose only error is a
changed number or name. Training and scoring import these same functions, so they cannot drift apart.
"""

from __future__ import annotations

import math
import re
from itertools import pairwise

_STOPWORD_TEXT = """
a about above after again all also am an and any are as at be been being but by can could did do does doing
don down during each few for from further had has have having he her here hers him his how i if in into is it
its itself just know like lot me more most much my no nor not now of off oh on once only or other our out over
own really same she should so some such than that the their them then there these they this those through to
too under until up very was we well were what when where which while who whom why will with would yes you your
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_MONTH_TEXT = "january february march april may june july august september october november december"
MONTHS = frozenset(_MONTH_TEXT.split())
# Spelled-out numbers ("one" is left out: "one of the best" is not a figure).
_NUMBER_WORD_TEXT = """two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million billion"""
NUMBER_WORDS = frozenset(_NUMBER_WORD_TEXT.split())
WH_TYPES = ("how many", "how much", "how long", "how old", "what year", "who", "when", "where", "which", "why",
            "how", "what")
_WORD = re.compile(r"[a-z0-9]+")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
# A capitalised word inside a sentence, or one starting a sentence when a capitalised word follows it
# ("Harper's Magazine"): sentence-initial single words ("Sure", "Paris") are too often ordinary words.
_NAME = re.compile(r"(?<=[a-z0-9,;:)] )[A-Z][a-zA-Z'-]+|(?:^|(?<=[.!?] ))[A-Z][a-zA-Z'-]+(?= [A-Z])")
_MONTH = re.compile(r"\b(" + "|".join(m.capitalize() for m in MONTHS) + r")\b")
_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")

RELEVANCE_FEATURES = (
    "cosine", "overlap", "overlap_head", "answer_length", "has_number", "has_year", "names", "definition",
    *[f"wh={w}" for w in (*WH_TYPES, "other")],
    *[f"wh={w}*number" for w in (*WH_TYPES, "other")],
    *[f"wh={w}*year" for w in (*WH_TYPES, "other")],
    *[f"wh={w}*names" for w in (*WH_TYPES, "other")],
)
HALLUCINATION_FEATURES = ("cosine_context", "cosine_question", "precision", "novel", "bigram_precision",
                          "first_person", "log_length")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS]


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def wh_type(question: str) -> str:
    lowered = question.strip().lower()
    return next((w for w in WH_TYPES if lowered.startswith(w)), "other")


def relevance_features(question: str, answer: str, cosine: float) -> list[float]:
    """Does the answer share the question's content words, and is it the kind of answer the question wants?"""
    asked = content_words(question)
    answer_words = words(answer)
    present, head = set(answer_words), set(answer_words[:6])
    has_number = float(bool(re.search(r"\d", answer)))
    has_year = float(bool(_YEAR.search(answer)))
    names = min(len(_NAME.findall(answer)) / 10.0, 1.0)
    definition = float(bool(re.search(r"\b(is|are|was|were) (a|an|the)\b", answer.lower())))
    kind = wh_type(question)
    onehot = [float(kind == w) for w in (*WH_TYPES, "other")]
    base = [cosine, _share(sum(w in present for w in asked), len(asked)),
            _share(sum(w in head for w in asked), len(asked)), min(len(answer_words) / 40.0, 3.0),
            has_number, has_year, names, definition]
    crossed = [o * cue for cue in (has_number, has_year, names) for o in onehot]
    return base + onehot + crossed


def hallucination_features(context: str, answer: str, question: str, cos_context: float,
                           cos_question: float) -> list[float]:
    """How much of the answer's content can be found in the context (lexically and semantically)?"""
    ctx_words, q_words, ans_words = words(context), set(words(question)), words(answer)
    ctx_set = set(ctx_words)
    content = [w for w in ans_words if w not in STOPWORDS]
    ctx_bigrams = set(pairwise(ctx_words))
    ans_bigrams = list(pairwise(ans_words))
    return [
        cos_context, cos_question,
        _share(sum(w in ctx_set for w in content), len(content)),
        _share(sum(w not in ctx_set and w not in q_words for w in content), len(content)),
        _share(sum(b in ctx_bigrams for b in ans_bigrams), len(ans_bigrams)),
        _share(sum(w in ("i", "my", "me", "im") for w in ans_words), len(ans_words)),
        math.log1p(len(ans_words)),
    ]


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def unsupported_specifics(context: str, answer: str, question: str = "") -> list[str]:
    """Numbers (digits or words), months and names in the answer that neither the context nor the question contains.

    A faithful answer can paraphrase, but it cannot invent a figure or a name: each one found here is
    direct evidence of an unsupported claim, whatever the style of the answer.
    """
    source = f"{context}\n{question}"
    known_words, known_numbers = set(words(source)), _numbers(source)
    found = [n for n in sorted(_numbers(answer)) if n not in known_numbers]
    found += [w for w in dict.fromkeys(words(answer)) if w in NUMBER_WORDS and w not in known_words]
    months = (m.lower() for m in _MONTH.findall(answer))  # capitalised only: "you may" is not a month
    found += [m for m in dict.fromkeys(months) if m not in known_words]
    for name in dict.fromkeys(_NAME.findall(answer)):
        parts = words(name)
        if parts and not all(p in known_words or p in STOPWORDS or p in MONTHS for p in parts):
            found.append(name)
    return found
