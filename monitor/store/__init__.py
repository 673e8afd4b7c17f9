"""Storage: SQLAlchemy models, engines, the batch writers of the ingest path, projects and keys."""

from monitor.store.engine import is_sqlite, make_engine, normalize_url
from monitor.store.writer import SpanWriter

__all__ = ["SpanWriter", "is_sqlite", "make_engine", "normalize_url"]
