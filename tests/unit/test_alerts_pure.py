"""The pure parts of alerting: rule validation, the state machine, backoff, signatures, URL checks, payloads."""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

import monitor.alerts
from monitor.alerts import RuleSpec, UnsafeWebhookURL, sign, signed_headers, verify_request, verify_signature
from monitor.alerts.outbox import backoff
from monitor.alerts.payloads import AlertNotice, render
from monitor.alerts.rules import format_duration, parse_duration
from monitor.alerts.state import labels_key, step
from monitor.alerts.urlsafety import Resolver, UrlPolicy, check_url
from monitor.config import Settings

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def test_public_api() -> None:
    assert sorted(monitor.alerts.__all__) == [
        "AlertError", "RuleConflict", "RuleNotFound", "RuleSpec", "UnsafeWebhookURL", "parse_duration", "sign",
        "signed_headers", "verify_request", "verify_signature"]


# --- rules ---------------------------------------------------------------------------------------

def test_rule_from_toml_shape_with_for_and_durations() -> None:
    rule = RuleSpec.model_validate({"name": "toxic answers", "kind": "score", "metric": "toxicity",
                                    "aggregate": "share_above", "threshold": 0.05, "score_threshold": 0.5,
                                    "window": "15m", "for": "5m", "min_samples": 20, "severity": "critical",
                                    "webhooks": ["oncall"]})
    assert (rule.window, rule.for_) == (15 * M, 5 * M)
    assert rule.to_json()["for"] == "5m" and rule.to_json()["window"] == "15m"
    assert RuleSpec.model_validate(rule.to_json()) == rule
    assert rule.describe() == "share_above(toxicity) > 0.05 for 5m over 15m"


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("15m", 900), ("1h", 3600), ("7d", 604800), (90, 90)])
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert parse_duration(format_duration(timedelta(seconds=seconds))) == timedelta(seconds=seconds)


