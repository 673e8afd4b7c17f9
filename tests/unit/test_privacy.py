"""Redaction detectors, the content filter on spans and log records, and the privacy settings."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from monitor.config import Settings
from monitor.domain import LLMCall, LogEvent, Span
from monitor.privacy import TextRedactor, build_content_filter, build_redactor, luhn_ok

ALL = ("email", "phone", "card", "secret")


@pytest.fixture(scope="module")
def redact() -> TextRedactor:
    redactor = build_redactor(ALL, {"order": r"ORD-\d{6}"})
    assert redactor is not None
    return redactor


@pytest.mark.parametrize(("text", "expected"), [
    ("write to alice.smith+tag@example.co.uk today", "write to [REDACTED:email] today"),
    ("call +1 (415) 555-0100 now", "call [REDACTED:phone] now"),
    ("call 415-555-0100 or 415.555.0100", "call [REDACTED:phone] or [REDACTED:phone]"),
    ("uk +44 20 7946 0958, e164 +14155550100", "uk [REDACTED:phone], e164 [REDACTED:phone]"),
    ("visa 4111 1111 1111 1111.", "visa [REDACTED:card]."),
    ("mc 5500-0000-0000-0004 amex 378282246310005", "mc [REDACTED:card] amex [REDACTED:card]"),
    ("key sk-proj-Abcdefghijklmnopqrstuvwx12", "key [REDACTED:secret]"),
    ("anthropic sk-ant-api03-abcdefghijklmnopqrstu", "anthropic [REDACTED:secret]"),
    ("aws AKIAIOSFODNN7EXAMPLE", "aws [REDACTED:secret]"),
    ("gh ghp_abcdefghijklmnopqrstuvwxyz0123456789", "gh [REDACTED:secret]"),
    ("Authorization: Bearer abcdef0123456789abcdef.xyz", "Authorization: Bearer [REDACTED:secret]"),
    ("https://x.io/?api_key=hunter2hunter2&q=1", "https://x.io/?api_key=[REDACTED:secret]&q=1"),
    ("sig=Zx81kQp0Lm2Nv7Bc9Rt4Yu6Wi3Oe5As", "sig=[REDACTED:secret]"),
    ('{"password": "correct horse"}', '{"password": "[REDACTED:secret]"}'),
    ("ticket ORD-123456 shipped", "ticket [REDACTED:order] shipped"),
])
def test_each_kind_is_redacted(redact: TextRedactor, text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", [
    "order 4111111111111112 (fails Luhn) and 4000 1234 5678 9011",  # card-shaped, Luhn-invalid
    "timestamp 1764000000000000000, span 12345678901234567",  # long numbers that are not cards
    "dates 2024-11-27, 11-27-2024, 12.03.2024; ip 192.168.100.200; version 1.2.3",
    "see https://example.com/docs/v2/page1234567890abcdef for input_tokens=12345678",
    '{"tokenizer": "sentencepiece", "author": "Shakespeare", "max_tokens": 4096, "model": "gpt-4o-mini"}',
    "Note: the answer is 42. Call it a day.",
])
def test_lookalikes_are_left_alone(redact: TextRedactor, text: str) -> None:
    assert redact(text) == text


def test_luhn() -> None:
    assert luhn_ok("4111111111111111") and luhn_ok("378282246310005")
    assert not luhn_ok("4111111111111112") and not luhn_ok("4000123456789011")


def test_json_escapes_survive_redaction(redact: TextRedactor) -> None:
    import json

    text = json.dumps({"content": "hi\nalice@example.com\tcall 415-555-0100"})
    out = redact(text)
    assert json.loads(out) == {"content": "hi\n[REDACTED:email]\tcall [REDACTED:phone]"}


def test_only_configured_kinds_run() -> None:
    emails_only = build_redactor(["email"], {})
    assert emails_only is not None
    assert emails_only("a@b.io 4111 1111 1111 1111") == "[REDACTED:email] 4111 1111 1111 1111"
    assert build_redactor([], {}) is None


def test_pathological_input_stays_linear(redact: TextRedactor) -> None:
    """Look-behind anchors keep every pattern linear: 256 KiB runs take milliseconds, not minutes."""
    for text in ("a" * 262_144, "a@" * 131_072, "1 " * 131_072, "ab=" * 87_381, "415-555-0100 " * 20_000):
        start = time.perf_counter()
        redact(text)
        assert time.perf_counter() - start < 1.0


def _span(attrs: dict, events: list | None = None) -> Span:
    return Span(trace_id="a" * 32, span_id="b" * 16, parent_span_id=None, name="chat", kind=3, start_ns=1,
                end_ns=2, status_code=0, status_message=None, attributes=attrs, resource={},
                events=events or [])


def test_filter_redacts_columns_content_attributes_and_events() -> None:
    content = build_content_filter(ALL, {}, store_content=True)
    assert content is not None
    span = _span({"gen_ai.input.messages": '[{"role":"user","content":"I am bob@x.org"}]',
                  "gen_ai.prompt.0.content": "card 4111111111111111", "llm.input_messages.0.message.content":
                  "ring 415-555-0100", "retrieval.documents.0.document.content": "key AKIAIOSFODNN7EXAMPLE",
                  "input.value": ["nested", {"deep": "carol@y.com"}], "user.id": "dave@z.com",
                  "gen_ai.usage.input_tokens": 10},
                 [{"name": "gen_ai.user.message", "time_ns": 1, "attributes": {"content": "eve@w.io"}}])
    span.llm = LLMCall(input_text="I am bob@x.org", output_text="mail me: bob@x.org",
                       system_instructions="never say sk-abcdefghijklmnopqrstuvwx",
                       retrieval_context=["AKIAIOSFODNN7EXAMPLE"])
    content.span(span)
    call = span.llm
    assert (call.input_text, call.output_text) == ("I am [REDACTED:email]", "mail me: [REDACTED:email]")
    assert call.system_instructions == "never say [REDACTED:secret]"
    assert call.retrieval_context == ["[REDACTED:secret]"]
    attrs = span.attributes
    assert "[REDACTED:email]" in attrs["gen_ai.input.messages"] and "bob" not in attrs["gen_ai.input.messages"]
    assert attrs["gen_ai.prompt.0.content"] == "card [REDACTED:card]"
    assert attrs["llm.input_messages.0.message.content"] == "ring [REDACTED:phone]"
    assert attrs["retrieval.documents.0.document.content"] == "key [REDACTED:secret]"
    assert attrs["input.value"] == ["nested", {"deep": "[REDACTED:email]"}]
    assert attrs["user.id"] == "dave@z.com"  # identifiers are not content: only content attributes are scanned
    assert attrs["gen_ai.usage.input_tokens"] == 10
    assert span.events[0]["attributes"] == {"content": "[REDACTED:email]"}


def test_store_content_false_keeps_metadata_only() -> None:
    content = build_content_filter((), {}, store_content=False)
    assert content is not None
    span = _span({"gen_ai.input.messages": "[]", "gen_ai.output.messages": "[]", "input.value": "hi",
                  "gen_ai.prompt.0.content": "x", "gen_ai.prompt.0.role": "user",
                  "gen_ai.completion.0.finish_reason": "stop", "retrieval.documents.0.document.id": "d1",
                  "retrieval.documents.0.document.content": "doc", "gen_ai.request.model": "m"},
                 [{"name": "gen_ai.choice", "attributes": {"index": 0, "message": "answer", "finish_reason": "stop"}},
                  {"name": "exception", "attributes": {"exception.type": "ValueError"}}])
    span.llm = LLMCall(input_text="q", output_text="a", system_instructions="s", retrieval_context=["d"])
    content.span(span)
    assert (span.llm.input_text, span.llm.output_text, span.llm.system_instructions,
            span.llm.retrieval_context) == (None, None, None, None)
    assert span.attributes == {"gen_ai.prompt.0.role": "user", "gen_ai.completion.0.finish_reason": "stop",
                               "retrieval.documents.0.document.id": "d1", "gen_ai.request.model": "m"}
    assert span.events[0]["attributes"] == {"index": 0, "finish_reason": "stop"}
    assert span.events[1]["attributes"] == {"exception.type": "ValueError"}


def test_filter_on_log_records() -> None:
    record = LogEvent(trace_id=None, span_id=None, time_ns=1, event_name="gen_ai.user.message", severity=None,
                      body={"content": "I am bob@x.org", "role": "user"},
                      attributes={"gen_ai.system": "openai", "note": "call 415-555-0100"}, resource={})
    plain = LogEvent(trace_id=None, span_id=None, time_ns=1, event_name=None, severity=None,
                     body="login by bob@x.org", attributes={"user": "bob@x.org"}, resource={})
    content = build_content_filter(["email", "phone"], {}, store_content=True)
    assert content is not None
    content.log(record)
    content.log(plain)
    assert record.body == {"content": "I am [REDACTED:email]", "role": "user"}
    assert record.attributes == {"gen_ai.system": "openai", "note": "call [REDACTED:phone]"}
    assert plain.body == "login by [REDACTED:email]" and plain.attributes == {"user": "bob@x.org"}
    dropped = build_content_filter((), {}, store_content=False)
    assert dropped is not None
    record.body = {"content": "secret"}
    dropped.log(record)
    assert record.body is None and record.attributes == {"gen_ai.system": "openai"}
    app_log = LogEvent(trace_id=None, span_id=None, time_ns=1, event_name=None, severity=None, body="started",
                       attributes={"gen_ai.prompt": "hi", "input.value": "x", "pid": 7}, resource={})
    dropped.log(app_log)
    assert app_log.body == "started" and app_log.attributes == {"pid": 7}


def test_privacy_is_off_by_default() -> None:
    settings = Settings()
    assert settings.privacy.kinds == () and settings.privacy.store_content
    assert build_content_filter(settings.privacy.kinds, settings.privacy.patterns, True) is None


def test_privacy_settings_shapes() -> None:
    assert Settings(privacy={"redact": True}).privacy.kinds == ALL
    assert Settings(privacy={"redact": ["card", "email"]}).privacy.kinds == ("card", "email")
    with pytest.raises(ValidationError, match="phonee"):
        Settings(privacy={"redact": ["phonee"]})


def test_invalid_user_pattern_is_a_startup_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="matches the empty string"):
        Settings(privacy={"patterns": {"any": ".*"}})
    config = tmp_path / "llm-monitor.toml"
    config.write_text('[privacy]\nredact = true\npatterns = { order_id = "ORD-(\\\\d+" }\n')
    monkeypatch.setenv("LLM_MONITOR_CONFIG", str(config))
    with pytest.raises(ValidationError, match=r"privacy.patterns.order_id: invalid regular expression .*missing \)"):
        Settings()


def test_env_configures_privacy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_MONITOR_PRIVACY__REDACT", '["email"]')
    monkeypatch.setenv("LLM_MONITOR_PRIVACY__STORE_CONTENT", "false")
    settings = Settings()
    assert settings.privacy.kinds == ("email",) and settings.privacy.store_content is False


def test_cli_refuses_to_start_with_a_bad_pattern(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from monitor.cli import app

    config = tmp_path / "llm-monitor.toml"
    config.write_text('[privacy]\npatterns = { ticket = "ORD-(\\\\d+" }\n')
    monkeypatch.setenv("LLM_MONITOR_CONFIG", str(config))
    monkeypatch.setenv("LLM_MONITOR_DATABASE_URL", f"sqlite:///{tmp_path / 'never.db'}")
    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 2
    assert "invalid settings" in result.output
    assert "privacy.patterns.ticket: invalid regular expression" in result.output
    assert not (tmp_path / "never.db").exists()  # nothing started
