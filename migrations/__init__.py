"""Alembic environment and versions; every migration is self-contained and runs on SQLite and PostgreSQL."""
