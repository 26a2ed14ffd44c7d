"""``hoard.Cache``: the native cache, its awaitable twins, and get-or-compute, which calls
back into Python."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any, Literal, TypeVar, cast

from . import _hoard

T = TypeVar("T")
TTL = str | int | float | timedelta


def _compute_args(
    ttl: TTL | None,
    tags: Iterable[str] | None,
    early_refresh: bool | float | None,
    adaptive_ttl: float | None,
    adaptive_max: TTL | None,
    use_cache: bool,
) -> dict[str, Any]:
    """The keyword arguments of ``Cache._begin`` for get-or-compute's options."""
    return {
        "ttl": ttl,
        "tags": tags,
        "early_refresh": _beta(early_refresh),
        "adaptive_ttl": adaptive_ttl,
        "adaptive_max": adaptive_max,
        "use_cache": use_cache,
    }


def _beta(early_refresh: bool | float | None) -> float | None:
    """``early_refresh`` as XFetch's factor: ``True`` is the paper's 1.0."""
    if early_refresh is None or early_refresh is False:
        return None
    if early_refresh is True:
        return 1.0
    return float(early_refresh)


class Cache(_hoard.Cache):
    """A tiered cache: memory (L1) in front of a disk folder (the default), Redis or Redis
    Cluster (L2). The constructor's arguments are documented on ``hoard._hoard.Cache``.

    Every I/O method has an awaitable twin named with an ``a`` (``aget``, ``aset``, ...)
    for asyncio code: it answers at once for a memory hit and otherwise finishes on
    hoard's own runtime, never blocking the event loop.
    """

    @classmethod
    def from_config(
        cls,
        path: str | os.PathLike[str],
        *,
        serializer: Literal["msgpack", "pickle"] = "msgpack",
        secret: bytes | None = None,
    ) -> Cache:
        """The cache that ``hoard.toml`` (the server's config file) describes; ``HOARD_*``
        variables override it, as for ``hoard serve``."""
        return cls(config=os.fspath(path), serializer=serializer, secret=secret)

    # ----- awaitable twins -------------------------------------------------------------

    def aget(self, namespace: str, key: str, default: Any = None) -> Awaitable[Any]:
        """Awaitable ``get``."""
        return cast("Awaitable[Any]", self.get(namespace, key, default, _awaitable=True))

    def aset(
        self,
        namespace: str,
        key: str,
        value: Any,
        *,
        ttl: TTL | None = None,
        tags: Iterable[str] | None = None,
        depends_on: Iterable[str] | None = None,
    ) -> Awaitable[None]:
        """Awaitable ``set``."""
        return cast("Awaitable[None]", self.set(namespace, key, value, ttl=ttl, tags=tags, depends_on=depends_on, _awaitable=True))

    def aget_many(self, namespace: str, keys: list[str]) -> Awaitable[dict[str, Any]]:
        """Awaitable ``get_many``."""
        return cast("Awaitable[dict[str, Any]]", self.get_many(namespace, keys, _awaitable=True))

    def aset_many(
        self, namespace: str, items: Mapping[str, Any], *, ttl: TTL | None = None, tags: Iterable[str] | None = None
    ) -> Awaitable[None]:
        """Awaitable ``set_many``."""
        return cast("Awaitable[None]", self.set_many(namespace, items, ttl=ttl, tags=tags, _awaitable=True))

    def adelete(self, namespace: str, key: str) -> Awaitable[bool]:
        """Awaitable ``delete``."""
        return cast("Awaitable[bool]", self.delete(namespace, key, _awaitable=True))

    def aexists(self, namespace: str, key: str) -> Awaitable[bool]:
        """Awaitable ``exists``."""
        return cast("Awaitable[bool]", self.exists(namespace, key, _awaitable=True))

    def attl(self, namespace: str, key: str) -> Awaitable[float | None]:
        """Awaitable ``ttl``."""
        return cast("Awaitable[float | None]", self.ttl(namespace, key, _awaitable=True))

    def adelete_pattern(self, pattern: str) -> Awaitable[int]:
        """Awaitable ``delete_pattern``."""
        return cast("Awaitable[int]", self.delete_pattern(pattern, _awaitable=True))

    def aclear_namespace(self, namespace: str) -> Awaitable[None]:
        """Awaitable ``clear_namespace``."""
        return cast("Awaitable[None]", self.clear_namespace(namespace, _awaitable=True))

    def aclear(self) -> Awaitable[int]:
        """Awaitable ``clear``."""
        return cast("Awaitable[int]", self.clear(_awaitable=True))

    def ainvalidate(self, *, tags: Iterable[str]) -> Awaitable[int]:
        """Awaitable ``invalidate``."""
        return cast("Awaitable[int]", self.invalidate(tags=tags, _awaitable=True))

    def aflush(self) -> Awaitable[None]:
        """Awaitable ``flush``."""
        return cast("Awaitable[None]", self.flush(_awaitable=True))

    def astats(self) -> Awaitable[dict[str, Any]]:
        """Awaitable ``stats``."""
        return cast("Awaitable[dict[str, Any]]", self.stats(_awaitable=True))

    # ----- get-or-compute --------------------------------------------------------------

    def get_or_compute(
        self,
        namespace: str,
        key: str,
        compute: Callable[[], T],
        *,
        ttl: TTL | None = None,
        tags: Iterable[str] | None = None,
        early_refresh: bool | float | None = None,
        adaptive_ttl: float | None = None,
        adaptive_max: TTL | None = None,
        cache_none: bool = True,
        use_cache: bool = True,
    ) -> T:
        """The value at ``key``, computed by ``compute()`` and stored on a miss.

        Concurrent callers of a cold key (threads here, processes on one Redis) compute it
        once; the others get the stored value. An exception from ``compute`` is not
        cached and reaches every caller that waited for it. ``use_cache=False`` computes
        afresh and stores the new value for everyone. ``early_refresh`` recomputes a hit
        early as its expiry nears (XFetch; ``True`` or a factor), ``adaptive_ttl`` grows
        the TTL of popular entries by this fraction per hit, up to ``adaptive_max``
        (default 24 h); ``cache_none=False`` does not store ``None``."""
        args = _compute_args(ttl, tags, early_refresh, adaptive_ttl, adaptive_max, use_cache)
        found, got = self._begin(namespace, key, **args)
        if found:
            return got  # type: ignore[no-any-return]
        try:
            value = compute()
        except BaseException as error:
            got.fail(error)
            raise
        if value is None and not cache_none:
            got.abandon()
        else:
            got.store(value)
        return value

    async def aget_or_compute(
        self,
        namespace: str,
        key: str,
        compute: Callable[[], Awaitable[T]],
        *,
        ttl: TTL | None = None,
        tags: Iterable[str] | None = None,
        early_refresh: bool | float | None = None,
        adaptive_ttl: float | None = None,
        adaptive_max: TTL | None = None,
        cache_none: bool = True,
        use_cache: bool = True,
    ) -> T:
        """``get_or_compute`` for asyncio: ``compute`` returns an awaitable. Concurrent
        tasks, threads and processes (on Redis) compute a cold key once."""
        args = _compute_args(ttl, tags, early_refresh, adaptive_ttl, adaptive_max, use_cache)
        found, got = await cast("Awaitable[tuple[bool, Any]]", self._begin(namespace, key, **args, _awaitable=True))
        if found:
            return got  # type: ignore[no-any-return]
        try:
            value = await compute()
        except BaseException as error:
            got.fail(error)
            raise
        if value is None and not cache_none:
            got.abandon()
        else:
            await got.astore(value)
        return value
