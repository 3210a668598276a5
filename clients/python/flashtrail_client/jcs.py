"""RFC 8785 JSON Canonicalization Scheme (JCS), byte for byte what flashtrail's ledger computes.

Values are Python's JSON types: dict (str keys), list or tuple, str, int, float, bool and None.
Every number is an IEEE 754 double, as RFC 8785 §3.2.2.3 requires, and is written the way ECMAScript's
Number.prototype.toString writes it: the shortest digits that read back as the same double (Python's
repr finds those; it rounds the same way), then ECMAScript's choice between plain and exponent notation.
An int that no double holds exactly is refused rather than silently rounded. Object members are sorted by
their UTF-16 code units (§3.2.3), not by code points. What has no canonical form is refused with the
path of the offending value: NaN and infinities, lone surrogates (not I-JSON, RFC 7493), other types, and
nesting deeper than `max_depth` (a bound, so hostile input cannot exhaust the stack).
"""
from __future__ import annotations

import math

DEFAULT_MAX_DEPTH = 64


class CanonicalizationError(ValueError):
    """A value with no RFC 8785 form; `path` is JSONPath-like, e.g. `$.data.fuses[2]`."""

    def __init__(self, reason: str, path: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.reason = reason
        self.path = path


class _Located(Exception):
    # Raised inside the recursion; the path is collected while unwinding, so the happy path builds no strings.
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str] = []


def canonicalize(value: object, max_depth: int = DEFAULT_MAX_DEPTH) -> str:
    """The RFC 8785 canonical JSON text of `value`."""
    try:
        return _serialize(value, 0, max_depth)
    except _Located as failure:
        raise CanonicalizationError(failure.reason, "$" + "".join(reversed(failure.path))) from None


def canonical_bytes(value: object, max_depth: int = DEFAULT_MAX_DEPTH) -> bytes:
    """The UTF-8 bytes of `canonicalize(value)`: what is signed and hashed."""
    return canonicalize(value, max_depth).encode("utf-8")


def format_number(x: float) -> str:
    """ECMAScript Number::toString(x) (ECMA-262 §6.1.6.1.20) for a finite double, as RFC 8785 §3.2.2.3 requires."""
    if not math.isfinite(x):
        raise ValueError(f"{x} has no JSON form")
    if x == 0:
        return "0"  # also -0
    if x < 0:
        return "-" + format_number(-x)
    # repr gives the shortest round-tripping digits, nearest to x: the s and k of the ECMAScript algorithm.
    text = repr(x)
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + int(exponent or "0")  # x = 0.digits × 10^point
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k, n = len(digits), point
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    sign = "+" if n - 1 >= 0 else "-"
    head = digits[0] if k == 1 else digits[0] + "." + digits[1:]
    return f"{head}e{sign}{abs(n - 1)}"


# JSON.stringify's escapes: the two-character ones where ECMAScript has them, \u00xx (lowercase) for the
# other control characters, and nothing else escaped (not "/", not U+007F, not U+2028).
_ESCAPES = {i: f"\\u{i:04x}" for i in range(0x20)}
_ESCAPES.update({0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"})


def _string(value: str) -> str:
    for ch in value:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise _Located("string holds a lone surrogate (not I-JSON, RFC 7493)")
    return '"' + value.translate(_ESCAPES) + '"'


def _utf16_order(key: str) -> bytes:
    # Big-endian UTF-16 bytes compare exactly as the code units do.
    return key.encode("utf-16-be")


def _serialize(value: object, depth: int, max_depth: int) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int):
        try:
            as_double = float(value)
        except OverflowError:
            as_double = math.inf
        if as_double != value:
            raise _Located(f"the integer {value} is not exactly an IEEE 754 double (RFC 8785 §3.2.2.3)")
        return format_number(as_double)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Located(f"{value} has no JSON form")
        return format_number(value)
    if isinstance(value, (list, tuple, dict)):
        if depth >= max_depth:
            raise _Located(f"nested deeper than {max_depth} levels")
        if isinstance(value, dict):
            for key in value:
                if not isinstance(key, str):
                    raise _Located(f"object member names must be strings, not {type(key).__name__}")
            parts = []
            for key in sorted(value, key=_utf16_order):
                try:
                    parts.append(_string(key) + ":" + _serialize(value[key], depth + 1, max_depth))
                except _Located as failure:
                    failure.path.append("." + key)
                    raise
            return "{" + ",".join(parts) + "}"
        items = []
        for i, item in enumerate(value):
            try:
                items.append(_serialize(item, depth + 1, max_depth))
            except _Located as failure:
                failure.path.append(f"[{i}]")
                raise
        return "[" + ",".join(items) + "]"
    raise _Located(f"{type(value).__name__} has no JSON form")


def json_nesting_depth(text: str) -> int:
    """Nesting depth of JSON text, counted without parsing (brackets outside strings), so that a hostile
    document is refused before any recursive code sees it."""
    depth = deepest = 0
    in_string = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "{[":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "}]":
            depth -= 1
        i += 1
    return deepest
