"""Text the service accepts from a client, the same on every backend.

Two rules, checked where text arrives (request path, query string, JSON bodies, skip tokens),
so that a bad value is a 400 before anything is stored or compared:

- **No NUL (U+0000) and no lone surrogate (U+D800 to U+DFFF)** in any string, key or value.
  PostgreSQL text cannot hold NUL, and SQLite's driver cannot encode a lone surrogate to UTF-8:
  left alone, the first is stored on SQLite and a 500 on PostgreSQL, the second a 500 on SQLite.
  A surrogate *pair* (`"\\ud83d\\ude00"`) is one character once decoded and is fine.
- **JSON nests at most `MAX_JSON_DEPTH` arrays and objects.** The deepest legitimate bodies are
  synchronization schemas whose attribute mappings carry parsed expression trees: each function
  call adds three levels (`parameters` array, pair object, `value` object), an expression nests
  at most `mapping.expressions.MAX_NESTING` (100) calls, and the path to a mapping's `source` is
  eight levels, so a schema reaches about 310. 400 leaves room for that and stays far from
  Python's recursion limit (1,000 frames) in everything that walks a body after it is parsed
  (pydantic, `copy.deepcopy`, the JSON encoders), so a deeper body is refused before it is parsed.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any, Final

MAX_JSON_DEPTH: Final = 400

_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")
# A JSON escape that can decode to a forbidden character; raw NUL is invalid JSON and raw
# surrogates are invalid UTF-8, so bodies without one of these escapes need no walk.
_FORBIDDEN_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
# Opening brackets become +1 and closing ones -1 (0xFF as a signed byte); the rest is deleted.
_BRACKETS: Final = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")


class BadText(ValueError):
    """Text the service refuses; the message says what and where, in a Graph error's words."""


def forbidden_character(text: str) -> str | None:
    """What is wrong with `text` ("a NUL character (U+0000)"), or None when it may be stored."""
    found = _FORBIDDEN.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "a NUL character (U+0000)"
    return f"a lone surrogate (U+{ord(found.group()):04X})"


def check_text(text: str, where: str) -> None:
    """BadText naming `where` when `text` holds a NUL or a lone surrogate."""
    problem = forbidden_character(text)
    if problem is not None:
        raise BadText(f"{where} contains {problem}, which is not allowed.")


def json_depth(raw: bytes) -> int:
    """How deeply `raw` nests arrays and objects, brackets inside strings not counted.

    Linear and iterative: strings are cut out by one regular expression, the brackets left are
    summed in C (`accumulate` over signed bytes), so a 4 MiB body costs milliseconds.
    """
    brackets = _JSON_STRING.sub(b"", raw).translate(_BRACKETS, _NOT_BRACKETS)
    return max(accumulate(memoryview(brackets).cast("b")), default=0)


def load_json(raw: bytes) -> Any:
    """Parse a request body: ValueError when it is not JSON, BadText when it nests deeper than
    MAX_JSON_DEPTH or holds a forbidden character (the message names the property)."""
    # Fewer brackets than the limit cannot nest past it: most bodies cost two counts.
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and json_depth(raw) > MAX_JSON_DEPTH:
        raise BadText(f"The JSON payload nests arrays and objects more than {MAX_JSON_DEPTH} levels deep.")
    try:
        value = json.loads(raw)
    except RecursionError:  # unreachable below the limit; kept so no body can make a 500
        raise BadText(
            f"The JSON payload nests arrays and objects more than {MAX_JSON_DEPTH} levels deep."
        ) from None
    if _FORBIDDEN_ESCAPE.search(raw):
        check_json_text(value)
    return value


def check_json_text(value: Any) -> None:
    """BadText naming the first property, in document order and as a path
    (`members@odata.bind.2`), whose name or string value holds a forbidden character.
    Iterative, so depth costs no stack."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            check_text(item, f"The value of '{path}'" if path else "The JSON payload")
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                check_text(key, f"A property name in '{path}'" if path else "A property name")
                children.append((f"{path}.{key}" if path else key, child))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            children = [(f"{path}.{i}" if path else str(i), child) for i, child in enumerate(item)]
            stack.extend(reversed(children))


def storable(value: Any) -> Any:
    """`value` (parsed JSON) with every NUL and lone surrogate in its strings and keys replaced
    by U+FFFD. For text another system sent us (a SCIM app's resources and error details): it is
    compared, logged and stored, so it must fit every backend, and refusing it is not ours to do."""
    if isinstance(value, str):
        return _FORBIDDEN.sub("\ufffd", value) if _FORBIDDEN.search(value) else value
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    return value
