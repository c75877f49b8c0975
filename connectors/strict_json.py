r"""Parse a webhook body as JSON that every store downstream can hold, or say why not.

``json.loads`` accepts what our stores cannot: lone surrogates (``"\ud800"`` parses into a
str that SQLite, PostgreSQL and UTF-8 encoders refuse), NUL characters (PostgreSQL text
refuses them), ``NaN``/``Infinity`` (not JSON; PostgreSQL's json refuses them), and nesting
deep enough to raise ``RecursionError`` (5,000 ``[`` are 5 kB). Each of these used to
surface as a 500 *after* the platform's signature had been checked, so the platform
redelivered the body forever. :func:`loads` refuses all of them up front with
:class:`UnsafeJSON`, whose message names the problem and where it is (a JSONPath).

Depth is measured on the parsed value without recursion; the parser itself stops hostile
nesting with ``RecursionError`` (caught), so neither step can exhaust the stack.
"""

from __future__ import annotations

import json
from typing import Any

#: Deepest nesting accepted by default. A Telegram Update or a WhatsApp notification is
#: at most ~8 levels deep; 32 leaves room for platform additions.
MAX_DEPTH = 32


class UnsafeJSON(ValueError):
    """The body is not JSON our stores can hold; the message says why."""


def _no_constants(name: str) -> Any:
    raise UnsafeJSON(f"{name} is not JSON")


def _short(where: str) -> str:
    """A JSONPath for a message: keys are the client's, so keep it short."""
    return where if len(where) <= 120 else where[:117] + "..."


def _check_text(value: str, where: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UnsafeJSON(
            f"{_short(where)} holds a lone surrogate (\\u{ord(value[exc.start]):04x}): "
            "not text any store can keep"
        ) from None
    if "\x00" in value:
        raise UnsafeJSON(f"{_short(where)} holds a NUL character")


def check(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """Raise :class:`UnsafeJSON` if ``value`` nests too deep or holds unstorable text.

    Iterative (an explicit stack), so any depth is safe to inspect.
    """
    stack: list[tuple[Any, str, int]] = [(value, "$", 0)]
    while stack:
        item, where, level = stack.pop()
        if isinstance(item, str):
            _check_text(item, where)
            continue
        if not isinstance(item, (dict, list)):
            continue
        if level >= max_depth:
            raise UnsafeJSON(f"JSON nested deeper than {max_depth} levels at {_short(where)}")
        if isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, f"a key in {where}")
                stack.append((child, f"{where}.{key}", level + 1))
        else:
            stack.extend((child, f"{where}[{i}]", level + 1) for i, child in enumerate(item))


def loads(raw: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``raw`` parsed as strict JSON: UTF-8, bounded depth, storable strings, no NaN.

    Raises:
        UnsafeJSON: with a message naming the first problem found.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeJSON(f"body is not valid UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text, parse_constant=_no_constants)
    except UnsafeJSON:
        raise
    except RecursionError:
        raise UnsafeJSON(f"JSON nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise UnsafeJSON(f"body is not valid JSON ({exc})") from None
    check(data, max_depth)
    return data
