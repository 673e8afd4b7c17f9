"""Every migration runs up and down on SQLite and PostgreSQL, and the result matches the models."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from monitor.migrate import current_revision, downgrade, head_revision, upgrade
from monitor.store import make_engine
from monitor.store.models import Base
from tests.conftest import ensure_database, postgres_url, reset_schema


def _tables(url: str) -> set[str]:
    """The tables, not counting the time partitions of PostgreSQL's partitioned ones (migration 0008)."""
    engine = make_engine(url)
    try:
        names = set(inspect(engine).get_table_names()) - {"alembic_version"}
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                names -= set(conn.execute(text("SELECT relname FROM pg_class WHERE relispartition")).scalars())
        return names
    finally:
        engine.dispose()


def _check_up_down(url: str) -> None:
    assert current_revision(url) is None
    upgrade(url)
    assert current_revision(url) == head_revision()
    assert _tables(url) == set(Base.metadata.tables)
    engine = make_engine(url)
    insp = inspect(engine)
    for table in Base.metadata.tables.values():
        assert {c["name"] for c in insp.get_columns(table.name)} == {c.name for c in table.columns}, table.name
        expected = {ix.name for ix in table.indexes}
        assert expected <= {ix["name"] for ix in insp.get_indexes(table.name)}, table.name
    engine.dispose()
    downgrade(url, "base")
    assert _tables(url) == set()
    upgrade(url)  # and up again: downgrades leave nothing behind
    assert current_revision(url) == head_revision()


def test_migrations_up_and_down_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    _check_up_down(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()


def test_migrations_up_and_down_on_postgres() -> None:
    url = postgres_url().rsplit("/", 1)[0] + "/" + postgres_url().rsplit("/", 1)[1] + "_migrations"
    ensure_database(url)
    reset_schema(url)
    _check_up_down(url)
