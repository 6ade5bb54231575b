"""The demo clinic itself: its calendar (hours, days off), its channels and tracking numbers.

`ClinicPlan` also owns the seeded generator and the clock every other part of the demo plans
with: one generator drawn from in a fixed order is what makes the same seed give the same rows,
and one clock keeps every planned moment inside the clinic's own hours and time zone.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlalchemy.orm import Session

from callcenter.core.models import WEEKDAYS, Channel, Clinic, DayOff, TrackingNumber
from callcenter.demo import data
from callcenter.demo.bulk import insert_numbered
from callcenter.demo.phones import PhoneFactory

HISTORY_DAYS = 183
FUTURE_DAYS = 21
OPENING_HOURS = {"mon": [["09:00", "21:00"]], "tue": [["09:00", "21:00"]],
                 "wed": [["09:00", "21:00"]], "thu": [["09:00", "21:00"]],
                 "fri": [["09:00", "21:00"]], "sat": [["10:00", "18:00"]],
                 "sun": [["10:00", "16:00"]]}
# Relative call volume by local hour and by weekday (Monday busiest, Sunday quiet).
HOUR_WEIGHTS = {8: 1.5, 9: 6, 10: 10, 11: 11, 12: 9, 13: 7, 14: 7, 15: 7, 16: 8, 17: 9, 18: 8,
                19: 6, 20: 4, 21: 1.5, 22: 0.6}
WEEKDAY_WEIGHTS = (1.25, 1.1, 1.0, 1.0, 0.9, 0.55, 0.3)


class ClinicPlan:
    """The clinic's calendar and numbers, planned in memory; tracking numbers go by index."""

    def __init__(self, rng: random.Random, zone: ZoneInfo, locale: str, region: str,
                 today: date) -> None:
        self.rng, self.zone, self.locale, self.region, self.today = rng, zone, locale, region, today
        self.first_day = today - timedelta(days=HISTORY_DAYS)
        self.cutoff = self.at(today, time(0, 0))  # nothing has happened from today on
        self.window = self.at(self.first_day, time(0, 0))
        self.founded = self.at(self.first_day - timedelta(days=6 * 365), time(9, 0))
        self.name = data.label(data.CLINIC_NAME, locale)
        self.phones = PhoneFactory(rng)
        self.days_off: dict[date, tuple[str, str, str]] = {}
        self.tracking: list[tuple[int | None, str, str]] = []  # (channel index, e164, label)
        self.new_weights: dict[bool, list[float]] = {}

    # ---- the clock ---------------------------------------------------------------------
    def at(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, self.zone).astimezone(UTC)

    def open_hours(self, day: date) -> tuple[int, int] | None:
        if day in self.days_off:
            return None
        (start, end), = OPENING_HOURS[WEEKDAYS[day.weekday()]]
        return int(start[:2]), int(end[:2])

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        hours = self.open_hours(local.date())
        return hours is not None and hours[0] <= local.hour < hours[1]

    def moment(self, day: date, *, open_only: bool, before: datetime | None = None) -> datetime | None:
        """A call-like moment on `day` following the hourly curve; None when none fits."""
        choices = list(HOUR_WEIGHTS)
        if open_only:
            hours = self.open_hours(day)
            if hours is None:
                return None
            choices = [h for h in choices if hours[0] <= h < hours[1]]
        if before is not None:
            choices = [h for h in choices if self.at(day, time(h, 59)) < before]
        if not choices:
            return None
        hour = self.rng.choices(choices, [HOUR_WEIGHTS[h] for h in choices])[0]
        moment = self.at(day, time(hour, self.rng.randrange(60), self.rng.randrange(60)))
        return moment if before is None or moment < before else None

    @staticmethod
    def days(first: date, last: date) -> list[date]:
        return [first + timedelta(days=n) for n in range((last - first).days)]

    # ---- planning ----------------------------------------------------------------------
    def plan_days_off(self) -> None:
        last = self.today + timedelta(days=FUTURE_DAYS)
        holidays = [d for d in self.days(self.first_day, last) if (d.month, d.day) in data.PUBLIC_HOLIDAYS]
        for day in holidays[-2:]:
            self.days_off[day] = data.HOLIDAY
        # The clinic's own closing day: one past, one coming, both on a quiet Wednesday.
        for offset in (-60, 10):
            day = self.today + timedelta(days=offset)
            day += timedelta(days=(2 - day.weekday()) % 7)
            self.days_off.setdefault(day, data.MAINTENANCE_DAY)

    def plan_tracking(self) -> None:
        self.tracking.append((None, self.phones.take(self.region, "landline"),
                              data.label(data.MAIN_LINE, self.locale)))
        for index, spec in enumerate(data.CHANNELS):
            for n in range(spec.numbers):
                name = data.label(spec.labels, self.locale)
                self.tracking.append((index, self.phones.take(self.region, "landline"),
                                      f"{name} {n + 1}" if spec.numbers > 1 else name))
        # A number nobody registered: what the PBX reported, not yet given a channel.
        self.tracking.append((None, self.phones.take(self.region, "landline"), ""))
        self.new_weights = {True: self._channel_weights(True), False: self._channel_weights(False)}

    @property
    def unregistered(self) -> int:
        """The index of the number nobody registered (always the last one)."""
        return len(self.tracking) - 1

    def _channel_weights(self, booked: bool) -> list[float]:
        weights = []
        for channel, _, label in self.tracking:
            if channel is None:
                share = 0.0 if not label else data.MAIN_LINE_SHARE
                conversion = data.MAIN_LINE_CONVERSION
            else:
                spec = data.CHANNELS[channel]
                share, conversion = spec.share / spec.numbers, spec.conversion
            weights.append(share * (conversion if booked else 1 - conversion))
        return weights

    def pick_tracking(self, booked: bool) -> int:
        """The number a newcomer dialled, weighted by each channel's share and conversion."""
        return self.rng.choices(range(len(self.tracking)), self.new_weights[booked])[0]

    # ---- writing -----------------------------------------------------------------------
    def write(self, session: Session, timezone: str,
              unregistered_since: datetime) -> tuple[int, list[int], list[int]]:
        """The clinic, its days off, channels and numbers: (clinic id, channel ids, number ids).

        `unregistered_since` is the first call to the unregistered number: the PBX created it then.
        """
        clinic = insert_numbered(session, Clinic, [{
            "name": self.name, "timezone": timezone, "locale": self.locale, "region": self.region,
            "address": data.label(data.CLINIC_ADDRESS, self.locale), "opening_hours": OPENING_HOURS,
            "is_demo": True, "created_at": self.founded}])[0]
        session.execute(insert(DayOff), [{"clinic_id": clinic, "day": day, "reason": data.label(why, self.locale)}
                                         for day, why in sorted(self.days_off.items())])
        channels = insert_numbered(session, Channel, [
            {"code": c.code, "name": data.label(c.labels, self.locale), "offered_as_answer": True}
            for c in data.CHANNELS])
        tracking = insert_numbered(session, TrackingNumber, [
            {"clinic_id": clinic, "e164": e164, "channel_id": None if ch is None else channels[ch],
             "label": label, "auto_created": not label,
             "created_at": unregistered_since if not label else self.founded}
            for ch, e164, label in self.tracking])
        return clinic, channels, tracking
