"""Ingest limits: values cut with a marker, attributes beyond the count dropped and counted, and
items beyond the per-request count rejected with a reason."""

from __future__ import annotations

from collectors.otlp.values import MAX_VALUE_CHARS, TRUNCATION_MARK
from monitor.domain import LLMCall, LogEvent, Span
from monitor.ingest import IngestResult
from monitor.limits import DROPPED_KEY, Limits, limit_attributes, limit_log, limit_span, over_count


def _span(attrs: dict) -> Span:
    return Span(trace_id="a" * 32, span_id="b" * 16, parent_span_id=None, name="n" * 100, kind=3, start_ns=1,
                end_ns=2, status_code=2, status_message="m" * 100, attributes=attrs, resource={},
                events=[{"name": "e", "attributes": {"k": "v" * 100}}])


def test_defaults_leave_a_normal_span_untouched() -> None:
    attrs = {f"k{i}": "x" * 1000 for i in range(50)}
    span = _span(attrs)
    limit_span(span, Limits())
    assert span.attributes is attrs  # nothing copied: the default path costs one length check
    assert Limits().max_value_chars == MAX_VALUE_CHARS and not Limits().cuts_values


def test_long_values_are_cut_with_a_marker_everywhere() -> None:
    span = _span({"short": "ok", "long": "y" * 500, "nested": ["z" * 500, {"deep": "w" * 500}], "n": 5})
    span.llm = LLMCall(input_text="i" * 500, output_text="o" * 500, system_instructions="s" * 500,
                       retrieval_context=["d" * 500])
    limit_span(span, Limits(max_value_chars=64))
    cut = "y" * 64 + TRUNCATION_MARK
    assert span.attributes["long"] == cut and span.attributes["short"] == "ok" and span.attributes["n"] == 5
    assert span.attributes["nested"] == ["z" * 64 + TRUNCATION_MARK, {"deep": "w" * 64 + TRUNCATION_MARK}]
    assert span.events[0]["attributes"]["k"] == "v" * 64 + TRUNCATION_MARK
    assert span.name == "n" * 64 + TRUNCATION_MARK and span.status_message == "m" * 64 + TRUNCATION_MARK
    call = span.llm
    assert call.input_text == "i" * 64 + TRUNCATION_MARK and call.output_text == "o" * 64 + TRUNCATION_MARK
    assert call.system_instructions == "s" * 64 + TRUNCATION_MARK
    assert call.retrieval_context == ["d" * 64 + TRUNCATION_MARK]


def test_attributes_beyond_the_count_are_dropped_and_counted() -> None:
    attrs = {f"k{i:03}": i for i in range(300)}
    kept = limit_attributes(attrs, Limits(max_attributes=100))
    assert [k for k in kept if k != DROPPED_KEY] == [f"k{i:03}" for i in range(100)]
    assert kept[DROPPED_KEY] == 200
    again = limit_attributes({**kept, **{f"x{i}": i for i in range(10)}}, Limits(max_attributes=100))
    assert again[DROPPED_KEY] == 200 + 11  # already-dropped counts add up (the old counter itself is dropped too)


def test_log_records_are_limited_too() -> None:
    record = LogEvent(trace_id=None, span_id=None, time_ns=1, event_name=None, severity=None,
                      body={"content": "b" * 500}, attributes={f"a{i}": i for i in range(20)}, resource={})
    limit_log(record, Limits(max_value_chars=64, max_attributes=10))
    assert record.body == {"content": "b" * 64 + TRUNCATION_MARK}
    assert len(record.attributes) == 11 and record.attributes[DROPPED_KEY] == 10


def test_items_over_the_request_count_are_rejected_with_one_clear_reason() -> None:
    items = list(range(12))
    kept, rejected = over_count(items, Limits(max_items=10), "spans")
    assert kept == list(range(10)) and [r.index for r in rejected] == [10, 11]
    assert "request has 12 spans, over the limit of 10" in rejected[0].reason
    assert "max_spans_per_request" in rejected[0].reason
    result = IngestResult(10, rejected)
    assert result.error_message == rejected[0].reason  # one distinct reason, said once
    assert over_count(items, Limits(max_items=12), "spans") == (items, [])
