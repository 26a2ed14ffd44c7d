"""hoard's exceptions. Every one derives from :class:`HoardError`."""

from __future__ import annotations


class HoardError(Exception):
    """Base of every error hoard raises."""


class InvalidInput(HoardError, ValueError):
    """A bad namespace, key, tag, pattern, TTL or option: fix the call."""


class ConfigError(HoardError, ValueError):
    """The configuration (arguments or ``hoard.toml``) is invalid."""


class BackendError(HoardError):
    """The disk tier or Redis failed (I/O, a Redis error, a corrupt file)."""


class Unavailable(BackendError):
    """Redis cannot be reached (down, too slow, or behind an open circuit breaker).

    A ``set`` that raises it was not acknowledged and this process keeps no copy of the
    value; after a timeout Redis may still hold it, so the key has the old value or the
    new one. Reads during an outage are misses, and ``@cached`` functions keep answering
    from this process's memory."""


class FolderInUse(BackendError):
    """The disk folder is open in another process: the embedded disk tier serves one
    process at a time. Several worker processes share a cache through Redis, or each
    opens its own folder."""


class SerializationError(HoardError, TypeError):
    """A value hoard cannot store, or a stored value it cannot read back as this type."""


class WriterError(HoardError):
    """The writer of a write-through namespace raised: the backing store did not take the
    write, so the cache did not change either (``Cache.write_through``)."""
