"""@hoard.cached and @hoard.invalidates: one computation per cold key, bypass, clearing."""

from __future__ import annotations

import asyncio
import copy
import inspect
import pickle
import threading
import time
import weakref
from typing import Any

import pytest

import hoard


def test_sync_decorator_computes_once_and_use_cache_false_recomputes(memory_cache: hoard.Cache) -> None:
    calls = []

    @hoard.cached("user_profile", ttl="1h", cache=memory_cache)
    def profile(user_id: int, verbose: bool = False) -> dict[str, Any]:
        calls.append(user_id)
        return {"id": user_id, "n": len(calls)}

    assert profile(1) == {"id": 1, "n": 1}
    assert profile(1) == {"id": 1, "n": 1}
    assert profile(2)["n"] == 2
    assert calls == [1, 2]
    assert profile(1, use_cache=False) == {"id": 1, "n": 3}
    assert profile(1) == {"id": 1, "n": 3}, "the bypass stored its fresh value"
    assert profile.refresh(1)["n"] == 4
    assert profile(1, verbose=True)["n"] == 5, "keyword arguments are part of the key"
    assert profile.cache_clear() == 3
    assert profile(1)["n"] == 6


def test_async_decorator_computes_once(memory_cache: hoard.Cache) -> None:
    calls = 0

    @hoard.cached(cache=memory_cache)
    async def fetch(query: str) -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return f"result for {query}"

    assert inspect.iscoroutinefunction(fetch), "FastAPI must still see an async def"

    async def main() -> list[str]:
        first = await asyncio.gather(*(fetch("q") for _ in range(50)))
        again = await fetch("q")
        fresh = await fetch("q", use_cache=False)
        return [*first, again, fresh]

    results = asyncio.run(main())
    assert set(results) == {"result for q"}
    assert calls == 2, "50 concurrent tasks computed once; use_cache=False once more"


def test_threads_compute_a_cold_key_once(memory_cache: hoard.Cache) -> None:
    calls = 0
    lock = threading.Lock()

    @hoard.cached(cache=memory_cache)
    def slow(x: int) -> int:
        nonlocal calls
        with lock:
            calls += 1
        time.sleep(0.2)
        return x * 2

    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(slow(21))) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [42] * 16
    assert calls == 1


def test_exceptions_reach_every_waiter_and_are_not_cached(memory_cache: hoard.Cache) -> None:
    calls = 0
    started = threading.Event()

    @hoard.cached(cache=memory_cache)
    def failing(x: int) -> int:
        nonlocal calls
        calls += 1
        started.set()
        time.sleep(0.3)
        raise RuntimeError(f"boom {calls}")

    errors: list[BaseException] = []

    def call() -> None:
        try:
            failing(1)
        except RuntimeError as e:
            errors.append(e)

    first = threading.Thread(target=call)
    first.start()
    started.wait(5)
    waiters = [threading.Thread(target=call) for _ in range(5)]
    for t in waiters:
        t.start()
    for t in [first, *waiters]:
        t.join()
    assert len(errors) == 6
    assert {str(e) for e in errors} == {"boom 1"}, "the waiters got the leader's exception"
    assert calls == 1
    with pytest.raises(RuntimeError, match="boom 2"):
        failing(1)


def test_methods_do_not_hash_self(memory_cache: hoard.Cache) -> None:
    class Service:
        def __init__(self, name: str) -> None:
            self.name = name
            self.calls = 0

        @hoard.cached(cache=memory_cache)
        def lookup(self, item: int) -> str:
            self.calls += 1
            return f"{self.name}:{item}"

    a, b = Service("a"), Service("b")
    assert a.lookup(1) == "a:1"
    assert b.lookup(1) == "a:1", "self is not part of the key unless include_self=True"
    assert a.calls == 1 and b.calls == 0


def test_key_format_and_callable_keys(memory_cache: hoard.Cache) -> None:
    @hoard.cached("by_format", cache=memory_cache, key="{user_id}")
    def by_format(user_id: int, session: object = None) -> int:
        return user_id

    assert by_format(5, session=object()) == 5, "an unhashable argument left out of the key"
    assert memory_cache.get("cached", "by_format:5") == 5

    @hoard.cached("by_callable", cache=memory_cache, key=lambda model, **_: f"m:{model}")
    def by_callable(model: str) -> str:
        return model.upper()

    assert by_callable("abc") == "ABC"
    assert memory_cache.get("cached", "by_callable:m:abc") == "ABC"