@pytest.mark.parametrize(("body", "message"), [
    ({"name": "x", "metric": "latency_ms", "window": "5 minutes"}, "must look like 30s"),
    ({"name": "x", "metric": "latency_ms", "aggregate": "median"}, "use one of p50, p95"),
    ({"name": "x", "kind": "metric"}, "needs `metric`"),
    ({"name": "x", "kind": "score", "metric": "toxicity", "aggregate": "share_above"}, "needs score_threshold"),
    ({"name": "x", "metric": "error_rate", "group_by": "colour"}, "group_by 'colour'"),
    ({"name": "x", "kind": "absence", "group_by": "model"}, "absence rules take no group_by"),
    ({"name": "x", "metric": "error_rate", "comparison": "!="}, "comparison"),
    ({"name": "x", "metric": "error_rate", "renotify": "10s"}, "renotify must be at least 1m"),
    ({"name": "x", "metric": "error_rate", "bogus": 1}, "bogus"),
])
def test_bad_rules_say_what_is_wrong(body: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RuleSpec.model_validate(body)


def test_settings_check_rule_webhooks_exist() -> None:
    rule = {"name": "r", "metric": "error_rate", "threshold": 0.1, "webhooks": ["pager"]}
    with pytest.raises(ValidationError, match=r"unknown webhook.*pager"):
        Settings(alerts={"rules": [rule]})
    ok = Settings(alerts={"rules": [rule]}, webhooks={"pager": {"url": "https://hooks.example.com/x"}})
    assert ok.alerts.rules[0].webhooks == ["pager"]
    assert ok.webhooks["pager"].secret_env == "LLM_MONITOR_WEBHOOK_SECRET"
    with pytest.raises(ValidationError, match="must be unique"):
        Settings(alerts={"rules": [{**rule, "webhooks": []}] * 2})


# --- state machine -------------------------------------------------------------------------------

def test_state_machine_transitions() -> None:
    assert step(None, False, NOW, None, None, 5 * M, None) == "none"
    assert step(None, True, NOW, None, None, 5 * M, None) == "pend"
    assert step(None, True, NOW, None, None, timedelta(0), None) == "fire_new"
    assert step("pending", True, NOW, NOW - 4 * M, None, 5 * M, None) == "hold"
    assert step("pending", True, NOW, NOW - 5 * M, None, 5 * M, None) == "fire"
    assert step("pending", False, NOW, NOW - 4 * M, None, 5 * M, None) == "cancel"
    assert step("firing", True, NOW, NOW - 60 * M, NOW - 10 * M, 5 * M, None) == "hold"
    assert step("firing", True, NOW, NOW - 60 * M, NOW - 10 * M, 5 * M, 30 * M) == "hold"
    assert step("firing", True, NOW, NOW - 60 * M, NOW - 30 * M, 5 * M, 30 * M) == "renotify"
    assert step("firing", False, NOW, NOW - 60 * M, NOW - 30 * M, 5 * M, 30 * M) == "resolve"


def test_labels_key_ignores_order() -> None:
    assert labels_key({"a": "1", "b": "2"}) == labels_key({"b": "2", "a": "1"}) != labels_key({"a": "1"})


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    for attempt, full in [(1, 2), (2, 4), (3, 8), (4, 16)]:
        delays = [backoff(attempt, 2, 600, rng) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full / 4  # jittered, not fixed
    assert all(300 <= backoff(50, 2, 600, rng) <= 600 for _ in range(50))


# --- signatures ----------------------------------------------------------------------------------

def test_signature_verifies_and_rejects_tampering_and_replay() -> None:
    body = b'{"transition":"firing"}'
    headers = signed_headers("s3cret", body, timestamp=1_800_000_000)
    ts, sig = headers["X-LLM-Monitor-Timestamp"], headers["X-LLM-Monitor-Signature"]
    assert sig.startswith("v1=") and len(sig) == 3 + 64
    assert verify_signature("s3cret", body, ts, sig, now=1_800_000_010)
    assert verify_request("s3cret", body, {k.lower(): v for k, v in headers.items()}, now=1_800_000_010)
    assert not verify_signature("s3cret", b'{"transition":"resolved"}', ts, sig, now=1_800_000_010)  # tampered
    assert not verify_signature("other", body, ts, sig, now=1_800_000_010)  # wrong secret
    assert not verify_signature("s3cret", body, "1800000001", sig, now=1_800_000_010)  # timestamp swapped
    assert not verify_signature("s3cret", body, ts, sig, now=1_800_000_000 + 301)  # replayed later
    assert not verify_signature("s3cret", body, None, sig) and not verify_signature("s3cret", body, ts, None)
    assert not verify_signature("s3cret", body, "soon", sig)
    assert verify_signature("s3cret", body, ts, f"v1=00, {sig}", now=1_800_000_000)  # rotation: any listed
    assert sign("k", 1, b"x") == sign(b"k", 1, b"x")


# --- URL safety ----------------------------------------------------------------------------------

def _resolver(table: dict[str, list[str]]) -> Resolver:
    return lambda host, port: table[host]


@pytest.mark.parametrize("address", ["10.0.0.5", "172.16.3.4", "192.168.1.1", "127.0.0.1", "169.254.169.254",
                                     "::1", "fe80::1", "fc00::1", "0.0.0.0", "::ffff:127.0.0.1", "100.64.0.1"])
def test_internal_addresses_are_refused(address: str) -> None:
    with pytest.raises(UnsafeWebhookURL, match="private/loopback/link-local"):
        check_url("https://hooks.example.com/x", UrlPolicy(), _resolver({"hooks.example.com": [address]}))


def test_public_address_is_pinned_and_allow_lists_work() -> None:
    target = check_url("https://hooks.example.com:8443/a?b=1", UrlPolicy(),
                       _resolver({"hooks.example.com": ["93.184.216.34"]}))
    assert (target.host, target.port, target.path, target.address) == ("hooks.example.com", 8443, "/a?b=1",
                                                                       "93.184.216.34")
    mixed = _resolver({"hooks.example.com": ["93.184.216.34", "10.1.2.3"]})
    with pytest.raises(UnsafeWebhookURL):  # one internal answer is enough to refuse
        check_url("https://hooks.example.com/", UrlPolicy(), mixed)
    assert check_url("https://hooks.example.com/", UrlPolicy.from_lists(["10.0.0.0/8"], []), mixed)
    assert check_url("http://127.0.0.1:9/", UrlPolicy.from_lists(["127.0.0.0/8"], [])).address == "127.0.0.1"
    assert check_url("http://localhost:9/", UrlPolicy.from_lists([], ["localhost"]))
    with pytest.raises(UnsafeWebhookURL, match="credentials"):
        check_url("https://u:p@hooks.example.com/", UrlPolicy(), mixed)
    with pytest.raises(UnsafeWebhookURL, match="allow_networks"):
        UrlPolicy.from_lists(["not-a-network"], [])
    assert ipaddress.ip_network("127.0.0.0/8") in UrlPolicy.from_lists(["127.0.0.1/8"], []).allow_networks


# --- payloads ------------------------------------------------------------------------------------

def test_json_and_slack_payloads() -> None:
    notice = AlertNotice("firing", "alert-1-firing", "default", "slow", 3, 1, "critical", "firing",
                         {"model": "gpt"}, 2500.0, 1000.0, "p95(latency_ms) > 1000 for 5m over 15m", NOW, NOW,
                         None, NOW)
    generic = render(notice, "json")
    assert generic["alert"]["labels"] == {"model": "gpt"} and generic["alert"]["fired_at"] == NOW.isoformat()
    assert generic["idempotency_key"] == "alert-1-firing" and generic["version"] == 1
    slack = render(notice, "slack")
    assert "[FIRING] slow (critical)" in slack["text"] and "2500" in slack["text"]
    assert slack["attachments"][0]["fields"][2]["value"] == "model=gpt"
    with pytest.raises(ValueError, match="json, slack"):
        render(notice, "xml")


def test_allow_networks_are_checked_at_load() -> None:
    with pytest.raises(ValidationError, match="is not a network"):
        Settings(alerts={"allow_networks": ["10.0.0.0/33"]})
    assert Settings(alerts={"allow_networks": ["10.0.0.0/8", "::1/128"]}).alerts.allow_networks
