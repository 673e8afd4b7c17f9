"""``@observe`` and ``span(...)``: OpenTelemetry GenAI spans around application code.

One ``_Run`` per call holds the span and its context; the four wrappers (function, coroutine,
generator, async generator) only differ in how they drive the wrapped code. Capturing input and
output never raises into the application: a failure to record is logged and the call goes on.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from monitor.sdk import extract
from monitor.sdk.setup import SdkState, state

log = logging.getLogger("monitor.sdk")
F = TypeVar("F", bound=Callable[..., Any])

# kind -> (gen_ai.operation.name, OTel span kind)
KINDS: dict[str, tuple[str | None, SpanKind]] = {
    "llm": ("chat", SpanKind.CLIENT),
    "embedding": ("embeddings", SpanKind.CLIENT),
    "retrieval": ("retrieval", SpanKind.CLIENT),
    "tool": ("execute_tool", SpanKind.INTERNAL),
    "agent": ("invoke_agent", SpanKind.INTERNAL),
    "chain": (None, SpanKind.INTERNAL),
    "span": (None, SpanKind.INTERNAL),
}
_GENAI_KINDS = frozenset({"llm", "embedding"})


class _Spec:
    """What the decorator knows before any call: name, kind, static attributes, signature."""

    __slots__ = ("attributes", "capture_input", "capture_output", "kind", "name", "otel_kind", "signature",
                 "tokenizer")

    def __init__(self, fn: Callable[..., Any] | None, name: str | None, kind: str, model: str | None,
                 provider: str | None, capture_input: bool, capture_output: bool, tokenizer: Any) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}")
        operation, self.otel_kind = KINDS[kind]
        self.kind = kind
        default = getattr(fn, "__qualname__", "span") if fn is not None else "span"
        if name is None and operation in ("chat", "embeddings") and model:
            name = f"{operation} {model}"
        self.name = name or default
        attrs: dict[str, Any] = {"llm_monitor.span.kind": kind}
        if operation:
            attrs["gen_ai.operation.name"] = operation
        if model:
            attrs["gen_ai.request.model"] = model
        if provider:
            attrs["gen_ai.provider.name"] = provider
        if kind == "tool":
            attrs["gen_ai.tool.name"] = self.name
        self.attributes = attrs
        self.capture_input, self.capture_output, self.tokenizer = capture_input, capture_output, tokenizer
        self.signature = _signature(fn)


def _signature(fn: Callable[..., Any] | None) -> inspect.Signature | None:
    if fn is None:
        return None
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


class _Run:
    """One observed call: its span, its context, and what it has seen so far."""

    __slots__ = ("acc", "ctx", "first_chunk", "input_ids", "span", "spec", "st", "start")

    def __init__(self, spec: _Spec, st: SdkState, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.spec, self.st = spec, st
        self.span = st.tracer.start_span(spec.name, kind=spec.otel_kind, attributes=spec.attributes)
        self.ctx = trace.set_span_in_context(self.span)
        self.start = time.perf_counter()
        self.acc: extract.StreamAccumulator | None = None
        self.first_chunk = True
        self.input_ids = None
        if self.span.is_recording() and (args or kwargs):
            _safely(self._record_input, args, kwargs)

    def _record_input(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        spec, span = self.spec, self.span
        arguments = _bind(spec.signature, args, kwargs)
        model = arguments.get("model")
        if isinstance(model, str) and "gen_ai.request.model" not in spec.attributes:
            span.set_attribute("gen_ai.request.model", model)
        if spec.tokenizer is not None:
            self.input_ids = arguments.get("input_ids")
        if not (self.st.capture_content and spec.capture_input):
            return
        if spec.kind in _GENAI_KINDS:
            messages = extract.input_messages(arguments)
            if messages is not None:
                self._set_text("gen_ai.input.messages", _dumps(messages))
                # system messages already in the history are not repeated as system instructions
                has_system = any(m.get("role") in ("system", "developer") for m in messages)
                system = None if has_system else extract.system_instructions(arguments)
                if system:
                    self._set_text("gen_ai.system_instructions", _dumps(system))
                return
        key = "gen_ai.tool.call.arguments" if spec.kind == "tool" else "input.value"
        self._set_text(key, _dumps(arguments))

    def _set_text(self, key: str, text: str) -> None:
        limit = self.st.max_content_chars
        if len(text) > limit:
            text = text[:limit] + "…[truncated]"
        if self.st.redact is not None:
            text = self.st.redact(text)
        self.span.set_attribute(key, text)

    def record_output(self, value: Any) -> None:
        if self.span.is_recording():
            _safely(self._record_output, value)

    def _record_output(self, value: Any) -> None:
        found = extract.extract_response(value, self.spec.tokenizer, self.input_ids) \
            if not isinstance(value, str | int | float | bool | type(None)) else None
        self._record_extracted(found, value)

    def _record_extracted(self, found: extract.Extracted | None, raw: Any) -> None:
        span, capture = self.span, self.st.capture_content and self.spec.capture_output
        if found is not None:
            _set_usage(span, found)
            if capture and found.output_messages:
                self._set_text("gen_ai.output.messages", _dumps(found.output_messages))
            return
        if not capture or raw is None:
            return
        if self.spec.kind in _GENAI_KINDS and isinstance(raw, str):
            message = [{"role": "assistant", "parts": [{"type": "text", "content": raw}]}]
            self._set_text("gen_ai.output.messages", _dumps(message))
        else:
            key = "gen_ai.tool.call.result" if self.spec.kind == "tool" else "output.value"
            self._set_text(key, raw if isinstance(raw, str) else _dumps(raw))

    def on_chunk(self, chunk: Any) -> None:
        if self.first_chunk:
            self.first_chunk = False
            if self.span.is_recording():
                self.span.set_attribute("gen_ai.response.time_to_first_chunk", time.perf_counter() - self.start)
                self.span.set_attribute("gen_ai.request.stream", True)
        if self.span.is_recording():
            if self.acc is None:
                self.acc = extract.StreamAccumulator()
            _safely(self.acc.add, chunk)

    def finish_stream(self, closed_early: bool = False) -> None:
        if self.span.is_recording():
            if closed_early:
                self.span.set_attribute("llm_monitor.stream.closed_early", True)
            if self.acc is not None:
                _safely(self._finish_acc)
        self.span.end()

    def _finish_acc(self) -> None:
        assert self.acc is not None
        found = self.acc.result()
        self._record_extracted(found, found.output_text)

    def fail(self, exc: BaseException) -> None:
        if self.span.is_recording():
            self.span.set_attribute("error.type", type(exc).__qualname__)
            self.span.record_exception(exc)
            self.span.set_status(Status(StatusCode.ERROR, str(exc)[:500]))
        self.span.end()


def _set_usage(span: Any, found: extract.Extracted) -> None:
    pairs = (("gen_ai.response.model", found.model), ("gen_ai.response.id", found.response_id),
             ("gen_ai.usage.input_tokens", found.input_tokens), ("gen_ai.usage.output_tokens", found.output_tokens),
             ("gen_ai.usage.cache_read.input_tokens", found.cached_input_tokens),
             ("gen_ai.usage.reasoning.output_tokens", found.reasoning_tokens),
             ("gen_ai.response.finish_reasons", found.finish_reasons))
    span.set_attributes({k: v for k, v in pairs if v is not None})


def _safely(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception as exc:  # recording must never break the application
        log.debug("llm-monitor could not record %s: %r", getattr(fn, "__name__", fn), exc)


def _bind(sig: inspect.Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    if sig is None:
        return {"args": list(args), **kwargs}
    try:
        bound = sig.bind_partial(*args, **kwargs).arguments
    except TypeError:
        return {"args": list(args), **kwargs}
    bound.pop("self", None)
    bound.pop("cls", None)
    if len(bound) == 1:
        (only,) = bound.values()
        if isinstance(only, dict):
            return only
    return bound


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_fallback, ensure_ascii=False)


def _fallback(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump()
    return repr(value)


def observe(fn: F | None = None, *, name: str | None = None, kind: str = "span", model: str | None = None,
            provider: str | None = None, capture_input: bool = True, capture_output: bool = True,
            tokenizer: Any = None) -> Any:
    """Trace a function, method, coroutine, generator or async generator as an OpenTelemetry span.

    ``kind`` is one of llm, chain, tool, retrieval, embedding, agent or span. Exceptions are
    recorded (status ERROR, ``error.type``) and re-raised unchanged.
    """
    if fn is None:
        return lambda f: observe(f, name=name, kind=kind, model=model, provider=provider,
                                 capture_input=capture_input, capture_output=capture_output, tokenizer=tokenizer)
    spec = _Spec(fn, name, kind, model, provider, capture_input, capture_output, tokenizer)
    if inspect.isasyncgenfunction(fn):
        return functools.wraps(fn)(_async_gen_wrapper(fn, spec))
    if inspect.iscoroutinefunction(fn):
        return functools.wraps(fn)(_coroutine_wrapper(fn, spec))
    if inspect.isgeneratorfunction(fn):
        return functools.wraps(fn)(_gen_wrapper(fn, spec))
    return functools.wraps(fn)(_function_wrapper(fn, spec))


def _function_wrapper(fn: Callable[..., Any], spec: _Spec) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        st = state()
        if not st.enabled:
            return fn(*args, **kwargs)
        run = _Run(spec, st, args, kwargs)
        token = otel_context.attach(run.ctx)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            otel_context.detach(token)
            run.fail(exc)
            raise
        otel_context.detach(token)
        run.record_output(result)
        run.span.end()
        return result

    return wrapper


def _coroutine_wrapper(fn: Callable[..., Any], spec: _Spec) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        st = state()
        if not st.enabled:
            return await fn(*args, **kwargs)
        run = _Run(spec, st, args, kwargs)
        token = otel_context.attach(run.ctx)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            otel_context.detach(token)
            run.fail(exc)
            raise
        otel_context.detach(token)
        run.record_output(result)
        run.span.end()
        return result

    return wrapper


def _gen_wrapper(fn: Callable[..., Any], spec: _Spec) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        st = state()
        if not st.enabled:
            return (yield from fn(*args, **kwargs))
        run = _Run(spec, st, args, kwargs)
        gen = fn(*args, **kwargs)
        to_send: Any = None
        to_throw: BaseException | None = None
        try:
            while True:
                token = otel_context.attach(run.ctx)
                try:
                    if to_throw is not None:
                        exc, to_throw = to_throw, None
                        item = gen.throw(exc)
                    else:
                        item = gen.send(to_send)
                except StopIteration as stop:
                    run.finish_stream()
                    return stop.value
                finally:
                    otel_context.detach(token)
                run.on_chunk(item)
                try:
                    to_send = yield item
                except GeneratorExit:
                    gen.close()
                    run.finish_stream(closed_early=True)
                    raise
                except BaseException as exc:
                    to_throw = exc
        except GeneratorExit:
            raise
        except BaseException as exc:
            run.fail(exc)
            raise

    return wrapper


def _async_gen_wrapper(fn: Callable[..., Any], spec: _Spec) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        st = state()
        if not st.enabled:
            async for item in fn(*args, **kwargs):
                yield item
            return
        run = _Run(spec, st, args, kwargs)
        agen = fn(*args, **kwargs)
        to_send: Any = None
        to_throw: BaseException | None = None
        try:
            while True:
                token = otel_context.attach(run.ctx)
                try:
                    if to_throw is not None:
                        exc, to_throw = to_throw, None
                        item = await agen.athrow(exc)
                    else:
                        item = await agen.asend(to_send)
                except StopAsyncIteration:
                    run.finish_stream()
                    return
                finally:
                    otel_context.detach(token)
                run.on_chunk(item)
                try:
                    to_send = yield item
                except GeneratorExit:
                    await agen.aclose()
                    run.finish_stream(closed_early=True)
                    raise
                except BaseException as exc:
                    to_throw = exc
        except GeneratorExit:
            raise
        except BaseException as exc:
            run.fail(exc)
            raise

    return wrapper


class ObservedSpan:
    """Handle of ``span(...)``: record the output (or a streamed chunk) of code that is not a function."""

    def __init__(self, run: _Run | None) -> None:
        self._run = run

    def set_output(self, value: Any) -> None:
        if self._run is not None:
            self._run.record_output(value)

    def add_chunk(self, chunk: Any) -> None:
        if self._run is not None:
            self._run.on_chunk(chunk)

    def set_attribute(self, key: str, value: Any) -> None:
        if self._run is not None:
            self._run.span.set_attribute(key, value)


@contextmanager
def span(name: str, *, kind: str = "span", model: str | None = None, provider: str | None = None,
         input: Any = None) -> Iterator[ObservedSpan]:
    """Context-manager form of ``@observe`` for a block of code."""
    st = state()
    if not st.enabled:
        yield ObservedSpan(None)
        return
    spec = _Spec(None, name, kind, model, provider, True, True, None)
    run = _Run(spec, st, (), {"input": input} if input is not None else {})
    token = otel_context.attach(run.ctx)
    try:
        yield ObservedSpan(run)
    except BaseException as exc:
        otel_context.detach(token)
        run.fail(exc)
        raise
    otel_context.detach(token)
    if run.acc is not None:
        run.finish_stream()
    else:
        run.span.end()
