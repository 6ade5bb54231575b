"""The worker's part of the roll-ups: every PLAN_SECONDS, take every clinic's marks and sum its
ended weeks and months again, so the marks written by calls and bookings never pile up between
reads and a report seldom has to wait."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from callcenter.analytics.periods import local_day_number
from callcenter.analytics.rollups import refresh, settle
from callcenter.core.config import load_config
from callcenter.core.models import AnalyticsDirty, Clinic, RollupStale
from callcenter.core.runtime import Runtime


@functools.cache
def _runtime() -> Runtime:
    return Runtime.from_config(load_config())


def refresh_rollups() -> int:
    """The scheduled job: the number of marks taken over every clinic. Also sums again every
    week and month that has ended with changes no report has read yet, so a long period seldom
    has to sum them at read time."""
    rt = _runtime()
    now = datetime.now(UTC)
    with rt.engine.connect() as conn:
        clinics = sorted({*conn.scalars(select(AnalyticsDirty.clinic_id).distinct()),
                          *conn.scalars(select(RollupStale.clinic_id).distinct())})
        zones = {clinic_id: zone for clinic_id, zone in conn.execute(
            select(Clinic.id, Clinic.timezone).where(Clinic.id.in_(clinics)))}
    taken = 0
    for clinic_id in clinics:
        with rt.write_guard(), rt.engine.begin() as conn:
            taken += refresh(conn, clinic_id)
            if clinic_id in zones:
                today = local_day_number(now.astimezone(ZoneInfo(zones[clinic_id])).date())
                settle(conn, clinic_id, 0, today - 1)
    return taken
