"""TTL presets, in seconds: the ``CacheTTL`` names FastAPI apps use, the same as ``hoard ttl`` lists."""

from __future__ import annotations

from typing import Final

VERY_SHORT: Final = 5 * 60
"""5 minutes: volatile data (live metrics)."""
SHORT: Final = 15 * 60
"""15 minutes."""
MEDIUM: Final = 30 * 60
"""30 minutes."""
LONG: Final = 60 * 60
"""1 hour: the default TTL."""
VERY_LONG: Final = 2 * 60 * 60
"""2 hours."""
DAY: Final = 24 * 60 * 60
"""24 hours: inference results that do not change."""
WEEK: Final = 7 * 24 * 60 * 60
"""7 days."""

__all__ = ["VERY_SHORT", "SHORT", "MEDIUM", "LONG", "VERY_LONG", "DAY", "WEEK"]
