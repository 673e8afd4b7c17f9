"""Shared fixtures: real SQLite files and a real PostgreSQL database, migrated with Alembic."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from monitor.config import Settings
from monitor.migrate import upgrade
from monitor.store import make_engine

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/llm_monitor_test"
TABLES = "projects, api_keys, spans, log_records, scores, metric_points"


def postgres_url() -> str:
    return os.environ.get("LLM_MONITOR_TEST_POSTGRES_URL", DEFAULT_PG)


def ensure_database(url: str) -> None:
    """Create the database if missing (PostgreSQL must be running: CI starts it)."""
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{parsed.database}"')


def reset_schema(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def pg_url() -> str:
    url = postgres_url()
    ensure_database(url)
    reset_schema(url)
    upgrade(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated, empty SQLite file database."""
    url = f"sqlite:///{tmp_path / 'monitor.db'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_url")
        return
    url = request.getfixturevalue("pg_url")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()
    yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, auth="disabled", server={"key_cache_ttl_s": 0})
