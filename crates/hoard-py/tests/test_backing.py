"""Write-through and write-behind from Python: a writer that raises stores nothing, queued
writes reach the writer in order with stable ids, a process killed with SIGKILL loses
none of what it acknowledged, and a forked worker's writes reach its writer too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import hoard

from conftest import RedisServer


class Store:
    """The application's own store, as the tests see it from outside the cache."""

    def __init__(self) -> None:
        self.rows: dict[str, Any] = {}
        self.batches: list[list[dict[str, Any]]] = []
        self.down = False

    def __call__(self, writes: list[dict[str, Any]]) -> None:
        if self.down:
            raise ConnectionError("the orders database is down")
        for write in writes:
            if write["op"] == "set":
                self.rows[write["key"]] = write["value"]
            else:
                self.rows.pop(write["key"], None)
        self.batches.append(writes)


def test_write_through_stores_first_and_a_failing_writer_stores_nothing(tmp_path: Path) -> None:
    cache = hoard.Cache(path=tmp_path)
    store = Store()
    cache.write_through("user", store)
    cache.set("user", "7", {"name": "Ada", "score": 0.9452706955539223})
    assert store.rows["7"] == {"name": "Ada", "score": 0.9452706955539223}
    assert store.batches[0][0]["id"] is None
    store.down = True
    with pytest.raises(hoard.WriterError, match="the orders database is down"):
        cache.set("user", "7", {"name": "Alan"})
    with pytest.raises(hoard.WriterError):
        cache.delete("user", "7")
    assert cache.get("user", "7") == {"name": "Ada", "score": 0.9452706955539223}
    assert store.rows["7"]["name"] == "Ada"
    store.down = False
    assert cache.delete("user", "7")
    assert "7" not in store.rows
    # A value computed on a miss came from the store: not written back.
    assert cache.get_or_compute("user", "8", lambda: "computed") == "computed"
    assert "8" not in store.rows
    stats = cache.writer_stats()["user"]
    assert (stats["mode"], stats["written"], stats["failures"]) == ("through", 2, 2)
    with pytest.raises(hoard.ConfigError, match="callable"):
        cache.write_through("other", "not a function")  # type: ignore[arg-type]
    with pytest.raises(hoard.ConfigError, match="has a writer already"):
        cache.write_through("user", store)


def test_write_behind_delivers_in_order_and_shows_a_failing_writer(tmp_path: Path) -> None:
    cache = hoard.Cache(path=tmp_path)
    store = Store()
    store.down = True
    cache.write_behind("orders", store, batch=3, retry_min=0.001, retry_max=0.01)
    for i in range(7):
        cache.set("orders", f"o{i % 5}", {"total": i})
    cache.delete("orders", "o0")
    # Acknowledged at once, served from the cache while the store is down.
    assert cache.get("orders", "o1") == {"total": 6}
    assert not cache.write_behind_drained("orders", timeout=0.2)
    stats = cache.stats()["writers"]["orders"]
    assert stats["mode"] == "behind" and stats["pending"] == 8 and stats["written"] == 0
    assert stats["consecutive_failures"] >= 1
    assert "the orders database is down" in stats["last_error"]
    store.down = False
    assert cache.write_behind_drained("orders", timeout=20)
    writes = [w for batch in store.batches for w in batch]
    assert [(w["key"], w["value"]) for w in writes] == [
        *[(f"o{i % 5}", {"total": i}) for i in range(7)],
        ("o0", None),
    ]
    assert len({w["id"] for w in writes}) == 8
    assert all(len(batch) <= 3 for batch in store.batches)
    assert store.rows == {"o1": {"total": 6}, "o2": {"total": 2}, "o3": {"total": 3}, "o4": {"total": 4}}
    assert cache.writer_stats()["orders"]["pending"] == 0


def test_write_behind_needs_a_durable_queue() -> None:
    with pytest.raises(hoard.ConfigError, match="durable queue"):
        hoard.Cache(path=None).write_behind("orders", Store())


CHILD = """
import hoard, sys, time
cache = hoard.Cache(path=sys.argv[1])
calls = [0]
def slow_writer(writes):
    calls[0] += 1
    if calls[0] % 4 == 0:
        raise TimeoutError("the database timed out")
    with open(sys.argv[2], "a") as f:
        for w in writes:
            f.write(f"{w['id']} {w['key']} {w['value']}\\n")
    time.sleep(0.05)
cache.write_behind("orders", slow_writer, batch=8, retry_min=0.005, retry_max=0.05)
for i in range(10**9):
    cache.set("orders", f"k{i}", f"v{i}")
    print("acked", i, flush=True)
"""


def test_nothing_acknowledged_is_lost_to_kill_9(tmp_path: Path) -> None:
    folder, store = tmp_path / "cache", tmp_path / "store.txt"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(folder), str(store)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    acked = 0
    for line in child.stdout:
        acked = int(line.split()[1]) + 1
        if acked >= 300:
            break
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    assert acked >= 300
    before = store.read_text().splitlines() if store.exists() else []
    assert len({line.split()[1] for line in before}) < acked, "nothing was queued at the kill"

    cache = hoard.Cache(path=folder)

    def writer(writes: list[dict[str, Any]]) -> None:
        with store.open("a") as f:
            for w in writes:
                f.write(f"{w['id']} {w['key']} {w['value']}\n")

    cache.write_behind("orders", writer)
    assert cache.write_behind_drained("orders", timeout=60)
    by_id: dict[str, tuple[str, str]] = {}
    for line in store.read_text().splitlines():
        id_, key, value = line.split()
        assert by_id.setdefault(id_, (key, value)) == (key, value), "one id, two writes"
    ids_per_key: dict[str, int] = {}
    for key, value in by_id.values():
        assert value == key.replace("k", "v", 1)
        ids_per_key[key] = ids_per_key.get(key, 0) + 1
    assert all(ids_per_key.get(f"k{i}") == 1 for i in range(acked)), "an acknowledged write is missing"


def test_a_forked_worker_writes_through_its_own_writer(redis_server: RedisServer, prefix: str,
                                                       tmp_path: Path) -> None:
    cache = hoard.Cache(redis=redis_server.url, key_prefix=prefix)
    log = tmp_path / "writes.txt"

    def writer(writes: list[dict[str, Any]]) -> None:
        with log.open("a") as f:
            for w in writes:
                f.write(f"{os.getpid()} {w['key']}\n")

    cache.write_through("user", writer)
    cache.set("user", "parent", 1)  # opened and used before the fork
    pid = os.fork()
    if pid == 0:  # the child reopens the cache: its writer must come along
        try:
            cache.set("user", "child", 2)
            os._exit(0)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert log.read_text().splitlines() == [f"{os.getpid()} parent", f"{pid} child"]
