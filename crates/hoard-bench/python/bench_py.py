#!/usr/bin/env python3
"""The timing half of hoard-bench's `python` suite: hoard's Python package beside its
Python peers, in one interpreter, contenders alternated round by round.

hoard-bench (crates/hoard-bench/src/python.rs) runs one part at a time and parses the one
JSON document it prints on stdout; progress goes to stderr.

    bench_py.py versions
    bench_py.py hits --calls 200000 --arg-sets 256 --rounds 5
    bench_py.py get --calls 200000 --rounds 5
    bench_py.py redis --url redis://127.0.0.1:PORT/0 --ops 4000 --rounds 5
    bench_py.py stampede --url redis://127.0.0.1:PORT/0 --processes 4 --threads 16 --rounds 3

Timing parts print ``{"comparisons": [{"title", "hoard": {"name", "samples"}, "peers":
[...]}], "notes": [...]}`` with one nanoseconds-per-operation sample per round; the
stampede part prints ``{"contenders": [{"name", "how", "rounds": [...]}], "notes": [...]}``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import importlib.metadata
import itertools
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

# The distributions whose versions the report names, by the import that needs them.
PACKAGES = {
    "hoard": "hoard",
    "moka_py": "moka-py",
    "cachebox": "cachebox",
    "theine": "theine",
    "cachetools": "cachetools",
    "cashews": "cashews",
    "aiocache": "aiocache",
    "redis": "redis",
    "dogpile.cache": "dogpile.cache",
}

# How long the stampede's function computes: long against any cache's coordination.
COMPUTE_SECONDS = 0.2


def say(text: str) -> None:
    print(f"python suite: {text}", file=sys.stderr, flush=True)


def result(model_id: str, n: int) -> dict[str, Any]:
    """The small dict every cached function returns and every cache stores."""
    return {"accuracy": 0.95, "model": model_id, "n": n}


def rounds_of(contenders: list[tuple[str, Callable[[], float]]], rounds: int) -> dict[str, list[float]]:
    """Runs every contender once per round, the order rotating each round (so none always
    runs first, or right after the same neighbour); one ns/op sample per round each."""
    samples: dict[str, list[float]] = {name: [] for name, _ in contenders}
    for r in range(rounds):
        shift = r % len(contenders)
        for name, run in contenders[shift:] + contenders[:shift]:
            # Collect now, so no contender pays for the garbage of the one before it.
            gc.collect()
            samples[name].append(run())
    return samples


def comparison(title: str, samples: dict[str, list[float]], hoard: str, peers: list[str]) -> dict[str, Any]:
    return {
        "title": title,
        "hoard": {"name": hoard, "samples": samples[hoard]},
        "peers": [{"name": p, "samples": samples[p]} for p in peers],
    }


def paired(samples: dict[str, list[float]], hoard: str, peer: str, label: str) -> str:
    """hoard / peer round by round: both ran in the same round, next to each other, so a
    slow stretch of the machine weighs on both sides of each ratio."""
    ratios = sorted(h / p for h, p in zip(samples[hoard], samples[peer]))
    middle = ratios[len(ratios) // 2]
    return (
        f"Round by round (both in the same round), hoard / {label} was "
        f"{', '.join(f'{r:.2f}' for r in ratios)} (sorted; median {middle:.2f}x)."
    )


# ----- versions --------------------------------------------------------------------------


def part_versions(_: argparse.Namespace) -> dict[str, Any]:
    """The Python version and every package's, or which imports fail."""
    missing = []
    versions = {}
    for module, dist in PACKAGES.items():
        try:
            __import__(module)
            versions[dist] = importlib.metadata.version(dist)
        except Exception as error:  # ImportError, or a broken install
            missing.append(f"{dist} ({type(error).__name__}: {error})")
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "versions": versions,
        "missing": missing,
    }


# ----- decorator hit path ----------------------------------------------------------------


