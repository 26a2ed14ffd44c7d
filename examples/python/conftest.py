"""Loads each example's ``app.py`` by file path under its own module name (both files are
called ``app``), and gives every test a fresh app on a memory-only cache."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import hoard

HERE = Path(__file__).resolve().parent


def load_example(folder: str) -> ModuleType:
    name = f"{folder}_app"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / folder / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before running it: pydantic resolves the module's annotations through it.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def results_api() -> ModuleType:
    return load_example("results_api")


@pytest.fixture(scope="session")
def metrics_api() -> ModuleType:
    return load_example("metrics_api")


@pytest.fixture
def cache() -> hoard.Cache:
    return hoard.Cache(path=None)


@pytest.fixture
def results_app(results_api: ModuleType, cache: hoard.Cache, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    monkeypatch.delenv("PRELOAD_MODELS", raising=False)
    app: FastAPI = results_api.create_app(cache)
    return app


@pytest.fixture
def results_client(results_app: FastAPI) -> Iterator[TestClient]:
    # As a context manager, TestClient runs the app's lifespan (the model warm-up).
    with TestClient(results_app) as client:
        yield client


@pytest.fixture
def metrics_app(metrics_api: ModuleType, cache: hoard.Cache) -> FastAPI:
    app: FastAPI = metrics_api.create_app(cache)
    return app


@pytest.fixture
def metrics_client(metrics_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(metrics_app) as client:
        yield client
