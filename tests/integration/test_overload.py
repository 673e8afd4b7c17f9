"""Overload (issue #9): a real ``llm-monitor serve`` process driven at 10x its sustainable rate.

The server answers only 200 or 429/503 with ``Retry-After`` (never 5xx, never a dropped
connection), its memory stays bounded, and afterwards every span it acknowledged is stored
exactly once while nothing it refused is. The load generator is ``bench.overload`` (the figures
in docs/reliability.md come from the same code).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from sqlalchemy import text

from bench.overload import TABLE_HEADER, OverloadResult, run_overload
from monitor.store import make_engine
from tests.conftest import TABLES


def _check(result: OverloadResult, max_growth_mib: float) -> None:
    print(f"\n{TABLE_HEADER}\n{result.table_row()}")
    codes = result.codes
    assert not result.unexpected, f"answers other than 200/429/503, or no answer: {result.unexpected}"
    assert result.refused_without_retry_after == 0
    assert codes[200] > 0, "the server stopped acknowledging under load"
    assert codes[429] + codes[503] > codes[200], "the burst did not overload the server"
    assert result.lost == 0, f"{result.lost} acknowledged spans are not stored"
    assert result.duplicates == 0
    assert result.unacked_stored == 0, "a refused request stored spans"
    assert result.recovery_s < 5, "the server did not take a plain export promptly after the burst"
    growth = (result.peak_rss_kib - result.baseline_rss_kib) / 1024
    assert growth < max_growth_mib, f"server RSS grew by {growth:.0f} MiB during the burst"


@pytest.mark.slow
def test_ten_times_sustainable_rate(db_url: str, tmp_path: Path) -> None:
    """10x the measured sustainable rate, open loop over 64 keep-alive connections, for 12 s."""
    result = run_overload(db_url, tmp_path, factor=10, seconds=12, connections=64, sustain_s=4)
    assert result.offered_rps >= 9 * result.sustainable_rps
    # 16 admitted requests of ~0.9 MB (raw + decompressed), 2 decoded batches, uvicorn's buffers
    _check(result, max_growth_mib=150)


@pytest.mark.slow
def test_many_connections_at_once(pg_url: str, tmp_path: Path) -> None:
    """256 connections each send a 3.6 MB request (2,048 spans) again as soon as they have an
    answer: the most simultaneous requests this generator can make. Bodies beyond the admission
    limit are refused before they are read, so memory does not grow with the number of
    connections (before the limit the server read all 256 bodies: ~1 GB)."""
    engine = make_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()
    result = run_overload(pg_url, tmp_path, factor=math.inf, seconds=8, connections=256, spans=2048, sustain_s=2)
    # 16 admitted requests x 2 x 3.6 MB, 2 decoded batches of 2,048 spans, 256 connections' buffers
    _check(result, max_growth_mib=250)
