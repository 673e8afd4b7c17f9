"""IngestService.warm_up loads what ingest loads lazily and stores nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from monitor.api.app import build_ingest
from monitor.config import Settings
from monitor.cost import _model_price
from monitor.store import make_engine
from monitor.store.models import SpanRow


def test_warm_up_prices_through_the_catalogue_and_writes_nothing(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url, privacy={"redact": True})
    engine = make_engine(sqlite_url)
    try:
        ingest = build_ingest(settings, engine)
        _model_price.cache_clear()
        ingest.warm_up()
        assert _model_price.cache_info().currsize == 1, "the price catalogue was not consulted"
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(SpanRow)).scalar_one() == 0
    finally:
        engine.dispose()
