"""``hoard.SemanticCache``: answers found by the meaning of their question, and the
semantic form of ``@hoard.cached`` (``semantic=True``) for functions of a ``query``."""

from __future__ import annotations

import functools
import inspect
import os
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, cast

from . import _hoard
from ._hoard import _args_key

TTL = str | int | float | timedelta

# The model `semantic=True` loads when no default semantic cache was set.
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class SemanticCache(_hoard.SemanticCache):
    """A semantic cache over a :class:`hoard.Cache`: ``lookup(query)`` answers with what
    was stored for a question that means the same, ``store(query, value)`` keeps an
    answer. Entries live in the cache given (on Redis, every process shares them).

    ``model``: a model folder, a Hugging Face repo id found in the hub cache
    (``hub=``, default ``$HF_HUB_CACHE`` or ``~/.cache/huggingface/hub``; never
    downloaded), ``ollama:NAME`` or ``openai:NAME`` (``url=``, ``api_key=``). Local models
    need the package built with local models (see the README). ``threshold``: the lowest
    cosine similarity that is a hit; ``guards=False`` turns off the checks that keep
    near-identical questions with different answers apart (numbers, dates, negation,
    names, scope). ``verifier``: whether a cross-encoder reads each candidate above the
    threshold together with the question and refuses it when they need different answers
    ("add a user" / "remove a user"); ``None`` (the default) runs it with the local
    all-MiniLM-L6-v2, ``True`` requires it, ``False`` turns it off.

    Every method has an awaitable twin named with an ``a`` (``alookup``, ``astore``, ...).
    """

    async def alookup(
        self,
        query: str | Sequence[Mapping[str, str]],
        default: Any = None,
        *,
        threshold: float | None = None,
        filters: Mapping[str, str] | None = None,
        context: str | None = None,
    ) -> Any:
        """The awaitable form of :meth:`lookup`."""
        return await cast(
            Awaitable[Any],
            self.lookup(query, default, threshold=threshold, filters=filters, context=context, _awaitable=True),
        )

    async def alookup_detailed(
        self,
        query: str | Sequence[Mapping[str, str]],
        *,
        threshold: float | None = None,
        filters: Mapping[str, str] | None = None,
        context: str | None = None,
    ) -> dict[str, Any]:
        """The awaitable form of :meth:`lookup_detailed`."""
        return await cast(
            Awaitable[dict[str, Any]],
            self.lookup_detailed(query, threshold=threshold, filters=filters, context=context, _awaitable=True),
        )

    async def astore(
        self,
        query: str | Sequence[Mapping[str, str]],
        value: Any,
        *,
        ttl: TTL | None = None,
        filters: Mapping[str, str] | None = None,
        context: str | None = None,
    ) -> int:
        """The awaitable form of :meth:`store`."""
        return await cast(
            Awaitable[int],
            self.store(query, value, ttl=ttl, filters=filters, context=context, _awaitable=True),
        )

    async def afeedback(self, id: int, correct: bool, *, similarity: float | None = None) -> dict[str, Any] | None:
        """The awaitable form of :meth:`feedback`."""
        return await cast(
            Awaitable[dict[str, Any] | None],
            self.feedback(id, correct, similarity=similarity, _awaitable=True),
        )

    async def adelete(self, id: int) -> bool:
        """The awaitable form of :meth:`delete`."""
        return await cast(Awaitable[bool], self.delete(id, _awaitable=True))

    async def adelete_where(self, filters: Mapping[str, str]) -> int:
        """The awaitable form of :meth:`delete_where`."""
        return await cast(Awaitable[int], self.delete_where(filters, _awaitable=True))

    async def aclear(self) -> int:
        """The awaitable form of :meth:`clear`."""
        return await cast(Awaitable[int], self.clear(_awaitable=True))


_default: SemanticCache | None = None
_default_lock = threading.Lock()


def set_default_semantic_cache(semantic: SemanticCache) -> None:
    """Makes ``semantic`` the one ``@hoard.cached(semantic=True)`` functions use."""
    global _default
    if not isinstance(semantic, SemanticCache):
        raise TypeError(f"set_default_semantic_cache takes a hoard.SemanticCache, got {type(semantic).__name__}")
    with _default_lock:
        _default = semantic


