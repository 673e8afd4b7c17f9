"""The worker's enqueue watermark: rounds rescan the last minute of span ids, and the whole lookback now and then."""

from __future__ import annotations

import pytest

from evaluators import worker as worker_module
from evaluators.worker import ENQUEUE_GRACE_S, FULL_SCAN_S, EvaluationWorker
from monitor.config import EvaluationSettings
from monitor.store import make_engine


def test_scan_from_trails_by_the_grace_period_and_rescans_everything_periodically(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(worker_module.time, "monotonic", lambda: clock[0])
    worker = EvaluationWorker(make_engine("sqlite://"), {"toxicity": {}}, EvaluationSettings(), evaluators={})
    assert worker._scan_from("toxicity") == 0  # first round: the whole lookback
    worker._marks["toxicity"].append((clock[0], 500))
    clock[0] += 1
    assert worker._scan_from("toxicity") == 0  # 500 was seen only a second ago: a late commit below it may come
    worker._marks["toxicity"].append((clock[0], 900))
    clock[0] += ENQUEUE_GRACE_S - 0.5
    assert worker._scan_from("toxicity") == 500
    clock[0] += 1
    assert worker._scan_from("toxicity") == 900
    clock[0] += FULL_SCAN_S
    assert worker._scan_from("toxicity") == 0
