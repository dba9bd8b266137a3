from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archiver.canonical import canonical_bytes, decode_lossless, parse_canonical

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),  # includes lone surrogates
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=30,
)


@given(json_values)
def test_round_trip_is_lossless_and_stable(value: object) -> None:
    data = canonical_bytes(value)
    data.decode("utf-8")  # always valid UTF-8, even for lone surrogates
    decoded = parse_canonical(data)
    assert canonical_bytes(decoded) == data
    assert _same(decoded, value)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.copysign(1, a) == math.copysign(1, b) and a == b)
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_exact_bytes_of_a_known_value() -> None:
    value = {"b": [1, "é", None, True], "a": 'line\nbreak "q"', "\u00e9": 2, "Z": 1.5}
    assert (
        canonical_bytes(value)
        == '{"Z":1.5,"a":"line\\nbreak \\"q\\"","b":[1,"é",null,true],"é":2}'.encode()
    )


def test_key_order_and_whitespace_do_not_matter() -> None:
    assert canonical_bytes(json.loads('{ "b" : 1, "a" : [ 2 ] }')) == b'{"a":[2],"b":1}'


def test_lone_surrogates_are_escaped_not_lost() -> None:
    data = canonical_bytes({"t": "a\ud800b"})
    assert data == b'{"t":"a\\ud800b"}'
    assert parse_canonical(data) == {"t": "a\ud800b"}


def test_invalid_utf8_bytes_survive_through_surrogateescape() -> None:
    body = b"caf\xe9 \xff\xfe ok"
    text = decode_lossless(body)
    stored = canonical_bytes({"text": text})
    assert parse_canonical(stored)["text"].encode("utf-8", "surrogateescape") == body


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), {"s": {1, 2}}, b"bytes"])
def test_values_json_cannot_carry_are_refused(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        canonical_bytes(bad)


def test_non_canonical_bytes_are_detected() -> None:
    with pytest.raises(ValueError, match="not in canonical form"):
        parse_canonical(b'{"b":1, "a":2}')
