"""The results API (results_api/app.py) through FastAPI's TestClient on a memory-only cache."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import hoard

PAYLOAD = {"probabilities": {"happy": 0.9, "sad": 0.1}}


def test_a_posted_result_reads_back_from_namespace_result(
    results_client: TestClient, cache: hoard.Cache
) -> None:
    assert results_client.post("/results/wav2vec2/f7fb1616", json=PAYLOAD).json() == {"ok": True}

    assert results_client.get("/results/wav2vec2/f7fb1616").json() == PAYLOAD
    assert cache.get("result", "wav2vec2:f7fb1616") == PAYLOAD
    ttl = cache.ttl("result", "wav2vec2:f7fb1616")
    assert ttl is not None and 0 < ttl <= hoard.ttl.DAY


def test_a_missing_result_is_a_json_404(results_client: TestClient) -> None:
    response = results_client.get("/results/wav2vec2/0000")

    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "message": "no result for model 'wav2vec2' and hash '0000'",
    }


def test_batch_answers_every_hash_with_its_payload_or_null(results_client: TestClient) -> None:
    results_client.post("/results/wav2vec2/h1", json=PAYLOAD)
    results_client.post("/results/whisper-base/h2", json={"text": "other model"})

    response = results_client.post("/results/wav2vec2/batch", json={"hashes": ["h1", "h2"]})

    # h2 exists only under another model; "batch" was not taken for a hash.
    assert response.json() == {"ok": True, "payloads": {"h1": PAYLOAD, "h2": None}}
    empty = results_client.post("/results/wav2vec2/batch", json={"hashes": []})
    assert empty.json() == {"ok": True, "payloads": {}}


def test_stats_count_hits_misses_and_sets_per_namespace(results_client: TestClient) -> None:
    results_client.post("/results/wav2vec2/h1", json=PAYLOAD)
    results_client.get("/results/wav2vec2/h1")  # hit
    results_client.get("/results/wav2vec2/nope")  # miss

    stats = results_client.get("/stats").json()

    assert stats["available"] is True
    assert stats["stats"]["total_keys"] == 1
    counts = stats["namespaces"]["result"]
    assert (counts["sets"], counts["hits"], counts["misses"]) == (1, 1, 1)


def test_inference_is_computed_once_then_served_from_the_cache(
    results_app: FastAPI, results_client: TestClient, cache: hoard.Cache
) -> None:
    first = results_client.post("/infer/wav2vec2/h1")
    second = results_client.post("/infer/wav2vec2/h1")

    assert first.status_code == 200
    assert second.json() == first.json()
    assert set(first.json()["probabilities"]) == {"angry", "happy", "neutral", "sad"}
    assert results_app.state.infer_counts["wav2vec2:h1"] == 1
    assert cache.exists("cached", "infer:wav2vec2:h1")


def test_use_cache_false_recomputes_and_stores_for_the_next_caller(
    results_app: FastAPI, results_client: TestClient
) -> None:
    counts = results_app.state.infer_counts
    results_client.post("/infer/wav2vec2/h1")

    results_client.post("/infer/wav2vec2/h1", params={"use_cache": "false"})
    assert counts["wav2vec2:h1"] == 2

    results_client.post("/infer/wav2vec2/h1")
    assert counts["wav2vec2:h1"] == 2


def test_an_unknown_model_is_a_404_and_nothing_is_cached(
    results_app: FastAPI, results_client: TestClient, cache: hoard.Cache
) -> None:
    response = results_client.post("/infer/no-such-model/h1")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert not cache.exists("cached", "infer:no-such-model:h1")
    assert results_app.state.pool.loaded() == []


def test_the_pool_loads_each_model_once_under_concurrent_requests(
    results_api: ModuleType, cache: hoard.Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRELOAD_MODELS", "whisper-base, wav2vec2")
    # 8 distinct hashes per model (each a miss, so each asks the pool for its model), and
    # 8 requests for one more hash, which the cache computes once: 9 ask for whisper-large.
    paths = [f"/infer/{m}/h{i}" for m in ("whisper-base", "wav2vec2", "whisper-large") for i in range(8)]
    paths += ["/infer/whisper-large/shared"] * 8
    asked_for_large: list[str] = []
    all_asked = threading.Event()

    # whisper-large is not preloaded, and its load does not finish before all 9 requests
    # have asked the pool for it: they overlap the load for certain, with no sleep.
    def gated_loader(name: str) -> object:
        if name == "whisper-large":
            assert all_asked.wait(timeout=10), f"only {len(asked_for_large)} requests asked"
        return results_api.load_fake_model(name)

    app = results_api.create_app(cache, loader=gated_loader)
    pool, real_aget = app.state.pool, app.state.pool.aget

    async def counting_aget(name: str) -> object:
        if name == "whisper-large":
            asked_for_large.append(name)
            if len(asked_for_large) == 9:
                all_asked.set()
        return await real_aget(name)

    monkeypatch.setattr(pool, "aget", counting_aget)

    with TestClient(app) as client:
        # The lifespan warmed the preloaded models before the first request.
        assert dict(app.state.load_counts) == {"whisper-base": 1, "wav2vec2": 1}
        with ThreadPoolExecutor(max_workers=len(paths)) as workers:
            responses = list(workers.map(client.post, paths))

    assert [r.status_code for r in responses] == [200] * len(paths)
    assert dict(app.state.load_counts) == {"whisper-base": 1, "wav2vec2": 1, "whisper-large": 1}
    assert pool.loads == 3
    assert len(asked_for_large) == 9
    assert app.state.infer_counts["whisper-large:shared"] == 1
    assert len({r.text for r in responses[-8:]}) == 1