def part_hits(args: argparse.Namespace) -> dict[str, Any]:
    import cachebox
    import cachetools
    import hoard
    import moka_py
    import theine

    arg_sets = [(f"model-{i % 16}", i // 16) for i in range(args.arg_sets)]
    rng = random.Random(7)
    calls = [arg_sets[rng.randrange(len(arg_sets))] for _ in range(args.calls)]
    size = 4 * len(arg_sets)  # every cache holds every argument set

    # One body per contender, each counting its calls: after the timed rounds every count
    # must still be the warm-up's, or some "hit" computed.
    counts: dict[str, int] = {}

    def body(name: str) -> Callable[[str, int], dict[str, Any]]:
        counts[name] = 0

        def f(model_id: str, n: int) -> dict[str, Any]:
            counts[name] += 1
            return result(model_id, n)

        return f

    names = {
        "hoard": "hoard `@hoard.cached(cache=hoard.Cache(path=None))`",
        "moka": "moka-py `@moka_py.cached(maxsize)`",
        "cachebox": "cachebox `@cachebox.cached(cachebox.LRUCache(maxsize))`",
        "theine": "theine `@theine.Memoize(size, None)` (auto-key)",
        "cachetools": "cachetools `@cachetools.cached(cachetools.LRUCache(maxsize))`",
        "cachetools_ttl": "cachetools `@cachetools.cached(cachetools.TTLCache(maxsize, 3600))`",
        "lru_cache": "functools.lru_cache(maxsize) (floor: C, no locking, no TTL)",
    }
    hoard_cache = hoard.Cache(path=None)
    functions = {
        names["hoard"]: hoard.cached(cache=hoard_cache)(body("hoard")),
        names["moka"]: moka_py.cached(maxsize=size)(body("moka")),
        names["cachebox"]: cachebox.cached(cachebox.LRUCache(size))(body("cachebox")),
        names["theine"]: theine.Memoize(size, None)(body("theine")),
        names["cachetools"]: cachetools.cached(cachetools.LRUCache(size))(body("cachetools")),
        names["cachetools_ttl"]: cachetools.cached(cachetools.TTLCache(size, 3600))(body("cachetools_ttl")),
        names["lru_cache"]: functools.lru_cache(maxsize=size)(body("lru_cache")),
    }
    for name, f in functions.items():
        for a in arg_sets:
            f(*a)
        for a in arg_sets:
            if f(*a) != result(*a):
                raise SystemExit(f"{name} returned {f(*a)!r} for {a}")
    warm = dict(counts)

    def timed(f: Callable[[str, int], Any]) -> Callable[[], float]:
        def run() -> float:
            began = time.perf_counter_ns()
            for model_id, n in calls:
                f(model_id, n)
            return (time.perf_counter_ns() - began) / len(calls)

        return run

    # For scale, timed in the same rounds (not rows of the table): the key derivation
    # alone (the decorated function's public `key`), and a direct `get` of the entry a
    # call finds.
    hoard_f: Any = functions[names["hoard"]]
    entry_keys = [hoard_f.key(*a) for a in calls]
    for k in set(entry_keys):
        if hoard_cache.get("cached", k) is None:
            raise SystemExit(f"no hoard entry at cached:{k}: the breakdown would time misses")

    def key_only() -> float:
        key = hoard_f.key
        began = time.perf_counter_ns()
        for model_id, n in calls:
            key(model_id, n)
        return (time.perf_counter_ns() - began) / len(calls)

    def get_only() -> float:
        get = hoard_cache.get
        began = time.perf_counter_ns()
        for k in entry_keys:
            get("cached", k)
        return (time.perf_counter_ns() - began) / len(entry_keys)

    breakdown = [("key", key_only), ("get", get_only)]
    say(f"decorator hits: {len(functions)} contenders, {args.rounds} rounds of {args.calls} calls")
    samples = rounds_of([(name, timed(f)) for name, f in functions.items()] + breakdown, args.rounds)
    if counts != warm:
        raise SystemExit(f"a timed call computed instead of hitting: {counts} after warm-up {warm}")
    hoard_name = names["hoard"]
    median = {name: sorted(v)[len(v) // 2] for name, v in samples.items()}
    title = (
        f"Decorator hit path: `def f(model_id: str, n: int) -> dict`, warm, {args.calls} calls over "
        f"{len(arg_sets)} distinct argument sets (random order), one thread"
    )
    return {
        "comparisons": [comparison(title, samples, hoard_name, [n for n in functions if n != hoard_name])],
        "notes": [
            "Decorator hits: every contender's function body counted its calls; none ran during the "
            "timed rounds (all hits), and every contender returned the right dict after warm-up. "
            "hoard's key is a BLAKE3 hash of the arguments' canonical JSON (the same call finds the "
            "same entry in every process sharing the cache) and a hit returns a fresh copy of the "
            "dict; moka-py, theine, cachetools and lru_cache key by the argument tuple's hash and "
            "return the stored object itself; cachebox's decorator copies mutable results by "
            "default (`copy_level=1`), as hoard does.",
            f"For scale, in the same rounds: the hoard-decorated function's `key(model_id, n)` alone "
            f"(the key a call uses) took {median['key']:.0f} ns, and a direct `Cache.get` of the entry a "
            f"call finds {median['get']:.0f} ns, against {median[hoard_name]:.0f} ns for a whole "
            f"decorator hit. They are not parts of it: a hit finds its key and entry in one native "
            f"call, so it need not cost their sum.",
            paired(samples, hoard_name, names["moka"], "moka-py"),
        ],
    }


# ----- direct get of a hot key -----------------------------------------------------------


def part_get(args: argparse.Namespace) -> dict[str, Any]:
    import cachebox
    import cachetools
    import hoard
    import moka_py
    import theine

    value = result("wav2vec2", 7)
    n = args.calls
    repeat = itertools.repeat

    h = hoard.Cache(path=None)
    h.set("bench", "hot", value, ttl="1h")
    m: Any = moka_py.Moka(1024)
    m.set("bench:hot", value)
    cb = cachebox.LRUCache(1024)
    cb["bench:hot"] = value
    th: Any = theine.Cache(1024)
    th.set("bench:hot", value)
    ct: Any = cachetools.LRUCache(1024)
    ct["bench:hot"] = value
    ctt: Any = cachetools.TTLCache(1024, 3600)
    ctt["bench:hot"] = value
    d = {"bench:hot": value}

    checks = {
        "hoard": h.get("bench", "hot"),
        "moka-py": m.get("bench:hot"),
        "cachebox": cb.get("bench:hot"),
        "theine": th.get("bench:hot")[0],
        "cachetools": ct.get("bench:hot"),
        "cachetools TTL": ctt.get("bench:hot"),
    }
    for name, got in checks.items():
        if got != value:
            raise SystemExit(f"{name} get returned {got!r}")

    # One loop per contender, each calling a local bound method: the loop's own cost is
    # the same for all of them.
    def hoard_get() -> None:
        get = h.get
        for _ in repeat(None, n):
            get("bench", "hot")

    def moka_get() -> None:
        get = m.get
        for _ in repeat(None, n):
            get("bench:hot")

    def cachebox_get() -> None:
        get = cb.get
        for _ in repeat(None, n):
            get("bench:hot")

    def theine_get() -> None:
        get = th.get
        for _ in repeat(None, n):
            get("bench:hot")

    def cachetools_get() -> None:
        get = ct.get
        for _ in repeat(None, n):
            get("bench:hot")

    def cachetools_item() -> None:
        c = ct
        for _ in repeat(None, n):
            c["bench:hot"]

    def cachetools_ttl_get() -> None:
        get = ctt.get
        for _ in repeat(None, n):
            get("bench:hot")

    def dict_get() -> None:
        get = d.get
        for _ in repeat(None, n):
            get("bench:hot")

    def timed(loop: Callable[[], None]) -> Callable[[], float]:
        def run() -> float:
            began = time.perf_counter_ns()
            loop()
            return (time.perf_counter_ns() - began) / n

        return run

    contenders = [
        ("hoard `Cache(path=None).get(ns, key)`", hoard_get),
        ("moka-py `Moka.get(key)`", moka_get),
        ("cachebox `LRUCache.get(key)`", cachebox_get),
        ("theine `Cache.get(key)` (returns `(value, found)`)", theine_get),
        ("cachetools `LRUCache.get(key)`", cachetools_get),
        ("cachetools `LRUCache[key]`", cachetools_item),
        ("cachetools `TTLCache.get(key)`", cachetools_ttl_get),
        ("dict.get (floor: no cache at all)", dict_get),
    ]
    say(f"direct get: {len(contenders)} contenders, {args.rounds} rounds of {n} gets")
    samples = rounds_of([(name, timed(loop)) for name, loop in contenders], args.rounds)
    hoard_name = contenders[0][0]
    title = f"Direct get of one hot key on a memory cache, {n} gets, small dict value, one thread"
    return {
        "comparisons": [comparison(title, samples, hoard_name, [c[0] for c in contenders[1:]])],
        "notes": [
            "Direct get: hoard stores MessagePack bytes and returns a fresh copy of the decoded "
            "dict on every hit (its object cache keeps the decoded value; mutating what `get` "
            "returned never changes what the next caller reads); every peer here returns the "
            "stored object itself, so a caller that mutates it changes the cache.",
        ],
    }


# ----- Redis-backed get ------------------------------------------------------------------


async def awaited(make: Callable[[], Any]) -> Any:
    """Makes the awaitable inside the running loop (hoard's need one when made) and awaits it."""
    return await make()


def redis_info(client: Any) -> int:
    return int(client.info("stats")["total_commands_processed"])


def part_redis(args: argparse.Namespace) -> dict[str, Any]:
    import aiocache
    import cashews
    import hoard
    import redis
    import redis.asyncio as aredis
    from aiocache.serializers import JsonSerializer

    url = args.url
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    keys = [f"item:{i:05}" for i in range(args.keys)]
    value = {"probabilities": {"neutral": 0.1, "happy": 0.6, "sad": 0.1, "angry": 0.2}, "label": "happy", "n": 7}
    ops = args.ops
    sequence = [keys[i % len(keys)] for i in range(ops)]

    # memory=0: no L1, so every get is a round trip to Redis (checked below with the
    # cache's own counters and the server's command count).
    h = hoard.Cache(redis=url, memory=0)
    h_l1 = hoard.Cache(redis=url)
    r: Any = redis.Redis.from_url(url)
    control = redis.Redis.from_url(url)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    ar: Any = aredis.Redis.from_url(url)
    cashews.cache.setup(url)
    ac = aiocache.RedisCache(endpoint=host, port=int(port), namespace="aiocache", serializer=JsonSerializer())

    # The same value in every contender's own key space, each in its own format.
    for k in keys:
        h.set("bench", k, value, ttl="1h")
        r.set(f"raw:{k}", json.dumps(value), ex=3600)

    async def fill() -> None:
        for k in keys:
            await cashews.cache.set(f"cashews:{k}", value, expire=3600)
            await ac.set(k, value, ttl=3600)

    loop.run_until_complete(fill())

    def hoard_sync(seq: list[str]) -> None:
        get = h.get
        for k in seq:
            get("bench", k)

    def hoard_l1_sync(seq: list[str]) -> None:
        get = h_l1.get
        for k in seq:
            get("bench", k)

    def redispy_sync(seq: list[str]) -> None:
        get, loads = r.get, json.loads
        for k in seq:
            loads(get("raw:" + k))

    async def hoard_async(seq: list[str]) -> None:
        aget = h.aget
        for k in seq:
            await aget("bench", k)

    async def redispy_async(seq: list[str]) -> None:
        get, loads = ar.get, json.loads
        for k in seq:
            loads(await get("raw:" + k))

    async def cashews_async(seq: list[str]) -> None:
        get = cashews.cache.get
        for k in seq:
            await get("cashews:" + k)

    async def aiocache_async(seq: list[str]) -> None:
        get = ac.get
        for k in seq:
            await get(k)

    def sync_of(fn: Callable[[list[str]], Any]) -> Callable[[list[str]], None]:
        return lambda seq: fn(seq)

    def async_of(fn: Callable[[list[str]], Any]) -> Callable[[list[str]], None]:
        return lambda seq: loop.run_until_complete(fn(seq))

    names = {
        "hs": "hoard `Cache(redis=URL, memory=0).get` (no L1: a round trip per get)",
        "rs": "redis-py `Redis.get` + `json.loads`",
        "ha": "hoard `await Cache(redis=URL, memory=0).aget` (no L1)",
        "ra": "redis-py asyncio `await Redis.get` + `json.loads`",
        "ca": "cashews `await cache.get` (setup(redis URL), its default pickle serializer)",
        "aa": "aiocache `await RedisCache.get` (JsonSerializer)",
    }
    runners = {
        names["hs"]: sync_of(hoard_sync),
        names["rs"]: sync_of(redispy_sync),
        names["ha"]: async_of(hoard_async),
        names["ra"]: async_of(redispy_async),
        names["ca"]: async_of(cashews_async),
        names["aa"]: async_of(aiocache_async),
    }

    # Untimed checks: every contender reads the value back, and how many Redis commands
    # one get costs it (the server's count, less the INFO that reads it).
    notes = []
    probe = keys[: min(200, len(keys))]
    commands = {}
    for name, run in runners.items():
        run(probe)  # connects, fills pools
        before = redis_info(control)
        run(probe)
        commands[name] = (redis_info(control) - before - 1) / len(probe)
    got = {
        "hoard": h.get("bench", keys[0]),
        "hoard aget": loop.run_until_complete(awaited(lambda: h.aget("bench", keys[0]))),
        "redis-py": json.loads(r.get("raw:" + keys[0])),
        "redis-py asyncio": json.loads(loop.run_until_complete(ar.get("raw:" + keys[0]))),
        "cashews": loop.run_until_complete(cashews.cache.get("cashews:" + keys[0])),
        "aiocache": loop.run_until_complete(ac.get(keys[0])),
    }
    for name, v in got.items():
        if v != value:
            raise SystemExit(f"{name} read {v!r}, not the stored value")
    stats = h.stats()["stats"]
    if stats["l1_hits"] != 0:
        raise SystemExit(f"hoard with memory=0 served {stats['l1_hits']} gets from memory")

    def timed(run: Callable[[list[str]], None]) -> Callable[[], float]:
        def go() -> float:
            began = time.perf_counter_ns()
            run(sequence)
            return (time.perf_counter_ns() - began) / len(sequence)

        return go

    say(f"redis get: {len(runners)} contenders, {args.rounds} rounds of {ops} gets")
    samples = rounds_of([(name, timed(run)) for name, run in runners.items()], args.rounds)
    stats = h.stats()["stats"]
    if stats["l1_hits"] != 0:
        raise SystemExit(f"hoard with memory=0 served {stats['l1_hits']} gets from memory")

    # For the notes: the same gets through hoard's default L1, against redis-py sync.
    h_l1.get("bench", keys[0])
    for k in keys:
        h_l1.get("bench", k)
    l1 = rounds_of([("l1", timed(sync_of(hoard_l1_sync))), ("rs", timed(sync_of(redispy_sync)))], args.rounds)
    l1_stats = h_l1.stats()["stats"]
    l1_ns = sorted(l1["l1"])[len(l1["l1"]) // 2]
    rs_ns = sorted(l1["rs"])[len(l1["rs"]) // 2]

    parser = (
        "hiredis (installed, so redis-py, cashews and aiocache all parse replies in C)"
        if redis.utils.HIREDIS_AVAILABLE
        else "redis-py's pure-Python RESP parser (hiredis is not installed, as `pip install redis` "
        "leaves it; cashews and aiocache sit on the same redis-py asyncio client)"
    )
    per_get = ", ".join(f"{name.split(' `')[0]} {c:.2f}" for name, c in list(commands.items()))
    notes.append(
        f"Redis get: {len(keys)} keys read in turn, each contender its own copy of the same dict in "
        f"its own format, on one local redis-server; one get at a time (no pipelining, one task). "
        f"hoard's `memory=0` turns its L1 off: its counters show 0 L1 hits and "
        f"{stats['l2_hits']} Redis hits over the run, and the server counted Redis commands per get "
        f"(in the order of the tables): {per_get}. Replies parsed by {parser}."
    )
    notes.append(
        f"With its L1 on (the default `hoard.Cache(redis=URL)`, hits served from memory and kept "
        f"coherent by invalidation messages), the same sync gets took {l1_ns:.0f} ns against redis-py's "
        f"{rs_ns:.0f} ns in the same rounds ({l1_ns / rs_ns:.3f}x; L1 hits {l1_stats['l1_hits']}, "
        f"Redis hits {l1_stats['l2_hits']}). The tables above measure the round trip, not this."
    )

    async def close() -> None:
        await ar.aclose()
        await cashews.cache.close()
        await ac.close()

    loop.run_until_complete(close())
    loop.close()
    sync_title = f"Redis-backed get, sync: {ops} gets of a small dict over {len(keys)} keys, same local redis-server"
    async_title = f"Redis-backed get, asyncio: {ops} gets of a small dict over {len(keys)} keys, same local redis-server"
    return {
        "comparisons": [
            comparison(sync_title, samples, names["hs"], [names["rs"]]),
            comparison(async_title, samples, names["ha"], [names["ra"], names["ca"], names["aa"]]),
        ],
        "notes": notes,
    }


# ----- stampede ----------------------------------------------------------------------------

# Contenders of the stampede, in the order of the table, with how each runs its callers.
STAMPEDE = {
    "hoard": ("hoard `@hoard.cached(cache=hoard.Cache(redis=URL))`, sync def", "threads"),
    "hoard_async": ("hoard `@hoard.cached(cache=hoard.Cache(redis=URL))`, async def", "tasks"),
    "cashews": ("cashews `@cache(ttl='1m', lock=True)`", "tasks"),
    "aiocache": ("aiocache `@cached_stampede(lease=2, cache=RedisCache)`", "tasks"),
    "dogpile": ("dogpile.cache redis backend, `distributed_lock=True`, `cache_on_arguments()`", "threads"),
    "cache_aside": ("redis-py cache-aside, uncoordinated (baseline): GET, on a miss compute and SET", "threads"),
}


class Worker:
    """One stampede process: every contender's cached function, ready before the first go."""

    def __init__(self, url: str, threads: int) -> None:
        import aiocache
        import cashews
        import hoard
        import redis
        import redis.asyncio as aredis
        from aiocache.serializers import JsonSerializer
        from dogpile.cache import make_region

        self.threads = threads
        self.redis = redis.Redis.from_url(url)
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.aredis = aredis.Redis.from_url(url)
        host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
        self.counter = ""

        def compute_sync(key: str) -> dict[str, Any]:
            self.redis.incr(self.counter)
            time.sleep(COMPUTE_SECONDS)
            return result(key, 1)

        async def compute_async(key: str) -> dict[str, Any]:
            await self.aredis.incr(self.counter)
            await asyncio.sleep(COMPUTE_SECONDS)
            return result(key, 1)

        h = hoard.Cache(redis=url)

        @hoard.cached("stampede_sync", ttl="1h", cache=h)
        def hoard_sync(key: str) -> dict[str, Any]:
            return compute_sync(key)

        @hoard.cached("stampede_async", ttl="1h", cache=h)
        async def hoard_async(key: str) -> dict[str, Any]:
            return await compute_async(key)

        cashews.cache.setup(url)

        @cashews.cache(ttl="1m", lock=True)
        async def cashews_fn(key: str) -> dict[str, Any]:
            return await compute_async(key)

        @aiocache.cached_stampede(
            lease=2, ttl=60, cache=aiocache.RedisCache, endpoint=host, port=int(port),
            namespace="stampede", serializer=JsonSerializer(),
        )
        async def aiocache_fn(key: str) -> dict[str, Any]:
            return await compute_async(key)

        region = make_region().configure(
            "dogpile.cache.redis",
            expiration_time=60,
            arguments={
                "url": url,
                "distributed_lock": True,
                # What dogpile asks for with a distributed lock (it warns otherwise).
                "thread_local_lock": False,
                "redis_expiration_time": 120,
                "lock_timeout": 10,
            },
        )

        @region.cache_on_arguments()
        def dogpile_fn(key: str) -> dict[str, Any]:
            return compute_sync(key)

        def cache_aside(key: str) -> dict[str, Any]:
            raw = self.redis.get(f"aside:{key}")
            if raw is not None:
                return json.loads(raw)  # type: ignore[no-any-return]
            value = compute_sync(key)
            self.redis.set(f"aside:{key}", json.dumps(value), ex=60)
            return value

        self.functions: dict[str, Callable[[str], Any]] = {
            "hoard": hoard_sync,
            "hoard_async": hoard_async,
            "cashews": cashews_fn,
            "aiocache": aiocache_fn,
            "dogpile": dogpile_fn,
            "cache_aside": cache_aside,
        }

    def run(self, contender: str, key: str, counter: str, go: float) -> dict[str, Any]:
        """All callers at `go` (a `time.time()`), each calling the function once; when each
        had the value, and whether it was right."""
        self.counter = counter
        fn = self.functions[contender]
        expected = result(key, 1)
        finished: list[float] = []
        errors: list[str] = []

        def check(value: Any) -> None:
            finished.append(time.time())
            if value != expected:
                errors.append(f"wrong value {value!r}")

        if STAMPEDE[contender][1] == "threads":
            barrier = threading.Barrier(self.threads)

            def caller() -> None:
                barrier.wait()
                time.sleep(max(0.0, go - time.time()))
                try:
                    check(fn(key))
                except Exception as error:
                    errors.append(repr(error))

            threads = [threading.Thread(target=caller) for _ in range(self.threads)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        else:

            async def task() -> None:
                try:
                    check(await fn(key))
                except Exception as error:
                    errors.append(repr(error))

            async def all_tasks() -> None:
                await asyncio.sleep(max(0.0, go - time.time()))
                await asyncio.gather(*(task() for _ in range(self.threads)))

            self.loop.run_until_complete(all_tasks())
        return {"last": max(finished) if finished else go, "done": len(finished), "errors": errors[:3]}


def part_stampede_worker(args: argparse.Namespace) -> None:
    """A child of `stampede`: reads `RUN contender key counter go` lines, answers one JSON
    line each."""
    worker = Worker(args.url, args.threads)
    print("ready", flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts or parts[0] != "RUN":
            break
        _, contender, key, counter, go = parts
        print(json.dumps(worker.run(contender, key, counter, float(go))), flush=True)


def part_stampede(args: argparse.Namespace) -> dict[str, Any]:
    import redis

    r = redis.Redis.from_url(args.url)
    say(f"stampede: starting {args.processes} processes of {args.threads} callers each")
    workers = [
        subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "stampede-worker", "--url", args.url, "--threads", str(args.threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        for _ in range(args.processes)
    ]
    try:
        for w in workers:
            assert w.stdout is not None
            if w.stdout.readline().strip() != "ready":
                raise SystemExit("a stampede worker did not start (its error is above)")
        contenders = list(STAMPEDE)
        rounds: dict[str, list[dict[str, Any]]] = {c: [] for c in contenders}
        # Round 0 warms every contender up (connections, pools, imports done lazily) and is
        # not reported.
        for r_index in range(args.rounds + 1):
            shift = r_index % len(contenders)
            for contender in contenders[shift:] + contenders[:shift]:
                key = f"{contender}-{r_index}-{os.getpid()}"
                counter = f"stampede:calls:{key}"
                # A little ahead, so every process has read its line before the start.
                go = time.time() + 0.1
                for w in workers:
                    assert w.stdin is not None
                    w.stdin.write(f"RUN {contender} {key} {counter} {go}\n")
                    w.stdin.flush()
                answers = []
                for w in workers:
                    assert w.stdout is not None
                    line = w.stdout.readline()
                    if not line:
                        raise SystemExit(f"a stampede worker died during {contender}")
                    answers.append(json.loads(line))
                computations = int(r.get(counter) or 0)
                errors = [e for a in answers for e in a["errors"]]
                done = sum(a["done"] for a in answers)
                wall = max(a["last"] for a in answers) - go
                if r_index > 0:
                    rounds[contender].append(
                        {"computations": computations, "wall_ms": wall * 1000, "callers": done, "errors": errors}
                    )
                    say(f"stampede {contender} round {r_index}: {computations} computations, {wall * 1000:.0f} ms")
        for w in workers:
            assert w.stdin is not None
            w.stdin.write("END\n")
            w.stdin.flush()
        for w in workers:
            w.wait(timeout=30)
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    return {
        "contenders": [
            {"name": STAMPEDE[c][0], "how": STAMPEDE[c][1], "rounds": rounds[c]} for c in contenders
        ],
        "callers": args.processes * args.threads,
        "compute_ms": COMPUTE_SECONDS * 1000,
        "notes": [],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="part", required=True)
    sub.add_parser("versions")
    for name in ("hits", "get"):
        p = sub.add_parser(name)
        p.add_argument("--calls", type=int, default=200_000)
        p.add_argument("--arg-sets", type=int, default=256)
        p.add_argument("--rounds", type=int, default=5)
    p = sub.add_parser("redis")
    p.add_argument("--url", required=True)
    p.add_argument("--ops", type=int, default=4000)
    p.add_argument("--keys", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=5)
    p = sub.add_parser("stampede")
    p.add_argument("--url", required=True)
    p.add_argument("--processes", type=int, default=4)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    p = sub.add_parser("stampede-worker")
    p.add_argument("--url", required=True)
    p.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    parts: dict[str, Callable[[argparse.Namespace], Any]] = {
        "versions": part_versions,
        "hits": part_hits,
        "get": part_get,
        "redis": part_redis,
        "stampede": part_stampede,
    }
    if args.part == "stampede-worker":
        part_stampede_worker(args)
        return
    print(json.dumps(parts[args.part](args)))


if __name__ == "__main__":
    main()
