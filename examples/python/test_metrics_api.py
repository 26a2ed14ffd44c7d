"""The model-metrics API (metrics_api/app.py) through FastAPI's TestClient on a memory-only
cache. ``db.calls`` counts computations: a hit leaves it where it was."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

import hoard

API = "/api/v1/models"


def calls(app: FastAPI) -> dict[str, int]:
    return dict(app.state.db.calls)


def metrics(client: TestClient, model_run_id: str, **params: Any) -> Any:
    response = client.get(f"{API}/train/{model_run_id}/metrics", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def compare(client: TestClient, ids: list[str], metric: str = "accuracy", **params: Any) -> Any:
    response = client.post(f"{API}/compare", json={"model_run_ids": ids, "metric": metric}, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_metrics_are_computed_once_then_hit(
    metrics_app: FastAPI, metrics_client: TestClient, cache: hoard.Cache
) -> None:
    first = metrics(metrics_client, "abc-123")
    second = metrics(metrics_client, "abc-123")

    assert second == first == {
        "model_run_id": "abc-123",
        "status": "completed",
        "metrics": {"accuracy": 0.95, "f1_score": 0.93, "precision": 0.94, "recall": 0.92},
    }
    assert calls(metrics_app) == {"metrics": 1}
    # The dashboard's key, in the namespace of cached functions, for one hour.
    assert cache.exists("cached", "model:metrics:abc-123")
    ttl = cache.ttl("cached", "model:metrics:abc-123")
    assert ttl is not None and 0 < ttl <= hoard.ttl.LONG


def test_use_cache_false_recomputes_and_refreshes_the_entry(
    metrics_app: FastAPI, metrics_client: TestClient
) -> None:
    metrics(metrics_client, "abc-123")
    # Changed behind the cache's back (no PUT, so nothing is invalidated).
    metrics_app.state.db.runs["abc-123"]["status"] = "archived"
    assert metrics(metrics_client, "abc-123")["status"] == "completed"

    assert metrics(metrics_client, "abc-123", use_cache="false")["status"] == "archived"
    assert calls(metrics_app) == {"metrics": 2}

    assert metrics(metrics_client, "abc-123")["status"] == "archived"
    assert calls(metrics_app) == {"metrics": 2}


def test_an_unknown_model_is_a_404_that_is_not_cached(metrics_client: TestClient, cache: hoard.Cache) -> None:
    for _ in range(2):
        response = metrics_client.get(f"{API}/train/nope/metrics")
        assert response.status_code == 404
        assert response.json() == {"detail": "model run 'nope' not found"}
    assert not cache.exists("cached", "model:metrics:nope")


def test_feature_importance_is_cached_per_top_n(metrics_app: FastAPI, metrics_client: TestClient) -> None:
    url = f"{API}/train/abc-123/feature-importance"
    top2 = metrics_client.get(url, params={"top_n": 2}).json()
    assert top2["features"] == [
        {"feature": "age", "importance": 0.31},
        {"feature": "income", "importance": 0.24},
    ]
    assert metrics_client.get(url, params={"top_n": 2}).json() == top2
    assert calls(metrics_app) == {"feature_importance": 1}

    assert len(metrics_client.get(url).json()["features"]) == 5  # top_n=10, another entry
    assert calls(metrics_app) == {"feature_importance": 2}
    metrics_client.get(url, params={"top_n": 2, "use_cache": "false"})
    assert calls(metrics_app) == {"feature_importance": 3}


def test_a_comparison_is_keyed_by_the_sorted_ids_and_the_metric(
    metrics_app: FastAPI, metrics_client: TestClient
) -> None:
    result = compare(metrics_client, ["abc-123", "def-456", "ghi-789"])
    assert result["best"] == "abc-123"
    assert [m["model_run_id"] for m in result["models"]] == ["abc-123", "ghi-789", "def-456"]

    assert compare(metrics_client, ["ghi-789", "abc-123", "def-456"]) == result
    assert calls(metrics_app) == {"compare": 1}

    assert compare(metrics_client, ["abc-123", "def-456", "ghi-789"], metric="recall")["best"] == "abc-123"
    assert calls(metrics_app) == {"compare": 2}
    compare(metrics_client, ["abc-123", "def-456", "ghi-789"], use_cache="false")
    assert calls(metrics_app) == {"compare": 3}


def test_a_comparison_of_an_unknown_model_is_a_404(metrics_client: TestClient) -> None:
    response = metrics_client.post(f"{API}/compare", json={"model_run_ids": ["abc-123", "nope"]})
    assert response.status_code == 404


def test_an_update_drops_that_models_entries_and_every_comparison(
    metrics_app: FastAPI, metrics_client: TestClient
) -> None:
    client = metrics_client
    metrics(client, "abc-123")
    metrics(client, "def-456")
    client.get(f"{API}/train/abc-123/feature-importance")
    compare(client, ["abc-123", "def-456"])
    compare(client, ["def-456", "ghi-789"])  # abc-123 is not in it: dropped all the same
    assert calls(metrics_app) == {"metrics": 2, "feature_importance": 1, "compare": 2}

    update = {"metrics": {"accuracy": 0.5}, "feature_importance": {"plan": 1.0}}
    response = client.put(f"{API}/train/abc-123", json=update)
    assert response.status_code == 200
    assert response.json()["metrics"] == {"accuracy": 0.5}

    assert metrics(client, "abc-123")["metrics"] == {"accuracy": 0.5}
    assert metrics(client, "def-456")["metrics"]["accuracy"] == 0.88  # still a hit
    assert client.get(f"{API}/train/abc-123/feature-importance").json()["features"] == [
        {"feature": "plan", "importance": 1.0}
    ]
    assert compare(client, ["abc-123", "def-456"])["best"] == "def-456"
    compare(client, ["def-456", "ghi-789"])
    assert calls(metrics_app) == {"metrics": 3, "feature_importance": 2, "compare": 4}


def test_a_failed_update_invalidates_nothing(metrics_app: FastAPI, metrics_client: TestClient) -> None:
    compare(metrics_client, ["abc-123", "def-456"])

    assert metrics_client.put(f"{API}/train/nope", json={"status": "failed"}).status_code == 404

    compare(metrics_client, ["abc-123", "def-456"])
    assert calls(metrics_app) == {"compare": 1}


def test_a_deleted_model_is_gone_from_every_cached_answer(
    metrics_app: FastAPI, metrics_client: TestClient, cache: hoard.Cache
) -> None:
    client = metrics_client
    metrics(client, "abc-123")
    compare(client, ["abc-123", "def-456"])
    compare(client, ["def-456", "ghi-789"])

    assert client.delete(f"{API}/train/abc-123").json() == {"deleted": "abc-123"}

    assert not cache.exists("cached", "model:metrics:abc-123")
    assert client.get(f"{API}/train/abc-123/metrics").status_code == 404
    assert client.post(f"{API}/compare", json={"model_run_ids": ["abc-123", "def-456"]}).status_code == 404
    compare(client, ["def-456", "ghi-789"])
    assert calls(metrics_app) == {"metrics": 1, "compare": 3}
    assert client.delete(f"{API}/train/abc-123").status_code == 404


def test_cache_stats_have_the_server_shape_and_the_namespace_counts(metrics_client: TestClient) -> None:
    metrics(metrics_client, "abc-123")
    metrics(metrics_client, "abc-123")

    body = metrics_client.get("/api/v1/cache/stats").json()

    assert body["available"] is True
    assert body["message"] == "Cache is healthy"
    assert body["config"]["ttl_long"] == 3600 and body["config"]["ttl_week"] == 604800
    assert body["stats"]["total_keys"] == 1
    cached = body["namespaces"]["cached"]
    assert cached["sets"] == 1 and cached["hits"] == 1
