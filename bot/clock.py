"""The one place that reads the wall clock.

Business logic takes ``now`` as an argument (bot.hours is pure); only the outer layer calls
:func:`now`. ``SUPPORTBOT_FAKE_NOW`` (ISO 8601 with offset, e.g. 2026-11-29T03:00:00+01:00)
pins the clock for demos and end-to-end tests of after-hours behaviour.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

FAKE_NOW_ENV = "SUPPORTBOT_FAKE_NOW"


def now() -> datetime:
    """Current time, timezone-aware (UTC unless the fake clock says otherwise)."""
    fake = os.environ.get(FAKE_NOW_ENV)
    if fake:
        value = datetime.fromisoformat(fake)
        if value.tzinfo is None:
            raise ValueError(f"${FAKE_NOW_ENV}={fake!r} needs a UTC offset, e.g. +01:00")
        return value
    return datetime.now(timezone.utc)
