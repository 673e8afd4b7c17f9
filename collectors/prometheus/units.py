"""Units of metrics without a known canonical name, from their name's suffix.

Prometheus names end in their unit (``_seconds``, ``_bytes``); servers do not all use base
units (Triton's ``_us``, Ollama's nanoseconds, ``_mib``, ``_mj``). Such names are rewritten to the
base unit (``…_duration_us`` → ``…_duration_seconds``, values × 1e-6) so every stored series
carries a base unit and its name says which.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024.0 * 1024.0


@dataclass(frozen=True, slots=True)
class UnitRule:
    suffix: str       # what the name ends with after its last "_" (lower case)
    base_suffix: str  # what replaces it
    scale: float
    unit: str


_RULES = {r.suffix: r for r in (
    UnitRule("microseconds", "seconds", 1e-6, "s"),
    UnitRule("us", "seconds", 1e-6, "s"),
    UnitRule("milliseconds", "seconds", 1e-3, "s"),
    UnitRule("ms", "seconds", 1e-3, "s"),
    UnitRule("nanoseconds", "seconds", 1e-9, "s"),
    UnitRule("ns", "seconds", 1e-9, "s"),
    UnitRule("mib", "bytes", MIB, "By"),
    UnitRule("millijoules", "joules", 1e-3, "J"),
    UnitRule("mj", "joules", 1e-3, "J"),
    UnitRule("seconds", "seconds", 1.0, "s"),
    UnitRule("bytes", "bytes", 1.0, "By"),
    UnitRule("joules", "joules", 1.0, "J"),
    UnitRule("watts", "watts", 1.0, "W"),
    UnitRule("ratio", "ratio", 1.0, "1"),
    UnitRule("celsius", "celsius", 1.0, "Cel"),
)}


def normalise_suffix(name: str) -> tuple[str, float, str | None]:
    """(name in base units, factor to multiply values by, unit) for a name llm-monitor does not know."""
    stem, sep, last = name.rpartition("_")
    if not sep:
        return name, 1.0, None
    rule = _RULES.get(last.lower())
    if rule is None:
        return name, 1.0, None
    if rule.scale == 1.0:
        return name, 1.0, rule.unit
    return f"{stem}_{rule.base_suffix}", rule.scale, rule.unit
