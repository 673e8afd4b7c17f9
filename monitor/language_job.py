"""The worker job that labels LLM calls with the language of their input (``spans.language``).

Detection runs here, not at ingest, so ingest throughput does not pay for it: each maintenance
round of ``llm-monitor worker`` labels up to ``ROUND_LIMIT`` waiting calls, newest first, in
transactions of ``BATCH``. A waiting call is an LLM span with ``input_text`` and no language yet
(the partial index ``ix_spans_language_todo`` holds exactly those, so finding them never scans the
table). Only the first ``monitor.language.MAX_CHARS`` characters are read. The label is written
only where the language is still unset, so reruns and two worker replicas do no harm.

The input alone is labelled (the user's messages, not the system instructions, which are often
in English whatever language the users write in). Calls without input text stay ``NULL``.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from sqlalchemy import Engine, func, select, text, update

from monitor.language import MAX_CHARS, detect_language
from monitor.store.models import LANGUAGE_PENDING, SpanRow

log = logging.getLogger(__name__)
BATCH = 2000
ROUND_LIMIT = 50_000


def label_languages(engine: Engine, limit: int | None = ROUND_LIMIT, batch: int = BATCH) -> int:
    """Label up to ``limit`` waiting calls (every one when ``None``); returns how many were labelled.

    ``label_languages(engine, limit=None)`` is what a one-off run (the demo, a backfill) calls.
    """
    done = 0
    while limit is None or done < limit:
        size = batch if limit is None else min(batch, limit - done)
        found, labelled = _label_batch(engine, size)
        done += labelled
        if found < size:
            break
    if done:
        log.info("labelled the input language of %d calls", done)
    return done


def _label_batch(engine: Engine, size: int) -> tuple[int, int]:
    """One batch: read, detect outside any transaction, write in one short one; (found, labelled)."""
    stmt = (select(SpanRow.id, func.substr(SpanRow.input_text, 1, MAX_CHARS))
            .where(text(LANGUAGE_PENDING))  # verbatim, so both databases match the partial index
            .order_by(SpanRow.id.desc()).limit(size))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    if not rows:
        return 0, 0
    by_language: dict[str, list[int]] = defaultdict(list)
    for rowid, head in rows:
        by_language[detect_language(head)].append(rowid)
    labelled = 0
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        for language, ids in by_language.items():
            result = conn.execute(update(SpanRow).where(SpanRow.id.in_(ids), SpanRow.language.is_(None))
                                  .values(language=language))
            labelled += result.rowcount or 0
    return len(rows), labelled


def waiting_count(engine: Engine) -> int:
    """Calls still waiting for a language label (the job's backlog)."""
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(SpanRow).where(text(LANGUAGE_PENDING))) or 0)
