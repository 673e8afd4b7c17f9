"""What redaction looks for: emails, phone numbers, payment cards, secrets and user patterns.

Every pattern is compiled once, at startup, starts with something CPython's engine can search
for quickly (a literal, a character class, ``@`` behind a gate), and has bounded or possessive
repetition, so the cost is linear in the text: a 256 KiB base64 blob takes milliseconds. Word
boundaries are checked in the replacer rather than by a leading look-behind, which would make
the engine try every position. Card numbers must pass the Luhn check, so order ids and other long
numbers are left alone; the generic ``key=value`` rule only takes values that look random (high
entropy, mixed characters).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

BUILTIN_KINDS = ("email", "phone", "card", "secret")


def marker(name: str) -> str:
    return f"[REDACTED:{name}]"


@dataclass(frozen=True)
class Detector:
    """One kind of sensitive text: a compiled pattern and what a match becomes.

    ``hint`` is a cheap pre-check (a substring or a predicate on the text); when it says no, the
    regex is not run at all, which is what keeps redaction cheap on ordinary prose. ``run``, when
    set, replaces ``pattern.sub`` for a detector that must look behind its anchor (emails).
    """

    name: str
    pattern: re.Pattern[str]
    replace: Callable[[re.Match[str]], str]
    hint: Callable[[str], bool] | None = None
    run: Callable[[str], str] | None = None


def _fixed(name: str) -> Callable[[re.Match[str]], str]:
    text = marker(name)
    return lambda _m: text


def luhn_ok(digits: str) -> bool:
    """The checksum every payment card number carries (ISO/IEC 7812)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(m: re.Match[str]) -> str:
    at = m.start()
    if at and m.string[at - 1] in "0123456789-":  # the tail of a longer number
        return m.group()
    digits = re.sub(r"\D", "", m.group())
    return marker("card") if 13 <= len(digits) <= 19 and luhn_ok(digits) else m.group()


def entropy_bits(text: str) -> float:
    """Shannon entropy per character: random tokens score ~4–6, words and ids well under 3.5."""
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


# ``token`` but not ``tokens``/``tokenizer`` (counts and model settings); ``auth`` only as a whole part.
_SECRET_NAMES = re.compile(
    r"(?i)(?:api[_.-]?key|apikey|secret|token(?!s|iz)|passw(?:or)?d|passphrase|pwd|credential|"
    r"access[_.-]?key|private[_.-]?key|(?:^|[_.-])auth(?:orization)?(?:$|[_.-]))"
)
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_WORD_CHARS = _NAME_CHARS - {"."}


def _name_before(text: str, end: int) -> str:
    """The key in front of an ``=``/``:`` at ``end`` (skipping a closing quote and a little space)."""
    j = end
    while j > 0 and end - j < 3 and text[j - 1] in " \t":
        j -= 1
    if j > 0 and text[j - 1] in "\"'":
        j -= 1
    k = j
    while k > 0 and j - k < 64 and text[k - 1] in _NAME_CHARS:
        k -= 1
    return text[k:j]


def _random_looking(value: str) -> bool:
    return (len(value) >= 24 and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
            and entropy_bits(value) >= 3.5)


def _assignment(m: re.Match[str]) -> str:
    """``name=value`` / ``"name": "value"``: redact the value when the name says secret, or, after
    ``=`` only (``https://…`` is not a key), when the value is long and looks random."""
    text, at = m.string, m.start()
    name = _name_before(text, at)
    quoted, value = m.group("quoted"), m.group("value")
    secret_name = bool(name) and _SECRET_NAMES.search(name) is not None
    if quoted is not None:  # a quoted value may hold spaces; only a secret-looking name redacts it
        head = m.group()[:m.start("quoted") - at]
        if secret_name and not quoted.isdigit():
            return f"{head}{marker('secret')}{m.group('q')}"
        if "=" not in quoted and ":" not in quoted:
            return m.group()
        inner = _ASSIGNMENT.sub(_assignment, quoted)  # ``"note": "password=…"``: look inside too
        return m.group() if inner == quoted else f"{head}{inner}{m.group('q')}"
    if name and ((secret_name and not value.isdigit()) or (text[at] == "=" and _random_looking(value))):
        return m.group()[:m.start("value") - at] + marker("secret")
    return m.group()


def _bearer(m: re.Match[str]) -> str:
    at = m.start()
    if at and m.string[at - 1] in _WORD_CHARS:
        return m.group()
    return f"{m.group('scheme')}{marker('secret')}"


_EMAIL_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")


def _redact_emails(text: str) -> str:
    """Emails found from their ``@domain`` (a rare character to search for), the local part read
    backwards from there: a pattern starting with the local part would be tried at every letter."""
    parts: list[str] = []
    last = 0
    for m in _EMAIL.finditer(text):
        at = k = m.start()
        while k > last and at - k < 64 and text[k - 1] in _EMAIL_LOCAL:
            k -= 1
        if k > 0 and text[k - 1] == "\\" and k < at:  # ``\nalice@…`` in JSON: keep the escape's letter
            k += 1
        if k == at:
            continue
        parts += (text[last:k], marker("email"))
        last = m.end()
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


def _after(forbidden: frozenset[str], replacement: str) -> Callable[[re.Match[str]], str]:
    """A replacer that leaves the match alone when the character before it continues a word.

    This stands in for a leading look-behind, which would stop CPython's engine from skipping
    ahead to the pattern's first character and make it try every position (~0.1 µs each).
    """

    def replace(m: re.Match[str]) -> str:
        at = m.start()
        return m.group() if at and m.string[at - 1] in forbidden else replacement

    return replace


