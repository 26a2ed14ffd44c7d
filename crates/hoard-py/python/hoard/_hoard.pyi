"""Type stubs of hoard's native module (``hoard._hoard``, built from ``crates/hoard-py/src``)."""

import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal

TTL = str | int | float | timedelta

__version__: str

class Cache:
    """A tiered cache: memory (L1) in front of a disk folder (the default), Redis or Redis
    Cluster (L2). Opens on first use, and again in a child after ``fork()``; the disk
    folder is created at once, so a path that cannot be one fails here. Each I/O
    method returns an awaitable instead with ``_awaitable=True`` (what the ``a`` twins of
    ``hoard.Cache`` pass).

    - ``path``: the disk folder (``None``: memory only). Ignored with a Redis L2.
    - ``memory``: the L1 budget (``"256MiB"`` or bytes). ``default_ttl``: TTL of writes that
      name none (``"1h"``, seconds or ``timedelta``).
    - ``redis``: ``"redis://host:6379/0"`` (or ``rediss://``); ``redis_cluster``: seed nodes;
      ``redis_sentinel``: the sentinels' URLs, with ``sentinel_master`` the name they
      monitor the master by (followed across failovers; the master is reached with the
      first URL's credentials and database); ``key_prefix``: prefix of every Redis key
      (``"hoard:"``, as the server's).
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
        redis_sentinel: list[str] | None = None,
        sentinel_master: str = "mymaster",
        key_prefix: str = "hoard:",
        dependencies: bool = False,
        serializer: Literal["msgpack", "pickle"] = "msgpack",
        secret: bytes | None = None,
        config: str | os.PathLike[str] | None = None,
    ) -> None: ...
    @property
    def default_ttl(self) -> float:
        """The TTL of writes that name none, in seconds."""
    def get(self, namespace: str, key: str, default: Any = None, *, _awaitable: bool = False) -> Any:
        """The value at ``namespace:key``, or ``default``."""
    def set(
        self,
        namespace: str,
        key: str,
        value: Any,
        *,
        ttl: TTL | None = None,
        tags: Iterable[str] | None = None,
        depends_on: Iterable[str] | None = None,
        _awaitable: bool = False,
    ) -> None:
        """Stores ``value``; ``tags`` for ``invalidate``; ``depends_on`` full keys whose
        deletion or overwrite removes this entry (needs ``dependencies=True``)."""
    def get_many(self, namespace: str, keys: list[str], *, _awaitable: bool = False) -> dict[str, Any]:
        """``{key: value or None}`` for every key."""
    def set_many(
        self,
        namespace: str,
        items: Mapping[str, Any],
        *,
        ttl: TTL | None = None,
        tags: Iterable[str] | None = None,
        _awaitable: bool = False,
    ) -> None:
        """Stores every item (one atomic batch on the disk tier)."""
    def delete(self, namespace: str, key: str, *, _awaitable: bool = False) -> bool:
        """Removes one entry; whether it was there."""
    def exists(self, namespace: str, key: str, *, _awaitable: bool = False) -> bool:
        """Whether a live entry is there."""
    def ttl(self, namespace: str, key: str, *, _awaitable: bool = False) -> float | None:
        """Seconds left, or ``None`` if there is no entry."""
    def delete_pattern(self, pattern: str, *, _awaitable: bool = False) -> int:
        """Removes the entries whose full key matches a Redis glob (``"model:metrics:*"``)."""
    def clear_namespace(self, namespace: str, *, _awaitable: bool = False) -> None:
        """Removes every entry of the namespace."""
    def clear(self, *, _awaitable: bool = False) -> int:
        """Removes every entry."""
    def invalidate(self, *, tags: Iterable[str], _awaitable: bool = False) -> int:
        """Removes the entries carrying any of ``tags``; how many went."""
    def flush(self, *, _awaitable: bool = False) -> None:
        """Writes buffered disk writes out."""
    def stats(self, *, _awaitable: bool = False) -> dict[str, Any]:
        """The ``GET /v1/stats`` body of ``hoard serve``: ``available``, ``stats`` (hits,
        misses, keys, memory, ...), ``config``, ``message``, ``namespaces``, ``tiers``."""
    def warm_with(
        self,
        namespace: str,
        loader: Callable[[str], Any],
        *,
        keys: int = 1000,
        within: TTL | None = None,
        refresh_every: TTL | None = None,
        record_every: TTL | None = None,
        ttl: TTL | None = None,
    ) -> None:
        """Keeps ``namespace`` warm with ``loader(key) -> value`` (what a miss would
        compute): the ``keys`` keys that were hottest before a restart (saved in L2 every
        ``record_every``, default 30 s, and at ``flush``) are brought into memory now in the
        background, within ``within`` (default 30 s), from L2 or the loader; popular keys are
        loaded again before they expire, checked every ``refresh_every`` (default 1 s). The
        loader runs on a background thread; its values get ``ttl`` (default: the cache's)."""
    def write_through(self, namespace: str, writer: Callable[[list[dict[str, Any]]], Any]) -> None:
        """Makes ``namespace`` write-through: every ``set``, ``set_many`` and ``delete`` of
        it calls ``writer(writes)`` first (each write a dict ``id``, ``key``, ``op`` (``"set"``
        or ``"delete"``), ``value``); if the writer raises, the call raises ``WriterError``
        and the cache keeps what it had."""
    def write_behind(
        self,
        namespace: str,
        writer: Callable[[list[dict[str, Any]]], Any],
        *,
        batch: int = 100,
        linger: TTL | None = None,
        retry_min: TTL | None = None,
        retry_max: TTL | None = None,
        poll: TTL | None = None,
    ) -> None:
        """Makes ``namespace`` write-behind: a write is acknowledged once it is in the
        cache and a durable queue (the disk folder's, or a Redis stream); a background
        thread hands the queue to ``writer`` in batches of up to ``batch``, oldest first,
        retrying a batch that raises after ``retry_min`` (0.1 s) doubling up to
        ``retry_max`` (30 s). A write handed over again (after a failure or a restart) has
        the same ``id``. Needs the disk tier or Redis."""
    def writer_stats(self) -> dict[str, dict[str, Any]]:
        """Per namespace with a writer: ``mode``, ``written``, ``batches``, ``failures``,
        ``consecutive_failures``, ``last_error``, ``pending``, ``unreadable``."""
    def write_behind_drained(self, namespace: str, timeout: float = 30.0) -> bool:
        """Waits up to ``timeout`` seconds until every queued write of ``namespace`` was
        accepted by its writer; whether it was."""
    def warm_started(self, namespace: str, timeout: float = 30.0) -> bool:
        """Waits up to ``timeout`` seconds for the start-up warm; whether it finished."""
    def warm_stats(self) -> dict[str, dict[str, Any]]:
        """Per warmed namespace: ``started``, ``warmed_from_l2``, ``loaded_at_start``,
        ``failed_at_start``, ``skipped_at_start``, ``start_ms``, ``refreshed_ahead``,
        ``refresh_failures``, ``tracked_keys``, ``saves``."""
    def refresh_ahead_now(self, namespace: str) -> int:
        """One refresh-ahead pass now; how many entries it loaded again."""
    def save_popularity(self) -> None:
        """Saves the warmed namespaces' hottest keys in L2 now."""
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
        _awaitable: bool = False,
    ) -> tuple[bool, Any]: ...

