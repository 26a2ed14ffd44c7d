"""``@hoard.cached`` and ``@hoard.invalidates``: the caching and invalidation decorators
Python backends hand-roll on Redis, on hoard's get-or-compute.

An entry of a cached function lives at ``{namespace}:{name}:{hash}`` (namespace ``cached``
by default), the hash taken of the arguments (``hoard._hoard._args_key``), so the same call
finds the same entry in every process that shares the cache.
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
import weakref
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, ParamSpec, Protocol, TypeVar, overload

from ._cache import Cache, _beta
from ._semantic import DEFAULT_MODEL, SemanticCache, semantic_wrap
from ._hoard import Memo, _args_key, _default_cache, _set_default_cache

P = ParamSpec("P")
R = TypeVar("R")
TTL = str | int | float | timedelta

# The default cache itself lives in the native module, where the call path of cached
# functions reads it; this lock only keeps two threads from both making one.
_default_lock = threading.Lock()
# Every live decorated function by cache name, for clear_cached(name). Weak: an app
# factory that decorates functions per app does not keep every old app alive.
_registry: dict[str, weakref.WeakSet[_Cached]] = {}


def set_default_cache(cache: Cache) -> None:
    """Makes ``cache`` the one ``@hoard.cached`` functions use when they name none."""
    if not isinstance(cache, Cache):
        raise TypeError(f"set_default_cache takes a hoard.Cache, got {type(cache).__name__}")
    with _default_lock:
        _set_default_cache(cache)


def default_cache() -> Cache:
    """The cache of ``@hoard.cached`` functions that name none: the one given to
    :func:`set_default_cache`, else a memory-only cache made on first use."""
    found = _default_cache()
    if found is not None:
        return found  # type: ignore[return-value]
    with _default_lock:
        found = _default_cache()
        if found is None:
            found = Cache(path=None)
            _set_default_cache(found)
        return found  # type: ignore[return-value]


def _escape(text: str) -> str:
    """``text`` as a glob that matches only itself."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class CachedFunction(Protocol[P, R]):
    """What ``@hoard.cached`` returns: the function itself (same signature, same
    ``async``-ness, so FastAPI and ``inspect`` see the original), with these added."""

    __wrapped__: Callable[P, R]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...

    def refresh(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Computes afresh, stores the new value for everyone, and returns it (the typed
        spelling of ``f(..., use_cache=False)``)."""
        ...

    def cache_clear(self) -> int:
        """Removes every stored result of this function; returns how many went."""
        ...

    def key(self, *args: Any, **kwargs: Any) -> str:
        """The key (without the namespace) a call with these arguments uses."""
        ...

    def __get__(self, instance: Any, owner: type | None = None) -> Any: ...


class _Cached:
    """The state behind one cached function, and its slow path."""

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str,
        *,
        cache: Cache | None,
        namespace: str,
        ttl: TTL | None,
        key: str | Callable[..., str] | None,
        tags: Iterable[str] | Callable[..., Iterable[str]] | None,
        early_refresh: bool | float,
        adaptive_ttl: float | None,
        adaptive_max: TTL | None,
        cache_none: bool,
        include_self: bool,
    ) -> None:
        self.fn = fn
        self.name = name
        self.namespace = namespace
        self.given_cache = cache
        self.ttl = ttl
        self.key_spec = key
        # A one-shot iterable (a generator) is read once, here; a str is left for the
        # options check to refuse rather than split into letters.
        self.tags = tags if tags is None or callable(tags) or isinstance(tags, str) else list(tags)
        self.beta = _beta(early_refresh)
        self.adaptive = adaptive_ttl
        self.adaptive_max = adaptive_max
        self.cache_none = cache_none
        self.signature = inspect.signature(fn)
        params = list(self.signature.parameters.values())
        self.skip = 1 if (params and params[0].name in ("self", "cls") and not include_self) else 0
        # A function that declares `use_cache` itself (a FastAPI query parameter) gets it
        # passed on; it never takes part in the key.
        self.takes_use_cache = "use_cache" in self.signature.parameters

    @property
    def cache(self) -> Cache:
        return self.given_cache if self.given_cache is not None else default_cache()

    def key(self, *args: Any, **kwargs: Any) -> str:
        kwargs.pop("use_cache", None)
        return self.make_key(args, kwargs)

    def make_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        if self.key_spec is None:
            return _args_key(self.name, args, kwargs, self.skip)
        if callable(self.key_spec):
            return f"{self.name}:{self.key_spec(*args, **kwargs)}"
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return f"{self.name}:{self.key_spec.format(**bound.arguments)}"

    def tags_for(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterable[str] | None:
        if callable(self.tags):
            return list(self.tags(*args, **kwargs))
        return self.tags

    def split(self, kwargs: dict[str, Any]) -> tuple[bool, dict[str, Any], dict[str, Any]]:
        """``(use_cache, kwargs for the key, kwargs for the call)``."""
        if "use_cache" not in kwargs:
            return True, kwargs, kwargs
        use_cache = bool(kwargs["use_cache"])
        rest = {k: v for k, v in kwargs.items() if k != "use_cache"}
        return use_cache, rest, (kwargs if self.takes_use_cache else rest)

    def prepare(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, Callable[[], Any], dict[str, Any]]:
        """The key of a call, the call itself, and the get-or-compute options."""
        use_cache, key_kwargs, call_kwargs = self.split(kwargs)
        options = {
            "ttl": self.ttl,
            "tags": self.tags_for(args, key_kwargs),
            "early_refresh": self.beta,
            "adaptive_ttl": self.adaptive,
            "adaptive_max": self.adaptive_max,
            "cache_none": self.cache_none,
            "use_cache": use_cache,
        }
        return self.make_key(args, key_kwargs), lambda: self.fn(*args, **call_kwargs), options

    def call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        key, compute, options = self.prepare(args, kwargs)
        return self.cache.get_or_compute(self.namespace, key, compute, **options)

    async def acall(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        key, compute, options = self.prepare(args, kwargs)
        return await self.cache.aget_or_compute(self.namespace, key, compute, **options)

    def cache_clear(self) -> int:
        return self.cache.delete_pattern(f"{_escape(self.namespace)}:{_escape(self.name)}:*")


    def native(self) -> Memo | None:
        """The native call path of a synchronous function whose keys and tags need no
        Python (no ``key=``, no callable ``tags=``); ``None`` otherwise."""
        if inspect.iscoroutinefunction(self.fn) or self.key_spec is not None or callable(self.tags):
            return None
        return Memo(
            self.fn,
            self.name,
            self.namespace,
            self.call,
            cache=self.given_cache,
            skip=self.skip,
            ttl=self.ttl,
            tags=self.tags,
            early_refresh=self.beta,
            adaptive_ttl=self.adaptive,
            adaptive_max=self.adaptive_max,
            cache_none=self.cache_none,
            takes_use_cache=self.takes_use_cache,
        )


def _wrap(core: _Cached) -> Any:
    """The function users call: a def or async def with the original's metadata. Each call
    looks its key up once, so stats count one hit or one miss per call."""
    native = core.native()
    if inspect.iscoroutinefunction(core.fn):

        @functools.wraps(core.fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            return await core.acall(args, kwargs)

        wrapper: Any = async_wrapper
    elif native is not None:
        # The whole call is one native object: hash, look up, compute and store on a miss,
        # with no Python frame in between. It carries the function's metadata as a
        # functools.wraps wrapper does, binds as a method and pickles by name.
        wrapper = functools.update_wrapper(native, core.fn)
    else:

        @functools.wraps(core.fn)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            return core.call(args, kwargs)

        wrapper = sync_wrapper

    def refresh(*args: Any, **kwargs: Any) -> Any:
        kwargs["use_cache"] = False
        return wrapper(*args, **kwargs)

    wrapper.refresh = refresh
    wrapper.cache_clear = core.cache_clear
    wrapper.key = core.key
    wrapper.cache_name = core.name
    _registry.setdefault(core.name, weakref.WeakSet()).add(core)
    return wrapper


@overload
def cached(fn: Callable[P, R], /) -> CachedFunction[P, R]: ...


@overload
def cached(
    name: str | None = None,
    /,
    *,
    ttl: TTL | None = None,
    cache: Cache | None = None,
    key: str | Callable[..., str] | None = None,
    tags: Iterable[str] | Callable[..., Iterable[str]] | None = None,
    early_refresh: bool | float = False,
    adaptive_ttl: float | None = None,
    adaptive_max: TTL | None = None,
    cache_none: bool = True,
    include_self: bool = False,
    namespace: str = "cached",
    semantic: bool | SemanticCache = False,
    threshold: float | None = None,
) -> Callable[[Callable[P, R]], CachedFunction[P, R]]: ...


def cached(
    name: Any = None,
    /,
    *,
    ttl: TTL | None = None,
    cache: Cache | None = None,
    key: str | Callable[..., str] | None = None,
    tags: Iterable[str] | Callable[..., Iterable[str]] | None = None,
    early_refresh: bool | float = False,
    adaptive_ttl: float | None = None,
    adaptive_max: TTL | None = None,
    cache_none: bool = True,
    include_self: bool = False,
    namespace: str = "cached",
    semantic: bool | SemanticCache = False,
    threshold: float | None = None,
) -> Any:
    """Caches a function's results (``def`` or ``async def``, functions or methods).

    ``@hoard.cached`` names the entries ``f"{module}.{qualname}"``;
    ``@hoard.cached("user_profile", ttl="1h")`` names them. Options: ``ttl`` (``"1h"``,
    seconds, ``timedelta``), ``cache`` (default: :func:`default_cache`), ``key`` (a format
    string over the arguments such as ``"{user_id}"``, or a function of them; default: a
    hash of every argument but ``self``), ``tags`` (a list, or a function of the
    arguments), ``early_refresh`` (XFetch: hits recompute early as expiry nears),
    ``adaptive_ttl`` (popular entries live longer: the TTL grows by this fraction of itself
    per hit, such as ``0.1``),
    ``cache_none`` (store ``None`` results, default ``True``), ``include_self``.

    Each call accepts ``use_cache=False``: compute afresh and store the result. A cold key
    is computed once however many threads, tasks or processes (on Redis) ask for it;
    exceptions are not cached and reach every caller that waited.

    ``semantic=True`` (or a :class:`hoard.SemanticCache`) caches a function of a ``query``
    by meaning: a call whose question means the same as an earlier one's (similarity at
    least ``threshold``), with its other arguments equal, gets the earlier answer. Answers
    must be JSON values; there is no single-flight for semantic lookups.
    """
    if semantic is not False:
        clashing = [
            option
            for option, given_value in (("key", key), ("tags", tags), ("adaptive_ttl", adaptive_ttl))
            if given_value is not None
        ]
        if early_refresh:
            clashing.append("early_refresh")
        if clashing:
            raise TypeError(f"@hoard.cached(semantic=...) does not take {', '.join(clashing)}")
    elif threshold is not None:
        raise TypeError("threshold= is for semantic caching: add semantic=True")

    def decorate(fn: Callable[P, R], given: str | None) -> CachedFunction[P, R]:
        name_of = given or f"{fn.__module__}.{fn.__qualname__}"
        if semantic is not False:
            return semantic_wrap(  # type: ignore[no-any-return]
                fn,
                name_of,
                semantic=_semantic_for(semantic, cache),
                threshold=threshold,
                ttl=ttl,
                cache_none=cache_none,
                include_self=include_self,
            )
        core = _Cached(
            fn,
            name_of,
            cache=cache,
            namespace=namespace,
            ttl=ttl,
            key=key,
            tags=tags,
            early_refresh=early_refresh,
            adaptive_ttl=adaptive_ttl,
            adaptive_max=adaptive_max,
            cache_none=cache_none,
            include_self=include_self,
        )
        return _wrap(core)  # type: ignore[no-any-return]

    if callable(name):
        return decorate(name, None)
    return lambda fn: decorate(fn, name)


class _LazySemantic:
    """``semantic=True`` with a ``cache=``: a semantic cache over that cache, its model
    loaded on the first call rather than at import."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self.made: SemanticCache | None = None
        self.lock = threading.Lock()

    def get(self) -> SemanticCache:
        with self.lock:
            if self.made is None:
                model = os.environ.get("HOARD_SEMANTIC_MODEL") or DEFAULT_MODEL
                self.made = SemanticCache(self.cache, model)
            return self.made


