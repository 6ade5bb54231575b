"""Analytics figures against small fixtures computed by hand, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from callcenter.analytics import REPORTS, Filters, Granularity
from callcenter.analytics.periods import offset_segments
from callcenter.core.models import CallStatus
from tests import factories as f
from tests.analytics_fixture import Month, add_call, march

MOSCOW = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def month(session: Session) -> Month:
    return march(session)


def run(session: Session, name: str, flt: Filters) -> list[dict]:
    return REPORTS[name].build(session, flt)


def filters(m: Month, **kw) -> Filters:
    return Filters(clinic_id=m.clinic.id, tz=MOSCOW, start=m.period[0], end=m.period[1], **kw)


def test_summary_funnel(session: Session, month: Month) -> None:
    [row] = run(session, "summary", filters(month))
    assert row == {
        "calls": 10, "unique_callers": 8, "first_time_callers": 5, "answered": 6, "missed": 4,
        "bookings": 3, "arrivals": 2, "revenue": 4500.0,
        "booking_rate": 0.3, "arrival_rate": 0.2, "show_rate": 0.6667,
    }


def test_wider_window_credits_the_late_booking(session: Session, month: Month) -> None:
    [row] = run(session, "summary", filters(month, window_days=20))
    assert (row["bookings"], row["arrivals"]) == (4, 2)


def test_funnel_by_channel(session: Session, month: Month) -> None:
    rows = {r["channel"]: r for r in run(session, "channels", filters(month))}
    assert set(rows) == {"Maps", "Search", None}
    maps, search, unknown = rows["Maps"], rows["Search"], rows[None]
    assert (maps["calls"], maps["unique_callers"], maps["first_time_callers"]) == (6, 5, 3)
    assert (maps["answered"], maps["missed"], maps["bookings"], maps["arrivals"]) == (2, 4, 1, 1)
    assert (search["calls"], search["unique_callers"], search["first_time_callers"]) == (3, 2, 1)
    # the booking after two calls counts once, for the later call; the family booking counts too
    assert (search["bookings"], search["arrivals"], search["revenue"]) == (2, 1, 1500.0)
    assert search["booking_rate"] == 0.6667
    assert (unknown["calls"], unknown["bookings"]) == (1, 0)


def test_channel_filter_narrows_every_figure(session: Session, month: Month) -> None:
    flt = filters(month, channel_ids=(month.search.channel_id,))
    [row] = run(session, "summary", flt)
    assert (row["calls"], row["bookings"], row["arrivals"]) == (3, 2, 1)
    tracked = run(session, "tracking_numbers", filters(month, tracking_number_ids=(month.maps.id,)))
    assert [(r["tracking_number"], r["channel"], r["calls"]) for r in tracked] == [
        ("+74950000001 maps", "Maps", 6)]


def test_heard_from_and_disagreements(session: Session, month: Month) -> None:
    heard = {r["channel"]: r for r in run(session, "heard_from", filters(month))}
    assert (heard["Maps"]["calls"], heard["Maps"]["bookings"]) == (3, 1)
    assert heard[None]["calls"] == 7
    assert run(session, "disagreements", filters(month)) == [
        {"tracking_channel": "Search", "heard_channel": "Maps", "calls": 1, "unique_callers": 1}]


def test_receptionists(session: Session, month: Month) -> None:
    rows = {r["receptionist"]: r for r in run(session, "receptionists", filters(month))}
    anna, boris, nobody = rows["Anna Desk"], rows["Boris Desk"], rows[None]
    assert (anna["calls"], anna["taken"], anna["missed"], anna["missed_share"]) == (4, 3, 1, 0.25)
    assert anna["avg_answer_seconds"] == 10.0
    assert (anna["callbacks"], anna["avg_callback_minutes"]) == (1, 30.0)
    assert (anna["bookings"], anna["booking_rate"]) == (2, 0.6667)
    assert (boris["taken"], boris["avg_answer_seconds"], boris["bookings"]) == (3, 6.0, 1)
    assert (nobody["calls"], nobody["missed"], nobody["missed_share"]) == (3, 3, 1.0)


def test_callbacks(session: Session, month: Month) -> None:
    assert run(session, "callbacks", filters(month)) == [{
        "missed": 4, "called_back": 1, "caller_called_again": 1, "open": 2,
        "called_back_share": 0.25, "avg_callback_minutes": 30.0}]


def test_invitations_kpi(session: Session, month: Month) -> None:
    rows = run(session, "invitations", filters(month))
    assert [(r["month"], r["receptionist"], r["invitations"], r["target"], r["achieved"])
            for r in rows] == [("2026-03", "Anna Desk", 2, 50, 0.04),
                               ("2026-03", "Boris Desk", 1, 50, 0.02)]


def test_campaigns(session: Session, month: Month) -> None:
    rows = {(r["purpose"], r["campaign"]): r for r in run(session, "campaigns", filters(month))}
    confirm = rows[("confirmation", "Confirm March")]
    assert (confirm["tasks"], confirm["reached"], confirm["confirmed"]) == (4, 3, 2)
    assert (confirm["confirmation_rate"], confirm["cancellations_caught"]) == (0.5, 1)
    recall = rows[("recall", "Spring recall")]
    assert (recall["tasks"], recall["reached"], recall["booked"]) == (3, 2, 1)
    no_show = rows[("no_show", None)]
    assert (no_show["tasks"], no_show["booked"], no_show["booked_rate"]) == (2, 1, 0.5)


def test_periods_weeks_and_months(session: Session, month: Month) -> None:
    weekly = run(session, "periods", filters(month, granularity=Granularity.WEEK))
    assert [r["period"] for r in weekly] == [
        "2026-02-23", "2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23", "2026-03-30"]
    assert [r["calls"] for r in weekly] == [0, 5, 4, 1, 0, 0]
    assert [r["bookings"] for r in weekly] == [0, 2, 1, 0, 0, 0]
    [monthly] = run(session, "periods", filters(month, granularity=Granularity.MONTH))
    assert (monthly["period"], monthly["calls"], monthly["unique_callers"]) == ("2026-03-01", 10, 8)


def test_hours_and_weekdays_in_clinic_time(session: Session, month: Month) -> None:
    hours = {r["hour"]: r for r in run(session, "hours", filters(month)) if r["calls"]}
    # 07:00 UTC is 10:00 in Moscow
    assert {h: (r["calls"], r["missed"]) for h, r in hours.items()} == {
        10: (3, 1), 11: (2, 1), 12: (2, 0), 15: (2, 2), 18: (1, 0)}
    days = {r["weekday"]: r["calls"] for r in run(session, "weekdays", filters(month)) if r["calls"]}
    assert days == {0: 3, 1: 2, 2: 1, 3: 3, 4: 1}  # 1 March 2026 is a Sunday


def test_offset_segments_find_the_dst_change() -> None:
    start = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    end = datetime(2026, 3, 30, 22, 0, tzinfo=UTC)
    assert offset_segments(start, end, BERLIN) == [
        (start, 3600), (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), 7200)]
    assert offset_segments(start, end, MOSCOW) == [(start, 10800)]


def test_grouping_follows_the_clinic_clock_across_dst(session: Session) -> None:
    clinic = f.clinic(session, timezone="Europe/Berlin", region="DE")
    for started in (
        datetime(2026, 3, 28, 22, 30, tzinfo=UTC),  # Sat 23:30 CET
        datetime(2026, 3, 28, 23, 30, tzinfo=UTC),  # Sun 00:30 CET
        datetime(2026, 3, 29, 0, 59, tzinfo=UTC),  # Sun 01:59 CET
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # Sun 03:00 CEST: clocks went forward
        datetime(2026, 3, 29, 21, 30, tzinfo=UTC),  # Sun 23:30 CEST
        datetime(2026, 3, 29, 22, 30, tzinfo=UTC),  # Mon 00:30 CEST (still Sunday in UTC)
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # 02:30 CEST, before clocks go back
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),  # 02:30 CET, after
        datetime(2026, 10, 31, 22, 30, tzinfo=UTC),  # Sat 31 Oct 23:30 CET
        datetime(2026, 10, 31, 23, 30, tzinfo=UTC),  # Sun 1 Nov 00:30 CET
    ):
        add_call(session, clinic, "+4930123456", started, status=CallStatus.MISSED)
    session.commit()
    flt = Filters(clinic_id=clinic.id, tz=BERLIN, start=date(2026, 3, 28), end=date(2026, 3, 30))
    days = [(r["period"], r["calls"]) for r in run(session, "periods", flt)]
    assert days == [("2026-03-28", 1), ("2026-03-29", 4), ("2026-03-30", 1)]
    hours = {r["hour"]: r["calls"] for r in run(session, "hours", flt) if r["calls"]}
    assert hours == {23: 2, 0: 2, 1: 1, 3: 1}
    weekdays = {r["weekday"]: r["calls"] for r in run(session, "weekdays", flt) if r["calls"]}
    assert weekdays == {5: 1, 6: 4, 0: 1}
    autumn = Filters(clinic_id=clinic.id, tz=BERLIN, start=date(2026, 10, 1),
                     end=date(2026, 11, 30), granularity=Granularity.MONTH)
    assert [(r["period"], r["calls"]) for r in run(session, "periods", autumn)] == [
        ("2026-10-01", 3), ("2026-11-01", 1)]
    assert {r["hour"]: r["calls"] for r in run(session, "hours", autumn) if r["calls"]} == {
        2: 2, 23: 1, 0: 1}


def test_empty_period_gives_zero_rows_not_errors(session: Session, month: Month) -> None:
    flt = Filters(clinic_id=month.clinic.id, tz=MOSCOW, start=date(2025, 1, 1), end=date(2025, 1, 2))
    [row] = run(session, "summary", flt)
    assert (row["calls"], row["bookings"], row["booking_rate"]) == (0, 0, None)
    assert run(session, "channels", flt) == []
    assert [r["calls"] for r in run(session, "periods", flt)] == [0, 0]


@pytest.mark.parametrize(("query", "field", "russian"), [
    ("from=abc", "from", "нужна дата вида 2026-03-31"),
    ("from=2026-05-02&to=2026-05-01", "from", "начало позже конца периода"),
    ("from=1900-01-01&to=2999-12-31", "from", "период — не больше 1098 дней"),
    ("group=year", "group", "одно из: day, week, month"),
    ("window=0", "window", "целое число дней от 1 до 365"),
    ("channel=x", "channel", "ожидаются числовые идентификаторы"),
    ("clinic=x", "clinic", "номер клиники или «all»"),
])
def test_a_bad_argument_is_named_in_the_readers_language(client: Any, session: Session, query: str,
                                                          field: str, russian: str) -> None:
    """The marketing page's bad arguments were werkzeug's English abort page."""
    f.signed_in(client, session, role="marketing", extension=None, locale="ru")
    for path in ("/marketing", "/api/analytics/summary"):
        answer = client.get(f"{path}?{query}")
        assert answer.status_code == 400
        assert answer.get_json() == {"error": "invalid_request", "field": field, "message": russian}


def test_every_campaign_purpose_has_a_name_in_the_reports() -> None:
    """gap_fill lists were shown as the code "gap_fill" on the marketing page's campaign table."""
    from callcenter.analytics.texts import PURPOSES
    from callcenter.core.i18n import t
    from callcenter.core.models import TaskPurpose

    assert set(PURPOSES) == {purpose.value for purpose in TaskPurpose}
    assert t(PURPOSES["gap_fill"], "ru") == "освободившееся время"