class Ticket:
    """The duty to compute one key."""

    def store(self, value: Any) -> bool: ...
    def astore(self, value: Any) -> Awaitable[bool]: ...
    def fail(self, error: BaseException) -> None: ...
    def abandon(self) -> None: ...

def _after_fork_in_child() -> None: ...
def _args_key(name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any] | None, skip: int = 0) -> str: ...
def _args_key_tree(name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any] | None, skip: int = 0) -> str: ...
def _set_default_cache(cache: Cache) -> None: ...
def _default_cache() -> Cache | None: ...

class Memo:
    """One synchronous cached function, called natively: what ``@hoard.cached`` returns
    for a ``def`` without ``key=`` or callable ``tags=`` (with the function's metadata
    copied on by ``functools.update_wrapper``)."""

    def __init__(
        self,
        function: Callable[..., Any],
        name: str,
        namespace: str,
        slow: Callable[[tuple[Any, ...], dict[str, Any]], Any],
        *,
        cache: Cache | None = None,
        skip: int = 0,
        ttl: TTL | None = None,
        tags: Iterable[str] | None = None,
        early_refresh: float | None = None,
        adaptive_ttl: float | None = None,
        adaptive_max: TTL | None = None,
        cache_none: bool = True,
        takes_use_cache: bool = False,
    ) -> None: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...
    def __get__(self, instance: Any, owner: type | None = None) -> Any: ...

