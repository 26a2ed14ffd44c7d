"""A per-process model cache: load a heavy object (a model) once per process.

hoard's ``Cache`` stores values as bytes, shared between processes; a loaded model is not
a value (it is gigabytes of tensors, file handles, maybe a GPU context) and must stay an
object in the process that loaded it. ``ModelPool`` keeps such objects: each loads at most
once per process however many threads or asyncio tasks ask for it at the same time, a
failed load raises :class:`ModelLoadError` to every caller that waited and is retried by the
next one, and ``warm()`` loads a list of names at start-up (a ``PRELOAD_MODELS``
setting).

Where the weights come from is the model-weight cache on disk (``hoard models``: one
``HF_HOME``/``TORCH_HOME`` for every library); ``ModelPool`` only keeps what the loader
built from them in memory. After ``fork()`` a child sees the parent's loaded objects
(copy-on-write) and gets fresh locks; load models after forking when they hold threads
or device handles (CUDA contexts do not survive a fork).
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import weakref
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, ParamSpec, TypeVar

from ._errors import HoardError

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
P = ParamSpec("P")

_pools: weakref.WeakSet[ModelPool[Any, Any]] = weakref.WeakSet()


class ModelLoadError(HoardError):
    """A model failed to load; ``__cause__`` is the loader's exception."""

    def __init__(self, name: object, cause: BaseException) -> None:
        super().__init__(f"loading {name!r} failed: {type(cause).__name__}: {cause}")
        self.name = name


class _Slot:
    __slots__ = ("lock", "value", "loaded")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.value: Any = None
        self.loaded = False


class ModelPool(Generic[K, V]):
    """Objects built by ``loader(name)``, each loaded once per process.

    >>> pool = ModelPool(lambda name: f"model {name}", preload=["emotion-small"])
    >>> pool.warm()
    {}
    >>> pool.get("emotion-small")
    'model emotion-small'
    """

    def __init__(self, loader: Callable[[K], V], *, preload: Iterable[K] = ()) -> None:
        self._loader = loader
        self._preload = list(preload)
        self._slots: dict[K, _Slot] = {}
        self._table_lock = threading.Lock()
        self._loads = 0
        # Loads in flight for asyncio callers, by (event loop, name): one thread each.
        self._loading: dict[tuple[int, K], asyncio.Task[V]] = {}
        _pools.add(self)

    def _slot(self, name: K) -> _Slot:
        slot = self._slots.get(name)
        if slot is None:
            with self._table_lock:
                slot = self._slots.setdefault(name, _Slot())
        return slot

    def get(self, name: K) -> V:
        """The object for ``name``, loading it if this process has not yet. Callers that
        arrive during the load wait for it; if it fails they all get ``ModelLoadError`` and
        the next call tries again."""
        slot = self._slot(name)
        if slot.loaded:
            return slot.value  # type: ignore[no-any-return]
        with slot.lock:
            if slot.loaded:
                return slot.value
            try:
                value = self._loader(name)
            except Exception as error:
                raise ModelLoadError(name, error) from error
            self._loads += 1
            slot.value, slot.loaded = value, True
            return value

    async def aget(self, name: K) -> V:
        """``get`` for asyncio: the load runs in one worker thread, so the event loop keeps
        serving while a model loads; concurrent tasks of a loop await that one load (a
        cancelled task does not cancel it for the others)."""
        slot = self._slot(name)
        if slot.loaded:
            return slot.value  # type: ignore[no-any-return]
        loop = asyncio.get_running_loop()
        key = (id(loop), name)
        load = self._loading.get(key)
        if load is None:
            load = loop.create_task(asyncio.to_thread(self.get, name))
            self._loading[key] = load
            load.add_done_callback(lambda _: self._loading.pop(key, None))
        return await asyncio.shield(load)

    def warm(self, names: Iterable[K] | None = None) -> dict[K, ModelLoadError]:
        """Loads ``names`` (default: ``preload``) now, one after another; returns the ones
        that failed with their errors (empty when every load worked)."""
        failed: dict[K, ModelLoadError] = {}
        for name in self._preload if names is None else names:
            try:
                self.get(name)
            except ModelLoadError as error:
                failed[name] = error
        return failed

    def loaded(self) -> list[K]:
        """The names loaded in this process."""
        return [name for name, slot in list(self._slots.items()) if slot.loaded]

    def evict(self, name: K) -> bool:
        """Forgets ``name`` (the next ``get`` loads it again); ``True`` if it was loaded."""
        with self._table_lock:
            slot = self._slots.pop(name, None)
        return slot is not None and slot.loaded

    @property
    def loads(self) -> int:
        """How many loads succeeded in this process."""
        return self._loads

    def _after_fork(self) -> None:
        # Locks held by threads that did not survive the fork would never be released.
        for slot in self._slots.values():
            slot.lock = threading.Lock()
        self._table_lock = threading.Lock()


def once(fn: Callable[P, V]) -> Callable[P, V]:
    """Calls ``fn`` once per process per distinct arguments and keeps the result:
    ``@hoard.once def load_model(): ...``. Concurrent first calls wait for the one call;
    an exception is not kept (the next call tries again) and is raised as-is."""
    pool: ModelPool[Any, V] = ModelPool(lambda packed: fn(*packed[0], **dict(packed[1])))

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> V:
        try:
            return pool.get((args, tuple(sorted(kwargs.items()))))
        except ModelLoadError as error:
            cause = error.__cause__
            raise cause if cause is not None else error from None

    wrapper.pool = pool  # type: ignore[attr-defined]
    return wrapper


def _reset_after_fork() -> None:
    for pool in list(_pools):
        pool._after_fork()


os.register_at_fork(after_in_child=_reset_after_fork)
