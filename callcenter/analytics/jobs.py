"""The worker's part of the roll-ups: every PLAN_SECONDS, take every clinic's marks, so the marks
written by calls and bookings never pile up between reads and a report seldom has to wait."""

from __future__ import annotations

import functools

from sqlalchemy import select

from callcenter.analytics.rollups import refresh
from callcenter.core.config import load_config
from callcenter.core.models import AnalyticsDirty
from callcenter.core.runtime import Runtime


@functools.cache
def _runtime() -> Runtime:
    return Runtime.from_config(load_config())


def refresh_rollups() -> int:
    """The scheduled job: the number of marks taken over every clinic."""
    rt = _runtime()
    with rt.engine.connect() as conn:
        clinics = list(conn.scalars(select(AnalyticsDirty.clinic_id).distinct()))
    taken = 0
    for clinic_id in clinics:
        with rt.write_guard(), rt.engine.begin() as conn:
            taken += refresh(conn, clinic_id)
    return taken
