"""Warming from Python: a second process serves the first one's hottest keys from memory on
its first reads, the loader fills what expired and keeps popular keys fresh, and a loader
that raises is counted, not fatal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hoard

from conftest import run_python

FIRST = """
import hoard, sys
cache = hoard.Cache(path=sys.argv[1])
cache.warm_with("scores", lambda key: "loaded:" + key, refresh_every=3600, record_every=3600)
for i in range(100):
    cache.set("scores", f"k{i}", f"stored:{i}", ttl=2 if i == 3 else None)
for _ in range(20):
    for i in range(10):
        cache.get("scores", f"k{i}")
for i in range(10, 100):
    cache.get("scores", f"k{i}")
cache.flush()
print("saves", cache.warm_stats()["scores"]["saves"])
"""

SECOND = """
import hoard, json, sys, time
time.sleep(2.5)  # the short-lived hot key (2 s TTL) expires
cache = hoard.Cache(path=sys.argv[1])
calls = []
def load(key):
    calls.append(key)
    return "loaded:" + key
cache.warm_with("scores", load, keys=10, refresh_every=3600, record_every=3600)
assert cache.warm_started("scores", 20)
before = cache.stats()["namespaces"]["scores"]
values = [cache.get("scores", f"k{i}") for i in range(10)]
after = cache.stats()["namespaces"]["scores"]
print(json.dumps({
    "stats": cache.warm_stats()["scores"],
    "calls": calls,
    "values": values,
    "l1_hits": after["l1_hits"] - before["l1_hits"],
    "l2_hits": after["l2_hits"] - before["l2_hits"],
}))
"""


def test_a_second_process_serves_the_hottest_keys_from_memory(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    first = run_python(FIRST, str(folder))
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "saves 1"
    second = run_python(SECOND, str(folder))
    assert second.returncode == 0, second.stderr
    seen = json.loads(second.stdout)
    stats = seen["stats"]
    assert (stats["warmed_from_l2"], stats["loaded_at_start"], stats["failed_at_start"]) == (9, 1, 0), stats
    assert seen["calls"] == ["k3"], "only the expired hot key was loaded"
    assert seen["values"] == [("loaded:k3" if i == 3 else f"stored:{i}") for i in range(10)]
    assert (seen["l1_hits"], seen["l2_hits"]) == (10, 0)


def test_refresh_ahead_loads_popular_keys_again_and_counts_failures() -> None:
    cache = hoard.Cache(path=None)
    versions = {"n": 0}

    def load(key: str) -> dict[str, object]:
        if key == "broken":
            raise RuntimeError("the model server said no")
        versions["n"] += 1
        return {"key": key, "version": versions["n"]}

    cache.warm_with("asr", load, ttl=60, refresh_every=3600, record_every=3600)
    assert cache.warm_started("asr", 10)
    cache.set("asr", "hot", {"key": "hot", "version": 0}, ttl=2)
    assert cache.get("asr", "hot") == {"key": "hot", "version": 0}
    # Two seconds from expiry, well inside three passes of an hour: due now.
    assert cache.refresh_ahead_now("asr") == 1
    assert cache.get("asr", "hot") == {"key": "hot", "version": 1}
    # A popular key whose loader raises: counted, the cache unharmed.
    assert cache.get("asr", "broken") is None
    assert cache.refresh_ahead_now("asr") == 1  # hot again (its new TTL is 60 s, still due)
    stats = cache.warm_stats()["asr"]
    assert stats["refresh_failures"] >= 1 and stats["refreshed_ahead"] == 2, stats
    assert cache.get("asr", "broken") is None


def test_bad_warm_registrations_are_clear_errors() -> None:
    cache = hoard.Cache(path=None)
    with pytest.raises(hoard.ConfigError, match="callable"):
        cache.warm_with("asr", "not a function")  # type: ignore[arg-type]
    with pytest.raises(hoard.HoardError, match="namespace"):
        cache.warm_with("bad ns", lambda key: 1)
    cache.warm_with("asr", lambda key: 1)
    with pytest.raises(hoard.ConfigError, match="warmed already"):
        cache.warm_with("asr", lambda key: 1)
    with pytest.raises(hoard.HoardError, match="refresh_every"):
        cache.warm_with("other", lambda key: 1, refresh_every="soon")
    assert cache.warm_started("never", 0.01) is False
