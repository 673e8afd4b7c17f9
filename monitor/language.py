"""A small, fast, offline language guess: ISO 639-1 code of a text, or "und" (undetermined).

Shared by drift's language-mix feature (``evaluators.drift``) and the per-language token and cost
breakdown (``monitor.language_job``). No model and no dependency, so the core install stays light
and a worker labels thousands of calls a second. On the labelled prompts of ``bench/language.py``
(17 languages) it is right on 95.7% of 257, and on 96.5% of 85 more (10 Latin-script languages)
written after its word lists were fixed; langdetect 1.0.9 scores 96.9% and 97.6% and knows 55
languages, but takes 2–3 ms a text against 12 µs (docs/benchmarks.md).

How: the writing system first (Cyrillic, Arabic, Hebrew, Devanagari, Greek, Thai, Hangul, kana,
Han); for Latin script, the language whose common function words occur most (a word shared by
several languages counts for each in proportion), plus letters only some languages use (ñ, ß,
ã, ł, ı, å, …). A text with no such evidence (a number, code, one unknown word) is "und".
Languages it knows: en es fr de pt it nl pl sv tr, ru ar he hi el th ko ja zh.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

UNDETERMINED = "und"
WORD = re.compile(r"[^\W\d_]+|\d+")
URL = re.compile(r"\b(?:https?|ftp)://\S+|\bwww\.\S+")
MAX_CHARS = 2000  # the start of a text says its language; long prompts are cut here
MAX_WORDS = 300

_FUNCTION_WORDS = {
    "en": "the and is are was were be been of to in that it for you your what how who why when where which with "
          "this these those on not have has had do does did can could would should will may might must i me my we "
          "our they them their he she his her its from at by an as or if so than then there here about into over "
          "after before up out all any some please just also very more most other only such too a",
    "es": "el la los las de del que y en un una unos unas es son está están estoy por para con sin no se lo le les "
          "al como más pero su sus qué cómo cuál cuáles cuándo dónde quién mi mis tu tus yo me te nos muy también "
          "este esta estos estas ese esa eso hay ser fue puedo puede debo tengo hace cuánto desde hasta sobre entre "
          "porque si ya todo a",
    "fr": "le la les de des du et est un une que qui en dans pour pas ne sur au aux avec ce cette ces il elle ils "
          "elles je tu nous vous me te se mon ma mes ton ta tes son sa ses leur quel quelle quels quelles comment "
          "pourquoi quand où plus mais ou donc être avoir été fait peux peut dois c l d j n s qu y très aussi chez "
          "sont ai avons moi toi a",
    "de": "der die das und ist nicht ein eine einen einem einer zu den mit von sich des auf für im dem was wie ich "
          "sie es wer wo warum wann welche welcher welches du mir mich dir dich wir ihr uns sind bin bist hat habe "
          "haben wird werden kann können soll sollte muss auch noch nur aber oder wenn dass bei nach aus um über "
          "unter seit bitte mein meine meinen dein deine kein keine man hier",
    "pt": "o a os as de que e em um uma é não do da dos das para com por se no na nos nas mais como você eu meu "
          "minha meus minhas seu sua ele ela isso este esta esse essa qual quais quando onde porque quem são está "
          "estou foi ser ter tem ao à pelo pela me também muito mas ou já",
    "it": "il lo la gli le di che e è un una uno per non in con del della dei delle dello al alla ai si come sono "
          "cosa chi perché quando dove quale quali mio mia miei mie tuo tua suo sua questo questa quello quella ho "
          "ha hanno anche ma più molto mi ti ci ne sul sulla nel nella da dal dalla tra fra essere stato dell l a",
    "nl": "de het een en van is dat op te zijn niet met voor wat hoe wie ik je jij u mijn mij me we wij ze zij hij "
          "er aan bij uit om naar maar ook nog wel dan als kan kunnen moet wordt worden heeft hebben heb waarom "
          "wanneer waar welke deze dit die door over alsjeblieft alstublieft",
    "pl": "i w na z się nie jest że do to jak co jaki jaka jakie dlaczego gdzie kiedy mi mnie mój moja moje od po "
          "za ale czy o dla oraz są być był była mam ma może mogę przez tak już ten ta te tego jestem",
    "sv": "och i att det som en ett är på för med av till den har inte jag du vi de om kan hur vad varför var när "
          "vilka vilken min mitt mina sig ska skulle från men eller så också efter",
    "tr": "ve bir bu da de ne ile için mi mı mu mü çok daha ben sen biz o gibi var yok nasıl neden nedir nerede "
          "hangi ama veya kadar sonra bana beni",
}
STOPWORDS: dict[str, frozenset[str]] = {lang: frozenset(words.split()) for lang, words in _FUNCTION_WORDS.items()}
# letters only some Latin-script languages use: (letters, languages, weight shared among them)
_LETTERS: tuple[tuple[str, str, float], ...] = (
    ("ñ¿¡", "es", 2.0), ("ãõ", "pt", 2.0), ("ß", "de", 2.0), ("ąęłśźżćń", "pl", 2.0), ("ığş", "tr", 2.0),
    ("å", "sv", 2.0), ("œëïû", "fr", 1.0), ("ìò", "it", 1.0), ("ç", "fr pt tr", 1.0), ("äö", "de sv", 1.0),
    ("ü", "de tr", 1.0), ("êâô", "fr pt", 1.0), ("èù", "fr it", 1.0), ("àé", "fr it pt es", 0.5),
)
SCRIPTS: tuple[tuple[str, int, int], ...] = (
    ("ru", 0x0400, 0x04FF), ("ar", 0x0600, 0x06FF), ("he", 0x0590, 0x05FF), ("hi", 0x0900, 0x097F),
    ("el", 0x0370, 0x03FF), ("th", 0x0E00, 0x0E7F), ("ko", 0xAC00, 0xD7AF), ("ja", 0x3040, 0x30FF),
    ("zh", 0x4E00, 0x9FFF),
)

NAMES = {
    "en": "English", "es": "Spanish", "fr": "French", "de": "German", "pt": "Portuguese", "it": "Italian",
    "nl": "Dutch", "pl": "Polish", "sv": "Swedish", "tr": "Turkish", "ru": "Russian (Cyrillic)", "ar": "Arabic",
    "he": "Hebrew", "hi": "Hindi", "el": "Greek", "th": "Thai", "ko": "Korean", "ja": "Japanese", "zh": "Chinese",
    UNDETERMINED: "undetermined",
}


def language_name(code: str | None) -> str:
    """A readable label for a code: "Spanish (es)"; ``None`` is a call not labelled (no input text, or not yet)."""
    if code is None:
        return "not labelled"
    return f"{NAMES.get(code, code)} ({code})"


def _word_weights() -> dict[str, tuple[tuple[str, float], ...]]:
    """Each function word's languages, with weight 1/k when k languages share the word."""
    langs: dict[str, list[str]] = {}
    for lang, stop in STOPWORDS.items():
        for word in stop:
            langs.setdefault(word, []).append(lang)
    return {w: tuple((lang, 1.0 / len(ls)) for lang in ls) for w, ls in langs.items()}


