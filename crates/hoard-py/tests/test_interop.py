"""What Python writes, `hoard serve` answers, and the other way round, on one Redis."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

import hoard

from conftest import RedisServer, free_port, hoard_binary, wait_for_port


@pytest.fixture
def server(redis_server: RedisServer, prefix: str) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ, HOARD_CACHE_KEY_PREFIX=prefix, HOARD_ADMIN_TOKEN="interop-token-0123456789")
    process = subprocess.Popen(
        [str(hoard_binary()), "serve", "--redis", redis_server.url, "--addr", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, process=process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(20)


def http(method: str, url: str, body: object = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


VALUE = {"accuracy": 0.9512345678901234, "labels": ["angry", "calm"], "count": 3, "neg": -7,
         "big": 2**63 + 5, "none": None, "ok": True, "nested": {"f": [0.1, 1e-300]}}


def test_python_writes_server_reads(server: str, redis_server: RedisServer, prefix: str) -> None:
    cache = hoard.Cache(redis=redis_server.url, key_prefix=prefix)
    cache.set("model", "metrics:abc-123", VALUE, ttl="1h")
    status, body = http("GET", f"{server}/v1/cache/model/metrics:abc-123")
    assert status == 200
    assert body == VALUE


def test_server_writes_python_reads(server: str, redis_server: RedisServer, prefix: str) -> None:
    status, _ = http("PUT", f"{server}/v1/cache/model/from-server?ttl=1h&tags=model:abc", VALUE)
    assert status == 200
    fresh = hoard.Cache(redis=redis_server.url, key_prefix=prefix)
    assert fresh.get("model", "from-server") == VALUE
    assert fresh.invalidate(tags=["model:abc"]) == 1
    status, _ = http("GET", f"{server}/v1/cache/model/from-server")
    assert status == 404, "an invalidation from Python reached the server"


def test_server_stats_count_python_writes(server: str, redis_server: RedisServer, prefix: str) -> None:
    cache = hoard.Cache(redis=redis_server.url, key_prefix=prefix)
    for i in range(5):
        cache.set("counted", f"k{i}", i)
    status, stats = http("GET", f"{server}/v1/stats")
    assert status == 200
    assert isinstance(stats, dict) and stats["stats"]["total_keys"] >= 5
