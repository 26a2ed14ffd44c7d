"""hoard.Cache: the operations, TTLs, bad input, errors."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest

import hoard

from conftest import RedisServer, run_python


@pytest.fixture(params=["memory", "disk", "redis"])
def cache(request: pytest.FixtureRequest, tmp_path: Path, redis_server: RedisServer, prefix: str) -> hoard.Cache:
    if request.param == "memory":
        return hoard.Cache(path=None)
    if request.param == "disk":
        return hoard.Cache(path=tmp_path / "data")
    return hoard.Cache(redis=redis_server.url, key_prefix=prefix)


def test_operations_on_every_tier(cache: hoard.Cache) -> None:
    assert cache.get("model", "missing") is None
    assert cache.get("model", "missing", default=7) == 7
    cache.set("model", "metrics:abc-123", {"accuracy": 0.95}, ttl="1h", tags=["model:abc-123"])
    assert cache.get("model", "metrics:abc-123") == {"accuracy": 0.95}
    assert cache.exists("model", "metrics:abc-123")
    remaining = cache.ttl("model", "metrics:abc-123")
    assert remaining is not None and 3500 < remaining <= 3600
    cache.set_many("model", {"a": 1, "b": [2]}, ttl=60)
    assert cache.get_many("model", ["a", "b", "c"]) == {"a": 1, "b": [2], "c": None}
    assert cache.delete("model", "a") is True
    assert cache.delete("model", "a") is False
    assert cache.invalidate(tags=["model:abc-123"]) == 1
    assert cache.get("model", "metrics:abc-123") is None
    cache.set("model", "metrics:x", 1)
    cache.set("model", "comparison:y", 2)
    assert cache.delete_pattern("model:metrics:*") == 1
    assert cache.get("model", "comparison:y") == 2
    cache.clear_namespace("model")
    assert cache.get("model", "comparison:y") is None
    cache.set("other", "k", 1)
    cache.clear()
    assert cache.get("other", "k") is None
    stats = cache.stats()
    assert stats["namespaces"]["model"]["misses"] >= 1
    assert stats["available"] is True


def test_async_twins(cache: hoard.Cache) -> None:
    async def main() -> None:
        await cache.aset("ns", "k", {"v": 1}, ttl=timedelta(minutes=5))
        assert await cache.aget("ns", "k") == {"v": 1}
        assert await cache.aexists("ns", "k")
        assert await cache.aget_many("ns", ["k", "z"]) == {"k": {"v": 1}, "z": None}
        await cache.aset_many("ns", {"x": 1})
        ttl = await cache.attl("ns", "k")
        assert ttl is not None and ttl <= 300
        assert await cache.adelete("ns", "k")
        assert await cache.adelete_pattern("ns:*") == 1
        await cache.aclear_namespace("ns")
        assert await cache.aclear() >= 0
        assert (await cache.astats())["available"]
        await cache.aflush()

    asyncio.run(main())


def test_hits_count_the_compute_time_they_saved(memory_cache: hoard.Cache) -> None:
    def slow() -> str:
        time.sleep(0.05)
        return "transcript"

    assert memory_cache.get_or_compute("asr", "clip", slow) == "transcript"
    assert memory_cache.stats()["namespaces"]["asr"]["compute_saved_ms"] == 0
    for _ in range(2):
        assert memory_cache.get_or_compute("asr", "clip", slow) == "transcript"
    saved = memory_cache.stats()["namespaces"]["asr"]["compute_saved_ms"]
    # Two hits on a value that took at least 50 ms to compute.
    assert saved >= 100, saved


def test_entries_expire(cache: hoard.Cache) -> None:
    cache.set("ttl", "short", "v", ttl=0.2)
    cache.set("ttl", "long", "v", ttl="1h")
    assert cache.get("ttl", "short") == "v"
    deadline = time.monotonic() + 5
    while cache.get("ttl", "short") is not None:
        assert time.monotonic() < deadline, "the entry outlived its TTL by seconds"
        time.sleep(0.05)
    assert cache.get("ttl", "long") == "v"
    assert cache.ttl("ttl", "short") is None


@pytest.mark.parametrize("ttl", [0, -1, "soon", float("nan"), True, "0s"])
def test_bad_ttls_are_refused(memory_cache: hoard.Cache, ttl: object) -> None:
    with pytest.raises(hoard.InvalidInput):
        memory_cache.set("ns", "k", 1, ttl=ttl)  # type: ignore[arg-type]
    assert memory_cache.get("ns", "k") is None


@pytest.mark.parametrize("namespace, key", [("", "k"), ("ns", ""), ("with space", "k"), ("ns", "x" * 5000), ("ns", "tab\tkey")])
def test_bad_keys_are_value_errors(memory_cache: hoard.Cache, namespace: str, key: str) -> None:
    with pytest.raises(ValueError):
        memory_cache.set(namespace, key, 1)
    with pytest.raises(hoard.InvalidInput):
        memory_cache.get(namespace, key)


def test_tags_must_be_a_list(memory_cache: hoard.Cache) -> None:
    with pytest.raises(hoard.InvalidInput, match="one string"):
        memory_cache.set("ns", "k", 1, tags="model:1")  # type: ignore[arg-type]


def test_ttl_presets_are_seconds() -> None:
    assert hoard.ttl.VERY_SHORT == 300
    assert hoard.ttl.LONG == 3600
    assert hoard.ttl.WEEK == 7 * 86400


def test_depends_on_needs_dependency_tracking(tmp_path: Path) -> None:
    plain = hoard.Cache(path=None)
    with pytest.raises(hoard.InvalidInput, match="dependencies=True"):
        plain.set("ns", "child", 1, depends_on=["ns:parent"])
    cache = hoard.Cache(path=tmp_path / "deps", dependencies=True)
    cache.set("ns", "parent", 1)
    cache.set("ns", "child", 2, depends_on=["ns:parent"])
    cache.set("ns", "parent", 3)  # overwriting the parent drops the child
    assert cache.get("ns", "child") is None


def test_a_dead_redis_degrades_reads_to_misses() -> None:
    cache = hoard.Cache(redis="redis://127.0.0.1:1/0")
    assert cache.get("ns", "k") is None
    stats = cache.stats()
    assert stats["available"] is False


def test_a_dead_redis_refuses_writes_and_cached_functions_still_answer() -> None:
    cache = hoard.Cache(redis="redis://127.0.0.1:1/0")
    # A write Redis cannot take is an error, not a success that is lost.
    with pytest.raises(hoard.Unavailable):
        cache.set("ns", "k", 1)
    assert cache.get("ns", "k") is None
    calls: list[int] = []

    @hoard.cached(cache=cache, namespace="fn")
    def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    # A decorated function degrades to this process's memory: it answers, computes once.
    assert double(21) == 42
    assert double(21) == 42
    assert calls == [21]


def test_from_config_reads_the_server_file(tmp_path: Path) -> None:
    config = tmp_path / "hoard.toml"
    config.write_text(f'[cache]\ndata_dir = "{tmp_path / "cfgdata"}"\ndefault_ttl = "10m"\n\n[server]\naddr = "127.0.0.1:0"\n')
    cache = hoard.Cache.from_config(config)
    assert cache.default_ttl == 600
    cache.set("ns", "k", 1)
    assert cache.get("ns", "k") == 1
    assert (tmp_path / "cfgdata").is_dir()


def test_from_config_errors_name_the_key(tmp_path: Path) -> None:
    config = tmp_path / "hoard.toml"
    config.write_text('[cache]\nmemory = "lots"\n')
    with pytest.raises(hoard.ConfigError, match="memory"):
        hoard.Cache.from_config(config)


def test_from_config_reads_only_the_cache_section(tmp_path: Path) -> None:
    # Values only the server uses, and that it would refuse, do not stop a Python process.
    config = tmp_path / "hoard.toml"
    config.write_text(
        f'[cache]\ndata_dir = "{tmp_path / "cfgdata"}"\nmemory = "32MiB"\n\n'
        '[server]\nmax_body = "lots"\naddr = "nowhere"\n\n[semantic]\nthreshold = 7\n'
    )
    cache = hoard.Cache.from_config(config)
    cache.set("ns", "k", [1.5, 2.25])
    assert cache.get("ns", "k") == [1.5, 2.25]
    # An error names the file and the full key.
    config.write_text('[cache]\nmemroy = "32MiB"\n')
    with pytest.raises(hoard.ConfigError, match=r"hoard\.toml: cache\.memroy: unknown field"):
        hoard.Cache.from_config(config)


def test_the_folder_persists_across_processes(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    write = run_python(
        "import hoard, sys; c = hoard.Cache(path=sys.argv[1]); "
        "c.set('model', 'metrics:abc', {'accuracy': 0.95, 'blob': b'\\x00\\x01'}, ttl='1h')",
        str(folder),
    )
    assert write.returncode == 0, write.stderr
    read = run_python(
        "import hoard, sys; c = hoard.Cache(path=sys.argv[1]); print(repr(c.get('model', 'metrics:abc')))",
        str(folder),
    )
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == "{'accuracy': 0.95, 'blob': b'\\x00\\x01'}"


def test_a_folder_open_in_another_process_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "busy"
    holder = hoard.Cache(path=folder)
    holder.set("ns", "k", 1)
    other = run_python(
        "import hoard, sys\n"
        "try:\n    hoard.Cache(path=sys.argv[1]).get('ns', 'k')\n"
        "except hoard.FolderInUse as e:\n    print('refused:', e)\n",
        str(folder),
    )
    assert "refused:" in other.stdout, other.stdout + other.stderr
    assert "Redis" in other.stdout
    assert holder.get("ns", "k") == 1


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"redis": "redis://127.0.0.1:1", "redis_cluster": ["redis://127.0.0.1:2"]}, "one of"),
        ({"redis": "redis://127.0.0.1:1", "redis_sentinel": ["redis://127.0.0.1:2"]}, "one of"),
        ({"redis_cluster": []}, "at least one node"),
        ({"redis_sentinel": []}, "at least one sentinel"),
        ({"path": None, "memory": "lots"}, "memory"),
        ({"path": None, "memory": -1}, "memory"),
        ({"path": None, "default_ttl": "forever"}, "default_ttl"),
        ({"path": None, "serializer": "yaml"}, "unknown serializer"),
        ({"path": None, "secret": b"0123456789abcdef"}, "only used with"),
        ({"config": "/nonexistent/hoard.toml"}, "hoard.toml"),
    ],
)
def test_bad_constructor_arguments_are_clear_errors(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(hoard.HoardError, match=needle):
        hoard.Cache(**kwargs)  # type: ignore[arg-type]


def test_a_folder_that_cannot_be_made_fails_at_construction(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(hoard.ConfigError, match="cache folder"):
        hoard.Cache(path=blocker / "data")


def test_bad_bulk_and_compute_arguments_store_nothing(memory_cache: hoard.Cache) -> None:
    with pytest.raises(hoard.InvalidInput, match="dict"):
        memory_cache.set_many("ns", [("k", 1)])  # type: ignore[arg-type]
    with pytest.raises(hoard.InvalidInput, match="keys must be str"):
        memory_cache.set_many("ns", {1: "v"})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        memory_cache.set_many("ns", {"a": 1, "b": object()})
    assert memory_cache.get_many("ns", ["a", "b"]) == {"a": None, "b": None}, "a failing batch writes nothing"
    with pytest.raises(hoard.InvalidInput, match="ttl"):
        memory_cache.get_or_compute("ns", "k", lambda: 1, ttl=-5)
    with pytest.raises(hoard.InvalidInput, match="early_refresh"):
        memory_cache.get_or_compute("ns", "k", lambda: 1, early_refresh=-1.0)
    assert memory_cache.get("ns", "k") is None


def test_a_cache_behind_sentinel_writes_to_the_master_the_sentinel_names(
    redis_server: RedisServer, tmp_path: Path, prefix: str
) -> None:
    """A real sentinel watching the test's Redis: the cache asks it for the master, and
    what it writes is on that server (read back with redis-cli)."""
    import subprocess

    from conftest import free_port, wait_for_port

    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {tmp_path}\n"
        f"sentinel monitor cache-master 127.0.0.1 {redis_server.port} 1\n"
    )
    sentinel = subprocess.Popen(
        ["redis-server", str(conf), "--sentinel"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process=sentinel)
        cache = hoard.Cache(
            redis_sentinel=[f"redis://127.0.0.1:{port}"],
            sentinel_master="cache-master",
            key_prefix=prefix,
        )
        assert "cache-master" in repr(cache) and "1 sentinels" in repr(cache)
        cache.set("asr", "clip-1", {"text": "hello"})
        assert cache.get("asr", "clip-1") == {"text": "hello"}
        assert redis_server.cli("exists", f"{prefix}asr:clip-1") == "1"
        wrong = hoard.Cache(
            redis_sentinel=[f"redis://127.0.0.1:{port}"],
            sentinel_master="no-such-master",
            key_prefix=prefix,
        )
        with pytest.raises(hoard.HoardError, match="no sentinel named a master"):
            wrong.set("asr", "clip-2", 1)
    finally:
        sentinel.kill()
        sentinel.wait()
