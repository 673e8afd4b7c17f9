"""Conversions shared by the protobuf and JSON decoders: AnyValue, ids, attribute lists."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from monitor.errors import PayloadError

# Attribute values longer than this are cut and marked, never rejected (a prompt can be huge).
MAX_VALUE_CHARS = 256 * 1024
TRUNCATION_MARK = "…[truncated by llm-monitor]"


def truncate(text: str) -> str:
    """Cut over-long values (with a marker) and replace NUL, which PostgreSQL text cannot hold."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if len(text) <= MAX_VALUE_CHARS:
        return text
    return text[:MAX_VALUE_CHARS] + TRUNCATION_MARK


def pb_value(v: AnyValue) -> Any:
    """Turn a protobuf AnyValue into plain Python (bytes become base64 text)."""
    which = v.WhichOneof("value")
    if which == "string_value":
        return truncate(v.string_value)
    if which is None:
        return None
    if which == "array_value":
        return [pb_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return pb_attributes(v.kvlist_value.values)
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return getattr(v, which)


def pb_attributes(kvs: Iterable[KeyValue]) -> dict[str, Any]:
    return {truncate(kv.key): pb_value(kv.value) for kv in kvs}


def json_value(v: Any) -> Any:
    """Turn an OTLP/JSON AnyValue object into plain Python (int64 may arrive as a string)."""
    if not isinstance(v, dict) or not v:
        return None
    if "stringValue" in v:
        return truncate(str(v["stringValue"]))
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "arrayValue" in v:
        return [json_value(x) for x in (v["arrayValue"] or {}).get("values", []) or []]
    if "kvlistValue" in v:
        return json_attributes((v["kvlistValue"] or {}).get("values", []))
    if "bytesValue" in v:
        return str(v["bytesValue"])
    return None


def json_attributes(kvs: Any) -> dict[str, Any]:
    if not kvs:
        return {}
    if not isinstance(kvs, list):
        raise PayloadError("attributes must be a list of {key, value} objects")
    out: dict[str, Any] = {}
    for kv in kvs:
        if not isinstance(kv, dict) or "key" not in kv:
            raise PayloadError("attribute without a key")
        out[truncate(str(kv["key"]))] = json_value(kv.get("value"))
    return out


def json_id(raw: Any, size: int) -> str | None:
    """OTLP/JSON ids are hex (case-insensitive); base64, which proto3 JSON would use, is accepted too."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise ValueError("id is not a string")
    if len(raw) == size * 2:
        try:
            bytes.fromhex(raw)
            return raw.lower()
        except ValueError:
            pass
    try:
        decoded = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"id {raw[:40]!r} is neither {size * 2} hex digits nor base64") from exc
    if len(decoded) != size:
        raise ValueError(f"id {raw[:40]!r} is not {size} bytes")
    return decoded.hex()


def json_int(raw: Any, default: int = 0) -> int:
    """int64 fields arrive as decimal strings or numbers."""
    if raw is None or raw == "":
        return default
    return int(raw)
