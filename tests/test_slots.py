"""The two-option offer on real-looking schedules: gaps, a full day, days off, acute pain, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.schedule.slots import Busy, WorkWindow, free_slots, offer_acute, offer_two

TZ = ZoneInfo("Europe/Moscow")
MONDAY = date(2026, 11, 23)
DOCTOR = 7
# Monday to Friday, a morning and an evening shift with a lunch break.
WEEK = [WorkWindow(DOCTOR, d, time(9), time(13)) for d in range(5)] + [
    WorkWindow(DOCTOR, d, time(15), time(20)) for d in range(5)
]


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=TZ).astimezone(UTC)


def busy(day: date, start: tuple[int, int], end: tuple[int, int]) -> Busy:
    return Busy(DOCTOR, at(day, *start), at(day, *end))


def every_half_hour(day: date) -> list[Busy]:
    """A fully booked day: one 30-minute appointment after another."""
    items = []
    for first, last in ((9, 13), (15, 20)):
        for n in range((last - first) * 2):
            start = datetime.combine(day, time(first), tzinfo=TZ) + timedelta(minutes=30 * n)
            items.append(Busy(DOCTOR, start.astimezone(UTC), (start + timedelta(minutes=30)).astimezone(UTC)))
    return items


def local(slots: list) -> list[str]:
    return [s.starts_at.astimezone(TZ).strftime("%a %H:%M") for s in slots]


def test_gaps_give_one_morning_and_one_evening_option() -> None:
    taken = [busy(MONDAY, (9, 0), (10, 30)), busy(MONDAY, (11, 0), (13, 0)),
             busy(MONDAY, (15, 0), (18, 0))]
    offer = offer_two(WEEK, taken, [], at(MONDAY, 8), TZ)
    assert local(offer) == ["Mon 10:30", "Mon 18:00"]
    assert all(s.doctor_id == DOCTOR and not s.may_wait for s in offer)
    assert offer[0].ends_at - offer[0].starts_at == timedelta(minutes=30)


def test_nothing_starts_sooner_than_the_lead_time() -> None:
    offer = offer_two(WEEK, [], [], at(MONDAY, 10, 10), TZ)
    assert local(offer) == ["Mon 11:00", "Mon 15:00"]


def test_a_full_day_moves_the_offer_to_the_next_working_day() -> None:
    offer = offer_two(WEEK, every_half_hour(MONDAY), [], at(MONDAY, 8), TZ)
    assert local(offer) == ["Tue 09:00", "Tue 15:00"]


def test_days_off_and_weekends_are_skipped() -> None:
    tuesday, wednesday = MONDAY + timedelta(days=1), MONDAY + timedelta(days=2)
    offer = offer_two(WEEK, every_half_hour(MONDAY), [tuesday, wednesday], at(MONDAY, 8), TZ)
    assert local(offer) == ["Thu 09:00", "Thu 15:00"]
    friday_evening = at(MONDAY + timedelta(days=4), 19, 45)
    assert local(offer_two(WEEK, [], [], friday_evening, TZ)) == ["Mon 09:00", "Mon 15:00"]


def test_when_one_half_of_the_day_is_never_free_the_two_nearest_are_offered() -> None:
    mornings_only = [w for w in WEEK if w.starts == time(9)]
    offer = offer_two(mornings_only, [busy(MONDAY, (9, 0), (9, 30))], [], at(MONDAY, 8), TZ)
    assert local(offer) == ["Mon 09:30", "Mon 10:00"]


def test_no_schedule_no_offer() -> None:
    assert offer_two([], [], [], at(MONDAY, 8), TZ) == []
    assert offer_acute([], [], [], at(MONDAY, 8), TZ) == []


def test_acute_pain_gets_the_nearest_free_slot_today_without_lead() -> None:
    offer = offer_acute(WEEK, [busy(MONDAY, (9, 0), (12, 30))], [], at(MONDAY, 12, 5), TZ)
    assert local(offer) == ["Mon 12:30", "Mon 15:00"]
    assert not offer[0].may_wait


def test_acute_pain_on_a_full_day_is_squeezed_in_and_may_wait() -> None:
    offer = offer_acute(WEEK, every_half_hour(MONDAY), [], at(MONDAY, 12, 5), TZ)
    assert local(offer) == ["Mon 12:30", "Tue 09:00"]
    assert offer[0].may_wait and not offer[1].may_wait
    # Squeezed between two appointments: it overlaps the next one by design.
    assert offer[0].starts_at == at(MONDAY, 12, 30)


def test_acute_squeeze_uses_the_next_appointment_end_even_between_shifts() -> None:
    offer = offer_acute(WEEK, every_half_hour(MONDAY), [], at(MONDAY, 13, 30), TZ)
    assert local(offer)[0] == "Mon 15:30" and offer[0].may_wait


def test_acute_pain_after_hours_or_on_a_day_off_gets_the_next_day() -> None:
    assert local(offer_acute(WEEK, [], [], at(MONDAY, 20, 30), TZ)) == ["Tue 09:00", "Tue 09:30"]
    offer = offer_acute(WEEK, [], [MONDAY], at(MONDAY, 8), TZ)
    assert local(offer) == ["Tue 09:00", "Tue 09:30"]
    assert not any(s.may_wait for s in offer)
    saturday = MONDAY - timedelta(days=2)
    assert local(offer_acute(WEEK, [], [], at(saturday, 10), TZ)) == ["Mon 09:00", "Mon 09:30"]


def test_slots_keep_wall_clock_time_across_dst() -> None:
    berlin = ZoneInfo("Europe/Berlin")  # DST starts Sunday 2026-03-29
    monday_nine = [WorkWindow(1, 0, time(9), time(10), slot_minutes=60)]
    now = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
    found = free_slots(monday_nine, [], [], now, berlin, days=14)
    assert [s.starts_at for s in found] == [
        datetime(2026, 3, 23, 8, 0, tzinfo=UTC),  # 09:00 CET
        datetime(2026, 3, 30, 7, 0, tzinfo=UTC),  # 09:00 CEST
    ]


def test_specialty_search_merges_doctors_and_keeps_distinct_times() -> None:
    other = [WorkWindow(8, 0, time(9), time(13))]
    offer = offer_two(WEEK + other, [busy(MONDAY, (9, 0), (13, 0))], [], at(MONDAY, 8), TZ)
    assert local(offer) == ["Mon 09:00", "Mon 15:00"]
    assert [s.doctor_id for s in offer] == [8, DOCTOR]


@settings(max_examples=60, deadline=None)
@given(
    appointments=st.lists(st.tuples(st.integers(0, 4), st.integers(9 * 4, 20 * 4 - 1),
                                    st.integers(1, 8)), max_size=40),
    now_offset=st.integers(0, 5 * 24 * 4),
    day_off=st.one_of(st.none(), st.integers(0, 6)),
)
def test_offered_slots_are_free_inside_hours_and_in_the_future(
        appointments: list[tuple[int, int, int]], now_offset: int, day_off: int | None) -> None:
    taken = []
    for weekday, quarter, length in appointments:
        start = datetime.combine(MONDAY + timedelta(days=weekday), time(quarter // 4, quarter % 4 * 15),
                                 tzinfo=TZ)
        taken.append(Busy(DOCTOR, start.astimezone(UTC), (start + timedelta(minutes=15 * length)).astimezone(UTC)))
    now = at(MONDAY, 0) + timedelta(minutes=15 * now_offset)
    days_off = [] if day_off is None else [MONDAY + timedelta(days=day_off)]
    for slot in offer_two(WEEK, taken, days_off, now, TZ) + offer_acute(WEEK, taken, days_off, now, TZ):
        start = slot.starts_at.astimezone(TZ)
        assert slot.starts_at >= now
        assert start.date() not in days_off
        assert any(w.weekday == start.weekday() and w.starts <= start.time()
                   and slot.ends_at.astimezone(TZ).time() <= w.ends for w in WEEK)
        overlapping = [b for b in taken if b.starts_at < slot.ends_at and slot.starts_at < b.ends_at]
        if slot.may_wait:
            assert start.date() == now.astimezone(TZ).date()
            assert any(b.ends_at == slot.starts_at for b in taken)
        else:
            assert overlapping == []
