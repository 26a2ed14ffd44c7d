"""Awaitables on an event loop: many in flight at once, cancelled awaiters, a loop that
ends with work in flight, and loops that cannot watch a socket. Checked from outside the
awaiting code: through redis-cli and through a second cache instance."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import weakref
from typing import Any

import hoard
from hoard._aio import reactor_for

from conftest import RedisServer


def _no_l1(server: RedisServer, prefix: str) -> hoard.Cache:
    # memory=0: every get is a Redis round trip, so every await is really pending.
    return hoard.Cache(redis=server.url, key_prefix=prefix, memory=0)


def _wait_for(read: Any, expected: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if read() == expected:
            return
        gc.collect()
        time.sleep(0.02)
    assert read() == expected


def test_hundreds_of_awaitables_in_flight_on_one_loop_all_settle(redis_server: RedisServer, prefix: str) -> None:
    cache = _no_l1(redis_server, prefix)

    async def main() -> tuple[list[Any], int]:
        await asyncio.gather(*(cache.aset("ns", f"k{i}", {"i": i, "sq": i * i}) for i in range(300)))
        values = await asyncio.gather(*(cache.aget("ns", f"k{i}") for i in range(300)))
        reactor = reactor_for(asyncio.get_running_loop())
        assert reactor is not None
        return values, len(reactor)

    values, in_flight = asyncio.run(main())
    assert values == [{"i": i, "sq": i * i} for i in range(300)]
    assert in_flight == 0, "every settled future leaves the reactor"
    keys = redis_server.cli("--scan", "--pattern", f"{prefix}*").split()
    assert len(keys) == 300


def test_a_cancelled_awaiter_does_not_cancel_its_write(redis_server: RedisServer, prefix: str) -> None:
    cache = _no_l1(redis_server, prefix)
    other = _no_l1(redis_server, prefix)

    async def main() -> Any:
        task = asyncio.ensure_future(cache.aset("ns", "k", {"landed": True}))
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        # The loop keeps running (and driving the write) while we look from elsewhere.
        for _ in range(500):
            found = await other.aget("ns", "k")
            if found is not None:
                return found
            await asyncio.sleep(0.01)
        return None

    assert asyncio.run(main()) == {"landed": True}


def test_a_write_in_flight_when_its_loop_ends_still_lands(redis_server: RedisServer, prefix: str) -> None:
    cache = _no_l1(redis_server, prefix)

    async def start() -> tuple[int, weakref.ref[Any]]:
        # Started and never awaited.
        cache.aset("ns", "late", [1, 2, 3])
        reactor = reactor_for(asyncio.get_running_loop())
        assert reactor is not None
        return len(reactor), weakref.ref(reactor)

    # Redis holds every client's commands for 100 ms (under hoard's 250 ms Redis timeout),
    # so the write is surely still in flight when the loop ends: without the pause the
    # reply sometimes came first, on a loaded machine.
    assert redis_server.cli("CLIENT", "PAUSE", "100") == "OK"
    loop = asyncio.new_event_loop()
    in_flight, reactor = loop.run_until_complete(start())
    # Closed and dropped before the reply can be read on it: the reactor goes with the
    # loop (nothing it holds keeps the loop alive) and hands its unfinished work to
    # hoard's runtime.
    loop.close()
    del loop
    assert in_flight == 1, "the write was still in flight when the loop ended"
    _wait_for(lambda: reactor() is None, True)
    other = _no_l1(redis_server, prefix)
    _wait_for(lambda: other.get("ns", "late"), [1, 2, 3])
    assert redis_server.cli("--scan", "--pattern", f"{prefix}*") != ""


def test_a_loop_that_cannot_watch_a_socket_still_gets_its_results(redis_server: RedisServer, prefix: str) -> None:
    class NoReaders(asyncio.SelectorEventLoop):
        def add_reader(self, *args: Any, **kwargs: Any) -> None:
            raise NotImplementedError

    cache = _no_l1(redis_server, prefix)

    async def main() -> list[Any]:
        assert reactor_for(asyncio.get_running_loop()) is None
        await cache.aset("ns", "k", "v")
        return list(await asyncio.gather(*(cache.aget("ns", "k") for _ in range(50))))

    loop = NoReaders()
    try:
        assert loop.run_until_complete(main()) == ["v"] * 50
    finally:
        loop.close()


def test_errors_of_pending_awaitables_reach_their_awaiter(memory_cache: hoard.Cache) -> None:
    runs = 0

    @hoard.cached(cache=memory_cache)
    async def flaky(x: int) -> int:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.05)
        raise ValueError(f"no {x}")

    async def main() -> list[BaseException | int]:
        # The second caller waits on the first one's computation: pending in the reactor
        # until the leader fails, then woken with the leader's exception.
        return list(await asyncio.gather(flaky(1), flaky(1), return_exceptions=True))

    outcomes = asyncio.run(main())
    assert runs == 1
    assert all(isinstance(o, ValueError) and str(o) == "no 1" for o in outcomes), outcomes
