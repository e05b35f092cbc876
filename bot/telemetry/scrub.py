"""Text scrubbers: the patterns that find secrets inside a value, in linear time.

Telemetry text is an attacker's input, so every scrubber here runs in time linear in the
text: RE2 patterns (no backtracking; a Python ``re`` e-mail pattern took 9 s on 64 KiB of
letters with no ``@``) and bounded scans, never a look-around.

Beyond plain patterns, three shapes hide a secret from a pattern that reads the text as
sent, and each is handled here:

- URL-encoded runs (``jane%40example.com``, ``4111%201111...``) are decoded *for matching
  only*: a run whose decoded text a scrubber changes is replaced by that scrubbed text,
  encoded again, so the stored text stays as sent with only the secret replaced.
- Integers: a card number sent as an integer attribute has no text to match; one of 13-19
  digits that begins as card numbers do (2-6) and passes the Luhn check becomes ``[card]``.
  Timestamps in ms, us and ns begin with 1 until 2033, so they are kept.
- Bytes values are stored as hex: hex text that decodes to UTF-8 is scrubbed as that text
  and, when a secret was found, stored as the hex of the scrubbed text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote

import re2

from bot.config import RedactionRules

Scrub = Callable[[str], str]

CARD = "[card]"
BUILTIN: dict[str, tuple[str | bytes, str]] = {
    "email": (r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}", "[email]"),
    # grouped by single spaces or dashes, or by dots in the 4-4-4-x and 4-6-5 layouts only
    # (a dot alone would take decimal numbers for cards)
    "card_number": (
        rb"(?:^|[^\d-])((?:\d[ -]?){12,18}\d|\d{4}(?:\.\d{4}){2}\.\d{1,7}|\d{4}\.\d{6}\.\d{5})(?:[^\d-]|$)",
        CARD,
    ),
    "bearer_token": (r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*", "Bearer [token]"),
    "api_key": (
        r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"
        r"|\bAKIA[0-9A-Z]{16}\b"
        r"|\bxox[abprs]-[A-Za-z0-9-]{10,}"
        r"|\bgh[pousr]_[A-Za-z0-9]{20,}"
        r"|(?i:\b(?:x-)?api[_-]?key[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9\-._~+/]{8,}",
        "[api_key]",
    ),
    # a JSON Web Token: three base64url parts, the header's JSON starting `{"` (eyJ)
    "jwt": (r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*", "[jwt]"),
    # key=value or key: value in any text (URLs, DSNs, stack traces, JSON); the key is kept
    "password": (r"(?i)((?:password|passwd|pwd)[\"']?\s*[:=]\s*[\"']?)[^\s&\"',;]+", r"\1[password]"),
    "basic_auth": (r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?basic\s+)[A-Za-z0-9+/]+=*", r"\1[token]"),
}
"""Name: (pattern, replacement). A replacement may refer to the pattern's groups."""

_NOT_DIGIT = re2.compile(rb"\D")
_ENCODED_RUN = re2.compile(r"[^\s?&=#/;,\"'<>]*%[0-9A-Fa-f]{2}[^\s?&=#/;,\"'<>]*")
"""A run of URL text with an escape in it, between the separators of URLs and forms."""
_KEEP_UNQUOTED = "!$'()*+,/:;=?@[]~"
_HEX = re2.compile(r"(?:[0-9a-fA-F]{2}){8,}")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
"""Hex of at least 8 bytes: shorter bytes values hold no secret these patterns know."""
_CARD_MIN, _CARD_MAX = 10**12, 10**19


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def compile_scrubbers(rules: RedactionRules) -> Scrub | None:
    """One function that applies the rules' patterns in their order, then the custom ones;
    None when there are none. Each pattern costs about 2 us a call through the binding
    even on a short text that holds nothing, so one search for any of them comes first:
    most texts hold no secret, and pay for that search alone."""
    scrubbers: list[Scrub] = []
    sources: list[str] = []
    for name in rules.patterns:
        regex, replacement = BUILTIN[name]
        if name == "card_number":
            scrubbers.append(_card_scrubber(re2.compile(regex), replacement))
        else:
            scrubbers.append(_scrubber(re2.compile(regex), replacement))
        sources.append(regex.decode() if isinstance(regex, bytes) else regex)
    for custom in rules.custom_patterns:
        scrubbers.append(_scrubber(re2.compile(custom.regex), f"[{custom.name}]", literal=True))
        sources.append(custom.regex)
    if not scrubbers:
        return None
    try:
        anything = re2.compile("|".join(f"(?:{source})" for source in sources))
    except re2.error:  # custom patterns that cannot be joined (a group name twice)
        anything = None

    def scrub(text: str) -> str:
        if anything is not None and anything.search(text) is None:
            return text
        for one in scrubbers:
            text = one(text)
        return text

    return scrub


def decoded_runs(text: str, scrub: Scrub) -> str:
    """``text`` with each URL-encoded run that hides a secret replaced by the run scrubbed
    (as decoded) and encoded again; the rest as it was."""
    pieces: list[str] = []
    done = 0
    for match in _ENCODED_RUN.finditer(text):
        run = match.group(0)
        plain = unquote(run)
        scrubbed = scrub(plain)
        if scrubbed != plain:
            begin, end = match.span()
            pieces += [text[done:begin], quote(scrubbed, safe=_KEEP_UNQUOTED)]
            done = end
    return "".join([*pieces, text[done:]]) if pieces else text


def card_integer(value: int) -> bool:
    """An integer attribute that is a card number (see the module docstring)."""
    number = -value if value < 0 else value
    if not _CARD_MIN <= number < _CARD_MAX:
        return False
    digits = str(number)
    return "2" <= digits[0] <= "6" and luhn_valid(digits)


def scrubbed_hex(value: str, scrub: Scrub) -> str | None:
    """The hex of ``value``'s bytes scrubbed, when they are UTF-8 text a scrubber changes;
    else None (not hex, binary, or nothing found)."""
    if value[0] not in _HEX_DIGITS or value[-1] not in _HEX_DIGITS or _HEX.fullmatch(value) is None:
        return None
    try:
        plain = bytes.fromhex(value).decode()
    except UnicodeDecodeError:
        return None
    scrubbed = scrub(plain)
    return scrubbed.encode().hex() if scrubbed != plain else None


def _scrubber(pattern: Any, replacement: str, *, literal: bool = False) -> Scrub:
    template = replacement.replace("\\", "\\\\") if literal else replacement
    return lambda text: pattern.sub(template, text)


def _card_scrubber(pattern: Any, replacement: str) -> Scrub:
    """Card numbers: 13-19 digits, whole or grouped (see BUILTIN), with no digit or dash
    right before or after (``ord-4111...`` is an id), that pass the Luhn check. RE2 has no
    look-around, so the pattern takes the characters around the number too, and the next
    search starts at the one after it, which may begin the next number. The search runs on
    UTF-8 bytes: given a str and a start, the binding re-encodes the whole text at every
    call."""
    mask = replacement.encode()

    def scrub(text: str) -> str:
        data = text.encode()
        pieces: list[bytes] = []
        done = at = 0
        while (match := pattern.search(data, at)) is not None:
            begin, end = match.span(1)
            if luhn_valid(_NOT_DIGIT.sub(b"", match.group(1)).decode()):
                pieces += [data[done:begin], mask]
                done = end
            at = end
        return b"".join([*pieces, data[done:]]).decode() if pieces else text

    return scrub
