"""Strict JSON: what json.loads accepts but no store can keep is refused, naming where."""

from __future__ import annotations

import json

import pytest

from connectors.strict_json import MAX_DEPTH, UnsafeJSON, check, loads

pytestmark = pytest.mark.rasa_env


@pytest.mark.parametrize(
    "value",
    [
        {"update_id": 1, "message": {"text": "Kje je moj paket? ✓ 📦 مرحبا"}},
        [],
        "plain",
        12345678901234567890,
        {"deep": json.loads("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1))},
    ],
)
def test_ordinary_json_round_trips(value: object) -> None:
    assert loads(json.dumps(value).encode()) == value
    assert loads(json.dumps(value, ensure_ascii=False).encode()) == value


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b'{"message": {"text": "hi \\ud800"}}', "$.message.text holds a lone surrogate"),
        (b'{"a": ["ok", "\\udfff"]}', "$.a[1] holds a lone surrogate (\\udfff)"),
        (b'{"\\ud83d": 1}', "a key in $ holds a lone surrogate"),
        (b'{"a": "x\\u0000y"}', "$.a holds a NUL character"),
        (b"[" * 5000 + b"]" * 5000, f"nested deeper than {MAX_DEPTH} levels"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested deeper"),
        (b'{"a": NaN}', "NaN is not JSON"),
        (b'{"a": -Infinity}', "-Infinity is not JSON"),
        (b"1" * 5000, "not valid JSON"),
        (b'{"a": "\xff"}', "not valid UTF-8 (byte 7)"),
        (b"\xed\xa0\x80", "not valid UTF-8"),  # a surrogate encoded as UTF-8 bytes
        (b"", "not valid JSON"),
        (b"{'a': 1}", "not valid JSON"),
    ],
)
def test_unstorable_json_is_refused_naming_the_problem(raw: bytes, problem: str) -> None:
    with pytest.raises(UnsafeJSON) as err:
        loads(raw)
    assert problem in str(err.value)


def test_a_hostile_key_does_not_make_the_message_long() -> None:
    raw = json.dumps({"k" * 100_000: {"x": "\ud800"}}).encode()
    with pytest.raises(UnsafeJSON) as err:
        loads(raw)
    assert len(str(err.value)) < 250


def test_check_walks_any_depth_without_recursion() -> None:
    value: list[object] = []
    for _ in range(100_000):  # far past Python's recursion limit
        value = [value]
    with pytest.raises(UnsafeJSON, match="nested deeper than 32"):
        check(value)
    check(value, max_depth=100_001)
