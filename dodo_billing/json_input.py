"""JSON from outside — API bodies, ingested events, JSON typed into dashboard forms — read by one
set of rules before anything is stored.

Two kinds of valid JSON are refused, each with a 422 ``INVALID_REQUEST_BODY`` (or a form error):

- **Nesting deeper than ``MAX_JSON_DEPTH`` levels.** Parsers recurse once per level, so
  ``[[[[…]]]]`` 10,000 levels deep exhausted Python's stack (a ``RecursionError``, a 500) in the
  API's parser and in msgspec. No body of the API nests beyond a few levels (a meter filter, the
  deepest, takes about ten), so ``nesting_exceeds`` measures the depth on the raw bytes, without
  recursion, before any parser runs.
- **Lone UTF-16 surrogates** (``"\\ud800"`` without its pair). JSON may escape them, but they are
  not characters: PostgreSQL's UTF-8 (and SQLite's) cannot store them, so a metadata value, a
  webhook header or a meter filter value holding one was a 500 at the write. ``surrogate_path``
  names the first string (value or key) that holds one.
"""

import json
import re

from rest_framework.utils.json import strict_constant

from dodo_billing.errors import InvalidRequestBody

MAX_JSON_DEPTH = 32
NESTING_MESSAGE = f"The JSON nests deeper than {MAX_JSON_DEPTH} levels."
SURROGATE_MESSAGE = (
    "Holds a lone UTF-16 surrogate (\\ud800 to \\udfff without its pair), which is not a character."
)

# Every byte but a quote and the brackets (a translate() deletes them).
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'"[]{}')))
_TO_PARENTHESES = bytes.maketrans(b"[{]}", b"(())")
_QUOTED = re.compile(rb'"[^"]*"')
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONRejected(InvalidRequestBody):
    """Well-formed JSON refused by the rules above; ``path`` names the string (None: the body)."""

    def __init__(self, reason: str, *, path: str | None = None):
        self.path, self.reason = path, reason
        super().__init__(
            f"{path}: {reason}" if path else reason,
            extra={"errors": {path or "non_field_errors": [reason]}},
        )


def nesting_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text ``raw`` nests arrays and objects deeper than ``limit``, measured
    without parsing or recursion (a few hundred microseconds for a 200 kB ingest request).

    Brackets inside strings do not count: escaped backslashes and quotes are dropped first, so
    that every quote left opens or closes a string; then everything but quotes and brackets; then
    the strings. Each pass of removing adjacent "()" pairs takes one level off what is left. For
    malformed text the figure may be too high (it is refused either way), never too low.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    text = raw.translate(None, _NOT_STRUCTURE).replace(b'""', b"")  # most strings hold no bracket
    if b'"' in text:
        text = _QUOTED.sub(b"", text)
    structure = text.translate(_TO_PARENTHESES)
    for passes in range(limit + 1):  # noqa: B007 -- the count of passes is the result
        shorter = structure.replace(b"()", b"")
        if len(shorter) == len(structure):
            break
        structure = shorter
    else:
        return True
    return passes + structure.count(b"(") > limit


def _shown(key: str) -> str:
    """A key as it can be shown in an error (its surrogates escaped)."""
    return key.encode("utf-8", "backslashreplace").decode()


def surrogate_path(data) -> str | None:
    """The path (``metadata.region``, ``events[2].metadata``) of the first string of ``data``
    holding a lone surrogate; a key that holds one names the object it is in. None if none."""
    stack = [(data, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return path or "body"
        elif isinstance(value, dict):
            children = []
            for key, item in value.items():
                if _SURROGATE.search(key):
                    return path or _shown(key)
                children.append((item, f"{path}.{key}" if path else key))
            stack.extend(reversed(children))
        elif isinstance(value, list):
            stack.extend(reversed([(item, f"{path}[{index}]") for index, item in enumerate(value)]))
    return None


def may_hold_surrogates(raw: bytes) -> bool:
    """Whether JSON text escapes a surrogate anywhere (the only way JSON can carry one)."""
    return _ESCAPED_SURROGATE.search(raw) is not None


def load_json(raw: bytes | str, encoding: str = "utf-8"):
    """Parse JSON from outside under the rules above (and without NaN or Infinity).

    Raises JSONRejected for too deep a nesting or a lone surrogate, ValueError (or
    UnicodeDecodeError) for text that is not JSON.
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if nesting_exceeds(data):
        raise JSONRejected(NESTING_MESSAGE)
    value = json.loads(raw if isinstance(raw, str) else raw.decode(encoding), parse_constant=strict_constant)
    if may_hold_surrogates(data) or (isinstance(raw, str) and _SURROGATE.search(raw)):
        path = surrogate_path(value)
        if path is not None:
            raise JSONRejected(SURROGATE_MESSAGE, path=path)
    return value
