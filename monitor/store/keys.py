"""Projects and API keys. Keys are 256-bit random secrets stored as SHA-256 hashes; a key is
shown once, at creation. Lookup is by hash, so the secret is never compared byte by byte.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from monitor.domain import Principal, Project
from monitor.errors import MonitorError
from monitor.store.models import ApiKeyRow, ProjectRow, utcnow

KEY_PREFIX = "lm_"
ALL_SCOPES = frozenset({"ingest", "read", "admin"})
DEFAULT_SCOPES = ("ingest", "read")


@dataclass(frozen=True)
class KeyInfo:
    id: int
    project: str
    name: str | None
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def get_or_create_project(engine: Engine, name: str) -> Project:
    with Session(engine) as session:
        row = session.scalar(select(ProjectRow).where(ProjectRow.name == name))
        if row is None:
            row = ProjectRow(name=name)
            session.add(row)
            try:
                session.commit()
            except Exception:  # another process created it first
                session.rollback()
                row = session.scalar(select(ProjectRow).where(ProjectRow.name == name))
                if row is None:
                    raise
        return Project(row.id, row.name)


def create_key(engine: Engine, project: str, name: str | None = None,
               scopes: tuple[str, ...] = DEFAULT_SCOPES) -> tuple[str, KeyInfo]:
    """Create a key for ``project`` (created if needed); returns the secret, shown only once."""
    unknown = set(scopes) - ALL_SCOPES
    if unknown:
        raise MonitorError(f"unknown scopes {sorted(unknown)}; valid: {sorted(ALL_SCOPES)}")
    proj = get_or_create_project(engine, project)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    with Session(engine) as session:
        row = ApiKeyRow(project_rowid=proj.rowid, name=name, prefix=secret[:10], key_hash=hash_key(secret),
                        scopes=",".join(sorted(scopes)))
        session.add(row)
        session.commit()
        return secret, _info(row, proj.name)


def list_keys(engine: Engine) -> list[KeyInfo]:
    with Session(engine) as session:
        rows = session.execute(
            select(ApiKeyRow, ProjectRow.name).join(ProjectRow, ProjectRow.id == ApiKeyRow.project_rowid)
            .order_by(ApiKeyRow.id)
        ).all()
        return [_info(key, project) for key, project in rows]


def revoke_key(engine: Engine, key_id_or_prefix: str) -> int:
    """Revoke by numeric id or by the printed prefix; returns how many keys were revoked."""
    cond = (ApiKeyRow.id == int(key_id_or_prefix)) if key_id_or_prefix.isdigit() \
        else (ApiKeyRow.prefix == key_id_or_prefix[:10])
    with Session(engine) as session:
        result = session.execute(update(ApiKeyRow).where(cond, ApiKeyRow.revoked_at.is_(None))
                                 .values(revoked_at=utcnow()))
        session.commit()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def active_key_count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(ApiKeyRow)
                                  .where(ApiKeyRow.revoked_at.is_(None))) or 0)


def authenticate(engine: Engine, secret: str) -> Principal | None:
    """The principal for a presented key, or ``None`` if it is unknown or revoked."""
    if not secret.startswith(KEY_PREFIX):
        return None
    digest = hash_key(secret)
    with Session(engine) as session:
        found = session.execute(
            select(ApiKeyRow, ProjectRow).join(ProjectRow, ProjectRow.id == ApiKeyRow.project_rowid)
            .where(ApiKeyRow.key_hash == digest, ApiKeyRow.revoked_at.is_(None))
        ).first()
    if found is None:
        return None
    key, project = found
    if not hmac.compare_digest(key.key_hash, digest):
        return None
    return Principal(Project(project.id, project.name), frozenset(key.scopes.split(",")), key.id)


def _info(row: ApiKeyRow, project: str) -> KeyInfo:
    return KeyInfo(row.id, project, row.name, row.prefix, tuple(row.scopes.split(",")), row.created_at,
                   row.revoked_at)
