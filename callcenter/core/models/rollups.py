"""Marketing analytics roll-ups: per clinic and local day, what the reports add up, kept exact.

Database triggers (migration 0032) append a row to `analytics_dirty` whenever a call, an
appointment or a patient's phone changes, in the writer's own transaction; the analytics
package recomputes what those rows name before it reads (analytics/rollups.py). Days are the
clinic's local calendar days as integers (days since 1970-01-01).
"""

from __future__ import annotations

import enum
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.core.models.base import Base


class Span(enum.IntEnum):
    """What a roll-up row covers, from its `day` on: that local day, the week it starts (a
    Monday) or the calendar month it starts. A week's or month's row holds what its days' rows
    hold, joined (sums added, caller sets united), so a long period reads few rows."""

    DAY = 0
    WEEK = 1
    MONTH = 2


class AnalyticsDirty(Base):
    """Something changed that a roll-up may hold: a call (with the UTC day it started on, so a
    deleted call's day is still known), an appointment, or a patient's phones. A row with only
    the clinic asks for that clinic's roll-ups to be rebuilt from scratch. Append-only for the
    writers: they never wait on each other here."""

    __tablename__ = "analytics_dirty"
    __table_args__ = (Index("ix_analytics_dirty_clinic", "clinic_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    clinic_id: Mapped[int] = mapped_column(Integer)
    utc_day: Mapped[int | None] = mapped_column(Integer)
    call_id: Mapped[int | None] = mapped_column(Integer)
    appointment_id: Mapped[int | None] = mapped_column(Integer)
    patient_id: Mapped[int | None] = mapped_column(Integer)


class RollupCall(Base):
    """Inbound calls that count (not test calls, not non-patients) of one local day, per
    tracking number, channel, "how did you hear" answer and receptionist; with week and month
    rows (`Span`)."""

    __tablename__ = "rollup_calls"
    __table_args__ = (Index("ix_rollup_calls_clinic_span_day", "clinic_id", "span", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    day: Mapped[int] = mapped_column(Integer)
    span: Mapped[int] = mapped_column(SmallInteger)  # a Span
    tracking_number_id: Mapped[int | None] = mapped_column(Integer)
    channel_id: Mapped[int | None] = mapped_column(Integer)
    heard_from_channel_id: Mapped[int | None] = mapped_column(Integer)
    agent_id: Mapped[int | None] = mapped_column(Integer)
    calls: Mapped[int] = mapped_column(Integer)
    answered: Mapped[int] = mapped_column(Integer)
    missed: Mapped[int] = mapped_column(Integer)
    hidden: Mapped[int] = mapped_column(Integer)  # hidden-number calls: each a caller of its own
    hidden_first: Mapped[int] = mapped_column(Integer)
    answer_seconds: Mapped[int] = mapped_column(BigInteger)  # ring → answer, summed
    answer_count: Mapped[int] = mapped_column(Integer)


class RollupCaller(Base):
    """Who called on one local day, per tracking number, channel and "how did you hear" answer:
    the callers' numbers (`CallerNumber` ids) as serialized Roaring bitmaps, all of them and those
    calling for the first time; a week's or month's row (`Span`) holds the union of its days'.
    Distinct callers over any period are the size of the union of its sets: a year is twelve
    month sets per report row, not half a million calls counted distinct. Hidden numbers are not
    here (each is a caller of its own: RollupCall.hidden)."""

    __tablename__ = "rollup_callers"
    __table_args__ = (Index("ix_rollup_callers_clinic_span_day", "clinic_id", "span", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    day: Mapped[int] = mapped_column(Integer)
    span: Mapped[int] = mapped_column(SmallInteger)  # a Span
    tracking_number_id: Mapped[int | None] = mapped_column(Integer)
    channel_id: Mapped[int | None] = mapped_column(Integer)
    heard_from_channel_id: Mapped[int | None] = mapped_column(Integer)
    callers: Mapped[bytes] = mapped_column(LargeBinary)
    first_callers: Mapped[bytes] = mapped_column(LargeBinary)


class CallerNumber(Base):
    """A small integer for each number that called a clinic: what `RollupCaller`'s bitmaps hold
    (32-bit Roaring bitmaps join fast; numbers as 64-bit values were 100 times slower)."""

    __tablename__ = "caller_numbers"
    __table_args__ = (UniqueConstraint("clinic_id", "e164", name="uq_caller_numbers_clinic_e164"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    e164: Mapped[str] = mapped_column(String(32))


class RollupHour(Base):
    """The same calls per hour and weekday of the clinic's calendar (the hours and weekdays
    reports), with month rows (`Span`): a week's would hold as many rows as its days."""

    __tablename__ = "rollup_hours"
    __table_args__ = (Index("ix_rollup_hours_clinic_span_day", "clinic_id", "span", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    day: Mapped[int] = mapped_column(Integer)
    span: Mapped[int] = mapped_column(SmallInteger)  # a Span
    weekday: Mapped[int] = mapped_column(SmallInteger)  # 0 = Monday
    hour: Mapped[int] = mapped_column(Integer)
    tracking_number_id: Mapped[int | None] = mapped_column(Integer)
    channel_id: Mapped[int | None] = mapped_column(Integer)
    calls: Mapped[int] = mapped_column(Integer)
    answered: Mapped[int] = mapped_column(Integer)
    missed: Mapped[int] = mapped_column(Integer)


class RollupCallback(Base):
    """Missed calls of the day by what closed them: the call back's receptionist and direction
    (outbound: the desk called back; inbound: the caller got through; none: still open), with
    week and month rows (`Span`)."""

    __tablename__ = "rollup_callbacks"
    __table_args__ = (Index("ix_rollup_callbacks_clinic_span_day", "clinic_id", "span", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    day: Mapped[int] = mapped_column(Integer)
    span: Mapped[int] = mapped_column(SmallInteger)  # a Span
    tracking_number_id: Mapped[int | None] = mapped_column(Integer)
    channel_id: Mapped[int | None] = mapped_column(Integer)
    back_agent_id: Mapped[int | None] = mapped_column(Integer)
    back_direction: Mapped[str | None] = mapped_column(String(16))
    missed: Mapped[int] = mapped_column(Integer)
    delay_seconds: Mapped[int] = mapped_column(BigInteger)
    delay_count: Mapped[int] = mapped_column(Integer)


class RollupStale(Base):
    """A week or month (`span`, from `day`) of the summed roll-ups (calls, hours, callbacks) whose
    rows are behind its days: summed again when a report whose period holds the whole span reads,
    or by the worker once the span has ended. Until then its days changed for nothing a report
    could read: today's week and month are wholly inside a period only once they end."""

    __tablename__ = "rollup_stale"
    __table_args__ = (UniqueConstraint("clinic_id", "span", "day", name="uq_rollup_stale_span"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    span: Mapped[int] = mapped_column(SmallInteger)  # a Span: week or month
    day: Mapped[int] = mapped_column(Integer)


class BookingCredit(Base):
    """A booking (appointment that is not a moved copy) and the call it is credited to, with that
    call's figures copied: `lag_days` is 0 for a booking made on the call, else the whole days
    (rounded up) from the latest earlier call, so any attribution window W picks lag_days ≤ W."""

    __tablename__ = "booking_credits"
    __table_args__ = (
        # Everything the funnel reads, so a year's credits come from the index alone (SQLite: 142 →
        # 24 ms for 136,000 credits; the table's rows lie in appointment order, not by day).
        Index("ix_booking_credits_clinic_call_day", "clinic_id", "call_day", "counted", "lag_days",
              "channel_id", "tracking_number_id", "heard_from_channel_id", "agent_id", "attended",
              "revenue"),
        # And what the invitations report reads by the visit's day.
        Index("ix_booking_credits_clinic_visit_day", "clinic_id", "visit_day", "attended",
              "lag_days", "agent_id"),
        Index("ix_booking_credits_call", "call_id"),
    )

    appointment_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    call_id: Mapped[int] = mapped_column(Integer)
    lag_days: Mapped[int] = mapped_column(Integer)
    call_day: Mapped[int] = mapped_column(Integer)
    counted: Mapped[bool] = mapped_column(Boolean)  # the call is one the funnel counts
    tracking_number_id: Mapped[int | None] = mapped_column(Integer)
    channel_id: Mapped[int | None] = mapped_column(Integer)
    heard_from_channel_id: Mapped[int | None] = mapped_column(Integer)
    agent_id: Mapped[int | None] = mapped_column(Integer)
    attended: Mapped[int] = mapped_column(Integer)
    revenue: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    visit_day: Mapped[int] = mapped_column(Integer)
