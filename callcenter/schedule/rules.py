"""Where a visit may go, as pure rules: inside one of the doctor's working windows and on its
slot grid, within the clinic's opening hours, not on a day off, not in the doctor's absence.

Everything comes in as arguments (windows, hours, days, the clinic's zone); the first rule a
visit breaks is raised as a BookingError naming the field to fix. `place` returns the window's
slot grid, which the database guard (`claims.py`) claims the visit's slots on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from callcenter.core.i18n import N_
from callcenter.schedule.errors import BookingError
from callcenter.schedule.hours import Hours, is_open, local_time, spans_text
from callcenter.schedule.slots import Away, WorkWindow


@dataclass(frozen=True)
class Grid:
    """The working window a visit falls in: its slots start at `opens` + n × `step`."""

    opens: datetime  # aware UTC
    closes: datetime
    step: timedelta

    def units(self, starts_at: datetime, ends_at: datetime) -> Iterator[datetime]:
        """The starts of every slot the visit touches (one off the grid touches two)."""
        unit = self.opens + (starts_at - self.opens) // self.step * self.step
        while unit < ends_at:
            yield unit
            unit += self.step


def place(windows: Sequence[WorkWindow], starts_at: datetime, ends_at: datetime, tz: str, *,
          days_off: Iterable[date] = (), away: Iterable[Away] = (), hours: Hours | None = None,
          on_grid: bool = True) -> Grid:
    """The grid of the doctor's window that holds the whole visit, or the BookingError of the
    first rule it breaks. `on_grid=False` lets a squeezed-in visit start between slots."""
    zone = ZoneInfo(tz)
    day = starts_at.astimezone(zone).date()
    if day in set(days_off):
        raise BookingError("starts_at", N_("the clinic is closed on {day}"), day=day.isoformat())
    if any(a.first <= day <= a.last for a in away):
        raise BookingError("starts_at", N_("the doctor is away on that day; pick another slot"))
    today = [w for w in windows if w.weekday == day.weekday()]
    if not today:
        raise BookingError("starts_at", N_("the doctor does not work on that day; pick another slot"))
    grid = None
    for window in today:
        opens, closes = local_time(day, window.starts, zone), local_time(day, window.ends, zone)
        if opens <= starts_at and ends_at <= closes:
            grid = Grid(opens, closes, timedelta(minutes=window.slot_minutes))
    if grid is None:
        raise BookingError("starts_at", N_("outside the doctor's working hours ({hours}) on that day"),
                           hours=spans_text((w.starts, w.ends) for w in sorted(today, key=lambda w: w.starts)))
    if on_grid and (starts_at - grid.opens) % grid.step:
        raise BookingError("starts_at", N_("not the start of a slot: the doctor's slots are {minutes} "
                                           "minutes from {opens}"),
                           minutes=grid.step // timedelta(minutes=1),
                           opens=grid.opens.astimezone(zone).strftime("%H:%M"))
    if hours is not None and not is_open(hours, day, starts_at, ends_at, zone):
        raise BookingError("starts_at", N_("outside the clinic's opening hours ({hours})"),
                           hours=spans_text(hours.get(day.weekday()) or ()))
    return grid
