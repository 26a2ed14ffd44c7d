"""Type stubs of hoard's native module (``hoard._hoard``, built from ``crates/hoard-py/src``)."""

import os
from collections.abc import Awaitable, Iterable, Mapping
from datetime import timedelta
from typing import Any, Literal, TypeVar

TTL = str | int | float | timedelta
T = TypeVar("T")

__version__: str

class Cache:
    """A tiered cache: memory (L1) in front of a disk folder (the default), Redis or Redis
    Cluster (L2). Opens on first use, and again in a child after ``fork()``.

    - ``path``: the disk folder (``None``: memory only). Ignored with ``redis``/``redis_cluster``.
    - ``memory``: the L1 budget (``"256MiB"`` or bytes). ``default_ttl``: TTL of writes that
      name none (``"1h"``, seconds or ``timedelta``).
    - ``redis``: ``"redis://host:6379/0"`` (or ``rediss://``); ``redis_cluster``: seed nodes;
      ``key_prefix``: prefix of every Redis key (``"hoard:"``, as the server's).
    - ``dependencies``: track ``depends_on`` (off by default; costs a lookup per write).
    - ``serializer``: ``"msgpack"`` (JSON-compatible values and bytes, shared with
      ``hoard serve`` and Rust) or ``"pickle"`` with a ``secret`` of 16+ bytes (values
      signed; unsigned or tampered ones read as misses).
    - ``config``: the path of a ``hoard.toml`` (see ``Cache.from_config``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = ".hoard",
        *,
        memory: str | int | None = None,
        default_ttl: TTL | None = None,
        redis: str | None = None,
        redis_cluster: list[str] | None = None,
        key_prefix: str = "hoard:",
        dependencies: bool = False,
        serializer: Literal["msgpack", "pickle"] = "msgpack",
        secret: bytes | None = None,
        config: str | os.PathLike[str] | None = None,
    ) -> None: ...
    @property
    def default_ttl(self) -> float:
        """The TTL of writes that name none, in seconds."""
    def get(self, namespace: str, key: str, default: Any = None) -> Any:
        """The value at ``namespace:key``, or ``default``."""
    def aget(self, namespace: str, key: str, default: Any = None) -> Awaitable[Any]: ...
    def set(
        self,
        namespace: str,
        key: str,
        value: Any,
        *,
        ttl: TTL | None = None,
        tags: Iterable[str] | None = None,
        depends_on: Iterable[str] | None = None,
    ) -> None:
        """Stores ``value``; ``tags`` for ``invalidate``; ``depends_on`` full keys whose
        deletion or overwrite removes this entry (needs ``dependencies=True``)."""
    def aset(
        self,
        namespace: str,
        key: str,
        value: Any,
        *,
        ttl: TTL | None = None,
        tags: Iterable[str] | None = None,
        depends_on: Iterable[str] | None = None,
    ) -> Awaitable[None]: ...
    def get_many(self, namespace: str, keys: list[str]) -> dict[str, Any]:
        """``{key: value or None}`` for every key."""
    def aget_many(self, namespace: str, keys: list[str]) -> Awaitable[dict[str, Any]]: ...
    def set_many(
        self, namespace: str, items: Mapping[str, Any], *, ttl: TTL | None = None, tags: Iterable[str] | None = None
    ) -> None:
        """Stores every item (one atomic batch on the disk tier)."""
    def aset_many(
        self, namespace: str, items: Mapping[str, Any], *, ttl: TTL | None = None, tags: Iterable[str] | None = None
    ) -> Awaitable[None]: ...
    def delete(self, namespace: str, key: str) -> bool:
        """Removes one entry; whether it was there."""
    def adelete(self, namespace: str, key: str) -> Awaitable[bool]: ...
    def exists(self, namespace: str, key: str) -> bool: ...
    def aexists(self, namespace: str, key: str) -> Awaitable[bool]: ...
    def ttl(self, namespace: str, key: str) -> float | None:
        """Seconds left, or ``None`` if there is no entry."""
    def attl(self, namespace: str, key: str) -> Awaitable[float | None]: ...
    def delete_pattern(self, pattern: str) -> int:
        """Removes the entries whose full key matches a Redis glob (``"model:metrics:*"``)."""
    def adelete_pattern(self, pattern: str) -> Awaitable[int]: ...
    def clear_namespace(self, namespace: str) -> None: ...
    def aclear_namespace(self, namespace: str) -> Awaitable[None]: ...
    def clear(self) -> int:
        """Removes every entry."""
    def aclear(self) -> Awaitable[int]: ...
    def invalidate(self, *, tags: Iterable[str]) -> int:
        """Removes the entries carrying any of ``tags``; how many went."""
    def ainvalidate(self, *, tags: Iterable[str]) -> Awaitable[int]: ...
    def flush(self) -> None:
        """Writes buffered disk writes out."""
    def aflush(self) -> Awaitable[None]: ...
    def stats(self) -> dict[str, Any]:
        """Hits, misses, keys, memory, per namespace and tier: the ``/v1/stats`` shape."""
    def astats(self) -> Awaitable[dict[str, Any]]: ...
    def _begin(
        self,
        namespace: str,
        key: str,
        *,
        ttl: TTL | None = None,
        tags: Iterable[str] | None = None,
        early_refresh: float | None = None,
        adaptive_ttl: float | None = None,
        adaptive_max: TTL | None = None,
        use_cache: bool = True,
    ) -> tuple[bool, Any]: ...
    def _abegin(
        self,
        namespace: str,
        key: str,
        *,
        ttl: TTL | None = None,
        tags: Iterable[str] | None = None,
        early_refresh: float | None = None,
        adaptive_ttl: float | None = None,
        adaptive_max: TTL | None = None,
        use_cache: bool = True,
    ) -> Awaitable[tuple[bool, Any]]: ...

class Ticket:
    """The duty to compute one key."""

    def store(self, value: Any) -> bool: ...
    def astore(self, value: Any) -> Awaitable[bool]: ...
    def fail(self, error: BaseException) -> None: ...
    def abandon(self) -> None: ...

def _after_fork_in_child() -> None: ...
def _args_key(name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any] | None, skip: int = 0) -> str: ...