def _phone(m: re.Match[str]) -> str:
    """Not inside a word, and not the tail of a longer digit group (``12 415 555 0100``)."""
    text, at = m.string, m.start()
    before = text[at - 1] if at else ""
    if before.isalnum() or before in "_+" or (at > 1 and before in " .-" and text[at - 2].isdigit()
                                              and text[at] != "+"):
        return m.group()
    return marker("phone")


_EMAIL = re.compile(r"@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}(?![\w-])")
# Phone numbers: E.164 (+ and 7-15 digits), or grouped digits with a separator or parentheses
# (``(415) 555-0100``, ``+44 20 7946 0958``, ``415.555.0100``): groups after the first have 3-4
# digits, so dates (2-digit groups) are not taken, and never part of a longer digit group, so
# version numbers, IPs and card-like runs are not either.
# The first character is a plain class and the branches are picked by a look-behind on it, which
# lets the engine skip to candidate characters; ``[0-9]`` is cheaper than ``\d`` (Unicode digits).
_PARENS = r"[0-9]{1,4}\)[ .-]?[0-9]{3,4}[ .-]?[0-9]{3,4}"
_PHONE = re.compile(
    r"[+(0-9](?:"
    rf"(?<=\+)(?:[0-9]{{7,15}}|[0-9]{{1,3}}[ .-]?(?:\({_PARENS}|[0-9]{{2,4}}[ .-][0-9]{{3,4}}[ .-][0-9]{{3,4}}))"
    rf"|(?<=\(){_PARENS}"
    r"|(?<=[0-9])[0-9]{1,3}[ .-][0-9]{3,4}[ .-][0-9]{3,4}"
    r")(?![ .-]?[0-9])(?!\w)"
)
# 13-19 digits, optionally grouped, starting 2-6 (Mastercard, Amex, Visa, Discover…): nanosecond
# timestamps (1…) are not cards.
_CARD = re.compile(r"[2-6](?:[ -]?[0-9]){12,18}(?![0-9])")
_SECRET_SHAPES = re.compile(
    r"(?:"
    r"sk-(?:[A-Za-z0-9]++-){0,3}+[A-Za-z0-9_]{16,}"          # OpenAI, Anthropic (sk-ant-…), sk-proj-…
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"                           # AWS access key id
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}"  # GitHub tokens
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"                       # Slack
    r"|AIza[0-9A-Za-z_-]{35}"                               # Google API key
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWT
    r")(?![\w-])"
)
_BEARER = re.compile(r"(?P<scheme>[Bb](?:earer|EARER)\s+)[A-Za-z0-9._~+/-]{16,}=*")
# Anchored on the ``=``/``:`` (a cheap first character to search for); the key before it is read
# by ``_name_before``. The keys of the GenAI message JSON itself are skipped in the pattern (each
# match costs a Python call, and they are most of the ``:`` in a prompt). Possessive quantifiers
# (``{…}+``) give nothing back on a failed attempt.
_ASSIGNMENT = re.compile(
    r"[=:](?<!\"content\":)(?<!\"role\":)(?<!\"type\":)(?<!\"text\":)(?<!\"finish_reason\":)\s{0,3}(?:(?P<q>[\"'])(?P<quoted>[^\"'\\\n]{6,256}+)(?P=q)|(?P<value>[A-Za-z0-9_+/.~-]{8,}+=*))"
)


def _has_digit(text: str) -> bool:
    """Ten single-character ``in`` tests (memchr speed) beat one ``[0-9]`` regex search by 4x."""
    return any(d in text for d in "0123456789")


def _secret_hint(text: str) -> bool:
    """Every shape has a ``-`` (sk-, xox-), ``_`` (gh*_), ``A`` (AKIA, ASIA, AIza) or is a JWT."""
    return "-" in text or "_" in text or "A" in text or "eyJ" in text


BUILTINS: Mapping[str, tuple[Detector, ...]] = {
    # Secrets first: a key such as ``sk-…1234…`` must not be half-taken by the card or phone rule.
    "secret": (
        Detector("secret", _SECRET_SHAPES, _after(_WORD_CHARS, marker("secret")), _secret_hint),
        Detector("secret", _BEARER, _bearer, lambda t: "earer" in t or "EARER" in t),
        Detector("secret", _ASSIGNMENT, _assignment, lambda t: "=" in t or ":" in t),
    ),
    "card": (Detector("card", _CARD, _card, _has_digit),),
    "email": (Detector("email", _EMAIL, _fixed("email"), lambda t: "@" in t, _redact_emails),),
    "phone": (Detector("phone", _PHONE, _phone, _has_digit),),
}


def builtin_detectors(kinds: tuple[str, ...]) -> list[Detector]:
    """The detectors of the named kinds, in the order that keeps them from stepping on each other."""
    unknown = sorted(set(kinds) - set(BUILTINS))
    if unknown:
        raise ValueError(f"unknown redaction kind(s) {', '.join(unknown)}; valid: {', '.join(BUILTIN_KINDS)}")
    return [d for kind, detectors in BUILTINS.items() if kind in kinds for d in detectors]


def user_detectors(patterns: Mapping[str, str]) -> list[Detector]:
    """``[privacy.patterns]``: name -> regex; matches become ``[REDACTED:name]``.

    Raises ``ValueError`` naming the pattern when a regex does not compile (a startup error).
    """
    detectors = []
    for name, source in patterns.items():
        try:
            compiled = re.compile(source)
        except re.error as exc:
            raise ValueError(f"privacy.patterns.{name}: invalid regular expression {source!r}: {exc}") from exc
        if compiled.match(""):
            raise ValueError(f"privacy.patterns.{name}: {source!r} matches the empty string")
        detectors.append(Detector(name, compiled, _fixed(name)))
    return detectors
