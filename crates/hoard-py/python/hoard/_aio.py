"""Settling asyncio futures of hoard's awaitables (called from Rust)."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from ._hoard import Reactor


def _set(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def resolve(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    """Sets ``future``'s outcome on the thread of ``loop``."""
    try:
        loop.call_soon_threadsafe(_set, future, ok, value)
    except RuntimeError:
        # The loop is closed: nobody is waiting any more.
        pass


# One reactor per event loop, which drives hoard's awaitables on the loop's own thread
# (see `Reactor` in src/bridge.rs); it goes with its loop. `None` for a loop that cannot
# watch a socket.
_reactors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Reactor | None] = weakref.WeakKeyDictionary()


def reactor_for(loop: asyncio.AbstractEventLoop) -> Reactor | None:
    """The reactor of ``loop``, or ``None`` if the loop cannot watch a socket (Windows'
    proactor loop): its awaitables are then settled through ``call_soon_threadsafe``."""
    try:
        return _reactors[loop]
    except KeyError:
        pass
    except TypeError:
        return None  # a loop that takes no weak references
    found: Reactor | None = Reactor()
    try:
        loop.add_reader(found.fileno(), found.run)  # type: ignore[union-attr]
    except NotImplementedError:
        found = None
    _reactors[loop] = found
    return found
