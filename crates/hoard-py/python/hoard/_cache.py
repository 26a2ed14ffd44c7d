"""``hoard.Cache``: the native cache plus get-or-compute, which calls back into Python."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import Literal, TypeVar

from . import _hoard

T = TypeVar("T")
TTL = str | int | float | timedelta


def _beta(early_refresh: bool | float | None) -> float | None:
    if early_refresh is None or early_refresh is False:
        return None
    if early_refresh is True:
        return 1.0
    return float(early_refresh)


class Cache(_hoard.Cache):
    """A tiered cache: memory (L1) in front of a disk folder (the default), Redis or Redis
    Cluster (L2). See ``hoard._hoard.Cache`` for the constructor's arguments."""

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
        afresh and stores the new value for everyone."""
        found, got = self._begin(
            namespace,
            key,
            ttl=ttl,
            tags=tags,
            early_refresh=_beta(early_refresh),
            adaptive_ttl=adaptive_ttl,
            adaptive_max=adaptive_max,
            use_cache=use_cache,
        )
        if found:
            return got  # type: ignore[no-any-return]
        try:
            value = compute()
        except BaseException as error:
            got.fail(error)
            raise
        if value is None and not cache_none:
            got.abandon()
            return value
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
        found, got = await self._abegin(
            namespace,
            key,
            ttl=ttl,
            tags=tags,
            early_refresh=_beta(early_refresh),
            adaptive_ttl=adaptive_ttl,
            adaptive_max=adaptive_max,
            use_cache=use_cache,
        )
        if found:
            return got  # type: ignore[no-any-return]
        try:
            value = await compute()
        except BaseException as error:
            got.fail(error)
            raise
        if value is None and not cache_none:
            got.abandon()
            return value
        await got.astore(value)
        return value