def test_unhashable_arguments_say_how_to_key(memory_cache: hoard.Cache) -> None:
    @hoard.cached(cache=memory_cache)
    def f(client: object) -> int:
        return 1

    with pytest.raises(TypeError, match="key="):
        f(object())


def test_cache_none_false_does_not_store_none(memory_cache: hoard.Cache) -> None:
    calls = 0

    @hoard.cached(cache=memory_cache, cache_none=False)
    def maybe(x: int) -> int | None:
        nonlocal calls
        calls += 1
        return None

    maybe(1)
    maybe(1)
    assert calls == 2


def test_default_name_is_module_and_qualname(memory_cache: hoard.Cache) -> None:
    @hoard.cached(cache=memory_cache)
    def named() -> int:
        return 1

    assert named.cache_name == f"{__name__}.test_default_name_is_module_and_qualname.<locals>.named"


def test_tags_and_clear_cached(memory_cache: hoard.Cache) -> None:
    @hoard.cached("tagged_fn", cache=memory_cache, tags=lambda model_id: [f"model:{model_id}"])
    def metrics(model_id: str) -> dict[str, str]:
        return {"model": model_id}

    metrics("a")
    metrics("b")
    assert memory_cache.invalidate(tags=["model:a"]) == 1
    assert hoard.clear_cached("tagged_fn") == 1


def test_invalidates_runs_after_success_only(memory_cache: hoard.Cache) -> None:
    memory_cache.set("model", "metrics:abc", 1)
    memory_cache.set("model", "comparison:x", 2, tags=["model"])

    @hoard.invalidates(patterns=["model:metrics:*"], tags=["model"], cache=memory_cache)
    def update(fail: bool) -> str:
        if fail:
            raise ValueError("no")
        return "ok"

    with pytest.raises(ValueError):
        update(True)
    assert memory_cache.get("model", "metrics:abc") == 1
    assert update(False) == "ok"
    assert memory_cache.get("model", "metrics:abc") is None
    assert memory_cache.get("model", "comparison:x") is None

    @hoard.invalidates(patterns=["model:*"], cache=memory_cache)
    async def aupdate() -> str:
        return "done"

    memory_cache.set("model", "again", 1)
    assert asyncio.run(aupdate()) == "done"
    assert memory_cache.get("model", "again") is None


def test_early_refresh_and_adaptive_ttl_options(memory_cache: hoard.Cache) -> None:
    @hoard.cached(cache=memory_cache, ttl=60, adaptive_ttl=0.5, adaptive_max=600)
    def popular(x: int) -> int:
        return x

    popular(1)
    for _ in range(5):
        popular(1)
    remaining = memory_cache.ttl("cached", popular.key(1))
    assert remaining is not None and remaining > 100, "hits grew the TTL"

    @hoard.cached(cache=memory_cache, early_refresh=True)
    def refreshed(x: int) -> int:
        return x

    assert refreshed(3) == 3 and refreshed(3) == 3
    with pytest.raises(hoard.InvalidInput):
        hoard.cached(cache=memory_cache, adaptive_ttl=-1)(lambda: 1)()


def test_get_or_compute_directly(memory_cache: hoard.Cache) -> None:
    assert memory_cache.get_or_compute("ns", "k", lambda: {"x": 1}, ttl="1m") == {"x": 1}
    assert memory_cache.get_or_compute("ns", "k", lambda: {"x": 2}) == {"x": 1}

    async def main() -> int:
        async def compute() -> int:
            return 5

        return await memory_cache.aget_or_compute("ns", "ak", compute)

    assert asyncio.run(main()) == 5


def test_an_unstorable_result_is_a_type_error(memory_cache: hoard.Cache) -> None:
    @hoard.cached(cache=memory_cache)
    def bad() -> object:
        return object()

    with pytest.raises(TypeError, match="cannot store"):
        bad()


def test_each_call_counts_one_hit_or_one_miss() -> None:
    cache = hoard.Cache(path=None)

    @hoard.cached(cache=cache)
    def f(x: int) -> int:
        return x

    f(1)
    f(1)
    f(x=2)
    counts = cache.stats()["namespaces"]["cached"]
    assert (counts["hits"], counts["misses"]) == (1, 2)


