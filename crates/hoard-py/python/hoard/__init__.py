"""hoard: a tiered cache for AI/ML backends, with the Rust engine in your Python process.

>>> import hoard
>>> cache = hoard.Cache(path=None)            # memory only; hoard.Cache() adds ./.hoard on disk
>>> cache.set("model", "metrics:abc-123", {"accuracy": 0.95}, ttl="1h")
>>> cache.get("model", "metrics:abc-123")
{'accuracy': 0.95}

See the README for the tour: the embedded cache, Redis, ``@hoard.cached``, FastAPI.
"""

from __future__ import annotations

import os as _os
import sysconfig as _sysconfig

if _sysconfig.get_config_var("Py_GIL_DISABLED"):
    raise ImportError(
        "hoard does not support free-threaded CPython builds yet (its extension is built for "
        "the stable ABI, which free-threaded builds do not load): use a regular CPython >= 3.10"
    )

from . import ttl
from ._errors import (
    BackendError,
    ConfigError,
    FolderInUse,
    HoardError,
    InvalidInput,
    SerializationError,
    Unavailable,
    WriterError,
)
from ._cache import Cache
from ._hoard import __version__, _after_fork_in_child
from ._cached import cached, clear_cached, default_cache, invalidates, set_default_cache
from ._once import ModelLoadError, ModelPool, once
from ._semantic import SemanticCache, default_semantic_cache, set_default_semantic_cache

# A child made by fork() must not reuse the parent's runtime, connections or disk handles:
# each Cache reopens in the child on its first call.
_os.register_at_fork(after_in_child=_after_fork_in_child)

__all__ = [
    "BackendError",
    "Cache",
    "ConfigError",
    "FolderInUse",
    "HoardError",
    "InvalidInput",
    "ModelLoadError",
    "ModelPool",
    "SemanticCache",
    "SerializationError",
    "Unavailable",
    "WriterError",
    "__version__",
    "cached",
    "clear_cached",
    "default_cache",
    "default_semantic_cache",
    "invalidates",
    "once",
    "set_default_cache",
    "set_default_semantic_cache",
    "ttl",
]
