"""Run Alembic migrations programmatically (``llm-monitor migrate`` and the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

import migrations
from monitor.store.engine import make_engine, normalize_url


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head", engine: Engine | None = None) -> None:
    """Upgrade the database at ``url`` to ``revision``."""
    _run(url, engine, lambda cfg: command.upgrade(cfg, revision))


def downgrade(url: str, revision: str = "base", engine: Engine | None = None) -> None:
    _run(url, engine, lambda cfg: command.downgrade(cfg, revision))


def _run(url: str, engine: Engine | None, action: object) -> None:
    cfg = alembic_config(url)
    own = engine is None
    engine = engine or make_engine(url)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            action(cfg)  # type: ignore[operator]
    finally:
        if own:
            engine.dispose()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(url: str) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