def test_clear_cached_with_a_cache_clears_only_that_cache() -> None:
    first, second = hoard.Cache(path=None), hoard.Cache(path=None)

    @hoard.cached("shared_name", cache=first)
    def a(x: int) -> int:
        return x

    @hoard.cached("shared_name", cache=second)
    def b(x: int) -> int:
        return x

    a(1)
    b(1)
    assert hoard.clear_cached("shared_name", cache=first) == 1
    assert second.exists("cached", b.key(1))


def test_unstorable_values_are_hoard_errors_too(memory_cache: hoard.Cache) -> None:
    with pytest.raises(hoard.SerializationError):
        memory_cache.set("ns", "k", object())


def test_keyword_arguments_never_share_a_key_with_a_positional_dict(memory_cache: hoard.Cache) -> None:
    @hoard.cached(cache=memory_cache)
    def f(a: int, b: object = None) -> str:
        return f"a={a} b={b!r}"

    assert f(1, b=2) == "a=1 b=2"
    assert f(1, {"b": 2}) == "a=1 b={'b': 2}"
    assert f.key(1, b=2) != f.key(1, {"b": 2})
    assert f(1, 2) == "a=1 b=2"
    assert f([1], {"b": 2}) == "a=[1] b={'b': 2}"


def test_invalidates_takes_functions_of_the_arguments(memory_cache: hoard.Cache) -> None:
    memory_cache.set("model", "metrics:a", 1, tags=["model:a"])
    memory_cache.set("model", "metrics:b", 2, tags=["model:b"])

    @hoard.invalidates(tags=lambda model_id, **_: [f"model:{model_id}"], cache=memory_cache)
    def update(model_id: str) -> None:
        return None

    update("a")
    assert memory_cache.get("model", "metrics:a") is None
    assert memory_cache.get("model", "metrics:b") == 2


def test_the_default_cache_can_be_set_after_decorating() -> None:
    first, second = hoard.Cache(path=None), hoard.Cache(path=None)
    previous = hoard.default_cache()
    try:
        hoard.set_default_cache(first)

        @hoard.cached("late_default")
        def f(x: int) -> int:
            return x * 2

        assert f(2) == 4
        hoard.set_default_cache(second)
        assert f(3) == 6
        assert first.exists("cached", f.key(2)) and not first.exists("cached", f.key(3))
        assert second.exists("cached", f.key(3))
        with pytest.raises(TypeError, match="hoard.Cache"):
            hoard.set_default_cache("not a cache")  # type: ignore[arg-type]
    finally:
        hoard.set_default_cache(previous)


def test_use_cache_reaches_a_function_that_declares_it(memory_cache: hoard.Cache) -> None:
    seen: list[bool] = []

    @hoard.cached(cache=memory_cache)
    def endpoint(item: str, use_cache: bool = True) -> str:
        seen.append(use_cache)
        return item.upper()

    assert endpoint("a") == "A"
    assert endpoint("a") == "A"
    assert endpoint("a", use_cache=False) == "A"
    assert endpoint("a", use_cache=True) == "A", "use_cache=True is a hit on the same key"
    assert seen == [True, False]


def test_static_tags_are_checked_when_decorating(memory_cache: hoard.Cache) -> None:
    with pytest.raises(hoard.InvalidInput, match="tags"):

        @hoard.cached(cache=memory_cache, tags="model")  # type: ignore[arg-type]
        def f(x: int) -> int:
            return x

    @hoard.cached(cache=memory_cache, tags=(t for t in ["model:a"]))
    def g(x: int) -> int:
        return x

    g(1)
    g(2, use_cache=False)
    assert memory_cache.invalidate(tags=["model:a"]) == 2


def test_a_hit_returns_a_copy_the_caller_may_change(memory_cache: hoard.Cache) -> None:
    @hoard.cached(cache=memory_cache)
    def f(x: int) -> dict[str, Any]:
        return {"x": x, "items": [1, 2]}

    first = f(1)
    first["items"].append(3)
    hit = f(1)
    assert hit == {"x": 1, "items": [1, 2]}
    hit["x"] = 99
    assert f(1) == {"x": 1, "items": [1, 2]}


