"""The real OpenAI instrumentations, live, into a real llm-monitor, on SQLite and PostgreSQL.

``tests/fixtures/emitters/generate.py`` drives openai-v2 (both semconv paths), OpenLLMetry and
OpenInference against a stub OpenAI server and writes what they export as OTLP protobuf. Those
bodies are POSTed to ``/v1/traces`` and ``/v1/logs`` and the calls are read back through the REST
API. openai-v2's default path puts message content only in log records, so that case is checked
with the logs arriving both before and after their spans.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collectors.otlp.traces import PROTOBUF, decode_traces
from collectors.semconv import NormalizeOptions, normalize_span
from monitor.config import Settings
from monitor.domain import Span
from monitor.server import ServiceHandle, start_in_thread

pytestmark = pytest.mark.slow

GENERATOR = Path(__file__).resolve().parents[1] / "fixtures" / "emitters" / "generate.py"
GENERATOR_TIMEOUT_S = 300
# Fields whose stored value must equal what normalisation produced from the same span.
NORMALISED_FIELDS = ("operation", "provider", "request_model", "response_model", "input_tokens", "output_tokens",
                     "total_tokens", "cached_input_tokens", "reasoning_tokens", "finish_reasons", "error_type",
                     "server_address", "user_id", "session_id", "retrieval_context")


def _load_generator() -> ModuleType:
    name = "emitter_fixture_generator"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, GENERATOR)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


gen = _load_generator()
STREAM_ANSWER = "".join(gen.STREAM_PIECES)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run every emitter once for the module; ``--offline``: the test never downloads anything."""
    out = tmp_path_factory.mktemp("emitters")
    cmd = [sys.executable, str(GENERATOR), "--offline", "--out", str(out)]
    for emitter in gen.EMITTERS:
        if emitter.instrumentation != "openai_v2" or gen.util_genai_available():
            cmd += ["--only", emitter.name]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=GENERATOR_TIMEOUT_S, check=False)
    assert result.returncode == 0, f"generate.py failed:\n{result.stdout}\n{result.stderr}"
    return out


def _require(recorded: Path, name: str) -> Path:
    if not (recorded / f"{name}.traces.pb").exists():
        pytest.skip(f"{name} not generated: the venv lacks {gen.UTIL_GENAI}=={gen.DEFAULT_UTIL_GENAI} "
                    "(install the project's dev extra)")
    return recorded


@pytest.fixture
def service(settings: Settings) -> Iterator[ServiceHandle]:
    handle = start_in_thread(settings, with_grpc=False)
    yield handle
    handle.stop()


def _base(service: ServiceHandle) -> str:
    return f"http://127.0.0.1:{service.http_port}"


def _post_traces(base: str, body: bytes) -> None:
    response = httpx.post(f"{base}/v1/traces", content=body, headers={"Content-Type": PROTOBUF}, timeout=30)
    assert response.status_code == 200, response.text
    assert ExportTraceServiceResponse.FromString(response.content).partial_success.rejected_spans == 0


def _post_logs(base: str, body: bytes) -> None:
    response = httpx.post(f"{base}/v1/logs", content=body, headers={"Content-Type": PROTOBUF}, timeout=30)
    assert response.status_code == 200, response.text
    assert ExportLogsServiceResponse.FromString(response.content).partial_success.rejected_log_records == 0


def _post_emitter(base: str, recorded: Path, name: str, *, logs_first: bool = False) -> None:
    traces = (recorded / f"{name}.traces.pb").read_bytes()
    logs_path = recorded / f"{name}.logs.pb"
    logs = logs_path.read_bytes() if logs_path.exists() else None
    if logs is not None and logs_first:
        _post_logs(base, logs)
    _post_traces(base, traces)
    if logs is not None and not logs_first:
        _post_logs(base, logs)


def _spans(recorded: Path, name: str) -> list[Span]:
    batch = decode_traces((recorded / f"{name}.traces.pb").read_bytes(), PROTOBUF)
    return [normalize_span(span, NormalizeOptions({})) for span in batch.spans]


def _stored(base: str, span: Span) -> dict[str, Any]:
    response = httpx.get(f"{base}/api/v1/traces/{span.trace_id}", timeout=30)
    assert response.status_code == 200, response.text
    trace = response.json()
    nodes = list(trace["roots"])
    while nodes:
        node = nodes.pop()
        if node["span_id"] == span.span_id:
            return node
        nodes.extend(node["children"])
    raise AssertionError(f"span {span.span_id} not in trace {span.trace_id}")


def _chat_spans(spans: list[Span]) -> tuple[Span, Span]:
    chat, stream = (s for s in spans if s.llm is not None and s.llm.operation == "chat")
    return chat, stream


