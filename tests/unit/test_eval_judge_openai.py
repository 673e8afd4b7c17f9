"""judge_openai against a local stub server that returns logprobs (the one fake: no GPU server here)."""

from __future__ import annotations

import time

import pytest

from evaluators import BackendError, EvalItem, EvaluatorConfig, EvaluatorTimeout, build_evaluator
from evaluators.backends import JudgePrompt
from evaluators.backends.judge_openai import OpenAIJudge
from evaluators.testing import StubJudgeServer


def judge(server: StubJudgeServer, **options: object) -> OpenAIJudge:
    return OpenAIJudge(EvaluatorConfig(backend="judge_openai", base_url=server.base_url, model="stub-7b", **options))


def answer_by_content(body: dict) -> dict[str, float]:
    """Yes when the prompt's answer mentions Paris: lets a test check prompt and score travel together."""
    text = body["messages"][-1]["content"]
    return {"yes": 0.9, "Yes": 0.05, "no": 0.05} if "Paris" in text else {"no": 0.7, "yes": 0.2, "maybe": 0.1}


def test_scores_come_from_logprobs_of_the_choice_tokens() -> None:
    with StubJudgeServer(answer=answer_by_content) as server:
        probs = judge(server).choice_probs([JudgePrompt("Paris?"), JudgePrompt("London?")], ["yes", "no"])
        body = server.requests[0]
    assert probs[0] == pytest.approx([0.95, 0.05])
    assert probs[1] == pytest.approx([0.2 / 0.9, 0.7 / 0.9])  # "maybe" is not a choice: renormalised away
    assert body["logprobs"] is True and body["top_logprobs"] == 20 and body["max_tokens"] == 1
    assert body["temperature"] == 0.0 and body["model"] == "stub-7b"


def test_relevance_on_an_openai_compatible_judge() -> None:
    with StubJudgeServer(answer=answer_by_content) as server:
        table = {"relevance": {"backend": "judge_openai", "base_url": server.base_url, "model": "stub-7b",
                               "explain": True}}
        scores = build_evaluator("relevance", table).score([
            EvalItem("What is the capital of France?", "Paris."), EvalItem("What is the capital of France?", "Bread.")])
    assert [round(s.value, 3) for s in scores] == [0.95, round(0.2 / 0.9, 3)]
    assert [s.label for s in scores] == ["relevant", "irrelevant"]
    assert scores[0].model == "stub-7b" and scores[0].explanation == "Because the answer matches the question."


def test_concurrency_is_bounded() -> None:
    with StubJudgeServer(delay_s=0.05) as server:
        judge(server, max_concurrency=3).choice_probs([JudgePrompt(f"q{i}") for i in range(12)], ["yes", "no"])
        assert len(server.requests) == 12 and 2 <= server.max_in_flight <= 3


def test_retries_overloaded_servers_then_succeeds() -> None:
    with StubJudgeServer(fail_first=2, answer=lambda body: {"yes": 1.0}) as server:
        probs = judge(server, retries=3).choice_probs([JudgePrompt("q")], ["yes", "no"])
        assert probs == [[1.0, 0.0]] and len(server.requests) == 3


def test_gives_up_after_retries_with_the_servers_reason() -> None:
    expected = "failed after 2 attempts: HTTP 503"
    with StubJudgeServer(fail_first=99) as server, pytest.raises(BackendError, match=expected):
        judge(server, retries=1).choice_probs([JudgePrompt("q")], ["yes", "no"])


def test_servers_without_logprobs_are_read_from_the_answer_text() -> None:
    with StubJudgeServer(logprobs=False, answer=lambda body: {"No": 0.6, "yes": 0.4}) as server:
        backend = judge(server)
        assert backend.choice_probs([JudgePrompt("q"), JudgePrompt("r")], ["yes", "no"]) == [[0.0, 1.0], [0.0, 1.0]]
        assert backend.logprobs_supported is False


def test_an_answer_outside_the_choices_is_an_error_not_a_score() -> None:
    with StubJudgeServer(answer=lambda body: {"perhaps": 1.0}) as server, pytest.raises(BackendError, match="perhaps"):
        judge(server).choice_probs([JudgePrompt("q")], ["yes", "no"])


def test_a_slow_judge_fails_clearly_within_its_timeouts() -> None:
    with StubJudgeServer(delay_s=2.0) as server:
        started = time.perf_counter()
        with pytest.raises(BackendError, match="ReadTimeout"):
            judge(server, request_timeout_s=0.2, retries=1).choice_probs([JudgePrompt("q")], ["yes", "no"])
        assert time.perf_counter() - started < 1.8
        table = {"toxicity": {"backend": "judge_openai", "base_url": server.base_url, "model": "stub",
                              "timeout_s": 0.3, "request_timeout_s": 30}}
        started = time.perf_counter()
        with pytest.raises(EvaluatorTimeout, match=r"toxicity batch of 1 .* did not finish within 0\.3 s"):
            build_evaluator("toxicity", table).score([EvalItem("hello")])
        assert time.perf_counter() - started < 1.5


def test_judge_openai_needs_a_server_and_a_model() -> None:
    from evaluators import EvaluatorConfigError

    with pytest.raises(EvaluatorConfigError, match="base_url"):
        OpenAIJudge(EvaluatorConfig(model="m"))