# One lazily made semantic cache per Cache, shared by the functions decorated with it: each
# would otherwise load its own model (tens of MB, and a thread per core). Caches are
# application-lifetime objects, so holding them here costs nothing in practice.
_lazy_semantic: dict[Cache, _LazySemantic] = {}
_lazy_semantic_lock = threading.Lock()


def _semantic_for(semantic: bool | SemanticCache, cache: Cache | None) -> SemanticCache | _LazySemantic | None:
    if isinstance(semantic, SemanticCache):
        return semantic
    if semantic is not True:
        raise TypeError(f"semantic= takes True or a hoard.SemanticCache, got {semantic!r}")
    if cache is None:
        return None
    with _lazy_semantic_lock:
        return _lazy_semantic.setdefault(cache, _LazySemantic(cache))


def clear_cached(name: str, *, cache: Cache | None = None) -> int:
    """Removes every stored result of the cached functions named ``name``, in ``cache``
    only if one is given; returns how many went."""
    functions = [f for f in _registry.get(name, []) if cache is None or f.given_cache is cache]
    if not functions:
        target = cache if cache is not None else default_cache()
        return target.delete_pattern(f"cached:{_escape(name)}:*")
    return sum(f.cache_clear() for f in functions)


def invalidates(
    *,
    patterns: Iterable[str] | Callable[..., Iterable[str]] = (),
    tags: Iterable[str] | Callable[..., Iterable[str]] = (),
    cache: Cache | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """After the decorated function returns (not when it raises), deletes the keys
    matching ``patterns`` (``"model:metrics:*"``) and the entries carrying ``tags``: the
    ``@invalidate_cache`` of many FastAPI apps. Each may be a list or a function of the
    call's arguments (``tags=lambda model_id, **_: [f"model:{model_id}"]``). Works on
    ``def`` and ``async def``."""

    def targets(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[list[str], list[str]]:
        return (
            list(patterns(*args, **kwargs) if callable(patterns) else patterns),
            list(tags(*args, **kwargs) if callable(tags) else tags),
        )

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                result = await fn(*args, **kwargs)
                target = cache if cache is not None else default_cache()
                drop_patterns, drop_tags = targets(args, kwargs)
                for pattern in drop_patterns:
                    await target.adelete_pattern(pattern)
                if drop_tags:
                    await target.ainvalidate(tags=drop_tags)
                return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            result = fn(*args, **kwargs)
            target = cache if cache is not None else default_cache()
            drop_patterns, drop_tags = targets(args, kwargs)
            for pattern in drop_patterns:
                target.delete_pattern(pattern)
            if drop_tags:
                target.invalidate(tags=drop_tags)
            return result

        return wrapper

    return decorate