_LOCAL_MODELS: bool

class SemanticCache:
    """A semantic cache over a ``Cache`` (see ``hoard.SemanticCache``). The model loads in
    the constructor (a wrong name or a missing folder raises ``hoard.ConfigError``), and
    again in a child after ``fork()``. Each method returns an awaitable instead with
    ``_awaitable=True`` (what the ``a`` twins pass)."""

    def __init__(
        self,
        cache: Cache,
        model: str,
        *,
        threshold: float = 0.85,
        namespace: str = "default",
        ttl: TTL | None = None,
        url: str | None = None,
        api_key: str | None = None,
        hub: str | os.PathLike[str] | None = None,
        guards: bool = True,
        verifier: bool | None = None,
    ) -> None: ...
    @property
    def model(self) -> str:
        """The embedder's name and dimension, such as ``all-MiniLM-L6-v2/384``."""
    @property
    def verifier(self) -> str | None:
        """The verifier's name (``all-MiniLM-L6-v2-cross``), or ``None`` when candidates
        are judged by similarity and guards alone."""
    @property
    def threshold(self) -> float:
        """The lowest similarity that is a hit, unless a lookup names its own."""
    @property
    def namespace(self) -> str:
        """The namespace entries live in."""
    def lookup(
        self,
        query: str | Sequence[Mapping[str, str]],
        default: Any = None,
        *,
        threshold: float | None = None,
        filters: Mapping[str, str] | None = None,
        context: str | None = None,
        _awaitable: bool = False,
    ) -> Any:
        """The stored answer to a question that means the same as ``query``, or ``default``.
        ``filters`` choose a partition (only entries stored with exactly these filters are
        searched); ``context`` is the conversation so far, for follow-up questions. ``query``
        may instead be a chat, a list of ``{"role", "content"}`` messages as chat APIs take
        them: its last user message is the question, the turns before it the context."""
    def lookup_detailed(
        self,
        query: str | Sequence[Mapping[str, str]],
        *,
        threshold: float | None = None,
        filters: Mapping[str, str] | None = None,
        context: str | None = None,
        _awaitable: bool = False,
    ) -> dict[str, Any]:
        """``{"hit": ..., "near_miss": ...}``: the hit (``id``, ``similarity``,
        ``matched_query``, ``value``) and the best candidate refused, with its ``verdict``."""
    def store(
        self,
        query: str | Sequence[Mapping[str, str]],
        value: Any,
        *,
        ttl: TTL | None = None,
        filters: Mapping[str, str] | None = None,
        context: str | None = None,
        _awaitable: bool = False,
    ) -> int:
        """Stores ``value`` (a JSON value) as the answer to ``query``; returns its id."""
    def delete(self, id: int, *, _awaitable: bool = False) -> bool:
        """Deletes the entry with this id; whether it existed."""
    def feedback(
        self, id: int, correct: bool, *, similarity: float | None = None, _awaitable: bool = False
    ) -> dict[str, Any] | None:
        """Whether a hit from entry ``id`` was right. Judged wrong, the entry is served from
        then on only to queries closer than that hit (``similarity``, as the lookup returned
        it; by default the last hit this process served from it), in every process sharing
        the cache. ``{"min_similarity", "confirmed", "refuted"}``, or None if no such entry."""
    def delete_where(self, filters: Mapping[str, str], *, _awaitable: bool = False) -> int:
        """Deletes every entry stored with all of these filters; how many went."""
    def clear(self, *, _awaitable: bool = False) -> int:
        """Deletes every entry of the namespace, for every process sharing the cache."""

class Reactor:
    """Drives hoard's awaitables on one event loop's thread (``hoard._aio.reactor_for``)."""

    def __init__(self) -> None: ...
    def fileno(self) -> int: ...
    def run(self) -> None: ...
    def __len__(self) -> int: ...
