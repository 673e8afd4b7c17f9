"""The offline language detector (``monitor.language``), shared by drift and the per-language breakdown."""

from __future__ import annotations

import subprocess
import sys

import pytest

from monitor.language import detect_language, language_name

SENTENCES = {
    "en": "Can you summarise this contract for me?",
    "es": "¿Puedes resumir este contrato para mí?",
    "fr": "Peux-tu résumer ce contrat pour moi ?",
    "de": "Kannst du mir diesen Vertrag zusammenfassen?",
    "pt": "Você pode resumir este contrato para mim?",
    "it": "Puoi riassumere questo contratto per me?",
    "nl": "Kun je dit contract voor mij samenvatten?",
    "pl": "Czy możesz streścić tę umowę?",
    "sv": "Kan du sammanfatta det här avtalet åt mig?",
    "tr": "Bu sözleşmeyi benim için özetler misin?",
    "ru": "Можешь кратко изложить этот договор?",
    "zh": "你能帮我总结一下这份合同吗？",
    "ja": "この契約を要約してもらえますか？",
    "ko": "이 계약서를 요약해 줄 수 있나요?",
    "ar": "هل يمكنك تلخيص هذا العقد؟",
    "el": "Μπορείς να συνοψίσεις αυτό το συμβόλαιο;",
}


@pytest.mark.parametrize(("code", "text"), SENTENCES.items())
def test_detects_the_language_of_a_short_prompt(code: str, text: str) -> None:
    assert detect_language(text) == code


@pytest.mark.parametrize("text", [None, "", "   ", "12345", "ok", "de", "https://example.com/da/la/que?q=1",
                                  "def f(x): return x * 2"])
def test_no_evidence_is_undetermined(text: str | None) -> None:
    assert detect_language(text) == "und"


def test_only_the_start_of_a_long_text_is_read() -> None:
    spanish = "¿Dónde está la estación de tren más cercana?"
    assert detect_language(spanish + " lorem" * 2000) == "es"
    assert detect_language("lorem " * 400 + spanish) == "und"  # past MAX_CHARS


def test_a_word_shared_by_languages_counts_for_each_in_proportion() -> None:
    # "de" is Spanish, French, Portuguese, Dutch, Swedish and Turkish: alone it decides nothing;
    # "het" (Dutch only) tips it.
    assert detect_language("de de de") == "und" and detect_language("de het") == "nl"


def test_readable_names() -> None:
    assert language_name("es") == "Spanish (es)" and language_name("xx") == "xx (xx)"
    assert language_name(None) == "not labelled" and language_name("und") == "undetermined (und)"


def test_the_core_job_imports_no_evaluator_or_dataframe_code() -> None:
    code = ("import sys, monitor.language_job; "
            "print(sorted(m for m in ('evaluators', 'pandas', 'numpy', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
