"""Checked by `mypy --strict` in scripts/test: what users write must type-check, and the
decorated functions keep their signatures."""

from __future__ import annotations

import hoard

cache = hoard.Cache(path=None, default_ttl="1h")


@hoard.cached
def bare(user_id: int) -> dict[str, int]:
    return {"id": user_id}


@hoard.cached("user_profile", ttl="1h", cache=cache, tags=["users"])
def named(user_id: int, verbose: bool = False) -> str:
    return str(user_id)


@hoard.cached(cache=cache)
async def fetch(query: str) -> list[str]:
    return [query]


def use() -> None:
    profile: dict[str, int] = bare(1)
    text: str = named(2, verbose=True)
    fresh: str = named.refresh(2)
    cleared: int = named.cache_clear()
    key: str = named.key(2)
    value = cache.get("model", "metrics:abc")
    cache.set("model", "metrics:abc", {"accuracy": 0.95}, ttl=hoard.ttl.LONG, tags=["model:abc"])
    computed: int = cache.get_or_compute("ns", "k", lambda: 42)
    pool: hoard.ModelPool[str, bytes] = hoard.ModelPool(lambda name: name.encode(), preload=["a"])
    loaded: bytes = pool.get("a")
    print(profile, text, fresh, cleared, key, value, computed, loaded)


async def ause() -> list[str]:
    await cache.aset("ns", "k", 1)
    got = await cache.aget("ns", "k")
    computed: int = await cache.aget_or_compute("ns", "k2", _compute)
    print(got, computed)
    return await fetch("q")


async def _compute() -> int:
    return 1