# --------------------------------------------------------------------------- every emitter


@pytest.mark.parametrize("name", [e.name for e in gen.EMITTERS])
def test_emitter_calls_are_stored_and_read_back(service: ServiceHandle, recorded: Path, name: str) -> None:
    base = _base(service)
    _post_emitter(base, _require(recorded, name), name)
    spans = _spans(recorded, name)

    calls = httpx.get(f"{base}/api/v1/calls", params={"limit": 100}, timeout=30).json()["items"]
    assert sorted(c["span_id"] for c in calls) == sorted(s.span_id for s in spans)
    for span in spans:
        assert span.llm is not None
        node = _stored(base, span)
        assert node["is_llm"] and node["name"] == span.name and node["kind"] == span.kind
        assert node["service_name"] == "fixture-app"
        assert node["duration_ms"] == pytest.approx(span.duration_ms, abs=0.01)
        for field in NORMALISED_FIELDS:
            expected = getattr(span.llm, field)
            if field == "finish_reasons" and expected is None and (recorded / f"{name}.logs.pb").exists():
                # openai-v2 leaves it off streaming spans; the writer takes it from the gen_ai.choice log
                assert node[field] == (None if span.llm.operation == "embeddings" else ["stop"]), node[field]
                continue
            assert node[field] == expected, field
        if span.llm.ttft_ms is None:
            assert node["ttft_ms"] is None
        else:
            assert node["ttft_ms"] == pytest.approx(span.llm.ttft_ms)
        assert node["cost_source"] is not None and node["cost_usd"] > 0  # gpt-4o-mini & co. are priced

    chat, stream = (_stored(base, s) for s in _chat_spans(spans))
    usage = gen.CHAT_USAGE
    assert (chat["input_tokens"], chat["output_tokens"], chat["total_tokens"]) == (
        usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"])
    # Content: on the span for every emitter but openai-v2's default path, where it comes from the logs.
    assert (chat["system_instructions"], chat["input_text"], chat["output_text"]) == (
        gen.SYSTEM_PROMPT, gen.USER_PROMPT, gen.CHAT_ANSWER)
    assert (stream["system_instructions"], stream["input_text"], stream["output_text"]) == (
        None, gen.USER_PROMPT, STREAM_ANSWER)


def test_all_emitters_in_one_project(service: ServiceHandle, recorded: Path) -> None:
    """Everything together: each call listed once, filterable by model, newest first."""
    base = _base(service)
    names = [e.name for e in gen.EMITTERS if (recorded / f"{e.name}.traces.pb").exists()]
    for name in names:
        _post_emitter(base, recorded, name)
    expected = [s for name in names for s in _spans(recorded, name)]
    page = httpx.get(f"{base}/api/v1/calls", params={"limit": 100}, timeout=30).json()
    assert len(page["items"]) == len(expected) and page["next_cursor"] is None
    starts = [c["start_time"] for c in page["items"]]
    assert starts == sorted(starts, reverse=True)
    legacy = httpx.get(f"{base}/api/v1/calls", params={"model": gen.LEGACY_MODEL}, timeout=30).json()["items"]
    assert {c["span_id"] for c in legacy} == {s.span_id for s in expected
                                              if s.llm is not None and s.llm.operation == "text_completion"}


# --------------------------------------------------------------------------- openai-v2: content only in logs


@pytest.mark.parametrize("logs_first", [True, False], ids=["logs-before-spans", "spans-before-logs"])
def test_openai_v2_content_from_log_records(service: ServiceHandle, recorded: Path, logs_first: bool) -> None:
    base = _base(service)
    _post_emitter(base, _require(recorded, "openai_v2"), "openai_v2", logs_first=logs_first)
    chat_span, stream_span = _chat_spans(_spans(recorded, "openai_v2"))
    assert chat_span.llm is not None and chat_span.llm.input_text is None  # nothing on the span itself

    chat, stream = _stored(base, chat_span), _stored(base, stream_span)
    assert (chat["system_instructions"], chat["input_text"], chat["output_text"]) == (
        gen.SYSTEM_PROMPT, gen.USER_PROMPT, gen.CHAT_ANSWER)
    assert (stream["input_text"], stream["output_text"]) == (gen.USER_PROMPT, STREAM_ANSWER)
    listed = {c["span_id"]: c for c in httpx.get(f"{base}/api/v1/calls", timeout=30).json()["items"]}
    assert listed[chat_span.span_id]["output_text"] == gen.CHAT_ANSWER
    assert listed[stream_span.span_id]["input_text"] == gen.USER_PROMPT
