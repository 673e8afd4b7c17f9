"""The alerting jobs the worker runs: evaluate every rule, send what the outbox holds.

``AlertService`` receives every dependency (engine, settings, webhook secrets, clock, resolver),
so tests drive it with a fake clock and a real HTTP receiver, and the CLI reuses it for
``alerts test``. Secrets are passed in by the composition root, never read or logged here.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from monitor.alerts import outbox, sender, state
from monitor.alerts.errors import AlertError
from monitor.alerts.evaluate import Reading, evaluate, is_breaching
from monitor.alerts.payloads import AlertNotice
from monitor.alerts.rulestore import StoredRule, list_rules, sync_config_rules
from monitor.alerts.signing import IDEMPOTENCY_HEADER, signed_headers
from monitor.alerts.urlsafety import Resolver, UrlPolicy, check_url, system_resolver
from monitor.config import Settings, WebhookSettings
from monitor.store.keys import get_or_create_project
from monitor.store.metric_reads import Retention

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def webhook_secrets(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    """Each webhook's secret from the environment variable its ``secret_env`` names (composition root only)."""
    return {name: environ[hook.secret_env] for name, hook in settings.webhooks.items() if environ.get(hook.secret_env)}


class AlertService:
    """Rule evaluation and webhook delivery over one database."""

    def __init__(self, engine: Engine, settings: Settings, secrets: Mapping[str, str] | None = None,
                 clock: Clock = lambda: datetime.now(UTC), resolver: Resolver = system_resolver,
                 rng: random.Random | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self._secrets = dict(secrets or {})
        self._clock = clock
        self._resolver = resolver
        self._rng = rng or random.Random()
        a = settings.alerts
        self.policy = UrlPolicy.from_lists(a.allow_networks, a.allow_hosts)
        m = settings.metrics
        self._retention = Retention(timedelta(hours=m.raw_retention_h), timedelta(days=m.minute_retention_d))
        self._formats = {name: hook.format for name, hook in settings.webhooks.items()}

    def sync_rules(self) -> dict[str, int]:
        """Bring the ``config`` rules in the database in line with ``[[alerts.rules]]``."""
        return sync_config_rules(self.engine, self.settings.alerts.rules, self.settings.default_project)

    def read(self, rule: StoredRule, now: datetime | None = None) -> list[Reading]:
        """The rule's readings right now (``AlertError`` if it cannot be evaluated); changes nothing."""
        return evaluate(self.engine, rule.project_rowid, rule.spec, now or self._clock(), self._retention)

    def evaluate_once(self, now: datetime | None = None) -> dict[str, int]:
        """Evaluate every enabled rule once; returns totals per action (and ``errors``)."""
        now = now or self._clock()
        totals: dict[str, int] = {}
        for rule in list_rules(self.engine, enabled_only=True):
            try:
                readings, error = self.read(rule, now), None
            except AlertError as exc:
                readings, error = None, str(exc)
            except Exception as exc:  # a broken rule must not stop the others
                log.exception("alert rule %r could not be evaluated", rule.spec.name)
                readings, error = None, f"{type(exc).__name__}: {exc}"
            if error:
                totals["errors"] = totals.get("errors", 0) + 1
            try:
                changed = state.apply(self.engine, rule, readings, error, now, self._formats)
            except IntegrityError:  # another worker replica opened the same alert first: it notifies
                log.info("alert rule %r was advanced by another worker this round", rule.spec.name)
                continue
            for action, n in changed.items():
                totals[action] = totals.get(action, 0) + n
        return totals

    def send_once(self, now: datetime | None = None, limit: int = 20) -> dict[str, int]:
        """Send the due notifications once; returns how many were delivered, retried and given up.

        The lease covers the whole batch timing out, so a slow receiver does not make a second
        sender pick up rows this one is still working through.
        """
        now = now or self._clock()
        counts = {"delivered": 0, "retry": 0, "failed": 0}
        slowest = max((h.timeout_s for h in self.settings.webhooks.values()), default=10.0)
        for item in outbox.claim(self.engine, now, limit, timedelta(seconds=30 + limit * slowest)):
            result = self._deliver(item)
            settled = now
            if result.ok:
                outbox.mark_delivered(self.engine, item.id, result.status or 200, settled)
                counts["delivered"] += 1
                continue
            give_up = settled - item.created_at >= timedelta(hours=self.settings.alerts.give_up_after_h)
            retry_at = None if give_up else settled + timedelta(seconds=outbox.backoff(
                item.attempts + 1, self.settings.alerts.backoff_base_s, self.settings.alerts.backoff_max_s, self._rng))
            outbox.mark_failed(self.engine, item, result.status, result.error or "failed", settled, retry_at)
            counts["failed" if give_up else "retry"] += 1
            log.warning("webhook %s: %s for %s (%s)", item.webhook, result.error, item.idempotency_key,
                        "giving up" if give_up else f"retry at {retry_at:%H:%M:%S}")
        return counts

    def enqueue_test(self, webhook: str, project: str | None = None) -> str:
        """Queue a ``test`` notification to ``webhook`` through the outbox; returns its idempotency key."""
        hook = self._webhook(webhook)
        now = self._clock()
        proj = get_or_create_project(self.engine, project or self.settings.default_project)
        key = f"test-{webhook}-{int(now.timestamp() * 1000)}"
        notice = AlertNotice("test", key, proj.name, "test notification", None, None, "info", "test", {}, None,
                             None, "a test sent by `llm-monitor alerts test`", now, None, None, now)
        with self.engine.connect().execution_options(write=True) as conn, conn.begin():
            outbox.enqueue(conn, proj.rowid, notice, {webhook: hook.format}, now)
        return key

    def _webhook(self, name: str) -> WebhookSettings:
        hook = self.settings.webhooks.get(name)
        if hook is None:
            known = ", ".join(self.settings.webhooks) or "none configured"
            raise AlertError(f"no webhook {name!r} in [webhooks] (known: {known})")
        return hook

    def _deliver(self, item: outbox.Claimed) -> sender.Outcome:
        try:
            hook = self._webhook(item.webhook)
            secret = self._secrets.get(item.webhook)
            if not secret:
                return sender.Outcome(None, f"no secret: set the environment variable {hook.secret_env}")
            target = check_url(hook.url, self.policy, self._resolver)
        except AlertError as exc:
            return sender.Outcome(None, str(exc))
        body = json.dumps(item.payload, separators=(",", ":"), sort_keys=True).encode()
        headers = {**hook.headers, IDEMPOTENCY_HEADER: item.idempotency_key,
                   "X-LLM-Monitor-Attempt": str(item.attempts + 1), **signed_headers(secret, body, int(time.time()))}
        return sender.post(target, body, headers, hook.timeout_s)


def summarise(readings: list[Reading], rule: StoredRule) -> list[dict[str, Any]]:
    """Readings as plain dicts with their breach verdict (for the CLI and the API)."""
    return [{"labels": r.labels, "value": r.value, "samples": r.samples, "breaching": is_breaching(rule.spec, r)}
            for r in readings]
