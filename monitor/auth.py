"""Who is calling: API keys from ``Authorization: Bearer …``, or the open default project.

The server runs open only when bound to loopback and no key exists (or auth is explicitly
``disabled``); it says so at start. Validated keys are cached briefly so ingest does not hit the
database on every request; revocation takes effect within ``key_cache_ttl_s``.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time

from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from monitor.config import Settings
from monitor.domain import Principal
from monitor.errors import AuthError, ConfigError, Overloaded
from monitor.store.keys import ALL_SCOPES, active_key_count, authenticate, get_or_create_project, hash_key

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Authenticator:
    def __init__(self, engine: Engine, settings: Settings, host: str) -> None:
        self._engine = engine
        self._ttl = settings.server.key_cache_ttl_s
        self._retry_after_s = settings.server.retry_after_s
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()
        mode = settings.auth
        if mode == "disabled" and not is_loopback(host):
            raise ConfigError("auth=disabled is only allowed when the server is bound to loopback")
        if mode == "auto":
            mode = "required" if not is_loopback(host) or active_key_count(engine) > 0 else "open"
        self.open = mode in ("open", "disabled")
        self._open_principal: Principal | None = None
        if self.open:
            project = get_or_create_project(engine, settings.default_project)
            self._open_principal = Principal(project, ALL_SCOPES)
            log.warning("authentication is OFF: bound to loopback with no API keys; everything goes to "
                        "project %r. Create a key with `llm-monitor keys create --project NAME` to require one.",
                        project.name)

    def principal(self, authorization: str | None, scope: str) -> Principal:
        """The caller for a request, or ``AuthError``."""
        if self._open_principal is not None:
            return self._open_principal
        if not authorization:
            raise AuthError("missing Authorization: Bearer <api key>")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise AuthError("Authorization must be 'Bearer <api key>'")
        found = self._lookup(token.strip())
        if found is None:
            raise AuthError("invalid or revoked API key")
        if scope not in found.scopes and "admin" not in found.scopes:
            raise AuthError(f"this key lacks the {scope!r} scope")
        return found

    def _lookup(self, token: str) -> Principal | None:
        digest = hash_key(token)  # the cache is keyed by hash, so no secret stays in memory
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            found = authenticate(self._engine, token)
        except (OperationalError, InterfaceError) as exc:
            # The key store is unreachable (PostgreSQL restarting): retryable like a write in an
            # outage, 503 + Retry-After, never a 500 (found by tests/integration/test_crash.py).
            log.warning("database unavailable while checking an API key: %s", exc.__class__.__name__)
            raise Overloaded("database unavailable; retry later", self._retry_after_s, 503) from exc
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now + self._ttl, found)
        return found
