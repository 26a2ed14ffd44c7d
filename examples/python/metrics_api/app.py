"""A training dashboard's model-metrics endpoints on FastAPI, cached with ``@hoard.cached``.

- ``GET /api/v1/models/train/{id}/metrics``: TTL LONG, entry ``model:metrics:{id}``.
- ``GET /api/v1/models/train/{id}/feature-importance?top_n=10``: TTL MEDIUM, entry
  ``model:feature_importance:{id}:top_{n}``.
- ``POST /api/v1/models/compare``: TTL MEDIUM, entry
  ``model:comparison:{metric}:{hash of the sorted ids}``.

Entries live in namespace ``cached`` (``cached:model:metrics:abc-123``). Each carries the
tag ``model:{id}`` of every model it was computed from; comparisons also carry
``model:comparison``, so one ``invalidate(tags=...)`` drops them without key patterns.
Each route takes ``?use_cache=false`` to recompute (and store the fresh result).
``PUT``/``DELETE /api/v1/models/train/{id}`` drop that model's entries and every
comparison by tag; ``GET /api/v1/cache/stats`` answers the cache's stats.

The "database" is a dict that counts how often each computation ran, so a cache hit is
visible as a counter that did not move. Run: ``uvicorn app:app``.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections import Counter
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

import hoard

COMPARISONS = "model:comparison"  # the tag on every comparison entry


def model_tag(model_run_id: str) -> str:
    return f"model:{model_run_id}"


SEED_RUNS: dict[str, dict[str, Any]] = {
    "abc-123": {
        "status": "completed",
        "metrics": {"accuracy": 0.95, "f1_score": 0.93, "precision": 0.94, "recall": 0.92},
        "feature_importance": {"age": 0.31, "income": 0.24, "tenure": 0.18, "region": 0.09, "plan": 0.05},
    },
    "def-456": {
        "status": "completed",
        "metrics": {"accuracy": 0.88, "f1_score": 0.86, "precision": 0.90, "recall": 0.83},
        "feature_importance": {"income": 0.40, "age": 0.22, "plan": 0.12},
    },
    "ghi-789": {
        "status": "completed",
        "metrics": {"accuracy": 0.91, "f1_score": 0.89, "precision": 0.87, "recall": 0.92},
        "feature_importance": {"tenure": 0.35, "region": 0.20, "age": 0.15},
    },
}


class ModelStore:
    """The in-memory stand-in for the database; ``calls`` counts each computation."""

    def __init__(self, runs: dict[str, dict[str, Any]] | None = None) -> None:
        self.runs = copy.deepcopy(SEED_RUNS if runs is None else runs)
        self.calls: Counter[str] = Counter()

    def run(self, model_run_id: str) -> dict[str, Any]:
        run = self.runs.get(model_run_id)
        if run is None:
            raise HTTPException(status_code=404, detail=f"model run {model_run_id!r} not found")
        return run


class CompareRequest(BaseModel):
    model_run_ids: list[str]
    metric: str = "accuracy"


class ModelUpdate(BaseModel):
    status: str | None = None
    metrics: dict[str, float] | None = None
    feature_importance: dict[str, float] | None = None


def comparison_key(model_run_ids: list[str], metric: str) -> str:
    # Sorted, so ["a", "b"] and ["b", "a"] share one entry (the answer is ranked anyway).
    ids = hashlib.sha1(",".join(sorted(set(model_run_ids))).encode()).hexdigest()[:16]
    return f"{metric}:{ids}"


def default_cache() -> hoard.Cache:
    url = os.environ.get("HOARD_REDIS_URL")
    return hoard.Cache(redis=url) if url else hoard.Cache(path=".hoard")


def create_app(cache: hoard.Cache | None = None, store: ModelStore | None = None) -> FastAPI:
    cache = cache if cache is not None else default_cache()
    db = store if store is not None else ModelStore()
    app = FastAPI(title="hoard model metrics")
    app.state.cache, app.state.db = cache, db

    # The endpoint itself is cached: it declares use_cache, which the decorator honours
    # (and keeps out of the key). A 404 raised inside is not cached.
    @app.get("/api/v1/models/train/{model_run_id}/metrics")
    @hoard.cached(
        "model:metrics",
        ttl=hoard.ttl.LONG,
        cache=cache,
        key="{model_run_id}",
        tags=lambda model_run_id, **_: [model_tag(model_run_id)],
    )
    async def get_metrics(model_run_id: str, use_cache: bool = True) -> dict[str, Any]:
        run = db.run(model_run_id)
        db.calls["metrics"] += 1
        return {"model_run_id": model_run_id, "status": run["status"], "metrics": run["metrics"]}

    # A plain `def` works the same (FastAPI runs it in its thread pool).
    @app.get("/api/v1/models/train/{model_run_id}/feature-importance")
    @hoard.cached(
        "model:feature_importance",
        ttl=hoard.ttl.MEDIUM,
        cache=cache,
        key="{model_run_id}:top_{top_n}",
        tags=lambda model_run_id, **_: [model_tag(model_run_id)],
    )
    def get_feature_importance(model_run_id: str, top_n: int = 10, use_cache: bool = True) -> dict[str, Any]:
        run = db.run(model_run_id)
        db.calls["feature_importance"] += 1
        ranked = sorted(run["feature_importance"].items(), key=lambda item: item[1], reverse=True)
        features = [{"feature": name, "importance": value} for name, value in ranked[:top_n]]
        return {"model_run_id": model_run_id, "top_n": top_n, "features": features}

    # Cached apart from the endpoint, so the key is the sorted ids rather than the body
    # object; tagged with every model in it, and with COMPARISONS.
    @hoard.cached(
        "model:comparison",
        ttl=hoard.ttl.MEDIUM,
        cache=cache,
        key=comparison_key,
        tags=lambda model_run_ids, metric: [COMPARISONS, *map(model_tag, model_run_ids)],
    )
    async def compare(model_run_ids: list[str], metric: str) -> dict[str, Any]:
        runs = {i: db.run(i) for i in model_run_ids}
        db.calls["compare"] += 1
        values = {i: run["metrics"].get(metric) for i, run in runs.items()}
        ranked = sorted(values, key=lambda i: (values[i] is None, -(values[i] or 0.0), i))
        return {
            "metric": metric,
            "models": [{"model_run_id": i, "value": values[i]} for i in ranked],
            "best": ranked[0] if ranked and values[ranked[0]] is not None else None,
        }

    @app.post("/api/v1/models/compare")
    async def compare_models(body: CompareRequest, use_cache: bool = True) -> dict[str, Any]:
        if not body.model_run_ids:
            raise HTTPException(status_code=422, detail="model_run_ids is empty")
        # `refresh` (recompute and store) is the typed spelling of compare(..., use_cache=False).
        run = compare if use_cache else compare.refresh
        return await run(model_run_ids=body.model_run_ids, metric=body.metric)

    # `invalidates` runs after the endpoint returns, not when it raises (a 404 drops
    # nothing). Its tag list is fixed, so the per-model tag is dropped in the body.
    @app.put("/api/v1/models/train/{model_run_id}")
    @hoard.invalidates(tags=[COMPARISONS], cache=cache)
    async def update_model(model_run_id: str, update: ModelUpdate) -> dict[str, Any]:
        run = db.run(model_run_id)
        run.update(update.model_dump(exclude_none=True))
        await cache.ainvalidate(tags=[model_tag(model_run_id)])
        return {"model_run_id": model_run_id, **run}

    @app.delete("/api/v1/models/train/{model_run_id}")
    @hoard.invalidates(tags=[COMPARISONS], cache=cache)
    async def delete_model(model_run_id: str) -> dict[str, Any]:
        db.run(model_run_id)
        del db.runs[model_run_id]
        await cache.ainvalidate(tags=[model_tag(model_run_id)])
        return {"deleted": model_run_id}

    @app.get("/api/v1/cache/stats")
    async def cache_stats() -> dict[str, Any]:
        # The same body as `hoard serve`'s GET /v1/stats: available, stats, config, message.
        return await cache.astats()

    return app


def __getattr__(name: str) -> Any:
    # `uvicorn app:app` reads `app` from this module; building it on first access keeps an
    # import (as the tests do) from opening the default cache's folder.
    if name == "app":
        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(name)
