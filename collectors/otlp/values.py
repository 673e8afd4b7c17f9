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
# AnyValue nesting kept from OTLP/JSON (protobuf's own parser stops at 100 levels).
MAX_DEPTH = 32
DEPTH_MARK = "[nested too deep: truncated by llm-monitor]"


def truncate(text: str) -> str:
    """Cut over-long values (with a marker) and replace what no database text can hold: NUL, and
    lone UTF-16 surrogates (OTLP/JSON may carry them as ``\\udXXX`` escapes; found by fuzzing)."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
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


def json_value(v: Any, depth: int = 0) -> Any:
    """Turn an OTLP/JSON AnyValue object into plain Python (int64 may arrive as a string).

    Nesting deeper than ``MAX_DEPTH`` is cut with a marker: the JSON encoder of the store (and
    PostgreSQL's jsonb) refuse absurd depths, and a 500 there would make the client retry forever.
    """
    if not isinstance(v, dict) or not v:
        return None
    if depth >= MAX_DEPTH:
        return DEPTH_MARK
    if "stringValue" in v:
        return truncate(str(v["stringValue"]))
    if "intValue" in v:
        return _int64(v["intValue"])
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "arrayValue" in v:
        return [json_value(x, depth + 1) for x in _values(v["arrayValue"])]
    if "kvlistValue" in v:
        return json_attributes(_values(v["kvlistValue"]), depth + 1)
    if "bytesValue" in v:
        return str(v["bytesValue"])
    return None


def _values(container: Any) -> list[Any]:
    """``values`` of an arrayValue / kvlistValue object; any other shape is the client's bad data."""
    if not container:
        return []
    values = container.get("values") if isinstance(container, dict) else container
    if values is None:
        return []
    if not isinstance(values, list) or not isinstance(container, dict):
        raise PayloadError("arrayValue and kvlistValue must be objects with a list of values")
    return values


def _int64(raw: Any) -> int | str:
    """An OTLP int64; a number outside int64 (which the store's JSON encoder refuses) is kept as its text."""
    try:
        value = int(raw)
    except OverflowError as exc:  # int(float("inf"))
        raise ValueError(f"intValue {str(raw)[:40]!r} is not an integer") from exc
    return value if -(2**63) <= value < 2**63 else str(raw)


def json_attributes(kvs: Any, depth: int = 0) -> dict[str, Any]:
    if not kvs:
        return {}
    if not isinstance(kvs, list):
        raise PayloadError("attributes must be a list of {key, value} objects")
    out: dict[str, Any] = {}
    for kv in kvs:
        if not isinstance(kv, dict):
            raise PayloadError("attribute is not a {key, value} object")
        # proto3 JSON leaves out default values: a missing key is the empty key a protobuf client may send
        out[truncate(str(kv.get("key", "")))] = json_value(kv.get("value"), depth)
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


def json_optional_id(raw: Any, size: int) -> str | None:
    """A reference to another span (parent, link): unusable means absent, as in the protobuf decoder."""
    try:
        return json_id(raw, size)
    except ValueError:
        return None


def json_int(raw: Any, default: int = 0) -> int:
    """int64 fields arrive as decimal strings or numbers."""
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except OverflowError as exc:  # 1e999 parses as inf: the item is bad, not the whole request
        raise ValueError(f"{str(raw)[:40]!r} is not an integer") from exc