def default_semantic_cache() -> SemanticCache:
    """The semantic cache of ``@hoard.cached(semantic=True)`` functions: the one given to
    :func:`set_default_semantic_cache`, else one made on first use over
    :func:`hoard.default_cache` with ``$HOARD_SEMANTIC_MODEL`` (default
    ``sentence-transformers/all-MiniLM-L6-v2`` from the hub cache)."""
    global _default
    if _default is not None:
        return _default
    from ._cached import default_cache

    with _default_lock:
        if _default is None:
            model = os.environ.get("HOARD_SEMANTIC_MODEL") or DEFAULT_MODEL
            _default = SemanticCache(default_cache(), model)
        return _default


def semantic_wrap(
    fn: Callable[..., Any],
    name: str,
    *,
    semantic: SemanticCache | Any | None,
    threshold: float | None,
    ttl: TTL | None,
    cache_none: bool,
    include_self: bool,
) -> Any:
    """``fn`` answered from ``semantic`` when an earlier call asked the same ``query`` in
    other words, with its other arguments equal. The other arguments (``self`` only
    with ``include_self``) choose a partition: a hit never crosses them."""
    signature = inspect.signature(fn)
    if "query" not in signature.parameters:
        raise TypeError(
            f"@hoard.cached(semantic=True) needs a `query` argument: {name}{signature} has none"
        )
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold: a similarity in [0, 1], got {threshold}")
    params = list(signature.parameters.values())
    skip_self = bool(params) and params[0].name in ("self", "cls") and not include_self
    takes_use_cache = "use_cache" in signature.parameters

    def target() -> SemanticCache:
        if semantic is None:
            return default_semantic_cache()
        if isinstance(semantic, SemanticCache):
            return semantic
        return cast(SemanticCache, semantic.get())  # made on first use

    def prepare(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[bool, str, dict[str, str], dict[str, Any]]:
        use_cache = bool(kwargs.get("use_cache", True))
        call_kwargs = kwargs if takes_use_cache else {k: v for k, v in kwargs.items() if k != "use_cache"}
        key_kwargs = {k: v for k, v in kwargs.items() if k != "use_cache"}
        bound = signature.bind(*args, **key_kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        query = arguments.pop("query")
        if not isinstance(query, str):
            raise TypeError(f"{name}: `query` must be a str for a semantic cache, got {type(query).__name__}")
        if skip_self and params:
            arguments.pop(params[0].name, None)
        arguments.pop("use_cache", None)
        # The function and its other arguments, hashed: the partition this call searches.
        filters = {"function": name, "arguments": _args_key(name, (), arguments)}
        return use_cache, query, filters, call_kwargs

    def should_store(value: Any) -> bool:
        return value is not None or cache_none

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            use_cache, query, filters, call_kwargs = prepare(args, kwargs)
            cache = target()
            replaced = None
            if use_cache:
                found = await cache.alookup(query, _MISS, threshold=threshold, filters=filters)
                if found is not _MISS:
                    return found
            else:
                replaced = (await cache.alookup_detailed(query, threshold=threshold, filters=filters))["hit"]
            value = await fn(*args, **call_kwargs)
            stored = None
            if should_store(value):
                stored = await cache.astore(query, value, ttl=ttl, filters=filters)
            # The same question stored again keeps its id: only a neighbour's entry goes.
            if replaced is not None and replaced["id"] != stored:
                await cache.adelete(replaced["id"])
            return value

        wrapper: Any = async_wrapper
    else:

        @functools.wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            use_cache, query, filters, call_kwargs = prepare(args, kwargs)
            cache = target()
            replaced = None
            if use_cache:
                found = cache.lookup(query, _MISS, threshold=threshold, filters=filters)
                if found is not _MISS:
                    return found
            else:
                # A refresh replaces the answer a lookup would have given.
                replaced = cache.lookup_detailed(query, threshold=threshold, filters=filters)["hit"]
            value = fn(*args, **call_kwargs)
            stored = None
            if should_store(value):
                stored = cache.store(query, value, ttl=ttl, filters=filters)
            # The same question stored again keeps its id: only a neighbour's entry goes.
            if replaced is not None and replaced["id"] != stored:
                cache.delete(replaced["id"])
            return value

        wrapper = sync_wrapper

    def cache_clear() -> int:
        return target().delete_where({"function": name})

    def refresh(*args: Any, **kwargs: Any) -> Any:
        kwargs["use_cache"] = False
        return wrapper(*args, **kwargs)

    wrapper.refresh = refresh
    wrapper.cache_clear = cache_clear
    wrapper.cache_name = name
    return wrapper


class _Miss:
    """What a lookup answers when nothing matched (``None`` may be a stored answer)."""

    def __repr__(self) -> str:
        return "<miss>"


_MISS: Any = _Miss()
