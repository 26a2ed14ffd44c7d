"""Process life: stampedes across processes, fork, Ctrl-C, signed pickles on a shared Redis."""

from __future__ import annotations

import _thread
import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest
import redis as redis_py

import hoard

from conftest import RedisServer, run_python

STAMPEDE = """
import sys, threading, time, hoard
url, prefix, counter = sys.argv[1], sys.argv[2], sys.argv[3]
cache = hoard.Cache(redis=url, key_prefix=prefix)
start = float(sys.argv[4])

@hoard.cached("cold", cache=cache)
def expensive(x):
    with open(counter, "a") as f:
        f.write("computed\\n")
    time.sleep(0.5)
    return {"x": x, "pid": __import__("os").getpid()}

results = []
def call():
    results.append(expensive(7))
threads = [threading.Thread(target=call) for _ in range(16)]
while time.time() < start:
    time.sleep(0.001)
for t in threads: t.start()
for t in threads: t.join()
assert len({r["pid"] for r in results}) == 1 and len(results) == 16, results
print(results[0]["pid"])
"""


def test_4_processes_x_16_threads_compute_a_cold_redis_key_once(redis_server: RedisServer, prefix: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    counter = tmp_path / "computations"
    counter.touch()
    start = time.time() + 2.0  # every process imported and connected before the stampede
    procs = [
        subprocess.Popen([sys.executable, "-c", STAMPEDE, redis_server.url, prefix, str(counter), str(start)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
    assert counter.read_text().count("computed") == 1, "64 callers in 4 processes: one computation"
    pids = {out.strip() for out, _ in outputs}
    assert len(pids) == 1, "every process got the value the one computing process stored"


def _child_uses(cache: hoard.Cache, queue: "multiprocessing.Queue[object]") -> None:
    cache.set("fork", "from-child", {"pid": os.getpid()})
    queue.put(cache.get("fork", "from-parent"))


@pytest.mark.parametrize("start_method", ["fork"])
def test_a_forked_child_uses_the_cache(redis_server: RedisServer, prefix: str, start_method: str) -> None:
    cache = hoard.Cache(redis=redis_server.url, key_prefix=prefix)
    cache.set("fork", "from-parent", "hello child")  # opened and used before the fork
    context = multiprocessing.get_context(start_method)
    queue = context.Queue()
    child = context.Process(target=_child_uses, args=(cache, queue))
    child.start()
    got = queue.get(timeout=30)
    child.join(30)
    assert child.exitcode == 0
    assert got == "hello child"
    written = cache.get("fork", "from-child")
    assert written is not None and written["pid"] == child.pid


def test_os_fork_child_of_a_memory_cache_works(memory_cache: hoard.Cache) -> None:
    memory_cache.set("fork", "k", 1)
    pid = os.fork()
    if pid == 0:  # the child: a fresh, working cache (L1 starts empty)
        try:
            memory_cache.set("fork", "k2", 2)
            ok = memory_cache.get("fork", "k2") == 2 and memory_cache.get_or_compute("fork", "c", lambda: 3) == 3
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert memory_cache.get("fork", "k") == 1, "the parent keeps its cache"


def test_ctrl_c_interrupts_a_blocking_wait(memory_cache: hoard.Cache) -> None:
    leader_started = threading.Event()

    def lead() -> None:
        memory_cache.get_or_compute("ctrlc", "k", lambda: (leader_started.set(), time.sleep(3), 1)[2])

    leader = threading.Thread(target=lead)
    leader.start()
    assert leader_started.wait(10)
    threading.Timer(0.3, _thread.interrupt_main).start()
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        memory_cache.get_or_compute("ctrlc", "k", lambda: 2)  # waits on the leader, in Rust
    assert time.monotonic() - began < 2.5, "the wait ended at the interrupt, not with the leader"
    leader.join()


_BUSY_SERVER = """
local began = redis.call('TIME')
local until_us = began[1] * 1000000 + began[2] + tonumber(ARGV[1])
while true do
    local now = redis.call('TIME')
    if now[1] * 1000000 + now[2] >= until_us then return 1 end
end
"""


def _get_behind_a_busy_server(cache: hoard.Cache, url: str) -> tuple[object, float, int]:
    """A get sent while the server runs a 0.2 s script (within hoard's 250 ms timeout),
    with a thread counting meanwhile: what it found, how long it waited, how far the
    counter got."""
    busy = threading.Thread(target=lambda: redis_py.Redis.from_url(url).eval(_BUSY_SERVER, 0, 200_000))
    counted = 0
    counting = threading.Event()

    def count() -> None:
        nonlocal counted
        counting.wait()
        while counting.is_set():
            counted += 1

    counter = threading.Thread(target=count, daemon=True)
    counter.start()
    busy.start()
    time.sleep(0.03)
    counting.set()
    try:
        began = time.monotonic()
        found = cache.get("gil", "k")
        waited = time.monotonic() - began
    finally:
        counting.clear()
        counter.join()
        busy.join()
    return found, waited, counted


def test_other_threads_run_while_a_call_waits_on_redis(redis_server: RedisServer, prefix: str) -> None:
    cache = hoard.Cache(redis=redis_server.url, key_prefix=prefix, memory=0)
    cache.set("gil", "k", "v")
    # On a loaded machine the script may start after the get was answered: such a try says
    # nothing, and is made again (at most five times).
    for _ in range(5):
        found, waited, counted = _get_behind_a_busy_server(cache, redis_server.url)
        assert found == "v"
        if waited > 0.05:
            break
    assert waited > 0.05, "the get waited for the busy server"
    # Holding the GIL through the wait would have stopped the counter for all of it.
    assert counted > 1_000, f"{counted} counts in {waited:.3f} s"


SECRET = b"a secret of thirty-two bytes...."


def test_a_tampered_pickle_reads_as_a_miss(redis_server: RedisServer, prefix: str, tmp_path: Path) -> None:
    cache = hoard.Cache(redis=redis_server.url, key_prefix=prefix, serializer="pickle", secret=SECRET)
    cache.set("obj", "k", {"set": {1, 2, 3}})
    assert cache.get("obj", "k") == {"set": {1, 2, 3}}
    raw = redis_py.Redis.from_url(redis_server.url)
    (redis_key,) = raw.keys(f"{prefix}obj:k")
    stored = raw.get(redis_key)
    assert stored is not None
    ttl = raw.pttl(redis_key)
    tampered = stored[:-2] + bytes([stored[-2] ^ 0x01]) + stored[-1:]
    raw.set(redis_key, tampered, px=ttl)
    assert hoard.Cache(redis=redis_server.url, key_prefix=prefix, serializer="pickle", secret=SECRET).get("obj", "k", "miss") == "miss"

    # A pickle signed with another secret (or not at all) never runs.
    marker = tmp_path / "pwned"
    evil = hoard.Cache(redis=redis_server.url, key_prefix=prefix, serializer="pickle", secret=b"attacker's own secret key!!")

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    evil.set("obj", "k2", Exploit())
    plain = hoard.Cache(redis=redis_server.url, key_prefix=prefix)
    plain.set("obj", "k3", "unsigned msgpack")
    fresh = hoard.Cache(redis=redis_server.url, key_prefix=prefix, serializer="pickle", secret=SECRET)
    assert fresh.get("obj", "k2", "miss") == "miss"
    assert fresh.get("obj", "k3", "miss") == "miss"
    assert not marker.exists(), "an unverified pickle was loaded"
    # get_or_compute recomputes over what does not verify.
    assert fresh.get_or_compute("obj", "k2", lambda: "recomputed") == "recomputed"


def test_a_signed_value_moved_to_another_key_does_not_verify(redis_server: RedisServer, prefix: str) -> None:
    cache = hoard.Cache(redis=redis_server.url, key_prefix=prefix, serializer="pickle", secret=SECRET)
    cache.set("obj", "admin", "secret plan")
    raw = redis_py.Redis.from_url(redis_server.url)
    raw.copy(f"{prefix}obj:admin", f"{prefix}obj:guest")
    assert cache.get("obj", "guest", "miss") == "miss"


def test_a_second_process_reads_what_the_first_wrote_on_redis(redis_server: RedisServer, prefix: str) -> None:
    hoard.Cache(redis=redis_server.url, key_prefix=prefix).set("xp", "k", [1.5, "two", None])
    out = run_python(
        "import hoard, sys; print(hoard.Cache(redis=sys.argv[1], key_prefix=sys.argv[2]).get('xp', 'k'))",
        redis_server.url,
        prefix,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[1.5, 'two', None]"


def test_model_pool_loads_once_for_threads_and_tasks_and_retries_failures() -> None:
    import asyncio

    gate = threading.Event()
    loads: list[str] = []
    fail_next = {"flaky": True}

    def load(name: str) -> str:
        loads.append(name)
        if fail_next.pop(name, False):
            raise OSError(f"weights of {name} missing")
        gate.wait(10)
        return f"model {name}"

    pool: hoard.ModelPool[str, str] = hoard.ModelPool(load, preload=["a"])
    threads_before = threading.active_count()

    async def many() -> list[str]:
        tasks = [asyncio.ensure_future(pool.aget("b")) for _ in range(30)]
        await asyncio.sleep(0)  # every task has asked before the load may finish
        busy = threading.active_count() - threads_before
        gate.set()
        results = await asyncio.gather(*tasks)
        assert busy <= 2, f"30 waiting tasks held {busy} threads"
        return results

    assert asyncio.run(many()) == ["model b"] * 30
    assert loads.count("b") == 1
    assert pool.warm() == {} and pool.get("a") == "model a" and loads.count("a") == 1
    failed = pool.warm(["flaky"])
    assert isinstance(failed["flaky"], hoard.ModelLoadError) and isinstance(failed["flaky"].__cause__, OSError)
    assert pool.get("flaky") == "model flaky", "a failed load is retried by the next call"
    assert sorted(pool.loaded()) == ["a", "b", "flaky"]
