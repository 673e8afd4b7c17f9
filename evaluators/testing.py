"""A stub OpenAI-compatible judge server, for testing ``judge_openai`` without a GPU.

It is a real HTTP server on 127.0.0.1 (so the real client, timeouts and retries are exercised) that
answers ``POST /v1/chat/completions`` with a scripted first token and its ``top_logprobs``. Tests and
users' own test suites can use it the way httpx users use ``MockTransport``.

    with StubJudgeServer(answer=lambda body: {"yes": 0.8, "no": 0.2}) as server:
        config = EvaluatorConfig(backend="judge_openai", base_url=server.base_url, model="stub")
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[dict[str, Any]], dict[str, float]]


@dataclass
class StubJudgeServer:
    """``answer(request_body)`` gives the first-token distribution; the most likely token is the reply text."""

    answer: Answer = lambda body: {"yes": 0.5, "no": 0.5}
    logprobs: bool = True  # False: behave like a server that rejects the logprobs parameter with 400
    delay_s: float = 0.0  # sleep before answering (timeouts)
    fail_first: int = 0  # answer this many requests with 503 + Retry-After before succeeding
    explanation: str = "Because the answer matches the question."
    requests: list[dict[str, Any]] = field(default_factory=list)
    max_in_flight: int = 0
    _in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> StubJudgeServer:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def reply(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(body)
            failing = len(self.requests) <= self.fail_first
        if failing:
            return 503, {"error": {"message": "warming up"}}
        if body.get("logprobs") and not self.logprobs:
            return 400, {"error": {"message": "logprobs is not supported by this server"}}
        if body.get("max_tokens", 1) > 3:  # an explanation request
            return 200, _completion(self.explanation, None)
        dist = self.answer(body)
        token = max(dist, key=dist.get)
        top = [{"token": t, "logprob": math.log(p) if p > 0 else -1e9} for t, p in dist.items()]
        return 200, _completion(token, top if body.get("logprobs") else None)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                with stub._lock:
                    stub._in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub._in_flight)
                try:
                    time.sleep(stub.delay_s)
                    status, payload = stub.reply(body) if self.path.endswith("/chat/completions") else (404, {})
                finally:
                    with stub._lock:
                        stub._in_flight -= 1
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    if status == 503:
                        self.send_header("retry-after", "0")
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    pass

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def _completion(content: str, top: list[dict[str, Any]] | None) -> dict[str, Any]:
    message = {"role": "assistant", "content": content}
    choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": "length"}
    if top is not None:
        choice["logprobs"] = {"content": [{"token": content, "logprob": next(
            (t["logprob"] for t in top if t["token"] == content), 0.0), "top_logprobs": top}]}
    return {"id": "stub", "object": "chat.completion", "model": "stub", "choices": [choice]}
