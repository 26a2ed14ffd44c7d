"""Resolving asyncio futures from hoard's background runtime (called from Rust)."""

from __future__ import annotations

import asyncio
from typing import Any


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