def test_equal_python_values_of_other_types_keep_their_own_keys(memory_cache: hoard.Cache) -> None:
    @hoard.cached(cache=memory_cache)
    def kind(x: object, y: object = None) -> str:
        return type(x).__name__

    calls = [1, True, 1.0, 1, True, "1", None, 0, False]
    assert [kind(x) for x in calls] == [type(x).__name__ for x in calls]
    assert kind.key(1) != kind.key(True) != kind.key(1.0)
    for x in calls:
        assert kind(x, None) == type(x).__name__


def test_a_cached_function_made_in_a_factory_is_collected() -> None:
    import gc
    import weakref

    cache = hoard.Cache(path=None)

    def make() -> Any:
        @hoard.cached(cache=cache)
        def fib(n: int) -> int:
            return n if n < 2 else fib(n - 1) + fib(n - 2)  # refers to itself: a cycle

        return fib

    fib = make()
    assert fib(20) == 6765
    gone = weakref.ref(fib)
    del fib
    gc.collect()
    assert gone() is None, "the wrapper, its native call path and the function were collected"


def test_only_small_arguments_are_remembered_with_their_keys(memory_cache: hoard.Cache) -> None:
    import sys

    @hoard.cached(cache=memory_cache)
    def length(text: str) -> int:
        return len(text)

    big = "x" * 10_000 + "unique-big"
    small = "small-" + str(id(big))
    before = sys.getrefcount(big), sys.getrefcount(small)
    assert length(big) == 10_010 and length(small) == len(small)
    assert sys.getrefcount(big) == before[0], "a large argument is not kept alive"
    assert sys.getrefcount(small) == before[1] + 1, "a small one is, with its key"
    assert length(big) == 10_010 and length(small) == len(small)


_PICKLED_CACHE = hoard.Cache(path=None)


@hoard.cached(cache=_PICKLED_CACHE)
def _module_level_square(x: int) -> int:
    """Squares x."""
    return x * x


def test_a_cached_function_looks_like_the_function_it_wraps(memory_cache: hoard.Cache) -> None:
    def original(model_id: str, n: int = 3, *, scale: float = 1.0) -> dict[str, Any]:
        """Scores a model."""
        return {"model": model_id, "n": n, "scale": scale}

    f = hoard.cached(cache=memory_cache)(original)
    assert inspect.signature(f) == inspect.signature(original)
    assert (f.__name__, f.__qualname__, f.__doc__, f.__module__) == (
        original.__name__,
        original.__qualname__,
        original.__doc__,
        original.__module__,
    )
    assert f.__wrapped__ is original
    assert f.__annotations__ == original.__annotations__
    assert not inspect.iscoroutinefunction(f)
    assert "original" in repr(f)
    assert f("m", scale=2.0) == {"model": "m", "n": 3, "scale": 2.0}
    assert f("m", 3, scale=2.0) == {"model": "m", "n": 3, "scale": 2.0}
    with pytest.raises(TypeError):
        f()  # the function's own missing-argument error, raised by calling it
    ref = weakref.ref(f)
    assert ref() is f


def test_a_cached_function_pickles_by_name_as_functions_do() -> None:
    # What multiprocessing does to hand a function to a worker.
    assert pickle.loads(pickle.dumps(_module_level_square)) is _module_level_square
    assert copy.deepcopy(_module_level_square) is _module_level_square
    assert _module_level_square(7) == 49


def test_cached_methods_bind_like_functions(memory_cache: hoard.Cache) -> None:
    runs: list[tuple[str, int]] = []

    class Model:
        def __init__(self, name: str) -> None:
            self.name = name

        @hoard.cached(cache=memory_cache)
        def predict(self, x: int) -> int:
            runs.append((self.name, x))
            return x + 1

        @staticmethod
        @hoard.cached(cache=memory_cache)
        def static(x: int) -> int:
            runs.append(("static", x))
            return x * 10

    m = Model("m")
    assert m.predict(1) == 2
    assert Model.predict(m, 1) == 2, "called through the class, self passed by hand"
    assert m.predict.__self__ is m
    assert m.static(2) == 20 and Model.static(2) == 20
    assert runs == [("m", 1), ("static", 2)]
    assert Model.__dict__["predict"].__get__(None, Model) is Model.__dict__["predict"]
