"""An inference-results API (an audio-emotion backend's) on FastAPI, with hoard in the process instead of redis-py.

- ``GET/POST /results/{model}/{h}`` and ``POST /results/{model}/batch``: inference results
  stored under namespace ``result``, key ``{model}:{h}`` (what such apps keep in Redis as ``result:{model}:{h}``).
- ``POST /infer/{model}/{h}``: a fake prediction made with a model from a per-process
  ``hoard.ModelPool`` and cached by ``@hoard.cached``; ``?use_cache=false`` recomputes.
- ``GET /stats``: ``cache.stats()``.

Run: ``uvicorn app:app`` (``PRELOAD_MODELS=whisper-base,wav2vec2`` loads those at start-up;
``HOARD_REDIS_URL=redis://localhost:6379/0`` shares the cache between workers).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Body, FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import hoard

log = logging.getLogger("results_api")

# The models this process knows how to "load": name -> the labels it predicts.
KNOWN_MODELS = {
    "whisper-base": ["transcript"],
    "whisper-large": ["transcript"],
    "wav2vec2": ["angry", "happy", "neutral", "sad"],
}


def load_fake_model(name: str) -> dict[str, Any]:
    """Stands in for building a pipeline from weights: a small dict, no ML library."""
    if name not in KNOWN_MODELS:
        raise KeyError(f"unknown model {name!r}")
    return {"name": name, "labels": KNOWN_MODELS[name]}


def predict(model: dict[str, Any], h: str) -> dict[str, Any]:
    """A deterministic fake prediction: scores derived from the file hash."""
    digest = hashlib.sha1(f"{model['name']}:{h}".encode()).digest()
    raw = [b + 1 for b in digest[: len(model["labels"])]]
    total = sum(raw)
    scores = {label: r / total for label, r in zip(model["labels"], raw)}
    return {"model": model["name"], "probabilities": scores}


def default_cache() -> hoard.Cache:
    """Redis when ``HOARD_REDIS_URL`` is set (several workers share it), else memory plus
    a disk folder, which one process at a time may open."""
    url = os.environ.get("HOARD_REDIS_URL")
    return hoard.Cache(redis=url) if url else hoard.Cache(path=".hoard")


def preload_from_env() -> list[str]:
    return [name.strip() for name in os.environ.get("PRELOAD_MODELS", "").split(",") if name.strip()]


class Hashes(BaseModel):
    hashes: list[str]


def not_found(message: str) -> JSONResponse:
    return JSONResponse(status_code=404, content={"error": "not_found", "message": message})


def create_app(
    cache: hoard.Cache | None = None, *, loader: Callable[[str], Any] = load_fake_model
) -> FastAPI:
    """The app on ``cache`` (default: :func:`default_cache`). ``loader`` builds one model
    by name; tests swap it to observe loads."""
    cache = cache if cache is not None else default_cache()
    # Counters a test (or a curious operator) can read from app.state.
    load_counts: Counter[str] = Counter()
    infer_counts: Counter[str] = Counter()

    def counted_loader(name: str) -> Any:
        model = loader(name)
        load_counts[name] += 1
        return model

    # Models are objects, not cache values: they stay in this process, loaded once each.
    pool = hoard.ModelPool(counted_loader, preload=preload_from_env())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for name, error in pool.warm().items():
            log.warning("preloading %s failed: %s", name, error)
        yield
        # Buffered disk writes reach the folder before the process exits.
        await cache.aflush()

    app = FastAPI(title="hoard results API", lifespan=lifespan)
    app.state.cache, app.state.pool = cache, pool
    app.state.load_counts, app.state.infer_counts = load_counts, infer_counts

    # Declared before /results/{model}/{h}, which would otherwise take "batch" as a hash.
    @app.post("/results/{model}/batch")
    async def get_batch(model: str, body: Hashes) -> dict[str, Any]:
        found = await cache.aget_many("result", [f"{model}:{h}" for h in body.hashes])
        return {"ok": True, "payloads": {h: found[f"{model}:{h}"] for h in body.hashes}}

    @app.get("/results/{model}/{h}")
    async def get_result(model: str, h: str) -> Any:
        payload = await cache.aget("result", f"{model}:{h}")
        if payload is None:
            return not_found(f"no result for model {model!r} and hash {h!r}")
        return payload

    @app.post("/results/{model}/{h}")
    async def put_result(model: str, h: str, payload: dict[str, Any] = Body(...)) -> dict[str, Any]:
        await cache.aset("result", f"{model}:{h}", payload, ttl=hoard.ttl.DAY)
        return {"ok": True}

    # Stored at cached:infer:{model}:{h}; concurrent requests for one cold key run it once.
    @hoard.cached("infer", ttl=hoard.ttl.DAY, cache=cache, key="{model}:{h}")
    async def infer(model: str, h: str) -> dict[str, Any]:
        predictor = await pool.aget(model)  # the load runs in a thread; the loop keeps serving
        infer_counts[f"{model}:{h}"] += 1
        return predict(predictor, h)

    @app.post("/infer/{model}/{h}")
    async def run_inference(model: str, h: str, use_cache: bool = True) -> Any:
        # `refresh` recomputes and stores the fresh value for everyone: the typed spelling
        # of infer(model, h, use_cache=False), which works the same.
        compute = infer if use_cache else infer.refresh
        try:
            return await compute(model, h)
        except hoard.ModelLoadError as error:
            # Not cached: the next request tries the load again.
            return not_found(str(error))

    @app.get("/stats")
    async def stats() -> dict[str, Any]:
        return await cache.astats()

    return app


def __getattr__(name: str) -> Any:
    # `uvicorn app:app` reads `app` from this module; building it on first access keeps an
    # import (as the tests do) from opening the default cache's folder.
    if name == "app":
        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(name)
