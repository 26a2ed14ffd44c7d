"""Keys of cached functions: the streamed canonical JSON hashes exactly as hoard's stable
hash of the argument tree, so keys do not change between versions or processes."""

from __future__ import annotations

import math
import random
import string
from typing import Any

import pytest

from hoard._hoard import _args_key, _args_key_tree

# Keys written by earlier versions (the tree-building hash); the same calls must keep
# finding them.
PINNED: list[tuple[tuple[Any, ...], dict[str, Any] | None, str]] = [
    ((), None, "f:4ce110ee5d0e58f62c376e82e290f358"),
    ((1, "a"), None, "f:01ccb363be708d0af1760aa76d43b328"),
    ((1.5, -0.0, 1e300, float("inf")), None, "f:765f91d967d44ab8e2ad9810e6d7b24e"),
    ((2**70, -(2**65), True, None), None, "f:c6755ec0843797b63f13a2973dadda63"),
    (({"b": [1, 2], "a": {"z": 'é\n"'}},), None, "f:5fb76c0dd06182686d575016532a49ae"),
    ((1,), {"b": 2}, "f:444502ca9f0297b17fad54bcb5a1e6e2"),
    (("x",), {"z": 1, "a": [1.0, "q"]}, "f:9fcc73bd50dcce5924dfb07c8e57799a"),
    (("ü🙂\t",), None, "f:e485c67979a3cc4b91d1fe1d84811970"),
]


@pytest.mark.parametrize(("args", "kwargs", "key"), PINNED)
def test_keys_of_earlier_versions_are_kept(args: tuple[Any, ...], kwargs: dict[str, Any] | None, key: str) -> None:
    assert _args_key("f", args, kwargs) == key


TEXT = string.printable + "éü日本語🙂\u0000\u001f\u007f\u2028\"\\"


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice(TEXT) for _ in range(rng.randrange(0, 12)))


def random_float(rng: random.Random) -> float:
    choice = rng.randrange(6)
    if choice == 0:
        return rng.choice([math.inf, -math.inf, math.nan, -0.0, 0.0, 5e-324, 1.7976931348623157e308])
    if choice == 1:
        return float(rng.randrange(-(10**6), 10**6))
    return rng.uniform(-1, 1) * 10 ** rng.randrange(-30, 30)


def random_value(rng: random.Random, depth: int = 0) -> Any:
    kinds = 9 if depth < 4 else 6
    kind = rng.randrange(kinds)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice([rng.randrange(-1000, 1000), rng.randrange(-(2**64), 2**64), rng.randrange(-(2**100), 2**100)])
    if kind == 3:
        return random_float(rng)
    if kind in (4, 5):
        return random_text(rng)
    if kind == 6:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 7:
        return tuple(random_value(rng, depth + 1) for _ in range(rng.randrange(4)))
    return {random_text(rng): random_value(rng, depth + 1) for _ in range(rng.randrange(4))}


@pytest.mark.parametrize("seed", [1, 2, 3, 20261201])
def test_streamed_keys_equal_the_tree_keys(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(2000):
        args = tuple(random_value(rng) for _ in range(rng.randrange(4)))
        kwargs = {random_text(rng) or "k": random_value(rng) for _ in range(rng.randrange(3))} or None
        skip = rng.randrange(2)
        assert _args_key("name", args, kwargs, skip) == _args_key_tree("name", args, kwargs, skip), (args, kwargs)


def test_what_cannot_be_hashed_is_refused_alike() -> None:
    for bad in [object(), {1: "int key"}, [set()], b"bytes"]:
        with pytest.raises(TypeError) as streamed:
            _args_key("f", (bad,), None)
        with pytest.raises(TypeError) as tree:
            _args_key_tree("f", (bad,), None)
        assert str(streamed.value) == str(tree.value)
    deep: Any = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(TypeError, match="nested too deeply"):
        _args_key("f", (deep,), None)
