"""Process-level behaviour of the SDK, each case in a fresh interpreter (the global
TracerProvider can be set once per process): an application's own provider is reused,
OTEL_SDK_DISABLED turns everything off, and importing the SDK pulls in no heavy package."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def run(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env={**clean, **env},
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_attaches_to_the_applications_tracer_provider() -> None:
    out = run("""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        memory = InMemorySpanExporter()
        app_provider = TracerProvider()
        app_provider.add_span_processor(SimpleSpanProcessor(memory))
        trace.set_tracer_provider(app_provider)
        from monitor import sdk
        sdk.configure()

        @sdk.observe(name="observed")
        def f():
            with trace.get_tracer("app").start_as_current_span("app-span"):
                pass

        with sdk.context(user_id="u1"):
            f()
        spans = {s.name: s for s in memory.get_finished_spans()}
        assert trace.get_tracer_provider() is app_provider
        assert spans["app-span"].parent.span_id == spans["observed"].context.span_id
        assert spans["app-span"].attributes["user.id"] == "u1"
        print("ok")
    """)
    assert out == "ok"


def test_otel_sdk_disabled_passes_calls_through() -> None:
    out = run("""
        from monitor import sdk
        @sdk.observe(kind="llm")
        def f(x):
            return x * 2
        assert f(21) == 42
        assert not sdk.configure().enabled
        print(sdk.stats()["exported"])
    """, OTEL_SDK_DISABLED="true")
    assert out == "0"


def test_import_pulls_only_opentelemetry() -> None:
    out = run("""
        import sys
        import monitor.sdk
        heavy = {"torch", "pandas", "numpy", "transformers", "sqlalchemy", "fastapi", "pydantic"}
        print(sorted(heavy & {m.split(".")[0] for m in sys.modules}))
    """)
    assert out == "[]"
