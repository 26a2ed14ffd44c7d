"""Values: what goes in comes out exactly; what cannot be stored says so."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import pytest

import hoard

VALUES = [
    None,
    True,
    False,
    0,
    -1,
    127,
    128,
    -33,
    2**31,
    -(2**63),
    2**64 - 1,
    0.1,
    -0.0,
    1e308,
    5e-324,
    math.inf,
    "",
    "héllo ☃ 🦀",
    "x" * 100_000,
    b"",
    b"\x00\xffbinary",
    [],
    [1, "two", 3.0, None, [4, [5]]],
    {},
    {"accuracy": 0.95, "labels": ["angry", "calm"], "nested": {"deep": {"deeper": [1, 2]}}},
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__ + ":" + repr(v)[:20])
def test_every_value_type_round_trips(memory_cache: hoard.Cache, value: object) -> None:
    memory_cache.set("values", "k", value)
    got = memory_cache.get("values", "k", default="<missing>")
    assert got == value
    assert type(got) is type(value)
    if isinstance(value, float):
        assert math.copysign(1, got) == math.copysign(1, value)  # -0.0 stays -0.0


def test_random_floats_come_back_bit_for_bit(tmp_path: object, memory_cache: hoard.Cache) -> None:
    rng = random.Random(7)
    floats = [rng.uniform(-1e6, 1e6) for _ in range(500)] + [rng.random() * 10**rng.randint(-300, 300) for _ in range(500)]
    memory_cache.set("values", "floats", floats)
    assert [f.hex() for f in memory_cache.get("values", "floats")] == [f.hex() for f in floats]


def test_nan_round_trips(memory_cache: hoard.Cache) -> None:
    memory_cache.set("values", "nan", float("nan"))
    assert math.isnan(memory_cache.get("values", "nan"))


def test_tuples_and_bytearrays_read_back_as_lists_and_bytes(memory_cache: hoard.Cache) -> None:
    memory_cache.set("values", "t", (1, (2, 3)))
    assert memory_cache.get("values", "t") == [1, [2, 3]]
    memory_cache.set("values", "b", bytearray(b"ab"))
    assert memory_cache.get("values", "b") == b"ab"


class Custom:
    pass


@pytest.mark.parametrize(
    "value, needle",
    [
        (Custom(), "test_values.Custom"),
        ({1, 2}, "set"),
        ({1: "int key"}, "dict keys must be str"),
        (2**64, "int out of range"),
        (-(2**63) - 1, "int out of range"),
        ([1, object()], "object"),
        (timedelta(seconds=1), "timedelta"),
    ],
)
def test_unsupported_values_raise_type_error_and_store_nothing(memory_cache: hoard.Cache, value: object, needle: str) -> None:
    memory_cache.set("values", "k", "before")
    with pytest.raises(TypeError, match=needle):
        memory_cache.set("values", "k", value)
    assert memory_cache.get("values", "k") == "before"


def test_a_list_that_contains_itself_is_refused(memory_cache: hoard.Cache) -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="nested deeper"):
        memory_cache.set("values", "loop", loop)


def test_mutating_a_returned_value_does_not_change_the_cache(memory_cache: hoard.Cache) -> None:
    memory_cache.set("values", "d", {"a": [1]})
    got = memory_cache.get("values", "d")
    got["a"].append(2)
    got["b"] = 3
    assert memory_cache.get("values", "d") == {"a": [1]}


def test_pickle_needs_a_secret() -> None:
    with pytest.raises(hoard.ConfigError, match="needs a secret"):
        hoard.Cache(path=None, serializer="pickle")
    with pytest.raises(hoard.ConfigError, match="at least 16 bytes"):
        hoard.Cache(path=None, serializer="pickle", secret=b"short")


def test_pickle_stores_python_objects(memory_cache: hoard.Cache) -> None:
    cache = hoard.Cache(path=None, serializer="pickle", secret=b"0123456789abcdef0123")
    cache.set("objects", "k", {"when": timedelta(hours=2), "set": {1, 2}})
    assert cache.get("objects", "k") == {"when": timedelta(hours=2), "set": {1, 2}}
