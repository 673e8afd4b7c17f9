"""Alert rules in the ``alert_rules`` table: config sync, create, list, delete.

Rules from ``[[alerts.rules]]`` have origin ``config`` and are re-synced when the worker starts
(created, updated, and removed when no longer in the file); rules created over the API or CLI
have origin ``api`` and are never touched by the sync.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.alerts.errors import RuleConflict, RuleNotFound
from monitor.alerts.rules import RuleSpec
from monitor.store.keys import get_or_create_project
from monitor.store.models import AlertRuleRow, ProjectRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredRule:
    """A rule as stored, with its evaluation bookkeeping."""

    id: int
    project_rowid: int
    project: str
    origin: str
    spec: RuleSpec
    enabled: bool
    created_at: datetime
    last_evaluated_at: datetime | None
    last_value: float | None
    last_error: str | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "project": self.project, "origin": self.origin, "enabled": self.enabled,
                "created_at": self.created_at, "last_evaluated_at": self.last_evaluated_at,
                "last_value": self.last_value, "last_error": self.last_error, "rule": self.spec.to_json()}


def _write(engine: Engine) -> Any:
    return engine.connect().execution_options(write=True)


def create_rule(engine: Engine, project: str, spec: RuleSpec, origin: str = "api") -> StoredRule:
    """Store a new rule; ``RuleConflict`` if the project already has one of that name."""
    proj = get_or_create_project(engine, project)
    now = datetime.now(UTC)
    values = {"project_rowid": proj.rowid, "name": spec.name, "origin": origin, "spec": spec.to_json(),
              "enabled": spec.enabled, "created_at": now, "updated_at": now}
    try:
        with _write(engine) as conn, conn.begin():
            rowid = conn.execute(AlertRuleRow.__table__.insert().values(**values)
                                 .returning(AlertRuleRow.__table__.c.id)).scalar_one()
    except IntegrityError as exc:
        raise RuleConflict(f"project {project!r} already has a rule named {spec.name!r}") from exc
    return get_rule(engine, rowid)


def sync_config_rules(engine: Engine, rules: Sequence[RuleSpec], default_project: str) -> dict[str, int]:
    """Make the ``config`` rules in the table match the file; returns counts of what changed."""
    counts = {"created": 0, "updated": 0, "removed": 0}
    wanted: dict[tuple[int, str], RuleSpec] = {}
    for spec in rules:
        wanted[(get_or_create_project(engine, spec.project or default_project).rowid, spec.name)] = spec
    table = AlertRuleRow.__table__
    now = datetime.now(UTC)
    with _write(engine) as conn, conn.begin():
        existing = {(r.project_rowid, r.name): r for r in conn.execute(select(table))}
        for key, spec in wanted.items():
            row = existing.get(key)
            if row is None:
                conn.execute(table.insert().values(project_rowid=key[0], name=spec.name, origin="config",
                                                   spec=spec.to_json(), enabled=spec.enabled, created_at=now,
                                                   updated_at=now))
                counts["created"] += 1
            elif row.origin == "config" and (row.spec != spec.to_json() or row.enabled != spec.enabled):
                conn.execute(update(table).where(table.c.id == row.id)
                             .values(spec=spec.to_json(), enabled=spec.enabled, updated_at=now))
                counts["updated"] += 1
        gone = [r.id for key, r in existing.items() if r.origin == "config" and key not in wanted]
        if gone:
            conn.execute(delete(table).where(table.c.id.in_(gone)))
            counts["removed"] = len(gone)
    return counts


def list_rules(engine: Engine, project_rowid: int | None = None, enabled_only: bool = False) -> list[StoredRule]:
    """Rules of one project (or all), by name."""
    stmt = (select(AlertRuleRow, ProjectRow.name).join(ProjectRow, ProjectRow.id == AlertRuleRow.project_rowid)
            .order_by(AlertRuleRow.project_rowid, AlertRuleRow.name))
    if project_rowid is not None:
        stmt = stmt.where(AlertRuleRow.project_rowid == project_rowid)
    if enabled_only:
        stmt = stmt.where(AlertRuleRow.enabled.is_(True))
    with Session(engine) as session:
        found = [_stored(row, project) for row, project in session.execute(stmt)]
    return [r for r in found if r is not None]


def get_rule(engine: Engine, rule_id: int, project_rowid: int | None = None) -> StoredRule:
    """One rule by id (restricted to a project when given), or ``RuleNotFound``."""
    found = [r for r in list_rules(engine, project_rowid) if r.id == rule_id]
    if not found:
        raise RuleNotFound(f"no alert rule with id {rule_id}")
    return found[0]


def find_rule(engine: Engine, id_or_name: str, project_rowid: int | None = None) -> StoredRule:
    """A rule by numeric id or by name (names are unique per project)."""
    rules = list_rules(engine, project_rowid)
    found = [r for r in rules if (id_or_name.isdigit() and r.id == int(id_or_name)) or r.spec.name == id_or_name]
    if not found:
        raise RuleNotFound(f"no alert rule {id_or_name!r}")
    if len(found) > 1:
        raise RuleConflict(f"{id_or_name!r} names rules in several projects; use the id")
    return found[0]


def delete_rule(engine: Engine, rule_id: int, project_rowid: int | None = None) -> None:
    """Delete a rule; its alert history stays (with the rule name), its open alerts are closed."""
    table = AlertRuleRow.__table__
    stmt = delete(table).where(table.c.id == rule_id)
    if project_rowid is not None:
        stmt = stmt.where(table.c.project_rowid == project_rowid)
    with _write(engine) as conn, conn.begin():
        _close_open_events(conn, rule_id)
        if conn.execute(stmt).rowcount == 0:
            raise RuleNotFound(f"no alert rule with id {rule_id}")


def _close_open_events(conn: Any, rule_id: int) -> None:
    from monitor.store.models import AlertEventRow

    ev = AlertEventRow.__table__
    now = datetime.now(UTC)
    conn.execute(delete(ev).where(ev.c.rule_rowid == rule_id, ev.c.status == "pending"))
    conn.execute(update(ev).where(ev.c.rule_rowid == rule_id, ev.c.status == "firing")
                 .values(status="resolved", resolved_at=now, updated_at=now))


def _stored(row: AlertRuleRow, project: str) -> StoredRule | None:
    """The stored rule, or ``None`` (logged) when its spec no longer validates, so one bad row stops nothing."""
    try:
        spec = RuleSpec.model_validate(row.spec)
    except ValidationError as exc:
        log.error("alert rule %d %r is invalid and skipped: %s", row.id, row.name, exc)
        return None
    return StoredRule(row.id, row.project_rowid, project, row.origin, spec, row.enabled, row.created_at,
                      row.last_evaluated_at, row.last_value, row.last_error)