def _letter_weights() -> dict[str, tuple[tuple[str, float], ...]]:
    out: dict[str, tuple[tuple[str, float], ...]] = {}
    for letters, languages, weight in _LETTERS:
        names = languages.split()
        for ch in letters:
            out[ch] = tuple((lang, weight / len(names)) for lang in names)
    return out


_WORDS = _word_weights()
_CUES = _letter_weights()
_CUE_CHARS = frozenset(_CUES)


def detect_language(text: str | None) -> str:
    """ISO 639-1 code of the text's language, or "und" when there is no evidence (empty, code, too short)."""
    if not text:
        return UNDETERMINED
    head = URL.sub(" ", text[:MAX_CHARS])  # a URL's words (com, www, path parts) say nothing
    return guess_language(head, WORD.findall(head.lower())[:MAX_WORDS])


def guess_language(text: str, words: Sequence[str]) -> str:
    """ISO 639-1 code of the most likely language, or "und"; ``words`` are the lower-cased word tokens."""
    script = _script(text)
    if script is not None:
        return script
    scores: dict[str, float] = {}
    for word in words:
        for lang, weight in _WORDS.get(word, ()):
            scores[lang] = scores.get(lang, 0.0) + weight
    for ch in _CUE_CHARS.intersection(text[:MAX_CHARS].lower()):
        for lang, weight in _CUES[ch]:
            scores[lang] = scores.get(lang, 0.0) + weight
    if not scores:
        return UNDETERMINED
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] >= 1.0 else UNDETERMINED


def _script(text: str) -> str | None:
    """The non-Latin writing system most of the first 200 letters use, if any (kana wins over Han for ja)."""
    counts: dict[str, int] = {}
    letters = 0
    for ch in text[:200]:
        code = ord(ch)
        if code < 0x0370:
            letters += ch.isalpha()
            continue
        for name, low, high in SCRIPTS:
            if low <= code <= high:
                counts[name] = counts.get(name, 0) + 1
                letters += 1
                break
    if not counts:
        return None
    name = max(counts, key=lambda k: counts[k])
    if name == "zh" and counts.get("ja"):
        name = "ja"
    return name if counts[name] * 2 >= letters else None
